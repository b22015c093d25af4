//! The money records as the billing engine reads and settles them: invoices, orders, payments and
//! refunds. Every settling update names the status it moves *from*, so two workers (or a worker and the
//! janitor) can never both settle the same payment: the second update changes no row and says so.

use chrono::{DateTime, Utc};
use clinicpay_domain::{
    Gateway, InvoiceId, InvoiceStatus, Money, OrderId, OrderKind, OrderStatus, PatientId,
    PaymentId, PaymentMethodId, PaymentStatus, RecoveryStatus, StaffId, SubscriptionId,
};
use serde::Serialize;

use crate::billing::money_of;
use crate::{from_millis, to_millis, Executor, Result, StoreError, Tx};

fn corrupt(what: &'static str, id: i64) -> impl Fn(clinicpay_domain::DomainError) -> StoreError {
    move |e| StoreError::Corrupt(format!("{what} {id}: {e}"))
}

// ---------------------------------------------------------------- invoices

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

/// `column = $n` when the caller filters by it, else a condition true for every row that still takes
/// `$n` (bound to NULL), so the placeholders stay the same. Written out either way because neither
/// planner uses an index for `($n IS NULL OR column = $n)`: a patient's lists were read by scanning
/// the clinic's millions of invoices and payments.
fn equals(column: &str, n: u8, filtered: bool) -> String {
    if filtered {
        format!("{column} = ${n}")
    } else {
        format!("${n} IS NULL")
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

// ---------------------------------------------------------------- orders

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Order {
    pub id: OrderId,
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
    #[cfg_attr(feature = "specta", specta(type = i32))]
    pub attempts: i64,
    pub first_failed_at: Option<DateTime<Utc>>,
    pub last_message: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct OrderRow {
    id: i64,
    patient_id: i64,
    subscription_id: Option<i64>,
    kind: String,
    status: String,
    description: String,
    amount_minor: i64,
    currency: String,
    cycle_start_at: Option<i64>,
    locked_gateway: Option<String>,
    recovery_status: Option<String>,
    next_retry_at: Option<i64>,
    attempts: i64,
    first_failed_at: Option<i64>,
    last_message: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<OrderRow> for Order {
    type Error = StoreError;
    fn try_from(r: OrderRow) -> Result<Self> {
        let c = corrupt("order", r.id);
        Ok(Order {
            amount: money_of(r.amount_minor, &r.currency, "order", r.id)?,
            kind: r.kind.parse().map_err(&c)?,
            status: r.status.parse().map_err(&c)?,
            locked_gateway: r
                .locked_gateway
                .map(|g| g.parse())
                .transpose()
                .map_err(&c)?,
            recovery_status: r
                .recovery_status
                .map(|s| s.parse())
                .transpose()
                .map_err(&c)?,
            id: OrderId(r.id),
            patient_id: PatientId(r.patient_id),
            subscription_id: r.subscription_id.map(SubscriptionId),
            description: r.description,
            cycle_start_at: r.cycle_start_at.map(from_millis),
            next_retry_at: r.next_retry_at.map(from_millis),
            attempts: r.attempts,
            first_failed_at: r.first_failed_at.map(from_millis),
            last_message: r.last_message,
            created_at: from_millis(r.created_at),
            updated_at: from_millis(r.updated_at),
        })
    }
}

const ORDER_COLUMNS: &str = "id, patient_id, subscription_id, kind, status, description, amount_minor,
    currency, cycle_start_at, locked_gateway, recovery_status, next_retry_at, attempts, first_failed_at,
    last_message, created_at, updated_at";

pub async fn order(ex: &mut impl Executor, id: OrderId) -> Result<Option<Order>> {
    let q = format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1");
    sql_as!(ex, OrderRow, fetch_optional, &q, id.0)?
        .map(TryInto::try_into)
        .transpose()
}

/// Orders newest first, of one patient or of the clinic, optionally only those in one recovery status.
pub async fn orders(
    ex: &mut impl Executor,
    patient: Option<PatientId>,
    recovery: Option<RecoveryStatus>,
    limit: i64,
) -> Result<Vec<Order>> {
    let q = format!(
        "SELECT {ORDER_COLUMNS} FROM orders
         WHERE {} AND {}
         ORDER BY created_at DESC, id DESC LIMIT $3",
        equals("patient_id", 1, patient.is_some()),
        equals("recovery_status", 2, recovery.is_some())
    );
    sql_as!(
        ex,
        OrderRow,
        fetch_all,
        &q,
        patient.map(|p| p.0),
        recovery.map(RecoveryStatus::as_str),
        limit
    )?
    .into_iter()
    .map(TryInto::try_into)
    .collect()
}

/// Moves an order on from the status the caller saw; false when someone else moved it first.
pub async fn set_order_status(
    tx: &mut Tx,
    id: OrderId,
    from: OrderStatus,
    to: OrderStatus,
    at: DateTime<Utc>,
) -> Result<bool> {
    let n = sql!(
        tx,
        execute,
        "UPDATE orders SET status = $1, updated_at = $2 WHERE id = $3 AND status = $4",
        to.as_str(),
        to_millis(at),
        id.0,
        from.as_str()
    )?;
    Ok(n == 1)
}

/// Locks the gateway an order (and its subscription) is charged through: the first successful charge.
pub async fn lock_gateway(tx: &mut Tx, order: OrderId, gateway: Gateway) -> Result<()> {
    sql!(
        tx,
        execute,
        "UPDATE orders SET locked_gateway = $1 WHERE id = $2 AND locked_gateway IS NULL",
        gateway.as_str(),
        order.0
    )?;
    Ok(())
}

/// Where an order's recovery stands after a charge attempt (or none).
#[derive(Debug, Clone)]
pub struct RecoveryUpdate {
    pub recovery_status: Option<RecoveryStatus>,
    pub next_retry_at: Option<DateTime<Utc>>,
    pub attempts: i64,
    pub first_failed_at: Option<DateTime<Utc>>,
    pub last_message: Option<String>,
}

pub async fn set_recovery(
    tx: &mut Tx,
    order: OrderId,
    u: &RecoveryUpdate,
    at: DateTime<Utc>,
) -> Result<()> {
    sql!(
        tx,
        execute,
        "UPDATE orders SET recovery_status = $1, next_retry_at = $2, attempts = $3, first_failed_at = $4,
             last_message = $5, updated_at = $6
         WHERE id = $7",
        u.recovery_status.map(RecoveryStatus::as_str),
        u.next_retry_at.map(to_millis),
        u.attempts,
        u.first_failed_at.map(to_millis),
        u.last_message.as_deref(),
        to_millis(at),
        order.0
    )?;
    Ok(())
}

// ---------------------------------------------------------------- payments

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
        })
    }
}

const PAYMENT_COLUMNS: &str = "id, patient_id, invoice_id, order_id, payment_method_id, gateway,
    amount_minor, currency, status, idempotency_key, gateway_reference, decline_code, decline_message,
    created_by, created_at, updated_at";

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
        .map(|s| format!("%{}%", s.to_lowercase().replace(['%', '_'], "")));
    let columns = PAYMENT_COLUMNS
        .split(',')
        .map(|c| format!("pay.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ");
    let q = format!(
        "SELECT {columns} FROM payments pay JOIN patients p ON p.id = pay.patient_id
          WHERE pay.status = 'FAILED'
            AND ($1 IS NULL OR LOWER(p.name) LIKE $1 OR LOWER(p.email) LIKE $1
                 OR LOWER(COALESCE(pay.decline_code, '')) LIKE $1 OR LOWER(COALESCE(pay.decline_message, '')) LIKE $1)
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

/// Payments whose outcome is not settled and that were last touched before `before`: the janitor's work.
pub async fn unsettled_payments(
    ex: &mut impl Executor,
    before: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Payment>> {
    let q = format!(
        "SELECT {PAYMENT_COLUMNS} FROM payments
         WHERE status IN ('PENDING', 'UNKNOWN') AND updated_at < $1
         ORDER BY id LIMIT $2"
    );
    sql_as!(ex, PaymentRow, fetch_all, &q, to_millis(before), limit)?
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

// ---------------------------------------------------------------- refunds

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

// ---------------------------------------------------------------- subscriptions

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Subscription {
    pub id: SubscriptionId,
    pub patient_id: PatientId,
    pub plan: String,
    pub amount: Money,
    /// "month" or "week".
    pub interval: String,
    pub status: clinicpay_domain::SubscriptionStatus,
    pub next_cycle_at: DateTime<Utc>,
    pub locked_gateway: Option<Gateway>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct SubscriptionRow {
    id: i64,
    patient_id: i64,
    plan: String,
    amount_minor: i64,
    currency: String,
    billing_interval: String,
    status: String,
    next_cycle_at: i64,
    locked_gateway: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<SubscriptionRow> for Subscription {
    type Error = StoreError;
    fn try_from(r: SubscriptionRow) -> Result<Self> {
        let c = corrupt("subscription", r.id);
        Ok(Subscription {
            amount: money_of(r.amount_minor, &r.currency, "subscription", r.id)?,
            status: r.status.parse().map_err(&c)?,
            locked_gateway: r
                .locked_gateway
                .map(|g| g.parse())
                .transpose()
                .map_err(&c)?,
            id: SubscriptionId(r.id),
            patient_id: PatientId(r.patient_id),
            plan: r.plan,
            interval: r.billing_interval,
            next_cycle_at: from_millis(r.next_cycle_at),
            created_at: from_millis(r.created_at),
            updated_at: from_millis(r.updated_at),
        })
    }
}

const SUBSCRIPTION_COLUMNS: &str = "id, patient_id, plan, amount_minor, currency, billing_interval,
    status, next_cycle_at, locked_gateway, created_at, updated_at";

pub async fn subscription(
    ex: &mut impl Executor,
    id: SubscriptionId,
) -> Result<Option<Subscription>> {
    let q = format!("SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE id = $1");
    sql_as!(ex, SubscriptionRow, fetch_optional, &q, id.0)?
        .map(TryInto::try_into)
        .transpose()
}

pub async fn subscriptions(
    ex: &mut impl Executor,
    patient: Option<PatientId>,
    limit: i64,
) -> Result<Vec<Subscription>> {
    let q = format!(
        "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE {}
         ORDER BY id DESC LIMIT $2",
        equals("patient_id", 1, patient.is_some())
    );
    sql_as!(
        ex,
        SubscriptionRow,
        fetch_all,
        &q,
        patient.map(|p| p.0),
        limit
    )?
    .into_iter()
    .map(TryInto::try_into)
    .collect()
}

/// Active subscriptions whose next cycle is due, claimed for this transaction: on PostgreSQL another
/// worker skips the rows this one holds (`FOR UPDATE SKIP LOCKED`); SQLite has a single writer.
pub async fn claim_due_subscriptions(
    tx: &mut Tx,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Subscription>> {
    let base = format!(
        "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions
         WHERE status = 'ACTIVE' AND next_cycle_at <= $1
           -- the next cycle waits until the previous one is settled, so cycles never pile up unpaid
           AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.subscription_id = subscriptions.id
                           AND o.kind = 'SUBSCRIPTION_CYCLE' AND o.status IN ('PENDING', 'AWAITING_PAYMENT'))
         ORDER BY next_cycle_at, id LIMIT $2"
    );
    let rows = match tx {
        Tx::Postgres(t) => {
            sqlx::query_as::<_, SubscriptionRow>(&format!("{base} FOR UPDATE SKIP LOCKED"))
                .bind(to_millis(now))
                .bind(limit)
                .fetch_all(&mut **t)
                .await?
        }
        Tx::Sqlite(t) => {
            sqlx::query_as::<_, SubscriptionRow>(&base)
                .bind(to_millis(now))
                .bind(limit)
                .fetch_all(&mut **t)
                .await?
        }
    };
    rows.into_iter().map(TryInto::try_into).collect()
}

pub async fn set_next_cycle(
    tx: &mut Tx,
    id: SubscriptionId,
    next: DateTime<Utc>,
    at: DateTime<Utc>,
) -> Result<()> {
    sql!(
        tx,
        execute,
        "UPDATE subscriptions SET next_cycle_at = $1, updated_at = $2 WHERE id = $3",
        to_millis(next),
        to_millis(at),
        id.0
    )?;
    Ok(())
}

pub async fn set_subscription_status(
    tx: &mut Tx,
    id: SubscriptionId,
    from: clinicpay_domain::SubscriptionStatus,
    to: clinicpay_domain::SubscriptionStatus,
    at: DateTime<Utc>,
) -> Result<bool> {
    let n = sql!(
        tx,
        execute,
        "UPDATE subscriptions SET status = $1, updated_at = $2 WHERE id = $3 AND status = $4",
        to.as_str(),
        to_millis(at),
        id.0,
        from.as_str()
    )?;
    Ok(n == 1)
}

pub async fn lock_subscription_gateway(
    tx: &mut Tx,
    id: SubscriptionId,
    gateway: Gateway,
) -> Result<()> {
    sql!(
        tx,
        execute,
        "UPDATE subscriptions SET locked_gateway = $1 WHERE id = $2 AND locked_gateway IS NULL",
        gateway.as_str(),
        id.0
    )?;
    Ok(())
}

pub async fn set_plan(
    tx: &mut Tx,
    id: SubscriptionId,
    plan: &str,
    amount: Money,
    at: DateTime<Utc>,
) -> Result<()> {
    sql!(
        tx,
        execute,
        "UPDATE subscriptions SET plan = $1, amount_minor = $2, updated_at = $3 WHERE id = $4",
        plan,
        amount.minor,
        to_millis(at),
        id.0
    )?;
    Ok(())
}

/// Recovery orders whose scheduled retry is due.
pub async fn due_retries(
    ex: &mut impl Executor,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Order>> {
    let q = format!(
        "SELECT {ORDER_COLUMNS} FROM orders
         WHERE recovery_status = 'RETRY_SCHEDULED' AND next_retry_at <= $1 ORDER BY next_retry_at, id LIMIT $2"
    );
    sql_as!(ex, OrderRow, fetch_all, &q, to_millis(now), limit)?
        .into_iter()
        .map(TryInto::try_into)
        .collect()
}

/// Takes a due retry for this worker: only one worker's update matches the time it saw.
pub async fn claim_retry(
    tx: &mut Tx,
    order: OrderId,
    seen: DateTime<Utc>,
    at: DateTime<Utc>,
) -> Result<bool> {
    let n = sql!(
        tx,
        execute,
        "UPDATE orders SET next_retry_at = NULL, updated_at = $1
         WHERE id = $2 AND recovery_status = 'RETRY_SCHEDULED' AND next_retry_at = $3",
        to_millis(at),
        order.0,
        to_millis(seen)
    )?;
    Ok(n == 1)
}

/// Open recovery orders (needing a card or a retry), of one patient or all.
pub async fn open_recovery_orders(
    ex: &mut impl Executor,
    patient: Option<PatientId>,
    limit: i64,
) -> Result<Vec<Order>> {
    let q = format!(
        "SELECT {ORDER_COLUMNS} FROM orders
         WHERE recovery_status IN ('NEEDS_PAYMENT_METHOD', 'RETRY_SCHEDULED') AND {}
         ORDER BY id LIMIT $2",
        equals("patient_id", 1, patient.is_some())
    );
    sql_as!(ex, OrderRow, fetch_all, &q, patient.map(|p| p.0), limit)?
        .into_iter()
        .map(TryInto::try_into)
        .collect()
}

/// Cycle and payoff orders that were created but never charged (a worker stopped between creating a
/// cycle and charging it, or every attempt certainly never reached the gateway), and orders that waited
/// for another order of their subscription to finish its recovery: the next pass charges them.
pub async fn uncharged_orders(
    ex: &mut impl Executor,
    created_before: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Order>> {
    let q = format!(
        "SELECT {ORDER_COLUMNS} FROM orders o
         WHERE o.kind IN ('SUBSCRIPTION_CYCLE', 'SWITCH_PAYOFF') AND o.status IN ('PENDING', 'AWAITING_PAYMENT')
           AND o.recovery_status IS NULL AND o.created_at < $1
           AND NOT EXISTS (SELECT 1 FROM payments p WHERE p.order_id = o.id
                           AND (p.status IN ('PENDING', 'UNKNOWN', 'SUCCEEDED')
                                OR (p.status = 'FAILED' AND o.status = 'PENDING' AND p.decline_code <> 'not_sent')))
           AND NOT EXISTS (SELECT 1 FROM orders r WHERE r.subscription_id = o.subscription_id AND r.id <> o.id
                           AND r.recovery_status IN ('NEEDS_PAYMENT_METHOD', 'RETRY_SCHEDULED'))
         ORDER BY o.id LIMIT $2"
    );
    sql_as!(
        ex,
        OrderRow,
        fetch_all,
        &q,
        to_millis(created_before),
        limit
    )?
    .into_iter()
    .map(TryInto::try_into)
    .collect()
}

/// Subscriptions still paused or suspended although nothing is being recovered and their latest cycle
/// is paid: document 003's "invoice is paid but subscription remains paused" escalation.
pub async fn paused_after_payment(ex: &mut impl Executor) -> Result<Vec<SubscriptionId>> {
    let ids: Vec<i64> = sql_scalar!(
        ex,
        i64,
        fetch_all,
        "SELECT s.id FROM subscriptions s
         WHERE s.status IN ('PAUSED', 'SUSPENDED')
           AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.subscription_id = s.id
                           AND o.recovery_status IN ('NEEDS_PAYMENT_METHOD', 'RETRY_SCHEDULED'))
           AND (SELECT o.status FROM orders o WHERE o.subscription_id = s.id AND o.kind = 'SUBSCRIPTION_CYCLE'
                ORDER BY o.cycle_start_at DESC, o.id DESC LIMIT 1) = 'PAID'
         ORDER BY s.id"
    )?;
    Ok(ids.into_iter().map(SubscriptionId).collect())
}

/// Refunds whose outcome is not settled and that were last touched before `before`: the janitor's work.
pub async fn unsettled_refunds(
    ex: &mut impl Executor,
    before: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Refund>> {
    let q = format!(
        "SELECT {REFUND_COLUMNS} FROM refunds
         WHERE status IN ('PENDING', 'UNKNOWN') AND updated_at < $1 ORDER BY id LIMIT $2"
    );
    sql_as!(ex, RefundRow, fetch_all, &q, to_millis(before), limit)?
        .into_iter()
        .map(TryInto::try_into)
        .collect()
}
