//! Subscriptions (document 003, "Subscription Billing"): starting a plan, listing a patient's plans,
//! switching plan with what is left of the paid cycle credited. Billing their cycles and recovering
//! failed ones is in `recovery`.

use clinicpay_domain::recovery::previous_cycle;
use clinicpay_domain::{
    BillingInterval, Money, OrderId, OrderKind, OrderStatus, PatientId, Permission, SubscriptionId,
    SubscriptionStatus,
};
use clinicpay_store::subscriptions;
use clinicpay_store::subscriptions::{NewSubscription, Subscription};
use serde::Serialize;

use crate::billing::{insert_order_with_invoice, Charged, OrderToBill};
use crate::{Actor, Change, Result, ServiceError, Services};

/// What a plan switch did.
#[derive(Debug, Clone, Serialize)]
pub struct SwitchResult {
    pub subscription: Subscription,
    pub payoff_order: Option<OrderId>,
    pub message: String,
}

const LIST_LIMIT: i64 = 500;

impl Services {
    pub async fn create_subscription(
        &self,
        actor: &Actor,
        patient: PatientId,
        plan: &str,
        amount: Money,
        interval: &str,
    ) -> Result<Subscription> {
        actor.require(Permission::TakePayments)?;
        let settings = self.load_settings().await?;
        let plan = plan.trim();
        if plan.is_empty() {
            return Err(ServiceError::Invalid("Give the plan a name.".into()));
        }
        let interval: BillingInterval = interval
            .parse()
            .map_err(|e: clinicpay_domain::DomainError| ServiceError::Invalid(e.to_string()))?;
        if amount.currency != settings.currency || !amount.is_positive() {
            return Err(ServiceError::Invalid(format!(
                "Give the plan's amount as a positive amount in {}.",
                settings.currency
            )));
        }
        let now = self.now();
        let mut tx = self.store().begin().await?;
        self.require_patient(&mut tx, patient).await?;
        // The patient first, as every change to a patient's cards and plans: the database copies a
        // patient's default card onto the plans (migration 0028), and two of these at once must take turns.
        clinicpay_store::patients::lock(&mut tx, patient).await?;
        // The first cycle is due at once: the worker bills it on its next pass.
        let id = subscriptions::insert_subscription(
            &mut tx,
            &NewSubscription {
                patient_id: patient,
                plan: plan.into(),
                amount,
                interval,
                status: SubscriptionStatus::Active,
                next_cycle_at: now,
                locked_gateway: None,
            },
            now,
        )
        .await?;
        let sub = subscriptions::subscription(&mut tx, id)
            .await?
            .ok_or_else(|| ServiceError::Internal("the new subscription vanished".into()))?;
        Change::new(Some(actor), now, "subscription.created", "subscription", id)
            .patient(patient)
            .after(&sub)
            .record(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(sub)
    }

    pub async fn list_subscriptions(
        &self,
        actor: &Actor,
        patient: Option<PatientId>,
    ) -> Result<Vec<Subscription>> {
        actor.require(Permission::ViewPatients)?;
        let mut r = self.store().reader().await?;
        Ok(subscriptions::subscriptions(&mut r, patient, LIST_LIMIT).await?)
    }

    /// Moves a subscription to another plan. The difference for the rest of the current cycle, when the
    /// new plan costs more, is a switch-payoff order charged at once on the subscription's gateway.
    pub async fn switch_plan(
        &self,
        actor: &Actor,
        id: SubscriptionId,
        plan: &str,
        amount: Money,
    ) -> Result<SwitchResult> {
        actor.require(Permission::TakePayments)?;
        let now = self.now();
        let (sub, payoff) = {
            let mut tx = self.store().begin().await?;
            let sub = subscriptions::subscription(&mut tx, id)
                .await?
                .ok_or_else(|| ServiceError::NotFound(format!("There is no subscription {id}.")))?;
            if sub.status == SubscriptionStatus::Cancelled {
                return Err(ServiceError::CardRule(format!(
                    "Subscription {id} is cancelled: start a new one instead."
                )));
            }
            if amount.currency != sub.amount.currency
                || !amount.is_positive()
                || plan.trim().is_empty()
            {
                return Err(ServiceError::Invalid(format!(
                    "Give the new plan a name and a positive amount in {}.",
                    sub.amount.currency
                )));
            }
            // What is left of the paid cycle, as a share of the cycle, priced at the difference.
            let cycle_start = previous_cycle(sub.next_cycle_at, sub.interval);
            let cycle = (sub.next_cycle_at - cycle_start).num_seconds().max(1);
            let left = (sub.next_cycle_at - now).num_seconds().clamp(0, cycle);
            let difference = amount.minor - sub.amount.minor;
            let payoff_minor =
                (i128::from(difference) * i128::from(left) / i128::from(cycle)) as i64;
            subscriptions::set_plan(&mut tx, id, plan.trim(), amount, now).await?;
            let payoff = if payoff_minor > 0 {
                let payoff_amount = Money::from_minor(payoff_minor, amount.currency);
                let description = format!("Switch to {} (rest of the current cycle)", plan.trim());
                let (order, _) = insert_order_with_invoice(
                    &mut tx,
                    OrderToBill {
                        patient: sub.patient_id,
                        kind: OrderKind::SwitchPayoff,
                        status: OrderStatus::Pending,
                        description: &description,
                        amount: payoff_amount,
                        subscription: Some(id),
                        cycle_start_at: None,
                        locked_gateway: sub.locked_gateway,
                    },
                    now,
                )
                .await?;
                Some(order)
            } else {
                None
            };
            Change::new(Some(actor), now, "subscription.plan_switched", "subscription", id)
                .patient(sub.patient_id)
                .before(serde_json::json!({ "plan": sub.plan, "amount": sub.amount }))
                .after(serde_json::json!({ "plan": plan.trim(), "amount": amount, "payoff_order": payoff.map(|o| o.0) }))
                .record(&mut tx)
                .await?;
            tx.commit().await?;
            (sub, payoff)
        };
        let settings = self.load_settings().await?;
        let message = match payoff {
            None => format!("Subscription {id} moves to {} from its next cycle.", plan.trim()),
            Some(order) => match self.charge_order(Some(actor), order, crate::recovery::ChargeHow::ENGINE, &settings).await {
                Ok(Charged::Paid(p)) => format!(
                    "Subscription {id} is on {} now; the difference of {} for this cycle was paid.",
                    plan.trim(),
                    p.amount
                ),
                Ok(_) | Err(_) => format!(
                    "Subscription {id} is on {} now; the difference for this cycle could not be charged: order {order} is in payment recovery.",
                    plan.trim()
                ),
            },
        };
        let mut r = self.store().reader().await?;
        Ok(SwitchResult {
            subscription: subscriptions::subscription(&mut r, sub.id)
                .await?
                .ok_or_else(|| ServiceError::Internal("the subscription vanished".into()))?,
            payoff_order: payoff,
            message,
        })
    }
}
