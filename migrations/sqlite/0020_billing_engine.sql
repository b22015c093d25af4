-- The billing engine (issue 20): exactly one process runs the billing pass per clinic database, a desk
-- app or IT's `clinicpay worker` service. It holds this one row's lease and renews it while it runs; a
-- lease that was not renewed (the desk closed, slept or lost the database) lapses at lease_expires_at
-- and another desk takes it over. The row also keeps what the last pass did and the last error, for
-- Settings → Billing engine and the top-bar warning. No row: no engine has ever run here.
CREATE TABLE billing_engine (
    id                INTEGER PRIMARY KEY CHECK (id = 1),
    holder            TEXT,
    holder_name       TEXT,
    holder_kind       TEXT CHECK (holder_kind IN ('desk', 'service')),
    lease_expires_at  BIGINT,
    started_at        BIGINT,
    last_pass_at      BIGINT,
    last_pass_by      TEXT,
    last_pass_ms      BIGINT,
    last_pass_summary TEXT,
    last_error        TEXT,
    last_error_at     BIGINT
);
