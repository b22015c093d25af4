//! Staff accounts. Only the argon2 hash of a password is stored.

use chrono::{DateTime, Utc};
use clinicpay_domain::{Role, StaffId};
use serde::Serialize;

use crate::{from_millis, to_millis, Executor, Result, StoreError, Tx};

#[derive(Debug, Clone, Serialize)]
pub struct StaffMember {
    pub id: StaffId,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    #[serde(skip)]
    pub password_hash: String,
    /// Wrong passwords in a row since the last good one.
    pub failed_sign_ins: i64,
    /// The name signs in again from this time (five wrong passwords in a row lock it).
    pub locked_until: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    username: String,
    display_name: String,
    role: String,
    password_hash: String,
    active: bool,
    created_at: i64,
    failed_sign_ins: i64,
    locked_until: Option<i64>,
}

impl TryFrom<Row> for StaffMember {
    type Error = StoreError;
    fn try_from(r: Row) -> Result<Self> {
        Ok(StaffMember {
            id: StaffId(r.id),
            role: r
                .role
                .parse()
                .map_err(|e| StoreError::Corrupt(format!("staff {}: {e}", r.id)))?,
            username: r.username,
            display_name: r.display_name,
            active: r.active,
            created_at: from_millis(r.created_at),
            password_hash: r.password_hash,
            failed_sign_ins: r.failed_sign_ins,
            locked_until: r.locked_until.map(from_millis),
        })
    }
}

const COLUMNS: &str = "id, username, display_name, role, password_hash, active, created_at, \
                       failed_sign_ins, locked_until";

pub async fn insert(
    tx: &mut Tx,
    username: &str,
    display_name: &str,
    role: Role,
    password_hash: &str,
    at: DateTime<Utc>,
) -> Result<StaffMember> {
    let q = format!(
        "INSERT INTO staff (username, display_name, role, password_hash, active, created_at)
         VALUES ($1, $2, $3, $4, TRUE, $5) RETURNING {COLUMNS}"
    );
    let row = sql_as!(
        tx,
        Row,
        fetch_one,
        &q,
        username,
        display_name,
        role.as_str(),
        password_hash,
        to_millis(at)
    )?;
    row.try_into()
}

pub async fn by_username(ex: &mut impl Executor, username: &str) -> Result<Option<StaffMember>> {
    let q = format!("SELECT {COLUMNS} FROM staff WHERE username = $1");
    sql_as!(ex, Row, fetch_optional, &q, username)?
        .map(TryInto::try_into)
        .transpose()
}

pub async fn list(ex: &mut impl Executor) -> Result<Vec<StaffMember>> {
    let q = format!("SELECT {COLUMNS} FROM staff ORDER BY username");
    sql_as!(ex, Row, fetch_all, &q)?
        .into_iter()
        .map(TryInto::try_into)
        .collect()
}

pub async fn by_id(ex: &mut impl Executor, id: StaffId) -> Result<Option<StaffMember>> {
    let q = format!("SELECT {COLUMNS} FROM staff WHERE id = $1");
    sql_as!(ex, Row, fetch_optional, &q, id.0)?
        .map(TryInto::try_into)
        .transpose()
}

/// Spends one sign-in attempt before the password is checked; from `lock_after` attempts in a row
/// without a good password the name is locked until `lock_until`. A lock that ran out starts the count
/// again at this attempt. None: the name is locked now (nothing was spent). One statement, so attempts
/// made at the same time from several desks each count.
pub async fn spend_sign_in_attempt(
    tx: &mut Tx,
    id: StaffId,
    lock_after: i64,
    now: DateTime<Utc>,
    lock_until: DateTime<Utc>,
) -> Result<Option<StaffMember>> {
    let q = format!(
        "UPDATE staff SET
            failed_sign_ins = CASE WHEN locked_until IS NOT NULL THEN 1 ELSE failed_sign_ins + 1 END,
            locked_until = CASE
                WHEN (CASE WHEN locked_until IS NOT NULL THEN 1 ELSE failed_sign_ins + 1 END) >= $2
                THEN $3 ELSE NULL END
          WHERE id = $1 AND (locked_until IS NULL OR locked_until <= $4)
          RETURNING {COLUMNS}"
    );
    sql_as!(
        tx,
        Row,
        fetch_optional,
        &q,
        id.0,
        lock_after,
        to_millis(lock_until),
        to_millis(now)
    )?
    .map(TryInto::try_into)
    .transpose()
}

/// A good password: the count starts again and any lock is over.
pub async fn clear_wrong_passwords(tx: &mut Tx, id: StaffId) -> Result<()> {
    sql!(
        tx,
        execute,
        "UPDATE staff SET failed_sign_ins = 0, locked_until = NULL WHERE id = $1",
        id.0
    )?;
    Ok(())
}

/// Whether the account may sign in, and its role.
pub async fn set_access(tx: &mut Tx, id: StaffId, active: bool, role: Role) -> Result<()> {
    sql!(
        tx,
        execute,
        "UPDATE staff SET active = $2, role = $3 WHERE id = $1",
        id.0,
        active,
        role.as_str()
    )?;
    Ok(())
}

/// A new password (reset by IT or changed by its owner) also ends a lock.
pub async fn set_password_hash(tx: &mut Tx, id: StaffId, hash: &str) -> Result<()> {
    sql!(
        tx,
        execute,
        "UPDATE staff SET password_hash = $2, failed_sign_ins = 0, locked_until = NULL WHERE id = $1",
        id.0,
        hash
    )?;
    Ok(())
}

/// Makes staff changes take turns for the rest of the transaction, so a check over all accounts ("no
/// staff yet", "another IT account remains") still holds when the change is written. SQLite's writer
/// transactions already take turns; PostgreSQL's need the table lock.
pub async fn take_turns(tx: &mut Tx) -> Result<()> {
    if let Tx::Postgres(t) = tx {
        sqlx::query("LOCK TABLE staff IN SHARE ROW EXCLUSIVE MODE")
            .execute(&mut **t)
            .await?;
    }
    Ok(())
}
