-- The emails a patient gets while a failed payment is recovered (issue 21, item 6; document 000): each
-- stage at most once per order (the unique pair is the claim), sent or refused by the mail server and
-- retried like the card reminders. The templates a billing manager edited; a stage without a row uses
-- ClinicPay's words.
CREATE TABLE recovery_notices (
    id              INTEGER PRIMARY KEY,
    order_id        INTEGER NOT NULL REFERENCES orders (id),
    patient_id      INTEGER NOT NULL REFERENCES patients (id),
    stage           TEXT   NOT NULL CHECK (stage IN ('first_failure', 'warning', 'update_payment_method', 'final_notice')),
    status          TEXT   NOT NULL CHECK (status IN ('sending', 'sent', 'failed')),
    attempts        INTEGER NOT NULL,
    last_error      TEXT,
    next_attempt_at BIGINT,
    claimed_at      BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    sent_at         BIGINT,
    UNIQUE (order_id, stage)
);
CREATE INDEX recovery_notices_retry ON recovery_notices (status, next_attempt_at);

CREATE TABLE notice_templates (
    stage           TEXT   PRIMARY KEY CHECK (stage IN ('first_failure', 'warning', 'update_payment_method', 'final_notice')),
    subject         TEXT   NOT NULL,
    body            TEXT   NOT NULL,
    updated_at      BIGINT NOT NULL,
    updated_by      INTEGER REFERENCES staff (id)
);
