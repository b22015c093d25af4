//! A reconciliation's staged view of the gateway (migration 0026): the gateway's listing written page by
//! page as it is read, so the ledger is compared with it by the database and only what may differ is
//! brought into memory. A million transactions cost the same memory as a thousand.

use chrono::{DateTime, Utc};
use clinicpay_domain::Gateway;

use crate::{from_millis, to_millis, Executor, Result, Tx};

/// Rows per INSERT: nine values each, well under both databases' limits on bound values.
const ROWS_PER_INSERT: usize = 200;

/// One transaction as the gateway listed it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Line {
    /// `charge` or `refund`.
    pub kind: String,
    pub reference: String,
    pub our_key: Option<String>,
    pub amount_minor: i64,
    pub currency: Option<String>,
    pub taken: bool,
    pub status: String,
    pub created_at: i64,
}

impl Line {
    pub fn created_at(&self) -> DateTime<Utc> {
        from_millis(self.created_at)
    }
}

const COLUMNS: &str = "kind, reference, our_key, amount_minor, currency, taken, status, created_at";

/// Writes one page of the listing under `run`; a transaction already written (listed twice) is kept
/// as first written.
pub async fn stage(tx: &mut Tx, run: &str, lines: &[Line], at: DateTime<Utc>) -> Result<()> {
    for chunk in lines.chunks(ROWS_PER_INSERT) {
        let values: Vec<String> = (0..chunk.len())
            .map(|r| {
                let b = r * 8 + 3;
                format!(
                    "($1, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, $2)",
                    b,
                    b + 1,
                    b + 2,
                    b + 3,
                    b + 4,
                    b + 5,
                    b + 6,
                    b + 7
                )
            })
            .collect();
        let q = format!(
            "INSERT INTO reconciliation_lines (run, {COLUMNS}, staged_at) VALUES {}
             ON CONFLICT DO NOTHING",
            values.join(", ")
        );
        macro_rules! bind_all {
            ($query:expr) => {{
                let mut query = $query.bind(run).bind(to_millis(at));
                for l in chunk {
                    query = query
                        .bind(&l.kind)
                        .bind(&l.reference)
                        .bind(&l.our_key)
                        .bind(l.amount_minor)
                        .bind(&l.currency)
                        .bind(l.taken)
                        .bind(&l.status)
                        .bind(l.created_at);
                }
                query
            }};
        }
        match tx.conn() {
            crate::Conn::Sqlite(c) => {
                bind_all!(sqlx::query(&q)).execute(c).await?;
            }
            crate::Conn::Postgres(c) => {
                bind_all!(sqlx::query(&q)).execute(c).await?;
            }
        }
    }
    Ok(())
}

/// Tells PostgreSQL's planner what a listing just staged holds. Without it, the planner sees the run's
/// lines as the near-empty table of before and matches each payment by walking every line of the run
/// (a million payments took longer than the bench would wait; at 100,000 over eight minutes). SQLite
/// picks the key index without statistics.
pub async fn refresh_statistics(tx: &mut Tx) -> Result<()> {
    if let Tx::Postgres(t) = tx {
        sqlx::query("ANALYZE reconciliation_lines")
            .execute(&mut **t)
            .await?;
    }
    Ok(())
}

/// How many transactions of `kind` the gateway listed as made in `[from, to)`.
pub async fn count(
    ex: &mut impl Executor,
    run: &str,
    kind: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<i64> {
    Ok(sql_scalar!(
        ex,
        i64,
        fetch_one,
        "SELECT COUNT(*) FROM reconciliation_lines
          WHERE run = $1 AND kind = $2 AND created_at >= $3 AND created_at < $4",
        run,
        kind,
        to_millis(from),
        to_millis(to)
    )?)
}

/// The keys of the ledger's payments (`kind` charge) or refunds (`kind` refund) of `gateway` made in
/// `[from, to)` that are not plainly matched: anything but done, with exactly one transaction taken
/// under its key, for the same amount and currency. Only these can differ; the matching decides.
pub async fn ledger_keys_to_check(
    ex: &mut impl Executor,
    run: &str,
    kind: &str,
    gateway: Gateway,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<String>> {
    let table = if kind == "refund" {
        "refunds"
    } else {
        "payments"
    };
    let q = format!(
        "SELECT x.idempotency_key FROM {table} x
          WHERE x.gateway = $3 AND x.created_at >= $4 AND x.created_at < $5
            AND NOT (x.status = 'SUCCEEDED'
                 AND 1 = (SELECT COUNT(*) FROM reconciliation_lines l
                           WHERE l.run = $1 AND l.kind = $2 AND l.our_key = x.idempotency_key AND l.taken)
                 AND 1 = (SELECT COUNT(*) FROM reconciliation_lines l
                           WHERE l.run = $1 AND l.kind = $2 AND l.our_key = x.idempotency_key AND l.taken
                             AND l.amount_minor = x.amount_minor
                             AND (l.currency IS NULL OR UPPER(l.currency) = UPPER(x.currency))))"
    );
    Ok(sql_scalar!(
        ex,
        String,
        fetch_all,
        &q,
        run,
        kind,
        gateway.as_str(),
        to_millis(from),
        to_millis(to)
    )?)
}

/// The gateway's transactions of `kind` taken in `[from, to)` that the ledger has nothing for under
/// their key (any date), and those with no key of ours at all.
pub async fn unrecorded(
    ex: &mut impl Executor,
    run: &str,
    kind: &str,
    gateway: Gateway,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Line>> {
    let table = if kind == "refund" {
        "refunds"
    } else {
        "payments"
    };
    let q = format!(
        "SELECT {COLUMNS} FROM reconciliation_lines l
          WHERE l.run = $1 AND l.kind = $2 AND l.taken AND l.created_at >= $4 AND l.created_at < $5
            AND (l.our_key IS NULL
                 OR NOT EXISTS (SELECT 1 FROM {table} x WHERE x.idempotency_key = l.our_key AND x.gateway = $3))"
    );
    Ok(sql_as!(
        ex,
        Line,
        fetch_all,
        &q,
        run,
        kind,
        gateway.as_str(),
        to_millis(from),
        to_millis(to)
    )?)
}

/// Every transaction of `kind` listed under these keys (any number; asked a few hundred at a time).
pub async fn with_keys(
    ex: &mut impl Executor,
    run: &str,
    kind: &str,
    keys: &[String],
) -> Result<Vec<Line>> {
    let mut found = Vec::new();
    for chunk in keys.chunks(500) {
        let marks: Vec<String> = (3..=chunk.len() + 2).map(|i| format!("${i}")).collect();
        let q = format!(
            "SELECT {COLUMNS} FROM reconciliation_lines
              WHERE run = $1 AND kind = $2 AND our_key IN ({})",
            marks.join(", ")
        );
        let rows: Vec<Line> = match ex.conn() {
            crate::Conn::Sqlite(c) => {
                let mut query = sqlx::query_as::<_, Line>(&q).bind(run).bind(kind);
                for k in chunk {
                    query = query.bind(k);
                }
                query.fetch_all(c).await?
            }
            crate::Conn::Postgres(c) => {
                let mut query = sqlx::query_as::<_, Line>(&q).bind(run).bind(kind);
                for k in chunk {
                    query = query.bind(k);
                }
                query.fetch_all(c).await?
            }
        };
        found.extend(rows);
    }
    Ok(found)
}

/// Removes a run's lines once it is matched, and any left by a run that was stopped before its end
/// (staged before `stale_before`).
pub async fn remove(tx: &mut Tx, run: &str, stale_before: DateTime<Utc>) -> Result<()> {
    sql!(
        tx,
        execute,
        "DELETE FROM reconciliation_lines WHERE run = $1 OR staged_at < $2",
        run,
        to_millis(stale_before)
    )?;
    Ok(())
}

/// How many payments (`kind` charge) or refunds (`kind` refund) of `gateway` the ledger holds made in
/// `[from, to)`.
pub async fn ledger_count(
    ex: &mut impl Executor,
    kind: &str,
    gateway: Gateway,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<i64> {
    let table = if kind == "refund" {
        "refunds"
    } else {
        "payments"
    };
    let q = format!(
        "SELECT COUNT(*) FROM {table} WHERE gateway = $1 AND created_at >= $2 AND created_at < $3"
    );
    Ok(sql_scalar!(
        ex,
        i64,
        fetch_one,
        &q,
        gateway.as_str(),
        to_millis(from),
        to_millis(to)
    )?)
}
