//! Sending one charge and settling its answer: recorded PENDING first, then Succeeded, Failed or
//! Unknown from exactly the status seen; a paid invoice closes its order and any recovery.

use chrono::{DateTime, Utc};
use clinicpay_domain::decline::advise;
use clinicpay_domain::{
    Gateway, InvoiceStatus, OrderStatus, OrganizationSettings, PaymentId, PaymentMethod,
    PaymentStatus, RecoveryStatus,
};
use clinicpay_gateways::{ChargeOutcome, ChargeRequest};
use clinicpay_store::invoices::Invoice;
use clinicpay_store::payments::{NewPayment, Payment, Settlement};
use clinicpay_store::{invoices, orders, patients, payments, StoreError};

use crate::billing::{new_key, no_card_for, Charged, PaymentResult, DUPLICATE_REFUSED};
use crate::{Actor, Change, Result, ServiceError, Services};

impl Services {
    /// The one way a card is charged. Records the payment PENDING (committed) before the gateway is
    /// called, then settles it with the gateway's answer. `check_duplicates`: a payment taken at the
    /// desk keeps the gateway's duplicate check as a second net; the billing engine's charges do not.
    pub(crate) async fn charge_invoice(
        &self,
        actor: Option<&Actor>,
        invoice: &Invoice,
        card: &PaymentMethod,
        gateway: Gateway,
        settings: &OrganizationSettings,
        check_duplicates: bool,
    ) -> Result<Charged> {
        if card.gateway != gateway {
            return Err(no_card_for(gateway, &[], self.now()));
        }
        // Everything that can fail without touching money fails here, before a payment row exists.
        let client = self
            .gateway_client(gateway, settings, Some(invoice.patient_id))
            .await?;
        let customer = {
            let mut r = self.store().reader().await?;
            patients::gateway_customer(&mut r, invoice.patient_id, gateway).await?
        };
        let key = new_key("pay");
        // A billing engine that lost its lease (a laptop that slept through a takeover) stops here,
        // before anything is recorded or sent: the desk that took over charges it.
        self.require_engine_lease().await?;
        let now = self.fresh_now().await?;
        let payment_id = {
            let mut tx = self.store().begin().await?;
            // The card is held until the payment is recorded: a desk deleting it meanwhile waits, and
            // one that is deleting it already makes this charge stop here, before the gateway. The
            // patient first, then the card: every desk takes them in this order, so none waits on another.
            clinicpay_store::patients::lock(&mut tx, invoice.patient_id).await?;
            if !clinicpay_store::payment_methods::claim_for_charge(
                &mut tx,
                card.id,
                card.removed_at.is_none(),
                now,
            )
            .await?
            {
                return Err(ServiceError::Conflict(format!(
                    "{} is being deleted at another desk, or was just deleted: nothing was charged. Choose another card.",
                    card.describe()
                )));
            }
            let id = payments::insert_payment(
                &mut tx,
                &NewPayment {
                    patient_id: invoice.patient_id,
                    invoice_id: Some(invoice.id),
                    order_id: invoice.order_id,
                    payment_method_id: Some(card.id),
                    gateway,
                    amount: invoice.amount,
                    status: PaymentStatus::Pending,
                    idempotency_key: key.clone(),
                    gateway_reference: None,
                    decline_code: None,
                    decline_message: None,
                    created_by: actor.map(|a| a.id),
                },
                now,
            )
            .await
            .map_err(|e| match e {
                StoreError::Duplicate(_) => ServiceError::Conflict(format!(
                    "Another desk is paying invoice {} right now, or has just paid it: nothing was charged here. Reload the invoice to see its payment.",
                    invoice.id
                )),
                other => other.into(),
            })?;
            tx.commit().await?;
            id
        };
        let outcome = client
            .charge(&ChargeRequest {
                payment_key: key,
                card_token: card.token.clone(),
                customer,
                amount: invoice.amount,
                check_duplicates,
            })
            .await;
        self.settle(payment_id, PaymentStatus::Pending, outcome, actor)
            .await
    }

    /// Writes a gateway's answer for a payment, from the status the caller saw.
    pub(crate) async fn settle(
        &self,
        payment_id: PaymentId,
        from: PaymentStatus,
        outcome: ChargeOutcome,
        actor: Option<&Actor>,
    ) -> Result<Charged> {
        // Read before the transaction: a connection taken while holding another can exhaust the pool
        // when several charges settle at once.
        let settings = self.load_settings().await?;
        let now = self.fresh_now().await?;
        let mut tx = self.store().begin().await?;
        let payment = payments::payment(&mut tx, payment_id)
            .await?
            .ok_or_else(|| ServiceError::Internal(format!("payment {payment_id} vanished")))?;
        // The patient first, as every change to a patient's cards and plans takes it: settling may
        // resume a plan and make its card the default, and a desk changing the same patient's cards
        // updates those plans through the database's copies (migration 0028) in the other order.
        patients::lock(&mut tx, payment.patient_id).await?;
        let (to, settlement, message) = match &outcome {
            ChargeOutcome::Succeeded { reference } => (
                PaymentStatus::Succeeded,
                Settlement {
                    gateway_reference: Some(reference.clone()),
                    ..Settlement::default()
                },
                String::new(),
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
                advise(payment.gateway, code).staff_message(payment.gateway, code, message),
            ),
            ChargeOutcome::RetryableFailure { message } => (
                PaymentStatus::Failed,
                Settlement {
                    code: Some("not_sent".into()),
                    message: Some(message.clone()),
                    ..Settlement::default()
                },
                format!(
                    "{} could not be reached, so nothing was charged ({message}). Try again in a minute.",
                    payment.gateway
                ),
            ),
            ChargeOutcome::RefusedAsDuplicate { message } => (
                PaymentStatus::Failed,
                Settlement {
                    code: Some(DUPLICATE_REFUSED.into()),
                    message: Some(message.clone()),
                    ..Settlement::default()
                },
                format!(
                    "{} refused this charge as a duplicate of a recent charge of {} on this card, perhaps for another patient or visit ({message}). Nothing was charged now. Check this patient's payments; if this charge is really a new one, take it again in about 20 minutes or pay it as an invoice.",
                    payment.gateway, payment.amount
                ),
            ),
            ChargeOutcome::Unknown { message } => (
                PaymentStatus::Unknown,
                Settlement {
                    message: Some(message.clone()),
                    ..Settlement::default()
                },
                format!(
                    "{}'s answer was lost ({message}). Do not charge again: ClinicPay asks {} whether the payment went through and updates it within minutes.",
                    payment.gateway, payment.gateway
                ),
            ),
        };
        if !payments::settle_payment(&mut tx, payment_id, from, to, &settlement, now).await? {
            tx.rollback().await.ok();
            // The janitor settled it as failed meanwhile, and the gateway now says the money was
            // taken: the gateway is right, and the money is recorded, never thrown away.
            if let ChargeOutcome::Succeeded { reference } = &outcome {
                if let Some(p) = self.record_late_success(payment_id, reference).await? {
                    return Ok(Charged::Paid(p));
                }
            }
            // An answer that means "look it up" (a 420, a lost reply) proves the request reached the
            // gateway, so a "never sent" recorded meanwhile from look-ups made while it was in flight
            // may be wrong: look again now.
            if let ChargeOutcome::Unknown { .. } = &outcome {
                if let Some(p) = self.look_again_after_not_sent(payment_id).await? {
                    return Ok(Charged::Paid(p));
                }
            }
            // Settled by someone else first (the janitor, another worker): theirs stands.
            let mut r = self.store().reader().await?;
            let current = payments::payment(&mut r, payment_id)
                .await?
                .ok_or_else(|| ServiceError::Internal(format!("payment {payment_id} vanished")))?;
            return Ok(match current.status {
                PaymentStatus::Succeeded => Charged::Paid(current),
                PaymentStatus::Failed => {
                    let m = current.decline_message.clone().unwrap_or_default();
                    Charged::Declined(current, m)
                }
                _ => Charged::Unknown(current, message),
            });
        }
        let action = match to {
            PaymentStatus::Succeeded => {
                self.mark_paid(&mut tx, &payment, now).await?;
                self.record_recovery_success(&mut tx, &payment, now, &settings)
                    .await?;
                "payment.succeeded"
            }
            PaymentStatus::Failed => {
                if let Some(order) = payment.order_id {
                    let code = settlement.code.clone().unwrap_or_default();
                    self.record_recovery_failure(
                        &mut tx,
                        order,
                        payment.gateway,
                        &code,
                        &message,
                        now,
                        &settings,
                    )
                    .await?;
                }
                self.promote_late_success(&mut tx, payment_id, now, &settings)
                    .await?;
                if let Some(invoice) = payment.invoice_id {
                    self.close_failed_checkout(&mut tx, invoice, payment.id, now)
                        .await?;
                }
                "payment.failed"
            }
            _ => "payment.unknown",
        };
        let settled = payments::payment(&mut tx, payment_id)
            .await?
            .ok_or_else(|| ServiceError::Internal(format!("payment {payment_id} vanished")))?;
        let mut change = Change::new(actor, now, action, "payment", payment_id)
            .patient(payment.patient_id)
            .before(serde_json::json!({ "status": from.as_str() }))
            .after(serde_json::json!({
                "status": to.as_str(),
                "amount": settled.amount,
                "gateway": settled.gateway.as_str(),
                "invoice": settled.invoice_id.map(|i| i.0),
                "decline_code": settled.decline_code,
                "decline_message": settled.decline_message,
            }));
        if actor.is_none() {
            change = change.by_system("ClinicPay (payment outcome from the gateway)");
        }
        change.record(&mut tx).await?;
        tx.commit().await?;
        Ok(match (to, &outcome) {
            (PaymentStatus::Succeeded, _) => Charged::Paid(settled),
            (_, ChargeOutcome::RetryableFailure { .. }) => Charged::NotSent(settled, message),
            (_, ChargeOutcome::RefusedAsDuplicate { .. }) => Charged::Refused(settled, message),
            (PaymentStatus::Failed, _) => Charged::Declined(settled, message),
            _ => Charged::Unknown(settled, message),
        })
    }

    /// The gateway says a payment that was settled as failed took the money (its answer came after the
    /// janitor's look-ups, or reconciliation found it). The money is recorded as taken; if the invoice
    /// was paid again meanwhile, this is a second charge of it, recorded beside the first for billing
    /// to refund one (`payment.charged_twice`). None when the payment was not failed.
    pub(crate) async fn record_late_success(
        &self,
        payment_id: PaymentId,
        reference: &str,
    ) -> Result<Option<Payment>> {
        let settings = self.load_settings().await?;
        let now = self.fresh_now().await?;
        let mut tx = self.store().begin().await?;
        let Some(payment) = payments::payment(&mut tx, payment_id).await? else {
            return Ok(None);
        };
        if payment.status != PaymentStatus::Failed {
            return Ok(None);
        }
        // Every charge of the patient takes this lock first: the live payment read here stays live.
        patients::lock(&mut tx, payment.patient_id).await?;
        let first = match payment.invoice_id {
            Some(invoice) => {
                payments::live_payment_of_invoice(&mut tx, invoice, payment_id).await?
            }
            None => None,
        };
        let duplicate_of = first.as_ref().map(|f| f.id);
        if !payments::record_late_success(&mut tx, payment_id, reference, duplicate_of, now).await?
        {
            return Ok(None);
        }
        let action = match &first {
            None => {
                self.mark_paid(&mut tx, &payment, now).await?;
                self.record_recovery_success(&mut tx, &payment, now, &settings)
                    .await?;
                "payment.late_success"
            }
            Some(f) if f.status == PaymentStatus::Succeeded => "payment.charged_twice",
            // Another attempt is still waiting for its outcome: this one stands beside it, and pays
            // the invoice if that one fails (`promote_late_success`).
            Some(_) => "payment.late_success",
        };
        Change::new(None, now, action, "payment", payment_id)
            .by_system("ClinicPay (late answer from the gateway)")
            .patient(payment.patient_id)
            .before(serde_json::json!({
                "status": payment.status.as_str(),
                "decline_code": payment.decline_code,
                "decline_message": payment.decline_message,
            }))
            .after(serde_json::json!({
                "status": PaymentStatus::Succeeded.as_str(),
                "amount": payment.amount,
                "gateway": payment.gateway.as_str(),
                "gateway_reference": reference,
                "invoice": payment.invoice_id.map(|i| i.0),
                "duplicate_of": duplicate_of.map(|d| d.0),
            }))
            .record(&mut tx)
            .await?;
        let recorded = payments::payment(&mut tx, payment_id).await?;
        tx.commit().await?;
        if first
            .as_ref()
            .is_some_and(|f| f.status == PaymentStatus::Succeeded)
        {
            eprintln!(
                "ClinicPay: a late answer from {} shows invoice {} charged twice (payments {} and {payment_id}); billing must refund one.",
                payment.gateway,
                payment.invoice_id.map_or(0, |i| i.0),
                duplicate_of.map_or(0, |d| d.0)
            );
        }
        Ok(recorded)
    }

    /// A payment recorded "not sent" whose own call then answered "look it up": asks the gateway again
    /// and records the money if it was taken. None when it was not (or cannot be asked now: the daily
    /// reconciliation still compares it with the gateway).
    async fn look_again_after_not_sent(&self, payment_id: PaymentId) -> Result<Option<Payment>> {
        let settings = self.load_settings().await?;
        let (payment, token, customer) = {
            let mut r = self.store().reader().await?;
            let Some(p) = payments::payment(&mut r, payment_id).await? else {
                return Ok(None);
            };
            if p.status != PaymentStatus::Failed || p.decline_code.as_deref() != Some("not_sent") {
                return Ok(None);
            }
            let token = match p.payment_method_id {
                Some(c) => clinicpay_store::payment_methods::get(&mut r, c)
                    .await?
                    .map(|c| c.token),
                None => None,
            };
            let customer = patients::gateway_customer(&mut r, p.patient_id, p.gateway).await?;
            (p, token.unwrap_or_default(), customer)
        };
        let Ok(client) = self
            .gateway_client(payment.gateway, &settings, Some(payment.patient_id))
            .await
        else {
            return Ok(None);
        };
        let request = ChargeRequest {
            payment_key: payment.idempotency_key.clone(),
            card_token: token,
            customer,
            amount: payment.amount,
            check_duplicates: false,
        };
        match client.lookup(&request).await {
            Ok(clinicpay_gateways::LookupOutcome::Found(ChargeOutcome::Succeeded {
                reference,
            })) => self.record_late_success(payment_id, &reference).await,
            _ => Ok(None),
        }
    }

    /// A late success was recorded beside this payment while it waited for its outcome, and it failed:
    /// the late success is the invoice's payment after all (no second charge happened).
    async fn promote_late_success(
        &self,
        tx: &mut clinicpay_store::Tx,
        failed: PaymentId,
        now: DateTime<Utc>,
        settings: &OrganizationSettings,
    ) -> Result<()> {
        let Some(late) = payments::duplicate_pointing_at(tx, failed).await? else {
            return Ok(());
        };
        payments::set_duplicate_of(tx, late.id, None, now).await?;
        self.mark_paid(tx, &late, now).await?;
        self.record_recovery_success(tx, &late, now, settings)
            .await?;
        Change::new(None, now, "payment.late_success", "payment", late.id)
            .by_system("ClinicPay (late answer from the gateway)")
            .patient(late.patient_id)
            .before(serde_json::json!({ "duplicate_of": failed.0 }))
            .after(serde_json::json!({
                "status": PaymentStatus::Succeeded.as_str(),
                "amount": late.amount,
                "invoice": late.invoice_id.map(|i| i.0),
                "why": format!("payment {failed} it stood beside failed, so it pays the invoice"),
            }))
            .record(tx)
            .await?;
        Ok(())
    }

    /// A payment succeeded: its invoice is paid, its order recalculated, and the gateway locked on the
    /// order (and its subscription) if this was the first successful charge.
    pub(crate) async fn mark_paid(
        &self,
        tx: &mut clinicpay_store::Tx,
        payment: &Payment,
        now: DateTime<Utc>,
    ) -> Result<()> {
        if let Some(invoice) = payment.invoice_id {
            // Open, or voided with a failed checkout that a late answer proves was paid after all.
            for from in [InvoiceStatus::Open, InvoiceStatus::Void] {
                if invoices::set_invoice_status(tx, invoice, from, InvoiceStatus::Paid, now).await?
                {
                    break;
                }
            }
        }
        if let Some(order_id) = payment.order_id {
            if let Some(order) = orders::order(tx, order_id).await? {
                if order.status.can_become(OrderStatus::Paid) {
                    orders::set_order_status(tx, order_id, order.status, OrderStatus::Paid, now)
                        .await?;
                }
                orders::lock_gateway(tx, order_id, payment.gateway).await?;
                // An open recovery, or one that ended unpaid (paid after the final notice), is resolved.
                if let Some(status) = order
                    .recovery_status
                    .filter(|s| s.is_open() || *s == RecoveryStatus::FailedFinal)
                {
                    status.transition(RecoveryStatus::Resolved)?;
                    orders::set_recovery(
                        tx,
                        order_id,
                        &orders::RecoveryUpdate {
                            recovery_status: Some(RecoveryStatus::Resolved),
                            next_retry_at: None,
                            attempts: order.attempts,
                            first_failed_at: order.first_failed_at,
                            last_message: Some("Paid".into()),
                        },
                        now,
                    )
                    .await?;
                }
            }
        }
        Ok(())
    }

    /// Turns a charge into the answer for staff: the result, or the error their screen and scripts act on.
    pub(crate) async fn answer(
        &self,
        charged: Charged,
        card: &PaymentMethod,
    ) -> Result<PaymentResult> {
        match charged {
            Charged::Paid(payment) => {
                let invoice = {
                    let mut r = self.store().reader().await?;
                    match payment.invoice_id {
                        Some(i) => invoices::invoice(&mut r, i).await?,
                        None => None,
                    }
                    .ok_or_else(|| {
                        ServiceError::Internal("a paid payment without its invoice".into())
                    })?
                };
                Ok(PaymentResult {
                    message: format!(
                        "Payment of {} with {} succeeded.",
                        payment.amount,
                        card.describe()
                    ),
                    payment,
                    invoice,
                })
            }
            Charged::Declined(p, m) => {
                // At the desk nothing retries on its own: say what to do now, in the table's words.
                let said = match (&p.decline_code, &p.decline_message) {
                    (Some(code), Some(words)) => clinicpay_domain::decline::advise(p.gateway, code)
                        .desk_message(p.gateway, code, words),
                    _ => m,
                };
                let voided = match p.invoice_id {
                    Some(i) => {
                        let mut r = self.store().reader().await?;
                        invoices::invoice(&mut r, i)
                            .await?
                            .is_some_and(|i| i.status == InvoiceStatus::Void)
                    }
                    None => false,
                };
                let after = if voided {
                    "Nothing is left to pay for this checkout: take the payment again with another card."
                } else {
                    "The invoice stays unpaid."
                };
                Err(ServiceError::Declined(format!(
                    "{} declined {} (payment {}). {said} {after}",
                    p.gateway,
                    card.describe(),
                    p.id
                )))
            }
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
