-- The gateway report over a clinic group's years (issue 24): each closed day's payment totals are kept,
-- so a report over ten million payments adds up a few thousand rows of totals and counts only the last
-- two days live. A day is summarized once it is two days old (`payment_days`, as of the day's change
-- generation); a change to a payment made before today (a late answer, the janitor, a correction)
-- moves its day's generation on, so that day is summarized again before it is used. Today's payments
-- never touch these tables: billing does not wait on them.
CREATE TABLE payment_day_totals (
    day             INTEGER NOT NULL,
    gateway         TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    currency        TEXT    NOT NULL,
    decline_code    TEXT    NOT NULL,
    decline_message TEXT    NOT NULL,
    count           INTEGER NOT NULL,
    amount_minor    INTEGER NOT NULL,
    PRIMARY KEY (day, gateway, status, currency, decline_code, decline_message)
);
CREATE TABLE payment_days (
    day        INTEGER PRIMARY KEY,
    generation INTEGER NOT NULL
);
CREATE TABLE payment_day_changes (
    day        INTEGER PRIMARY KEY,
    generation INTEGER NOT NULL
);
CREATE TRIGGER payments_day_changed_by_insert AFTER INSERT ON payments
WHEN NEW.created_at < CAST(strftime('%s', 'now') AS INTEGER) / 86400 * 86400000
BEGIN
    INSERT INTO payment_day_changes (day, generation) VALUES (NEW.created_at - NEW.created_at % 86400000, 1)
    ON CONFLICT (day) DO UPDATE SET generation = generation + 1;
END;
CREATE TRIGGER payments_day_changed_by_update
AFTER UPDATE OF status, amount_minor, gateway, currency, decline_code, decline_message, created_at ON payments
WHEN OLD.created_at < CAST(strftime('%s', 'now') AS INTEGER) / 86400 * 86400000
  OR NEW.created_at < CAST(strftime('%s', 'now') AS INTEGER) / 86400 * 86400000
BEGIN
    INSERT INTO payment_day_changes (day, generation) VALUES (OLD.created_at - OLD.created_at % 86400000, 1)
    ON CONFLICT (day) DO UPDATE SET generation = generation + 1;
    INSERT INTO payment_day_changes (day, generation) VALUES (NEW.created_at - NEW.created_at % 86400000, 1)
    ON CONFLICT (day) DO UPDATE SET generation = generation + 1;
END;
CREATE TRIGGER payments_day_changed_by_delete AFTER DELETE ON payments
WHEN OLD.created_at < CAST(strftime('%s', 'now') AS INTEGER) / 86400 * 86400000
BEGIN
    INSERT INTO payment_day_changes (day, generation) VALUES (OLD.created_at - OLD.created_at % 86400000, 1)
    ON CONFLICT (day) DO UPDATE SET generation = generation + 1;
END;
