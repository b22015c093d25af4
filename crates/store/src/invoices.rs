//! Invoices: what a patient owes, one per visit, cycle or recovery order. Moving an invoice on names the
//! status it moves *from*, so two desks cannot both mark it paid.

use chrono::{DateTime, Utc};
use clinicpay_domain::{InvoiceId, InvoiceStatus, Money, OrderId, PatientId};
use serde::Serialize;

use crate::rows::{corrupt, equals, money_of};
use crate::{from_millis, to_millis, Executor, Result, StoreError, Tx};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Invoice {
    pub id: InvoiceId,
    pub patient_id: PatientId,
    pub order_id: Option<OrderId>,
    pub description: String,
    pub amount: Money,
    pub status: InvoiceStatus,
    pub created_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct InvoiceRow {
    id: i64,
    patient_id: i64,
    order_id: Option<i64>,
    description: String,
    amount_minor: i64,
    currency: String,
    status: String,
    created_at: i64,
    paid_at: Option<i64>,
}

impl TryFrom<InvoiceRow> for Invoice {
    type Error = StoreError;
    fn try_from(r: InvoiceRow) -> Result<Self> {
        Ok(Invoice {
            amount: money_of(r.amount_minor, &r.currency, "invoice", r.id)?,
            status: r.status.parse().map_err(corrupt("invoice", r.id))?,
            id: InvoiceId(r.id),
            patient_id: PatientId(r.patient_id),
            order_id: r.order_id.map(OrderId),
            description: r.description,
            created_at: from_millis(r.created_at),
            paid_at: r.paid_at.map(from_millis),
        })
    }
}

const INVOICE_COLUMNS: &str =
    "id, patient_id, order_id, description, amount_minor, currency, status, created_at, paid_at";

pub async fn invoice(ex: &mut impl Executor, id: InvoiceId) -> Result<Option<Invoice>> {
    let q = format!("SELECT {INVOICE_COLUMNS} FROM invoices WHERE id = $1");
    sql_as!(ex, InvoiceRow, fetch_optional, &q, id.0)?
        .map(TryInto::try_into)
        .transpose()
}

/// Invoices newest first, of one patient or of the clinic.
pub async fn invoices(
    ex: &mut impl Executor,
    patient: Option<PatientId>,
    limit: i64,
) -> Result<Vec<Invoice>> {
    let q = format!(
        "SELECT {INVOICE_COLUMNS} FROM invoices WHERE {}
         ORDER BY created_at DESC, id DESC LIMIT $2",
        equals("patient_id", 1, patient.is_some())
    );
    sql_as!(ex, InvoiceRow, fetch_all, &q, patient.map(|p| p.0), limit)?
        .into_iter()
        .map(TryInto::try_into)
        .collect()
}

/// The open invoice of an order (a cycle or recovery order has exactly one).
pub async fn invoice_of_order(ex: &mut impl Executor, order: OrderId) -> Result<Option<Invoice>> {
    let q = format!(
        "SELECT {INVOICE_COLUMNS} FROM invoices WHERE order_id = $1 ORDER BY id DESC LIMIT 1"
    );
    sql_as!(ex, InvoiceRow, fetch_optional, &q, order.0)?
        .map(TryInto::try_into)
        .transpose()
}

/// Moves an invoice on from the status the caller saw; false when someone else moved it first.
pub async fn set_invoice_status(
    tx: &mut Tx,
    id: InvoiceId,
    from: InvoiceStatus,
    to: InvoiceStatus,
    at: DateTime<Utc>,
) -> Result<bool> {
    let paid_at = (to == InvoiceStatus::Paid).then(|| to_millis(at));
    let n = sql!(
        tx,
        execute,
        "UPDATE invoices SET status = $1, paid_at = COALESCE($2, paid_at) WHERE id = $3 AND status = $4",
        to.as_str(),
        paid_at,
        id.0,
        from.as_str()
    )?;
    Ok(n == 1)
}

pub async fn insert_invoice(
    tx: &mut Tx,
    patient: PatientId,
    order: Option<OrderId>,
    description: &str,
    amount: Money,
    status: InvoiceStatus,
    at: DateTime<Utc>,
) -> Result<InvoiceId> {
    let paid_at = (status == InvoiceStatus::Paid).then(|| to_millis(at));
    let id = sql_scalar!(
        tx,
        i64,
        fetch_one,
        "INSERT INTO invoices (patient_id, order_id, description, amount_minor, currency, status, created_at, paid_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        patient.0,
        order.map(|o| o.0),
        description,
        amount.minor,
        amount.currency.code(),
        status.as_str(),
        to_millis(at),
        paid_at
    )?;
    Ok(InvoiceId(id))
}

/// Names the invoice with the checkout attempt that made it; a second invoice with the same attempt key
/// is refused by the database (`StoreError::Duplicate`).
pub async fn set_attempt_key(tx: &mut Tx, invoice: InvoiceId, key: &str) -> Result<()> {
    sql!(
        tx,
        execute,
        "UPDATE invoices SET attempt_key = $1 WHERE id = $2",
        key,
        invoice.0
    )?;
    Ok(())
}

/// The invoice a checkout attempt made, if it made one.
pub async fn invoice_of_attempt(ex: &mut impl Executor, key: &str) -> Result<Option<Invoice>> {
    let q = format!("SELECT {INVOICE_COLUMNS} FROM invoices WHERE attempt_key = $1");
    sql_as!(ex, InvoiceRow, fetch_optional, &q, key)?
        .map(TryInto::try_into)
        .transpose()
}
