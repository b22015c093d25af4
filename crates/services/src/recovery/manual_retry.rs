//! Staff's Retry of one order (document 003, "Manual Retry") and the retry of a patient's recovery
//! as soon as a card is saved.

use clinicpay_domain::{Gateway, OrderId, OrderStatus, PatientId, PaymentMethodId, Permission};
use clinicpay_store::{invoices, orders};

use super::ChargeHow;
use crate::billing::Charged;
use crate::{Actor, Result, ServiceError, Services};

impl Services {
    /// Manual retry (document 003): only subscription cycle and switch payoff orders, on the active
    /// gateway, the gateway staff chose, or the configured fallback when the first has no card.
    pub async fn retry_order(
        &self,
        actor: &Actor,
        order: OrderId,
        gateway: Option<Gateway>,
    ) -> Result<crate::billing::PaymentResult> {
        actor.require(Permission::RetryRecovery)?;
        let settings = self.load_settings().await?;
        let o = {
            let mut r = self.store().reader().await?;
            orders::order(&mut r, order)
                .await?
                .ok_or_else(|| ServiceError::NotFound(format!("There is no order {order}.")))?
        };
        if !o.kind.allows_manual_retry() {
            return Err(ServiceError::CardRule(format!(
                "Manual retry is only for subscription cycle and switch payoff orders; order {order} is a {} order: take the payment from its invoice instead.",
                o.kind.as_str().to_lowercase().replace('_', " ")
            )));
        }
        if o.status == OrderStatus::Paid {
            return Err(ServiceError::Conflict(format!(
                "Order {order} is paid already (perhaps just now, at another desk): nothing to retry."
            )));
        }
        let target = gateway.unwrap_or(settings.active_gateway);
        let charged = self
            .charge_order(
                Some(actor),
                order,
                ChargeHow {
                    staff_chose: Some(target),
                    allow_fallback: true,
                    just_saved: None,
                },
                &settings,
            )
            .await?;
        self.answer_retry(charged).await
    }

    /// Retries the patient's open recovery orders, as happens when they save a compatible card: with
    /// `just_saved` first, the card they have just given (not the default that was declined), which
    /// becomes the default when it pays (`recovery.promote-successful-card`).
    pub async fn retry_recovery_for_patient(
        &self,
        patient: PatientId,
        just_saved: Option<PaymentMethodId>,
    ) -> Result<u32> {
        let settings = self.load_settings().await?;
        let open = {
            let mut r = self.store().reader().await?;
            orders::open_recovery_orders(&mut r, Some(patient), 100).await?
        };
        let mut paid = 0;
        for order in open {
            if let Ok(Charged::Paid(_)) = self
                .charge_order(
                    None,
                    order.id,
                    ChargeHow {
                        just_saved,
                        ..ChargeHow::ENGINE
                    },
                    &settings,
                )
                .await
            {
                paid += 1;
            }
        }
        Ok(paid)
    }

    /// Listens for saved cards and retries that patient's recovery orders in the background.
    pub fn retry_recovery_when_cards_are_saved(&self) -> tokio::task::JoinHandle<()> {
        let mut events = self.card_saved_events();
        let services = self.clone();
        tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(e) => {
                        let _ = services
                            .retry_recovery_for_patient(e.patient_id, Some(e.card_id))
                            .await;
                    }
                    // Missed announcements: the worker's scheduled retries still cover those patients.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                }
            }
        })
    }

    pub(crate) async fn answer_retry(
        &self,
        charged: Charged,
    ) -> Result<crate::billing::PaymentResult> {
        match charged {
            Charged::Paid(p) => {
                let mut r = self.store().reader().await?;
                let invoice = match p.invoice_id {
                    Some(i) => invoices::invoice(&mut r, i).await?,
                    None => None,
                }
                .ok_or_else(|| {
                    ServiceError::Internal("a paid payment without its invoice".into())
                })?;
                Ok(crate::billing::PaymentResult {
                    message: format!("The retry of {} on {} succeeded.", p.amount, p.gateway),
                    payment: p,
                    invoice,
                })
            }
            Charged::Declined(p, m) => Err(ServiceError::Declined(format!(
                "{} declined the retry (payment {}). {m}",
                p.gateway, p.id
            ))),
            Charged::NotSent(p, m) => Err(ServiceError::GatewayUnavailable(format!(
                "Payment {}: {m}",
                p.id
            ))),
            Charged::Refused(p, m) => Err(ServiceError::GatewayRefused(format!(
                "Payment {}: {m}",
                p.id
            ))),
            Charged::Unknown(p, m) => Err(ServiceError::OutcomeUnknown(format!(
                "Payment {}: {m}",
                p.id
            ))),
        }
    }
}
