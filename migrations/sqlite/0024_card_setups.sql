-- Cards the patient types on the gateway's own page (issue 22): Stripe Checkout in setup mode, opened in
-- a window of its own at a desk whose window cannot run the card fields live, or sent to the patient as
-- a secure card link. One row per page; the card is saved here once, by whoever claims the row first
-- (the desk that watched the page, or the billing engine polling open pages).
CREATE TABLE card_setups (
    id                INTEGER PRIMARY KEY,
    patient_id        INTEGER NOT NULL REFERENCES patients (id),
    gateway           TEXT   NOT NULL CHECK (gateway IN ('nmi', 'stripe')),
    kind              TEXT   NOT NULL CHECK (kind IN ('desk', 'payment', 'link')),
    session_ref       TEXT   NOT NULL UNIQUE,
    url               TEXT,
    -- open: waiting for the patient; saving: claimed by one finisher; complete: the card is saved here;
    -- expired: it takes no card (time ran out, cancelled, withdrawn); failed: the patient saved a card
    -- the clinic could not keep (outcome says why).
    status            TEXT   NOT NULL CHECK (status IN ('open', 'saving', 'complete', 'expired', 'failed')),
    claimed_at        BIGINT,
    order_id          INTEGER REFERENCES orders (id),
    sent_to           TEXT,
    sent_at           BIGINT,
    expires_at        BIGINT NOT NULL,
    created_at        BIGINT NOT NULL,
    created_by        INTEGER REFERENCES staff (id),
    finished_at       BIGINT,
    payment_method_id INTEGER REFERENCES payment_methods (id),
    outcome           TEXT,
    cardholder_name   TEXT,
    country           TEXT
);
CREATE INDEX card_setups_unfinished ON card_setups (status, expires_at);
CREATE INDEX card_setups_patient ON card_setups (patient_id, id);

-- The secure card link's email is edited beside the recovery emails (SQLite cannot change a CHECK in
-- place: the table is made again with its rows).
CREATE TABLE notice_templates_new (
    stage           TEXT   PRIMARY KEY CHECK (stage IN ('first_failure', 'warning', 'update_payment_method', 'final_notice', 'card_link')),
    subject         TEXT   NOT NULL,
    body            TEXT   NOT NULL,
    updated_at      BIGINT NOT NULL,
    updated_by      INTEGER REFERENCES staff (id)
);
INSERT INTO notice_templates_new (stage, subject, body, updated_at, updated_by)
    SELECT stage, subject, body, updated_at, updated_by FROM notice_templates;
DROP TABLE notice_templates;
ALTER TABLE notice_templates_new RENAME TO notice_templates;
