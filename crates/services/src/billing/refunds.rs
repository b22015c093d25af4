//! Refunds, full or part, against the original transaction (document 003, "Refunds").

use chrono::{DateTime, Utc};
use clinicpay_domain::{InvoiceStatus, Money, OrderStatus, PaymentId, PaymentStatus, Permission};
use clinicpay_gateways::ChargeOutcome;
use clinicpay_store::payments::{Payment, Settlement};
use clinicpay_store::{invoices, orders, payments, refunds};
use serde::Serialize;

use crate::billing::new_key;
use crate::{Actor, Change, Result, ServiceError, Services};

/// A refund as recorded, and what to tell staff.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct RefundResult {
    pub refund: refunds::Refund,
    /// What is left to refund on the payment after this one.
    pub left_to_refund: Money,
    pub message: String,
}

/// Refunded in full: the invoice and its order say so.
pub(crate) async fn mark_refunded(
    tx: &mut clinicpay_store::Tx,
    payment: &Payment,
    now: DateTime<Utc>,
) -> Result<()> {
    // A second charge of an invoice another payment paid: refunding it leaves the invoice paid.
    if payment.duplicate_of.is_some() {
        return Ok(());
    }
    if let Some(invoice) = payment.invoice_id {
        invoices::set_invoice_status(
            tx,
            invoice,
            InvoiceStatus::Paid,
            InvoiceStatus::Refunded,
            now,
        )
        .await?;
    }
    if let Some(order) = payment.order_id {
        orders::set_order_status(tx, order, OrderStatus::Paid, OrderStatus::Refunded, now).await?;
    }
    Ok(())
}

impl Services {
    /// Billing refunds in full the first of two charges of one invoice (a late answer left the other
    /// beside it): the other becomes the invoice's payment and this one the duplicate, so the invoice
    /// stays paid and the warning to refund the duplicate goes away.
    async fn swap_with_duplicate(
        &self,
        tx: &mut clinicpay_store::Tx,
        actor: &Actor,
        payment: &mut Payment,
        now: DateTime<Utc>,
    ) -> Result<()> {
        if payment.duplicate_of.is_some() {
            return Ok(());
        }
        let Some(other) = payments::duplicate_pointing_at(tx, payment.id).await? else {
            return Ok(());
        };
        let refunded: i64 = refunds::refunds_of(tx, other.id)
            .await?
            .iter()
            .filter(|r| r.status != PaymentStatus::Failed)
            .map(|r| r.amount.minor)
            .sum();
        if refunded >= other.amount.minor {
            return Ok(());
        }
        // This one first, so the invoice never has two payments counted as its own.
        payments::set_duplicate_of(tx, payment.id, Some(other.id), now).await?;
        payments::set_duplicate_of(tx, other.id, None, now).await?;
        payment.duplicate_of = Some(other.id);
        Change::new(
            Some(actor),
            now,
            "payment.duplicate_swapped",
            "payment",
            payment.id,
        )
        .patient(payment.patient_id)
        .after(serde_json::json!({
            "refunded": payment.id.0,
            "pays_the_invoice": other.id.0,
            "invoice": payment.invoice_id.map(|i| i.0),
        }))
        .record(tx)
        .await?;
        Ok(())
    }

    /// Refunds all that is left of a payment (None) or part of it, through the gateway that took the
    /// payment, whatever the clinic's active gateway is now.
    pub async fn refund_payment(
        &self,
        actor: &Actor,
        payment_id: PaymentId,
        amount: Option<Money>,
    ) -> Result<RefundResult> {
        actor.require(Permission::RefundWithinLimit)?;
        let settings = self.load_settings().await?;
        let mut payment = {
            let mut r = self.store().reader().await?;
            payments::payment(&mut r, payment_id)
                .await?
                .ok_or_else(|| {
                    ServiceError::NotFound(format!(
                    "There is no payment {payment_id}: check the number in the patient's payments."
                ))
                })?
        };
        if payment.status != PaymentStatus::Succeeded {
            return Err(ServiceError::CardRule(format!(
                "Payment {payment_id} is {}: only a successful payment can be refunded.",
                payment.status.as_str().to_lowercase()
            )));
        }
        let reference = payment.gateway_reference.clone().ok_or_else(|| {
            ServiceError::Internal(format!(
                "payment {payment_id} succeeded without a gateway reference"
            ))
        })?;
        if let Some(a) = amount {
            if a.currency != payment.amount.currency || !a.is_positive() {
                return Err(ServiceError::Invalid(format!(
                    "Give the refund as a positive amount in {}.",
                    payment.amount.currency
                )));
            }
        }
        // The client first: a desk without this gateway's credentials is told so before anything is written.
        let client = self
            .gateway_client(payment.gateway, &settings, Some(payment.patient_id))
            .await?;
        let key = new_key("refund");
        let now = self.now();
        let (refund_id, refund_amount, left_after) = {
            let mut tx = self.store().begin().await?;
            payments::lock_payment(&mut tx, payment_id).await?;
            let taken: i64 = refunds::refunds_of(&mut tx, payment_id)
                .await?
                .iter()
                .filter(|r| r.status != PaymentStatus::Failed)
                .map(|r| r.amount.minor)
                .sum();
            let left = payment.amount.minor - taken;
            if left <= 0 {
                return Err(ServiceError::Conflict(format!(
                    "Payment {payment_id} is already refunded in full: nothing is left to refund."
                )));
            }
            let minor = amount.map_or(left, |a| a.minor);
            if minor > left {
                return Err(ServiceError::Invalid(format!(
                    "A refund of {} is more than the {} left to refund on payment {payment_id}.",
                    Money::from_minor(minor, payment.amount.currency),
                    Money::from_minor(left, payment.amount.currency)
                )));
            }
            // The limit is on what a payment gives back in all, pending and unknown refunds included:
            // two refunds just under it are one refund over it.
            if taken + minor > settings.front_desk_refund_limit_minor {
                actor.require(Permission::RefundAnyAmount)?;
            }
            if minor == left {
                self.swap_with_duplicate(&mut tx, actor, &mut payment, now)
                    .await?;
            }
            let refund_amount = Money::from_minor(minor, payment.amount.currency);
            let id = refunds::insert_refund(
                &mut tx,
                payment_id,
                payment.gateway,
                refund_amount,
                &key,
                Some(actor.id),
                now,
            )
            .await?;
            tx.commit().await?;
            (
                id,
                refund_amount,
                Money::from_minor(left - minor, payment.amount.currency),
            )
        };
        let outcome = client.refund(&reference, Some(refund_amount), &key).await;
        let (to, settlement) = match &outcome {
            ChargeOutcome::Succeeded { reference } => (
                PaymentStatus::Succeeded,
                Settlement {
                    gateway_reference: Some(reference.clone()),
                    ..Settlement::default()
                },
            ),
            ChargeOutcome::Declined {
                code,
                message,
                reference,
            } => (
                PaymentStatus::Failed,
                Settlement {
                    gateway_reference: reference.clone(),
                    code: Some(code.clone()),
                    message: Some(message.clone()),
                },
            ),
            ChargeOutcome::RetryableFailure { message }
            | ChargeOutcome::RefusedAsDuplicate { message } => (
                PaymentStatus::Failed,
                Settlement {
                    code: Some("not_sent".into()),
                    message: Some(message.clone()),
                    ..Settlement::default()
                },
            ),
            ChargeOutcome::Unknown { message } => (
                PaymentStatus::Unknown,
                Settlement {
                    message: Some(message.clone()),
                    ..Settlement::default()
                },
            ),
        };
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let mut late = None;
        if !refunds::settle_refund(
            &mut tx,
            refund_id,
            PaymentStatus::Pending,
            to,
            &settlement,
            now,
        )
        .await?
        {
            // The janitor settled it first, from a look-up, while this answer was on its way.
            let recorded = refunds::refunds_of(&mut tx, payment_id)
                .await?
                .into_iter()
                .find(|r| r.id == refund_id)
                .ok_or_else(|| ServiceError::Internal("the refund vanished".into()))?;
            match (to, recorded.status) {
                // The gateway did refund after all: the money went back, so the record says so, and
                // billing sees the correction in the activity log.
                (PaymentStatus::Succeeded, PaymentStatus::Failed) => {
                    refunds::settle_refund(
                        &mut tx,
                        refund_id,
                        PaymentStatus::Failed,
                        PaymentStatus::Succeeded,
                        &settlement,
                        now,
                    )
                    .await?;
                    late = Some(recorded.status);
                }
                (to, recorded_status) if to == recorded_status => {}
                (to, recorded_status) => {
                    tx.rollback().await.ok();
                    return Err(ServiceError::Conflict(format!(
                        "Refund {refund_id} was already settled as {} from a look-up at {} when its own answer ({}) arrived. Nothing more was done: ask billing to compare it with the gateway dashboard.",
                        recorded_status.as_str(),
                        payment.gateway,
                        to.as_str()
                    )));
                }
            }
        }
        if let Some(was) = late {
            Change::new(Some(actor), now, "refund.late_answer", "payment", payment_id)
                .patient(payment.patient_id)
                .before(serde_json::json!({"refund": refund_id, "status": was.as_str()}))
                .after(serde_json::json!({
                    "refund": refund_id,
                    "status": PaymentStatus::Succeeded.as_str(),
                    "why": format!("{} confirmed the refund after it was recorded as not done", payment.gateway),
                }))
                .record(&mut tx)
                .await?;
        }
        if to == PaymentStatus::Succeeded && left_after.minor == 0 {
            mark_refunded(&mut tx, &payment, now).await?;
        }
        let action = match to {
            PaymentStatus::Succeeded => "refund.succeeded",
            PaymentStatus::Failed => "refund.failed",
            _ => "refund.unknown",
        };
        Change::new(Some(actor), now, action, "payment", payment_id)
            .patient(payment.patient_id)
            .after(serde_json::json!({
                "refund": refund_id,
                "amount": refund_amount,
                "gateway": payment.gateway.as_str(),
                "status": to.as_str(),
                "message": settlement.message,
            }))
            .record(&mut tx)
            .await?;
        let refund = refunds::refunds_of(&mut tx, payment_id)
            .await?
            .into_iter()
            .find(|r| r.id == refund_id)
            .ok_or_else(|| ServiceError::Internal("the refund vanished".into()))?;
        tx.commit().await?;
        match outcome {
            ChargeOutcome::Succeeded { .. } => Ok(RefundResult {
                message: format!(
                    "Refunded {} to the patient through {}.{}",
                    refund_amount,
                    payment.gateway,
                    if left_after.minor == 0 {
                        " The payment is refunded in full.".to_owned()
                    } else {
                        format!(" {left_after} is left to refund.")
                    }
                ),
                refund,
                left_to_refund: left_after,
            }),
            ChargeOutcome::Declined { message, .. } => Err(ServiceError::GatewayRefused(format!(
                "{} did not refund payment {payment_id}: {message}. Check the gateway dashboard and escalate to billing.",
                payment.gateway
            ))),
            ChargeOutcome::RetryableFailure { message }
            | ChargeOutcome::RefusedAsDuplicate { message } => Err(ServiceError::GatewayUnavailable(format!(
                "{} could not be reached, so nothing was refunded ({message}). Try again in a minute.",
                payment.gateway
            ))),
            ChargeOutcome::Unknown { message } => Err(ServiceError::OutcomeUnknown(format!(
                "{}'s answer to refund {refund_id} was lost ({message}). Do not refund again: check the gateway dashboard first.",
                payment.gateway
            ))),
        }
    }
}
