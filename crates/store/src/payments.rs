//! Payments: each attempt to charge a card, written PENDING before the gateway is called (unique
//! idempotency key, at most one succeeded payment per invoice) and settled only from the status the
//! caller saw, so two workers (or a worker and the janitor) can never both settle the same payment.

use chrono::{DateTime, Utc};
use clinicpay_domain::{
    Gateway, InvoiceId, Money, OrderId, PatientId, PaymentId, PaymentMethodId, PaymentStatus,
    StaffId,
};
use serde::Serialize;

use crate::rows::{corrupt, equals, money_of};
use crate::{from_millis, to_millis, Executor, Result, StoreError, Tx};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Payment {
    pub id: PaymentId,
    pub patient_id: PatientId,
    pub invoice_id: Option<InvoiceId>,
    pub order_id: Option<OrderId>,
    pub payment_method_id: Option<PaymentMethodId>,
    pub gateway: Gateway,
    pub amount: Money,
    pub status: PaymentStatus,
    pub idempotency_key: String,
    pub gateway_reference: Option<String>,
    pub decline_code: Option<String>,
    pub decline_message: Option<String>,
    pub created_by: Option<StaffId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// A second, real charge of an invoice another payment had already paid: its answer came late
    /// (after this payment was settled as failed). Billing refunds one of the two.
    pub duplicate_of: Option<PaymentId>,
}

#[derive(sqlx::FromRow)]
struct PaymentRow {
    id: i64,
    patient_id: i64,
    invoice_id: Option<i64>,
    order_id: Option<i64>,
    payment_method_id: Option<i64>,
    gateway: String,
    amount_minor: i64,
    currency: String,
    status: String,
    idempotency_key: String,
    gateway_reference: Option<String>,
    decline_code: Option<String>,
    decline_message: Option<String>,
    created_by: Option<i64>,
    created_at: i64,
    updated_at: i64,
    duplicate_of: Option<i64>,
}

impl TryFrom<PaymentRow> for Payment {
    type Error = StoreError;
    fn try_from(r: PaymentRow) -> Result<Self> {
        let c = corrupt("payment", r.id);
        Ok(Payment {
            amount: money_of(r.amount_minor, &r.currency, "payment", r.id)?,
            gateway: r.gateway.parse().map_err(&c)?,
            status: r.status.parse().map_err(&c)?,
            id: PaymentId(r.id),
            patient_id: PatientId(r.patient_id),
            invoice_id: r.invoice_id.map(InvoiceId),
            order_id: r.order_id.map(OrderId),
            payment_method_id: r.payment_method_id.map(PaymentMethodId),
            idempotency_key: r.idempotency_key,
            gateway_reference: r.gateway_reference,
            decline_code: r.decline_code,
            decline_message: r.decline_message,
            created_by: r.created_by.map(StaffId),
            created_at: from_millis(r.created_at),
            updated_at: from_millis(r.updated_at),
            duplicate_of: r.duplicate_of.map(PaymentId),
        })
    }
}

const PAYMENT_COLUMNS: &str = "id, patient_id, invoice_id, order_id, payment_method_id, gateway,
    amount_minor, currency, status, idempotency_key, gateway_reference, decline_code, decline_message,
    created_by, created_at, updated_at, duplicate_of";

pub async fn payment(ex: &mut impl Executor, id: PaymentId) -> Result<Option<Payment>> {
    let q = format!("SELECT {PAYMENT_COLUMNS} FROM payments WHERE id = $1");
    sql_as!(ex, PaymentRow, fetch_optional, &q, id.0)?
        .map(TryInto::try_into)
        .transpose()
}

/// Failed payments, newest first; `search` matches the patient's name or email, the decline code or the
/// gateway's message (case-insensitive, anywhere in the text).
pub async fn failed_payments(
    ex: &mut impl Executor,
    search: Option<&str>,
    limit: i64,
) -> Result<Vec<Payment>> {
    let pattern = search
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(crate::like_contains);
    let columns = PAYMENT_COLUMNS
        .split(',')
        .map(|c| format!("pay.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ");
    let q = format!(
        "SELECT {columns} FROM payments pay JOIN patients p ON p.id = pay.patient_id
          WHERE pay.status = 'FAILED'
            AND ($1 IS NULL OR LOWER(p.name) LIKE $1 ESCAPE '\\' OR LOWER(p.email) LIKE $1 ESCAPE '\\'
                 OR LOWER(COALESCE(pay.decline_code, '')) LIKE $1 ESCAPE '\\'
                 OR LOWER(COALESCE(pay.decline_message, '')) LIKE $1 ESCAPE '\\')
          ORDER BY pay.created_at DESC, pay.id DESC LIMIT $2"
    );
    sql_as!(ex, PaymentRow, fetch_all, &q, pattern, limit)?
        .into_iter()
        .map(TryInto::try_into)
        .collect()
}

/// Payments newest first, of one patient or of the clinic.
pub async fn payments(
    ex: &mut impl Executor,
    patient: Option<PatientId>,
    limit: i64,
) -> Result<Vec<Payment>> {
    let q = format!(
        "SELECT {PAYMENT_COLUMNS} FROM payments WHERE {}
         ORDER BY created_at DESC, id DESC LIMIT $2",
        equals("patient_id", 1, patient.is_some())
    );
    sql_as!(ex, PaymentRow, fetch_all, &q, patient.map(|p| p.0), limit)?
        .into_iter()
        .map(TryInto::try_into)
        .collect()
}

/// Payments whose outcome is not settled and that were last touched before `before`: the janitor's work,
/// oldest first, a page at a time after `after_id`.
pub async fn unsettled_payments(
    ex: &mut impl Executor,
    before: DateTime<Utc>,
    after_id: PaymentId,
    limit: i64,
) -> Result<Vec<Payment>> {
    let q = format!(
        "SELECT {PAYMENT_COLUMNS} FROM payments
         WHERE status IN ('PENDING', 'UNKNOWN') AND updated_at < $1 AND id > $2
         ORDER BY id LIMIT $3"
    );
    sql_as!(
        ex,
        PaymentRow,
        fetch_all,
        &q,
        to_millis(before),
        after_id.0,
        limit
    )?
    .into_iter()
    .map(TryInto::try_into)
    .collect()
}

/// How a payment (or refund) ended, as the gateway said.
#[derive(Debug, Clone, Default)]
pub struct Settlement {
    pub gateway_reference: Option<String>,
    pub code: Option<String>,
    pub message: Option<String>,
}

/// Settles a payment from the status the caller saw; false when it was already settled by someone else.
pub async fn settle_payment(
    tx: &mut Tx,
    id: PaymentId,
    from: PaymentStatus,
    to: PaymentStatus,
    s: &Settlement,
    at: DateTime<Utc>,
) -> Result<bool> {
    let n = sql!(
        tx,
        execute,
        "UPDATE payments SET status = $1, gateway_reference = COALESCE($2, gateway_reference),
             decline_code = $3, decline_message = $4, updated_at = $5
         WHERE id = $6 AND status = $7",
        to.as_str(),
        s.gateway_reference.as_deref(),
        s.code.as_deref(),
        s.message.as_deref(),
        to_millis(at),
        id.0,
        from.as_str()
    )?;
    Ok(n == 1)
}

/// Holds the payment's row until the transaction ends, so two refunds of one payment are checked against
/// the refunded total one after the other (SQLite's single writer already does this).
pub async fn lock_payment(tx: &mut Tx, id: PaymentId) -> Result<()> {
    match tx {
        Tx::Postgres(t) => {
            sqlx::query("SELECT id FROM payments WHERE id = $1 FOR UPDATE")
                .bind(id.0)
                .execute(&mut **t)
                .await?;
        }
        Tx::Sqlite(_) => {}
    }
    Ok(())
}

/// An order's payment attempts, oldest first.
pub async fn payments_of_order(ex: &mut impl Executor, order: OrderId) -> Result<Vec<Payment>> {
    let q = format!("SELECT {PAYMENT_COLUMNS} FROM payments WHERE order_id = $1 ORDER BY id");
    sql_as!(ex, PaymentRow, fetch_all, &q, order.0)?
        .into_iter()
        .map(TryInto::try_into)
        .collect()
}

#[derive(Debug, Clone)]
pub struct NewPayment {
    pub patient_id: PatientId,
    pub invoice_id: Option<InvoiceId>,
    pub order_id: Option<OrderId>,
    pub payment_method_id: Option<PaymentMethodId>,
    pub gateway: Gateway,
    pub amount: Money,
    pub status: PaymentStatus,
    pub idempotency_key: String,
    pub gateway_reference: Option<String>,
    pub decline_code: Option<String>,
    pub decline_message: Option<String>,
    pub created_by: Option<StaffId>,
}

/// Records a payment. A payment is written PENDING before the gateway is called; a second row with the
/// same idempotency key is refused by the database.
pub async fn insert_payment(tx: &mut Tx, p: &NewPayment, at: DateTime<Utc>) -> Result<PaymentId> {
    let id = sql_scalar!(
        tx,
        i64,
        fetch_one,
        "INSERT INTO payments (patient_id, invoice_id, order_id, payment_method_id, gateway, amount_minor,
             currency, status, idempotency_key, gateway_reference, decline_code, decline_message,
             created_by, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14) RETURNING id",
        p.patient_id.0,
        p.invoice_id.map(|i| i.0),
        p.order_id.map(|o| o.0),
        p.payment_method_id.map(|m| m.0),
        p.gateway.as_str(),
        p.amount.minor,
        p.amount.currency.code(),
        p.status.as_str(),
        &p.idempotency_key,
        p.gateway_reference.as_deref(),
        p.decline_code.as_deref(),
        p.decline_message.as_deref(),
        p.created_by.map(|s| s.0),
        to_millis(at)
    )?;
    Ok(PaymentId(id))
}

/// Notes that a look-up at the gateway found nothing for this unsettled row, and answers when the first
/// such look-up was (`at` if this is it): only a second look, minutes later, may settle it as not sent.
pub async fn note_not_found(
    tx: &mut Tx,
    id: PaymentId,
    at: DateTime<Utc>,
) -> Result<DateTime<Utc>> {
    sql!(
        tx,
        execute,
        "UPDATE payments SET not_found_at = COALESCE(not_found_at, $1) WHERE id = $2",
        to_millis(at),
        id.0
    )?;
    let first = sql_scalar!(
        tx,
        Option<i64>,
        fetch_one,
        "SELECT not_found_at FROM payments WHERE id = $1",
        id.0
    )?;
    Ok(first.map_or(at, from_millis))
}

/// Records the money taken for a payment that was settled as failed, when the gateway's answer (late,
/// or found by a look-up) says it succeeded. `duplicate_of` names the payment that had already paid the
/// invoice, when one had. False when the payment was not failed.
pub async fn record_late_success(
    tx: &mut Tx,
    id: PaymentId,
    reference: &str,
    duplicate_of: Option<PaymentId>,
    at: DateTime<Utc>,
) -> Result<bool> {
    let n = sql!(
        tx,
        execute,
        "UPDATE payments SET status = 'SUCCEEDED', gateway_reference = $1, duplicate_of = $2,
             decline_code = NULL, decline_message = NULL, updated_at = $3
         WHERE id = $4 AND status = 'FAILED'",
        reference,
        duplicate_of.map(|d| d.0),
        to_millis(at),
        id.0
    )?;
    Ok(n == 1)
}

/// The invoice's live payment (being charged, waiting for its outcome, or paid), other than `except`.
pub async fn live_payment_of_invoice(
    ex: &mut impl Executor,
    invoice: InvoiceId,
    except: PaymentId,
) -> Result<Option<Payment>> {
    let q = format!(
        "SELECT {PAYMENT_COLUMNS} FROM payments
         WHERE invoice_id = $1 AND id <> $2 AND duplicate_of IS NULL
           AND status IN ('PENDING', 'UNKNOWN', 'SUCCEEDED')"
    );
    sql_as!(ex, PaymentRow, fetch_optional, &q, invoice.0, except.0)?
        .map(TryInto::try_into)
        .transpose()
}

/// Second charges of an invoice not refunded in full yet, beside a first that succeeded (of one
/// patient, or of the clinic), newest first: what billing must look at.
pub async fn charged_twice(
    ex: &mut impl Executor,
    patient: Option<PatientId>,
) -> Result<Vec<Payment>> {
    let columns = PAYMENT_COLUMNS
        .split(',')
        .map(|c| format!("d.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ");
    let q = format!(
        "SELECT {columns} FROM payments d JOIN payments o ON o.id = d.duplicate_of
         WHERE d.status = 'SUCCEEDED' AND o.status = 'SUCCEEDED' AND {}
           AND COALESCE((SELECT SUM(r.amount_minor) FROM refunds r WHERE r.payment_id = d.id
                          AND r.status IN ('PENDING', 'UNKNOWN', 'SUCCEEDED')), 0) < d.amount_minor
         ORDER BY d.updated_at DESC, d.id DESC",
        equals("d.patient_id", 1, patient.is_some())
    );
    sql_as!(ex, PaymentRow, fetch_all, &q, patient.map(|p| p.0))?
        .into_iter()
        .map(TryInto::try_into)
        .collect()
}

/// A gateway's payments created in `[from, to)`, oldest first: the ledger side of reconciliation.
pub async fn ledger_between(
    ex: &mut impl Executor,
    gateway: Gateway,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Payment>> {
    let q = format!(
        "SELECT {PAYMENT_COLUMNS} FROM payments
         WHERE created_at >= $1 AND created_at < $2 AND gateway = $3 ORDER BY created_at, id"
    );
    sql_as!(
        ex,
        PaymentRow,
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

/// The payments with these idempotency keys (any number; asked a few hundred at a time).
pub async fn with_keys(
    ex: &mut impl Executor,
    gateway: Gateway,
    keys: &[String],
) -> Result<Vec<Payment>> {
    let mut found = Vec::new();
    for chunk in keys.chunks(500) {
        let marks: Vec<String> = (2..=chunk.len() + 1).map(|i| format!("${i}")).collect();
        let q = format!(
            "SELECT {PAYMENT_COLUMNS} FROM payments WHERE gateway = $1 AND idempotency_key IN ({})",
            marks.join(", ")
        );
        let rows: Vec<PaymentRow> = match ex.conn() {
            crate::Conn::Sqlite(c) => {
                let mut query = sqlx::query_as::<_, PaymentRow>(&q).bind(gateway.as_str());
                for k in chunk {
                    query = query.bind(k);
                }
                query.fetch_all(c).await?
            }
            crate::Conn::Postgres(c) => {
                let mut query = sqlx::query_as::<_, PaymentRow>(&q).bind(gateway.as_str());
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

/// The late success recorded beside this payment (its `duplicate_of`), if any, oldest first.
pub async fn duplicate_pointing_at(
    ex: &mut impl Executor,
    id: PaymentId,
) -> Result<Option<Payment>> {
    let q = format!(
        "SELECT {PAYMENT_COLUMNS} FROM payments
         WHERE duplicate_of = $1 AND status = 'SUCCEEDED' ORDER BY id LIMIT 1"
    );
    sql_as!(ex, PaymentRow, fetch_optional, &q, id.0)?
        .map(TryInto::try_into)
        .transpose()
}

/// Names (or clears) the payment a late success stands beside.
pub async fn set_duplicate_of(
    tx: &mut Tx,
    id: PaymentId,
    duplicate_of: Option<PaymentId>,
    at: DateTime<Utc>,
) -> Result<()> {
    sql!(
        tx,
        execute,
        "UPDATE payments SET duplicate_of = $1, updated_at = $2 WHERE id = $3",
        duplicate_of.map(|d| d.0),
        to_millis(at),
        id.0
    )?;
    Ok(())
}
