-- A reconciliation's view of the gateway (issue 24): each page of the gateway's listing is written here
-- as it is read, so a month of a million transactions is matched against the ledger by the database,
-- never all held in memory. Working state of one run, removed when the run ends (and by the next run,
-- should a run have been killed).
CREATE TABLE reconciliation_lines (
    run          TEXT    NOT NULL,
    kind         TEXT    NOT NULL CHECK (kind IN ('charge', 'refund')),
    reference    TEXT    NOT NULL,
    our_key      TEXT,
    amount_minor BIGINT  NOT NULL,
    currency     TEXT,
    taken        BOOLEAN NOT NULL,
    status       TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL,
    staged_at    BIGINT  NOT NULL,
    -- A transaction listed twice (it moved while the pages were read) is kept once.
    PRIMARY KEY (run, kind, reference)
);
CREATE INDEX reconciliation_lines_key ON reconciliation_lines (run, kind, our_key, taken, amount_minor, currency);
