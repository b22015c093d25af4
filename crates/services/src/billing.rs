//! Money moving (product document 003, "Checkout Payments" to "Refund Gateway Behavior"): invoices,
//! checkout, refunds, and the one way any card is charged. A payment row (PENDING, with its own
//! idempotency key) is committed before the gateway is called; the gateway's answer then settles it in
//! one transaction with the invoice, the order and the activity log. A lost answer leaves it UNKNOWN
//! and only the janitor's look-up at the gateway settles it: nothing is ever charged twice.

use chrono::{DateTime, Duration, Utc};
use clinicpay_domain::card::pick_compatible;
use clinicpay_domain::decline::advise;
use clinicpay_domain::{
    Gateway, InvoiceId, InvoiceStatus, Money, OrderKind, OrderStatus, OrganizationSettings,
    PatientId, PaymentId, PaymentMethod, PaymentMethodId, PaymentStatus, Permission,
    RecoveryStatus,
};
use clinicpay_gateways::{ChargeOutcome, ChargeRequest, LookupOutcome};
use clinicpay_store::billing::{self, NewOrder, NewPayment};
use clinicpay_store::ledger::{self, Invoice, Payment, Settlement};
use clinicpay_store::{patients, payment_methods as cards_repo, StoreError};
use serde::Serialize;

use crate::cards::{token_gateway, AddCard};
use crate::{Actor, Change, Result, ServiceError, Services};

/// How long an unsettled payment is left to its own attempt before the janitor asks the gateway:
/// longer than a client's whole call with its retries.
pub const JANITOR_GRACE: Duration = Duration::minutes(5);
const LIST_LIMIT: i64 = 500;

/// A payment that went through, and what to tell the patient.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct PaymentResult {
    pub payment: Payment,
    pub invoice: Invoice,
    pub message: String,
}

/// How a checkout is paid.
#[derive(Debug, Clone)]
pub enum CheckoutSource {
    SavedCard(PaymentMethodId),
    /// A card typed into the active gateway's hosted fields; kept as a saved card only when `save`.
    NewCard {
        card: AddCard,
        save: bool,
    },
}

/// What one charge attempt came to (the payment row says the same).
pub(crate) enum Charged {
    Paid(Payment),
    Declined(Payment, String),
    NotSent(Payment, String),
    Unknown(Payment, String),
}

/// A fresh idempotency key for one attempt: ClinicPay's payment key at the gateway (NMI `orderid`,
/// Stripe `Idempotency-Key` and metadata).
fn new_key(prefix: &str) -> String {
    format!(
        "cp-{prefix}-{:016x}{:08x}",
        rand::random::<u64>(),
        rand::random::<u32>()
    )
}

impl Services {
    // ------------------------------------------------------------ invoices

    /// An invoice for the patient, with the one-time order it belongs to.
    pub async fn create_invoice(
        &self,
        actor: &Actor,
        patient: PatientId,
        amount: Money,
        description: &str,
    ) -> Result<Invoice> {
        actor.require(Permission::TakePayments)?;
        let settings = self.load_settings().await?;
        let amount = self.billable(amount, &settings)?;
        let description = match description.trim() {
            "" => "Clinic invoice",
            d => d,
        };
        self.open_invoice(
            actor,
            patient,
            OrderKind::OneTime,
            OrderStatus::AwaitingPayment,
            description,
            amount,
        )
        .await
    }

    /// An order of `kind` with its open invoice, and the activity entry.
    async fn open_invoice(
        &self,
        actor: &Actor,
        patient: PatientId,
        kind: OrderKind,
        status: OrderStatus,
        description: &str,
        amount: Money,
    ) -> Result<Invoice> {
        let now = self.now();
        let mut tx = self.store().begin().await?;
        self.require_patient(&mut tx, patient).await?;
        let (_, id) = insert_order_with_invoice(
            &mut tx,
            OrderToBill {
                patient,
                kind,
                status,
                description,
                amount,
                subscription: None,
                cycle_start_at: None,
                locked_gateway: None,
            },
            now,
        )
        .await?;
        let invoice = ledger::invoice(&mut tx, id)
            .await?
            .ok_or_else(|| ServiceError::Internal("the new invoice vanished".into()))?;
        Change::new(Some(actor), now, "invoice.created", "invoice", id)
            .patient(patient)
            .after(&invoice)
            .record(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(invoice)
    }

    pub async fn list_invoices(
        &self,
        actor: &Actor,
        patient: Option<PatientId>,
    ) -> Result<Vec<Invoice>> {
        actor.require(Permission::ViewPatients)?;
        let mut r = self.store().reader().await?;
        Ok(ledger::invoices(&mut r, patient, LIST_LIMIT).await?)
    }

    /// Pays an open invoice on the active gateway: the selected card if it is saved for that gateway,
    /// otherwise another of the patient's cards for it, otherwise staff are told to have the card re-saved.
    pub async fn pay_invoice(
        &self,
        actor: &Actor,
        invoice: InvoiceId,
        selected: Option<PaymentMethodId>,
    ) -> Result<PaymentResult> {
        actor.require(Permission::TakePayments)?;
        let settings = self.load_settings().await?;
        let gateway = settings.active_gateway;
        let (inv, card) = {
            let mut r = self.store().reader().await?;
            let inv = self.require_open_invoice(&mut r, invoice).await?;
            let cards = cards_repo::active_for_patient(&mut r, inv.patient_id).await?;
            let card = pick_compatible(&cards, gateway, selected, self.now())
                .cloned()
                .ok_or_else(|| no_card_for(gateway))?;
            (inv, card)
        };
        let charged = self
            .charge_invoice(Some(actor), &inv, &card, gateway, &settings)
            .await?;
        self.answer(charged, &card).await
    }

    // ------------------------------------------------------------ checkout

    /// Takes one payment now on the active gateway, with a saved card or a card typed in the hosted fields.
    pub async fn checkout(
        &self,
        actor: &Actor,
        patient: PatientId,
        amount: Money,
        source: CheckoutSource,
    ) -> Result<PaymentResult> {
        actor.require(Permission::TakePayments)?;
        let settings = self.load_settings().await?;
        let gateway = settings.active_gateway;
        let amount = self.billable(amount, &settings)?;
        let card = match source {
            CheckoutSource::SavedCard(id) => {
                let mut r = self.store().reader().await?;
                let card = self.require_card(&mut r, id).await?;
                if card.patient_id != patient {
                    return Err(ServiceError::Invalid(format!(
                        "Card {id} belongs to another patient: pick one of this patient's cards."
                    )));
                }
                if !card.is_active() {
                    return Err(ServiceError::CardRule(format!(
                        "{} was deleted: pick another card or add one.",
                        card.describe()
                    )));
                }
                if card.gateway != gateway {
                    return Err(ServiceError::GatewayMismatch(format!(
                        "Selected payment method gateway does not match active gateway: {} was saved for {}, and the clinic takes payments through {gateway}. Use a card saved for {gateway}, or enter the card again.",
                        card.describe(),
                        card.gateway
                    )));
                }
                if card.expiry.is_expired(self.now()) {
                    return Err(ServiceError::CardRule(format!(
                        "{} expired {}: ask the patient for their current card.",
                        card.describe(),
                        card.expiry
                    )));
                }
                card
            }
            CheckoutSource::NewCard { card, save: true } => {
                let added = self.add_card(actor, patient, card).await?;
                let mut r = self.store().reader().await?;
                self.require_card(&mut r, added.card.id).await?
            }
            CheckoutSource::NewCard { card, save: false } => {
                self.single_use_card(actor, patient, card, &settings)
                    .await?
            }
        };
        let invoice = self.create_checkout_invoice(actor, patient, amount).await?;
        let charged = self
            .charge_invoice(Some(actor), &invoice, &card, gateway, &settings)
            .await;
        if !card.is_active() {
            // A card typed for this payment only: it leaves the gateway's vault whatever happened.
            if let Ok(client) = self
                .gateway_client(card.gateway, &settings, Some(patient))
                .await
            {
                let _ = client.delete_card(&card.token).await;
            }
        }
        self.answer(charged?, &card).await
    }

    /// Vaults a card at the gateway to charge it once; it is recorded already removed, so it is never
    /// offered again, never becomes the default and does not start recovery.
    async fn single_use_card(
        &self,
        actor: &Actor,
        patient: PatientId,
        input: AddCard,
        settings: &OrganizationSettings,
    ) -> Result<PaymentMethod> {
        let gateway = settings.active_gateway;
        if input.gateway != gateway || token_gateway(input.token.trim()) != gateway {
            let entered = if input.gateway != gateway {
                input.gateway
            } else {
                token_gateway(input.token.trim())
            };
            return Err(ServiceError::GatewayMismatch(format!(
                "This card was entered for {entered}, but the clinic now takes cards through {gateway}: enter the card again."
            )));
        }
        let saved = self.vault_card(actor, patient, &input, settings).await?;
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let card = cards_repo::insert(&mut tx, patient, &saved, false, now).await?;
        cards_repo::remove(&mut tx, card.id, now).await?;
        Change::new(
            Some(actor),
            now,
            "card.used_once",
            "payment_method",
            card.id,
        )
        .patient(patient)
        .after(serde_json::json!({ "description": card.describe(), "saved": false }))
        .record(&mut tx)
        .await?;
        tx.commit().await?;
        let mut r = self.store().reader().await?;
        self.require_card(&mut r, card.id).await
    }

    async fn create_checkout_invoice(
        &self,
        actor: &Actor,
        patient: PatientId,
        amount: Money,
    ) -> Result<Invoice> {
        self.open_invoice(
            actor,
            patient,
            OrderKind::Checkout,
            OrderStatus::Pending,
            "Checkout payment",
            amount,
        )
        .await
    }

    // ------------------------------------------------------------ charging

    /// The one way a card is charged. Records the payment PENDING (committed) before the gateway is
    /// called, then settles it with the gateway's answer.
    pub(crate) async fn charge_invoice(
        &self,
        actor: Option<&Actor>,
        invoice: &Invoice,
        card: &PaymentMethod,
        gateway: Gateway,
        settings: &OrganizationSettings,
    ) -> Result<Charged> {
        if card.gateway != gateway {
            return Err(no_card_for(gateway));
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
        let now = self.now();
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
            let id = billing::insert_payment(
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
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let payment = ledger::payment(&mut tx, payment_id)
            .await?
            .ok_or_else(|| ServiceError::Internal(format!("payment {payment_id} vanished")))?;
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
        if !ledger::settle_payment(&mut tx, payment_id, from, to, &settlement, now).await? {
            // Settled by someone else first (the janitor, another worker): theirs stands.
            tx.rollback().await.ok();
            let mut r = self.store().reader().await?;
            let current = ledger::payment(&mut r, payment_id)
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
                    self.record_recovery_failure(&mut tx, order, &code, &message, now, &settings)
                        .await?;
                }
                "payment.failed"
            }
            _ => "payment.unknown",
        };
        let settled = ledger::payment(&mut tx, payment_id)
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
            (PaymentStatus::Failed, _) => Charged::Declined(settled, message),
            _ => Charged::Unknown(settled, message),
        })
    }

    /// A payment succeeded: its invoice is paid, its order recalculated, and the gateway locked on the
    /// order (and its subscription) if this was the first successful charge.
    async fn mark_paid(
        &self,
        tx: &mut clinicpay_store::Tx,
        payment: &Payment,
        now: DateTime<Utc>,
    ) -> Result<()> {
        if let Some(invoice) = payment.invoice_id {
            ledger::set_invoice_status(tx, invoice, InvoiceStatus::Open, InvoiceStatus::Paid, now)
                .await?;
        }
        if let Some(order_id) = payment.order_id {
            if let Some(order) = ledger::order(tx, order_id).await? {
                if order.status.can_become(OrderStatus::Paid) {
                    ledger::set_order_status(tx, order_id, order.status, OrderStatus::Paid, now)
                        .await?;
                }
                ledger::lock_gateway(tx, order_id, payment.gateway).await?;
                if let Some(status) = order.recovery_status.filter(|s| s.is_open()) {
                    status.transition(RecoveryStatus::Resolved)?;
                    ledger::set_recovery(
                        tx,
                        order_id,
                        &ledger::RecoveryUpdate {
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
    async fn answer(&self, charged: Charged, card: &PaymentMethod) -> Result<PaymentResult> {
        match charged {
            Charged::Paid(payment) => {
                let invoice = {
                    let mut r = self.store().reader().await?;
                    match payment.invoice_id {
                        Some(i) => ledger::invoice(&mut r, i).await?,
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
                Err(ServiceError::Declined(format!(
                    "{} declined {} (payment {}). {said} The invoice stays unpaid.",
                    p.gateway,
                    card.describe(),
                    p.id
                )))
            }
            Charged::NotSent(p, m) => Err(ServiceError::GatewayUnavailable(format!(
                "Payment {}: {m}",
                p.id
            ))),
            Charged::Unknown(p, m) => Err(ServiceError::OutcomeUnknown(format!(
                "Payment {}: {m}",
                p.id
            ))),
        }
    }

    async fn require_open_invoice(
        &self,
        ex: &mut impl clinicpay_store::Executor,
        id: InvoiceId,
    ) -> Result<Invoice> {
        let inv = ledger::invoice(ex, id).await?.ok_or_else(|| {
            ServiceError::NotFound(format!(
                "There is no invoice {id}: check the number in the patient's invoices."
            ))
        })?;
        if inv.status != InvoiceStatus::Open {
            return Err(ServiceError::Conflict(format!(
                "Invoice {id} is {} already (perhaps just now, at another desk): nothing to pay.",
                inv.status.as_str().to_lowercase()
            )));
        }
        Ok(inv)
    }

    fn billable(&self, amount: Money, settings: &OrganizationSettings) -> Result<Money> {
        if amount.currency != settings.currency {
            return Err(ServiceError::Invalid(format!(
                "The clinic bills in {}, not {}: give the amount in {}.",
                settings.currency, amount.currency, settings.currency
            )));
        }
        if !amount.is_positive() {
            return Err(ServiceError::Invalid(
                "The amount must be more than zero.".into(),
            ));
        }
        Ok(amount)
    }

    // ------------------------------------------------------------ payments and the janitor

    /// Orders newest first, of one patient or of the clinic, optionally only one recovery status.
    pub async fn list_orders(
        &self,
        actor: &Actor,
        patient: Option<PatientId>,
        recovery: Option<RecoveryStatus>,
    ) -> Result<Vec<ledger::Order>> {
        actor.require(Permission::ViewPatients)?;
        let mut r = self.store().reader().await?;
        Ok(ledger::orders(&mut r, patient, recovery, LIST_LIMIT).await?)
    }

    pub async fn list_payments(
        &self,
        actor: &Actor,
        patient: Option<PatientId>,
    ) -> Result<Vec<Payment>> {
        actor.require(Permission::ViewPatients)?;
        let mut r = self.store().reader().await?;
        Ok(ledger::payments(&mut r, patient, LIST_LIMIT).await?)
    }

    /// Settles payments whose outcome is unknown (a lost answer, a crash between recording and
    /// charging) by asking the gateway for the charge made with their key. Never charges.
    pub async fn settle_unknown_payments(&self) -> Result<JanitorReport> {
        let settings = self.load_settings().await?;
        let unsettled = {
            let mut r = self.store().reader().await?;
            ledger::unsettled_payments(&mut r, self.now() - JANITOR_GRACE, 200).await?
        };
        let mut report = JanitorReport::default();
        for p in unsettled {
            report.looked_at += 1;
            let Ok(client) = self
                .gateway_client(p.gateway, &settings, Some(p.patient_id))
                .await
            else {
                report.still_unknown += 1;
                continue;
            };
            let (token, customer) = {
                let mut r = self.store().reader().await?;
                let token = match p.payment_method_id {
                    Some(c) => cards_repo::get(&mut r, c).await?.map(|c| c.token),
                    None => None,
                };
                let customer = patients::gateway_customer(&mut r, p.patient_id, p.gateway).await?;
                (token.unwrap_or_default(), customer)
            };
            let request = ChargeRequest {
                payment_key: p.idempotency_key.clone(),
                card_token: token,
                customer,
                amount: p.amount,
            };
            let outcome = match client.lookup(&request).await {
                Ok(LookupOutcome::Found(
                    o @ (ChargeOutcome::Succeeded { .. } | ChargeOutcome::Declined { .. }),
                )) => o,
                // The gateway has no charge with this key: it never happened, so the attempt failed.
                Ok(LookupOutcome::NotFound) => ChargeOutcome::Declined {
                    code: "not_sent".into(),
                    message: format!(
                        "{} has no charge for this payment: it never went through.",
                        p.gateway
                    ),
                    reference: None,
                },
                _ => {
                    report.still_unknown += 1;
                    continue;
                }
            };
            match self.settle(p.id, p.status, outcome, None).await? {
                Charged::Paid(_) => report.found_paid += 1,
                _ => report.found_not_paid += 1,
            }
        }
        self.settle_unknown_refunds(&settings, &mut report).await?;
        Ok(report)
    }

    /// Settles refunds whose answer was lost, by asking the payment's gateway for the refund made with
    /// their key. Never refunds.
    async fn settle_unknown_refunds(
        &self,
        settings: &OrganizationSettings,
        report: &mut JanitorReport,
    ) -> Result<()> {
        let unsettled = {
            let mut r = self.store().reader().await?;
            ledger::unsettled_refunds(&mut r, self.now() - JANITOR_GRACE, 200).await?
        };
        for refund in unsettled {
            report.refunds_looked_at += 1;
            let payment = {
                let mut r = self.store().reader().await?;
                ledger::payment(&mut r, refund.payment_id).await?
            };
            let Some(payment) = payment else { continue };
            let Some(reference) = payment.gateway_reference.clone() else {
                continue;
            };
            let Ok(client) = self
                .gateway_client(refund.gateway, settings, Some(payment.patient_id))
                .await
            else {
                continue;
            };
            let (to, settlement) = match client
                .lookup_refund(&reference, &refund.idempotency_key)
                .await
            {
                Ok(LookupOutcome::Found(ChargeOutcome::Succeeded { reference })) => (
                    PaymentStatus::Succeeded,
                    Settlement {
                        gateway_reference: Some(reference),
                        ..Settlement::default()
                    },
                ),
                Ok(LookupOutcome::Found(ChargeOutcome::Declined { message, .. })) => (
                    PaymentStatus::Failed,
                    Settlement {
                        message: Some(message),
                        ..Settlement::default()
                    },
                ),
                Ok(LookupOutcome::NotFound) => (
                    PaymentStatus::Failed,
                    Settlement {
                        message: Some(format!(
                            "{} has no such refund: it never went through.",
                            refund.gateway
                        )),
                        ..Settlement::default()
                    },
                ),
                _ => continue,
            };
            let now = self.now();
            let mut tx = self.store().begin().await?;
            if !ledger::settle_refund(&mut tx, refund.id, refund.status, to, &settlement, now)
                .await?
            {
                continue;
            }
            if to == PaymentStatus::Succeeded {
                report.refunds_found_done += 1;
                let refunded: i64 = ledger::refunds_of(&mut tx, payment.id)
                    .await?
                    .iter()
                    .filter(|r| r.status == PaymentStatus::Succeeded)
                    .map(|r| r.amount.minor)
                    .sum();
                if refunded >= payment.amount.minor {
                    mark_refunded(&mut tx, &payment, now).await?;
                }
            } else {
                report.refunds_found_not_done += 1;
            }
            Change::new(None, now, if to == PaymentStatus::Succeeded { "refund.succeeded" } else { "refund.failed" }, "payment", payment.id)
                .by_system("ClinicPay (refund outcome from the gateway)")
                .patient(payment.patient_id)
                .after(serde_json::json!({ "refund": refund.id, "amount": refund.amount, "status": to.as_str() }))
                .record(&mut tx)
                .await?;
            tx.commit().await?;
        }
        Ok(())
    }
}

/// What one janitor pass did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct JanitorReport {
    pub looked_at: u32,
    pub found_paid: u32,
    pub found_not_paid: u32,
    pub still_unknown: u32,
    pub refunds_looked_at: u32,
    pub refunds_found_done: u32,
    pub refunds_found_not_done: u32,
}

/// Refunded in full: the invoice and its order say so.
async fn mark_refunded(
    tx: &mut clinicpay_store::Tx,
    payment: &Payment,
    now: DateTime<Utc>,
) -> Result<()> {
    if let Some(invoice) = payment.invoice_id {
        ledger::set_invoice_status(
            tx,
            invoice,
            InvoiceStatus::Paid,
            InvoiceStatus::Refunded,
            now,
        )
        .await?;
    }
    if let Some(order) = payment.order_id {
        ledger::set_order_status(tx, order, OrderStatus::Paid, OrderStatus::Refunded, now).await?;
    }
    Ok(())
}

/// What an order to be paid is: everything but its patient, amount and description is optional.
pub(crate) struct OrderToBill<'a> {
    pub patient: PatientId,
    pub kind: OrderKind,
    pub status: OrderStatus,
    pub description: &'a str,
    pub amount: Money,
    pub subscription: Option<clinicpay_domain::SubscriptionId>,
    pub cycle_start_at: Option<DateTime<Utc>>,
    pub locked_gateway: Option<Gateway>,
}

/// Creates an order and its open invoice, in the caller's transaction.
pub(crate) async fn insert_order_with_invoice(
    tx: &mut clinicpay_store::Tx,
    o: OrderToBill<'_>,
    now: DateTime<Utc>,
) -> std::result::Result<(clinicpay_domain::OrderId, InvoiceId), StoreError> {
    let order = billing::insert_order(
        tx,
        &NewOrder {
            patient_id: o.patient,
            subscription_id: o.subscription,
            kind: o.kind,
            status: o.status,
            description: o.description.into(),
            amount: o.amount,
            cycle_start_at: o.cycle_start_at,
            locked_gateway: o.locked_gateway,
            recovery_status: None,
            next_retry_at: None,
            attempts: 0,
            first_failed_at: None,
            last_message: None,
        },
        now,
    )
    .await?;
    let invoice = billing::insert_invoice(
        tx,
        o.patient,
        Some(order),
        o.description,
        o.amount,
        InvoiceStatus::Open,
        now,
    )
    .await?;
    Ok((order, invoice))
}

pub(crate) fn no_card_for(gateway: Gateway) -> ServiceError {
    ServiceError::NoCompatibleCard(format!(
        "No {gateway} payment method found — ask the patient to re-save the card. The patient may have a card on file, but it is not saved for {gateway}, the payment processor in use."
    ))
}

/// A refund as recorded, and what to tell staff.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct RefundResult {
    pub refund: ledger::Refund,
    /// What is left to refund on the payment after this one.
    pub left_to_refund: Money,
    pub message: String,
}

impl Services {
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
        let payment = {
            let mut r = self.store().reader().await?;
            ledger::payment(&mut r, payment_id).await?.ok_or_else(|| {
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
            ledger::lock_payment(&mut tx, payment_id).await?;
            let taken: i64 = ledger::refunds_of(&mut tx, payment_id)
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
            if minor > settings.front_desk_refund_limit_minor {
                actor.require(Permission::RefundAnyAmount)?;
            }
            let refund_amount = Money::from_minor(minor, payment.amount.currency);
            let id = ledger::insert_refund(
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
            ChargeOutcome::RetryableFailure { message } => (
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
        ledger::settle_refund(
            &mut tx,
            refund_id,
            PaymentStatus::Pending,
            to,
            &settlement,
            now,
        )
        .await?;
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
        let refund = ledger::refunds_of(&mut tx, payment_id)
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
            ChargeOutcome::RetryableFailure { message } => Err(ServiceError::GatewayUnavailable(format!(
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

/// An order with its invoice and every payment attempt, for `orders show` and the order screen.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct OrderDetails {
    pub order: ledger::Order,
    pub invoice: Option<Invoice>,
    pub payments: Vec<Payment>,
}

impl Services {
    pub async fn order_details(
        &self,
        actor: &Actor,
        id: clinicpay_domain::OrderId,
    ) -> Result<OrderDetails> {
        actor.require(Permission::ViewPatients)?;
        let mut r = self.store().reader().await?;
        let order = ledger::order(&mut r, id).await?.ok_or_else(|| {
            ServiceError::NotFound(format!(
                "There is no order {id}: check the number in the patient's orders."
            ))
        })?;
        let invoice = ledger::invoice_of_order(&mut r, id).await?;
        let payments = ledger::payments_of_order(&mut r, id).await?;
        Ok(OrderDetails {
            order,
            invoice,
            payments,
        })
    }

    /// An amount typed by staff ("12.34", "$1,234.50"), in the clinic's currency.
    pub async fn parse_amount(&self, text: &str) -> Result<Money> {
        let settings = self.load_settings().await?;
        Ok(Money::parse(text, settings.currency)?)
    }
}
