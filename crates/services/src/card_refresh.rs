//! The card networks' updates first (issue 23). Card networks refresh saved cards by themselves
//! (Stripe's card automatic updates change a PaymentMethod's expiry and sometimes its number; NMI's
//! Account Updater refreshes Customer Vault records), while ClinicPay keeps its own copy of brand, last
//! four and expiry. Before ClinicPay acts on a card's expiry (a reminder, the expiring-cards dashboard,
//! a recovery order waiting for a new card) it asks the card's own gateway first and takes what the
//! gateway holds now.
//!
//! Look-ups are paced under the gateway's documented rate limit (Stripe: 25 a second for one endpoint;
//! NMI publishes none), several in flight at once; a gateway that cannot answer leaves the card as it
//! was and says so, never blocking the caller.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use clinicpay_domain::{
    CardExpiry, Gateway, NetworkUpdate, OrganizationSettings, PatientId, PaymentMethod,
    PaymentMethodId, Permission,
};
use clinicpay_gateways::{GatewayError, PaymentGateway, SavedCard};
use clinicpay_store::payment_methods as repo;
use serde::Serialize;
use tokio::sync::Semaphore;

use crate::{Actor, Change, Result, Services};

/// A billing-engine pass spends about this many seconds of look-ups a gateway (400 Stripe cards, 100
/// NMI cards at their paces), so billing is never held up longer.
const PASS_SECONDS: f64 = 20.0;

/// A gateway that fails this many look-ups in a row is taken to be down: the rest wait.
const DOWN_AFTER: usize = 5;

/// A card looked up this recently counts as checked: the nightly refresh keeps expiring cards within
/// this, so reminders and the dashboard rarely need to ask again.
pub const FRESH_FOR: Duration = Duration::hours(20);

/// What a refresh found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct RefreshReport {
    /// Cards whose gateway answered.
    pub checked: u32,
    /// Of those, renewed by the card network (a new expiry or number), now updated here.
    pub renewed: u32,
    pub unchanged: u32,
    /// Cards whose gateway could not answer (down, no key on this computer, no longer there): left
    /// as they were.
    pub could_not_check: u32,
    /// The renewals, in the activity log's words.
    pub renewals: Vec<String>,
    /// Why some could not be checked (one sentence per gateway and reason).
    pub problems: Vec<String>,
    /// The cards left unchecked, for the caller to hold back what depends on them.
    #[serde(skip)]
    pub unchecked: HashSet<PaymentMethodId>,
    /// The cards renewed.
    #[serde(skip)]
    pub renewed_cards: Vec<PaymentMethod>,
}

impl RefreshReport {
    fn merge(&mut self, other: RefreshReport) {
        self.checked += other.checked;
        self.renewed += other.renewed;
        self.unchanged += other.unchanged;
        self.could_not_check += other.could_not_check;
        self.renewals.extend(other.renewals);
        for p in other.problems {
            if !self.problems.contains(&p) {
                self.problems.push(p);
            }
        }
        self.unchecked.extend(other.unchecked);
        self.renewed_cards.extend(other.renewed_cards);
    }
}

/// How fast ClinicPay asks a gateway: a share of its documented read limit (the desks' own calls use
/// the rest), with a few look-ups in flight so the gateway's latency does not set the pace.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pace {
    pub per_second: f64,
    pub in_flight: usize,
}

impl Pace {
    /// Stripe: 25 requests a second for any one endpoint (100 in all, live), so 20 a second for
    /// retrieving PaymentMethods. NMI publishes no number, only that too many connections get "HTTP
    /// 429: Too Many Requests" and must not be retried at once: 5 a second, two at a time.
    pub fn for_gateway(gateway: Gateway) -> Pace {
        match gateway {
            Gateway::Stripe => Pace {
                per_second: 20.0,
                in_flight: 6,
            },
            Gateway::Nmi => Pace {
                per_second: 5.0,
                in_flight: 2,
            },
        }
    }
}

impl Services {
    /// `clinicpay cards refresh [PATIENT]`: the patient's cards, or every card expiring within the
    /// largest reminder threshold (and those expired within a month), asked of their gateways now.
    pub async fn refresh_cards(
        &self,
        actor: &Actor,
        patient: Option<PatientId>,
    ) -> Result<RefreshReport> {
        actor.require(Permission::ManageCards)?;
        let settings = self.load_settings().await?;
        let now = self.now();
        let cards = match patient {
            Some(p) => {
                let mut r = self.store().reader().await?;
                self.require_patient(&mut r, p).await?;
                repo::active_for_patient(&mut r, p)
                    .await?
                    .into_iter()
                    .filter(|c| !c.details_missing)
                    .collect()
            }
            None => self.expiring_to_refresh(&settings, now, now).await?,
        };
        Ok(self.refresh_at_gateways(cards, &settings).await)
    }

    /// The billing engine's refresh, a share each pass: cards expiring within the largest reminder
    /// threshold (or expired within a month) not checked in the last 20 hours, soonest first, at most
    /// about twenty seconds of look-ups a pass so billing is never held up. Once every such card is
    /// fresh it rests an hour (so the dashboard and the reminders are already true when someone looks,
    /// every night included); after a gateway that would not answer, fifteen minutes.
    pub(crate) async fn refresh_expiring_cards(&self) -> Result<Option<RefreshReport>> {
        let now = self.now();
        let due = self
            .card_refresh_next
            .lock()
            .map(|n| n.is_none_or(|at| at <= now))
            .unwrap_or(true);
        if !due {
            return Ok(None);
        }
        let settings = self.load_settings().await?;
        let stale = self
            .expiring_to_refresh(&settings, now, now - FRESH_FOR)
            .await?;
        // Each gateway's share: what its pace asks in PASS_SECONDS, soonest expiry first.
        let mut cards = Vec::new();
        let mut all = true;
        for gateway in [Gateway::Nmi, Gateway::Stripe] {
            let cap = (Pace::for_gateway(gateway).per_second * PASS_SECONDS) as usize;
            let these: Vec<_> = stale.iter().filter(|c| c.gateway == gateway).collect();
            all &= these.len() <= cap;
            cards.extend(these.into_iter().take(cap).cloned());
        }
        let report = self.refresh_at_gateways(cards, &settings).await;
        let rest = if !report.unchecked.is_empty() {
            Some(now + Duration::minutes(15))
        } else if all {
            Some(now + Duration::hours(1))
        } else {
            None
        };
        if let Ok(mut next) = self.card_refresh_next.lock() {
            *next = rest;
        }
        Ok(Some(report))
    }

    async fn expiring_to_refresh(
        &self,
        settings: &OrganizationSettings,
        now: DateTime<Utc>,
        checked_before: DateTime<Utc>,
    ) -> Result<Vec<PaymentMethod>> {
        let max = settings
            .reminders
            .thresholds
            .iter()
            .copied()
            .max()
            .unwrap_or(0);
        let from = crate::reminders::month_of(now - Duration::days(31));
        let to = crate::reminders::month_of(now + Duration::days(i64::from(max)));
        let mut r = self.store().reader().await?;
        Ok(repo::to_refresh(&mut r, from, to, checked_before, None, 1_000_000).await?)
    }

    /// These cards, as their gateways hold them now: those not looked up within `FRESH_FOR` are asked.
    pub(crate) async fn refresh_if_stale(
        &self,
        cards: Vec<PaymentMethod>,
        settings: &OrganizationSettings,
    ) -> RefreshReport {
        let fresh_since = self.now() - FRESH_FOR;
        let stale: Vec<_> = cards
            .into_iter()
            .filter(|c| !c.details_missing && c.checked_at.is_none_or(|t| t < fresh_since))
            .collect();
        self.refresh_at_gateways(stale, settings).await
    }

    /// Asks each card's gateway for it (see `refresh_only`); a patient whose card was renewed has
    /// their recovery orders retried with it.
    pub(crate) async fn refresh_at_gateways(
        &self,
        cards: Vec<PaymentMethod>,
        settings: &OrganizationSettings,
    ) -> RefreshReport {
        let report = self.refresh_only(cards, settings).await;
        let patients: HashSet<PatientId> =
            report.renewed_cards.iter().map(|c| c.patient_id).collect();
        for patient in patients {
            let card = report
                .renewed_cards
                .iter()
                .find(|c| c.patient_id == patient)
                .map(|c| c.id);
            let _ = self.retry_recovery_for_patient(patient, card).await;
        }
        report
    }

    /// Asks each card's gateway for it, paced, and takes what changed (each change in the activity
    /// log). Nothing else is done about a renewal.
    pub(crate) async fn refresh_only(
        &self,
        cards: Vec<PaymentMethod>,
        settings: &OrganizationSettings,
    ) -> RefreshReport {
        let mut report = RefreshReport::default();
        for gateway in [Gateway::Nmi, Gateway::Stripe] {
            let these: Vec<_> = cards
                .iter()
                .filter(|c| c.gateway == gateway)
                .cloned()
                .collect();
            if these.is_empty() {
                continue;
            }
            report.merge(self.refresh_on(gateway, these, settings).await);
        }
        report
    }

    async fn refresh_on(
        &self,
        gateway: Gateway,
        cards: Vec<PaymentMethod>,
        settings: &OrganizationSettings,
    ) -> RefreshReport {
        let mut report = RefreshReport::default();
        // The demo clinic's made-up cards were never at any gateway (the simulator makes a stand-in
        // when one is charged in training, whose details are its own): nothing to ask.
        let cards: Vec<_> = if settings.training_mode {
            cards
                .into_iter()
                .filter(|c| !crate::demo::is_demo_token(&c.token))
                .collect()
        } else {
            cards
        };
        if cards.is_empty() {
            return report;
        }
        // Held: the gateway did not answer, so what depends on these cards waits for the next try.
        // A card ClinicPay cannot ask about here at all (no key on this computer, a gateway refusing
        // the look-up) is counted but not held: waiting would never end.
        let not_checked =
            |report: &mut RefreshReport, cards: &[PaymentMethod], why: String, held: bool| {
                report.could_not_check += cards.len() as u32;
                if held {
                    report.unchecked.extend(cards.iter().map(|c| c.id));
                }
                if !report.problems.contains(&why) {
                    report.problems.push(why);
                }
            };
        let client: Arc<dyn PaymentGateway> =
            match self.gateway_client(gateway, settings, None).await {
                Ok(c) => Arc::from(c),
                Err(e) => {
                    let held = matches!(
                        e,
                        crate::ServiceError::GatewayUnavailable(_)
                            | crate::ServiceError::DatabaseUnavailable(_)
                    );
                    not_checked(
                        &mut report,
                        &cards,
                        format!("{gateway} could not be asked: {e}"),
                        held,
                    );
                    return report;
                }
            };
        let answers = look_up_paced(client, &cards, Pace::for_gateway(gateway)).await;
        let now = self.now();
        let mut unchanged = Vec::new();
        for (card, answer) in cards.iter().zip(answers) {
            let saved = match answer {
                Ok(saved) => saved,
                Err(e @ GatewayError::Unavailable { .. }) => {
                    not_checked(&mut report, std::slice::from_ref(card), e.to_string(), true);
                    continue;
                }
                Err(e) => {
                    // Asked and refused (no such card there any more, a key it does not take):
                    // nothing to take from it, and not asked again until tomorrow.
                    not_checked(
                        &mut report,
                        std::slice::from_ref(card),
                        e.to_string(),
                        false,
                    );
                    unchanged.push(card.id);
                    continue;
                }
            };
            report.checked += 1;
            let update = CardExpiry::new(saved.exp_month, saved.exp_year)
                .ok()
                .and_then(|exp| NetworkUpdate::between(card, saved.brand, &saved.last4, exp));
            let Some(update) = update else {
                report.unchanged += 1;
                unchanged.push(card.id);
                continue;
            };
            match self.apply_update(card, &update, now).await {
                Ok(sentence) => {
                    report.renewed += 1;
                    report.renewals.push(sentence);
                    let mut renewed = card.clone();
                    renewed.expiry = update.expiry;
                    renewed.last4 = update.last4.clone();
                    renewed.brand = update.brand;
                    renewed.renewed_at = Some(now);
                    report.renewed_cards.push(renewed);
                }
                Err(e) => not_checked(
                    &mut report,
                    std::slice::from_ref(card),
                    format!("the update could not be saved here: {e}"),
                    true,
                ),
            }
        }
        let marked = async {
            let mut tx = self.store().begin().await?;
            repo::mark_checked(&mut tx, &unchanged, now).await?;
            tx.commit().await?;
            Ok::<_, crate::ServiceError>(())
        };
        if let Err(e) = marked.await {
            report.problems.push(format!(
                "when the cards were checked could not be noted: {e}"
            ));
        }
        report
    }

    /// Takes the network's update of one card, with its activity entry.
    async fn apply_update(
        &self,
        card: &PaymentMethod,
        update: &NetworkUpdate,
        now: DateTime<Utc>,
    ) -> Result<String> {
        let sentence = update.describe(card);
        let mut tx = self.store().begin().await?;
        // The patient first, as every change to a patient's cards: the plans carry the default card's
        // month (migration 0028).
        clinicpay_store::patients::lock(&mut tx, card.patient_id).await?;
        repo::apply_network_update(&mut tx, card.id, update, now).await?;
        Change::new(
            None,
            now,
            "card.renewed_by_network",
            "payment_method",
            card.id,
        )
        .by_system(&format!("the card network, through {}", card.gateway))
        .patient(card.patient_id)
        .before(serde_json::json!({
            "last4": card.last4,
            "expiry": card.expiry.to_string(),
        }))
        .after(serde_json::json!({
            "last4": update.last4,
            "expiry": update.expiry.to_string(),
            "summary": sentence,
        }))
        .record(&mut tx)
        .await?;
        tx.commit().await?;
        Ok(sentence)
    }
}

/// Each card's details from `client`, in the cards' order: at most `pace.per_second` look-ups begun
/// a second, `pace.in_flight` at a time.
async fn look_up_paced(
    client: Arc<dyn PaymentGateway>,
    cards: &[PaymentMethod],
    pace: Pace,
) -> Vec<std::result::Result<SavedCard, GatewayError>> {
    let gap = StdDuration::from_secs_f64(1.0 / pace.per_second.max(0.1));
    let slots = Arc::new(Semaphore::new(pace.in_flight.max(1)));
    let mut tick = tokio::time::interval(gap);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let failing = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::with_capacity(cards.len());
    for card in cards {
        // A gateway that stopped answering is not asked about the rest now.
        if failing.load(std::sync::atomic::Ordering::Relaxed) >= DOWN_AFTER {
            let gateway = client.gateway();
            tasks.push(tokio::spawn(async move {
                Err(GatewayError::Unavailable {
                    gateway,
                    message: format!(
                        "not asked: {gateway} did not answer the last {DOWN_AFTER} look-ups"
                    ),
                })
            }));
            continue;
        }
        tick.tick().await;
        let Ok(slot) = slots.clone().acquire_owned().await else {
            break;
        };
        let (client, token, failing) = (client.clone(), card.token.clone(), failing.clone());
        tasks.push(tokio::spawn(async move {
            let answer = client.card_details(&token).await;
            drop(slot);
            match &answer {
                Err(GatewayError::Unavailable { .. }) => {
                    failing.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                _ => failing.store(0, std::sync::atomic::Ordering::Relaxed),
            }
            answer
        }));
    }
    let mut answers = Vec::with_capacity(tasks.len());
    for t in tasks {
        answers.push(t.await.unwrap_or_else(|e| {
            Err(GatewayError::Unavailable {
                gateway: client.gateway(),
                message: format!("the look-up stopped ({e})"),
            })
        }));
    }
    answers
}
