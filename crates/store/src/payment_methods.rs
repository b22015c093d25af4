//! Saved cards. The database holds the one-default-card rule too (a partial unique index), so a race
//! between two desks cannot leave a patient with two defaults.

use chrono::{DateTime, Utc};
use clinicpay_domain::{
    CardBrand, CardExpiry, Gateway, NewCard, PatientId, PaymentMethod, PaymentMethodId,
};

use crate::{from_millis, to_millis, Executor, Result, StoreError, Tx};

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    patient_id: i64,
    gateway: String,
    token: String,
    brand: String,
    last4: String,
    exp_month: i64,
    exp_year: i64,
    cardholder_name: String,
    nickname: Option<String>,
    country: Option<String>,
    fingerprint: Option<String>,
    is_default: bool,
    created_at: i64,
    removed_at: Option<i64>,
    details_missing: bool,
    checked_at: Option<i64>,
    renewed_at: Option<i64>,
}

impl TryFrom<Row> for PaymentMethod {
    type Error = StoreError;
    fn try_from(r: Row) -> Result<Self> {
        let corrupt = |e: clinicpay_domain::DomainError| {
            StoreError::Corrupt(format!("payment method {}: {e}", r.id))
        };
        Ok(PaymentMethod {
            id: PaymentMethodId(r.id),
            patient_id: PatientId(r.patient_id),
            gateway: r.gateway.parse::<Gateway>().map_err(corrupt)?,
            brand: CardBrand::from_gateway_name(&r.brand),
            expiry: CardExpiry::new(r.exp_month as u32, r.exp_year as i32).map_err(corrupt)?,
            token: r.token,
            last4: r.last4,
            cardholder_name: r.cardholder_name,
            nickname: r.nickname,
            country: r.country,
            fingerprint: r.fingerprint,
            is_default: r.is_default,
            created_at: from_millis(r.created_at),
            removed_at: r.removed_at.map(from_millis),
            details_missing: r.details_missing,
            checked_at: r.checked_at.map(from_millis),
            renewed_at: r.renewed_at.map(from_millis),
        })
    }
}

const COLUMNS: &str =
    "id, patient_id, gateway, token, brand, last4, exp_month, exp_year, cardholder_name,
    nickname, country, fingerprint, is_default, created_at, removed_at, details_missing, checked_at,
    renewed_at";

pub async fn insert(
    tx: &mut Tx,
    patient: PatientId,
    card: &NewCard,
    is_default: bool,
    at: DateTime<Utc>,
) -> Result<PaymentMethod> {
    let q = format!(
        "INSERT INTO payment_methods (patient_id, gateway, token, brand, last4, exp_month, exp_year,
             cardholder_name, nickname, country, fingerprint, is_default, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING {COLUMNS}"
    );
    sql_as!(
        tx,
        Row,
        fetch_one,
        &q,
        patient.0,
        card.gateway.as_str(),
        &card.token,
        card.brand.as_str(),
        &card.last4,
        card.expiry.month as i64,
        card.expiry.year as i64,
        &card.cardholder_name,
        card.nickname.as_deref(),
        card.country.as_deref(),
        card.fingerprint.as_deref(),
        is_default,
        to_millis(at)
    )?
    .try_into()
}

pub async fn get(ex: &mut impl Executor, id: PaymentMethodId) -> Result<Option<PaymentMethod>> {
    let q = format!("SELECT {COLUMNS} FROM payment_methods WHERE id = $1");
    sql_as!(ex, Row, fetch_optional, &q, id.0)?
        .map(TryInto::try_into)
        .transpose()
}

/// Saved cards (not deleted, with their details) expiring from `from` to `to` (year, month; both
/// included) that nobody asked their gateway about since `checked_before`: the ones to refresh from
/// the card networks' updates, soonest expiry first.
pub async fn to_refresh(
    ex: &mut impl Executor,
    from: (i32, u32),
    to: (i32, u32),
    checked_before: DateTime<Utc>,
    patient: Option<PatientId>,
    limit: i64,
) -> Result<Vec<PaymentMethod>> {
    let q = format!(
        "SELECT {COLUMNS} FROM payment_methods
          WHERE removed_at IS NULL AND details_missing = $1
            AND exp_year * 12 + exp_month BETWEEN $2 AND $3
            AND (checked_at IS NULL OR checked_at < $4)
            AND ($5 IS NULL OR patient_id = $5)
          ORDER BY exp_year, exp_month, id LIMIT $6"
    );
    sql_as!(
        ex,
        Row,
        fetch_all,
        &q,
        false,
        i64::from(from.0) * 12 + i64::from(from.1),
        i64::from(to.0) * 12 + i64::from(to.1),
        to_millis(checked_before),
        patient.map(|p| p.0),
        limit
    )?
    .into_iter()
    .map(TryInto::try_into)
    .collect()
}

/// The card network's update of a saved card, as its gateway answered: the new brand, last four and
/// expiry, marked renewed and checked now.
pub async fn apply_network_update(
    tx: &mut Tx,
    id: PaymentMethodId,
    update: &clinicpay_domain::NetworkUpdate,
    now: DateTime<Utc>,
) -> Result<()> {
    sql!(
        tx,
        execute,
        "UPDATE payment_methods SET brand = $2, last4 = $3, exp_month = $4, exp_year = $5,
                renewed_at = $6, checked_at = $6
          WHERE id = $1",
        id.0,
        update.brand.as_str(),
        &update.last4,
        i64::from(update.expiry.month),
        i64::from(update.expiry.year),
        to_millis(now)
    )?;
    Ok(())
}

/// These cards' gateways were asked about them at `now` and answered what ClinicPay holds.
pub async fn mark_checked(
    ex: &mut impl Executor,
    ids: &[PaymentMethodId],
    now: DateTime<Utc>,
) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    // Our own integers, written into the statement rather than bound one by one.
    let list = ids
        .iter()
        .map(|i| i.0.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let q = format!("UPDATE payment_methods SET checked_at = $1 WHERE id IN ({list})");
    sql!(ex, execute, &q, to_millis(now))?;
    Ok(())
}

/// The card saved here (not deleted) under this gateway reference, if any.
pub async fn active_by_token(
    ex: &mut impl Executor,
    gateway: Gateway,
    token: &str,
) -> Result<Option<PaymentMethod>> {
    let q = format!(
        "SELECT {COLUMNS} FROM payment_methods WHERE gateway = $1 AND token = $2 AND removed_at IS NULL"
    );
    sql_as!(ex, Row, fetch_optional, &q, gateway.as_str(), token)?
        .map(TryInto::try_into)
        .transpose()
}

/// The patient's saved cards that were not deleted, the default first, then newest first.
pub async fn active_for_patient(
    ex: &mut impl Executor,
    patient: PatientId,
) -> Result<Vec<PaymentMethod>> {
    let q = format!(
        "SELECT {COLUMNS} FROM payment_methods WHERE patient_id = $1 AND removed_at IS NULL
         ORDER BY is_default DESC, created_at DESC, id DESC"
    );
    sql_as!(ex, Row, fetch_all, &q, patient.0)?
        .into_iter()
        .map(TryInto::try_into)
        .collect()
}

/// Makes `card` the patient's only default. The old default is cleared first so the unique index holds
/// at every step.
pub async fn set_default(tx: &mut Tx, patient: PatientId, card: PaymentMethodId) -> Result<()> {
    sql!(
        tx,
        execute,
        "UPDATE payment_methods SET is_default = FALSE WHERE patient_id = $1 AND is_default AND id <> $2",
        patient.0,
        card.0
    )?;
    sql!(
        tx,
        execute,
        "UPDATE payment_methods SET is_default = TRUE WHERE id = $1 AND removed_at IS NULL",
        card.0
    )?;
    Ok(())
}

/// Placeholders an imported card holds until the gateway's details are filled in (see migration 0002).
pub const MISSING_LAST4: &str = "····";

/// Records a card imported from a gateway without its display details (older NMI vault records).
pub async fn insert_imported(
    tx: &mut Tx,
    patient: PatientId,
    gateway: Gateway,
    token: &str,
    cardholder_name: &str,
    is_default: bool,
    at: DateTime<Utc>,
) -> Result<PaymentMethod> {
    let q = format!(
        "INSERT INTO payment_methods (patient_id, gateway, token, brand, last4, exp_month, exp_year,
             cardholder_name, is_default, created_at, details_missing)
         VALUES ($1, $2, $3, 'unknown', $4, 12, 2099, $5, $6, $7, TRUE) RETURNING {COLUMNS}"
    );
    sql_as!(
        tx,
        Row,
        fetch_one,
        &q,
        patient.0,
        gateway.as_str(),
        token,
        MISSING_LAST4,
        cardholder_name,
        is_default,
        to_millis(at)
    )?
    .try_into()
}

/// Fills in the details the gateway holds for a card that was imported without them.
pub async fn fill_details(
    tx: &mut Tx,
    card: PaymentMethodId,
    brand: CardBrand,
    last4: &str,
    expiry: CardExpiry,
) -> Result<()> {
    sql!(
        tx,
        execute,
        "UPDATE payment_methods SET brand = $1, last4 = $2, exp_month = $3, exp_year = $4,
             details_missing = FALSE
         WHERE id = $5 AND details_missing",
        brand.as_str(),
        last4,
        expiry.month as i64,
        expiry.year as i64,
        card.0
    )?;
    Ok(())
}

/// Marks the card deleted (the row stays for payments and the activity log that refer to it).
pub async fn remove(tx: &mut Tx, card: PaymentMethodId, at: DateTime<Utc>) -> Result<()> {
    sql!(
        tx,
        execute,
        "UPDATE payment_methods SET removed_at = $1, is_default = FALSE WHERE id = $2 AND removed_at IS NULL",
        to_millis(at),
        card.0
    )?;
    Ok(())
}

/// Saved cards whose expiry month lies between two months (inclusive), counted as year * 12 + month - 1.
pub async fn count_expiring(ex: &mut impl Executor, from_month: i64, to_month: i64) -> Result<i64> {
    Ok(sql_scalar!(
        ex,
        i64,
        fetch_one,
        "SELECT COUNT(*) FROM payment_methods
         WHERE removed_at IS NULL AND exp_year * 12 + exp_month - 1 BETWEEN $1 AND $2",
        from_month,
        to_month
    )?)
}

/// A deletion mark older than this is one that died half-way: it blocks nothing.
pub const DELETING_STALE_AFTER_MS: i64 = 5 * 60 * 1000;

/// Takes the card for a charge inside `tx`: locked (PostgreSQL) until the payment is recorded, refused
/// while another desk deletes it, and refused if a saved card was deleted meanwhile. `saved` is false for
/// a checkout's card used once (recorded removed from the start).
pub async fn claim_for_charge(
    tx: &mut Tx,
    card: PaymentMethodId,
    saved: bool,
    now: DateTime<Utc>,
) -> Result<bool> {
    let lock = match tx.dialect() {
        crate::Dialect::Postgres => " FOR UPDATE",
        crate::Dialect::Sqlite => "",
    };
    let q = format!(
        "SELECT id FROM payment_methods WHERE id = $1 AND ($2 = FALSE OR removed_at IS NULL)
           AND (deleting_since IS NULL OR deleting_since < $3){lock}"
    );
    Ok(sql_scalar!(
        tx,
        i64,
        fetch_optional,
        &q,
        card.0,
        saved,
        to_millis(now) - DELETING_STALE_AFTER_MS
    )?
    .is_some())
}

/// Why a card cannot be deleted right now, if another desk is busy with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteBlock {
    BeingDeleted,
    BeingCharged,
}

/// Marks the card as being deleted (locked until `tx` commits), unless another desk is deleting it or
/// a charge with it is in flight.
pub async fn mark_deleting(
    tx: &mut Tx,
    card: PaymentMethodId,
    now: DateTime<Utc>,
) -> Result<Option<DeleteBlock>> {
    let lock = match tx.dialect() {
        crate::Dialect::Postgres => " FOR UPDATE",
        crate::Dialect::Sqlite => "",
    };
    let q = format!("SELECT deleting_since FROM payment_methods WHERE id = $1{lock}");
    let since: Option<i64> = sql_scalar!(tx, Option<i64>, fetch_optional, &q, card.0)?.flatten();
    if since.is_some_and(|s| s >= to_millis(now) - DELETING_STALE_AFTER_MS) {
        return Ok(Some(DeleteBlock::BeingDeleted));
    }
    let charging: i64 = sql_scalar!(
        tx,
        i64,
        fetch_one,
        "SELECT COUNT(*) FROM payments WHERE payment_method_id = $1 AND status = 'PENDING'",
        card.0
    )?;
    if charging > 0 {
        return Ok(Some(DeleteBlock::BeingCharged));
    }
    sql!(
        tx,
        execute,
        "UPDATE payment_methods SET deleting_since = $1 WHERE id = $2",
        to_millis(now),
        card.0
    )?;
    Ok(None)
}

/// The gateway did not delete it: the card is usable again.
pub async fn clear_deleting(tx: &mut Tx, card: PaymentMethodId) -> Result<()> {
    sql!(
        tx,
        execute,
        "UPDATE payment_methods SET deleting_since = NULL WHERE id = $1",
        card.0
    )?;
    Ok(())
}

/// One zero-amount check of a saved card at its gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    pub card: PaymentMethodId,
    pub at: DateTime<Utc>,
    /// `verified`, `refused` or `unknown`.
    pub outcome: String,
    pub code: Option<String>,
    pub message: Option<String>,
}

#[derive(sqlx::FromRow)]
struct VerificationRow {
    payment_method_id: i64,
    at: i64,
    outcome: String,
    code: Option<String>,
    message: Option<String>,
}

/// Records a check of `card` and what its gateway said.
#[allow(clippy::too_many_arguments)]
pub async fn record_verification(
    tx: &mut Tx,
    card: PaymentMethodId,
    at: DateTime<Utc>,
    outcome: &str,
    code: Option<&str>,
    message: Option<&str>,
    reference: Option<&str>,
    checked_by: Option<i64>,
) -> Result<()> {
    sql!(
        tx,
        execute,
        "INSERT INTO card_verifications (payment_method_id, at, outcome, code, message, reference, checked_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        card.0,
        to_millis(at),
        outcome,
        code,
        message,
        reference,
        checked_by
    )?;
    Ok(())
}

/// The latest check of each of a patient's cards that has one.
pub async fn latest_verifications(
    ex: &mut impl Executor,
    patient: PatientId,
) -> Result<Vec<Verification>> {
    let rows = sql_as!(
        ex,
        VerificationRow,
        fetch_all,
        "SELECT v.payment_method_id, v.at, v.outcome, v.code, v.message
           FROM card_verifications v JOIN payment_methods pm ON pm.id = v.payment_method_id
          WHERE pm.patient_id = $1
            AND v.id = (SELECT MAX(w.id) FROM card_verifications w WHERE w.payment_method_id = v.payment_method_id)",
        patient.0
    )?;
    Ok(rows
        .into_iter()
        .map(|r| Verification {
            card: PaymentMethodId(r.payment_method_id),
            at: from_millis(r.at),
            outcome: r.outcome,
            code: r.code,
            message: r.message,
        })
        .collect())
}
