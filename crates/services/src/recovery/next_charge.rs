//! Where an unpaid subscription or recovery order's next charge will go and why, in the words the
//! order and "What to check" show: the same routing the billing engine charges by, so the advice on
//! screen is never "needs a Stripe card" while the engine waits for an NMI one.

use clinicpay_domain::routing::RouteReason;
use clinicpay_domain::{
    Gateway, OrderId, OrderStatus, OrganizationSettings, PaymentMethod, RecoveryStatus,
};
use clinicpay_store::orders::Order;
use clinicpay_store::subscriptions::Subscription;
use serde::Serialize;

use super::{ChargeHow, Routed};
use crate::billing::no_card_for;
use crate::{Result, Services};

/// Where an order's next charge goes.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct NextCharge {
    pub order_id: OrderId,
    /// The gateway the next charge goes to; `None` when it cannot be charged as things stand.
    pub gateway: Option<Gateway>,
    /// The card it will use ("Visa ending in 4242").
    pub card: Option<String>,
    pub reason: Option<RouteReason>,
    /// The gateway a card must be saved for when there is none to charge.
    pub needs_card_for: Option<Gateway>,
    /// One sentence for staff: where, with what, and why.
    pub explanation: String,
}

impl Services {
    /// Where `order`'s next charge by the billing engine (or the retry after a card is saved) goes;
    /// `None` for an order nothing will charge again (paid, cancelled, not a subscription's).
    pub(crate) async fn next_charge(
        &self,
        order: &Order,
        sub: Option<&Subscription>,
        cards: &[PaymentMethod],
        settings: &OrganizationSettings,
    ) -> Result<Option<NextCharge>> {
        if !order.kind.allows_manual_retry()
            || matches!(order.status, OrderStatus::Paid | OrderStatus::Cancelled)
            // Recovery ended unpaid: nothing charges it by itself any more (staff may still Retry).
            || order.recovery_status == Some(RecoveryStatus::FailedFinal)
        {
            return Ok(None);
        }
        // Waiting for a new card (a hard decline, no card, retries used up): nothing is charged until
        // one is saved, and that card is tried first; cards already on file are not tried again.
        if order.recovery_status == Some(RecoveryStatus::NeedsPaymentMethod) {
            let active = settings.active_gateway;
            return Ok(Some(NextCharge {
                order_id: order.id,
                gateway: None,
                card: None,
                reason: None,
                needs_card_for: Some(active),
                explanation: format!(
                    "Waiting for a new card: the order is charged as soon as the patient saves one for {active}, with that card. {}",
                    order.last_message.clone().unwrap_or_default()
                )
                .trim_end()
                .to_owned(),
            }));
        }
        let locked = sub.and_then(|s| s.locked_gateway).or(order.locked_gateway);
        // A keychain that does not answer must not keep the patient's account from opening.
        let routed = match self
            .route_order_charge(order.patient_id, locked, cards, ChargeHow::ENGINE, settings)
            .await
        {
            Ok(routed) => routed,
            Err(e) => Routed::NoKey(e),
        };
        let what = if order.subscription_id.is_some() {
            "subscription"
        } else {
            "order"
        };
        Ok(Some(match routed {
            Routed::To {
                card,
                gateway,
                reason,
                passed_over,
            } => {
                let with = card.describe();
                let explanation = match reason {
                    RouteReason::Locked => format!(
                        "The next charge goes to {gateway} with {with}: the {what} is locked to {gateway}, which first charged it."
                    ),
                    RouteReason::Active | RouteReason::StaffChose | RouteReason::CardJustSaved => {
                        format!("The next charge goes to {gateway}, the clinic's gateway, with {with}.")
                    }
                    RouteReason::FollowsClinic => {
                        let old = locked.map(|g| g.to_string()).unwrap_or_default();
                        let why = match passed_over {
                            Some(_) => format!("this computer has no working {old} key"),
                            None => format!("the patient has no usable {old} card"),
                        };
                        format!(
                            "The next charge goes to {gateway} with {with}: the {what} was locked to {old}, but {why}, so it follows the clinic; once paid it stays on {gateway}."
                        )
                    }
                    RouteReason::Fallback => format!(
                        "The next charge goes to {gateway}, the clinic's fallback gateway, with {with}: there is no usable card on {}.",
                        settings.active_gateway
                    ),
                };
                NextCharge {
                    order_id: order.id,
                    gateway: Some(gateway),
                    card: Some(with),
                    reason: Some(reason),
                    needs_card_for: None,
                    explanation,
                }
            }
            Routed::NoCard { gateway } => NextCharge {
                order_id: order.id,
                gateway: None,
                card: None,
                reason: None,
                needs_card_for: Some(gateway),
                explanation: no_card_for(gateway, cards, self.now()).to_string(),
            },
            Routed::NoKey(e) => NextCharge {
                order_id: order.id,
                gateway: None,
                card: None,
                reason: None,
                needs_card_for: None,
                explanation: format!("Not charged until this is fixed: {e}"),
            },
        }))
    }
}
