//! Subscriptions, orders, invoices and payments: the records money moves through. The billing engine
//! builds on these; the invariants that keep money safe are held here by the database itself:
//! one succeeded payment per invoice, unique idempotency keys, one cycle order per subscription cycle,
//! one open recovery order per subscription, one reminder per card and threshold.

use chrono::{DateTime, Utc};
use clinicpay_domain::{
    Currency, Gateway, InvoiceId, InvoiceStatus, Money, OrderId, OrderKind, OrderStatus, PatientId,
    PaymentId, PaymentMethodId, PaymentStatus, RecoveryStatus, StaffId, SubscriptionId,
    SubscriptionStatus,
};
use serde::Serialize;

use crate::{to_millis, Executor, Result, StoreError, Tx};

#[derive(Debug, Clone)]
pub struct NewSubscription {
    pub patient_id: PatientId,
    pub plan: String,
    pub amount: Money,
    /// "month" or "week".
    pub interval: String,
    pub status: SubscriptionStatus,
    pub next_cycle_at: DateTime<Utc>,
    pub locked_gateway: Option<Gateway>,
}

pub async fn insert_subscription(
    tx: &mut Tx,
    s: &NewSubscription,
    at: DateTime<Utc>,
) -> Result<SubscriptionId> {
    let id = sql_scalar!(
        tx,
        i64,
        fetch_one,
        "INSERT INTO subscriptions (patient_id, plan, amount_minor, currency, billing_interval, status,
             next_cycle_at, locked_gateway, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING id",
        s.patient_id.0,
        &s.plan,
        s.amount.minor,
        s.amount.currency.code(),
        &s.interval,
        s.status.as_str(),
        to_millis(s.next_cycle_at),
        s.locked_gateway.map(Gateway::as_str),
        to_millis(at)
    )?;
    Ok(SubscriptionId(id))
}

#[derive(Debug, Clone)]
pub struct NewOrder {
    pub patient_id: PatientId,
    pub subscription_id: Option<SubscriptionId>,
    pub kind: OrderKind,
    pub status: OrderStatus,
    pub description: String,
    pub amount: Money,
    pub cycle_start_at: Option<DateTime<Utc>>,
    pub locked_gateway: Option<Gateway>,
    pub recovery_status: Option<RecoveryStatus>,
    pub next_retry_at: Option<DateTime<Utc>>,
    pub attempts: i64,
    pub first_failed_at: Option<DateTime<Utc>>,
    pub last_message: Option<String>,
}

pub async fn insert_order(tx: &mut Tx, o: &NewOrder, at: DateTime<Utc>) -> Result<OrderId> {
    let id = sql_scalar!(
        tx,
        i64,
        fetch_one,
        "INSERT INTO orders (patient_id, subscription_id, kind, status, description, amount_minor, currency,
             cycle_start_at, locked_gateway, recovery_status, next_retry_at, attempts, first_failed_at,
             last_message, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15) RETURNING id",
        o.patient_id.0,
        o.subscription_id.map(|s| s.0),
        o.kind.as_str(),
        o.status.as_str(),
        &o.description,
        o.amount.minor,
        o.amount.currency.code(),
        o.cycle_start_at.map(to_millis),
        o.locked_gateway.map(Gateway::as_str),
        o.recovery_status.map(RecoveryStatus::as_str),
        o.next_retry_at.map(to_millis),
        o.attempts,
        o.first_failed_at.map(to_millis),
        o.last_message.as_deref(),
        to_millis(at)
    )?;
    Ok(OrderId(id))
}

/// Moves an order's recovery on. The caller checked the transition with the domain rules.
pub async fn set_recovery_status(
    tx: &mut Tx,
    order: OrderId,
    status: RecoveryStatus,
    at: DateTime<Utc>,
) -> Result<()> {
    sql!(
        tx,
        execute,
        "UPDATE orders SET recovery_status = $1, updated_at = $2 WHERE id = $3",
        status.as_str(),
        to_millis(at),
        order.0
    )?;
    Ok(())
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

/// Settles a payment's outcome, only from the status the caller saw (so two workers cannot both settle it).
pub async fn set_payment_status(
    tx: &mut Tx,
    payment: PaymentId,
    from: PaymentStatus,
    to: PaymentStatus,
    at: DateTime<Utc>,
) -> Result<bool> {
    let done = sql!(
        tx,
        execute,
        "UPDATE payments SET status = $1, updated_at = $2 WHERE id = $3 AND status = $4",
        to.as_str(),
        to_millis(at),
        payment.0,
        from.as_str()
    )?;
    Ok(done == 1)
}

/// A payment as lists and reports show it.
#[derive(Debug, Clone, Serialize)]
pub struct PaymentSummary {
    pub id: i64,
    pub patient_id: i64,
    pub invoice_id: Option<i64>,
    pub gateway: Gateway,
    pub amount: Money,
    pub status: PaymentStatus,
    pub decline_code: Option<String>,
    pub decline_message: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct PaymentSummaryRow {
    id: i64,
    patient_id: i64,
    invoice_id: Option<i64>,
    gateway: String,
    amount_minor: i64,
    currency: String,
    status: String,
    decline_code: Option<String>,
    decline_message: Option<String>,
    created_at: i64,
}

fn corrupt(what: &str, id: i64) -> impl Fn(clinicpay_domain::DomainError) -> StoreError + '_ {
    move |e| StoreError::Corrupt(format!("{what} {id}: {e}"))
}

pub(crate) fn money_of(minor: i64, currency: &str, what: &str, id: i64) -> Result<Money> {
    let c: Currency = currency.parse().map_err(corrupt(what, id))?;
    Ok(Money::from_minor(minor, c))
}

impl TryFrom<PaymentSummaryRow> for PaymentSummary {
    type Error = StoreError;
    fn try_from(r: PaymentSummaryRow) -> Result<Self> {
        Ok(PaymentSummary {
            amount: money_of(r.amount_minor, &r.currency, "payment", r.id)?,
            gateway: r.gateway.parse().map_err(corrupt("payment", r.id))?,
            status: r.status.parse().map_err(corrupt("payment", r.id))?,
            id: r.id,
            patient_id: r.patient_id,
            invoice_id: r.invoice_id,
            decline_code: r.decline_code,
            decline_message: r.decline_message,
            created_at: crate::from_millis(r.created_at),
        })
    }
}

pub async fn payments_for_patient(
    ex: &mut impl Executor,
    patient: PatientId,
) -> Result<Vec<PaymentSummary>> {
    sql_as!(
        ex,
        PaymentSummaryRow,
        fetch_all,
        "SELECT id, patient_id, invoice_id, gateway, amount_minor, currency, status, decline_code,
             decline_message, created_at
         FROM payments WHERE patient_id = $1 ORDER BY created_at DESC, id DESC",
        patient.0
    )?
    .into_iter()
    .map(TryInto::try_into)
    .collect()
}

/// Counts of what a patient owes and how recovery stands, for the front-desk overview.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ClinicCounts {
    pub patients: i64,
    pub active_cards: i64,
    pub open_invoices: i64,
    pub active_subscriptions: i64,
    pub failed_payments: i64,
    pub open_recoveries: i64,
}

pub async fn clinic_counts(ex: &mut impl Executor) -> Result<ClinicCounts> {
    let (patients, active_cards, open_invoices, active_subscriptions, failed_payments, open_recoveries) =
        sql_as!(
            ex,
            (i64, i64, i64, i64, i64, i64),
            fetch_one,
            "SELECT (SELECT COUNT(*) FROM patients),
                    (SELECT COUNT(*) FROM payment_methods WHERE removed_at IS NULL),
                    (SELECT COUNT(*) FROM invoices WHERE status = 'OPEN'),
                    (SELECT COUNT(*) FROM subscriptions WHERE status <> 'CANCELLED'),
                    (SELECT COUNT(*) FROM payments WHERE status = 'FAILED'),
                    (SELECT COUNT(*) FROM orders WHERE recovery_status IN ('NEEDS_PAYMENT_METHOD', 'RETRY_SCHEDULED'))"
        )?;
    Ok(ClinicCounts {
        patients,
        active_cards,
        open_invoices,
        active_subscriptions,
        failed_payments,
        open_recoveries,
    })
}

/// An order whose payment is being recovered, with the patient's name, for worklists.
#[derive(Debug, Clone, Serialize)]
pub struct RecoveryLine {
    pub order_id: i64,
    pub patient_id: i64,
    pub patient_name: String,
    pub recovery_status: RecoveryStatus,
    pub amount: Money,
    pub next_retry_at: Option<DateTime<Utc>>,
    pub last_message: Option<String>,
}

#[derive(sqlx::FromRow)]
struct RecoveryRow {
    order_id: i64,
    patient_id: i64,
    patient_name: String,
    recovery_status: String,
    amount_minor: i64,
    currency: String,
    next_retry_at: Option<i64>,
    last_message: Option<String>,
}

/// Open recovery orders, the ones needing a new card first, oldest failure first.
pub async fn open_recoveries(ex: &mut impl Executor, limit: i64) -> Result<Vec<RecoveryLine>> {
    sql_as!(
        ex,
        RecoveryRow,
        fetch_all,
        "SELECT o.id AS order_id, o.patient_id, p.name AS patient_name, o.recovery_status, o.amount_minor,
             o.currency, o.next_retry_at, o.last_message
         FROM orders o JOIN patients p ON p.id = o.patient_id
         WHERE o.recovery_status IN ('NEEDS_PAYMENT_METHOD', 'RETRY_SCHEDULED')
         ORDER BY CASE o.recovery_status WHEN 'NEEDS_PAYMENT_METHOD' THEN 0 ELSE 1 END, o.first_failed_at, o.id
         LIMIT $1",
        limit
    )?
    .into_iter()
    .map(|r| {
        Ok(RecoveryLine {
            amount: money_of(r.amount_minor, &r.currency, "order", r.order_id)?,
            recovery_status: r.recovery_status.parse().map_err(corrupt("order", r.order_id))?,
            order_id: r.order_id,
            patient_id: r.patient_id,
            patient_name: r.patient_name,
            next_retry_at: r.next_retry_at.map(crate::from_millis),
            last_message: r.last_message,
        })
    })
    .collect()
}

/// An invoice from a patient's past visits, for loading a clinic's history in bulk (the demo clinic at a
/// clinic group's size). Its id is given, so the payments that settled it can be written with it.
#[derive(Debug, Clone)]
pub struct PastInvoice {
    pub id: InvoiceId,
    pub patient_id: PatientId,
    pub description: &'static str,
    pub amount: Money,
    pub status: InvoiceStatus,
    pub created_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
}

/// A finished payment attempt on a [`PastInvoice`].
#[derive(Debug, Clone)]
pub struct PastPayment {
    pub patient_id: PatientId,
    pub invoice_id: InvoiceId,
    pub payment_method_id: PaymentMethodId,
    pub gateway: Gateway,
    pub amount: Money,
    pub status: PaymentStatus,
    pub idempotency_key: String,
    pub gateway_reference: String,
    pub decline_code: Option<&'static str>,
    pub decline_message: Option<&'static str>,
    pub at: DateTime<Utc>,
}

/// The id the next invoice will get, for numbering [`PastInvoice`]s inside this transaction.
pub async fn next_invoice_id(tx: &mut Tx) -> Result<InvoiceId> {
    let id = sql_scalar!(
        tx,
        i64,
        fetch_one,
        "SELECT COALESCE(MAX(id), 0) + 1 FROM invoices"
    )?;
    Ok(InvoiceId(id))
}

/// Writes past invoices and their payments many rows to a statement (a row at a time would take minutes
/// for a clinic group's millions). PostgreSQL's identity then goes on after the highest id given.
pub async fn insert_past_visits(
    tx: &mut Tx,
    invoices: &[PastInvoice],
    payments: &[PastPayment],
) -> Result<()> {
    // Under SQLite's 32,766 bound values a statement, with room to spare.
    const ROWS: usize = 2_000;
    macro_rules! write_all {
        ($db:ty, $c:expr) => {{
            for chunk in invoices.chunks(ROWS) {
                let mut q = sqlx::QueryBuilder::<$db>::new(
                    "INSERT INTO invoices (id, patient_id, description, amount_minor, currency, status, created_at, paid_at) ",
                );
                q.push_values(chunk, |mut b, i| {
                    b.push_bind(i.id.0)
                        .push_bind(i.patient_id.0)
                        .push_bind(i.description)
                        .push_bind(i.amount.minor)
                        .push_bind(i.amount.currency.code())
                        .push_bind(i.status.as_str())
                        .push_bind(to_millis(i.created_at))
                        .push_bind(i.paid_at.map(to_millis));
                });
                q.build().execute(&mut *$c).await?;
            }
            for chunk in payments.chunks(ROWS) {
                let mut q = sqlx::QueryBuilder::<$db>::new(
                    "INSERT INTO payments (patient_id, invoice_id, payment_method_id, gateway, amount_minor, currency,
                         status, idempotency_key, gateway_reference, decline_code, decline_message, created_at, updated_at) ",
                );
                q.push_values(chunk, |mut b, p| {
                    b.push_bind(p.patient_id.0)
                        .push_bind(p.invoice_id.0)
                        .push_bind(p.payment_method_id.0)
                        .push_bind(p.gateway.as_str())
                        .push_bind(p.amount.minor)
                        .push_bind(p.amount.currency.code())
                        .push_bind(p.status.as_str())
                        .push_bind(p.idempotency_key.as_str())
                        .push_bind(p.gateway_reference.as_str())
                        .push_bind(p.decline_code)
                        .push_bind(p.decline_message)
                        .push_bind(to_millis(p.at))
                        .push_bind(to_millis(p.at));
                });
                q.build().execute(&mut *$c).await?;
            }
        }};
    }
    match Executor::conn(tx) {
        crate::Conn::Sqlite(c) => write_all!(sqlx::Sqlite, c),
        crate::Conn::Postgres(c) => {
            write_all!(sqlx::Postgres, c);
            sqlx::query(
                "SELECT setval(pg_get_serial_sequence('invoices', 'id'), MAX(id)) FROM invoices HAVING MAX(id) IS NOT NULL",
            )
            .fetch_all(&mut *c)
            .await?;
        }
    }
    Ok(())
}
