//! The gateway report's figures, aggregated by the database over a time range `[from, to)`.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::{to_millis, Executor, Result};

/// Payments of one gateway, status and currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct PaymentTotals {
    pub gateway: String,
    pub status: String,
    pub currency: String,
    pub count: i64,
    pub amount_minor: i64,
}

pub async fn payment_totals(
    ex: &mut impl Executor,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<PaymentTotals>> {
    // SQLite is told to read payments_report_by_key (migration 0011): grouping off it needs no sort, and
    // its planner would otherwise take the created_at index and sort the whole range. PostgreSQL plans
    // this well by itself (a hash aggregate).
    let payments = match ex.conn() {
        crate::Conn::Sqlite(_) => "payments INDEXED BY payments_report_by_key",
        crate::Conn::Postgres(_) => "payments",
    };
    let q = format!(
        "SELECT gateway, status, currency, COUNT(*) AS count, CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) AS amount_minor
           FROM {payments} WHERE created_at >= $1 AND created_at < $2
          GROUP BY gateway, status, currency ORDER BY gateway, status, currency"
    );
    Ok(sql_as!(
        ex,
        PaymentTotals,
        fetch_all,
        &q,
        to_millis(from),
        to_millis(to)
    )?)
}

/// Failed payments of one gateway by decline code and the gateway's words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct DeclineTotals {
    pub gateway: String,
    pub decline_code: Option<String>,
    pub decline_message: Option<String>,
    pub count: i64,
}

pub async fn decline_totals(
    ex: &mut impl Executor,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<DeclineTotals>> {
    // As in payment_totals: grouped straight off the index in its order (migration 0011).
    let payments = match ex.conn() {
        crate::Conn::Sqlite(_) => "payments INDEXED BY payments_declines_by_key",
        crate::Conn::Postgres(_) => "payments",
    };
    let q = format!(
        "SELECT gateway, decline_code, decline_message, COUNT(*) AS count
           FROM {payments} WHERE status = 'FAILED' AND created_at >= $1 AND created_at < $2
          GROUP BY gateway, decline_code, decline_message ORDER BY gateway, COUNT(*) DESC, decline_code"
    );
    Ok(sql_as!(
        ex,
        DeclineTotals,
        fetch_all,
        &q,
        to_millis(from),
        to_millis(to)
    )?)
}

pub async fn refund_totals(
    ex: &mut impl Executor,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<PaymentTotals>> {
    Ok(sql_as!(
        ex,
        PaymentTotals,
        fetch_all,
        "SELECT gateway, status, currency, COUNT(*) AS count, CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) AS amount_minor
           FROM refunds WHERE created_at >= $1 AND created_at < $2
          GROUP BY gateway, status, currency ORDER BY gateway, status, currency",
        to_millis(from),
        to_millis(to)
    )?)
}

/// Orders whose recovery began in the range, by where recovery stands now.
pub async fn recovery_totals(
    ex: &mut impl Executor,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<(String, i64)>> {
    Ok(sql_as!(
        ex,
        (String, i64),
        fetch_all,
        "SELECT recovery_status, COUNT(*) FROM orders
          WHERE recovery_status IS NOT NULL AND first_failed_at >= $1 AND first_failed_at < $2
          GROUP BY recovery_status ORDER BY recovery_status",
        to_millis(from),
        to_millis(to)
    )?)
}

/// A day in milliseconds: the day totals are kept by UTC day, as the report's ranges are.
pub const DAY_MS: i64 = 86_400_000;

/// The days in `[from, to)` (UTC midnights, ms) whose totals are kept and still true: summarized as of
/// a generation no older than the day's latest change.
pub async fn fresh_days(ex: &mut impl Executor, from: i64, to: i64) -> Result<Vec<i64>> {
    Ok(sql_scalar!(
        ex,
        i64,
        fetch_all,
        "SELECT d.day FROM payment_days d LEFT JOIN payment_day_changes c ON c.day = d.day
          WHERE d.day >= $1 AND d.day < $2 AND d.generation >= COALESCE(c.generation, 0)
          ORDER BY d.day",
        from,
        to
    )?)
}

/// Keeps the totals of every day in `[from, to)` (whole UTC days, ms), made from the payments now. The
/// days' change generations are read first: a payment changed while the totals are counted moves its
/// day's generation past the one kept, so the day is counted again next time.
pub async fn summarize_days(tx: &mut crate::Tx, from: i64, to: i64) -> Result<()> {
    let generations: Vec<(i64, i64)> = sql_as!(
        tx,
        (i64, i64),
        fetch_all,
        "SELECT day, generation FROM payment_day_changes WHERE day >= $1 AND day < $2",
        from,
        to
    )?;
    let generations: std::collections::HashMap<i64, i64> = generations.into_iter().collect();
    sql!(
        tx,
        execute,
        "DELETE FROM payment_day_totals WHERE day >= $1 AND day < $2",
        from,
        to
    )?;
    sql!(
        tx,
        execute,
        "INSERT INTO payment_day_totals
              (day, gateway, status, currency, decline_code, decline_message, count, amount_minor)
         SELECT created_at - created_at % 86400000, gateway, status, currency,
                COALESCE(decline_code, ''), COALESCE(decline_message, ''), COUNT(*), SUM(amount_minor)
           FROM payments WHERE created_at >= $1 AND created_at < $2
          GROUP BY created_at - created_at % 86400000, gateway, status, currency,
                   COALESCE(decline_code, ''), COALESCE(decline_message, '')",
        from,
        to
    )?;
    let days: Vec<i64> = (0..)
        .map(|i| from + i * DAY_MS)
        .take_while(|d| *d < to)
        .collect();
    for chunk in days.chunks(400) {
        let values: Vec<String> = (0..chunk.len())
            .map(|i| format!("(${}, ${})", 2 * i + 1, 2 * i + 2))
            .collect();
        let q = format!(
            "INSERT INTO payment_days (day, generation) VALUES {}
             ON CONFLICT (day) DO UPDATE SET generation = excluded.generation",
            values.join(", ")
        );
        macro_rules! bind_days {
            ($query:expr) => {{
                let mut query = $query;
                for d in chunk {
                    query = query
                        .bind(*d)
                        .bind(generations.get(d).copied().unwrap_or(0));
                }
                query
            }};
        }
        match crate::Executor::conn(tx) {
            crate::Conn::Sqlite(c) => {
                bind_days!(sqlx::query(&q)).execute(c).await?;
            }
            crate::Conn::Postgres(c) => {
                bind_days!(sqlx::query(&q)).execute(c).await?;
            }
        }
    }
    Ok(())
}

/// The kept payment totals of the days in `[from, to)` (all of them fresh: see [`fresh_days`]).
pub async fn kept_payment_totals(
    ex: &mut impl Executor,
    from: i64,
    to: i64,
) -> Result<Vec<PaymentTotals>> {
    Ok(sql_as!(
        ex,
        PaymentTotals,
        fetch_all,
        "SELECT gateway, status, currency, CAST(SUM(count) AS BIGINT) AS count,
                CAST(SUM(amount_minor) AS BIGINT) AS amount_minor
           FROM payment_day_totals WHERE day >= $1 AND day < $2
          GROUP BY gateway, status, currency ORDER BY gateway, status, currency",
        from,
        to
    )?)
}

/// The kept decline totals of the days in `[from, to)`.
pub async fn kept_decline_totals(
    ex: &mut impl Executor,
    from: i64,
    to: i64,
) -> Result<Vec<DeclineTotals>> {
    Ok(sql_as!(
        ex,
        DeclineTotals,
        fetch_all,
        "SELECT gateway, NULLIF(decline_code, '') AS decline_code,
                NULLIF(decline_message, '') AS decline_message, CAST(SUM(count) AS BIGINT) AS count
           FROM payment_day_totals WHERE status = 'FAILED' AND day >= $1 AND day < $2
          GROUP BY gateway, decline_code, decline_message",
        from,
        to
    )?)
}

/// The first day (UTC midnight, ms) any payment was made, if any.
pub async fn first_payment_day(ex: &mut impl Executor) -> Result<Option<i64>> {
    let first: Option<i64> = sql_scalar!(
        ex,
        Option<i64>,
        fetch_one,
        "SELECT MIN(created_at) FROM payments"
    )?;
    Ok(first.map(|t| t - t.rem_euclid(DAY_MS)))
}

/// Fills the ledger with `count` synthetic payments of `patient` spread evenly over `[from, to)`, for the
/// report benchmark only: both gateways, four in five succeeded, the rest failed with one of a few
/// decline codes. One statement, generated by the database itself.
pub async fn insert_synthetic_payments(
    tx: &mut crate::Tx,
    patient: i64,
    count: i64,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<u64> {
    let (start, span) = (to_millis(from), (to_millis(to) - to_millis(from)).max(1));
    let select = "CASE WHEN i % 2 = 0 THEN 'nmi' ELSE 'stripe' END, 1000 + (i % 50) * 100, 'USD',
                  CASE WHEN i % 5 = 0 THEN 'FAILED' ELSE 'SUCCEEDED' END, 'bench-' || i,
                  CASE WHEN i % 5 = 0 THEN (CASE WHEN i % 3 = 0 THEN '202' ELSE '200' END) END,
                  CASE WHEN i % 5 = 0 THEN (CASE WHEN i % 3 = 0 THEN 'Insufficient funds' ELSE 'DECLINE' END) END,
                  $2 + (i * $3) / $4, $2 + (i * $3) / $4";
    let columns =
        "patient_id, gateway, amount_minor, currency, status, idempotency_key, decline_code,
                   decline_message, created_at, updated_at";
    let q = match tx.dialect() {
        crate::Dialect::Sqlite => format!(
            "INSERT INTO payments ({columns})
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $4)
             SELECT $1, {select} FROM n"
        ),
        crate::Dialect::Postgres => format!(
            "INSERT INTO payments ({columns})
             SELECT $1, {select} FROM generate_series(1::BIGINT, $4::BIGINT) AS i"
        ),
    };
    Ok(sql!(tx, execute, &q, patient, start, span, count)?)
}
