-- The card networks' updates (issue 23): when ClinicPay last asked a card's gateway for its details,
-- and when it saw the network renew the card (a new expiry or number), so reminders, the expiring-cards
-- dashboard and recovery act on the card as it is, and staff see "renewed by the network".
ALTER TABLE payment_methods ADD COLUMN checked_at BIGINT;
ALTER TABLE payment_methods ADD COLUMN renewed_at BIGINT;
