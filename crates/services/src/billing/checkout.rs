//! Pay (an open invoice) and Take a payment (checkout): with a saved card for the active gateway, or
//! a card entered once and not kept.

use clinicpay_domain::card::pick_compatible;
use clinicpay_domain::{
    Gateway, InvoiceId, Money, OrderKind, OrderStatus, OrganizationSettings, PatientId,
    PaymentMethod, PaymentMethodId, Permission,
};
use clinicpay_store::invoices::Invoice;
use clinicpay_store::payment_methods as cards_repo;

use crate::billing::{no_card_for, PaymentResult};
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
                .ok_or_else(|| no_card_for(gateway))?;
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
            .charge_invoice(Some(actor), &invoice, &card, gateway, &settings, true)
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
    pub(crate) async fn single_use_card(
        &self,
        actor: &Actor,
        patient: PatientId,
        input: AddCard,
        settings: &OrganizationSettings,
    ) -> Result<PaymentMethod> {
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

    pub(crate) async fn create_checkout_invoice(
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
}
