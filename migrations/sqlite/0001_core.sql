-- ClinicPay schema, SQLite dialect. Times are UTC milliseconds since the Unix epoch; money is integer
-- minor units with its ISO 4217 currency. Keep in step with ../postgres/0001_core.sql.

CREATE TABLE organizations (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    name            TEXT    NOT NULL,
    active_gateway  TEXT    NOT NULL CHECK (active_gateway IN ('stripe', 'nmi')),
    currency        TEXT    NOT NULL,
    settings        TEXT    NOT NULL,
    updated_at      INTEGER NOT NULL
);

CREATE TABLE staff (
    id              INTEGER PRIMARY KEY,
    username        TEXT    NOT NULL UNIQUE,
    display_name    TEXT    NOT NULL,
    role            TEXT    NOT NULL CHECK (role IN ('front_desk', 'billing_manager', 'it_admin')),
    password_hash   TEXT    NOT NULL,
    active          BOOLEAN NOT NULL DEFAULT TRUE,
    created_at      INTEGER NOT NULL
);

CREATE TABLE patients (
    id              INTEGER PRIMARY KEY,
    name            TEXT    NOT NULL CHECK (length(name) > 0),
    email           TEXT    NOT NULL,
    phone           TEXT,
    patient_type    TEXT    NOT NULL CHECK (patient_type IN ('individual', 'business')),
    stripe_customer_id TEXT,
    nmi_customer_ref   TEXT,
    -- Every searchable word of the patient, space-separated and lower-cased: ' john smith john@x.com 5550102 '.
    search_text     TEXT    NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX patients_name ON patients (name);

-- One row per searchable word of a patient (name words, email, phone digits), with the patient's
-- lower-cased name, so a prefix range is read in (word, name) order and the first page needs no sort.
CREATE TABLE patient_search_terms (
    term            TEXT    NOT NULL,
    sort_key        TEXT    NOT NULL,
    patient_id      INTEGER NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
    PRIMARY KEY (term, sort_key, patient_id)
) WITHOUT ROWID;
CREATE INDEX patient_search_terms_patient ON patient_search_terms (patient_id, term);

CREATE TABLE payment_methods (
    id              INTEGER PRIMARY KEY,
    patient_id      INTEGER NOT NULL REFERENCES patients (id),
    gateway         TEXT    NOT NULL CHECK (gateway IN ('stripe', 'nmi')),
    token           TEXT    NOT NULL,
    brand           TEXT    NOT NULL,
    last4           TEXT    NOT NULL CHECK (length(last4) = 4),
    exp_month       INTEGER NOT NULL CHECK (exp_month BETWEEN 1 AND 12),
    exp_year        INTEGER NOT NULL,
    cardholder_name TEXT    NOT NULL,
    nickname        TEXT,
    country         TEXT,
    fingerprint     TEXT,
    is_default      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at      INTEGER NOT NULL,
    removed_at      INTEGER,
    CHECK (NOT (is_default AND removed_at IS NOT NULL))
);
CREATE INDEX payment_methods_patient ON payment_methods (patient_id);
-- One default card per patient.
CREATE UNIQUE INDEX payment_methods_one_default ON payment_methods (patient_id)
    WHERE is_default AND removed_at IS NULL;
-- A gateway token is saved once.
CREATE UNIQUE INDEX payment_methods_token ON payment_methods (gateway, token) WHERE removed_at IS NULL;
CREATE INDEX payment_methods_expiry ON payment_methods (exp_year, exp_month) WHERE removed_at IS NULL;

CREATE TABLE subscriptions (
    id              INTEGER PRIMARY KEY,
    patient_id      INTEGER NOT NULL REFERENCES patients (id),
    plan            TEXT    NOT NULL,
    amount_minor    INTEGER NOT NULL CHECK (amount_minor > 0),
    currency        TEXT    NOT NULL,
    billing_interval TEXT   NOT NULL CHECK (billing_interval IN ('month', 'week')),
    status          TEXT    NOT NULL CHECK (status IN ('ACTIVE', 'PAUSED', 'SUSPENDED', 'CANCELLED')),
    next_cycle_at   INTEGER NOT NULL,
    locked_gateway  TEXT    CHECK (locked_gateway IN ('stripe', 'nmi')),
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX subscriptions_patient ON subscriptions (patient_id);
CREATE INDEX subscriptions_due ON subscriptions (next_cycle_at) WHERE status = 'ACTIVE';

CREATE TABLE orders (
    id              INTEGER PRIMARY KEY,
    patient_id      INTEGER NOT NULL REFERENCES patients (id),
    subscription_id INTEGER REFERENCES subscriptions (id),
    kind            TEXT    NOT NULL CHECK (kind IN ('CHECKOUT', 'SUBSCRIPTION_CYCLE', 'SWITCH_PAYOFF', 'ONE_TIME')),
    status          TEXT    NOT NULL CHECK (status IN ('PENDING', 'AWAITING_PAYMENT', 'PAID', 'REFUNDED', 'CANCELLED')),
    description     TEXT    NOT NULL,
    amount_minor    INTEGER NOT NULL CHECK (amount_minor > 0),
    currency        TEXT    NOT NULL,
    cycle_start_at  INTEGER,
    locked_gateway  TEXT    CHECK (locked_gateway IN ('stripe', 'nmi')),
    recovery_status TEXT    CHECK (recovery_status IN ('NEEDS_PAYMENT_METHOD', 'RETRY_SCHEDULED', 'RESOLVED', 'FAILED_FINAL')),
    next_retry_at   INTEGER,
    attempts        INTEGER NOT NULL DEFAULT 0,
    first_failed_at INTEGER,
    last_message    TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX orders_patient ON orders (patient_id);
-- One cycle order per subscription cycle.
CREATE UNIQUE INDEX orders_one_per_cycle ON orders (subscription_id, cycle_start_at)
    WHERE kind = 'SUBSCRIPTION_CYCLE';
-- One open recovery order per subscription.
CREATE UNIQUE INDEX orders_one_open_recovery ON orders (subscription_id)
    WHERE recovery_status IN ('NEEDS_PAYMENT_METHOD', 'RETRY_SCHEDULED');
CREATE INDEX orders_retry_due ON orders (next_retry_at) WHERE recovery_status = 'RETRY_SCHEDULED';

CREATE TABLE invoices (
    id              INTEGER PRIMARY KEY,
    patient_id      INTEGER NOT NULL REFERENCES patients (id),
    order_id        INTEGER REFERENCES orders (id),
    description     TEXT    NOT NULL,
    amount_minor    INTEGER NOT NULL CHECK (amount_minor > 0),
    currency        TEXT    NOT NULL,
    status          TEXT    NOT NULL CHECK (status IN ('OPEN', 'PAID', 'REFUNDED', 'VOID')),
    created_at      INTEGER NOT NULL,
    paid_at         INTEGER
);
CREATE INDEX invoices_patient ON invoices (patient_id);
CREATE INDEX invoices_order ON invoices (order_id);

CREATE TABLE payments (
    id              INTEGER PRIMARY KEY,
    patient_id      INTEGER NOT NULL REFERENCES patients (id),
    invoice_id      INTEGER REFERENCES invoices (id),
    order_id        INTEGER REFERENCES orders (id),
    payment_method_id INTEGER REFERENCES payment_methods (id),
    gateway         TEXT    NOT NULL CHECK (gateway IN ('stripe', 'nmi')),
    amount_minor    INTEGER NOT NULL CHECK (amount_minor > 0),
    currency        TEXT    NOT NULL,
    status          TEXT    NOT NULL CHECK (status IN ('PENDING', 'UNKNOWN', 'SUCCEEDED', 'FAILED')),
    idempotency_key TEXT    NOT NULL UNIQUE,
    gateway_reference TEXT,
    decline_code    TEXT,
    decline_message TEXT,
    created_by      INTEGER REFERENCES staff (id),
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX payments_patient ON payments (patient_id);
CREATE INDEX payments_created ON payments (created_at);
-- At most one succeeded payment per invoice.
CREATE UNIQUE INDEX payments_one_success_per_invoice ON payments (invoice_id) WHERE status = 'SUCCEEDED';
CREATE INDEX payments_unresolved ON payments (status) WHERE status IN ('PENDING', 'UNKNOWN');

CREATE TABLE refunds (
    id              INTEGER PRIMARY KEY,
    payment_id      INTEGER NOT NULL REFERENCES payments (id),
    gateway         TEXT    NOT NULL CHECK (gateway IN ('stripe', 'nmi')),
    amount_minor    INTEGER NOT NULL CHECK (amount_minor > 0),
    currency        TEXT    NOT NULL,
    status          TEXT    NOT NULL CHECK (status IN ('PENDING', 'UNKNOWN', 'SUCCEEDED', 'FAILED')),
    idempotency_key TEXT    NOT NULL UNIQUE,
    gateway_reference TEXT,
    failure_message TEXT,
    created_by      INTEGER REFERENCES staff (id),
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX refunds_payment ON refunds (payment_id);

-- Every call to a gateway, redacted before it is written.
CREATE TABLE processor_log (
    id              INTEGER PRIMARY KEY,
    at              INTEGER NOT NULL,
    gateway         TEXT    NOT NULL,
    operation       TEXT    NOT NULL,
    patient_id      INTEGER,
    payment_id      INTEGER,
    -- Our payment's idempotency key as sent to the gateway (NMI orderid, Stripe Idempotency-Key).
    payment_key     TEXT,
    http_status     INTEGER,
    duration_ms     INTEGER NOT NULL,
    outcome         TEXT    NOT NULL,
    request         TEXT    NOT NULL,
    response        TEXT    NOT NULL
);
CREATE INDEX processor_log_payment ON processor_log (payment_key);
CREATE INDEX processor_log_at ON processor_log (at);
CREATE INDEX processor_log_patient ON processor_log (patient_id);

-- Who changed what. Each row's hash covers the row and the previous row's hash.
CREATE TABLE activity_log (
    seq             INTEGER PRIMARY KEY,
    at              INTEGER NOT NULL,
    actor_id        INTEGER,
    actor_name      TEXT    NOT NULL,
    action          TEXT    NOT NULL,
    subject_type    TEXT    NOT NULL,
    subject_id      TEXT    NOT NULL,
    patient_id      INTEGER,
    before_state    TEXT,
    after_state     TEXT,
    prev_hash       TEXT    NOT NULL,
    hash            TEXT    NOT NULL
);
CREATE INDEX activity_log_patient ON activity_log (patient_id, seq);

-- The head of the activity chain: updating it first serialises writers on both databases.
CREATE TABLE activity_head (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    seq             INTEGER NOT NULL,
    hash            TEXT    NOT NULL
);
INSERT INTO activity_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TABLE reminders_sent (
    id              INTEGER PRIMARY KEY,
    payment_method_id INTEGER NOT NULL REFERENCES payment_methods (id),
    threshold_days  INTEGER NOT NULL,
    status          TEXT    NOT NULL,
    sent_at         INTEGER NOT NULL,
    UNIQUE (payment_method_id, threshold_days)
);

CREATE TABLE escalations (
    id              INTEGER PRIMARY KEY,
    patient_id      INTEGER NOT NULL REFERENCES patients (id),
    order_id        INTEGER REFERENCES orders (id),
    created_by      INTEGER REFERENCES staff (id),
    created_at      INTEGER NOT NULL,
    snapshot        TEXT    NOT NULL
);
