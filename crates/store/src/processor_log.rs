//! Every call to a gateway, as the gateways layer redacted it.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::{from_millis, to_millis, Executor, Result, Tx};

/// One gateway call, already redacted by the gateways layer.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct NewLogEntry {
    pub at: DateTime<Utc>,
    pub gateway: String,
    pub operation: String,
    #[cfg_attr(feature = "specta", specta(type = Option<i32>))]
    pub patient_id: Option<i64>,
    pub payment_key: Option<String>,
    #[cfg_attr(feature = "specta", specta(type = Option<i32>))]
    pub http_status: Option<i64>,
    #[cfg_attr(feature = "specta", specta(type = i32))]
    pub duration_ms: i64,
    pub outcome: String,
    pub request: String,
    pub response: String,
}

/// A stored call: its row number and what was recorded.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct LogEntry {
    #[cfg_attr(feature = "specta", specta(type = i32))]
    pub id: i64,
    #[serde(flatten)]
    pub call: NewLogEntry,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    at: i64,
    gateway: String,
    operation: String,
    patient_id: Option<i64>,
    payment_key: Option<String>,
    http_status: Option<i64>,
    duration_ms: i64,
    outcome: String,
    request: String,
    response: String,
}

pub async fn insert(tx: &mut Tx, e: &NewLogEntry) -> Result<()> {
    sql!(
        tx,
        execute,
        "INSERT INTO processor_log (at, gateway, operation, patient_id, payment_key, http_status, duration_ms,
             outcome, request, response)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        to_millis(e.at),
        &e.gateway,
        &e.operation,
        e.patient_id,
        e.payment_key.as_deref(),
        e.http_status,
        e.duration_ms,
        &e.outcome,
        &e.request,
        &e.response
    )?;
    Ok(())
}

/// The newest entries, optionally only those of one payment (by our payment id) or one patient.
/// The newest calls whose operation, outcome, payment key or (redacted) request or response contains
/// `text`, case-insensitively.
pub async fn search(ex: &mut impl Executor, text: &str, limit: i64) -> Result<Vec<LogEntry>> {
    let pattern = crate::like_contains(text);
    let rows = sql_as!(
        ex,
        Row,
        fetch_all,
        "SELECT id, at, gateway, operation, patient_id, payment_key, http_status, duration_ms, outcome, request,
             response
         FROM processor_log l
         WHERE LOWER(l.operation) LIKE $1 ESCAPE '\\' OR LOWER(l.outcome) LIKE $1 ESCAPE '\\'
            OR LOWER(COALESCE(l.payment_key, '')) LIKE $1 ESCAPE '\\'
            OR LOWER(l.request) LIKE $1 ESCAPE '\\' OR LOWER(l.response) LIKE $1 ESCAPE '\\'
         ORDER BY l.id DESC LIMIT $2",
        pattern,
        limit
    )?;
    Ok(rows.into_iter().map(entry_of).collect())
}

pub async fn list(
    ex: &mut impl Executor,
    payment_id: Option<i64>,
    patient_id: Option<i64>,
    limit: i64,
) -> Result<Vec<LogEntry>> {
    let rows = sql_as!(
        ex,
        Row,
        fetch_all,
        "SELECT id, at, gateway, operation, patient_id, payment_key, http_status, duration_ms, outcome, request,
             response
         FROM processor_log l
         WHERE ($1 IS NULL OR l.payment_key IN (SELECT idempotency_key FROM payments WHERE id = $1))
           AND ($2 IS NULL OR l.patient_id = $2
                OR l.payment_key IN (SELECT idempotency_key FROM payments WHERE patient_id = $2))
         ORDER BY l.id DESC LIMIT $3",
        payment_id,
        patient_id,
        limit
    )?;
    Ok(rows.into_iter().map(entry_of).collect())
}

fn entry_of(r: Row) -> LogEntry {
    LogEntry {
        id: r.id,
        call: NewLogEntry {
            at: from_millis(r.at),
            gateway: r.gateway,
            operation: r.operation,
            patient_id: r.patient_id,
            payment_key: r.payment_key,
            http_status: r.http_status,
            duration_ms: r.duration_ms,
            outcome: r.outcome,
            request: r.request,
            response: r.response,
        },
    }
}

/// Calls since a time, counted by gateway, operation and outcome (for support: no bodies, no patients).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct CallCount {
    pub gateway: String,
    pub operation: String,
    pub outcome: String,
    pub calls: i64,
    pub slowest_ms: i64,
    pub total_ms: i64,
}

pub async fn counts_since(ex: &mut impl Executor, since: DateTime<Utc>) -> Result<Vec<CallCount>> {
    Ok(sql_as!(
        ex,
        CallCount,
        fetch_all,
        "SELECT gateway, operation, outcome, COUNT(*) AS calls, MAX(duration_ms) AS slowest_ms,
                CAST(SUM(duration_ms) AS BIGINT) AS total_ms
           FROM processor_log WHERE at >= $1
          GROUP BY gateway, operation, outcome ORDER BY gateway, operation, outcome",
        to_millis(since)
    )?)
}
