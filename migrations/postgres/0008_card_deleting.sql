-- A card being deleted at its gateway is marked first, so another desk cannot start charging it in the
-- meantime (and a card being charged cannot be deleted). A mark older than a few minutes is a deletion
-- that died half-way (the app closed) and no longer blocks anything.
ALTER TABLE payment_methods ADD COLUMN deleting_since BIGINT;
