-- Card expiry reminders and other patient emails, one row per message: what it was for, whether it went
-- out, and the retry schedule when the mail server refused it. reminders_sent (0001) was never written by
-- a release, so it is replaced rather than migrated.
DROP TABLE reminders_sent;

CREATE TABLE reminders (
    id                INTEGER PRIMARY KEY,
    payment_method_id INTEGER NOT NULL REFERENCES payment_methods (id),
    patient_id        INTEGER NOT NULL REFERENCES patients (id),
    -- automatic: a threshold of reminders.thresholds; manual: Notify from the dashboard;
    -- gateway_change: "please re-save your card" before a gateway switch.
    kind              TEXT    NOT NULL CHECK (kind IN ('automatic', 'manual', 'gateway_change')),
    threshold_days    INTEGER,
    -- The clinic day (days since 1970-01-01, UTC) it is for: a manual reminder goes once a day at most.
    on_day            INTEGER NOT NULL,
    status            TEXT    NOT NULL CHECK (status IN ('sending', 'sent', 'failed')),
    attempts          INTEGER NOT NULL DEFAULT 0,
    last_error        TEXT,
    next_attempt_at   INTEGER,
    claimed_at        INTEGER NOT NULL,
    created_by        INTEGER REFERENCES staff (id),
    created_at        INTEGER NOT NULL,
    sent_at           INTEGER
);
-- Each threshold at most once per card, whatever the number of desks and workers.
CREATE UNIQUE INDEX reminders_once_per_threshold ON reminders (payment_method_id, threshold_days)
    WHERE kind = 'automatic';
CREATE UNIQUE INDEX reminders_once_a_day ON reminders (payment_method_id, kind, on_day)
    WHERE kind <> 'automatic';
CREATE INDEX reminders_to_retry ON reminders (next_attempt_at) WHERE status = 'failed';
CREATE INDEX reminders_patient ON reminders (patient_id);
