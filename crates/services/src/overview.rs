//! The front desk's start-of-day view: how the clinic stands and who needs a call.

use chrono::{Datelike, Duration};
use clinicpay_domain::{Gateway, Permission};
use clinicpay_store::orders::RecoveryLine;
use clinicpay_store::overview::ClinicCounts;
use clinicpay_store::payment_methods;
use clinicpay_store::{orders, overview};
use serde::Serialize;

use crate::{Actor, Result, Services};

#[derive(Debug, Clone, Serialize)]
pub struct FrontDeskOverview {
    pub clinic_name: String,
    pub active_gateway: Gateway,
    pub counts: ClinicCounts,
    pub cards_expired: i64,
    pub cards_expiring_within_30_days: i64,
    pub needs_attention: Vec<RecoveryLine>,
}

fn month_index(d: chrono::DateTime<chrono::Utc>) -> i64 {
    d.year() as i64 * 12 + d.month0() as i64
}

impl Services {
    pub async fn front_desk_overview(&self, actor: &Actor) -> Result<FrontDeskOverview> {
        actor.require(Permission::ViewPatients)?;
        let settings = self.load_settings().await?;
        let now = self.now();
        let mut r = self.store().reader().await?;
        let counts = overview::clinic_counts(&mut r).await?;
        let this_month = month_index(now);
        // Months are whole: "within 30 days" counts cards whose last valid day is within 30 days.
        let horizon = month_index(now + Duration::days(30)) - 1;
        let cards_expired = payment_methods::count_expiring(&mut r, 0, this_month - 1).await?;
        let cards_expiring =
            payment_methods::count_expiring(&mut r, this_month, horizon.max(this_month)).await?;
        let needs_attention = orders::open_recoveries(&mut r, 10).await?;
        Ok(FrontDeskOverview {
            clinic_name: settings.clinic_name,
            active_gateway: settings.active_gateway,
            counts,
            cards_expired,
            cards_expiring_within_30_days: cards_expiring,
            needs_attention,
        })
    }
}
