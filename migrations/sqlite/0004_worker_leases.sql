-- A job only one worker may run at a time (the janitor, reminder sends) holds a lease here on SQLite;
-- on PostgreSQL it holds an advisory lock instead and this table stays empty. A lease that was not
-- released (a worker killed mid-run) lapses at expires_at.
CREATE TABLE worker_leases (
    name        TEXT   PRIMARY KEY,
    holder      TEXT   NOT NULL,
    expires_at  BIGINT NOT NULL
);
