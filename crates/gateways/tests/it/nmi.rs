//! The NMI client against the simulator, which speaks NMI's documented formats: cards, charges,
//! declines with NMI's own words, refunds, deletion, and every fault the network can produce.

use std::sync::Arc;
use std::time::Duration;

use clinicpay_domain::CardBrand;
use clinicpay_gateways::nmi::NmiClient;
use clinicpay_gateways::*;
use clinicpay_sim::{Fault, Simulator};

use crate::support::{charge, holder, nmi_on_simulator as setup, usd, NMI_KEY as KEY};

async fn saved(sim: &Simulator, client: &NmiClient, number: &str) -> SavedCard {
    let token = sim.payment_token(number, "1230");
    client.save_card(&holder(), &token).await.unwrap()
}

fn sales(sim: &Simulator) -> usize {
    sim.transactions()
        .iter()
        .filter(|t| t.kind == "sale" && t.success)
        .count()
}

#[tokio::test]
async fn a_collect_js_token_is_vaulted_and_its_brand_last4_and_expiry_read_back() {
    let (sim, client, _) = setup(DEFAULT_TIMEOUT).await;
    let card = saved(&sim, &client, "5431111111111111").await;
    assert_eq!(
        (
            card.brand,
            card.last4.as_str(),
            card.exp_month,
            card.exp_year
        ),
        (CardBrand::Mastercard, "1111", 12, 2030)
    );
    assert_eq!(sim.vault_size(), 1);
    // Tokens are single-use, as Collect.js tokens are.
    let token = sim.payment_token("4111111111111111", "1230");
    client.save_card(&holder(), &token).await.unwrap();
    let err = client.save_card(&holder(), &token).await.unwrap_err();
    assert!(matches!(err, GatewayError::Rejected { .. }), "{err}");
    assert!(err.to_string().contains("Invalid payment_token"), "{err}");
}

#[tokio::test]
async fn a_saved_card_is_charged_off_session_once() {
    let (sim, client, _) = setup(DEFAULT_TIMEOUT).await;
    let card = saved(&sim, &client, "4111111111111111").await;
    let outcome = client.charge(&charge(&card, "pay-1", 4900)).await;
    let ChargeOutcome::Succeeded { reference } = &outcome else {
        panic!("{outcome:?}")
    };
    let t = sim
        .transactions()
        .into_iter()
        .find(|t| &t.transaction_id == reference)
        .unwrap();
    assert_eq!(
        (t.order_id.as_str(), t.amount_minor, t.kind.as_str()),
        ("pay-1", 4900, "sale")
    );
    assert_eq!(
        client.lookup(&charge(&card, "pay-1", 0)).await.unwrap(),
        LookupOutcome::Found(outcome)
    );
    assert_eq!(
        client.lookup(&charge(&card, "pay-never", 0)).await.unwrap(),
        LookupOutcome::NotFound
    );
}

#[tokio::test]
async fn nmi_test_mode_declines_carry_nmis_own_code_and_message() {
    let (sim, client, _) = setup(DEFAULT_TIMEOUT).await;
    for (number, minor, code, message) in [
        ("4000000000009995", 4900, "202", "Insufficient funds"),
        ("4000000000000002", 4900, "200", "DECLINE"),
        ("4000000000000069", 4900, "223", "Expired card"),
        (
            "4000000000000259",
            4900,
            "261",
            "Declined-Stop all recurring payments",
        ),
        // Test mode declines any amount under 1.00.
        ("4111111111111111", 50, "200", "DECLINE"),
    ] {
        let card = saved(&sim, &client, number).await;
        let outcome = client
            .charge(&charge(&card, &format!("pay-{number}-{minor}"), minor))
            .await;
        match outcome {
            ChargeOutcome::Declined {
                code: c,
                message: m,
                ..
            } => assert_eq!((c.as_str(), m.as_str()), (code, message)),
            other => panic!("{number}: {other:?}"),
        }
    }
    assert_eq!(sales(&sim), 0);
}

#[tokio::test]
async fn staff_read_each_nmi_decline_with_its_reason_next_step_and_nmis_own_words() {
    use clinicpay_domain::{decline, Gateway};
    let (sim, client, _) = setup(DEFAULT_TIMEOUT).await;
    for (number, said) in [
        ("4000000000009995", "The bank declined: insufficient funds. ClinicPay retries on the next scheduled day; the patient can also pay with another card. (NMI 202: Insufficient funds)"),
        ("4000000000000069", "The card has expired. Ask the patient for another card; this one will not be charged again. (NMI 223: Expired card)"),
        ("4000000000000259", "The bank asked to stop recurring charges on this card. Do not charge this card again for the plan; ask the patient how they want to pay. (NMI 261: Declined-Stop all recurring payments)"),
    ] {
        let card = saved(&sim, &client, number).await;
        let ChargeOutcome::Declined { code, message, .. } =
            client.charge(&charge(&card, &format!("staff-{number}"), 4900)).await
        else {
            panic!("{number} was not declined")
        };
        let advice = decline::advise(Gateway::Nmi, &code);
        assert_eq!(advice.staff_message(Gateway::Nmi, &code, &message), said);
    }
}

#[tokio::test]
async fn a_timeout_after_the_charge_was_taken_is_unknown_and_the_lookup_finds_the_charge() {
    let (sim, client, _) = setup(Duration::from_millis(800)).await;
    let card = saved(&sim, &client, "4111111111111111").await;
    sim.inject("/api/transact.php", 1, Fault::HangAfterCommit);
    let outcome = client.charge(&charge(&card, "pay-timeout", 12_345)).await;
    assert!(
        matches!(outcome, ChargeOutcome::Unknown { .. }),
        "never 'failed': {outcome:?}"
    );
    assert_eq!(sales(&sim), 1, "the gateway did take the money");
    let found = client
        .lookup(&charge(&card, "pay-timeout", 0))
        .await
        .unwrap();
    assert!(
        matches!(found, LookupOutcome::Found(ChargeOutcome::Succeeded { .. })),
        "{found:?}"
    );
}

#[tokio::test]
async fn a_charge_whose_answer_was_lost_is_found_after_the_nightly_batch_settled_it() {
    let (sim, client, _) = setup(DEFAULT_TIMEOUT).await;
    let card = saved(&sim, &client, "4111111111111111").await;
    sim.inject("/api/transact.php", 1, Fault::DropAfterCommit);
    let outcome = client.charge(&charge(&card, "pay-settled", 4_900)).await;
    assert!(
        matches!(outcome, ChargeOutcome::Unknown { .. }),
        "{outcome:?}"
    );
    // The batch closes before anyone looks: the sale now has a `settle` action after it.
    assert_eq!(sim.settle_nmi_batch(), 1);
    let settled = &sim.transactions()[0];
    assert_eq!(settled.condition, "complete");
    let kinds: Vec<&str> = settled.actions.iter().map(|a| a.kind.as_str()).collect();
    assert_eq!(kinds, ["sale", "settle"]);
    let found = client
        .lookup(&charge(&card, "pay-settled", 0))
        .await
        .unwrap();
    assert!(
        matches!(found, LookupOutcome::Found(ChargeOutcome::Succeeded { ref reference }) if *reference == settled.transaction_id),
        "a settled sale is the charge, never 'not found': {found:?}"
    );
}

#[tokio::test]
async fn a_refund_whose_answer_was_lost_is_found_after_its_batch_settled() {
    let (sim, client, _) = setup(DEFAULT_TIMEOUT).await;
    let card = saved(&sim, &client, "4111111111111111").await;
    let ChargeOutcome::Succeeded { reference } =
        client.charge(&charge(&card, "pay-rs", 6_000)).await
    else {
        panic!()
    };
    sim.settle_nmi_batch();
    sim.inject("/api/transact.php", 1, Fault::DropAfterCommit);
    let outcome = client
        .refund(&reference, Some(usd(2_000)), "ref-settled")
        .await;
    assert!(
        matches!(outcome, ChargeOutcome::Unknown { .. }),
        "{outcome:?}"
    );
    assert_eq!(
        sim.settle_nmi_batch(),
        1,
        "the refund settles in the next batch"
    );
    assert!(matches!(
        client
            .lookup_refund(&reference, "ref-settled")
            .await
            .unwrap(),
        LookupOutcome::Found(ChargeOutcome::Succeeded { .. })
    ));
    // The sale's own key still finds the sale, not the refund.
    assert!(matches!(
        client.lookup(&charge(&card, "pay-rs", 0)).await.unwrap(),
        LookupOutcome::Found(ChargeOutcome::Succeeded { reference: r }) if r == reference
    ));
}

#[tokio::test]
async fn nmis_duplicate_check_refuses_a_second_sale_at_the_desk_but_not_the_engines() {
    let (sim, client, log) = crate::support::nmi_with(
        clinicpay_sim::SimConfig {
            nmi_security_key: Some(KEY.into()),
            nmi_duplicate_window: Some(1200),
            ..Default::default()
        },
        DEFAULT_TIMEOUT,
    )
    .await;
    let card = saved(&sim, &client, "4111111111111111").await;
    assert!(matches!(
        client.charge(&charge(&card, "pay-d1", 4_900)).await,
        ChargeOutcome::Succeeded { .. }
    ));
    // The same amount on the same card minutes later, from the desk: NMI refuses it, charging nothing.
    let second = client.charge(&charge(&card, "pay-d2", 4_900)).await;
    match &second {
        ChargeOutcome::RefusedAsDuplicate { message } => {
            assert!(
                message.starts_with("Duplicate transaction REFID:"),
                "{message}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(sales(&sim), 1);
    // Another amount is no duplicate.
    assert!(matches!(
        client.charge(&charge(&card, "pay-d3", 5_000)).await,
        ChargeOutcome::Succeeded { .. }
    ));
    // The billing engine sends dup_seconds=0: a family's second plan of the same amount is charged.
    let engine = ChargeRequest {
        check_duplicates: false,
        ..charge(&card, "pay-d4", 4_900)
    };
    assert!(matches!(
        client.charge(&engine).await,
        ChargeOutcome::Succeeded { .. }
    ));
    assert_eq!(sales(&sim), 3);
    let sent: Vec<String> = log
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.operation == "sale")
        .map(|e| e.request.clone())
        .collect();
    assert!(sent[3].contains("dup_seconds=0"), "{}", sent[3]);
    assert!(!sent[0].contains("dup_seconds"), "{}", sent[0]);
}

#[tokio::test]
async fn a_dropped_connection_is_unknown_and_the_lookup_tells_whether_money_moved() {
    let (sim, client, _) = setup(DEFAULT_TIMEOUT).await;
    let card = saved(&sim, &client, "4111111111111111").await;
    sim.inject("/api/transact.php", 1, Fault::DropAfterCommit);
    let outcome = client.charge(&charge(&card, "pay-drop-after", 2000)).await;
    assert!(
        matches!(outcome, ChargeOutcome::Unknown { .. }),
        "{outcome:?}"
    );
    assert!(matches!(
        client
            .lookup(&charge(&card, "pay-drop-after", 0))
            .await
            .unwrap(),
        LookupOutcome::Found(ChargeOutcome::Succeeded { .. })
    ));

    sim.inject("/api/transact.php", 1, Fault::DropBeforeCommit);
    let outcome = client.charge(&charge(&card, "pay-drop-before", 2000)).await;
    assert!(
        matches!(outcome, ChargeOutcome::Unknown { .. }),
        "{outcome:?}"
    );
    assert_eq!(
        client
            .lookup(&charge(&card, "pay-drop-before", 0))
            .await
            .unwrap(),
        LookupOutcome::NotFound
    );
    assert_eq!(sales(&sim), 1);
}

#[tokio::test]
async fn a_5xx_or_a_malformed_answer_is_unknown_never_failed() {
    let (sim, client, _) = setup(DEFAULT_TIMEOUT).await;
    let card = saved(&sim, &client, "4111111111111111").await;
    sim.inject("/api/transact.php", 1, Fault::Status(503));
    assert!(matches!(
        client.charge(&charge(&card, "pay-503", 1500)).await,
        ChargeOutcome::Unknown { .. }
    ));
    assert_eq!(
        client.lookup(&charge(&card, "pay-503", 0)).await.unwrap(),
        LookupOutcome::NotFound
    );
    sim.inject("/api/transact.php", 1, Fault::MalformedBody);
    assert!(matches!(
        client.charge(&charge(&card, "pay-html", 1500)).await,
        ChargeOutcome::Unknown { .. }
    ));
    assert!(matches!(
        client.lookup(&charge(&card, "pay-html", 0)).await.unwrap(),
        LookupOutcome::Found(ChargeOutcome::Succeeded { .. })
    ));
}

#[tokio::test]
async fn a_gateway_that_cannot_be_reached_is_a_retryable_failure() {
    let log = Arc::new(MemoryLog::default());
    // Nothing listens on port 9 of this machine.
    let client = NmiClient::new(
        Some("http://127.0.0.1:9"),
        Secret::new(KEY),
        log,
        Duration::from_secs(2),
    );
    let outcome = client
        .charge(&ChargeRequest {
            payment_key: "pay-x".into(),
            card_token: "1".into(),
            customer: None,
            amount: usd(1000),
            check_duplicates: true,
        })
        .await;
    assert!(
        matches!(outcome, ChargeOutcome::RetryableFailure { .. }),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn refunds_go_against_the_original_transaction_in_full_or_in_part() {
    let (sim, client, _) = setup(DEFAULT_TIMEOUT).await;
    let card = saved(&sim, &client, "4111111111111111").await;
    let ChargeOutcome::Succeeded { reference } =
        client.charge(&charge(&card, "pay-r", 10_000)).await
    else {
        panic!()
    };
    assert!(matches!(
        client.refund(&reference, Some(usd(2_500)), "ref-1").await,
        ChargeOutcome::Succeeded { .. }
    ));
    let over = client.refund(&reference, Some(usd(8_000)), "ref-2").await;
    match over {
        ChargeOutcome::Declined { message, .. } => assert_eq!(
            message,
            "Refund amount may not exceed the transaction balance"
        ),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        client.refund(&reference, None, "ref-3").await,
        ChargeOutcome::Succeeded { .. }
    ));
    let refunded: i64 = sim
        .transactions()
        .iter()
        .filter(|t| t.kind == "refund")
        .map(|t| t.amount_minor)
        .sum();
    assert_eq!(refunded, 10_000);
}

#[tokio::test]
async fn deleting_a_card_deletes_the_vault_customer() {
    let (sim, client, _) = setup(DEFAULT_TIMEOUT).await;
    let card = saved(&sim, &client, "4111111111111111").await;
    client.delete_card(&card.token).await.unwrap();
    assert_eq!(sim.vault_size(), 0);
    let err = client.delete_card(&card.token).await.unwrap_err();
    assert!(
        err.to_string().contains("Invalid Customer Vault Id"),
        "{err}"
    );
    assert!(
        matches!(&err, GatewayError::Rejected { code, .. } if code == NOT_FOUND),
        "{err:?}"
    );
    assert!(client.card_details(&card.token).await.is_err());
}

#[tokio::test]
async fn wrong_credentials_are_named_as_such_and_no_secret_or_card_number_is_logged() {
    let (sim, client, log) = setup(DEFAULT_TIMEOUT).await;
    client.check().await.unwrap();
    let card = saved(&sim, &client, "4111111111111111").await;
    client.charge(&charge(&card, "pay-log", 4200)).await;
    let bad = NmiClient::new(
        Some(&sim.base_url()),
        Secret::new("wrong-key"),
        log.clone(),
        DEFAULT_TIMEOUT,
    );
    assert!(matches!(
        bad.check().await,
        Err(GatewayError::Unauthorized { .. })
    ));
    assert!(matches!(
        bad.charge(&charge(&card, "pay-bad", 4200)).await,
        ChargeOutcome::Declined { .. }
    ));

    let entries = log.entries();
    assert!(entries.iter().any(|e| e.operation == "sale"
        && e.payment_key.as_deref() == Some("pay-log")
        && e.outcome == "approved"));
    let all = format!("{entries:?}");
    for secret in [KEY, "wrong-key", "4111111111111111"] {
        assert!(!all.contains(secret), "{secret} reached the processor log");
    }
}

#[tokio::test]
async fn a_period_lists_a_sale_that_settled_after_it_and_each_transaction_once() {
    let (sim, client, _) = setup(DEFAULT_TIMEOUT).await;
    let card = saved(&sim, &client, "4111111111111111").await;
    let made = chrono::Utc::now() - chrono::Duration::seconds(2);
    client.charge(&charge(&card, "pay-1", 4900)).await;
    client.charge(&charge(&card, "pay-2", 5100)).await;
    let period_end = chrono::Utc::now() + chrono::Duration::seconds(1);
    // The batch closes after the period: NMI now files the sales under the settlement's date.
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    assert_eq!(sim.settle_nmi_batch(), 2);
    let listed = all_listed(&client, made, period_end).await;
    let keys: Vec<_> = listed.iter().map(|t| t.our_key.clone().unwrap()).collect();
    assert_eq!(
        keys,
        vec!["pay-1", "pay-2"],
        "made in the period, settled after it, listed once each"
    );
    assert!(listed
        .iter()
        .all(|t| t.taken && t.kind == TransactionKind::Charge));
    // Asked about the time after the period only, nothing made then is listed.
    assert!(all_listed(&client, period_end, chrono::Utc::now())
        .await
        .is_empty());
}

/// Every page the client lists for `[from, to)`, one after another.
async fn all_listed(
    client: &NmiClient,
    from: chrono::DateTime<chrono::Utc>,
    to: chrono::DateTime<chrono::Utc>,
) -> Vec<clinicpay_gateways::GatewayTransaction> {
    let (pages, mut read) = tokio::sync::mpsc::channel(4);
    let listing = async move {
        client.transactions(from, to, &pages).await.unwrap();
    };
    let reading = async {
        let mut all = Vec::new();
        while let Some(page) = read.recv().await {
            all.extend(page);
        }
        all
    };
    tokio::join!(listing, reading).1
}
