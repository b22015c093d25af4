-- The expiring-cards dashboard's filters at a clinic group's size (issue 24). The dashboard reads cards
-- off an index in expiry order and stops at its page; a filter on the patient's type or on a service
-- checked each card in range against another table instead (275 ms and 477 ms at 2M cards). So each
-- filter gets its own index in expiry order, over copies kept by the triggers below:
--   * a card carries its patient's type (staff can change a patient's type: the cards follow);
--   * a plan carries its patient's default card and that card's expiry month (year * 12 + month), which
--     follow the default card as it changes, is renewed or is removed.
ALTER TABLE payment_methods ADD COLUMN patient_type TEXT;
UPDATE payment_methods
   SET patient_type = (SELECT p.patient_type FROM patients p WHERE p.id = payment_methods.patient_id);
CREATE INDEX payment_methods_expiry_by_patient_type
    ON payment_methods (patient_type, (exp_year * 12 + exp_month), id) WHERE removed_at IS NULL;

CREATE TRIGGER payment_methods_patient_type_on_insert AFTER INSERT ON payment_methods
BEGIN
    UPDATE payment_methods SET patient_type = (SELECT patient_type FROM patients WHERE id = NEW.patient_id)
     WHERE id = NEW.id;
END;
CREATE TRIGGER payment_methods_patient_type_on_move AFTER UPDATE OF patient_id ON payment_methods
WHEN OLD.patient_id IS NOT NEW.patient_id
BEGIN
    UPDATE payment_methods SET patient_type = (SELECT patient_type FROM patients WHERE id = NEW.patient_id)
     WHERE id = NEW.id;
END;
CREATE TRIGGER patients_type_to_cards AFTER UPDATE OF patient_type ON patients
WHEN OLD.patient_type IS NOT NEW.patient_type
BEGIN
    UPDATE payment_methods SET patient_type = NEW.patient_type WHERE patient_id = NEW.id;
END;

ALTER TABLE subscriptions ADD COLUMN default_card_id INTEGER;
ALTER TABLE subscriptions ADD COLUMN default_card_expiry INTEGER;
-- Each patient's default card and its month, as the triggers below copy them onto the patient's plans.
CREATE VIEW default_cards AS
    SELECT patient_id, id, exp_year * 12 + exp_month AS expiry FROM payment_methods
     WHERE is_default AND removed_at IS NULL;
UPDATE subscriptions SET (default_card_id, default_card_expiry) =
    (SELECT id, expiry FROM default_cards d WHERE d.patient_id = subscriptions.patient_id);
CREATE INDEX subscriptions_plan_card_expiry
    ON subscriptions (plan, default_card_expiry, default_card_id)
 WHERE status <> 'CANCELLED' AND default_card_id IS NOT NULL;

-- A new plan, or one moved to another patient, takes that patient's default card.
CREATE TRIGGER subscriptions_default_card_on_insert AFTER INSERT ON subscriptions
BEGIN
    UPDATE subscriptions SET (default_card_id, default_card_expiry) =
        (SELECT id, expiry FROM default_cards WHERE patient_id = NEW.patient_id) WHERE id = NEW.id;
END;
CREATE TRIGGER subscriptions_default_card_on_move AFTER UPDATE OF patient_id ON subscriptions
WHEN OLD.patient_id IS NOT NEW.patient_id
BEGIN
    UPDATE subscriptions SET (default_card_id, default_card_expiry) =
        (SELECT id, expiry FROM default_cards WHERE patient_id = NEW.patient_id) WHERE id = NEW.id;
END;
-- A patient's plans follow the patient's default card.
CREATE TRIGGER payment_methods_default_to_plans_on_insert AFTER INSERT ON payment_methods
WHEN NEW.is_default
BEGIN
    UPDATE subscriptions SET (default_card_id, default_card_expiry) =
        (SELECT id, expiry FROM default_cards WHERE patient_id = NEW.patient_id) WHERE patient_id = NEW.patient_id;
END;
CREATE TRIGGER payment_methods_default_to_plans_on_update
AFTER UPDATE OF is_default, removed_at, exp_month, exp_year, patient_id ON payment_methods
WHEN OLD.is_default IS NOT NEW.is_default OR OLD.removed_at IS NOT NEW.removed_at
  OR OLD.patient_id IS NOT NEW.patient_id
  OR (NEW.is_default AND (OLD.exp_month IS NOT NEW.exp_month OR OLD.exp_year IS NOT NEW.exp_year))
BEGIN
    UPDATE subscriptions SET (default_card_id, default_card_expiry) =
        (SELECT d.id, d.expiry FROM default_cards d WHERE d.patient_id = subscriptions.patient_id)
     WHERE patient_id IN (OLD.patient_id, NEW.patient_id);
END;
CREATE TRIGGER payment_methods_default_to_plans_on_delete AFTER DELETE ON payment_methods
WHEN OLD.is_default
BEGIN
    UPDATE subscriptions SET (default_card_id, default_card_expiry) =
        (SELECT id, expiry FROM default_cards WHERE patient_id = OLD.patient_id) WHERE patient_id = OLD.patient_id;
END;
