-- Staff accounts have a life cycle (issue 19): a `worker` role for the billing worker's own account,
-- and a count of wrong passwords in a row with the time the name is locked until.
--
-- SQLite cannot ALTER a CHECK constraint, and rebuilding `staff` inside the migration's transaction
-- (sqlx runs each SQLite migration in one) fails at COMMIT: dropping the old table counts every
-- reference to it as broken, even with PRAGMA defer_foreign_keys, and renaming the new table in its
-- place does not take that back. SQLite's documentation
-- ("Making Other Kinds Of Table Schema Changes") allows loosening a CHECK by editing the schema text;
-- every existing row already satisfies the wider check. The throw-away table makes every connection
-- read the schema again.
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
   SET sql = replace(sql, '''billing_manager'', ''it_admin''))', '''billing_manager'', ''it_admin'', ''worker''))')
 WHERE type = 'table' AND name = 'staff';
PRAGMA writable_schema = RESET;
CREATE TABLE staff_schema_bump (x INTEGER);
DROP TABLE staff_schema_bump;
ALTER TABLE staff ADD COLUMN failed_sign_ins INTEGER NOT NULL DEFAULT 0;
ALTER TABLE staff ADD COLUMN locked_until INTEGER;
-- If the schema text was not what the replace expected, the wider check is missing: fail here, loudly,
-- rather than at the first worker account IT makes.
INSERT INTO staff (username, display_name, role, password_hash, created_at)
    VALUES ('clinicpay-migration-0019-check', '', 'worker', '', 0);
DELETE FROM staff WHERE username = 'clinicpay-migration-0019-check';
