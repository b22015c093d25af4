//! Checking the activity log has not been edited behind the app's back.

use clinicpay_domain::Permission;
use clinicpay_store::activity::{self, ChainReport};

use crate::{Actor, Result, ServiceError, Services};

impl Services {
    /// Walks the chain and reports what it found, intact or not.
    pub async fn verify_activity_log(&self, actor: &Actor) -> Result<ChainReport> {
        actor.require(Permission::VerifyAudit)?;
        let mut r = self.store().reader().await?;
        Ok(activity::verify(&mut r).await?)
    }

    /// Like [`Services::verify_activity_log`], but a broken chain is an error naming every break.
    pub async fn require_intact_activity_log(&self, actor: &Actor) -> Result<ChainReport> {
        let report = self.verify_activity_log(actor).await?;
        if report.is_intact() {
            return Ok(report);
        }
        let breaks: Vec<String> = report
            .problems
            .iter()
            .map(|p| format!("entry {} {}", p.seq, p.problem))
            .collect();
        Err(ServiceError::ActivityLogTampered(breaks.join("; ")))
    }
}
