//! The billing manager's recovery sweep: every open recovery order retried, with progress and Cancel.

use clinicpay_domain::Permission;
use clinicpay_store::orders;
use serde::Serialize;

use crate::billing::Charged;
use crate::{Actor, Result, Services};

/// How far a recovery sweep is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct SweepProgress {
    /// Open recovery orders when the sweep began.
    pub total: u32,
    pub done: u32,
    /// Of those done, paid now.
    pub paid: u32,
    /// Stopped by staff before the end.
    pub cancelled: bool,
}

impl Services {
    /// A billing manager's recovery sweep: retries every open recovery order now (on its locked or the
    /// active gateway, with the patient's compatible card), reporting after each order, and stops
    /// between orders when `cancel` is set. An order without a compatible card is not charged.
    pub async fn recovery_sweep(
        &self,
        actor: &Actor,
        cancel: &std::sync::atomic::AtomicBool,
        mut progress: impl FnMut(SweepProgress) + Send,
    ) -> Result<SweepProgress> {
        actor.require(Permission::RunBilling)?;
        let settings = self.load_settings().await?;
        let open = {
            let mut r = self.store().reader().await?;
            orders::open_recovery_orders(&mut r, None, 100_000).await?
        };
        let mut p = SweepProgress {
            total: open.len() as u32,
            ..SweepProgress::default()
        };
        progress(p);
        for order in open {
            if cancel.load(std::sync::atomic::Ordering::Relaxed) {
                p.cancelled = true;
                break;
            }
            if let Ok(Charged::Paid(_)) = self
                .charge_order(Some(actor), order.id, super::ChargeHow::ENGINE, &settings)
                .await
            {
                p.paid += 1;
            }
            p.done += 1;
            progress(p);
        }
        progress(p);
        Ok(p)
    }
}
