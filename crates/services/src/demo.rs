//! The demo clinic: a deterministic data set for training mode, tests and benchmarks. The same seed and
//! clock always give the same clinic; `patients` scales it from a front desk's afternoon to 200,000, and
//! [`DemoSize::clinic_group`] gives each patient a clinic group's years of history (about two saved cards
//! and ten invoices each), the data the benchmarks run on.
//! Long because the demo clinic is one deterministic recipe: patients, cards, visits, plans and the
//! clinic group's bulk history share one random generator and must stay in one order.

use chrono::{DateTime, Datelike, Duration, Utc};
use clinicpay_domain::{
    BillingInterval, CardBrand, CardExpiry, Currency, Gateway, InvoiceStatus, Money, NewCard,
    NewPatient, OrderKind, OrderStatus, OrganizationSettings, PatientType, PaymentMethod,
    PaymentStatus, Permission, RecoveryStatus, Role, SubscriptionStatus,
};
use clinicpay_store::orders::NewOrder;
use clinicpay_store::payments::NewPayment;
use clinicpay_store::subscriptions::NewSubscription;
use clinicpay_store::{demo, invoices, orders, overview, payments, subscriptions};
use clinicpay_store::{organization, patients, payment_methods, Tx};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::{Actor, Change, Result, ServiceError, Services};

pub const DEMO_PASSWORD: &str = "demo";

/// Whether a saved card's gateway reference is one the demo seed made up (`pm_demo_…` for Stripe,
/// `demo…` for NMI): never at any gateway.
pub fn is_demo_token(token: &str) -> bool {
    token.starts_with("pm_demo_") || token.starts_with("demo")
}
pub const DEFAULT_PATIENTS: u32 = 60;

/// How big a demo clinic to make.
#[derive(Debug, Clone, Copy)]
pub struct DemoSize {
    pub patients: u32,
    pub seed: u64,
    /// A clinic group's data: patients of up to four years, about two saved cards each, and their past
    /// visits' invoices (about ten a patient) with the payments that settled them.
    pub clinic_group: bool,
}

/// What seeding one patient left for their history to build on.
struct SeededPatient {
    n: u32,
    id: clinicpay_domain::PatientId,
    created: DateTime<Utc>,
    default_card: Option<(clinicpay_domain::PaymentMethodId, Gateway)>,
}

const VISITS: &[&str] = &[
    "Office visit",
    "Follow-up visit",
    "Lab work",
    "Physiotherapy session",
    "Vaccination",
    "Annual check-up",
];

#[derive(Debug, Clone, Default, Serialize)]
pub struct SeedReport {
    pub patients: u64,
    pub cards: u64,
    pub subscriptions: u64,
    pub invoices: u64,
    pub payments: u64,
    pub failed_payments: u64,
    pub recovery_orders: u64,
    pub staff: Vec<String>,
}

const FIRST: &[&str] = &[
    "John", "Jane", "Maria", "Wei", "Aisha", "Carlos", "Emma", "Liam", "Olivia", "Noah", "Sofia",
    "Mateo", "Amara", "Hiro", "Priya", "Lucas", "Chloe", "Omar", "Grace", "Ethan", "Fatima",
    "Jack", "Mia", "Ravi", "Zoe", "Samuel", "Ines", "Daniel", "Leila", "Tom",
];
const LAST: &[&str] = &[
    "Smith",
    "Doe",
    "Garcia",
    "Chen",
    "Khan",
    "Rossi",
    "Nguyen",
    "Brown",
    "Okafor",
    "Tanaka",
    "Patel",
    "Martin",
    "Silva",
    "Cohen",
    "Murphy",
    "Kowalski",
    "Dubois",
    "Haddad",
    "Larsen",
    "Walker",
    "Santos",
    "Ibrahim",
    "Novak",
    "Fischer",
    "Moreau",
    "Reyes",
    "Adeyemi",
    "Lindqvist",
    "O'Brien",
    "Young",
];
const BUSINESS: &[&str] = &[
    "Dental Group",
    "Physio LLC",
    "Family Practice",
    "Holdings",
    "Sports Club",
];
const PLANS: &[(&str, i64, BillingInterval)] = &[
    ("Wellness membership", 4900, BillingInterval::Month),
    ("Physio package", 3500, BillingInterval::Week),
    ("Chronic care plan", 12900, BillingInterval::Month),
];
const NICKNAMES: &[&str] = &[
    "Personal card",
    "Work card",
    "HSA card",
    "Family Visa",
    "Backup card",
];

/// Months from (year, month) as one number, for expiry arithmetic.
fn month_index(y: i32, m: u32) -> i32 {
    y * 12 + (m as i32 - 1)
}

impl Services {
    /// Fills an empty database with the demo clinic. Only IT may seed, except on a brand-new database.
    pub async fn seed_demo(
        &self,
        actor: Option<&Actor>,
        patients: u32,
        seed: u64,
    ) -> Result<SeedReport> {
        self.seed_demo_sized(
            actor,
            DemoSize {
                patients,
                seed,
                clinic_group: false,
            },
        )
        .await
    }

    /// [`Services::seed_demo`] at any size, a clinic group's history included.
    pub async fn seed_demo_sized(
        &self,
        actor: Option<&Actor>,
        size: DemoSize,
    ) -> Result<SeedReport> {
        let DemoSize {
            patients,
            seed,
            clinic_group,
        } = size;
        self.require_training_allowed()?;
        let mut r = self.store().reader().await?;
        let existing = organization::load(&mut r).await?;
        let counts = overview::clinic_counts(&mut r).await?;
        drop(r);
        if let Some(a) = actor {
            a.require(Permission::SeedDemo)?;
        }
        if existing.is_some() || counts.patients > 0 {
            return Err(ServiceError::Conflict(format!(
                "This database already holds a clinic ({} patients): the demo clinic only goes into an empty database. Use another --db.",
                counts.patients
            )));
        }
        let now = self.now();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut report = SeedReport::default();
        let settings = OrganizationSettings {
            clinic_name: "Riverside Family Clinic (demo)".into(),
            active_gateway: Gateway::Nmi,
            fallback_gateway: Some(Gateway::Stripe),
            currency: Currency::USD,
            training_mode: true,
            ..OrganizationSettings::default()
        };
        let mut tx = self.store().begin().await?;
        self.initialise_settings(&mut tx, actor, &settings).await?;
        tx.commit().await?;

        for (name, display, role) in [
            ("frontdesk", "Front Desk", Role::FrontDesk),
            ("manager", "Billing Manager", Role::BillingManager),
            ("it", "IT Admin", Role::ItAdmin),
        ] {
            let hash = crate::staff::hash_password(DEMO_PASSWORD)?;
            let mut tx = self.store().begin().await?;
            let m =
                clinicpay_store::staff::insert(&mut tx, name, display, role, &hash, now).await?;
            Change::new(actor, now, "staff.added", "staff", m.id)
                .after(serde_json::json!({"username": name, "role": role}))
                .record(&mut tx)
                .await?;
            tx.commit().await?;
            report.staff.push(name.into());
        }

        const BATCH: u32 = 1000;
        let mut i = 0u32;
        while i < patients {
            let mut tx = self.store().begin().await?;
            let mut seeded = Vec::with_capacity(BATCH as usize);
            for n in i..(i + BATCH).min(patients) {
                seeded.push(
                    self.seed_patient(&mut tx, &mut rng, n, now, clinic_group, &mut report)
                        .await?,
                );
            }
            if clinic_group {
                seed_past_visits(&mut tx, &seeded, seed, now, &mut report).await?;
            }
            tx.commit().await?;
            i += BATCH;
        }

        let mut tx = self.store().begin().await?;
        Change::new(actor, now, "demo.seeded", "organization", 1)
            .after(&report)
            .record(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(report)
    }

    async fn seed_patient(
        &self,
        tx: &mut Tx,
        rng: &mut ChaCha8Rng,
        n: u32,
        now: DateTime<Utc>,
        clinic_group: bool,
        report: &mut SeedReport,
    ) -> Result<SeededPatient> {
        let first = FIRST[rng.gen_range(0..FIRST.len())];
        let last = LAST[rng.gen_range(0..LAST.len())];
        let business = rng.gen_bool(0.1);
        let (name, email) = if business {
            let b = BUSINESS[rng.gen_range(0..BUSINESS.len())];
            (
                format!("{last} {b}"),
                format!(
                    "billing{n}@{}.example.com",
                    last.to_lowercase().replace('\'', "")
                ),
            )
        } else {
            (
                format!("{first} {last}"),
                format!(
                    "{}.{}{n}@example.com",
                    first.to_lowercase(),
                    last.to_lowercase().replace('\'', "")
                ),
            )
        };
        let phone = rng.gen_bool(0.7).then(|| {
            format!(
                "+1 555 {:03} {:04}",
                rng.gen_range(100..1000),
                rng.gen_range(0..10000)
            )
        });
        let created = now
            - Duration::days(if clinic_group {
                rng.gen_range(30..1460)
            } else {
                rng.gen_range(1..900)
            });
        let patient = patients::insert(
            tx,
            &NewPatient {
                name,
                email,
                phone,
                patient_type: if business {
                    PatientType::Business
                } else {
                    PatientType::Individual
                },
            },
            created,
        )
        .await?;
        report.patients += 1;

        let card_count = match (clinic_group, rng.gen_range(0..100)) {
            (false, 0..=14) => 0,
            (false, 15..=64) => 1,
            (false, 65..=89) => 2,
            (false, _) => 3,
            // A clinic group's patients have been coming for years: about two cards each.
            (true, 0..=4) => 0,
            (true, 5..=24) => 1,
            (true, 25..=69) => 2,
            (true, _) => 3,
        };
        let this_month = month_index(now.year(), now.month());
        let mut cards: Vec<PaymentMethod> = Vec::new();
        for k in 0..card_count {
            let gateway = if rng.gen_bool(0.55) {
                Gateway::Nmi
            } else {
                Gateway::Stripe
            };
            let offset = match rng.gen_range(0..100) {
                0..=7 => rng.gen_range(-8..0),
                8..=19 => rng.gen_range(0..3),
                _ => rng.gen_range(3..48),
            };
            let idx = this_month + offset;
            let expiry = CardExpiry::new((idx % 12 + 1) as u32, idx / 12)?;
            let (brand, last4) = match rng.gen_range(0..100) {
                0..=49 => (CardBrand::Visa, format!("{:04}", rng.gen_range(0..10000))),
                50..=79 => (
                    CardBrand::Mastercard,
                    format!("{:04}", rng.gen_range(0..10000)),
                ),
                80..=91 => (CardBrand::Amex, format!("{:04}", rng.gen_range(0..10000))),
                _ => (
                    CardBrand::Discover,
                    format!("{:04}", rng.gen_range(0..10000)),
                ),
            };
            let token = match gateway {
                Gateway::Stripe => format!("pm_demo_{n}_{k}"),
                Gateway::Nmi => format!("demo{n:07}{k}"),
            };
            let card = NewCard {
                gateway,
                token,
                brand,
                last4,
                expiry,
                cardholder_name: patient.name.clone(),
                nickname: rng
                    .gen_bool(0.3)
                    .then(|| NICKNAMES[rng.gen_range(0..NICKNAMES.len())].to_owned()),
                country: Some("US".into()),
                fingerprint: None,
            };
            let added = created + Duration::days(k as i64 * 30);
            cards.push(payment_methods::insert(tx, patient.id, &card, k == 0, added).await?);
            report.cards += 1;
        }
        let default = cards.first().cloned();

        // Invoices: most paid, some open, some with a failed attempt.
        if rng.gen_bool(0.4) {
            for v in 0..rng.gen_range(1..=2) {
                let amount = Money::from_minor(rng.gen_range(75..=250) * 100, Currency::USD);
                let at = now - Duration::days(rng.gen_range(1..120));
                let roll = rng.gen_range(0..100);
                let paid = roll < 60 && default.is_some();
                let invoice = invoices::insert_invoice(
                    tx,
                    patient.id,
                    None,
                    if v == 0 { "Office visit" } else { "Lab work" },
                    amount,
                    if paid {
                        InvoiceStatus::Paid
                    } else {
                        InvoiceStatus::Open
                    },
                    at,
                )
                .await?;
                report.invoices += 1;
                let Some(card) = &default else { continue };
                if paid || roll >= 85 {
                    let (status, code, message) = if paid {
                        (PaymentStatus::Succeeded, None, None)
                    } else {
                        decline(card.gateway, rng, false)
                    };
                    payments::insert_payment(
                        tx,
                        &NewPayment {
                            patient_id: patient.id,
                            invoice_id: Some(invoice),
                            order_id: None,
                            payment_method_id: Some(card.id),
                            gateway: card.gateway,
                            amount,
                            status,
                            idempotency_key: format!("demo-inv-{n}-{v}"),
                            gateway_reference: Some(reference(card.gateway, n, v)),
                            decline_code: code,
                            decline_message: message,
                            created_by: None,
                        },
                        at,
                    )
                    .await?;
                    report.payments += 1;
                    if status == PaymentStatus::Failed {
                        report.failed_payments += 1;
                    }
                }
            }
        }

        // Subscriptions: most running, some paused in recovery.
        if let (Some(card), false) = (&default, business) {
            if rng.gen_bool(0.25) {
                let (plan, minor, interval) = PLANS[rng.gen_range(0..PLANS.len())];
                let amount = Money::from_minor(minor, Currency::USD);
                let in_recovery = rng.gen_bool(0.3);
                // A patient whose cards are all Stripe's while the clinic bills through NMI has never been
                // charged for this plan: nothing is locked yet and there is no compatible card.
                let has_nmi = cards
                    .iter()
                    .any(|c| c.gateway == Gateway::Nmi && !c.expiry.is_expired(now));
                let locked = if in_recovery && !has_nmi {
                    None
                } else {
                    Some(card.gateway)
                };
                let sub = subscriptions::insert_subscription(
                    tx,
                    &NewSubscription {
                        patient_id: patient.id,
                        plan: plan.into(),
                        amount,
                        interval,
                        status: if in_recovery {
                            SubscriptionStatus::Paused
                        } else {
                            SubscriptionStatus::Active
                        },
                        next_cycle_at: now + Duration::days(rng.gen_range(1..30)),
                        locked_gateway: locked,
                    },
                    created,
                )
                .await?;
                report.subscriptions += 1;
                if in_recovery {
                    let failed_at = now - Duration::days(rng.gen_range(1..12));
                    let billing_gateway = locked.unwrap_or(Gateway::Nmi);
                    let usable = cards
                        .iter()
                        .any(|c| c.gateway == billing_gateway && !c.expiry.is_expired(now));
                    let (recovery, message, code) = if usable {
                        let (_, code, m) = decline(card.gateway, rng, true);
                        (RecoveryStatus::RetryScheduled, m, code)
                    } else {
                        (
                            RecoveryStatus::NeedsPaymentMethod,
                            Some(format!(
                                "No {} payment method found — ask the patient to re-save the card.",
                                billing_gateway
                            )),
                            None,
                        )
                    };
                    let order = orders::insert_order(
                        tx,
                        &NewOrder {
                            patient_id: patient.id,
                            subscription_id: Some(sub),
                            kind: OrderKind::SubscriptionCycle,
                            status: OrderStatus::AwaitingPayment,
                            description: format!("{plan} — cycle"),
                            amount,
                            cycle_start_at: Some(failed_at),
                            locked_gateway: locked,
                            recovery_status: Some(recovery),
                            next_retry_at: (recovery == RecoveryStatus::RetryScheduled)
                                .then(|| now + Duration::days(rng.gen_range(1..4))),
                            attempts: 1,
                            first_failed_at: Some(failed_at),
                            last_message: message.clone(),
                        },
                        failed_at,
                    )
                    .await?;
                    let invoice = invoices::insert_invoice(
                        tx,
                        patient.id,
                        Some(order),
                        &format!("{plan} — cycle"),
                        amount,
                        InvoiceStatus::Open,
                        failed_at,
                    )
                    .await?;
                    report.invoices += 1;
                    report.recovery_orders += 1;
                    if recovery == RecoveryStatus::RetryScheduled {
                        payments::insert_payment(
                            tx,
                            &NewPayment {
                                patient_id: patient.id,
                                invoice_id: Some(invoice),
                                order_id: Some(order),
                                payment_method_id: Some(card.id),
                                gateway: card.gateway,
                                amount,
                                status: PaymentStatus::Failed,
                                idempotency_key: format!("demo-sub-{n}"),
                                gateway_reference: Some(reference(card.gateway, n, 9)),
                                decline_code: code,
                                decline_message: message,
                                created_by: None,
                            },
                            failed_at,
                        )
                        .await?;
                        report.payments += 1;
                        report.failed_payments += 1;
                    }
                }
            }
        }
        Ok(SeededPatient {
            n,
            id: patient.id,
            created,
            default_card: default.map(|c| (c.id, c.gateway)),
        })
    }
}

/// The past visits of a batch of patients: six to thirteen invoices each between their first visit and
/// today, nearly all paid with their default card (one in sixteen after a decline), the rest void, or paid
/// at the desk for patients without a card. Each patient's history comes from its own generator, so the
/// rest of the demo clinic is the same with or without it.
async fn seed_past_visits(
    tx: &mut Tx,
    seeded: &[SeededPatient],
    seed: u64,
    now: DateTime<Utc>,
    report: &mut SeedReport,
) -> Result<()> {
    let mut next = demo::next_invoice_id(tx).await?.0;
    let mut invoices = Vec::new();
    let mut payments = Vec::new();
    for p in seeded {
        let mut rng =
            ChaCha8Rng::seed_from_u64(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ u64::from(p.n));
        let span = (now - p.created).num_minutes().max(1);
        for v in 0..rng.gen_range(6..=13u32) {
            let at = p.created + Duration::minutes(rng.gen_range(0..span));
            let amount = Money::from_minor(rng.gen_range(40..=400) * 100, Currency::USD);
            let void = rng.gen_range(0..100) < 3;
            let declined_first = rng.gen_range(0..16) == 0;
            let id = clinicpay_domain::InvoiceId(next);
            next += 1;
            invoices.push(demo::PastInvoice {
                id,
                patient_id: p.id,
                description: VISITS[rng.gen_range(0..VISITS.len())],
                amount,
                status: if void {
                    InvoiceStatus::Void
                } else {
                    InvoiceStatus::Paid
                },
                created_at: at,
                paid_at: (!void).then_some(at),
            });
            report.invoices += 1;
            let (Some((card, gateway)), false) = (p.default_card, void) else {
                continue;
            };
            let v = 100 + v;
            let attempt = |status,
                           key: String,
                           reference_no,
                           decline: Option<(&'static str, &'static str)>,
                           at| {
                demo::PastPayment {
                    patient_id: p.id,
                    invoice_id: id,
                    payment_method_id: card,
                    gateway,
                    amount,
                    status,
                    idempotency_key: key,
                    gateway_reference: reference(gateway, p.n, reference_no),
                    decline_code: decline.map(|d| d.0),
                    decline_message: decline.map(|d| d.1),
                    at,
                }
            };
            if declined_first {
                let decline = match gateway {
                    Gateway::Nmi => ("202", "Insufficient funds"),
                    Gateway::Stripe => ("insufficient_funds", "Your card has insufficient funds."),
                };
                let key = format!("demo-hist-{}-{v}-declined", p.n);
                payments.push(attempt(
                    PaymentStatus::Failed,
                    key,
                    v + 100,
                    Some(decline),
                    at,
                ));
                report.payments += 1;
                report.failed_payments += 1;
            }
            let key = format!("demo-hist-{}-{v}", p.n);
            let paid_at = at + Duration::minutes(5);
            payments.push(attempt(PaymentStatus::Succeeded, key, v, None, paid_at));
            report.payments += 1;
        }
    }
    demo::insert_past_visits(tx, &invoices, &payments).await?;
    Ok(())
}

fn reference(gateway: Gateway, n: u32, v: u32) -> String {
    match gateway {
        Gateway::Stripe => format!("pi_demo_{n}_{v}"),
        Gateway::Nmi => format!("{}", 9_000_000_000u64 + n as u64 * 10 + v as u64),
    }
}

/// A realistic decline in the gateway's own words.
/// Recovery retries only follow declines worth retrying, so `retryable` leaves out the expired card.
fn decline(
    gateway: Gateway,
    rng: &mut ChaCha8Rng,
    retryable: bool,
) -> (PaymentStatus, Option<String>, Option<String>) {
    let pick = if retryable {
        [0, 2][rng.gen_range(0..2)]
    } else {
        rng.gen_range(0..3)
    };
    let (code, message) = match (gateway, pick) {
        (Gateway::Nmi, 0) => ("202", "Insufficient funds"),
        (Gateway::Nmi, 1) => ("223", "Expired card"),
        (Gateway::Nmi, _) => ("201", "Do not honor"),
        (Gateway::Stripe, 0) => ("insufficient_funds", "Your card has insufficient funds."),
        (Gateway::Stripe, 1) => ("expired_card", "Your card has expired."),
        (Gateway::Stripe, _) => ("do_not_honor", "Your card was declined."),
    };
    (
        PaymentStatus::Failed,
        Some(code.into()),
        Some(message.into()),
    )
}
