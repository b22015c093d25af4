//! "What to check" (document 003's staff checklist): fourteen checks for a patient or one order, each
//! ok / attention / action needed with one finding, one next step and one action the window can take.

use chrono::Duration;
use clinicpay_domain::{OrderId, PatientId, Permission, RecoveryStatus, SubscriptionStatus};
use clinicpay_store::{invoices, orders, payments, subscriptions};

use super::checks::checks;
use super::facts::{Check, Facts, RemindersFacts, RECENT_DAYS};
use crate::{Actor, Result, ServiceError, Services};

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
        let charged_twice = payments::charged_twice(&mut r, Some(patient)).await?;
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
        let cards = clinicpay_store::payment_methods::active_for_patient(&mut r, patient).await?;
        drop(r);
        let subscription = match &order {
            Some(o) => o
                .subscription_id
                .and_then(|s| subscriptions.iter().find(|x| x.id == s).cloned()),
            None => subscriptions
                .iter()
                .find(|s| s.status != SubscriptionStatus::Cancelled)
                .or(subscriptions.first())
                .cloned(),
        };
        let next_charge = match order.as_ref().or(open_recovery.as_ref()) {
            Some(o) => {
                let sub = o
                    .subscription_id
                    .and_then(|id| subscriptions.iter().find(|s| s.id == id));
                self.next_charge(o, sub, &cards, &settings).await?
            }
            None => None,
        };
        Ok(Facts {
            active: settings.active_gateway,
            reminders: RemindersFacts {
                enabled: settings.reminders.enabled,
                thresholds: settings.reminders.thresholds.clone(),
                mail_server: settings.smtp.host.is_some(),
            },
            patient: patient_record,
            cards: profile_cards,
            invoice,
            latest_payment: payments.into_iter().max_by_key(|p| (p.created_at, p.id.0)),
            charged_twice,
            subscription,
            recovery: open_recovery,
            next_charge,
            order,
            log_ref,
            recent: Duration::days(RECENT_DAYS),
            now: self.now(),
        })
    }
}
