-- Checkout pressed twice (issue 18): the desk's checkout dialog names its attempt with a key it keeps
-- until the dialog closes. The invoice a checkout creates carries that key, once: pressing again after
-- an unknown outcome or a database error finds the same invoice (and its payment) instead of making a
-- second invoice and a second charge.
ALTER TABLE invoices ADD COLUMN attempt_key TEXT;
CREATE UNIQUE INDEX invoices_attempt_key ON invoices (attempt_key) WHERE attempt_key IS NOT NULL;
