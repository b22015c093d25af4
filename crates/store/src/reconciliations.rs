//! Reconciliation runs: each run's verdict and its whole result (JSON), the daily ones once per day.

use chrono::{DateTime, Utc};

use crate::{from_millis, to_millis, Executor, Result, Tx};

/// A run as kept.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RunRow {
    pub id: i64,
    pub ran_at: i64,
    pub from_day: String,
    pub to_day: String,
    pub daily: bool,
    pub clean: bool,
    pub mismatches: i32,
    pub unavailable: bool,
    pub result: String,
    pub ran_by: Option<i64>,
}

impl RunRow {
    pub fn ran_at(&self) -> DateTime<Utc> {
        from_millis(self.ran_at)
    }
}

/// A run to keep.
pub struct NewRun<'a> {
    pub from_day: &'a str,
    pub to_day: &'a str,
    pub daily: bool,
    pub clean: bool,
    pub mismatches: i32,
    pub unavailable: bool,
    pub result: &'a str,
    pub ran_by: Option<i64>,
}

/// Keeps a run; a second daily run for the same day is refused by the database (`Duplicate`).
pub async fn insert(tx: &mut Tx, run: &NewRun<'_>, at: DateTime<Utc>) -> Result<i64> {
    Ok(sql_scalar!(
        tx,
        i64,
        fetch_one,
        "INSERT INTO reconciliations (ran_at, from_day, to_day, daily, clean, mismatches, unavailable, result, ran_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        to_millis(at),
        run.from_day,
        run.to_day,
        run.daily,
        run.clean,
        run.mismatches,
        run.unavailable,
        run.result,
        run.ran_by
    )?)
}

const COLUMNS: &str =
    "id, ran_at, from_day, to_day, daily, clean, mismatches, unavailable, result, ran_by";

/// The newest runs, daily ones only when `daily`.
pub async fn newest(ex: &mut impl Executor, daily_only: bool, limit: i64) -> Result<Vec<RunRow>> {
    let q = format!(
        "SELECT {COLUMNS} FROM reconciliations WHERE daily OR NOT $1 ORDER BY ran_at DESC, id DESC LIMIT $2"
    );
    Ok(sql_as!(ex, RunRow, fetch_all, &q, daily_only, limit)?)
}

/// The daily run of a day, if it ran.
pub async fn daily_of(ex: &mut impl Executor, day: &str) -> Result<Option<RunRow>> {
    let q = format!("SELECT {COLUMNS} FROM reconciliations WHERE daily AND from_day = $1");
    Ok(sql_as!(ex, RunRow, fetch_optional, &q, day)?)
}

/// The newest run of one day's period (daily or not), if any ran after `since`.
pub async fn tried_since(ex: &mut impl Executor, day: &str, since: DateTime<Utc>) -> Result<bool> {
    let n = sql_scalar!(
        ex,
        i64,
        fetch_one,
        "SELECT COUNT(*) FROM reconciliations WHERE from_day = $1 AND to_day = $1 AND ran_at >= $2",
        day,
        to_millis(since)
    )?;
    Ok(n > 0)
}

pub async fn get(ex: &mut impl Executor, id: i64) -> Result<Option<RunRow>> {
    let q = format!("SELECT {COLUMNS} FROM reconciliations WHERE id = $1");
    Ok(sql_as!(ex, RunRow, fetch_optional, &q, id)?)
}

/// The worker's newest run: the day's verdict, or an attempt whose gateway could not be asked.
pub async fn newest_by_worker(ex: &mut impl Executor) -> Result<Option<RunRow>> {
    let q = format!(
        "SELECT {COLUMNS} FROM reconciliations WHERE daily OR ran_by IS NULL ORDER BY ran_at DESC, id DESC LIMIT 1"
    );
    Ok(sql_as!(ex, RunRow, fetch_optional, &q)?)
}
