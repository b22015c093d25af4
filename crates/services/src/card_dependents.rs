//! What a saved card pays (document 003: "CS should check active subscriptions and unpaid invoices
//! before advising a patient to remove a payment method"): the subscriptions and unpaid invoices whose
//! next charge would go to it, and which card, if any, would pay each once it is deleted. The delete
//! dialog and `cards delete` name them before anyone confirms.

use chrono::{DateTime, Utc};
use clinicpay_domain::card::pick_compatible;
use clinicpay_domain::routing::{route_charge, ChargeAsk};
use clinicpay_domain::{
    Gateway, InvoiceStatus, OrganizationSettings, PaymentMethod, PaymentMethodId, Permission,
    SubscriptionStatus,
};
use clinicpay_store::subscriptions::Subscription;
use clinicpay_store::{invoices, orders, payment_methods as repo, subscriptions};
use serde::Serialize;

use crate::{Actor, Result, Services};

/// A subscription or an unpaid invoice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum DependentKind {
    Subscription,
    Invoice,
}

/// One thing a card pays.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Dependent {
    pub kind: DependentKind,
    #[cfg_attr(feature = "specta", specta(type = i32))]
    pub id: i64,
    /// "Wellness ($49.00 a month)", "invoice 12 ($80.00, Visit)".
    pub what: String,
    /// The card that would pay it once this one is deleted ("Visa ending in 1111 on NMI"), if any.
    pub then_paid_by: Option<String>,
}

/// What a card pays, and in one sentence.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct CardDependents {
    pub card_id: PaymentMethodId,
    pub card: String,
    pub dependents: Vec<Dependent>,
    pub summary: String,
}

/// The card a subscription's next charge goes to, among `cards`.
fn paying_subscription(
    cards: &[PaymentMethod],
    sub: &Subscription,
    settings: &OrganizationSettings,
    now: DateTime<Utc>,
) -> Option<PaymentMethodId> {
    route_charge(
        cards,
        ChargeAsk {
            staff_chose: None,
            // As the billing engine charges (`recovery::ChargeHow::ENGINE`).
            allow_fallback: false,
            just_saved: None,
            locked: sub.locked_gateway,
            active: settings.active_gateway,
            fallback: settings.fallback_gateway,
        },
        now,
    )
    .candidates
    .first()
    .map(|c| c.card)
}

fn described(cards: &[PaymentMethod], id: Option<PaymentMethodId>) -> Option<String> {
    let card = cards.iter().find(|c| Some(c.id) == id)?;
    Some(format!("{} on {}", card.describe(), card.gateway))
}

impl Services {
    /// The subscriptions and unpaid invoices `card` pays now, and what would pay each without it.
    pub async fn card_dependents(
        &self,
        actor: &Actor,
        card: PaymentMethodId,
    ) -> Result<CardDependents> {
        actor.require(Permission::ViewPatients)?;
        let settings = self.load_settings().await?;
        let now = self.now();
        let mut r = self.store().reader().await?;
        let c = self.require_card(&mut r, card).await?;
        let cards = repo::active_for_patient(&mut r, c.patient_id).await?;
        let subs: Vec<Subscription> = subscriptions::subscriptions(&mut r, Some(c.patient_id), 200)
            .await?
            .into_iter()
            .filter(|s| s.status != SubscriptionStatus::Cancelled)
            .collect();
        let open: Vec<_> = invoices::invoices(&mut r, Some(c.patient_id), 500)
            .await?
            .into_iter()
            .filter(|i| i.status == InvoiceStatus::Open)
            .collect();
        let mut invoice_subs = Vec::new();
        for i in &open {
            let sub = match i.order_id {
                Some(o) => orders::order(&mut r, o)
                    .await?
                    .and_then(|o| o.subscription_id),
                None => None,
            };
            invoice_subs.push(sub.and_then(|id| subs.iter().find(|s| s.id == id)));
        }
        drop(r);
        let without: Vec<PaymentMethod> = cards.iter().filter(|x| x.id != c.id).cloned().collect();
        let mut dependents = Vec::new();
        for sub in &subs {
            if paying_subscription(&cards, sub, &settings, now) == Some(c.id) {
                dependents.push(Dependent {
                    kind: DependentKind::Subscription,
                    id: sub.id.0,
                    what: format!("{} ({} a {})", sub.plan, sub.amount, sub.interval),
                    then_paid_by: described(
                        &without,
                        paying_subscription(&without, sub, &settings, now),
                    ),
                });
            }
        }
        let active: Gateway = settings.active_gateway;
        for (i, sub) in open.iter().zip(invoice_subs) {
            // A subscription's invoice is charged as its subscription is; any other on the active gateway.
            let pays = |cards: &[PaymentMethod]| match sub {
                Some(sub) => paying_subscription(cards, sub, &settings, now),
                None => pick_compatible(cards, active, None, now).map(|x| x.id),
            };
            if pays(&cards) == Some(c.id) {
                dependents.push(Dependent {
                    kind: DependentKind::Invoice,
                    id: i.id.0,
                    what: format!(
                        "invoice {} ({}{})",
                        i.id,
                        i.amount,
                        if i.description.is_empty() {
                            String::new()
                        } else {
                            format!(", {}", i.description)
                        }
                    ),
                    then_paid_by: described(&without, pays(&without)),
                });
            }
        }
        let summary = summary(&c.describe(), &dependents);
        Ok(CardDependents {
            card_id: c.id,
            card: c.describe(),
            dependents,
            summary,
        })
    }
}

impl CardDependents {
    /// What the answer to a deletion says of them: what now pays each, or that nothing does.
    pub fn after_deletion(&self) -> String {
        let each = self
            .dependents
            .iter()
            .map(|d| match &d.then_paid_by {
                Some(other) => format!("{} is now charged to {other}", d.what),
                None => format!("{} has no card to charge now", d.what),
            })
            .collect::<Vec<_>>()
            .join("; ");
        format!("What it paid: {each}.")
    }
}

/// "Visa ending in 4242 pays: … Once it is deleted, …".
fn summary(card: &str, dependents: &[Dependent]) -> String {
    if dependents.is_empty() {
        return format!(
            "Nothing depends on {card}: no subscription or unpaid invoice would be charged to it."
        );
    }
    let what = dependents
        .iter()
        .map(|d| d.what.clone())
        .collect::<Vec<_>>()
        .join("; ");
    let after = dependents
        .iter()
        .map(|d| match &d.then_paid_by {
            Some(other) => format!("{} would be charged to {other}", d.what),
            None => format!("{} would have no card to charge", d.what),
        })
        .collect::<Vec<_>>()
        .join("; ");
    format!("{card} pays {what}. Once it is deleted, {after}.")
}
