//! The randomized fault suite (DESIGN.md "Money safety"): rounds of invoice payments, checkouts,
//! subscription cycles, recovery retries and refunds, with the simulator failing at random (5xx, 429,
//! dropped connections before and after the work, malformed answers, slow answers), NMI's batch
//! closing at random between a charge and its look-up, and NMI's duplicate check refusing a second
//! desk payment of the same amount, NMI's look-up-class answers (420/430), and answers that arrive after
//! the janitor recorded the charge not sent. Each run ends with
//! the janitor settling what was left unknown, then ClinicPay's ledger is compared with the gateway's
//! own: no duplicate charge, no charge ClinicPay does not know about, no recorded charge the gateway
//! does not have, refunds equal.
//!
//! Patients end their plans after a few weeks (a subscription is cancelled eight rounds after it
//! started), so each round does about the same work however long the run: with every plan billing
//! for ever, a run's work grew with the square of its rounds and 1,000 rounds did not end in 30 minutes.
//!
//! `CLINICPAY_FAULT_ROUNDS` sets the rounds per gateway and database (CI keeps it small); e.g.
//! `CLINICPAY_FAULT_ROUNDS=1000 ./scripts/with-keychain.sh cargo nextest run --profile long -p clinicpay-services -E 'test(/^fault_suite::/)'`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration as StdDuration;

use crate::support::*;
use clinicpay_domain::*;
use clinicpay_services::billing::CheckoutSource;
use clinicpay_services::Services;
use clinicpay_sim::Fault;
use clinicpay_store::{payments, refunds};
use clinicpay_testkit::{on_both_databases, TestDb};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const DAY: i64 = 24 * 60;

fn rounds() -> usize {
    std::env::var("CLINICPAY_FAULT_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(6)
}

fn random_fault(rng: &mut ChaCha8Rng) -> Option<Fault> {
    match rng.gen_range(0..10) {
        0 => Some(Fault::Status(500)),
        1 => Some(Fault::Status(503)),
        2 => Some(Fault::Status(429)),
        3 => Some(Fault::DropAfterCommit),
        4 => Some(Fault::DropBeforeCommit),
        5 => Some(Fault::MalformedBody),
        6 => Some(Fault::Latency(StdDuration::from_millis(
            rng.gen_range(5..60),
        ))),
        _ => None,
    }
}

async fn run_suite(db: &TestDb, gateway: Gateway, seed: u64) {
    // A merchant account with NMI's duplicate check on (the desk's second payment of an amount on a
    // card within 20 minutes is refused; the engine's cycles turn the check off).
    let sim = clinicpay_sim::SimConfig {
        nmi_duplicate_window: Some(1200),
        ..Default::default()
    };
    let c = crate::support::clinic_on(db, gateway, sim).await;
    let mut last_amount = 4_900;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let paths: &[&str] = match gateway {
        Gateway::Nmi => &["/api/transact.php", "/api/query.php"],
        Gateway::Stripe => &[
            "/stripe/v1/payment_intents",
            "/stripe/v1/refunds",
            "/stripe/v1/setup_intents",
        ],
    };
    let good = ["4111111111111111", "5555555555554444"];
    let bad = match gateway {
        Gateway::Nmi => "4000000000009995",
        Gateway::Stripe => "4000000000000341",
    };
    let mut day = 0;
    let mut plans: std::collections::VecDeque<(usize, SubscriptionId)> = Default::default();
    for round in 0..rounds() {
        let now_s: Services = c.later(day * DAY);
        let patient = now_s
            .add_patient(
                &c.desk,
                NewPatient {
                    name: format!("Fault Round {round}"),
                    email: format!("round{round}@example.com"),
                    phone: None,
                    patient_type: PatientType::Individual,
                },
            )
            .await
            .unwrap()
            .id;
        // NMI's look-up-class answers (420 charged anyway, 430 not charged) now and then: never a
        // decline, settled by look-up.
        let lookup_class = ["4000000000420002", "4000000000430001"];
        let number = if gateway == Gateway::Nmi && rng.gen_bool(0.15) {
            lookup_class[rng.gen_range(0..2)]
        } else if rng.gen_bool(0.25) {
            bad
        } else {
            good[rng.gen_range(0..2)]
        };
        let token = c.token(gateway, number);
        let card = now_s
            .add_card(
                &c.desk,
                patient,
                clinicpay_services::cards::AddCard {
                    gateway,
                    token,
                    cardholder_name: None,
                    country: None,
                    nickname: None,
                },
            )
            .await;
        let Ok(card) = card else { continue };
        for _ in 0..rng.gen_range(2..6) {
            if let Some(f) = random_fault(&mut rng) {
                c.sim.inject(paths[rng.gen_range(0..paths.len())], 1, f);
            }
            // Now and then the same amount again, so the duplicate check has something to refuse.
            if !rng.gen_bool(0.25) {
                last_amount = rng.gen_range(100..50_000);
            }
            let amount = Money::from_minor(last_amount, Currency::USD);
            match rng.gen_range(0..6) {
                0 => {
                    let inv = now_s
                        .create_invoice(&c.desk, patient, amount, "Visit")
                        .await
                        .unwrap();
                    let _ = now_s.pay_invoice(&c.desk, inv.id, None).await;
                    // Paying again must never charge twice, whatever the first attempt came to.
                    let _ = now_s.pay_invoice(&c.desk, inv.id, None).await;
                }
                1 => {
                    let _ = now_s
                        .checkout(
                            &c.desk,
                            patient,
                            amount,
                            CheckoutSource::SavedCard(card.card.id),
                        )
                        .await;
                }
                2 => {
                    if let Ok(sub) = now_s
                        .create_subscription(&c.desk, patient, "Plan", amount, "week")
                        .await
                    {
                        plans.push_back((round, sub.id));
                    }
                }
                3 => {
                    let payments = now_s.list_payments(&c.desk, Some(patient)).await.unwrap();
                    if let Some(p) = payments
                        .iter()
                        .find(|p| p.status == PaymentStatus::Succeeded)
                    {
                        let part =
                            Money::from_minor(rng.gen_range(1..=p.amount.minor), Currency::USD);
                        let _ = now_s.refund_payment(&c.manager, p.id, Some(part)).await;
                    }
                }
                4 => {
                    let _ = now_s.run_worker_pass().await;
                }
                _ => {
                    // The gateway answers after the janitor's grace: meanwhile two look-ups minutes
                    // apart find nothing and record it not sent; the late answer must still count.
                    let inv = now_s
                        .create_invoice(&c.desk, patient, amount, "Visit")
                        .await
                        .unwrap();
                    c.sim
                        .inject(paths[0], 1, Fault::Latency(StdDuration::from_millis(400)));
                    let janitor = async {
                        tokio::time::sleep(StdDuration::from_millis(100)).await;
                        let _ = c.later(day * DAY + 10).settle_unknown_payments().await;
                        let _ = c.later(day * DAY + 20).settle_unknown_payments().await;
                    };
                    let _ = tokio::join!(now_s.pay_invoice(&c.desk, inv.id, None), janitor);
                }
            }
            // NMI's batch closes now and then between a charge and its look-up: a settled sale
            // must still be found as the charge (the simulator's Stripe side has no batches).
            if rng.gen_bool(0.2) {
                c.sim.settle_nmi_batch();
            }
        }
        day += rng.gen_range(0..4);
        // Worker passes at later days run cycles and retries under faults too.
        let _ = c.later(day * DAY).run_worker_pass().await;
        while let Some(&(started, id)) = plans.front() {
            if round < started + 8 {
                break;
            }
            plans.pop_front();
            end_plan(
                db,
                id,
                crate::support::now() + chrono::Duration::minutes(day * DAY),
            )
            .await;
        }
    }
    // Faults stop; the janitor settles every unknown outcome by asking the gateway.
    c.sim.clear_faults();
    // Ten minutes apart: a look-up that finds nothing settles only when a second one agrees.
    for pass in 0..3 {
        c.later((day + 1) * DAY + pass * 10)
            .settle_unknown_payments()
            .await
            .unwrap();
    }
    compare_ledgers(&c, db, gateway).await;
}

/// The patient ends their plan: whatever its state, no cycle is billed after this.
async fn end_plan(db: &TestDb, id: SubscriptionId, at: chrono::DateTime<chrono::Utc>) {
    use clinicpay_store::subscriptions::set_subscription_status;
    let mut tx = db.store.begin().await.unwrap();
    for from in [
        SubscriptionStatus::Active,
        SubscriptionStatus::Paused,
        SubscriptionStatus::Suspended,
    ] {
        if set_subscription_status(&mut tx, id, from, SubscriptionStatus::Cancelled, at)
            .await
            .unwrap()
        {
            break;
        }
    }
    tx.commit().await.unwrap();
}

async fn compare_ledgers(c: &Clinic, db: &TestDb, gateway: Gateway) {
    let mut r = db.store.reader().await.unwrap();
    let ours = payments::payments(&mut r, None, 1_000_000).await.unwrap();
    assert!(
        ours.iter().all(|p| p.status.is_final()),
        "the janitor settled every payment: {:?}",
        ours.iter()
            .filter(|p| !p.status.is_final())
            .collect::<Vec<_>>()
    );
    // What the gateway took, by our payment key.
    let theirs: Vec<(String, i64)> = match gateway {
        Gateway::Nmi => c
            .sim
            .transactions()
            .iter()
            .filter(|t| t.kind == "sale" && t.success)
            .map(|t| (t.order_id.clone(), t.amount_minor))
            .collect(),
        Gateway::Stripe => c
            .sim
            .stripe_payment_intents()
            .iter()
            .filter(|pi| pi["status"] == "succeeded")
            .map(|pi| {
                (
                    pi["metadata"]["clinicpay_payment"]
                        .as_str()
                        .unwrap()
                        .to_owned(),
                    pi["amount"].as_i64().unwrap(),
                )
            })
            .collect(),
    };
    let count = |st: PaymentStatus| ours.iter().filter(|p| p.status == st).count();
    eprintln!(
        "{gateway}: {} payments, {} succeeded, {} failed; {} requests reached the simulator",
        ours.len(),
        count(PaymentStatus::Succeeded),
        count(PaymentStatus::Failed),
        c.sim.requests()
    );
    assert!(
        count(PaymentStatus::Succeeded) > 0,
        "the suite must move money to prove anything"
    );
    let keys: BTreeSet<&String> = theirs.iter().map(|(k, _)| k).collect();
    assert_eq!(
        keys.len(),
        theirs.len(),
        "a payment key was charged twice at the gateway"
    );
    let recorded: BTreeMap<String, i64> = ours
        .iter()
        .filter(|p| p.status == PaymentStatus::Succeeded)
        .map(|p| (p.idempotency_key.clone(), p.amount.minor))
        .collect();
    let taken: BTreeMap<String, i64> = theirs.into_iter().collect();
    // Only the differences, each with what ClinicPay recorded for its key.
    let differ: Vec<String> = recorded
        .keys()
        .chain(taken.keys())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .filter(|k| recorded.get(*k) != taken.get(*k))
        .map(|k| {
            let p = ours.iter().find(|p| &p.idempotency_key == k);
            format!(
                "{k}: ClinicPay {:?}, gateway {:?}; recorded as {:?}",
                recorded.get(k),
                taken.get(k),
                p.map(|p| (
                    p.id,
                    p.status,
                    p.decline_code.clone(),
                    p.duplicate_of,
                    p.order_id,
                    p.invoice_id
                ))
            )
        })
        .collect();
    if !differ.is_empty() {
        // What happened to each, from the activity log, for whoever reads the failure.
        for k in recorded
            .keys()
            .chain(taken.keys())
            .filter(|k| recorded.get(*k) != taken.get(*k))
        {
            if let Some(p) = ours.iter().find(|p| &p.idempotency_key == k) {
                let log = clinicpay_store::activity::for_patient(&mut r, p.patient_id.0, 500)
                    .await
                    .unwrap();
                for e in log.iter().rev() {
                    eprintln!(
                        "  {} {} {} {} {:?} {:?}",
                        e.at, e.actor_name, e.action, e.subject_id, e.before_state, e.after_state
                    );
                }
            }
        }
        let nmi: Vec<_> = c
            .sim
            .transactions()
            .into_iter()
            .filter(|t| {
                recorded.get(&t.order_id) != taken.get(&t.order_id)
                    && taken.contains_key(&t.order_id)
            })
            .collect();
        eprintln!("  at the gateway: {nmi:?}");
    }
    assert!(
        differ.is_empty(),
        "ClinicPay's succeeded payments are exactly what the gateway took; these differ:\n{}",
        differ.join("\n")
    );
    // At most one successful payment per invoice.
    let mut per_invoice = BTreeMap::new();
    for p in ours.iter().filter(|p| p.status == PaymentStatus::Succeeded) {
        *per_invoice.entry(p.invoice_id).or_insert(0) += 1;
    }
    assert!(
        per_invoice.values().all(|n| *n == 1),
        "an invoice was paid twice"
    );
    // Refunds: after the janitor, what ClinicPay records as refunded is exactly what the gateway refunded.
    let (mut done, mut unknown) = (0, 0);
    for p in &ours {
        for r in refunds::refunds_of(&mut r, p.id).await.unwrap() {
            match r.status {
                PaymentStatus::Succeeded => done += r.amount.minor,
                PaymentStatus::Unknown | PaymentStatus::Pending => unknown += r.amount.minor,
                PaymentStatus::Failed => {}
            }
        }
    }
    let refunded: i64 = match gateway {
        Gateway::Nmi => c
            .sim
            .transactions()
            .iter()
            .filter(|t| t.kind == "refund" && t.success)
            .map(|t| t.amount_minor)
            .sum(),
        Gateway::Stripe => c
            .sim
            .stripe_refunds()
            .iter()
            .map(|r| r["amount"].as_i64().unwrap())
            .sum(),
    };
    assert_eq!(unknown, 0, "the janitor settled every refund");
    assert_eq!(
        done, refunded,
        "refunds recorded as done are exactly what the gateway refunded"
    );
}

on_both_databases! {
    async fn nmi_under_random_faults_no_charge_is_duplicated_lost_or_unrecorded(db: &TestDb) {
        run_suite(db, Gateway::Nmi, 11).await;
    }

    async fn stripe_under_random_faults_no_charge_is_duplicated_lost_or_unrecorded(db: &TestDb) {
        run_suite(db, Gateway::Stripe, 29).await;
    }
}
