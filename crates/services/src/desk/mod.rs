//! The front desk's helpers around one patient (document 003, "Staff Checklist", "Escalation"): the
//! hosted card form (`card_form`), the patient's account, "What to check" (`what_to_check` gathers the
//! `facts`; `checks` holds the fourteen checks, each a named function) and the escalation report
//! (`escalation`).

mod card_form;
mod checks;
mod escalation;
mod facts;
mod session;
mod what_to_check;

pub use card_form::{
    CardForm, NMI_COLLECT_JS, STRIPE_JS, TRAINING_NMI_TOKENIZATION_KEY,
    TRAINING_STRIPE_PUBLISHABLE_KEY,
};
pub use escalation::{
    escalation_pdf, write_escalation_pdf, EscalationReport, ReportLine, SavedReport,
};
pub use facts::{Check, CheckAction, CheckLevel};
pub use session::DeskSession;

use crate::{Actor, Result, Services};
use clinicpay_domain::{PatientId, Permission};
use clinicpay_store::invoices::Invoice;
use clinicpay_store::orders::Order;
use clinicpay_store::payments::Payment;
use clinicpay_store::subscriptions::Subscription;
use clinicpay_store::{invoices, orders, payments, subscriptions};
use serde::Serialize;

/// A patient's money records, newest first.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct PatientAccount {
    pub invoices: Vec<Invoice>,
    pub orders: Vec<Order>,
    pub payments: Vec<Payment>,
    pub subscriptions: Vec<Subscription>,
    /// Where each unpaid subscription or recovery order's next charge goes, and why.
    pub next_charges: Vec<crate::recovery::NextCharge>,
}

impl Services {
    pub async fn patient_account(
        &self,
        actor: &Actor,
        patient: PatientId,
    ) -> Result<PatientAccount> {
        actor.require(Permission::ViewPatients)?;
        let settings = self.load_settings().await?;
        const LIMIT: i64 = 200;
        let (invoices, orders, payments, subscriptions, cards) = {
            let mut r = self.store().reader().await?;
            (
                invoices::invoices(&mut r, Some(patient), LIMIT).await?,
                orders::orders(&mut r, Some(patient), None, LIMIT).await?,
                payments::payments(&mut r, Some(patient), LIMIT).await?,
                subscriptions::subscriptions(&mut r, Some(patient), LIMIT).await?,
                clinicpay_store::payment_methods::active_for_patient(&mut r, patient).await?,
            )
        };
        let mut next_charges = Vec::new();
        for o in &orders {
            let sub = o
                .subscription_id
                .and_then(|id| subscriptions.iter().find(|s| s.id == id));
            if let Some(next) = self.next_charge(o, sub, &cards, &settings).await? {
                next_charges.push(next);
            }
        }
        Ok(PatientAccount {
            invoices,
            orders,
            payments,
            subscriptions,
            next_charges,
        })
    }
}
