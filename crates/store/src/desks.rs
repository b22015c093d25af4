//! The desk inventory: one row per computer running ClinicPay, refreshed while it runs.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::{from_millis, to_millis, Executor, Result};

/// What a desk says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeskReport {
    pub desk_id: String,
    pub name: String,
    pub app_version: String,
    pub os: String,
    pub database_kind: String,
    pub channel: String,
    pub managed: bool,
    /// This computer's clock minus the database's, in milliseconds, when measured.
    pub clock_skew_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct DeskRow {
    pub desk_id: String,
    pub name: String,
    pub app_version: String,
    pub os: String,
    pub database_kind: String,
    pub channel: String,
    pub managed: bool,
    pub first_seen_at: i64,
    pub last_seen_at: i64,
    pub clock_skew_ms: Option<i64>,
}

impl DeskRow {
    pub fn last_seen(&self) -> DateTime<Utc> {
        from_millis(self.last_seen_at)
    }
    pub fn first_seen(&self) -> DateTime<Utc> {
        from_millis(self.first_seen_at)
    }
}

/// Records that `desk` is running now (new desks are added; known ones updated).
pub async fn seen(ex: &mut impl Executor, desk: &DeskReport, now: DateTime<Utc>) -> Result<()> {
    sql!(
        ex,
        execute,
        "INSERT INTO desks (desk_id, name, app_version, os, database_kind, channel, managed, first_seen_at, last_seen_at, clock_skew_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9)
         ON CONFLICT (desk_id) DO UPDATE SET name = $2, app_version = $3, os = $4, database_kind = $5,
                channel = $6, managed = $7, last_seen_at = $8, clock_skew_ms = $9",
        &desk.desk_id,
        &desk.name,
        &desk.app_version,
        &desk.os,
        &desk.database_kind,
        &desk.channel,
        desk.managed,
        to_millis(now),
        desk.clock_skew_ms
    )?;
    Ok(())
}

/// Every desk, most recently seen first.
pub async fn list(ex: &mut impl Executor) -> Result<Vec<DeskRow>> {
    Ok(sql_as!(
        ex,
        DeskRow,
        fetch_all,
        "SELECT desk_id, name, app_version, os, database_kind, channel, managed, first_seen_at, last_seen_at, clock_skew_ms
           FROM desks ORDER BY last_seen_at DESC, name"
    )?)
}
