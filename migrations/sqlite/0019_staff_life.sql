-- Staff accounts have a life cycle (issue 19): a `worker` role for the billing worker's own account,
-- and a count of wrong passwords in a row with the time the name is locked until.
--
-- SQLite cannot ALTER a CHECK constraint, and rebuilding `staff` inside the migration's transaction
-- would break the foreign keys of every table that names who did something. SQLite's documentation
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
