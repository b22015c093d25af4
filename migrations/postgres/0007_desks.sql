-- The desk inventory: each ClinicPay desk (a computer running the app) records itself at start and then
-- every few minutes, so IT sees which desks run which version against which database, and when each was
-- last seen. desk_id is a random id the desk keeps in its app-data folder.
CREATE TABLE desks (
    desk_id       TEXT   PRIMARY KEY,
    name          TEXT   NOT NULL,
    app_version   TEXT   NOT NULL,
    os            TEXT   NOT NULL,
    database_kind TEXT   NOT NULL,
    channel       TEXT   NOT NULL,
    managed       BOOLEAN NOT NULL,
    first_seen_at BIGINT NOT NULL,
    last_seen_at  BIGINT NOT NULL
);
