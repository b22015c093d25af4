//! A clinic on the simulator, in live mode, with its gateway secrets in the real OS keychain: shared by
//! the scenario tests that reach a gateway.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use clinicpay_domain::*;
use clinicpay_gateways::Secret;
use clinicpay_services::cards::AddCard;
use clinicpay_services::credentials::{CredentialStore, Keychain};
use clinicpay_services::{Actor, Services};
use clinicpay_sim::{SimConfig, Simulator};
use clinicpay_testkit::TestDb;

pub const NMI_KEY: &str = "6457Thfj624V5r7WUwc5v6a68Zsd6YEm";
pub const STRIPE_KEY: &str = "sk_test_51Hclinicpay0scenario0key0000";

pub fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).unwrap()
}

/// The clinic's three people: IT (the database's first account), a billing manager and the front desk,
/// with the passwords `secret-it-0001`, `secret-manager` and `secret-frontdesk`.
pub struct Staff {
    pub it: Actor,
    pub manager: Actor,
    pub desk: Actor,
}

pub async fn staff(s: &Services) -> Staff {
    s.add_staff(None, "it", "IT Admin", Role::ItAdmin, "secret-it-0001")
        .await
        .unwrap();
    let it = s.actor_by_username("it").await.unwrap();
    for (name, display, role, password) in [
        (
            "manager",
            "Billing Manager",
            Role::BillingManager,
            "secret-manager",
        ),
        (
            "frontdesk",
            "Front Desk",
            Role::FrontDesk,
            "secret-frontdesk",
        ),
    ] {
        s.add_staff(Some(&it), name, display, role, password)
            .await
            .unwrap();
    }
    Staff {
        manager: s.actor_by_username("manager").await.unwrap(),
        desk: s.actor_by_username("frontdesk").await.unwrap(),
        it,
    }
}

pub struct Clinic {
    pub s: Services,
    pub sim: Simulator,
    pub keychain: String,
    pub it: Actor,
    pub manager: Actor,
    pub desk: Actor,
    pub patient: PatientId,
}

impl Drop for Clinic {
    fn drop(&mut self) {
        let k = Keychain::named(&self.keychain);
        let _ = k.delete(Gateway::Nmi.into());
        let _ = k.delete(Gateway::Stripe.into());
        let _ = k.delete(clinicpay_services::credentials::SecretKind::SmtpPassword);
    }
}

/// A clinic taking cards through `gateway` in live mode: the simulator answers for both gateways and
/// insists on the real keys, which IT stored in this computer's keychain.
pub async fn clinic(db: &TestDb, gateway: Gateway) -> Clinic {
    clinic_on(db, gateway, SimConfig::default()).await
}

/// The same clinic, its gateways simulated as `sim` says (their keys are set here).
pub async fn clinic_on(db: &TestDb, gateway: Gateway, sim: SimConfig) -> Clinic {
    let sim = Simulator::start(SimConfig {
        nmi_security_key: Some(NMI_KEY.into()),
        stripe_secret_key: Some(STRIPE_KEY.into()),
        ..sim
    })
    .await
    .unwrap();
    let keychain = format!(
        "ClinicPay-test-{}-{}",
        std::process::id(),
        Utc::now().timestamp_nanos_opt().unwrap_or_default()
    );
    let s = Services::with_credentials(
        db.store.clone(),
        Arc::new(FixedClock(now())),
        Arc::new(Keychain::named(&keychain)),
    );
    let Staff { it, manager, desk } = staff(&s).await;
    for (k, v) in [
        ("gateway", gateway.as_str().to_owned()),
        ("nmi.api-base", sim.base_url()),
        ("stripe.api-base", format!("{}/stripe", sim.base_url())),
    ] {
        s.set_setting(&it, k, &v).await.unwrap();
    }
    s.set_gateway_credentials(&it, Gateway::Nmi, Secret::new(NMI_KEY))
        .await
        .unwrap();
    s.set_gateway_credentials(&it, Gateway::Stripe, Secret::new(STRIPE_KEY))
        .await
        .unwrap();
    let patient = s
        .add_patient(
            &desk,
            NewPatient {
                name: "John Smith".into(),
                email: "john@example.com".into(),
                phone: None,
                patient_type: PatientType::Individual,
            },
        )
        .await
        .unwrap()
        .id;
    Clinic {
        s,
        sim,
        keychain,
        it,
        manager,
        desk,
        patient,
    }
}

impl Clinic {
    /// Another patient at the front desk, an individual with no phone.
    pub async fn new_patient(&self, name: String, email: String) -> PatientId {
        self.s
            .add_patient(
                &self.desk,
                NewPatient {
                    name,
                    email,
                    phone: None,
                    patient_type: PatientType::Individual,
                },
            )
            .await
            .unwrap()
            .id
    }

    /// A token from the active gateway's hosted fields for a test card.
    pub fn token(&self, gateway: Gateway, number: &str) -> String {
        match gateway {
            Gateway::Nmi => self.sim.payment_token(number, "1230"),
            Gateway::Stripe => self.sim.stripe_payment_method(number, 12, 2030),
        }
    }

    pub async fn add(
        &self,
        gateway: Gateway,
        number: &str,
    ) -> clinicpay_services::Result<clinicpay_services::cards::CardChange> {
        self.add_expiring(gateway, number, 12, 2030).await
    }

    /// Adds a test card that expires at the end of `month`/`year`.
    pub async fn add_expiring(
        &self,
        gateway: Gateway,
        number: &str,
        month: u32,
        year: i32,
    ) -> clinicpay_services::Result<clinicpay_services::cards::CardChange> {
        let token = match gateway {
            Gateway::Nmi => self
                .sim
                .payment_token(number, &format!("{month:02}{:02}", year % 100)),
            Gateway::Stripe => self.sim.stripe_payment_method(number, month, year),
        };
        self.s
            .add_card(
                &self.desk,
                self.patient,
                AddCard {
                    gateway,
                    token,
                    cardholder_name: Some("John Q Smith".into()),
                    country: None,
                    nickname: None,
                },
            )
            .await
    }

    /// Cards the gateway itself holds for the patient.
    pub fn at_gateway(&self, gateway: Gateway) -> usize {
        match gateway {
            Gateway::Nmi => self.sim.vault_size(),
            Gateway::Stripe => self.sim.stripe_attached_cards(),
        }
    }
}

impl Clinic {
    /// The same clinic seen `minutes` later (the janitor's grace period passes).
    pub fn later(&self, minutes: i64) -> Services {
        Services::with_credentials(
            self.s.store().clone(),
            Arc::new(FixedClock(now() + chrono::Duration::minutes(minutes))),
            Arc::new(Keychain::named(&self.keychain)),
        )
    }

    /// The same clinic at a desk or worker whose own clock is `clock`.
    pub fn with_clock(&self, clock: impl Clock + 'static) -> Services {
        Services::with_credentials(
            self.s.store().clone(),
            Arc::new(clock),
            Arc::new(Keychain::named(&self.keychain)),
        )
    }

    /// Money the gateway itself took: successful sales at NMI, succeeded PaymentIntents at Stripe, in
    /// minor units.
    pub fn charged_at(&self, gateway: Gateway) -> Vec<i64> {
        match gateway {
            Gateway::Nmi => self
                .sim
                .transactions()
                .iter()
                .filter(|t| t.kind == "sale" && t.success)
                .map(|t| t.amount_minor)
                .collect(),
            Gateway::Stripe => self
                .sim
                .stripe_payment_intents()
                .iter()
                .filter(|pi| pi["status"] == "succeeded")
                .map(|pi| pi["amount"].as_i64().unwrap())
                .collect(),
        }
    }

    pub fn usd(minor: i64) -> Money {
        Money::from_minor(minor, Currency::USD)
    }
}
