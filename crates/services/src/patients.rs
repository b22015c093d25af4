//! Patients: add, find, and the profile the front desk opens.

use chrono::{DateTime, Utc};
use clinicpay_domain::{NewPatient, Patient, PatientId, Permission};
use clinicpay_store::{activity, patients as repo, Executor};
use serde::Serialize;

use crate::cards::CardView;
use crate::{Actor, Change, Result, ServiceError, Services};

/// One line of a patient's activity, in words.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ActivityView {
    #[cfg_attr(feature = "specta", specta(type = i32))]
    pub seq: i64,
    pub at: DateTime<Utc>,
    /// The staff member's sign-in name.
    pub actor: String,
    /// The machine name, e.g. `card.added`.
    pub action: String,
    /// What happened, for people: "Card added: Visa ending in 1234".
    pub summary: String,
}

impl From<activity::ActivityEntry> for ActivityView {
    fn from(e: activity::ActivityEntry) -> Self {
        let parse = |s: &Option<String>| {
            s.as_deref()
                .and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok())
                .unwrap_or_default()
        };
        let (before, after) = (parse(&e.before_state), parse(&e.after_state));
        let text =
            |v: &serde_json::Value, k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
        let summary = match e.action.as_str() {
            "patient.added" => "Patient added".to_owned(),
            "patient.updated" => "Patient details changed".to_owned(),
            "card.added" => match text(&after, "description") {
                Some(d) => format!("Card added: {d}"),
                None => "Card added".to_owned(),
            },
            "card.default_changed" => "Default card changed".to_owned(),
            "card.imported" => "Card imported without its details".to_owned(),
            "card.details_filled" => match (text(&after, "brand"), text(&after, "last4")) {
                (Some(b), Some(l)) => {
                    format!("Card details loaded from the gateway: {b} ending in {l}")
                }
                _ => "Card details loaded from the gateway".to_owned(),
            },
            "card.deleted" => match text(&before, "description") {
                Some(d) => format!("Card deleted: {d}"),
                None => "Card deleted".to_owned(),
            },
            "recovery.notice_sent" | "recovery.notice_refused" => {
                let stage = text(&after, "stage")
                    .and_then(|s| s.parse::<clinicpay_domain::notices::NoticeStage>().ok())
                    .map(|s| s.title())
                    .unwrap_or("email");
                if e.action == "recovery.notice_sent" {
                    format!("Payment recovery email sent: {stage}")
                } else {
                    format!("Payment recovery email refused by the mail server (tried again later): {stage}")
                }
            }
            "subscription.gateway_relocked" => match (
                text(&before, "locked_gateway"),
                text(&after, "locked_gateway"),
            ) {
                (Some(b), Some(a)) => format!(
                    "Subscription moved from {} to {}, which paid it",
                    gateway_words(&b),
                    gateway_words(&a)
                ),
                _ => "Subscription moved to another gateway".to_owned(),
            },
            "card.renewed_by_network" => text(&after, "summary")
                .unwrap_or_else(|| "The card network renewed a card".to_owned()),
            "card_page.opened" => "Stripe's card page opened at the desk".to_owned(),
            "card_page.complete" => "Card typed on Stripe's page at the desk".to_owned(),
            "card_page.expired" => "Stripe's card page closed without a card".to_owned(),
            "card_page.failed" => match text(&after, "outcome") {
                Some(why) => format!("A card typed on Stripe's page was not kept: {why}"),
                None => "A card typed on Stripe's page was not kept".to_owned(),
            },
            "card_link.created" => "Secure card link made".to_owned(),
            "card_link.sent" => match text(&after, "to") {
                Some(to) => format!("Secure card link emailed to {to}"),
                None => "Secure card link emailed".to_owned(),
            },
            "card_link.complete" => {
                "The patient saved a card through the secure card link".to_owned()
            }
            "card_link.expired" => match text(&after, "outcome") {
                Some(why) => format!("Secure card link ended: {why}"),
                None => "Secure card link ended".to_owned(),
            },
            "card_link.failed" => match text(&after, "outcome") {
                Some(why) => {
                    format!("The card saved through the secure card link was not kept: {why}")
                }
                None => "The card saved through the secure card link was not kept".to_owned(),
            },
            other => other.replace(['.', '_'], " "),
        };
        ActivityView {
            seq: e.seq,
            at: e.at_time(),
            actor: e.actor_name,
            action: e.action,
            summary,
        }
    }
}

/// "stripe" → "Stripe", as the clinic says it.
fn gateway_words(id: &str) -> String {
    id.parse::<clinicpay_domain::Gateway>()
        .map(|g| g.to_string())
        .unwrap_or_else(|_| id.to_owned())
}

/// Everything the patient profile shows.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct PatientProfile {
    pub patient: Patient,
    pub cards: Vec<CardView>,
    pub activity: Vec<ActivityView>,
    /// Secure card links sent to the patient, newest first, and what became of each.
    pub card_links: Vec<crate::card_pages::CardLinkView>,
}

pub const SEARCH_LIMIT: i64 = 50;

impl Services {
    pub async fn add_patient(&self, actor: &Actor, new: NewPatient) -> Result<Patient> {
        actor.require(Permission::EditPatients)?;
        let new = new.validated()?;
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let p = repo::insert(&mut tx, &new, now).await?;
        Change::new(Some(actor), now, "patient.added", "patient", p.id)
            .patient(p.id)
            .after(&new)
            .record(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(p)
    }

    pub async fn update_patient(
        &self,
        actor: &Actor,
        id: PatientId,
        new: NewPatient,
    ) -> Result<Patient> {
        actor.require(Permission::EditPatients)?;
        let new = new.validated()?;
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let before = self.require_patient(&mut tx, id).await?;
        repo::update(&mut tx, id, &new, now).await?;
        Change::new(Some(actor), now, "patient.updated", "patient", id)
            .patient(id)
            .before(&before)
            .after(&new)
            .record(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(Patient {
            name: new.name,
            email: new.email,
            phone: new.phone,
            patient_type: new.patient_type,
            ..before
        })
    }

    /// Patients whose name, email or phone start with what was typed (at most 50, by name).
    pub async fn search_patients(&self, actor: &Actor, query: &str) -> Result<Vec<Patient>> {
        actor.require(Permission::ViewPatients)?;
        let mut r = self.store().reader().await?;
        Ok(repo::search_with(&mut r, query, SEARCH_LIMIT, &self.term_counts).await?)
    }

    pub async fn patient_profile(&self, actor: &Actor, id: PatientId) -> Result<PatientProfile> {
        actor.require(Permission::ViewPatients)?;
        let now = self.now();
        // Read before taking a reader: a second connection while holding one could wait on the pool.
        let active = self.load_settings().await?.active_gateway;
        let mut r = self.store().reader().await?;
        let patient = self.require_patient(&mut r, id).await?;
        let cards = clinicpay_store::payment_methods::active_for_patient(&mut r, id).await?;
        let checks = clinicpay_store::payment_methods::latest_verifications(&mut r, id).await?;
        let cards = CardView::with_verifications(CardView::list(&cards, active, now), &checks);
        let activity = if actor.role.allows(Permission::ViewActivity) {
            activity::for_patient(&mut r, id.0, 100)
                .await?
                .into_iter()
                .map(ActivityView::from)
                .collect()
        } else {
            Vec::new()
        };
        let card_links = self.links_for(&mut r, id, actor).await?;
        Ok(PatientProfile {
            patient,
            cards,
            activity,
            card_links,
        })
    }

    pub(crate) async fn require_patient(
        &self,
        ex: &mut impl Executor,
        id: PatientId,
    ) -> Result<Patient> {
        repo::get(ex, id).await?.ok_or_else(|| {
            ServiceError::NotFound(format!(
                "There is no patient {id}: search by name, email or phone to find the right one."
            ))
        })
    }
}
