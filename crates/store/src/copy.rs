//! Moving a clinic from one desk to several: every row of the embedded SQLite database copied into an
//! empty PostgreSQL database in one transaction (ids, activity-log chain and all), then checked table by
//! table: same rows, same content, and an intact activity chain.

use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::{Pools, Result, Store, StoreError};

/// Every table, parents before children. A table the schema has and this list lacks stops the copy,
/// so a new table can never be left behind silently.
pub const TABLES: &[&str] = &[
    "organizations",
    "staff",
    "patients",
    "patient_search_terms",
    "payment_methods",
    "card_verifications",
    "subscriptions",
    "orders",
    "invoices",
    "payments",
    "refunds",
    "processor_log",
    "activity_log",
    "activity_head",
    "escalations",
    "worker_leases",
    "billing_engine",
    "reminders",
    "recovery_notices",
    "notice_templates",
    "desks",
    "reconciliations",
    "reconciliation_lines",
    "card_setups",
    "payment_day_totals",
    "payment_days",
    "payment_day_changes",
];

/// Tables of the database's own running state, not the clinic's: not copied (the billing engine's
/// lease and last pass belong to the old database; the new one starts with none; a reconciliation's
/// staged lines are its working state).
/// The report's day totals are made again from the payments.
const NOT_COPIED: &[&str] = &[
    "billing_engine",
    "reconciliation_lines",
    "payment_day_totals",
    "payment_days",
    "payment_day_changes",
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableCopy {
    pub table: String,
    pub rows: i64,
    /// The same rows with the same content on both sides (checked after the copy).
    pub verified: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int,
    Bool,
    Text,
}

struct Columns {
    names: Vec<String>,
    kinds: Vec<Kind>,
}

/// Copies `from` (SQLite) into `to` (an empty PostgreSQL database, already migrated by opening it).
pub async fn sqlite_to_postgres(from: &Store, to: &Store) -> Result<Vec<TableCopy>> {
    let (Pools::Sqlite { .. }, Pools::Postgres(pg)) = (&from.pools, &to.pools) else {
        return Err(StoreError::Invalid(
            "db copy moves an embedded SQLite clinic into PostgreSQL: give --db the SQLite file and --to a postgres:// address.".into(),
        ));
    };
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables
          WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' AND table_name NOT LIKE '\\_sqlx%'",
    )
    .fetch_all(pg)
    .await?;
    if let Some(unknown) = tables.iter().find(|t| !TABLES.contains(&t.as_str())) {
        return Err(StoreError::Invalid(format!(
            "db copy does not know the table {unknown}: nothing was copied (update ClinicPay's copy list)."
        )));
    }
    for t in TABLES
        .iter()
        .filter(|t| **t != "activity_head" && !NOT_COPIED.contains(t))
    {
        let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {t}"))
            .fetch_one(pg)
            .await?;
        if n > 0 {
            return Err(StoreError::Invalid(format!(
                "The PostgreSQL database already holds a clinic ({n} rows in {t}): copy only into an empty database, so nothing there is overwritten."
            )));
        }
    }

    let mut src = from.reader().await?;
    let crate::Conn::Sqlite(src) = crate::Executor::conn(&mut src) else {
        unreachable!("checked above");
    };
    let mut tx = pg.begin().await?;
    // The migrations wrote the activity chain's empty head; the clinic's own head replaces it.
    sqlx::query("DELETE FROM activity_head")
        .execute(&mut *tx)
        .await?;
    let mut copied = Vec::new();
    for table in TABLES.iter().filter(|t| !NOT_COPIED.contains(t)) {
        let cols = columns(&mut tx, table).await?;
        let select = format!("SELECT {} FROM {table}", cols.names.join(", "));
        let rows = sqlx::query(&select).fetch_all(&mut *src).await?;
        for chunk in rows.chunks(500) {
            let mut q = sqlx::QueryBuilder::<sqlx::Postgres>::new(format!(
                "INSERT INTO {table} ({}) ",
                cols.names.join(", ")
            ));
            q.push_values(chunk, |mut b, row| {
                for (i, kind) in cols.kinds.iter().enumerate() {
                    match kind {
                        Kind::Int => b.push_bind(row.try_get::<Option<i64>, _>(i).ok().flatten()),
                        Kind::Bool => b.push_bind(row.try_get::<Option<bool>, _>(i).ok().flatten()),
                        Kind::Text => {
                            b.push_bind(row.try_get::<Option<String>, _>(i).ok().flatten())
                        }
                    };
                }
            });
            q.build().execute(&mut *tx).await?;
        }
        // Identity columns go on from the highest id copied.
        if cols.names.iter().any(|c| c == "id") && cols.kinds[0] == Kind::Int {
            sqlx::query(&format!(
                "SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE(MAX(id), 1), MAX(id) IS NOT NULL)
                   FROM {table} WHERE pg_get_serial_sequence('{table}', 'id') IS NOT NULL"
            ))
            .fetch_all(&mut *tx)
            .await?;
        }
        copied.push(TableCopy {
            table: (*table).into(),
            rows: rows.len() as i64,
            verified: false,
        });
    }
    tx.commit().await?;

    for (c, same) in copied.iter_mut().zip(compare(from, to).await?) {
        c.verified = same.1;
    }
    Ok(copied)
}

/// Whether each table holds the same rows with the same content on both databases (in any order).
pub async fn compare(from: &Store, to: &Store) -> Result<Vec<(String, bool)>> {
    let (Pools::Sqlite { .. }, Pools::Postgres(pg)) = (&from.pools, &to.pools) else {
        return Err(StoreError::Invalid(
            "compare reads a SQLite clinic and its PostgreSQL copy.".into(),
        ));
    };
    let mut src = from.reader().await?;
    let crate::Conn::Sqlite(src) = crate::Executor::conn(&mut src) else {
        unreachable!("checked above");
    };
    let mut pg_conn = pg.acquire().await?;
    let mut out = Vec::new();
    for table in TABLES.iter().filter(|t| !NOT_COPIED.contains(t)) {
        let cols = columns(&mut pg_conn, table).await?;
        let select = format!("SELECT {} FROM {table}", cols.names.join(", "));
        let a = digest(
            &sqlx::query(&select).fetch_all(&mut *src).await?,
            &cols.kinds,
        );
        let b = digest(
            &sqlx::query(&select).fetch_all(&mut *pg_conn).await?,
            &cols.kinds,
        );
        out.push(((*table).to_owned(), a == b));
    }
    Ok(out)
}

async fn columns(conn: &mut sqlx::PgConnection, table: &str) -> Result<Columns> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT column_name::text, data_type::text FROM information_schema.columns
          WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
    )
    .bind(table)
    .fetch_all(conn)
    .await?;
    let mut names = Vec::new();
    let mut kinds = Vec::new();
    for (name, ty) in rows {
        kinds.push(match ty.as_str() {
            "bigint" | "integer" | "smallint" => Kind::Int,
            "boolean" => Kind::Bool,
            "text" | "character varying" => Kind::Text,
            other => {
                return Err(StoreError::Invalid(format!(
                    "db copy cannot copy {table}.{name} of type {other}: nothing was copied."
                )))
            }
        });
        names.push(name);
    }
    Ok(Columns { names, kinds })
}

/// The rows of a table as one digest, whatever order either database returns them in.
fn digest<R: Row>(rows: &[R], kinds: &[Kind]) -> String
where
    for<'a> Option<i64>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<bool>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<String>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    usize: sqlx::ColumnIndex<R>,
{
    let mut each: Vec<String> = rows
        .iter()
        .map(|row| {
            let mut h = Sha256::new();
            for (i, kind) in kinds.iter().enumerate() {
                let v = match kind {
                    Kind::Int => format!("{:?}", row.try_get::<Option<i64>, _>(i).ok().flatten()),
                    Kind::Bool => format!("{:?}", row.try_get::<Option<bool>, _>(i).ok().flatten()),
                    Kind::Text => {
                        format!("{:?}", row.try_get::<Option<String>, _>(i).ok().flatten())
                    }
                };
                h.update(v.len().to_le_bytes());
                h.update(v.as_bytes());
            }
            hex::encode(h.finalize())
        })
        .collect();
    each.sort();
    let mut h = Sha256::new();
    for e in &each {
        h.update(e.as_bytes());
    }
    hex::encode(h.finalize())
}
