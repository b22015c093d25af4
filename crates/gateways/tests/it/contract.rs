//! One contract, written once, that every `PaymentGateway` keeps: save a card from the page's token,
//! charge it, find the charge by our key, refund it, find the refund by its key, delete the card, and
//! check credentials. NMI runs it against the simulator; Stripe against localstripe (Stripe's own wire
//! format) and against the simulator (which also answers the charge look-up localstripe cannot).

use std::sync::Arc;

use clinicpay_domain::CardBrand;
use clinicpay_gateways::nmi::NmiClient;
use clinicpay_gateways::stripe::StripeClient;
use clinicpay_gateways::{
    ChargeOutcome, GatewayError, LookupOutcome, MemoryLog, PaymentGateway, Secret, DEFAULT_TIMEOUT,
};
use clinicpay_sim::Simulator;
use clinicpay_testkit::LocalStripe;

use crate::support::{
    charge, holder, localstripe_payment_method, nmi_on_simulator, stripe_client,
    stripe_on_simulator, usd, NMI_KEY, STRIPE_KEY,
};

const NUMBER: &str = "4242424242424242";

/// What stands behind a gateway client in a test.
enum Backend {
    NmiSimulator(Simulator),
    StripeSimulator(Simulator),
    LocalStripe(LocalStripe),
}

impl Backend {
    /// A token for a card number, as the page's hosted fields make one.
    async fn card_token(&self, number: &str) -> String {
        match self {
            Backend::NmiSimulator(sim) => sim.payment_token(number, "1230"),
            Backend::StripeSimulator(sim) => sim.stripe_payment_method(number, 12, 2030),
            Backend::LocalStripe(stripe) => {
                localstripe_payment_method(&stripe.base_url(), number).await
            }
        }
    }

    /// Whether it can be asked for a charge by our key: localstripe cannot list a customer's
    /// PaymentIntents ("Unexpected customer").
    fn answers_charge_lookups(&self) -> bool {
        !matches!(self, Backend::LocalStripe(_))
    }
}

/// A gateway client under test.
struct Subject {
    gateway: Box<dyn PaymentGateway>,
    log: Arc<MemoryLog>,
    secret: &'static str,
    backend: Backend,
    /// The same gateway with a key it does not accept.
    wrong_key: Box<dyn PaymentGateway>,
}

async fn keeps_the_contract(s: Subject) {
    let g = s.gateway.as_ref();
    g.check().await.unwrap();
    assert!(matches!(
        s.wrong_key.check().await,
        Err(GatewayError::Unauthorized { gateway, .. }) if gateway == g.gateway()
    ));

    // A card saved from the page's token reads back the same.
    let token = s.backend.card_token(NUMBER).await;
    let card = g.save_card(&holder(), &token).await.unwrap();
    assert_eq!(
        (
            card.brand,
            card.last4.as_str(),
            card.exp_month,
            card.exp_year
        ),
        (CardBrand::Visa, "4242", 12, 2030)
    );
    assert_eq!(g.card_details(&card.token).await.unwrap(), card);

    // A charge, found by our payment key; a key never charged is not found.
    let outcome = g.charge(&charge(&card, "contract-pay-1", 4_900)).await;
    let ChargeOutcome::Succeeded { reference } = &outcome else {
        panic!("{outcome:?}")
    };
    let lookup = g.lookup(&charge(&card, "contract-pay-1", 4_900)).await;
    if s.backend.answers_charge_lookups() {
        assert_eq!(lookup.unwrap(), LookupOutcome::Found(outcome.clone()));
        assert_eq!(
            g.lookup(&charge(&card, "contract-pay-never", 4_900))
                .await
                .unwrap(),
            LookupOutcome::NotFound
        );
    } else {
        // Refused, never taken for "not found": the caller would charge again.
        assert!(
            matches!(lookup, Err(GatewayError::Rejected { .. })),
            "{lookup:?}"
        );
    }

    // A partial refund, found by its key, then the rest.
    let part = g
        .refund(reference, Some(usd(1_900)), "contract-refund-1")
        .await;
    assert!(matches!(part, ChargeOutcome::Succeeded { .. }), "{part:?}");
    assert_eq!(
        g.lookup_refund(reference, "contract-refund-1")
            .await
            .unwrap(),
        LookupOutcome::Found(part)
    );
    assert_eq!(
        g.lookup_refund(reference, "contract-refund-never")
            .await
            .unwrap(),
        LookupOutcome::NotFound
    );
    let rest = g.refund(reference, None, "contract-refund-2").await;
    assert!(matches!(rest, ChargeOutcome::Succeeded { .. }), "{rest:?}");

    g.delete_card(&card.token).await.unwrap();

    // Every call was logged under this gateway, without the key or the card number.
    let entries = s.log.entries();
    assert!(entries.iter().all(|e| e.gateway == g.gateway()));
    assert!(entries
        .iter()
        .any(|e| e.payment_key.as_deref() == Some("contract-pay-1")));
    let all = format!("{entries:?}");
    for secret in [s.secret, NUMBER] {
        assert!(!all.contains(secret), "{secret} reached the processor log");
    }
}

#[tokio::test]
async fn nmi_keeps_the_gateway_contract() {
    let (sim, client, log) = nmi_on_simulator(DEFAULT_TIMEOUT).await;
    let wrong_key = NmiClient::new(
        Some(&sim.base_url()),
        Secret::new("not-a-key"),
        Arc::new(MemoryLog::default()),
        DEFAULT_TIMEOUT,
    );
    keeps_the_contract(Subject {
        gateway: Box::new(client),
        log,
        secret: NMI_KEY,
        backend: Backend::NmiSimulator(sim),
        wrong_key: Box::new(wrong_key),
    })
    .await;
}

#[tokio::test]
async fn stripe_keeps_the_gateway_contract_on_localstripe() {
    let stripe = LocalStripe::start();
    let (client, log) = stripe_client(&stripe.base_url(), DEFAULT_TIMEOUT);
    let wrong_key = StripeClient::new(
        Some(&stripe.base_url()),
        Secret::new("not-a-key"),
        Arc::new(MemoryLog::default()),
        DEFAULT_TIMEOUT,
    );
    keeps_the_contract(Subject {
        gateway: Box::new(client),
        log,
        secret: STRIPE_KEY,
        backend: Backend::LocalStripe(stripe),
        wrong_key: Box::new(wrong_key),
    })
    .await;
}

#[tokio::test]
async fn stripe_keeps_the_gateway_contract_on_the_simulator() {
    let (sim, client, log) = stripe_on_simulator(DEFAULT_TIMEOUT).await;
    let wrong_key = StripeClient::new(
        Some(&format!("{}/stripe", sim.base_url())),
        Secret::new("not-a-key"),
        Arc::new(MemoryLog::default()),
        DEFAULT_TIMEOUT,
    );
    keeps_the_contract(Subject {
        gateway: Box::new(client),
        log,
        secret: STRIPE_KEY,
        backend: Backend::StripeSimulator(sim),
        wrong_key: Box::new(wrong_key),
    })
    .await;
}
