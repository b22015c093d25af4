-- The gateway report reads payments and refunds of a date range grouped by gateway, status and currency:
-- covering indexes let it answer from the index alone, fast at a million payments.
CREATE INDEX payments_report ON payments (created_at, gateway, status, currency, amount_minor);
CREATE INDEX payments_declines ON payments (created_at, gateway, decline_code) WHERE status = 'FAILED';
CREATE INDEX refunds_report ON refunds (created_at, gateway, status, currency, amount_minor);
CREATE INDEX orders_recovery_report ON orders (first_failed_at, recovery_status) WHERE recovery_status IS NOT NULL;
