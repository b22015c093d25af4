//! Orders: a subscription cycle, a plan switch's payoff or a checkout, and the recovery of their failed
//! payments (its status, next retry, attempts). One cycle order per subscription cycle and one open
//! recovery order per subscription are held by the database; claiming a retry names the time seen.

use chrono::{DateTime, Utc};
use clinicpay_domain::{
    Gateway, Money, OrderId, OrderKind, OrderStatus, PatientId, RecoveryStatus, SubscriptionId,
};
use serde::Serialize;

use crate::rows::{corrupt, equals, money_of};
use crate::{from_millis, to_millis, Executor, Result, StoreError, Tx};

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

/// Locks an order to the gateway that paid it.
pub async fn lock_gateway(tx: &mut Tx, order: OrderId, gateway: Gateway) -> Result<()> {
    sql!(
        tx,
        execute,
        "UPDATE orders SET locked_gateway = $1 WHERE id = $2",
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

/// Puts a claimed retry that was never sent back on its schedule (`at`): nothing reached the gateway
/// (no key in the keychain, the database away before the payment was recorded). False when it was sent
/// after all, or is no longer waiting.
pub async fn unclaim_retry(tx: &mut Tx, order: OrderId, at: DateTime<Utc>) -> Result<bool> {
    let n = sql!(
        tx,
        execute,
        "UPDATE orders SET next_retry_at = $1
         WHERE id = $2 AND recovery_status = 'RETRY_SCHEDULED' AND next_retry_at IS NULL
           AND NOT EXISTS (SELECT 1 FROM payments p WHERE p.order_id = orders.id
                           AND p.status IN ('PENDING', 'UNKNOWN'))",
        to_millis(at),
        order.0
    )?;
    Ok(n == 1)
}

/// Retries claimed before `before` whose worker stopped before recording a payment (killed, crashed):
/// due again from when they were claimed. Answers how many.
pub async fn return_stranded_retries(tx: &mut Tx, before: DateTime<Utc>) -> Result<u64> {
    Ok(sql!(
        tx,
        execute,
        "UPDATE orders SET next_retry_at = updated_at
         WHERE recovery_status = 'RETRY_SCHEDULED' AND next_retry_at IS NULL AND updated_at < $1
           AND NOT EXISTS (SELECT 1 FROM payments p WHERE p.order_id = orders.id
                           AND p.status IN ('PENDING', 'UNKNOWN'))",
        to_millis(before)
    )?)
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
                                OR (p.status = 'FAILED' AND o.status = 'PENDING'
                                    AND p.decline_code NOT IN ('not_sent', 'duplicate_refused'))))
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
