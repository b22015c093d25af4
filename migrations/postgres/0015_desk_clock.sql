-- One clock (issue 18): each desk and worker keeps the database's time, and records how far its own
-- clock is from it (its clock minus the database's, in milliseconds), so IT sees a computer whose clock
-- is wrong in the desk inventory.
ALTER TABLE desks ADD COLUMN clock_skew_ms BIGINT;
