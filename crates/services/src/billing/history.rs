//! The orders and payments a patient's tabs list, and one order with its invoice and attempts.

use clinicpay_domain::{PatientId, Permission, RecoveryStatus};
use clinicpay_store::invoices::Invoice;
use clinicpay_store::payments::Payment;
use clinicpay_store::{invoices, orders, payments};
use serde::Serialize;

use super::LIST_LIMIT;
use crate::{Actor, Result, ServiceError, Services};

/// An order with its invoice and every payment attempt, for `orders show` and the order screen.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct OrderDetails {
    pub order: orders::Order,
    pub invoice: Option<Invoice>,
    pub payments: Vec<Payment>,
    /// Where its next charge goes and why, while it is unpaid and a subscription's.
    pub next_charge: Option<crate::recovery::NextCharge>,
}

impl Services {
    /// Orders newest first, of one patient or of the clinic, optionally only one recovery status.
    pub async fn list_orders(
        &self,
        actor: &Actor,
        patient: Option<PatientId>,
        recovery: Option<RecoveryStatus>,
    ) -> Result<Vec<orders::Order>> {
        actor.require(Permission::ViewPatients)?;
        let mut r = self.store().reader().await?;
        Ok(orders::orders(&mut r, patient, recovery, LIST_LIMIT).await?)
    }

    pub async fn list_payments(
        &self,
        actor: &Actor,
        patient: Option<PatientId>,
    ) -> Result<Vec<Payment>> {
        actor.require(Permission::ViewPatients)?;
        let mut r = self.store().reader().await?;
        Ok(payments::payments(&mut r, patient, LIST_LIMIT).await?)
    }

    pub async fn order_details(
        &self,
        actor: &Actor,
        id: clinicpay_domain::OrderId,
    ) -> Result<OrderDetails> {
        actor.require(Permission::ViewPatients)?;
        let settings = self.load_settings().await?;
        let mut r = self.store().reader().await?;
        let order = orders::order(&mut r, id).await?.ok_or_else(|| {
            ServiceError::NotFound(format!(
                "There is no order {id}: check the number in the patient's orders."
            ))
        })?;
        let invoice = invoices::invoice_of_order(&mut r, id).await?;
        let payments = payments::payments_of_order(&mut r, id).await?;
        let sub = match order.subscription_id {
            Some(s) => clinicpay_store::subscriptions::subscription(&mut r, s).await?,
            None => None,
        };
        let cards =
            clinicpay_store::payment_methods::active_for_patient(&mut r, order.patient_id).await?;
        drop(r);
        let next_charge = self
            .next_charge(&order, sub.as_ref(), &cards, &settings)
            .await?;
        Ok(OrderDetails {
            order,
            invoice,
            payments,
            next_charge,
        })
    }
}
