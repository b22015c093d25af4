//! Pay (an open invoice) and Take a payment (checkout): with a saved card for the active gateway, or
//! a card entered once and not kept.

use clinicpay_domain::card::pick_compatible;
use clinicpay_domain::{
    Gateway, InvoiceId, InvoiceStatus, Money, OrderKind, OrderStatus, OrganizationSettings,
    PatientId, PaymentId, PaymentMethod, PaymentMethodId, PaymentStatus, Permission,
};
use clinicpay_store::invoices::Invoice;
use clinicpay_store::{invoices, payment_methods as cards_repo, payments};

use serde::Serialize;

use crate::billing::invoices::InvoiceToOpen;
use crate::billing::{no_card_for, JanitorReport, PaymentResult};
use crate::cards::AddCard;
use crate::{Actor, Change, Result, ServiceError, Services};

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

impl Services {
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
                .ok_or_else(|| no_card_for(gateway, &cards, self.now()))?;
            (inv, card)
        };
        // An invoice is paid at most once by the database's own rule; the gateway's duplicate check
        // would only refuse a second invoice of the same amount (a visit and its labs) for minutes.
        let charged = self
            .charge_invoice(Some(actor), &inv, &card, gateway, &settings, false)
            .await?;
        self.answer(charged, &card).await
    }

    /// Takes one payment now on the active gateway, with a saved card or a card typed in the hosted fields.
    pub async fn checkout(
        &self,
        actor: &Actor,
        patient: PatientId,
        amount: Money,
        source: CheckoutSource,
    ) -> Result<PaymentResult> {
        self.checkout_attempt(actor, patient, amount, source, None)
            .await
    }

    /// A checkout named by the desk's attempt key: pressed again (after an unknown outcome, a database
    /// error, a decline), it finds the invoice the first press made instead of making a second one, and
    /// answers from that invoice's payment: paid, still being checked with the gateway (looked up
    /// now), or, when nothing went through, charged again on the same invoice.
    pub async fn checkout_attempt(
        &self,
        actor: &Actor,
        patient: PatientId,
        amount: Money,
        source: CheckoutSource,
        attempt: Option<&str>,
    ) -> Result<PaymentResult> {
        actor.require(Permission::TakePayments)?;
        let settings = self.load_settings().await?;
        let gateway = settings.active_gateway;
        let amount = self.billable(amount, &settings)?;
        let attempt = attempt.map(valid_attempt_key).transpose()?;
        let earlier = match attempt {
            Some(key) => match self.earlier_attempt(key, patient, amount).await? {
                EarlierAttempt::None => None,
                EarlierAttempt::Paid(result) => return Ok(*result),
                EarlierAttempt::ChargeAgain(invoice) => Some(invoice),
            },
            None => None,
        };
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
        let invoice = match earlier {
            Some(invoice) => self.reopen_checkout(actor, invoice).await?,
            None => {
                self.create_checkout_invoice(actor, patient, amount, attempt)
                    .await?
            }
        };
        let charged = self
            .charge_invoice(Some(actor), &invoice, &card, gateway, &settings, true)
            .await;
        if charged.is_err() {
            // Whatever stopped it, an invoice with nothing paid on it does not stay open to pay by
            // mistake; the error staff see is the one that stopped the charge.
            if let Err(e) = self.close_unsent_checkout(invoice.id).await {
                eprintln!(
                    "ClinicPay: checkout invoice {} was left open ({e}).",
                    invoice.id
                );
            }
        }
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
    pub(crate) async fn single_use_card(
        &self,
        actor: &Actor,
        patient: PatientId,
        input: AddCard,
        settings: &OrganizationSettings,
    ) -> Result<PaymentMethod> {
        Gateway::check_token(input.token.trim())?;
        let gateway = settings.active_gateway;
        if input.gateway != gateway || Gateway::of_token(input.token.trim()) != gateway {
            let entered = if input.gateway != gateway {
                input.gateway
            } else {
                Gateway::of_token(input.token.trim())
            };
            return Err(ServiceError::GatewayMismatch(format!(
                "This card was entered for {entered}, but the clinic now takes cards through {gateway}: enter the card again."
            )));
        }
        let saved = self
            .vault_card(Some(actor), patient, &input, settings)
            .await?;
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

    /// A checkout whose charge did not go through (declined, not sent, refused as a duplicate) leaves
    /// nothing to pay by mistake: its invoice is voided and its order cancelled. Pressing Charge again
    /// in the same checkout reopens them (`reopen_checkout`). Not while another payment of that
    /// invoice is still being checked with the gateway, or has gone through.
    pub(crate) async fn close_failed_checkout(
        &self,
        tx: &mut clinicpay_store::Tx,
        invoice_id: InvoiceId,
        except: PaymentId,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<()> {
        let Some(invoice) = invoices::invoice(tx, invoice_id).await? else {
            return Ok(());
        };
        let Some(order_id) = invoice.order_id else {
            return Ok(());
        };
        let Some(order) = clinicpay_store::orders::order(tx, order_id).await? else {
            return Ok(());
        };
        if order.kind != OrderKind::Checkout
            || payments::live_payment_of_invoice(tx, invoice_id, except)
                .await?
                .is_some()
        {
            return Ok(());
        }
        if !invoices::set_invoice_status(
            tx,
            invoice_id,
            InvoiceStatus::Open,
            InvoiceStatus::Void,
            now,
        )
        .await?
        {
            return Ok(());
        }
        if order.status.can_become(OrderStatus::Cancelled) {
            clinicpay_store::orders::set_order_status(
                tx,
                order_id,
                order.status,
                OrderStatus::Cancelled,
                now,
            )
            .await?;
        }
        Change::new(None, now, "invoice.voided", "invoice", invoice_id)
            .by_system("ClinicPay (the checkout's charge did not go through)")
            .patient(invoice.patient_id)
            .after(serde_json::json!({ "order": order_id.0, "amount": invoice.amount }))
            .record(tx)
            .await?;
        Ok(())
    }

    /// The same checkout pressed again after its charge failed: its voided invoice and cancelled
    /// order are open to pay again, so one checkout stays one invoice.
    async fn reopen_checkout(&self, actor: &Actor, invoice: Invoice) -> Result<Invoice> {
        if invoice.status != InvoiceStatus::Void {
            return Ok(invoice);
        }
        let now = self.now();
        let mut tx = self.store().begin().await?;
        if !invoices::set_invoice_status(
            &mut tx,
            invoice.id,
            InvoiceStatus::Void,
            InvoiceStatus::Open,
            now,
        )
        .await?
        {
            return Err(ServiceError::Conflict(format!(
                "This checkout's invoice {} changed at another desk just now: nothing was charged. Start a new checkout.",
                invoice.id
            )));
        }
        if let Some(order) = invoice.order_id {
            clinicpay_store::orders::set_order_status(
                &mut tx,
                order,
                OrderStatus::Cancelled,
                OrderStatus::Pending,
                now,
            )
            .await?;
        }
        Change::new(Some(actor), now, "invoice.reopened", "invoice", invoice.id)
            .patient(invoice.patient_id)
            .after(serde_json::json!({ "amount": invoice.amount, "why": "the same checkout, charged again" }))
            .record(&mut tx)
            .await?;
        let reopened = invoices::invoice(&mut tx, invoice.id)
            .await?
            .ok_or_else(|| ServiceError::Internal("the invoice vanished".into()))?;
        tx.commit().await?;
        Ok(reopened)
    }

    /// The same for a checkout stopped before any payment was recorded (no key, the card being deleted).
    async fn close_unsent_checkout(&self, invoice: InvoiceId) -> Result<()> {
        let now = self.now();
        let mut tx = self.store().begin().await?;
        self.close_failed_checkout(&mut tx, invoice, PaymentId(0), now)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn create_checkout_invoice(
        &self,
        actor: &Actor,
        patient: PatientId,
        amount: Money,
        attempt: Option<&str>,
    ) -> Result<Invoice> {
        self.open_invoice(
            actor,
            patient,
            InvoiceToOpen {
                kind: OrderKind::Checkout,
                status: OrderStatus::Pending,
                description: "Checkout payment",
                amount,
                attempt,
            },
        )
        .await
    }

    /// What an earlier press of the same checkout attempt left.
    async fn earlier_attempt(
        &self,
        key: &str,
        patient: PatientId,
        amount: Money,
    ) -> Result<EarlierAttempt> {
        let (invoice, live) = {
            let mut r = self.store().reader().await?;
            let Some(invoice) = invoices::invoice_of_attempt(&mut r, key).await? else {
                return Ok(EarlierAttempt::None);
            };
            let live = payments::live_payment_of_invoice(&mut r, invoice.id, PaymentId(0)).await?;
            (invoice, live)
        };
        if invoice.patient_id != patient || invoice.amount != amount {
            return Err(ServiceError::Invalid(format!(
                "This checkout was started for {} of patient {}: close it and start a new checkout for this payment.",
                invoice.amount, invoice.patient_id
            )));
        }
        let Some(mut payment) = live else {
            return match invoice.status {
                // Declined or never sent (and so voided): the same invoice is charged again.
                InvoiceStatus::Open | InvoiceStatus::Void => {
                    Ok(EarlierAttempt::ChargeAgain(invoice))
                }
                other => Err(ServiceError::Conflict(format!(
                    "This checkout's invoice {} is {}: nothing was charged now. Start a new checkout if the patient owes more.",
                    invoice.id,
                    other.as_str().to_lowercase()
                ))),
            };
        };
        if matches!(
            payment.status,
            PaymentStatus::Pending | PaymentStatus::Unknown
        ) {
            // Ask the gateway now rather than at the janitor's next pass (a look-up never charges
            // twice; one that finds nothing settles nothing).
            let settings = self.load_settings().await?;
            let mut report = JanitorReport::default();
            self.settle_unknown_payment(payment.clone(), &settings, &mut report)
                .await?;
            let mut r = self.store().reader().await?;
            payment = payments::payment(&mut r, payment.id)
                .await?
                .ok_or_else(|| ServiceError::Internal("the payment vanished".into()))?;
        }
        match payment.status {
            PaymentStatus::Succeeded => {
                let mut r = self.store().reader().await?;
                let invoice = invoices::invoice(&mut r, invoice.id)
                    .await?
                    .ok_or_else(|| ServiceError::Internal("the invoice vanished".into()))?;
                Ok(EarlierAttempt::Paid(Box::new(PaymentResult {
                    message: format!(
                        "The first attempt went through: {} was paid (payment {}). Nothing more was charged.",
                        payment.amount, payment.id
                    ),
                    payment,
                    invoice,
                })))
            }
            PaymentStatus::Failed
                if matches!(invoice.status, InvoiceStatus::Open | InvoiceStatus::Void) =>
            {
                Ok(EarlierAttempt::ChargeAgain(invoice))
            }
            PaymentStatus::Failed => Err(ServiceError::Conflict(format!(
                "This checkout's invoice {} is no longer open: nothing was charged now.",
                invoice.id
            ))),
            PaymentStatus::Pending | PaymentStatus::Unknown => {
                Err(ServiceError::OutcomeUnknown(format!(
                    "Payment {}: the first attempt may have gone through. ClinicPay is checking with {}; do not take the payment again. This updates by itself within minutes.",
                    payment.id, payment.gateway
                )))
            }
        }
    }
}

/// Where a checkout attempt stands, for the window that waits on it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct CheckoutAttemptStatus {
    pub state: AttemptState,
    /// What to tell staff.
    pub message: String,
    /// When paid: the payment and its invoice.
    pub result: Option<PaymentResult>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum AttemptState {
    /// The attempt went through.
    Paid,
    /// Its outcome is still being checked with the gateway.
    Checking,
    /// Nothing went through: staff may press Charge again (same attempt, same invoice).
    NotThrough,
}

impl Services {
    /// Where a checkout attempt stands, asking the gateway about an unknown outcome at once; never
    /// charges anything (the window asks this every few seconds while it shows "checking…").
    pub async fn checkout_status(
        &self,
        actor: &Actor,
        attempt: &str,
    ) -> Result<CheckoutAttemptStatus> {
        actor.require(Permission::TakePayments)?;
        let key = valid_attempt_key(attempt)?;
        let invoice = {
            let mut r = self.store().reader().await?;
            invoices::invoice_of_attempt(&mut r, key).await?
        }
        .ok_or_else(|| {
            ServiceError::NotFound(
                "This checkout made no invoice yet: nothing was charged. Press Charge to take the payment."
                    .into(),
            )
        })?;
        Ok(
            match self
                .earlier_attempt(key, invoice.patient_id, invoice.amount)
                .await
            {
                Ok(EarlierAttempt::Paid(result)) => CheckoutAttemptStatus {
                    state: AttemptState::Paid,
                    message: result.message.clone(),
                    result: Some(*result),
                },
                Ok(EarlierAttempt::ChargeAgain(_) | EarlierAttempt::None) => {
                    CheckoutAttemptStatus {
                        state: AttemptState::NotThrough,
                        message: "The first attempt did not go through: nothing was charged. Press Charge to try again.".into(),
                        result: None,
                    }
                }
                Err(ServiceError::OutcomeUnknown(message)) => CheckoutAttemptStatus {
                    state: AttemptState::Checking,
                    message,
                    result: None,
                },
                Err(e) => return Err(e),
            },
        )
    }
}

/// What an earlier press of a checkout attempt left.
enum EarlierAttempt {
    /// It made no invoice: this is the first.
    None,
    /// It was paid: the same answer again, nothing charged.
    Paid(Box<PaymentResult>),
    /// Nothing went through on its invoice: charge that invoice again.
    ChargeAgain(Invoice),
}

/// An attempt key as the window makes it (a UUID); anything else is refused before anything happens.
fn valid_attempt_key(key: &str) -> Result<&str> {
    let key = key.trim();
    if key.is_empty()
        || key.len() > 64
        || !key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(ServiceError::Invalid(
            "This checkout's attempt key is not one the window makes (letters, digits, - and _, at most 64): close the dialog and start again.".into(),
        ));
    }
    Ok(key)
}
