//! Expiring cards and the emails about them. A reminder row is claimed before the email is sent (the
//! unique indexes make the claim: one per card and threshold, one manual per card and day), so two
//! workers or desks never both send it; a refused send stays as `failed` with its next attempt time.

use chrono::{DateTime, Utc};
use clinicpay_domain::{PatientId, PaymentMethodId};
use serde::Serialize;

use crate::{from_millis, to_millis, Executor, Result, Tx};

/// A month as a (year, month) pair, compared as such.
pub type Month = (i32, u32);

/// One saved card expiring (or expired), with what the dashboard needs beside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct ExpiringRow {
    pub card_id: i64,
    pub patient_id: i64,
    pub gateway: String,
    pub brand: String,
    pub last4: String,
    pub exp_month: i64,
    pub exp_year: i64,
    pub is_default: bool,
    pub patient_name: String,
    pub patient_email: String,
    pub patient_type: String,
    /// Another saved card that is still valid and lasts longer than this one.
    pub has_other_valid: bool,
    /// For a default card, the patient's plans (not cancelled) that are billed to it, oldest first,
    /// joined by U+001F.
    pub plans: Option<String>,
    /// When ClinicPay saw the card network renew it (milliseconds), if it did.
    pub renewed_at: Option<i64>,
}

/// What joins the plans in [`ExpiringRow::plans`].
pub const PLAN_SEPARATOR: char = '\u{1f}';

/// Where a page of expiring cards goes on from: the last card shown and its expiry month as
/// `year * 12 + month` (the order the dashboard's indexes hold).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpiringAfter {
    pub month_key: i64,
    pub card_id: i64,
}

/// Cards whose expiry month is within `[from, to]`, soonest month first, then in the order they were saved,
/// from just after `after` when given. `still_valid_from` is this month:
/// another card counts as valid from it on.
#[allow(clippy::too_many_arguments)]
pub async fn expiring(
    ex: &mut impl Executor,
    from: Month,
    to: Month,
    still_valid_from: Month,
    patient_type: Option<&str>,
    service: Option<&str>,
    after: Option<ExpiringAfter>,
    limit: i64,
) -> Result<Vec<ExpiringRow>> {
    // Months as year * 12 + month, as the indexes hold them: the cards come off an index already in
    // order (soonest month, then oldest card), so the limit stops the scan. Each filter has its own
    // index in that order (migration 0028): one patient type's cards by the type each card carries, one
    // service's cards through its plans, which carry the patient's default card and its month.
    let of_type = if patient_type.is_some() {
        "pm.patient_type = $7"
    } else {
        "$7 IS NULL"
    };
    // The next page starts off the same index just past the last card shown: the month as a range the
    // index can seek to, and within that month the cards after it (those skipped were shown already).
    let after_clause = |key: &str, id: &str| match after {
        Some(_) => format!("{key} >= $10 AND ({key} > $10 OR {id} > $11)"),
        None => "$10 IS NULL AND $11 IS NULL".to_owned(),
    };
    let plans = match ex.conn() {
        crate::Conn::Sqlite(_) => {
            "(SELECT group_concat(plan, char(31)) FROM (SELECT s.plan FROM subscriptions s
               WHERE s.patient_id = pm.patient_id AND s.status <> 'CANCELLED' ORDER BY s.id))"
        }
        crate::Conn::Postgres(_) => {
            "(SELECT string_agg(s.plan, chr(31) ORDER BY s.id) FROM subscriptions s
               WHERE s.patient_id = pm.patient_id AND s.status <> 'CANCELLED')"
        }
    };
    let columns = format!(
        "pm.id AS card_id, pm.patient_id, pm.gateway, pm.brand, pm.last4, pm.exp_month, pm.exp_year,
         pm.is_default, p.name AS patient_name, p.email AS patient_email, p.patient_type,
         EXISTS (SELECT 1 FROM payment_methods o
                  WHERE o.patient_id = pm.patient_id AND o.id <> pm.id AND o.removed_at IS NULL
                    AND o.exp_year * 12 + o.exp_month > pm.exp_year * 12 + pm.exp_month
                    AND o.exp_year * 12 + o.exp_month >= $5 * 12 + $6) AS has_other_valid,
         CASE WHEN pm.is_default THEN {plans} END AS plans, pm.renewed_at"
    );
    let select = if service.is_some() {
        let after = after_clause("sv.default_card_expiry", "sv.default_card_id");
        // The service's plans in their default cards' order; a patient with the plan twice is listed
        // once (by the first of them).
        format!(
            "SELECT {columns}
               FROM subscriptions sv
               JOIN payment_methods pm ON pm.id = sv.default_card_id
               JOIN patients p ON p.id = pm.patient_id
              WHERE sv.plan = $9 AND sv.status <> 'CANCELLED' AND sv.default_card_id IS NOT NULL
                AND sv.default_card_expiry >= $1 * 12 + $2
                AND sv.default_card_expiry <= $3 * 12 + $4
                AND pm.removed_at IS NULL AND pm.is_default
                AND {of_type}
                AND sv.id = (SELECT min(s1.id) FROM subscriptions s1
                              WHERE s1.patient_id = sv.patient_id AND s1.plan = $9
                                AND s1.status <> 'CANCELLED')
                AND {after}
              ORDER BY sv.default_card_expiry, sv.default_card_id
              LIMIT $8"
        )
    } else {
        let after = after_clause("pm.exp_year * 12 + pm.exp_month", "pm.id");
        format!(
            "SELECT {columns}
               FROM payment_methods pm JOIN patients p ON p.id = pm.patient_id
              WHERE pm.removed_at IS NULL
                AND pm.exp_year * 12 + pm.exp_month >= $1 * 12 + $2
                AND pm.exp_year * 12 + pm.exp_month <= $3 * 12 + $4
                AND {of_type}
                AND $9 IS NULL
                AND {after}
              ORDER BY pm.exp_year * 12 + pm.exp_month, pm.id
              LIMIT $8"
        )
    };
    // The same eleven values either way.
    macro_rules! run {
        ($kind:ident, $ty:ty, $method:ident, $q:expr) => {
            $kind!(
                ex,
                $ty,
                $method,
                $q,
                from.0 as i64,
                from.1 as i64,
                to.0 as i64,
                to.1 as i64,
                still_valid_from.0 as i64,
                still_valid_from.1 as i64,
                patient_type,
                limit,
                service,
                after.map(|a| a.month_key),
                after.map(|a| a.card_id)
            )
        };
    }
    if !matches!(ex.conn(), crate::Conn::Sqlite(_)) {
        return Ok(run!(sql_as, ExpiringRow, fetch_all, &select)?);
    }
    // sqlx hands SQLite's rows over from its worker thread one at a time, which cost more than the query
    // itself for 5,000 cards (issue 11's profile): SQLite packs them into one JSON array.
    let q = format!(
        "SELECT json_group_array(json_array(card_id, patient_id, gateway, brand, last4, exp_month,
                exp_year, is_default, patient_name, patient_email, patient_type, has_other_valid, plans,
                renewed_at))
           FROM ({select})"
    );
    let json = run!(sql_scalar, String, fetch_one, &q)?;
    type Packed = (
        i64,
        i64,
        String,
        String,
        String,
        i64,
        i64,
        i64,
        String,
        String,
        String,
        i64,
        Option<String>,
        Option<i64>,
    );
    let packed: Vec<Packed> = serde_json::from_str(&json)
        .map_err(|e| crate::StoreError::Corrupt(format!("expiring cards: {e}")))?;
    let mut rows: Vec<ExpiringRow> = packed
        .into_iter()
        .map(|r| ExpiringRow {
            card_id: r.0,
            patient_id: r.1,
            gateway: r.2,
            brand: r.3,
            last4: r.4,
            exp_month: r.5,
            exp_year: r.6,
            is_default: r.7 != 0,
            patient_name: r.8,
            patient_email: r.9,
            patient_type: r.10,
            has_other_valid: r.11 != 0,
            plans: r.12,
            renewed_at: r.13,
        })
        .collect();
    // An aggregate's input order is not promised: the order is put back here.
    rows.sort_by_key(|r| (r.exp_year * 12 + r.exp_month, r.card_id));
    Ok(rows)
}

/// Why a reminder is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReminderKind {
    Automatic,
    Manual,
    GatewayChange,
}

impl ReminderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ReminderKind::Automatic => "automatic",
            ReminderKind::Manual => "manual",
            ReminderKind::GatewayChange => "gateway_change",
        }
    }

    fn parse(s: &str) -> ReminderKind {
        match s {
            "manual" => ReminderKind::Manual,
            "gateway_change" => ReminderKind::GatewayChange,
            _ => ReminderKind::Automatic,
        }
    }
}

/// A reminder to send (or sent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reminder {
    pub id: i64,
    pub card_id: PaymentMethodId,
    pub patient_id: PatientId,
    pub kind: ReminderKind,
    pub threshold_days: Option<i64>,
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct ReminderRow {
    id: i64,
    payment_method_id: i64,
    patient_id: i64,
    kind: String,
    threshold_days: Option<i64>,
    status: String,
    attempts: i64,
    last_error: Option<String>,
    next_attempt_at: Option<i64>,
    created_at: i64,
    sent_at: Option<i64>,
}

impl From<ReminderRow> for Reminder {
    fn from(r: ReminderRow) -> Reminder {
        Reminder {
            id: r.id,
            card_id: PaymentMethodId(r.payment_method_id),
            patient_id: PatientId(r.patient_id),
            kind: ReminderKind::parse(&r.kind),
            threshold_days: r.threshold_days,
            status: r.status,
            attempts: r.attempts,
            last_error: r.last_error,
            next_attempt_at: r.next_attempt_at.map(from_millis),
            created_at: from_millis(r.created_at),
            sent_at: r.sent_at.map(from_millis),
        }
    }
}

const COLUMNS: &str = "id, payment_method_id, patient_id, kind, threshold_days, status, attempts, last_error, next_attempt_at, created_at, sent_at";

/// Claims a reminder: inserts it as `sending` unless one for the same card and threshold (automatic) or
/// card, kind and day (manual, gateway change) exists. Some(id) when this caller won the claim.
#[allow(clippy::too_many_arguments)]
pub async fn claim(
    tx: &mut Tx,
    card: PaymentMethodId,
    patient: PatientId,
    kind: ReminderKind,
    threshold_days: Option<i64>,
    day: i64,
    by: Option<i64>,
    at: DateTime<Utc>,
) -> Result<Option<i64>> {
    Ok(sql_scalar!(
        tx,
        i64,
        fetch_optional,
        "INSERT INTO reminders (payment_method_id, patient_id, kind, threshold_days, on_day, status, attempts,
                                claimed_at, created_by, created_at)
         VALUES ($1, $2, $3, $4, $5, 'sending', 1, $6, $7, $6)
         ON CONFLICT DO NOTHING RETURNING id",
        card.0,
        patient.0,
        kind.as_str(),
        threshold_days,
        day,
        to_millis(at),
        by
    )?)
}

/// The (card, threshold) pairs of automatic reminders claimed since `since`: a pass skips them without
/// trying to claim each again, so a worker pass over a large clinic only writes for what is new.
pub async fn automatic_claimed_since(
    ex: &mut impl Executor,
    since: DateTime<Utc>,
) -> Result<Vec<(i64, i64)>> {
    Ok(sql_as!(
        ex,
        (i64, i64),
        fetch_all,
        "SELECT payment_method_id, threshold_days FROM reminders
          WHERE kind = 'automatic' AND threshold_days IS NOT NULL AND created_at >= $1",
        to_millis(since)
    )?)
}

/// When the automatic reminder of `threshold` was claimed for `card`, if it was.
pub async fn automatic_claimed_at(
    ex: &mut impl Executor,
    card: PaymentMethodId,
    threshold: i64,
) -> Result<Option<DateTime<Utc>>> {
    Ok(sql_scalar!(
        ex,
        i64,
        fetch_optional,
        "SELECT created_at FROM reminders
          WHERE kind = 'automatic' AND payment_method_id = $1 AND threshold_days = $2",
        card.0,
        threshold
    )?
    .map(from_millis))
}

/// Failed reminders whose next attempt is due, and `sending` ones abandoned by a worker that died
/// (claimed more than `stale_before` ago): claimed again by this caller, one conditional update each.
pub async fn claim_retries(
    ex: &mut impl Executor,
    now: DateTime<Utc>,
    stale_before: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Reminder>> {
    let q = format!(
        "SELECT {COLUMNS} FROM reminders
          WHERE (status = 'failed' AND next_attempt_at <= $1) OR (status = 'sending' AND claimed_at < $2)
          ORDER BY id LIMIT $3"
    );
    let candidates: Vec<Reminder> = sql_as!(
        ex,
        ReminderRow,
        fetch_all,
        &q,
        to_millis(now),
        to_millis(stale_before),
        limit
    )?
    .into_iter()
    .map(Reminder::from)
    .collect();
    let mut won = Vec::new();
    for r in candidates {
        let took = sql!(
            ex,
            execute,
            "UPDATE reminders SET status = 'sending', attempts = attempts + 1, claimed_at = $1
              WHERE id = $2 AND ((status = 'failed' AND next_attempt_at <= $1) OR (status = 'sending' AND claimed_at < $3))",
            to_millis(now),
            r.id,
            to_millis(stale_before)
        )?;
        if took == 1 {
            won.push(Reminder {
                attempts: r.attempts + 1,
                status: "sending".into(),
                ..r
            });
        }
    }
    Ok(won)
}

pub async fn mark_sent(ex: &mut impl Executor, id: i64, at: DateTime<Utc>) -> Result<()> {
    sql!(
        ex,
        execute,
        "UPDATE reminders SET status = 'sent', sent_at = $1, last_error = NULL, next_attempt_at = NULL WHERE id = $2",
        to_millis(at),
        id
    )?;
    Ok(())
}

pub async fn mark_failed(
    ex: &mut impl Executor,
    id: i64,
    error: &str,
    next_attempt_at: DateTime<Utc>,
) -> Result<()> {
    sql!(
        ex,
        execute,
        "UPDATE reminders SET status = 'failed', last_error = $1, next_attempt_at = $2 WHERE id = $3",
        error,
        to_millis(next_attempt_at),
        id
    )?;
    Ok(())
}

/// The newest reminders, of one patient or of the clinic; failed ones first so they are seen.
pub async fn list(
    ex: &mut impl Executor,
    patient: Option<PatientId>,
    limit: i64,
) -> Result<Vec<Reminder>> {
    let q = format!(
        "SELECT {COLUMNS} FROM reminders WHERE ($1 IS NULL OR patient_id = $1)
          ORDER BY CASE WHEN status = 'failed' THEN 0 ELSE 1 END, id DESC LIMIT $2"
    );
    Ok(
        sql_as!(ex, ReminderRow, fetch_all, &q, patient.map(|p| p.0), limit)?
            .into_iter()
            .map(Reminder::from)
            .collect(),
    )
}

/// A patient who would have nothing to pay with after the clinic moves to another gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct AtRiskRow {
    pub patient_id: i64,
    pub name: String,
    pub email: String,
    pub subscriptions: i64,
    pub open_invoices: i64,
    /// Their newest saved card (on the old gateway), if any: what the re-save email names.
    pub newest_card: Option<i64>,
}

/// Patients with a live subscription or an unpaid invoice and no valid card saved for `gateway`.
pub async fn without_card_for(
    ex: &mut impl Executor,
    gateway: &str,
    this_month: Month,
    limit: i64,
) -> Result<Vec<AtRiskRow>> {
    Ok(sql_as!(
        ex,
        AtRiskRow,
        fetch_all,
        "SELECT p.id AS patient_id, p.name, p.email,
                (SELECT COUNT(*) FROM subscriptions s WHERE s.patient_id = p.id AND s.status <> 'CANCELLED') AS subscriptions,
                (SELECT COUNT(*) FROM invoices i WHERE i.patient_id = p.id AND i.status = 'OPEN') AS open_invoices,
                (SELECT MAX(pm.id) FROM payment_methods pm WHERE pm.patient_id = p.id AND pm.removed_at IS NULL) AS newest_card
           FROM patients p
          WHERE (EXISTS (SELECT 1 FROM subscriptions s WHERE s.patient_id = p.id AND s.status <> 'CANCELLED')
                 OR EXISTS (SELECT 1 FROM invoices i WHERE i.patient_id = p.id AND i.status = 'OPEN'))
            AND NOT EXISTS (SELECT 1 FROM payment_methods pm
                             WHERE pm.patient_id = p.id AND pm.removed_at IS NULL AND pm.gateway = $1
                               AND (pm.exp_year > $2 OR (pm.exp_year = $2 AND pm.exp_month >= $3)))
          ORDER BY p.name, p.id LIMIT $4",
        gateway,
        this_month.0 as i64,
        this_month.1 as i64,
        limit
    )?)
}

/// Live subscriptions locked to a gateway other than `gateway`: their cycles keep going there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct LockedRow {
    pub subscription_id: i64,
    pub patient_id: i64,
    pub name: String,
    pub plan: String,
    pub locked_gateway: String,
}

pub async fn locked_elsewhere(
    ex: &mut impl Executor,
    gateway: &str,
    limit: i64,
) -> Result<Vec<LockedRow>> {
    Ok(sql_as!(
        ex,
        LockedRow,
        fetch_all,
        "SELECT s.id AS subscription_id, s.patient_id, p.name, s.plan, s.locked_gateway
           FROM subscriptions s JOIN patients p ON p.id = s.patient_id
          WHERE s.status <> 'CANCELLED' AND s.locked_gateway IS NOT NULL AND s.locked_gateway <> $1
          ORDER BY p.name, s.id LIMIT $2",
        gateway,
        limit
    )?)
}

/// The services (subscription plans) patients have now, for the dashboard's Service Type filter.
pub async fn service_names(ex: &mut impl Executor) -> Result<Vec<String>> {
    // A clinic has a few plans over many subscriptions: the plans are walked one seek each off the
    // `(plan, status)` index (the next plan after the last), where `SELECT DISTINCT` read every
    // subscription's entry (27 ms at 213,548 subscriptions, most of the dashboard's first page).
    Ok(sql_scalar!(
        ex,
        String,
        fetch_all,
        "WITH RECURSIVE plans(plan) AS (
             SELECT (SELECT min(plan) FROM subscriptions)
             UNION ALL
             SELECT (SELECT min(s.plan) FROM subscriptions s WHERE s.plan > plans.plan)
               FROM plans WHERE plans.plan IS NOT NULL)
         SELECT plan FROM plans
          WHERE plan IS NOT NULL
            AND EXISTS (SELECT 1 FROM subscriptions s
                         WHERE s.plan = plans.plan AND s.status <> 'CANCELLED')
          LIMIT 500"
    )?)
}
