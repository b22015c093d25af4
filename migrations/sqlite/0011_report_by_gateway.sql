-- The gateway report groups a range's payments by gateway, status and currency. Read off an index in
-- that order, SQLite sums each group as it goes instead of sorting every payment of the range: at 2M
-- payments, all history took 0.9 s with the (created_at, …) index and 0.14 s with this one (issue 11).
CREATE INDEX payments_report_by_key ON payments (gateway, status, currency, created_at, amount_minor);
-- Declines the same way, the gateway's words included so the table is not read (0.16 s at 150k declines, then 0.01 s).
CREATE INDEX payments_declines_by_key ON payments (gateway, decline_code, decline_message, created_at) WHERE status = 'FAILED';
DROP INDEX payments_declines;
