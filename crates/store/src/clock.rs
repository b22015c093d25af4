//! The database's clock: the one every desk and worker keeps, whatever their own clocks say.

use chrono::{DateTime, Utc};

use crate::{from_millis, Conn, Executor, Result};

/// The database server's time now (PostgreSQL's `clock_timestamp()`; for SQLite, which runs inside this
/// process, the computer's own time as SQLite reads it).
pub async fn database_now(ex: &mut impl Executor) -> Result<DateTime<Utc>> {
    let ms: i64 = match ex.conn() {
        Conn::Sqlite(c) => {
            sqlx::query_scalar(
                "SELECT CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)",
            )
            .fetch_one(c)
            .await?
        }
        Conn::Postgres(c) => {
            sqlx::query_scalar("SELECT (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT")
                .fetch_one(c)
                .await?
        }
    };
    Ok(from_millis(ms))
}
