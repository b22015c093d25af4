//! The recovery emails sent for an order (migration 0023): one per order and stage, claimed by insert,
//! retried after a refusal; and the templates a billing manager edited.

use chrono::{DateTime, Utc};
use clinicpay_domain::notices::{NoticeStage, NoticeTemplate};
use clinicpay_domain::{OrderId, PatientId};
use serde::Serialize;

use crate::{from_millis, to_millis, Executor, Result, Tx};

/// A recovery email claimed, sent or refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notice {
    pub id: i64,
    pub order_id: OrderId,
    pub patient_id: PatientId,
    pub stage: String,
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct NoticeRow {
    id: i64,
    order_id: i64,
    patient_id: i64,
    stage: String,
    status: String,
    attempts: i64,
    last_error: Option<String>,
    created_at: i64,
    sent_at: Option<i64>,
}

impl From<NoticeRow> for Notice {
    fn from(r: NoticeRow) -> Notice {
        Notice {
            id: r.id,
            order_id: OrderId(r.order_id),
            patient_id: PatientId(r.patient_id),
            stage: r.stage,
            status: r.status,
            attempts: r.attempts,
            last_error: r.last_error,
            created_at: from_millis(r.created_at),
            sent_at: r.sent_at.map(from_millis),
        }
    }
}

const COLUMNS: &str =
    "id, order_id, patient_id, stage, status, attempts, last_error, created_at, sent_at";

/// Claims `stage` for `order`: Some(id) when this caller inserted it (nobody sent it before).
pub async fn claim(
    tx: &mut Tx,
    order: OrderId,
    patient: PatientId,
    stage: NoticeStage,
    at: DateTime<Utc>,
) -> Result<Option<i64>> {
    Ok(sql_scalar!(
        tx,
        i64,
        fetch_optional,
        "INSERT INTO recovery_notices (order_id, patient_id, stage, status, attempts, claimed_at, created_at)
         VALUES ($1, $2, $3, 'sending', 1, $4, $4)
         ON CONFLICT DO NOTHING RETURNING id",
        order.0,
        patient.0,
        stage.as_str(),
        to_millis(at)
    )?)
}

/// The stages already claimed for these orders, as (order, stage) pairs.
pub async fn claimed_for(ex: &mut impl Executor, orders: &[OrderId]) -> Result<Vec<(i64, String)>> {
    if orders.is_empty() {
        return Ok(Vec::new());
    }
    let list = orders
        .iter()
        .map(|o| o.0.to_string())
        .collect::<Vec<_>>()
        .join(",");
    // The ids are our own integers, so they are written into the query rather than bound one by one.
    let q = format!("SELECT order_id, stage FROM recovery_notices WHERE order_id IN ({list})");
    Ok(sql_as!(ex, (i64, String), fetch_all, &q)?)
}

/// Refused sends due again, and claims abandoned by a pass that died (claimed before `stale_before`),
/// taken again by this caller one conditional update each.
pub async fn claim_retries(
    ex: &mut impl Executor,
    now: DateTime<Utc>,
    stale_before: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Notice>> {
    let q = format!(
        "SELECT {COLUMNS} FROM recovery_notices
          WHERE ((status = 'failed' AND next_attempt_at <= $1) OR (status = 'sending' AND claimed_at < $2))
            AND attempts < 10
          ORDER BY id LIMIT $3"
    );
    let candidates: Vec<Notice> = sql_as!(
        ex,
        NoticeRow,
        fetch_all,
        &q,
        to_millis(now),
        to_millis(stale_before),
        limit
    )?
    .into_iter()
    .map(Notice::from)
    .collect();
    let mut won = Vec::new();
    for n in candidates {
        let took = sql!(
            ex,
            execute,
            "UPDATE recovery_notices SET status = 'sending', attempts = attempts + 1, claimed_at = $1
              WHERE id = $2 AND ((status = 'failed' AND next_attempt_at <= $1) OR (status = 'sending' AND claimed_at < $3))",
            to_millis(now),
            n.id,
            to_millis(stale_before)
        )?;
        if took == 1 {
            won.push(Notice {
                attempts: n.attempts + 1,
                status: "sending".into(),
                ..n
            });
        }
    }
    Ok(won)
}

pub async fn mark_sent(ex: &mut impl Executor, id: i64, at: DateTime<Utc>) -> Result<()> {
    sql!(
        ex,
        execute,
        "UPDATE recovery_notices SET status = 'sent', sent_at = $1, last_error = NULL, next_attempt_at = NULL WHERE id = $2",
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
        "UPDATE recovery_notices SET status = 'failed', last_error = $1, next_attempt_at = $2 WHERE id = $3",
        error,
        to_millis(next_attempt_at),
        id
    )?;
    Ok(())
}

/// Gives up on a notice (the order was paid meanwhile, or it was refused too often): kept, never retried.
pub async fn abandon(ex: &mut impl Executor, id: i64, why: &str) -> Result<()> {
    sql!(
        ex,
        execute,
        "UPDATE recovery_notices SET status = 'failed', last_error = $1, next_attempt_at = NULL WHERE id = $2",
        why,
        id
    )?;
    Ok(())
}

/// The recovery emails of one patient, newest first.
pub async fn of_patient(ex: &mut impl Executor, patient: PatientId) -> Result<Vec<Notice>> {
    let q = format!(
        "SELECT {COLUMNS} FROM recovery_notices WHERE patient_id = $1 ORDER BY id DESC LIMIT 200"
    );
    Ok(sql_as!(ex, NoticeRow, fetch_all, &q, patient.0)?
        .into_iter()
        .map(Notice::from)
        .collect())
}

/// The template a billing manager saved for `stage`, if any.
pub async fn template(
    ex: &mut impl Executor,
    stage: NoticeStage,
) -> Result<Option<NoticeTemplate>> {
    Ok(sql_as!(
        ex,
        (String, String),
        fetch_optional,
        "SELECT subject, body FROM notice_templates WHERE stage = $1",
        stage.as_str()
    )?
    .map(|(subject, body)| NoticeTemplate { subject, body }))
}

/// Saves the template of `stage` (replacing the one before).
pub async fn set_template(
    tx: &mut Tx,
    stage: NoticeStage,
    t: &NoticeTemplate,
    by: i64,
    at: DateTime<Utc>,
) -> Result<()> {
    sql!(
        tx,
        execute,
        "INSERT INTO notice_templates (stage, subject, body, updated_at, updated_by) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (stage) DO UPDATE SET subject = $2, body = $3, updated_at = $4, updated_by = $5",
        stage.as_str(),
        &t.subject,
        &t.body,
        to_millis(at),
        by
    )?;
    Ok(())
}
