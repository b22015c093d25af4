//! Jobs only one worker may run at a time. PostgreSQL: a session advisory lock keyed by the schema and
//! the job's name, held on a connection of its own for as long as the job runs (a killed worker's
//! connection closes and the lock goes with it). SQLite: a lease row with an expiry, for the same reason.

use chrono::{DateTime, Duration, Utc};

use crate::{to_millis, Pools, Result, Store};

/// Holds a singleton job; `release` ends it.
pub enum Singleton {
    Postgres {
        conn: sqlx::pool::PoolConnection<sqlx::Postgres>,
        name: String,
    },
    Sqlite {
        store: Store,
        name: String,
        holder: String,
    },
}

impl Store {
    /// Takes the job `name` for `holder` unless another worker has it. `ttl` bounds a SQLite lease
    /// whose worker died without releasing it.
    pub async fn try_singleton(
        &self,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<Option<Singleton>> {
        match &self.pools {
            Pools::Postgres(pool) => {
                let mut conn = pool.acquire().await?;
                let got: bool = sqlx::query_scalar(
                    "SELECT pg_try_advisory_lock(hashtextextended(current_schema() || ':' || $1, 0))",
                )
                .bind(name)
                .fetch_one(&mut *conn)
                .await?;
                Ok(got.then(|| Singleton::Postgres {
                    conn,
                    name: name.into(),
                }))
            }
            Pools::Sqlite { .. } => {
                let mut tx = self.begin().await?;
                let n = sql!(
                    &mut tx,
                    execute,
                    "INSERT INTO worker_leases (name, holder, expires_at) VALUES ($1, $2, $3)
                     ON CONFLICT (name) DO UPDATE SET holder = $2, expires_at = $3
                     WHERE worker_leases.expires_at < $4 OR worker_leases.holder = $2",
                    name,
                    holder,
                    to_millis(now + ttl),
                    to_millis(now)
                )?;
                tx.commit().await?;
                Ok((n == 1).then(|| Singleton::Sqlite {
                    store: self.clone(),
                    name: name.into(),
                    holder: holder.into(),
                }))
            }
        }
    }
}

impl Singleton {
    pub async fn release(self) -> Result<()> {
        match self {
            Singleton::Postgres { mut conn, name } => {
                sqlx::query(
                    "SELECT pg_advisory_unlock(hashtextextended(current_schema() || ':' || $1, 0))",
                )
                .bind(&name)
                .execute(&mut *conn)
                .await?;
            }
            Singleton::Sqlite {
                store,
                name,
                holder,
            } => {
                let mut tx = store.begin().await?;
                sql!(
                    &mut tx,
                    execute,
                    "DELETE FROM worker_leases WHERE name = $1 AND holder = $2",
                    &name,
                    &holder
                )?;
                tx.commit().await?;
            }
        }
        Ok(())
    }
}
