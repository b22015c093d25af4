//! `clinicpay db copy --to postgres://…`: a single-desk clinic (SQLite) moves to the clinic's
//! PostgreSQL so several desks can share it. Every row is copied in one transaction and then checked;
//! the activity chain is verified on the new database before anyone uses it.

use clinicpay_store::copy::TableCopy;
use clinicpay_store::Store;
use serde::Serialize;

use crate::{Change, Result, ServiceError, Services};

#[derive(Debug, Clone, Serialize)]
pub struct CopyReport {
    /// The PostgreSQL address, without its password.
    pub to: String,
    pub tables: Vec<TableCopy>,
    pub rows: i64,
    pub activity_entries: i64,
    pub activity_chain_intact: bool,
    pub verified: bool,
    pub message: String,
}

impl Services {
    /// Copies this (SQLite) clinic into the empty PostgreSQL database at `to`.
    pub async fn copy_to_postgres(&self, to: &str) -> Result<CopyReport> {
        if !to.starts_with("postgres://") && !to.starts_with("postgresql://") {
            return Err(ServiceError::Invalid(
                "--to must be the clinic's PostgreSQL address, like postgres://clinicpay@db.clinic.local/clinicpay.".into(),
            ));
        }
        // A desk billing this clinic meanwhile would charge in the old database what the new one then
        // charges again: the copy waits until its billing engine has stopped.
        let now = self.fresh_now().await?;
        let engine = {
            let mut r = self.store().reader().await?;
            clinicpay_store::engine::load(&mut r).await?
        };
        if let Some((id, name, kind)) = engine.holder_at(now) {
            if id != self.worker_id() {
                return Err(ServiceError::Conflict(format!(
                    "The billing engine is running on this clinic (the {kind} {name}): close ClinicPay there (or stop `clinicpay worker`) first, so nothing is charged in this database while it is copied; then copy again."
                )));
            }
        }
        let target = Store::open_with(to, &self.managed().database_trust()).await?;
        let tables = clinicpay_store::copy::sqlite_to_postgres(self.store(), &target).await?;
        let chain = {
            let mut r = target.reader().await?;
            clinicpay_store::activity::verify(&mut r).await?
        };
        let rows = tables.iter().map(|t| t.rows).sum();
        let verified = tables.iter().all(|t| t.verified) && chain.is_intact();
        let redacted = clinicpay_store::redact_url(to);
        if !verified {
            let differ: Vec<_> = tables
                .iter()
                .filter(|t| !t.verified)
                .map(|t| t.table.as_str())
                .collect();
            return Err(ServiceError::Internal(format!(
                "the copy in {redacted} does not match this clinic (tables {differ:?}, activity chain intact: {}); keep using this desk's database and give IT this message",
                chain.is_intact()
            )));
        }
        // The new database says where it came from, at the end of its (verified) chain.
        let mut tx = target.begin().await?;
        Change::new(None, self.now(), "database.copied", "database", "sqlite")
            .after(serde_json::json!({ "rows": rows, "tables": tables.len(), "activity_entries": chain.entries }))
            .record(&mut tx)
            .await?;
        tx.commit().await?;
        target.close().await;
        Ok(CopyReport {
            message: format!(
                "Copied {rows} rows in {} tables into {redacted}; every table checked, and the activity log's chain of {} entries is intact. Point the desks at it (database-url in the managed configuration).",
                tables.len(),
                chain.entries
            ),
            to: redacted,
            tables,
            rows,
            activity_entries: chain.entries,
            activity_chain_intact: true,
            verified,
        })
    }
}
