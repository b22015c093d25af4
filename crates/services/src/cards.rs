//! Saved cards (product document 000): list, add, set default, delete — with the documents' messages.
//! Long because adding a card has three doors (hosted fields, import, vaulting at checkout) that share
//! the document's default and activity rules.

use chrono::{DateTime, Utc};
use clinicpay_domain::card::{new_card_becomes_default, pick_compatible, DeletionCheck};
use clinicpay_domain::{
    CardExpiry, Gateway, NewCard, PatientId, PaymentMethod, PaymentMethodId, Permission,
};
use clinicpay_gateways::{CardHolder, GatewayError};
use clinicpay_store::{patients, payment_methods as repo};
use serde::{Deserialize, Serialize};

use crate::gateways::card_refusal;
use crate::{Actor, Change, Result, ServiceError, Services};

/// A card the patient typed into the active gateway's hosted fields, as the page hands it over.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct AddCard {
    /// The gateway whose card form made the token.
    pub gateway: Gateway,
    /// Stripe: the PaymentMethod (`pm_…`) or confirmed SetupIntent (`seti_…`); NMI: the Collect.js payment token.
    pub token: String,
    /// As typed in the form; the patient's name when empty.
    pub cardholder_name: Option<String>,
    /// ISO 3166 alpha-2; the gateway's issuing country when empty.
    pub country: Option<String>,
    pub nickname: Option<String>,
}

/// Who saved a card no staff member entered: the patient, on the gateway's page (issue 22).
pub(crate) const BY_PATIENT: &str = "the patient, through a secure card link";
/// Who saved a card typed on Stripe's page at a desk that never said how the page ended (it closed,
/// crashed or locked): the billing engine, from Stripe.
pub(crate) const BY_DESK_PAGE: &str = "ClinicPay, for a card typed on Stripe's page at the desk";

/// Published when a patient's card is saved: billing retries that patient's recovery orders at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CardSaved {
    pub patient_id: PatientId,
    pub card_id: PaymentMethodId,
    pub gateway: Gateway,
}

fn mismatch(entered: Gateway, active: Gateway) -> ServiceError {
    ServiceError::GatewayMismatch(format!(
        "This card was entered for {entered}, but the clinic now takes cards through {active}: enter the card again."
    ))
}

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
    /// Imported without brand, last four and expiry, and the gateway could not fill them in yet.
    pub details_missing: bool,
    /// Can be charged now: saved for the clinic's active gateway and not expired. Set on the patient's
    /// list of cards (`CardView::list`); false on the single card a change answers with.
    pub chargeable: bool,
    /// The card a payment picks first (at most one a patient): the chargeable default, else the chargeable card expiring last.
    pub preselected: bool,
    /// Its latest zero-amount check at its gateway (Verify), if it has had one.
    pub last_verification: Option<crate::card_verify::CardVerification>,
    /// When ClinicPay saw the card network renew it (a new expiry or number from its gateway).
    pub renewed_by_network_at: Option<DateTime<Utc>>,
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
            details_missing: c.details_missing,
            chargeable: false,
            preselected: false,
            last_verification: None,
            renewed_by_network_at: c.renewed_at,
        }
    }

    /// The cards with their latest Verify check, where they have one.
    pub(crate) fn with_verifications(
        mut views: Vec<CardView>,
        checks: &[repo::Verification],
    ) -> Vec<CardView> {
        for view in &mut views {
            view.last_verification = checks
                .iter()
                .find(|v| v.card == view.id)
                .map(crate::card_verify::CardVerification::of);
        }
        views
    }

    /// The patient's cards as a payment dialog offers them: which can be charged through `active`, and
    /// the one picked first, by the same rule a charge uses (`pick_compatible`), so the window keeps no
    /// copy of it.
    pub fn list(cards: &[PaymentMethod], active: Gateway, now: DateTime<Utc>) -> Vec<CardView> {
        let preselected = pick_compatible(cards, active, None, now).map(|c| c.id);
        cards
            .iter()
            .map(|c| CardView {
                chargeable: c.usable_with(active) && !c.expiry.is_expired(now),
                preselected: Some(c.id) == preselected,
                ..CardView::of(c, now)
            })
            .collect()
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
        let mut cards = repo::active_for_patient(&mut r, patient).await?;
        let checks = repo::latest_verifications(&mut r, patient).await?;
        drop(r);
        if cards.iter().any(|c| c.details_missing) {
            self.backfill_details(&mut cards).await;
        }
        let active = self.load_settings().await?.active_gateway;
        Ok(CardView::with_verifications(
            CardView::list(&cards, active, self.now()),
            &checks,
        ))
    }

    /// Fills brand, last four and expiry of imported cards from their gateway (document 003: "for some
    /// imported or older NMI methods, card metadata may be backfilled when payment methods are loaded").
    /// A gateway that cannot answer now leaves the card as it is: listing never fails for this.
    async fn backfill_details(&self, cards: &mut [PaymentMethod]) {
        let Ok(settings) = self.load_settings().await else {
            return;
        };
        for card in cards.iter_mut().filter(|c| c.details_missing) {
            let Ok(client) = self
                .gateway_client(card.gateway, &settings, Some(card.patient_id))
                .await
            else {
                continue;
            };
            let Ok(details) = client.card_details(&card.token).await else {
                continue;
            };
            let Ok(expiry) = CardExpiry::new(details.exp_month, details.exp_year) else {
                continue;
            };
            let filled = async {
                let now = self.now();
                let mut tx = self.store().begin().await?;
                clinicpay_store::patients::lock(&mut tx, card.patient_id).await?;
                repo::fill_details(&mut tx, card.id, details.brand, &details.last4, expiry).await?;
                Change::new(None, now, "card.details_filled", "payment_method", card.id)
                    .by_system("ClinicPay (from the gateway)")
                    .patient(card.patient_id)
                    .after(serde_json::json!({
                        "brand": details.brand.display_name(),
                        "last4": details.last4,
                        "expiry": expiry.mm_yyyy(),
                        "from": card.gateway.as_str(),
                    }))
                    .record(&mut tx)
                    .await?;
                tx.commit().await?;
                Ok::<_, ServiceError>(())
            }
            .await;
            if filled.is_ok() {
                card.brand = details.brand;
                card.last4 = details.last4;
                card.expiry = expiry;
                card.details_missing = false;
            }
        }
    }

    /// Records a card imported from a gateway's vault without its display details (a migration from an
    /// older system); the details are filled in from the gateway when the patient's cards are loaded.
    pub async fn import_card(
        &self,
        actor: &Actor,
        patient: PatientId,
        gateway: Gateway,
        token: &str,
    ) -> Result<CardChange> {
        actor.require(Permission::ManageCards)?;
        if token.trim().is_empty() {
            return Err(ServiceError::Invalid(
                "No gateway reference was given for the imported card.".into(),
            ));
        }
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let person = self.require_patient(&mut tx, patient).await?;
        // The patient first, as every change to a patient's cards and plans: the database copies a
        // patient's default card onto the plans (migration 0028), and two of these at once must take turns.
        clinicpay_store::patients::lock(&mut tx, patient).await?;
        let existing = repo::active_for_patient(&mut tx, patient).await?;
        let saved = repo::insert_imported(
            &mut tx,
            patient,
            gateway,
            token.trim(),
            &person.name,
            new_card_becomes_default(&existing),
            now,
        )
        .await?;
        let view = CardView::of(&saved, now);
        Change::new(
            Some(actor),
            now,
            "card.imported",
            "payment_method",
            saved.id,
        )
        .patient(patient)
        .after(&view)
        .record(&mut tx)
        .await?;
        tx.commit().await?;
        Ok(CardChange {
            message: format!("{} was imported.", saved.describe()),
            card: view,
        })
    }

    /// Saves the card behind a hosted-field token at the clinic's active gateway, then records it here.
    /// The first card becomes the default. A token of the other gateway is refused before any call.
    pub async fn add_card(
        &self,
        actor: &Actor,
        patient: PatientId,
        input: AddCard,
    ) -> Result<CardChange> {
        actor.require(Permission::ManageCards)?;
        self.add_card_by(Some(actor), BY_PATIENT, patient, input)
            .await
    }

    /// [`Self::add_card`] for `actor`, or for no one at the desk (a card saved on the gateway's page,
    /// saved here by the billing engine), then named `system` in the activity log.
    pub(crate) async fn add_card_by(
        &self,
        actor: Option<&Actor>,
        system: &str,
        patient: PatientId,
        input: AddCard,
    ) -> Result<CardChange> {
        let token = input.token.trim();
        if token.is_empty() {
            return Err(ServiceError::Invalid(
                "No card token was given: enter the card in the card form first.".into(),
            ));
        }
        Gateway::check_token(token)?;
        let settings = self.load_settings().await?;
        let active = settings.active_gateway;
        if input.gateway != active {
            return Err(mismatch(input.gateway, active));
        }
        if Gateway::of_token(token) != active {
            return Err(mismatch(Gateway::of_token(token), active));
        }
        let new_card = self
            .vault_card_by(actor, system, patient, &input, &settings)
            .await?;
        let client = self
            .gateway_client(active, &settings, Some(patient))
            .await?;
        let token = new_card.token.clone();
        let recorded = self.record_card(actor, system, patient, new_card).await;
        if recorded.is_err() {
            // Not kept here, so not kept there: a card the clinic cannot see must not stay chargeable.
            let _ = client.delete_card(&token).await;
        }
        let change = recorded?;
        let _ = self.events.send(CardSaved {
            patient_id: patient,
            card_id: change.card.id,
            gateway: active,
        });
        Ok(change)
    }

    /// The card form's cardholder name and billing country, both required on either gateway's form
    /// (nothing is filled in for staff): trimmed, the country as two capital letters.
    pub fn required_card_details(
        name: Option<&str>,
        country: Option<&str>,
    ) -> Result<(String, String)> {
        let name = name.map(str::trim).unwrap_or_default();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(ServiceError::Invalid(
                "Type the cardholder's name as it is on the card (up to 100 characters).".into(),
            ));
        }
        if name != clinicpay_domain::card::without_card_numbers(name) {
            return Err(ServiceError::Invalid(
                "That looks like a card number in the cardholder's name: type the name only. The card number goes in the card window.".into(),
            ));
        }
        let country = country
            .map(str::trim)
            .unwrap_or_default()
            .to_ascii_uppercase();
        if country.len() != 2 || !country.chars().all(|c| c.is_ascii_uppercase()) {
            return Err(ServiceError::Invalid(
                "Choose the card's billing country.".into(),
            ));
        }
        Ok((name.to_owned(), country))
    }

    /// Every "card saved" from now on (billing listens to retry recovery orders).
    pub fn card_saved_events(&self) -> tokio::sync::broadcast::Receiver<CardSaved> {
        self.events.subscribe()
    }

    /// Saves the card behind a hosted-field token at the active gateway (under the patient's customer
    /// there, made and remembered on first use) and answers what to record. Nothing is recorded yet.
    pub(crate) async fn vault_card(
        &self,
        actor: Option<&Actor>,
        patient: PatientId,
        input: &AddCard,
        settings: &clinicpay_domain::OrganizationSettings,
    ) -> Result<NewCard> {
        self.vault_card_by(actor, BY_PATIENT, patient, input, settings)
            .await
    }

    async fn vault_card_by(
        &self,
        actor: Option<&Actor>,
        system: &str,
        patient: PatientId,
        input: &AddCard,
        settings: &clinicpay_domain::OrganizationSettings,
    ) -> Result<NewCard> {
        let active = settings.active_gateway;
        let (person, customer) = {
            let mut r = self.store().reader().await?;
            let person = self.require_patient(&mut r, patient).await?;
            let customer = patients::gateway_customer(&mut r, patient, active).await?;
            (person, customer)
        };
        let client = self.gateway_client(active, settings, Some(patient)).await?;
        let holder = CardHolder {
            name: input
                .cardholder_name
                .clone()
                .filter(|n| !n.trim().is_empty())
                .unwrap_or_else(|| person.name.clone()),
            email: person.email.clone(),
            patient_ref: patient.0.to_string(),
            customer: customer.clone(),
            country: input.country.clone().filter(|c| !c.trim().is_empty()),
        };
        let at_gateway = client
            .save_card(&holder, input.token.trim())
            .await
            .map_err(card_refusal)?;
        if let Some(new) = at_gateway
            .customer
            .as_ref()
            .filter(|c| Some(*c) != customer.as_ref())
        {
            let mut tx = self.store().begin().await?;
            Self::remember_gateway_customer(
                &mut tx,
                actor,
                system,
                patient,
                active,
                new,
                self.now(),
            )
            .await?;
            tx.commit().await?;
        }
        Ok(NewCard {
            gateway: active,
            token: at_gateway.token.clone(),
            brand: at_gateway.brand,
            last4: at_gateway.last4.clone(),
            expiry: CardExpiry::new(at_gateway.exp_month, at_gateway.exp_year)?,
            cardholder_name: holder.name.clone(),
            nickname: input.nickname.clone().filter(|n| !n.trim().is_empty()),
            country: input
                .country
                .clone()
                .filter(|c| !c.trim().is_empty())
                .or(at_gateway.country.clone()),
            fingerprint: at_gateway.fingerprint.clone(),
        })
    }

    /// The patient's customer at `gateway`, made there on first use: remembered, in the activity log.
    pub(crate) async fn remember_gateway_customer(
        tx: &mut clinicpay_store::Tx,
        actor: Option<&Actor>,
        system: &str,
        patient: PatientId,
        gateway: Gateway,
        customer: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        patients::set_gateway_customer(tx, patient, gateway, customer).await?;
        Change::new(
            actor,
            now,
            "patient.gateway_customer_created",
            "patient",
            patient,
        )
        .unless_staff(actor, system)
        .patient(patient)
        .after(serde_json::json!({ "gateway": gateway.as_str(), "customer": customer }))
        .record(tx)
        .await
    }

    async fn record_card(
        &self,
        actor: Option<&Actor>,
        system: &str,
        patient: PatientId,
        card: NewCard,
    ) -> Result<CardChange> {
        card.validate()?;
        let now = self.now();
        if card.expiry.is_expired(now) {
            return Err(ServiceError::Invalid(format!(
                "This card expired {}: ask the patient for their current card.",
                card.expiry
            )));
        }
        let mut tx = self.store().begin().await?;
        // Two desks saving the patient's first card at once: one of them is the default.
        clinicpay_store::patients::lock(&mut tx, patient).await?;
        self.require_patient(&mut tx, patient).await?;
        let existing = repo::active_for_patient(&mut tx, patient).await?;
        let is_default = new_card_becomes_default(&existing);
        let saved = repo::insert(&mut tx, patient, &card, is_default, now).await?;
        let view = CardView::of(&saved, now);
        Change::new(actor, now, "card.added", "payment_method", saved.id)
            .unless_staff(actor, system)
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

    /// Records a card whose metadata is already known (demo data, imports), without a gateway call.
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
        self.record_card(Some(actor), BY_PATIENT, patient, card)
            .await
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
        // Desks changing the same patient's cards take turns, so each change starts from the last.
        clinicpay_store::patients::lock(&mut tx, c.patient_id).await?;
        let c = self.require_card(&mut tx, card).await?;
        if c.removed_at.is_some() {
            return Err(ServiceError::Conflict(format!(
                "{} was just deleted at another desk: choose another card.",
                c.describe()
            )));
        }
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

    /// Deletes a card under document 000's restrictions: at its gateway first, then here.
    pub async fn delete_card(
        &self,
        actor: &Actor,
        card: PaymentMethodId,
        confirm_last: bool,
    ) -> Result<CardChange> {
        actor.require(Permission::ManageCards)?;
        // What it pays, named in the refusal and the answer (document 003: check subscriptions and
        // unpaid invoices before a card is removed).
        let dependents = self.card_dependents(actor, card).await?;
        // The rules first, so a refused deletion never reaches the gateway; then the card is marked as
        // being deleted, so no desk starts a charge with it while the gateway deletes it.
        let now = self.now();
        let c = {
            let mut tx = self.store().begin().await?;
            let c = self.require_card(&mut tx, card).await?;
            clinicpay_store::patients::lock(&mut tx, c.patient_id).await?;
            let c = self.require_card(&mut tx, card).await?;
            let cards = repo::active_for_patient(&mut tx, c.patient_id).await?;
            DeletionCheck::evaluate(&c, &cards, confirm_last).map_err(|e| {
                match (ServiceError::from(e), dependents.dependents.is_empty()) {
                    (ServiceError::CardRule(m), false) => {
                        ServiceError::CardRule(format!("{m} {}", dependents.summary))
                    }
                    (other, _) => other,
                }
            })?;
            match repo::mark_deleting(&mut tx, c.id, now).await? {
                Some(repo::DeleteBlock::BeingDeleted) => {
                    return Err(ServiceError::Conflict(format!(
                        "{} is being deleted at another desk right now.",
                        c.describe()
                    )))
                }
                Some(repo::DeleteBlock::BeingCharged) => {
                    return Err(ServiceError::Conflict(format!(
                        "A payment with {} is in progress at another desk: wait for it to finish, then delete the card.",
                        c.describe()
                    )))
                }
                None => {}
            }
            tx.commit().await?;
            c
        };
        let unmark = || async {
            if let Ok(mut tx) = self.store().begin().await {
                if repo::clear_deleting(&mut tx, c.id).await.is_ok() {
                    tx.commit().await.ok();
                }
            }
        };
        // Then at the card's own gateway (not necessarily the active one): if that fails, the card stays.
        let settings = match self.load_settings().await {
            Ok(s) => s,
            Err(e) => {
                unmark().await;
                return Err(e);
            }
        };
        let client = match self
            .gateway_client(c.gateway, &settings, Some(c.patient_id))
            .await
        {
            Ok(client) => client,
            Err(e) => {
                unmark().await;
                return Err(e);
            }
        };
        let at_gateway = match client.delete_card(&c.token).await {
            Ok(()) => "deleted",
            Err(GatewayError::Rejected { code, .. }) if code == clinicpay_gateways::NOT_FOUND => {
                "already gone"
            }
            Err(e) => {
                unmark().await;
                return Err(match ServiceError::from(e) {
                    ServiceError::GatewayUnavailable(m) => {
                        ServiceError::GatewayUnavailable(format!("The card was not deleted: {m}"))
                    }
                    other => other,
                });
            }
        };
        let mut tx = self.store().begin().await?;
        clinicpay_store::patients::lock(&mut tx, c.patient_id).await?;
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
                "at_gateway": at_gateway,
            }))
            .record(&mut tx)
            .await?;
        tx.commit().await?;
        let mut message = format!("{} has been deleted.", c.describe());
        if check == DeletionCheck::AllowedLastCardConfirmed {
            message.push_str(" The patient has no saved card now: add a new one to keep automatic billing running.");
        }
        if !dependents.dependents.is_empty() {
            message.push(' ');
            message.push_str(&dependents.after_deletion());
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
