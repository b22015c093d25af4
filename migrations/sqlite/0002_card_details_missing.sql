-- Cards imported from an older NMI vault may arrive without brand, last four or expiry. Such a row holds
-- placeholders (brand 'unknown', last4 '····', expiry 12/2099) and this flag, and ClinicPay fills the
-- real details from the gateway when the patient's cards are next loaded.
ALTER TABLE payment_methods ADD COLUMN details_missing BOOLEAN NOT NULL DEFAULT FALSE;
