//! Subscriptions: a patient's plan, its amount and interval, the next cycle and the gateway it is
//! locked to. Due cycles are claimed so that two workers never bill the same one.

use chrono::{DateTime, Utc};
use clinicpay_domain::{
    BillingInterval, Gateway, Money, PatientId, SubscriptionId, SubscriptionStatus,
};
use serde::Serialize;

use crate::rows::{corrupt, equals, money_of};
use crate::{from_millis, to_millis, Executor, Result, StoreError, Tx};

#[derive(Debug, Clone)]
pub struct NewSubscription {
    pub patient_id: PatientId,
    pub plan: String,
    pub amount: Money,
    pub interval: BillingInterval,
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
        s.interval.as_str(),
        s.status.as_str(),
        to_millis(s.next_cycle_at),
        s.locked_gateway.map(Gateway::as_str),
        to_millis(at)
    )?;
    Ok(SubscriptionId(id))
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Subscription {
    pub id: SubscriptionId,
    pub patient_id: PatientId,
    pub plan: String,
    pub amount: Money,
    pub interval: BillingInterval,
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
            interval: r.billing_interval.parse().map_err(&c)?,
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

/// Locks a subscription to the gateway that has just charged it: the first success, or the first after
/// it followed the clinic to another gateway. True when the lock changed.
pub async fn lock_subscription_gateway(
    tx: &mut Tx,
    id: SubscriptionId,
    gateway: Gateway,
) -> Result<bool> {
    let n = sql!(
        tx,
        execute,
        "UPDATE subscriptions SET locked_gateway = $1 WHERE id = $2 AND (locked_gateway IS NULL OR locked_gateway <> $1)",
        gateway.as_str(),
        id.0
    )?;
    Ok(n == 1)
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
