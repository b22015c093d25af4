//! What the gateway tests share: credentials, amounts, the card holder, charge requests, and the
//! clients set up against the simulator or localstripe.

use std::sync::Arc;
use std::time::Duration;

use clinicpay_domain::{Currency, Money};
use clinicpay_gateways::nmi::NmiClient;
use clinicpay_gateways::stripe::{RetryPolicy, StripeClient};
use clinicpay_gateways::{CardHolder, ChargeRequest, MemoryLog, SavedCard, Secret};
use clinicpay_sim::{SimConfig, Simulator};

pub const NMI_KEY: &str = "sim-security-key-6457Thfj624V5r7W";
pub const STRIPE_KEY: &str = "sk_test_sim_4eC39HqLyjWDarjtT1zdp7dc";

pub fn usd(minor: i64) -> Money {
    Money::from_minor(minor, Currency::USD)
}

pub fn holder() -> CardHolder {
    CardHolder {
        name: "John Smith".into(),
        email: "john@example.com".into(),
        patient_ref: "17".into(),
        customer: None,
        country: Some("US".into()),
    }
}

/// A charge of a saved card under our payment key (through its gateway customer, if it has one).
pub fn charge(card: &SavedCard, key: &str, minor: i64) -> ChargeRequest {
    ChargeRequest {
        payment_key: key.into(),
        card_token: card.token.clone(),
        customer: card.customer.clone(),
        amount: usd(minor),
        check_duplicates: true,
    }
}

/// The NMI client against a fresh simulator.
pub async fn nmi_on_simulator(timeout: Duration) -> (Simulator, NmiClient, Arc<MemoryLog>) {
    nmi_with(
        SimConfig {
            nmi_security_key: Some(NMI_KEY.into()),
            ..SimConfig::default()
        },
        timeout,
    )
    .await
}

/// The NMI client on a simulator set up as `config` says (its key must be NMI_KEY or none).
pub async fn nmi_with(
    config: SimConfig,
    timeout: Duration,
) -> (Simulator, NmiClient, Arc<MemoryLog>) {
    let sim = Simulator::start(config).await.unwrap();
    let log = Arc::new(MemoryLog::default());
    let client = NmiClient::new(
        Some(&sim.base_url()),
        Secret::new(NMI_KEY),
        log.clone(),
        timeout,
    );
    (sim, client, log)
}

/// The Stripe client on `base`, retrying quickly.
pub fn stripe_client(base: &str, timeout: Duration) -> (StripeClient, Arc<MemoryLog>) {
    let log = Arc::new(MemoryLog::default());
    let client = StripeClient::new(Some(base), Secret::new(STRIPE_KEY), log.clone(), timeout)
        .with_retry(RetryPolicy {
            attempts: 3,
            first_delay: Duration::from_millis(20),
        });
    (client, log)
}

/// The Stripe client against a fresh simulator.
pub async fn stripe_on_simulator(timeout: Duration) -> (Simulator, StripeClient, Arc<MemoryLog>) {
    let sim = Simulator::start(SimConfig {
        stripe_secret_key: Some(STRIPE_KEY.into()),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let (client, log) = stripe_client(&format!("{}/stripe", sim.base_url()), timeout);
    (sim, client, log)
}

/// A PaymentMethod made the way Stripe.js makes one in the page (localstripe accepts raw numbers).
pub async fn localstripe_payment_method(base: &str, number: &str) -> String {
    let body: serde_json::Value = reqwest::Client::new()
        .post(format!("{base}/v1/payment_methods"))
        .bearer_auth(STRIPE_KEY)
        .form(&[
            ("type", "card"),
            ("card[number]", number),
            ("card[exp_month]", "12"),
            ("card[exp_year]", "2030"),
            ("card[cvc]", "123"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["id"].as_str().expect("a PaymentMethod id").to_owned()
}
