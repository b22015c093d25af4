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
        })
    }
}

const COLUMNS: &str = "id, username, display_name, role, password_hash, active, created_at";

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
