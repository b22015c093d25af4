//! Saved cards (product document 000): list, add, set default, delete — with the documents' messages.

use chrono::{DateTime, Utc};
use clinicpay_domain::card::{new_card_becomes_default, DeletionCheck};
use clinicpay_domain::{Gateway, NewCard, PatientId, PaymentMethod, PaymentMethodId, Permission};
use clinicpay_store::payment_methods as repo;
use serde::Serialize;

use crate::{Actor, Change, Result, ServiceError, Services};

/// A saved card as the Payment Methods table shows it. The gateway token is never included.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct CardView {
    pub id: PaymentMethodId,
    pub patient_id: PatientId,
    pub gateway: Gateway,
    pub brand: String,
    pub last4: String,
    /// "Visa ending in 1234".
    pub description: String,
    /// "12/2026".
    pub expiry: String,
    pub exp_month: u32,
    pub exp_year: i32,
    /// 0 on the last valid day, negative once expired.
    pub days_until_expiry: i32,
    pub expired: bool,
    pub cardholder_name: String,
    pub nickname: Option<String>,
    pub country: Option<String>,
    pub is_default: bool,
    pub added_at: DateTime<Utc>,
}

impl CardView {
    pub fn of(c: &PaymentMethod, now: DateTime<Utc>) -> CardView {
        CardView {
            id: c.id,
            patient_id: c.patient_id,
            gateway: c.gateway,
            brand: c.brand.display_name().into(),
            last4: c.last4.clone(),
            description: c.describe(),
            expiry: c.expiry.mm_yyyy(),
            exp_month: c.expiry.month,
            exp_year: c.expiry.year,
            days_until_expiry: c.expiry.days_until_expiry(now).clamp(-99_999, 99_999) as i32,
            expired: c.expiry.is_expired(now),
            cardholder_name: c.cardholder_name.clone(),
            nickname: c.nickname.clone(),
            country: c.country.clone(),
            is_default: c.is_default,
            added_at: c.created_at,
        }
    }
}

/// What a card change answers: the card and the sentence to show.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct CardChange {
    pub card: CardView,
    pub message: String,
}

impl Services {
    pub async fn list_cards(&self, actor: &Actor, patient: PatientId) -> Result<Vec<CardView>> {
        actor.require(Permission::ViewPatients)?;
        let mut r = self.store().reader().await?;
        self.require_patient(&mut r, patient).await?;
        let now = self.now();
        Ok(repo::active_for_patient(&mut r, patient)
            .await?
            .iter()
            .map(|c| CardView::of(c, now))
            .collect())
    }

    /// Saves a card the gateway has already tokenised. The first card becomes the default.
    pub async fn save_card(
        &self,
        actor: &Actor,
        patient: PatientId,
        card: NewCard,
    ) -> Result<CardChange> {
        actor.require(Permission::ManageCards)?;
        card.validate()?;
        let settings = self.load_settings().await?;
        if card.gateway != settings.active_gateway {
            return Err(ServiceError::Invalid(format!(
                "The clinic takes cards through {active}, so a {other} card cannot be saved. Enter the card again in the {active} card form.",
                active = settings.active_gateway,
                other = card.gateway
            )));
        }
        let now = self.now();
        if card.expiry.is_expired(now) {
            return Err(ServiceError::Invalid(format!(
                "This card expired {}: ask the patient for their current card.",
                card.expiry
            )));
        }
        let mut tx = self.store().begin().await?;
        self.require_patient(&mut tx, patient).await?;
        let existing = repo::active_for_patient(&mut tx, patient).await?;
        let is_default = new_card_becomes_default(&existing);
        let saved = repo::insert(&mut tx, patient, &card, is_default, now).await?;
        let view = CardView::of(&saved, now);
        Change::new(Some(actor), now, "card.added", "payment_method", saved.id)
            .patient(patient)
            .after(&view)
            .record(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(CardChange {
            message: format!("Your {} has been added to your account.", saved.describe()),
            card: view,
        })
    }

    pub async fn set_default_card(
        &self,
        actor: &Actor,
        card: PaymentMethodId,
    ) -> Result<CardChange> {
        actor.require(Permission::ManageCards)?;
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let c = self.require_card(&mut tx, card).await?;
        c.check_can_become_default(now)?;
        let before = repo::active_for_patient(&mut tx, c.patient_id)
            .await?
            .into_iter()
            .find(|x| x.is_default)
            .map(|x| x.id.0);
        repo::set_default(&mut tx, c.patient_id, c.id).await?;
        Change::new(
            Some(actor),
            now,
            "card.default_changed",
            "payment_method",
            c.id,
        )
        .patient(c.patient_id)
        .before(serde_json::json!({ "default_card": before }))
        .after(serde_json::json!({ "default_card": c.id.0 }))
        .record(&mut tx)
        .await?;
        tx.commit().await?;
        let mut updated = c.clone();
        updated.is_default = true;
        Ok(CardChange {
            message: format!("{} is now your default payment method.", c.describe()),
            card: CardView::of(&updated, now),
        })
    }

    /// Deletes a card under document 000's restrictions. The gateway-side deletion is the gateways layer's.
    pub async fn delete_card(
        &self,
        actor: &Actor,
        card: PaymentMethodId,
        confirm_last: bool,
    ) -> Result<CardChange> {
        actor.require(Permission::ManageCards)?;
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let c = self.require_card(&mut tx, card).await?;
        let cards = repo::active_for_patient(&mut tx, c.patient_id).await?;
        let check = DeletionCheck::evaluate(&c, &cards, confirm_last)?;
        repo::remove(&mut tx, c.id, now).await?;
        Change::new(Some(actor), now, "card.deleted", "payment_method", c.id)
            .patient(c.patient_id)
            .before(CardView::of(&c, now))
            .after(serde_json::json!({
                "deleted": true,
                "was_last_card": check == DeletionCheck::AllowedLastCardConfirmed,
            }))
            .record(&mut tx)
            .await?;
        tx.commit().await?;
        let mut message = format!("{} has been deleted.", c.describe());
        if check == DeletionCheck::AllowedLastCardConfirmed {
            message.push_str(" The patient has no saved card now: add a new one to keep automatic billing running.");
        }
        Ok(CardChange {
            message,
            card: CardView::of(&c, now),
        })
    }

    pub(crate) async fn require_card(
        &self,
        ex: &mut impl clinicpay_store::Executor,
        card: PaymentMethodId,
    ) -> Result<PaymentMethod> {
        repo::get(ex, card).await?.ok_or_else(|| {
            ServiceError::NotFound(format!(
                "There is no saved card {card}: check the number in the patient's Payment Methods."
            ))
        })
    }
}
