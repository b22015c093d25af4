-- Reconciliation (issue 18): each run matches a gateway's charges and refunds of a period to the ledger
-- and keeps its verdict here, so billing managers see the day's result on the top bar and the list of
-- mismatches with what to do. The worker runs it once a day for the day before.
CREATE TABLE reconciliations (
    id          INTEGER PRIMARY KEY,
    ran_at      BIGINT NOT NULL,
    from_day    TEXT   NOT NULL,   -- YYYY-MM-DD, UTC, inclusive
    to_day      TEXT   NOT NULL,   -- YYYY-MM-DD, UTC, inclusive
    daily       BOOLEAN NOT NULL,  -- the worker's run for one day
    clean       BOOLEAN NOT NULL,
    mismatches  INTEGER NOT NULL,
    unavailable BOOLEAN NOT NULL,  -- a gateway could not be asked: no verdict for it
    result      TEXT   NOT NULL,   -- the whole result as JSON
    ran_by      BIGINT REFERENCES staff (id)
);
CREATE INDEX reconciliations_newest ON reconciliations (daily, ran_at);
CREATE UNIQUE INDEX reconciliations_one_daily ON reconciliations (from_day) WHERE daily;
