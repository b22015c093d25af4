-- Staff accounts have a life cycle (issue 19): a `worker` role for the billing worker's own account,
-- and a count of wrong passwords in a row with the time the name is locked until.
ALTER TABLE staff DROP CONSTRAINT staff_role_check;
ALTER TABLE staff ADD CONSTRAINT staff_role_check
    CHECK (role IN ('front_desk', 'billing_manager', 'it_admin', 'worker'));
ALTER TABLE staff ADD COLUMN failed_sign_ins BIGINT NOT NULL DEFAULT 0;
ALTER TABLE staff ADD COLUMN locked_until BIGINT;
