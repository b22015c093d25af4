-- A gateway's answer that arrives after its payment was settled as failed (a late answer, a look-up or
-- reconciliation finding the money taken) is recorded as the money taken, never thrown away (issue 18).
-- When the invoice was paid again meanwhile, the late charge is a second, real charge of the same
-- invoice: it is recorded SUCCEEDED with `duplicate_of` naming the payment that paid the invoice, so
-- billing sees both side by side and refunds one. Only such a recorded duplicate may stand beside the
-- invoice's live payment; every path that charges is still refused a second live payment. (The key is
-- checked at commit on PostgreSQL: `db copy` may insert a late charge before the payment it stands beside.)
ALTER TABLE payments ADD COLUMN duplicate_of BIGINT REFERENCES payments (id) DEFERRABLE INITIALLY DEFERRED;
DROP INDEX payments_one_success_per_invoice;
CREATE UNIQUE INDEX payments_one_success_per_invoice ON payments (invoice_id)
    WHERE status = 'SUCCEEDED' AND duplicate_of IS NULL;
DROP INDEX payments_one_live_per_invoice;
CREATE UNIQUE INDEX payments_one_live_per_invoice ON payments (invoice_id)
    WHERE status IN ('PENDING', 'UNKNOWN', 'SUCCEEDED') AND duplicate_of IS NULL;
