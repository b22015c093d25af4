-- A look-up that finds no charge (or refund) for an unsettled payment is noted, not acted on: only a
-- second look-up, minutes later, that agrees settles it as not sent (issue 18: a gateway's records can
-- lag behind its answer, and a charge still in flight is not found yet).
ALTER TABLE payments ADD COLUMN not_found_at BIGINT;
ALTER TABLE refunds ADD COLUMN not_found_at BIGINT;
