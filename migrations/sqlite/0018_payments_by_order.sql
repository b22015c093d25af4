-- An order's payments are read on every cycle and retry charge (was it charged before? then the
-- gateway's duplicate check stays on) and by every worker pass (retries claimed but never sent): without
-- an index each read scanned every payment, so billing slowed as the clinic's history grew.
CREATE INDEX payments_order ON payments (order_id);
