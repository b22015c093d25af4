//! ClinicPay's store: one schema in two dialects (SQLite for a single desk, PostgreSQL for a clinic with
//! several desks), reached through sqlx. Repositories are written once: the `sql!` family of macros runs
//! the same statement on whichever database is open, so the two back ends cannot drift apart. Where the
//! dialects really differ, a repository matches on [`Dialect`].
//!
//! Times are stored as UTC milliseconds, money as integer minor units.

use chrono::{DateTime, TimeZone, Utc};
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgConnection, PgPool, SqliteConnection, SqlitePool};
use std::str::FromStr;
use std::time::Duration;

mod error;
#[macro_use]
mod macros;
mod rows;
mod tls;

pub mod activity;
pub mod card_setups;
pub mod changes;
pub mod clock;
pub mod copy;
pub mod demo;
pub mod desks;
pub mod engine;
pub mod invoices;
pub mod orders;
pub mod organization;
pub mod overview;
pub mod patients;
pub mod payment_methods;
pub mod payments;
pub mod processor_log;
pub mod reconciliation_lines;
pub mod reconciliations;
pub mod recovery_notices;
pub mod refunds;
pub mod reminders;
pub mod report;
pub mod singleton;
pub mod staff;
pub mod subscriptions;

pub use error::{redact_url, StoreError};
pub use tls::DatabaseTrust;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone)]
enum Pools {
    /// SQLite allows one writer: every transaction goes through a one-connection pool and starts with
    /// BEGIN IMMEDIATE, so writers queue instead of failing with "database is locked"; reads use their own pool.
    Sqlite {
        writer: SqlitePool,
        reader: SqlitePool,
    },
    Postgres(PgPool),
}

/// An open database. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pools: Pools,
}

/// A connection to run statements on: a transaction or a pooled reader.
pub enum Conn<'c> {
    Sqlite(&'c mut SqliteConnection),
    Postgres(&'c mut PgConnection),
}

/// Anything statements can run on.
pub trait Executor: Send {
    fn conn(&mut self) -> Conn<'_>;
}

/// A unit of work: every change and its activity-log entry commit together or not at all.
pub enum Tx {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

impl Executor for Tx {
    fn conn(&mut self) -> Conn<'_> {
        match self {
            Tx::Sqlite(t) => Conn::Sqlite(&mut *t),
            Tx::Postgres(t) => Conn::Postgres(&mut *t),
        }
    }
}

impl Tx {
    pub async fn commit(self) -> Result<()> {
        match self {
            Tx::Sqlite(t) => t.commit().await?,
            Tx::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }

    pub async fn rollback(self) -> Result<()> {
        match self {
            Tx::Sqlite(t) => t.rollback().await?,
            Tx::Postgres(t) => t.rollback().await?,
        }
        Ok(())
    }

    pub fn dialect(&self) -> Dialect {
        match self {
            Tx::Sqlite(_) => Dialect::Sqlite,
            Tx::Postgres(_) => Dialect::Postgres,
        }
    }
}

/// A pooled connection for reads outside a transaction.
pub enum Reader {
    Sqlite(sqlx::pool::PoolConnection<sqlx::Sqlite>),
    Postgres(sqlx::pool::PoolConnection<sqlx::Postgres>),
}

impl Executor for Reader {
    fn conn(&mut self) -> Conn<'_> {
        match self {
            Reader::Sqlite(c) => Conn::Sqlite(&mut *c),
            Reader::Postgres(c) => Conn::Postgres(&mut *c),
        }
    }
}

impl Store {
    /// Opens `url` (`sqlite://path`, a plain file path, or `postgres://…`) and applies pending migrations.
    pub async fn open(url: &str) -> Result<Store> {
        Store::open_with(url, &DatabaseTrust::default()).await
    }

    /// As [`Store::open`], trusting the CA IT named for the clinic's PostgreSQL as well.
    pub async fn open_with(url: &str, trust: &DatabaseTrust) -> Result<Store> {
        let store = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Store::open_postgres(url, trust).await?
        } else {
            Store::open_sqlite(url).await?
        };
        store.migrate().await?;
        Ok(store)
    }

    async fn open_sqlite(url: &str) -> Result<Store> {
        // A `sqlite:` address takes sqlx's query parameters (`?mode=rwc`, `?mode=ro`…); a plain path
        // is the file's name, whatever it holds.
        let (base, mode_given) = if url.starts_with("sqlite:") {
            let options =
                SqliteConnectOptions::from_str(url).map_err(|e| StoreError::unavailable(url, e))?;
            let mode_given = url.split_once('?').is_some_and(|(_, q)| {
                url::form_urlencoded::parse(q.as_bytes()).any(|(k, _)| k == "mode")
            });
            (options, mode_given)
        } else {
            (SqliteConnectOptions::new().filename(url), false)
        };
        let path = base.get_filename().to_path_buf();
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir).map_err(|e| {
                    StoreError::Unavailable(format!(
                        "cannot create the database folder {}: {e}",
                        dir.display()
                    ))
                })?;
            }
        }
        // Made when missing, unless the address says how to open it.
        let base = if mode_given {
            base
        } else {
            base.create_if_missing(true)
        };
        let options = base
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            // Pages read through a memory map instead of a read() call each: a clinic group's database
            // is hundreds of MB, and looking a patient up touches pages spread over it (issue 11).
            .pragma("mmap_size", "1073741824");
        // The one connection that writes syncs the log on every commit (FULL): a payment recorded
        // PENDING before the gateway is called, or SUCCEEDED after, survives a power cut. NORMAL would
        // lose the last commits before a checkpoint. Readers write nothing and keep NORMAL.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options.clone().synchronous(SqliteSynchronous::Full))
            .await
            .map_err(|e| StoreError::unavailable(url, e))?;
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(|e| StoreError::unavailable(url, e))?;
        Ok(Store {
            pools: Pools::Sqlite { writer, reader },
        })
    }

    async fn open_postgres(url: &str, trust: &DatabaseTrust) -> Result<Store> {
        let options = tls::postgres_options(url, trust)?
            .application_name("clinicpay")
            // A commit returns only once it is on disk, whatever the server's default says.
            .options([("synchronous_commit", "on")]);
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(|e| tls::connect_error(url, e))?;
        Ok(Store {
            pools: Pools::Postgres(pool),
        })
    }

    async fn migrate(&self) -> Result<()> {
        match &self.pools {
            Pools::Sqlite { writer, .. } => sqlx::migrate!("../../migrations/sqlite")
                .run(writer)
                .await
                .map_err(StoreError::from_migration)?,
            Pools::Postgres(pool) => sqlx::migrate!("../../migrations/postgres")
                .run(pool)
                .await
                .map_err(StoreError::from_migration)?,
        }
        Ok(())
    }

    pub fn dialect(&self) -> Dialect {
        match self.pools {
            Pools::Sqlite { .. } => Dialect::Sqlite,
            Pools::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Starts a unit of work.
    pub async fn begin(&self) -> Result<Tx> {
        Ok(match &self.pools {
            Pools::Sqlite { writer, .. } => Tx::Sqlite(writer.begin_with("BEGIN IMMEDIATE").await?),
            Pools::Postgres(pool) => Tx::Postgres(pool.begin().await?),
        })
    }

    /// A connection for reads that need no transaction.
    pub async fn reader(&self) -> Result<Reader> {
        Ok(match &self.pools {
            Pools::Sqlite { reader, .. } => Reader::Sqlite(reader.acquire().await?),
            Pools::Postgres(pool) => Reader::Postgres(pool.acquire().await?),
        })
    }

    /// SQLite: writes everything the write-ahead log holds into the database file itself, so the file
    /// alone is the whole database (before it is moved). Nothing to do on PostgreSQL.
    pub async fn checkpoint(&self) -> Result<()> {
        if let Pools::Sqlite { writer, .. } = &self.pools {
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(writer)
                .await?;
        }
        Ok(())
    }

    pub async fn close(&self) {
        match &self.pools {
            Pools::Sqlite { writer, reader } => {
                reader.close().await;
                writer.close().await;
            }
            Pools::Postgres(pool) => pool.close().await,
        }
    }
}

/// The single-desk database: `clinicpay.db` in the OS app-data folder
/// (`~/.local/share/clinicpay` on Linux, `%APPDATA%\\ClinicPay\\ClinicPay\\data` on Windows,
/// `~/Library/Application Support/com.ClinicPay.ClinicPay` on macOS).
pub fn default_database_url() -> Option<String> {
    directories::ProjectDirs::from("com", "ClinicPay", "ClinicPay")
        .map(|d| d.data_dir().join("clinicpay.db").display().to_string())
}

/// UTC milliseconds, as every time is stored.
/// Makes typed text literal inside a LIKE pattern written with `ESCAPE '\'` (emails carry `_`; a
/// backslash is PostgreSQL's escape character, and one at the end of a pattern is an error there).
pub(crate) fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `%text%` for `LOWER(column) LIKE $n ESCAPE '\'`: the text as typed, lower-cased, matched anywhere.
pub(crate) fn like_contains(text: &str) -> String {
    format!("%{}%", escape_like(&text.trim().to_lowercase()))
}

pub fn to_millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub fn from_millis(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

#[cfg(test)]
mod open_tests {
    use super::*;

    #[tokio::test]
    async fn a_sqlite_address_takes_sqlx_query_parameters() {
        let dir = std::env::temp_dir().join(format!("clinicpay-open-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let store = Store::open(&format!("sqlite://{}/clinic.db?mode=rwc", dir.display()))
            .await
            .unwrap();
        store.close().await;
        assert!(dir.join("clinic.db").exists(), "the file is clinic.db");
        assert!(!dir.join("clinic.db?mode=rwc").exists());
        // mode=rw opens only what exists: a missing file is refused, not made.
        let missing = format!("sqlite://{}/missing.db?mode=rw", dir.display());
        assert!(Store::open(&missing).await.is_err());
        assert!(!dir.join("missing.db").exists());
        // A plain path is a file name, and is made when missing.
        let plain = dir.join("plain.db");
        Store::open(plain.to_str().unwrap())
            .await
            .unwrap()
            .close()
            .await;
        assert!(plain.exists());
        std::fs::remove_dir_all(&dir).ok();
    }
}
