-- An invoice has at most one payment that is being charged, waits for its outcome, or succeeded: two
-- desks (or a desk and the worker) paying the same invoice at the same moment cannot both reach the
-- gateway; the second is refused by the database before any call.
CREATE UNIQUE INDEX payments_one_live_per_invoice ON payments (invoice_id)
    WHERE status IN ('PENDING', 'UNKNOWN', 'SUCCEEDED');
