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
    Ok(sql_as!(
        ex,
        PaymentTotals,
        fetch_all,
        "SELECT gateway, status, currency, COUNT(*) AS count, CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) AS amount_minor
           FROM payments WHERE created_at >= $1 AND created_at < $2
          GROUP BY gateway, status, currency ORDER BY gateway, status, currency",
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
    Ok(sql_as!(
        ex,
        DeclineTotals,
        fetch_all,
        "SELECT gateway, decline_code, decline_message, COUNT(*) AS count
           FROM payments WHERE status = 'FAILED' AND created_at >= $1 AND created_at < $2
          GROUP BY gateway, decline_code, decline_message ORDER BY gateway, COUNT(*) DESC, decline_code",
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
