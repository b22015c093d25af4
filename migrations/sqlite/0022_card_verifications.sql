-- Verify a card (issue 21, item 8; document 000's "test payment after updating"): each zero-amount check
-- of a saved card at its gateway (NMI type=validate, a Stripe SetupIntent), what the bank said and who
-- asked. The card's Payment Methods row shows the latest.
CREATE TABLE card_verifications (
    id                INTEGER PRIMARY KEY,
    payment_method_id INTEGER NOT NULL REFERENCES payment_methods (id),
    at                BIGINT  NOT NULL,
    outcome           TEXT    NOT NULL CHECK (outcome IN ('verified', 'refused', 'unknown')),
    code              TEXT,
    message           TEXT,
    reference         TEXT,
    checked_by        INTEGER REFERENCES staff (id)
);
CREATE INDEX card_verifications_card ON card_verifications (payment_method_id, at);
