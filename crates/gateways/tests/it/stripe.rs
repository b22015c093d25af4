//! The Stripe client against ClinicPay's simulator, which follows Stripe's documented behaviour
//! (idempotent replay, decline codes, 429s, lost replies), and against localstripe for Stripe's wire
//! format on the happy paths and the basic decline.
//! Long because it keeps every Stripe scenario (simulator faults and localstripe) in one module.

use std::sync::Arc;
use std::time::Duration;

use clinicpay_domain::{decline, CardBrand, Gateway};
use clinicpay_gateways::stripe::{StripeClient, API_VERSION};
use clinicpay_gateways::*;
use clinicpay_sim::{Fault, Simulator};
use clinicpay_testkit::LocalStripe;

use crate::support::{
    charge, holder, localstripe_payment_method, stripe_client as client,
    stripe_on_simulator as setup, usd, STRIPE_KEY as KEY,
};

async fn saved(sim: &Simulator, client: &StripeClient, number: &str) -> SavedCard {
    let pm = sim.stripe_payment_method(number, 12, 2030);
    client.save_card(&holder(), &pm).await.unwrap()
}

fn intents_with_key(sim: &Simulator, key: &str) -> usize {
    sim.stripe_payment_intents()
        .iter()
        .filter(|pi| pi["metadata"]["clinicpay_payment"] == key)
        .count()
}

#[tokio::test]
async fn a_card_is_saved_for_off_session_use_on_the_patients_customer() {
    let (sim, client, log) = setup(DEFAULT_TIMEOUT).await;
    let card = saved(&sim, &client, "4242424242424242").await;
    assert_eq!(card.brand, CardBrand::Visa);
    assert_eq!(card.last4, "4242");
    assert_eq!((card.exp_month, card.exp_year), (12, 2030));
    let customer = card.customer.clone().expect("a Stripe customer");
    assert!(customer.starts_with("cus_"));
    // Through a SetupIntent with usage=off_session, on that customer.
    let ops: Vec<String> = log.entries().iter().map(|e| e.operation.clone()).collect();
    assert!(
        ops.contains(&"setup_intent.create".into()) && ops.contains(&"setup_intent.confirm".into()),
        "{ops:?}"
    );
    let setup = log
        .entries()
        .into_iter()
        .find(|e| e.operation == "setup_intent.create")
        .unwrap();
    assert!(
        setup.request.contains("usage=off_session"),
        "{}",
        setup.request
    );
    assert_eq!(client.card_details(&card.token).await.unwrap(), {
        let mut c = card.clone();
        c.customer = Some(customer.clone());
        c
    });

    // A second card for the same patient goes on the same customer.
    let pm = sim.stripe_payment_method("5555555555554444", 1, 2031);
    let second = client
        .save_card(
            &CardHolder {
                customer: Some(customer.clone()),
                ..holder()
            },
            &pm,
        )
        .await
        .unwrap();
    assert_eq!(second.customer, Some(customer));
    assert_eq!(second.brand, CardBrand::Mastercard);
}

#[tokio::test]
async fn cards_stripe_declines_when_set_up_are_refused_with_stripes_code_and_words() {
    let (sim, client, _) = setup(DEFAULT_TIMEOUT).await;
    for (number, code, words, staff) in [
        (
            "4000000000000002",
            "generic_decline",
            "Your card was declined.",
            "The bank declined the charge. ClinicPay retries on the next scheduled day; the patient can also pay with another card. (Stripe generic_decline: Your card was declined.)",
        ),
        (
            "4000000000009995",
            "insufficient_funds",
            "Your card has insufficient funds.",
            "The bank declined: insufficient funds. ClinicPay retries on the next scheduled day; the patient can also pay with another card. (Stripe insufficient_funds: Your card has insufficient funds.)",
        ),
        (
            "4000000000000069",
            "expired_card",
            "Your card has expired.",
            "The card has expired. Ask the patient for another card; this one will not be charged again. (Stripe expired_card: Your card has expired.)",
        ),
    ] {
        let pm = sim.stripe_payment_method(number, 12, 2030);
        match client.save_card(&holder(), &pm).await {
            Err(GatewayError::Rejected {
                gateway: Gateway::Stripe,
                code: c,
                message,
            }) => {
                assert_eq!((c.as_str(), message.as_str()), (code, words), "{number}");
                let advice = decline::advise(Gateway::Stripe, &c);
                let said = advice.staff_message(Gateway::Stripe, &c, &message);
                assert_eq!(said, staff, "{number}");
            }
            other => panic!("{number}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_charge_succeeds_once_and_the_lookup_finds_it_by_our_payment_key() {
    let (sim, client, log) = setup(DEFAULT_TIMEOUT).await;
    let card = saved(&sim, &client, "4242424242424242").await;
    let outcome = client.charge(&charge(&card, "pay-1", 12_345)).await;
    let ChargeOutcome::Succeeded { reference } = &outcome else {
        panic!("{outcome:?}")
    };
    assert!(reference.starts_with("pi_"));
    let pi = &sim.stripe_payment_intents()[0];
    assert_eq!(pi["amount"], 12_345);
    assert_eq!(pi["currency"], "usd");
    assert_eq!(
        client
            .lookup(&charge(&card, "pay-1", 12_345))
            .await
            .unwrap(),
        LookupOutcome::Found(outcome)
    );
    assert_eq!(
        client
            .lookup(&charge(&card, "pay-never", 100))
            .await
            .unwrap(),
        LookupOutcome::NotFound
    );
    let sale = log
        .entries()
        .into_iter()
        .find(|e| e.operation == "payment_intent.create")
        .unwrap();
    assert!(
        sale.request.contains("Idempotency-Key=pay-1"),
        "{}",
        sale.request
    );
    assert!(
        sale.request.contains("off_session=true"),
        "{}",
        sale.request
    );
    assert_eq!(sale.payment_key.as_deref(), Some("pay-1"));
}

#[tokio::test]
async fn charge_declines_carry_stripes_decline_code_and_message() {
    let (sim, client, _) = setup(DEFAULT_TIMEOUT).await;
    let after_attach = saved(&sim, &client, "4000000000000341").await;
    let outcome = client.charge(&charge(&after_attach, "pay-341", 5000)).await;
    match &outcome {
        ChargeOutcome::Declined {
            code,
            message,
            reference,
        } => {
            assert_eq!(code, "generic_decline");
            assert_eq!(message, "Your card was declined.");
            assert!(reference.as_deref().is_some_and(|r| r.starts_with("pi_")));
        }
        other => panic!("{other:?}"),
    }
    // The declined PaymentIntent is what a later look-up finds: declined, not "never happened".
    assert_eq!(
        client
            .lookup(&charge(&after_attach, "pay-341", 5000))
            .await
            .unwrap(),
        LookupOutcome::Found(outcome)
    );

    let needs_patient = saved(&sim, &client, "4000002500003155").await;
    let outcome = client
        .charge(&charge(&needs_patient, "pay-3155", 5000))
        .await;
    assert!(
        matches!(&outcome, ChargeOutcome::Declined { code, .. } if code == "authentication_required"),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_retried_with_the_same_key_and_charge_once() {
    let (sim, client, log) = setup(DEFAULT_TIMEOUT).await;
    let card = saved(&sim, &client, "4242424242424242").await;
    sim.inject("/stripe/v1/payment_intents", 1, Fault::Status(429));
    sim.inject("/stripe/v1/payment_intents", 1, Fault::Status(503));
    let outcome = client.charge(&charge(&card, "pay-retry", 2000)).await;
    assert!(
        matches!(outcome, ChargeOutcome::Succeeded { .. }),
        "{outcome:?}"
    );
    assert_eq!(intents_with_key(&sim, "pay-retry"), 1);
    let tries: Vec<Option<u16>> = log
        .entries()
        .iter()
        .filter(|e| e.operation == "payment_intent.create")
        .map(|e| e.http_status)
        .collect();
    assert_eq!(tries, vec![Some(429), Some(503), Some(200)]);
    assert!(log
        .entries()
        .iter()
        .filter(|e| e.operation == "payment_intent.create")
        .all(|e| e.request.contains("Idempotency-Key=pay-retry")));

    // Rate-limited past every retry: nothing was charged, and staff may simply try again.
    sim.inject("/stripe/v1/payment_intents", 3, Fault::Status(429));
    let outcome = client.charge(&charge(&card, "pay-429", 2000)).await;
    assert!(
        matches!(outcome, ChargeOutcome::RetryableFailure { .. }),
        "{outcome:?}"
    );
    assert_eq!(intents_with_key(&sim, "pay-429"), 0);

    // 5xx past every retry: the first may have gone through, so the outcome is unknown.
    sim.inject("/stripe/v1/payment_intents", 3, Fault::Status(500));
    let outcome = client.charge(&charge(&card, "pay-500", 2000)).await;
    assert!(
        matches!(outcome, ChargeOutcome::Unknown { .. }),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn a_dropped_reply_is_retried_with_the_same_key_and_stripe_replays_the_first_charge() {
    let (sim, client, _) = setup(DEFAULT_TIMEOUT).await;
    let card = saved(&sim, &client, "4242424242424242").await;
    sim.inject("/stripe/v1/payment_intents", 1, Fault::DropAfterCommit);
    let outcome = client.charge(&charge(&card, "pay-drop", 3000)).await;
    assert!(
        matches!(outcome, ChargeOutcome::Succeeded { .. }),
        "{outcome:?}"
    );
    assert_eq!(
        intents_with_key(&sim, "pay-drop"),
        1,
        "the retry must not charge again"
    );

    sim.inject("/stripe/v1/payment_intents", 1, Fault::MalformedBody);
    let outcome = client.charge(&charge(&card, "pay-html", 3000)).await;
    assert!(
        matches!(outcome, ChargeOutcome::Succeeded { .. }),
        "{outcome:?}"
    );
    assert_eq!(intents_with_key(&sim, "pay-html"), 1);
}

#[tokio::test]
async fn a_timeout_after_the_charge_was_taken_is_unknown_and_the_lookup_finds_the_charge() {
    let (sim, client, _) = setup(Duration::from_millis(800)).await;
    let card = saved(&sim, &client, "4242424242424242").await;
    sim.inject("/stripe/v1/payment_intents", 1, Fault::HangAfterCommit);
    let outcome = client.charge(&charge(&card, "pay-timeout", 12_345)).await;
    assert!(
        matches!(outcome, ChargeOutcome::Unknown { .. }),
        "a timeout must never read as failed: {outcome:?}"
    );
    let found = client
        .lookup(&charge(&card, "pay-timeout", 12_345))
        .await
        .unwrap();
    assert!(
        matches!(found, LookupOutcome::Found(ChargeOutcome::Succeeded { .. })),
        "{found:?}"
    );
    assert_eq!(intents_with_key(&sim, "pay-timeout"), 1);
}

#[tokio::test]
async fn the_same_key_with_other_parameters_is_never_a_second_charge() {
    let (sim, client, _) = setup(DEFAULT_TIMEOUT).await;
    let card = saved(&sim, &client, "4242424242424242").await;
    let first = client.charge(&charge(&card, "pay-same", 1000)).await;
    let again = client.charge(&charge(&card, "pay-same", 1000)).await;
    assert_eq!(first, again, "Stripe replays the first answer");
    let other = client.charge(&charge(&card, "pay-same", 9999)).await;
    assert!(matches!(other, ChargeOutcome::Unknown { .. }), "{other:?}");
    assert_eq!(intents_with_key(&sim, "pay-same"), 1);
}

#[tokio::test]
async fn refunds_go_against_the_original_charge_in_full_or_in_part() {
    let (sim, client, _) = setup(DEFAULT_TIMEOUT).await;
    let card = saved(&sim, &client, "4242424242424242").await;
    let ChargeOutcome::Succeeded { reference } =
        client.charge(&charge(&card, "pay-r", 10_000)).await
    else {
        panic!()
    };
    let part = client
        .refund(&reference, Some(usd(2_500)), "refund-1")
        .await;
    assert!(matches!(part, ChargeOutcome::Succeeded { .. }), "{part:?}");
    let too_much = client
        .refund(&reference, Some(usd(9_000)), "refund-2")
        .await;
    assert!(
        matches!(&too_much, ChargeOutcome::Declined { code, .. } if code == "amount_too_large"),
        "{too_much:?}"
    );
    let rest = client.refund(&reference, None, "refund-3").await;
    assert!(matches!(rest, ChargeOutcome::Succeeded { .. }), "{rest:?}");
    let refunded: Vec<i64> = sim
        .stripe_refunds()
        .iter()
        .map(|r| r["amount"].as_i64().unwrap())
        .collect();
    assert_eq!(refunded, vec![2_500, 7_500]);
    // Asking again with the same refund key repeats the answer, not the refund.
    let replay = client
        .refund(&reference, Some(usd(2_500)), "refund-1")
        .await;
    assert_eq!(replay, part);
    assert_eq!(sim.stripe_refunds().len(), 2);
}

/// Found by the 1,000-round fault run: a refund whose first answer was lost and whose retries were then
/// refused (rate limited) read as "not sent" and was marked failed, though Stripe had refunded.
#[tokio::test]
async fn a_lost_answer_followed_by_refusals_is_unknown_never_not_sent() {
    let (sim, client, _) = setup(DEFAULT_TIMEOUT).await;
    let card = saved(&sim, &client, "4242424242424242").await;
    let ChargeOutcome::Succeeded { reference } = client
        .charge(&charge(&card, "pay-lost-refund", 10_000))
        .await
    else {
        panic!()
    };
    sim.inject("/stripe/v1/refunds", 1, Fault::DropAfterCommit);
    sim.inject("/stripe/v1/refunds", 2, Fault::Status(429));
    let outcome = client
        .refund(&reference, Some(usd(4_000)), "refund-lost")
        .await;
    assert!(
        matches!(outcome, ChargeOutcome::Unknown { .. }),
        "the first try refunded: the outcome must be unknown, not a failure: {outcome:?}"
    );
    assert_eq!(sim.stripe_refunds().len(), 1, "Stripe did refund once");
    let found = client
        .lookup_refund(&reference, "refund-lost")
        .await
        .unwrap();
    assert!(
        matches!(found, LookupOutcome::Found(ChargeOutcome::Succeeded { .. })),
        "the janitor's look-up finds it: {found:?}"
    );

    // The same for a charge.
    sim.inject("/stripe/v1/payment_intents", 1, Fault::DropAfterCommit);
    sim.inject("/stripe/v1/payment_intents", 2, Fault::Status(429));
    let charged = client.charge(&charge(&card, "pay-lost", 2_000)).await;
    assert!(
        matches!(charged, ChargeOutcome::Unknown { .. }),
        "{charged:?}"
    );
    assert_eq!(intents_with_key(&sim, "pay-lost"), 1);
}

#[tokio::test]
async fn a_deleted_card_is_detached_and_deleting_it_again_is_harmless() {
    let (sim, client, _) = setup(DEFAULT_TIMEOUT).await;
    let card = saved(&sim, &client, "4242424242424242").await;
    client.delete_card(&card.token).await.unwrap();
    assert_eq!(
        client.card_details(&card.token).await.unwrap().customer,
        None
    );
    client.delete_card(&card.token).await.unwrap();
    assert!(matches!(
        client.delete_card("pm_does_not_exist").await,
        Err(GatewayError::Rejected { code, .. }) if code == NOT_FOUND
    ));
}

#[tokio::test]
async fn credentials_are_checked_with_a_harmless_call() {
    let (sim, client, _) = setup(DEFAULT_TIMEOUT).await;
    client.check().await.unwrap();
    let log = Arc::new(MemoryLog::default());
    let wrong = StripeClient::new(
        Some(&format!("{}/stripe", sim.base_url())),
        Secret::new("sk_test_wrong"),
        log.clone(),
        DEFAULT_TIMEOUT,
    );
    assert!(matches!(
        wrong.check().await,
        Err(GatewayError::Unauthorized { .. })
    ));
    let logged = format!("{:?}", log.entries());
    assert!(!logged.contains("sk_test_wrong"), "{logged}");
    assert!(sim.stripe_payment_intents().is_empty());
}

#[tokio::test]
async fn a_stripe_that_cannot_be_reached_is_a_retryable_failure() {
    let (client, log) = client("http://127.0.0.1:9", Duration::from_secs(2));
    let outcome = client
        .charge(&ChargeRequest {
            payment_key: "pay-x".into(),
            card_token: "pm_1".into(),
            customer: Some("cus_1".into()),
            amount: usd(1000),
            check_duplicates: true,
        })
        .await;
    assert!(
        matches!(outcome, ChargeOutcome::RetryableFailure { .. }),
        "{outcome:?}"
    );
    assert_eq!(
        log.entries().len(),
        3,
        "tried three times with the same key"
    );
}

#[tokio::test]
async fn the_processor_log_never_holds_the_secret_key_or_a_card_number() {
    let (sim, client, log) = setup(DEFAULT_TIMEOUT).await;
    let card = saved(&sim, &client, "4242424242424242").await;
    client.charge(&charge(&card, "pay-log", 1000)).await;
    let pm = sim.stripe_payment_method("4000000000000002", 12, 2030);
    let _ = client.save_card(&holder(), &pm).await;
    let all = format!("{:?}", log.entries());
    for secret in [KEY, "4242424242424242", "4000000000000002", "_secret_"] {
        assert!(!all.contains(secret), "{secret} in {all}");
    }
    // Every call went out on the pinned API version.
    assert!(log
        .entries()
        .iter()
        .all(|e| e.request.contains(&format!("Stripe-Version={API_VERSION}"))));
}

// --- localstripe: Stripe's wire format, happy paths and the basic decline ---

#[tokio::test]
async fn against_localstripe_a_card_is_saved_charged_refunded_and_detached() {
    let stripe = LocalStripe::start();
    let (client, log) = client(&stripe.base_url(), DEFAULT_TIMEOUT);
    client.check().await.unwrap();
    let pm = localstripe_payment_method(&stripe.base_url(), "4242424242424242").await;
    let card = client.save_card(&holder(), &pm).await.unwrap();
    assert_eq!((card.brand, card.last4.as_str()), (CardBrand::Visa, "4242"));
    assert!(card
        .customer
        .as_deref()
        .is_some_and(|c| c.starts_with("cus_")));
    assert!(card.fingerprint.is_some());

    let outcome = client.charge(&charge(&card, "ls-pay-1", 4_200)).await;
    let ChargeOutcome::Succeeded { reference } = outcome else {
        panic!("{outcome:?}")
    };
    let part = client
        .refund(&reference, Some(usd(1_200)), "ls-refund-1")
        .await;
    assert!(matches!(part, ChargeOutcome::Succeeded { .. }), "{part:?}");
    let rest = client.refund(&reference, None, "ls-refund-2").await;
    assert!(matches!(rest, ChargeOutcome::Succeeded { .. }), "{rest:?}");

    client.delete_card(&card.token).await.unwrap();
    assert_eq!(
        client.card_details(&card.token).await.unwrap().customer,
        None
    );
    assert!(log.entries().iter().all(|e| !e.request.contains(KEY)));
}

#[tokio::test]
async fn against_localstripe_declines_are_declines() {
    let stripe = LocalStripe::start();
    let (client, _) = client(&stripe.base_url(), DEFAULT_TIMEOUT);
    // Declined when set up for later.
    let pm = localstripe_payment_method(&stripe.base_url(), "4000000000000002").await;
    assert!(matches!(
        client.save_card(&holder(), &pm).await,
        Err(GatewayError::Rejected { code, .. }) if code == "card_declined"
    ));
    // Attaches, then the charge is declined.
    let pm = localstripe_payment_method(&stripe.base_url(), "4000000000000341").await;
    let card = client.save_card(&holder(), &pm).await.unwrap();
    let outcome = client.charge(&charge(&card, "ls-pay-341", 5_000)).await;
    assert!(
        matches!(&outcome, ChargeOutcome::Declined { code, message, .. }
            if code == "card_declined" && message == "Your card was declined."),
        "{outcome:?}"
    );
}
