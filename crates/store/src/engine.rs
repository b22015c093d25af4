//! The billing engine's lease and record (migration 0020): one row, taken by one process at a time.
//! Taking, renewing and releasing are single statements that match only when the lease is free, ours,
//! or lapsed, so two desks racing for it cannot both win on either database.

use chrono::{DateTime, Duration, Utc};

use crate::{from_millis, to_millis, Executor, Result};

/// Who may hold the engine: a desk app or IT's dedicated `clinicpay worker` service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HolderKind {
    Desk,
    Service,
}

impl HolderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            HolderKind::Desk => "desk",
            HolderKind::Service => "service",
        }
    }
}

/// The process asking for the lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// Unique per process (the services' worker id).
    pub id: String,
    /// What people see: the desk's name, or the service's computer.
    pub name: String,
    pub kind: HolderKind,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct EngineRow {
    pub holder: Option<String>,
    pub holder_name: Option<String>,
    pub holder_kind: Option<String>,
    pub lease_expires_at: Option<i64>,
    pub started_at: Option<i64>,
    pub last_pass_at: Option<i64>,
    pub last_pass_by: Option<String>,
    pub last_pass_ms: Option<i64>,
    pub last_pass_summary: Option<String>,
    pub last_error: Option<String>,
    pub last_error_at: Option<i64>,
}

impl EngineRow {
    /// The holder, while its lease has not lapsed at `now`.
    pub fn holder_at(&self, now: DateTime<Utc>) -> Option<(&str, &str, &str)> {
        let live = self.lease_expires_at.is_some_and(|t| t >= to_millis(now));
        match (&self.holder, &self.holder_name, &self.holder_kind) {
            (Some(id), Some(name), Some(kind)) if live => Some((id, name, kind)),
            _ => None,
        }
    }
    pub fn last_pass(&self) -> Option<DateTime<Utc>> {
        self.last_pass_at.map(from_millis)
    }
    pub fn started(&self) -> Option<DateTime<Utc>> {
        self.started_at.map(from_millis)
    }
    pub fn last_error_time(&self) -> Option<DateTime<Utc>> {
        self.last_error_at.map(from_millis)
    }
}

/// Takes the lease for `holder` until `now + ttl`, or renews it: true when `holder` now holds it. It
/// is refused while another holder's lease runs.
pub async fn claim(
    ex: &mut impl Executor,
    holder: &Holder,
    now: DateTime<Utc>,
    ttl: Duration,
) -> Result<bool> {
    let n = sql!(
        ex,
        execute,
        "INSERT INTO billing_engine (id, holder, holder_name, holder_kind, lease_expires_at, started_at)
         VALUES (1, $1, $2, $3, $4, $5)
         ON CONFLICT (id) DO UPDATE SET holder = $1, holder_name = $2, holder_kind = $3, lease_expires_at = $4,
                started_at = CASE WHEN billing_engine.holder = $1 THEN billing_engine.started_at ELSE $5 END
          WHERE billing_engine.holder IS NULL OR billing_engine.holder = $1
             OR billing_engine.lease_expires_at IS NULL OR billing_engine.lease_expires_at < $5",
        &holder.id,
        &holder.name,
        holder.kind.as_str(),
        to_millis(now + ttl),
        to_millis(now)
    )?;
    Ok(n == 1)
}

/// Gives the lease up (the desk is closing), so another takes it at its next try.
pub async fn release(ex: &mut impl Executor, holder_id: &str) -> Result<bool> {
    let n = sql!(
        ex,
        execute,
        "UPDATE billing_engine SET holder = NULL, holder_name = NULL, holder_kind = NULL, lease_expires_at = NULL
          WHERE id = 1 AND holder = $1",
        holder_id
    )?;
    Ok(n == 1)
}

/// What a pass did (`summary`, a sentence), by whom and how long it took.
pub async fn record_pass(
    ex: &mut impl Executor,
    by: &str,
    at: DateTime<Utc>,
    took_ms: i64,
    summary: &str,
) -> Result<()> {
    sql!(
        ex,
        execute,
        "INSERT INTO billing_engine (id, last_pass_at, last_pass_by, last_pass_ms, last_pass_summary)
         VALUES (1, $1, $2, $3, $4)
         ON CONFLICT (id) DO UPDATE SET last_pass_at = $1, last_pass_by = $2, last_pass_ms = $3,
                last_pass_summary = $4",
        to_millis(at),
        by,
        took_ms,
        summary
    )?;
    Ok(())
}

/// A pass that failed, in the words people will read.
pub async fn record_error(ex: &mut impl Executor, at: DateTime<Utc>, message: &str) -> Result<()> {
    sql!(
        ex,
        execute,
        "INSERT INTO billing_engine (id, last_error, last_error_at) VALUES (1, $1, $2)
         ON CONFLICT (id) DO UPDATE SET last_error = $1, last_error_at = $2",
        message,
        to_millis(at)
    )?;
    Ok(())
}

/// The engine's row; the empty record where no engine ever ran.
pub async fn load(ex: &mut impl Executor) -> Result<EngineRow> {
    Ok(sql_as!(
        ex,
        EngineRow,
        fetch_optional,
        "SELECT holder, holder_name, holder_kind, lease_expires_at, started_at, last_pass_at, last_pass_by,
                last_pass_ms, last_pass_summary, last_error, last_error_at
           FROM billing_engine WHERE id = 1"
    )?
    .unwrap_or_default())
}

/// The work the engine has ahead: what is due now, and when the next of each kind falls due.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DueWork {
    pub cycles_due: i64,
    pub next_cycle_at: Option<DateTime<Utc>>,
    pub retries_due: i64,
    pub next_retry_at: Option<DateTime<Utc>>,
    /// Payments whose outcome the janitor has yet to settle.
    pub unsettled_payments: i64,
}

pub async fn due_work(ex: &mut impl Executor, now: DateTime<Utc>) -> Result<DueWork> {
    let now_ms = to_millis(now);
    let (cycles_due, next_cycle): (i64, Option<i64>) = sql_as!(
        ex,
        (i64, Option<i64>),
        fetch_one,
        "SELECT COUNT(*) FILTER (WHERE next_cycle_at <= $1), MIN(next_cycle_at)
           FROM subscriptions WHERE status = 'ACTIVE'",
        now_ms
    )?;
    let (retries_due, next_retry): (i64, Option<i64>) = sql_as!(
        ex,
        (i64, Option<i64>),
        fetch_one,
        "SELECT COUNT(*) FILTER (WHERE next_retry_at <= $1), MIN(next_retry_at)
           FROM orders WHERE recovery_status = 'RETRY_SCHEDULED'",
        now_ms
    )?;
    let unsettled_payments: i64 = sql_scalar!(
        ex,
        i64,
        fetch_one,
        "SELECT COUNT(*) FROM payments WHERE status IN ('PENDING', 'UNKNOWN')"
    )?;
    Ok(DueWork {
        cycles_due,
        next_cycle_at: next_cycle.map(from_millis),
        retries_due,
        next_retry_at: next_retry.map(from_millis),
        unsettled_payments,
    })
}
