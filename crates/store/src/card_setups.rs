//! Cards typed on the gateway's own page (migration 0024): Stripe Checkout in setup mode, at the desk or
//! sent to the patient as a secure card link. A row is claimed (`open` → `saving`) by one finisher at a
//! time, so a card saved on a page is recorded here once.

use chrono::{DateTime, Utc};
use clinicpay_domain::{Gateway, OrderId, PatientId, PaymentMethodId, StaffId};
use serde::Serialize;

use crate::{from_millis, to_millis, Executor, Result, StoreError, Tx};

/// Where a page was opened: in a window at the desk, or as a link sent to the patient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SetupKind {
    /// Add payment method at the desk.
    Desk,
    /// A payment with a new card at the desk (the card is kept only when staff chose to save it).
    Payment,
    /// A secure card link sent to the patient.
    Link,
}

impl SetupKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SetupKind::Desk => "desk",
            SetupKind::Payment => "payment",
            SetupKind::Link => "link",
        }
    }
}

/// One page, as ClinicPay last knew it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CardSetup {
    pub id: i64,
    pub patient_id: PatientId,
    pub gateway: Gateway,
    pub kind: SetupKind,
    pub session_ref: String,
    pub url: Option<String>,
    /// `open`, `saving`, `complete`, `expired` or `failed`.
    pub status: String,
    pub order_id: Option<OrderId>,
    pub sent_to: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub created_by: Option<StaffId>,
    pub finished_at: Option<DateTime<Utc>>,
    pub payment_method_id: Option<PaymentMethodId>,
    pub outcome: Option<String>,
    pub cardholder_name: Option<String>,
    pub country: Option<String>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    patient_id: i64,
    gateway: String,
    kind: String,
    session_ref: String,
    url: Option<String>,
    status: String,
    order_id: Option<i64>,
    sent_to: Option<String>,
    sent_at: Option<i64>,
    expires_at: i64,
    created_at: i64,
    created_by: Option<i64>,
    finished_at: Option<i64>,
    payment_method_id: Option<i64>,
    outcome: Option<String>,
    cardholder_name: Option<String>,
    country: Option<String>,
}

impl TryFrom<Row> for CardSetup {
    type Error = StoreError;
    fn try_from(r: Row) -> Result<CardSetup> {
        Ok(CardSetup {
            id: r.id,
            patient_id: PatientId(r.patient_id),
            gateway: r
                .gateway
                .parse()
                .map_err(|e| StoreError::Corrupt(format!("card setup {}: {e}", r.id)))?,
            kind: match r.kind.as_str() {
                "desk" => SetupKind::Desk,
                "payment" => SetupKind::Payment,
                _ => SetupKind::Link,
            },
            session_ref: r.session_ref,
            url: r.url,
            status: r.status,
            order_id: r.order_id.map(OrderId),
            sent_to: r.sent_to,
            sent_at: r.sent_at.map(from_millis),
            expires_at: from_millis(r.expires_at),
            created_at: from_millis(r.created_at),
            created_by: r.created_by.map(StaffId),
            finished_at: r.finished_at.map(from_millis),
            payment_method_id: r.payment_method_id.map(PaymentMethodId),
            outcome: r.outcome,
            cardholder_name: r.cardholder_name,
            country: r.country,
        })
    }
}

const COLUMNS: &str = "id, patient_id, gateway, kind, session_ref, url, status, order_id, sent_to,
    sent_at, expires_at, created_at, created_by, finished_at, payment_method_id, outcome,
    cardholder_name, country";

/// A page just made at the gateway.
#[derive(Debug, Clone)]
pub struct NewCardSetup<'a> {
    pub patient_id: PatientId,
    pub gateway: Gateway,
    pub kind: SetupKind,
    pub session_ref: &'a str,
    pub url: Option<&'a str>,
    pub order_id: Option<OrderId>,
    pub expires_at: DateTime<Utc>,
    pub created_by: Option<StaffId>,
    pub cardholder_name: Option<&'a str>,
    pub country: Option<&'a str>,
}

pub async fn insert(tx: &mut Tx, s: &NewCardSetup<'_>, now: DateTime<Utc>) -> Result<CardSetup> {
    let q = format!(
        "INSERT INTO card_setups (patient_id, gateway, kind, session_ref, url, status, order_id,
            expires_at, created_at, created_by, cardholder_name, country)
         VALUES ($1, $2, $3, $4, $5, 'open', $6, $7, $8, $9, $10, $11) RETURNING {COLUMNS}"
    );
    sql_as!(
        tx,
        Row,
        fetch_one,
        &q,
        s.patient_id.0,
        s.gateway.as_str(),
        s.kind.as_str(),
        s.session_ref,
        s.url,
        s.order_id.map(|o| o.0),
        to_millis(s.expires_at),
        to_millis(now),
        s.created_by.map(|x| x.0),
        s.cardholder_name,
        s.country
    )?
    .try_into()
}

pub async fn get(ex: &mut impl Executor, id: i64) -> Result<Option<CardSetup>> {
    let q = format!("SELECT {COLUMNS} FROM card_setups WHERE id = $1");
    sql_as!(ex, Row, fetch_optional, &q, id)?
        .map(CardSetup::try_from)
        .transpose()
}

pub async fn by_session(ex: &mut impl Executor, session_ref: &str) -> Result<Option<CardSetup>> {
    let q = format!("SELECT {COLUMNS} FROM card_setups WHERE session_ref = $1");
    sql_as!(ex, Row, fetch_optional, &q, session_ref)?
        .map(CardSetup::try_from)
        .transpose()
}

/// A patient's pages, newest first.
pub async fn for_patient(
    ex: &mut impl Executor,
    patient: PatientId,
    limit: i64,
) -> Result<Vec<CardSetup>> {
    let q = format!(
        "SELECT {COLUMNS} FROM card_setups WHERE patient_id = $1 ORDER BY id DESC LIMIT $2"
    );
    sql_as!(ex, Row, fetch_all, &q, patient.0, limit)?
        .into_iter()
        .map(CardSetup::try_from)
        .collect()
}

/// Pages to look at again: open ones, and claims a finisher abandoned (claimed before
/// `stale_before`), oldest first.
pub async fn unfinished(
    ex: &mut impl Executor,
    stale_before: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<CardSetup>> {
    let q = format!(
        "SELECT {COLUMNS} FROM card_setups
          WHERE status = 'open' OR (status = 'saving' AND claimed_at < $1)
          ORDER BY id LIMIT $2"
    );
    sql_as!(ex, Row, fetch_all, &q, to_millis(stale_before), limit)?
        .into_iter()
        .map(CardSetup::try_from)
        .collect()
}

/// Takes the page for saving its card: true when this caller won it (it was open, or its claim was
/// abandoned before `stale_before`).
pub async fn claim(
    ex: &mut impl Executor,
    id: i64,
    now: DateTime<Utc>,
    stale_before: DateTime<Utc>,
) -> Result<bool> {
    let n = sql!(
        ex,
        execute,
        "UPDATE card_setups SET status = 'saving', claimed_at = $2
          WHERE id = $1 AND (status = 'open' OR (status = 'saving' AND claimed_at < $3))",
        id,
        to_millis(now),
        to_millis(stale_before)
    )?;
    Ok(n == 1)
}

/// Gives a claim back (the card could not be saved yet: the gateway or the database was away).
pub async fn release(ex: &mut impl Executor, id: i64) -> Result<()> {
    sql!(
        ex,
        execute,
        "UPDATE card_setups SET status = 'open', claimed_at = NULL WHERE id = $1 AND status = 'saving'",
        id
    )?;
    Ok(())
}

/// The page's end: `complete` (with the card saved here), `expired` or `failed` (with why). Only a
/// page not already ended changes; answers whether this call ended it.
pub async fn finish(
    ex: &mut impl Executor,
    id: i64,
    status: &str,
    card: Option<PaymentMethodId>,
    outcome: Option<&str>,
    now: DateTime<Utc>,
) -> Result<bool> {
    let n = sql!(
        ex,
        execute,
        "UPDATE card_setups SET status = $2, payment_method_id = $3, outcome = $4, finished_at = $5,
                url = NULL, claimed_at = NULL
          WHERE id = $1 AND status IN ('open', 'saving')",
        id,
        status,
        card.map(|c| c.0),
        outcome,
        to_millis(now)
    )?;
    Ok(n == 1)
}

/// The link went out by email to `to`.
pub async fn mark_sent(ex: &mut impl Executor, id: i64, to: &str, at: DateTime<Utc>) -> Result<()> {
    sql!(
        ex,
        execute,
        "UPDATE card_setups SET sent_to = $2, sent_at = $3 WHERE id = $1",
        id,
        to,
        to_millis(at)
    )?;
    Ok(())
}
