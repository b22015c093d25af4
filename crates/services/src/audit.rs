//! Checking the activity log has not been edited behind the app's back.

use clinicpay_domain::Permission;
use clinicpay_store::activity::{self, ChainReport};

use crate::{Actor, Result, Services};

impl Services {
    pub async fn verify_activity_log(&self, actor: &Actor) -> Result<ChainReport> {
        actor.require(Permission::VerifyAudit)?;
        let mut r = self.store().reader().await?;
        Ok(activity::verify(&mut r).await?)
    }
}
