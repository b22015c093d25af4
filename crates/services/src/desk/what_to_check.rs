//! "What to check" (document 003's staff checklist): thirteen checks for a patient or one order, each
//! ok / attention / action needed with one finding, one next step and one action the window can take.

use crate::cards::CardView;
use crate::desk::checks::checks;
use crate::{Actor, Result, ServiceError, Services};
use chrono::Duration;
use clinicpay_domain::{
    Gateway, OrderId, PatientId, Permission, RecoveryStatus, SubscriptionStatus,
};
use clinicpay_store::invoices::Invoice;
use clinicpay_store::orders::Order;
use clinicpay_store::payments::Payment;
use clinicpay_store::subscriptions::Subscription;
use clinicpay_store::{invoices, orders, payments, subscriptions};
use serde::Serialize;

/// Green, amber or red.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum CheckLevel {
    Ok,
    Attention,
    ActionNeeded,
}

/// The one thing the window can do about a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum CheckAction {
    /// Open Add payment method (for the active gateway).
    AddCard,
    /// Open the Payment methods tab to choose another default.
    ChooseDefault,
    OpenInvoices,
    OpenOrders,
    OpenPayments,
    Escalate,
}

/// One line of "What to check".
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Check {
    /// Document 003's name for the check, e.g. "Default method".
    pub name: String,
    pub level: CheckLevel,
    /// One line: what was found.
    pub finding: String,
    /// One line: what to do next, when anything.
    pub next_step: Option<String>,
    pub action: Option<CheckAction>,
}

/// A card saved this recently counts as "recently re-saved".
pub(super) const RECENT_DAYS: i64 = 14;

/// What the checks are computed from.
pub(super) struct Facts {
    pub(super) active: Gateway,
    pub(super) patient: clinicpay_domain::Patient,
    pub(super) cards: Vec<CardView>,
    pub(super) order: Option<Order>,
    pub(super) invoice: Option<Invoice>,
    pub(super) latest_payment: Option<Payment>,
    pub(super) subscription: Option<Subscription>,
    pub(super) recovery: Option<Order>,
    pub(super) log_ref: Option<i64>,
    pub(super) recent: Duration,
    pub(super) now: chrono::DateTime<chrono::Utc>,
}

impl Facts {
    pub(super) fn compatible(&self) -> impl Iterator<Item = &CardView> {
        self.cards
            .iter()
            .filter(|c| c.gateway == self.active && !c.expired)
    }

    pub(super) fn default_card(&self) -> Option<&CardView> {
        self.cards.iter().find(|c| c.is_default)
    }

    pub(super) fn resaved_recently(&self) -> Option<&CardView> {
        self.cards
            .iter()
            .filter(|c| c.gateway == self.active && self.now - c.added_at <= self.recent)
            .max_by_key(|c| c.added_at)
    }
}

impl Services {
    /// Document 003's checks for a patient, and for one of their orders when given.
    pub async fn what_to_check(
        &self,
        actor: &Actor,
        patient: PatientId,
        order: Option<OrderId>,
    ) -> Result<Vec<Check>> {
        let facts = self.facts(actor, patient, order).await?;
        Ok(checks(&facts))
    }

    pub(super) async fn facts(
        &self,
        actor: &Actor,
        patient: PatientId,
        order: Option<OrderId>,
    ) -> Result<Facts> {
        actor.require(Permission::ViewPatients)?;
        let settings = self.load_settings().await?;
        let profile_cards = self.list_cards(actor, patient).await?;
        let mut r = self.store().reader().await?;
        let patient_record = clinicpay_store::patients::get(&mut r, patient)
            .await?
            .ok_or_else(|| {
                ServiceError::NotFound(format!(
                    "There is no patient {patient}: search for them again."
                ))
            })?;
        let order = match order {
            Some(id) => Some(orders::order(&mut r, id).await?.ok_or_else(|| {
                ServiceError::NotFound(format!(
                    "There is no order {id}: check the number in the patient's orders."
                ))
            })?),
            None => None,
        };
        if let Some(o) = &order {
            if o.patient_id != patient {
                return Err(ServiceError::Invalid(format!(
                    "Order {} belongs to another patient: open it from that patient's profile.",
                    o.id
                )));
            }
        }
        let invoices = invoices::invoices(&mut r, Some(patient), 20).await?;
        let payments = match &order {
            Some(o) => payments::payments_of_order(&mut r, o.id).await?,
            None => payments::payments(&mut r, Some(patient), 20).await?,
        };
        let subscriptions = subscriptions::subscriptions(&mut r, Some(patient), 20).await?;
        let orders = orders::orders(&mut r, Some(patient), None, 50).await?;
        let invoice = match &order {
            Some(o) => invoices::invoice_of_order(&mut r, o.id).await?,
            None => invoices.first().cloned(),
        };
        let log_ref = clinicpay_store::processor_log::list(&mut r, None, Some(patient.0), 1)
            .await?
            .first()
            .map(|e| e.id);
        let open_recovery = match &order {
            Some(o) if o.recovery_status.is_some() => Some(o.clone()),
            _ => orders
                .iter()
                .find(|o| o.recovery_status.is_some_and(RecoveryStatus::is_open))
                .cloned(),
        };
        Ok(Facts {
            active: settings.active_gateway,
            patient: patient_record,
            cards: profile_cards,
            invoice,
            latest_payment: payments.into_iter().max_by_key(|p| (p.created_at, p.id.0)),
            subscription: match &order {
                Some(o) => o
                    .subscription_id
                    .and_then(|s| subscriptions.iter().find(|x| x.id == s).cloned()),
                None => subscriptions
                    .iter()
                    .find(|s| s.status != SubscriptionStatus::Cancelled)
                    .or(subscriptions.first())
                    .cloned(),
            },
            recovery: open_recovery,
            order,
            log_ref,
            recent: Duration::days(RECENT_DAYS),
            now: self.now(),
        })
    }
}
