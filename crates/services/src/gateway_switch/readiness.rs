//! Before the clinic changes its active gateway: who has no card for it, which plans are locked.

use clinicpay_domain::{Gateway, PatientId, Permission};
use clinicpay_store::reminders as repo;
use serde::Serialize;

use crate::reminders::month_of;
use crate::{Actor, Result, Services};

/// Who would break if the clinic moved its active gateway to `to` (issue: gateway-migration readiness).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct GatewayReadiness {
    pub to: Gateway,
    /// Patients with a live subscription or an unpaid invoice and no valid card for `to`.
    pub patients_without_card: Vec<AtRiskPatient>,
    /// Live subscriptions locked to the other gateway: their cycles keep going there after the switch.
    pub locked_subscriptions: Vec<LockedSubscription>,
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct AtRiskPatient {
    pub patient_id: PatientId,
    pub name: String,
    pub email: String,
    #[cfg_attr(feature = "specta", specta(type = i32))]
    pub subscriptions: i64,
    #[cfg_attr(feature = "specta", specta(type = i32))]
    pub open_invoices: i64,
    /// No card at all: a re-save email cannot name one; call them.
    pub has_any_card: bool,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct LockedSubscription {
    pub subscription_id: clinicpay_domain::SubscriptionId,
    pub patient_id: PatientId,
    pub name: String,
    pub plan: String,
    pub locked_gateway: Gateway,
}

impl Services {
    /// Before a switch of the active gateway to `to`: who would have nothing to pay with, and which
    /// subscriptions stay locked to the old gateway.
    pub async fn gateway_readiness(&self, actor: &Actor, to: Gateway) -> Result<GatewayReadiness> {
        actor.require(Permission::ViewReports)?;
        let now = self.now();
        let mut r = self.store().reader().await?;
        let at_risk = repo::without_card_for(&mut r, to.as_str(), month_of(now), 10_000).await?;
        let locked = repo::locked_elsewhere(&mut r, to.as_str(), 10_000).await?;
        drop(r);
        let patients_without_card: Vec<AtRiskPatient> = at_risk
            .into_iter()
            .map(|p| AtRiskPatient {
                patient_id: PatientId(p.patient_id),
                name: p.name,
                email: p.email,
                subscriptions: p.subscriptions,
                open_invoices: p.open_invoices,
                has_any_card: p.newest_card.is_some(),
            })
            .collect();
        let locked_subscriptions: Vec<LockedSubscription> = locked
            .into_iter()
            .map(|l| LockedSubscription {
                subscription_id: clinicpay_domain::SubscriptionId(l.subscription_id),
                patient_id: PatientId(l.patient_id),
                name: l.name,
                plan: l.plan,
                locked_gateway: l.locked_gateway.parse().unwrap_or(to.other()),
            })
            .collect();
        let message = if patients_without_card.is_empty() && locked_subscriptions.is_empty() {
            format!("Every patient with a subscription or an unpaid invoice has a valid card for {to}: the switch breaks nothing.")
        } else {
            format!(
                "{} patient{} with a subscription or an unpaid invoice {} no valid card for {to}; {} subscription{} stay{} locked to the other gateway.",
                patients_without_card.len(),
                if patients_without_card.len() == 1 { "" } else { "s" },
                if patients_without_card.len() == 1 { "has" } else { "have" },
                locked_subscriptions.len(),
                if locked_subscriptions.len() == 1 { "" } else { "s" },
                if locked_subscriptions.len() == 1 { "s" } else { "" },
            )
        };
        Ok(GatewayReadiness {
            to,
            patients_without_card,
            locked_subscriptions,
            message,
        })
    }
}
