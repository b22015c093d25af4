//! Recovery moved on by the calendar: suspension on the suspend day, FAILED_FINAL and the final notice.

use chrono::{DateTime, Utc};
use clinicpay_domain::{SubscriptionId, SubscriptionStatus};
use clinicpay_store::{orders, subscriptions, Tx};

use crate::recovery::{recovery_update_after_failure, WorkerReport};
use crate::{Change, Result, Services};

impl Services {
    /// Suspends subscriptions from the suspension day and ends recovery with the final notice from the
    /// final day, counted from the first failure.
    pub(crate) async fn apply_recovery_deadlines(&self, report: &mut WorkerReport) -> Result<()> {
        let settings = self.load_settings().await?;
        let now = self.now();
        let open = {
            let mut r = self.store().reader().await?;
            orders::open_recovery_orders(&mut r, None, 10_000).await?
        };
        for order in open {
            let Some(first) = order.first_failed_at else {
                continue;
            };
            let day = (now - first).num_days();
            let mut tx = self.store().begin().await?;
            if day >= settings.recovery.final_day as i64 {
                let mut u = recovery_update_after_failure(&order, true, "", now, &settings);
                u.attempts = order.attempts;
                u.last_message = Some(format!(
                    "Final notice: no payment {day} days after the first failure. Recovery has ended; the subscription stays suspended."
                ));
                orders::set_recovery(&mut tx, order.id, &u, now).await?;
                if let Some(sub) = order.subscription_id {
                    if suspend(&mut tx, sub, now).await? {
                        report.suspended += 1;
                    }
                }
                Change::new(None, now, "recovery.final_notice", "order", order.id)
                    .by_system("ClinicPay (payment recovery)")
                    .patient(order.patient_id)
                    .after(serde_json::json!({ "recovery_status": "FAILED_FINAL", "day": day }))
                    .record(&mut tx)
                    .await?;
                report.failed_final += 1;
            } else if day >= settings.recovery.suspend_day as i64 {
                if let Some(sub) = order.subscription_id {
                    if suspend(&mut tx, sub, now).await? {
                        Change::new(None, now, "subscription.suspended", "subscription", sub)
                            .by_system("ClinicPay (payment recovery)")
                            .patient(order.patient_id)
                            .after(serde_json::json!({ "day": day, "order": order.id.0 }))
                            .record(&mut tx)
                            .await?;
                        report.suspended += 1;
                    }
                }
            }
            tx.commit().await?;
        }
        Ok(())
    }
}

/// Suspends a subscription still in its grace period (active) or paused; true when it changed.
async fn suspend(tx: &mut Tx, sub: SubscriptionId, now: DateTime<Utc>) -> Result<bool> {
    for from in [SubscriptionStatus::Active, SubscriptionStatus::Paused] {
        if subscriptions::set_subscription_status(tx, sub, from, SubscriptionStatus::Suspended, now)
            .await?
        {
            return Ok(true);
        }
    }
    Ok(false)
}
