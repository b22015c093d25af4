//! Refunds: recorded PENDING before the gateway is asked, settled from the status the caller saw.

use chrono::{DateTime, Utc};
use clinicpay_domain::{Gateway, Money, PaymentId, PaymentStatus, StaffId};
use serde::Serialize;

use crate::payments::Settlement;
use crate::rows::{corrupt, money_of};
use crate::{from_millis, to_millis, Executor, Result, StoreError, Tx};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Refund {
    #[cfg_attr(feature = "specta", specta(type = i32))]
    pub id: i64,
    pub payment_id: PaymentId,
    pub gateway: Gateway,
    pub amount: Money,
    pub status: PaymentStatus,
    pub idempotency_key: String,
    pub gateway_reference: Option<String>,
    pub failure_message: Option<String>,
    pub created_by: Option<StaffId>,
    pub created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct RefundRow {
    id: i64,
    payment_id: i64,
    gateway: String,
    amount_minor: i64,
    currency: String,
    status: String,
    idempotency_key: String,
    gateway_reference: Option<String>,
    failure_message: Option<String>,
    created_by: Option<i64>,
    created_at: i64,
}

impl TryFrom<RefundRow> for Refund {
    type Error = StoreError;
    fn try_from(r: RefundRow) -> Result<Self> {
        let c = corrupt("refund", r.id);
        Ok(Refund {
            amount: money_of(r.amount_minor, &r.currency, "refund", r.id)?,
            gateway: r.gateway.parse().map_err(&c)?,
            status: r.status.parse().map_err(&c)?,
            id: r.id,
            payment_id: PaymentId(r.payment_id),
            idempotency_key: r.idempotency_key,
            gateway_reference: r.gateway_reference,
            failure_message: r.failure_message,
            created_by: r.created_by.map(StaffId),
            created_at: from_millis(r.created_at),
        })
    }
}

const REFUND_COLUMNS: &str =
    "id, payment_id, gateway, amount_minor, currency, status, idempotency_key,
    gateway_reference, failure_message, created_by, created_at";

pub async fn refund(ex: &mut impl Executor, id: i64) -> Result<Option<Refund>> {
    let q = format!("SELECT {REFUND_COLUMNS} FROM refunds WHERE id = $1");
    sql_as!(ex, RefundRow, fetch_optional, &q, id)?
        .map(TryInto::try_into)
        .transpose()
}

pub async fn refunds_of(ex: &mut impl Executor, payment: PaymentId) -> Result<Vec<Refund>> {
    let q = format!("SELECT {REFUND_COLUMNS} FROM refunds WHERE payment_id = $1 ORDER BY id");
    sql_as!(ex, RefundRow, fetch_all, &q, payment.0)?
        .into_iter()
        .map(TryInto::try_into)
        .collect()
}

/// Records a refund PENDING before the gateway is asked.
pub async fn insert_refund(
    tx: &mut Tx,
    payment: PaymentId,
    gateway: Gateway,
    amount: Money,
    key: &str,
    by: Option<StaffId>,
    at: DateTime<Utc>,
) -> Result<i64> {
    let id = sql_scalar!(
        tx,
        i64,
        fetch_one,
        "INSERT INTO refunds (payment_id, gateway, amount_minor, currency, status, idempotency_key,
             created_by, created_at, updated_at)
         VALUES ($1, $2, $3, $4, 'PENDING', $5, $6, $7, $7) RETURNING id",
        payment.0,
        gateway.as_str(),
        amount.minor,
        amount.currency.code(),
        key,
        by.map(|s| s.0),
        to_millis(at)
    )?;
    Ok(id)
}

pub async fn settle_refund(
    tx: &mut Tx,
    id: i64,
    from: PaymentStatus,
    to: PaymentStatus,
    s: &Settlement,
    at: DateTime<Utc>,
) -> Result<bool> {
    let n = sql!(
        tx,
        execute,
        "UPDATE refunds SET status = $1, gateway_reference = COALESCE($2, gateway_reference),
             failure_message = $3, updated_at = $4
         WHERE id = $5 AND status = $6",
        to.as_str(),
        s.gateway_reference.as_deref(),
        s.message.as_deref(),
        to_millis(at),
        id,
        from.as_str()
    )?;
    Ok(n == 1)
}

/// Refunds whose outcome is not settled and that were last touched before `before`: the janitor's work.
pub async fn unsettled_refunds(
    ex: &mut impl Executor,
    before: DateTime<Utc>,
    after_id: i64,
    limit: i64,
) -> Result<Vec<Refund>> {
    let q = format!(
        "SELECT {REFUND_COLUMNS} FROM refunds
         WHERE status IN ('PENDING', 'UNKNOWN') AND updated_at < $1 AND id > $2 ORDER BY id LIMIT $3"
    );
    sql_as!(
        ex,
        RefundRow,
        fetch_all,
        &q,
        to_millis(before),
        after_id,
        limit
    )?
    .into_iter()
    .map(TryInto::try_into)
    .collect()
}

/// Notes that a look-up at the gateway found nothing for this unsettled row, and answers when the first
/// such look-up was (`at` if this is it): only a second look, minutes later, may settle it as not sent.
pub async fn note_not_found(tx: &mut Tx, id: i64, at: DateTime<Utc>) -> Result<DateTime<Utc>> {
    sql!(
        tx,
        execute,
        "UPDATE refunds SET not_found_at = COALESCE(not_found_at, $1) WHERE id = $2",
        to_millis(at),
        id
    )?;
    let first = sql_scalar!(
        tx,
        Option<i64>,
        fetch_one,
        "SELECT not_found_at FROM refunds WHERE id = $1",
        id
    )?;
    Ok(first.map_or(at, from_millis))
}

/// A gateway's refunds created in `[from, to)`, oldest first: the ledger side of reconciliation.
pub async fn ledger_between(
    ex: &mut impl Executor,
    gateway: Gateway,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Refund>> {
    let q = format!(
        "SELECT {REFUND_COLUMNS} FROM refunds
         WHERE created_at >= $1 AND created_at < $2 AND gateway = $3 ORDER BY created_at, id"
    );
    sql_as!(
        ex,
        RefundRow,
        fetch_all,
        &q,
        to_millis(from),
        to_millis(to),
        gateway.as_str()
    )?
    .into_iter()
    .map(TryInto::try_into)
    .collect()
}

/// The refunds with these idempotency keys (any number; asked a few hundred at a time).
pub async fn with_keys(
    ex: &mut impl Executor,
    gateway: Gateway,
    keys: &[String],
) -> Result<Vec<Refund>> {
    let mut found = Vec::new();
    for chunk in keys.chunks(500) {
        let marks: Vec<String> = (2..=chunk.len() + 1).map(|i| format!("${i}")).collect();
        let q = format!(
            "SELECT {REFUND_COLUMNS} FROM refunds WHERE gateway = $1 AND idempotency_key IN ({})",
            marks.join(", ")
        );
        let rows: Vec<RefundRow> = match ex.conn() {
            crate::Conn::Sqlite(c) => {
                let mut query = sqlx::query_as::<_, RefundRow>(&q).bind(gateway.as_str());
                for k in chunk {
                    query = query.bind(k);
                }
                query.fetch_all(c).await?
            }
            crate::Conn::Postgres(c) => {
                let mut query = sqlx::query_as::<_, RefundRow>(&q).bind(gateway.as_str());
                for k in chunk {
                    query = query.bind(k);
                }
                query.fetch_all(c).await?
            }
        };
        for row in rows {
            found.push(row.try_into()?);
        }
    }
    Ok(found)
}
