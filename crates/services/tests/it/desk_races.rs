//! Two desks on one PostgreSQL doing the same thing at the same moment, many times over: one consistent
//! result, a clear sentence at the desk that lost, and never a double charge.

use std::sync::Arc;

use crate::support::*;
use clinicpay_domain::*;
use clinicpay_services::cards::AddCard;
use clinicpay_services::credentials::Keychain;
use clinicpay_services::{ErrorCode, Services};
use clinicpay_store::Store;
use clinicpay_testkit::{Backend, TestDb};

const ROUNDS: usize = 20;

fn usd(minor: i64) -> Money {
    Clinic::usd(minor)
}

/// The second desk: its own connections to the same database, its own keychain entry of the clinic.
async fn second_desk(db: &TestDb, c: &Clinic) -> Services {
    Services::with_credentials(
        Store::open(&db.url).await.unwrap(),
        Arc::new(FixedClock(now())),
        Arc::new(Keychain::named(&c.keychain)),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_desks_setting_different_defaults_at_once_leave_one_default_and_a_true_history() {
    let db = TestDb::new(Backend::Postgres).await;
    let c = clinic(&db, Gateway::Nmi).await;
    let b = second_desk(&db, &c).await;
    let first = c
        .add(Gateway::Nmi, "4111111111111111")
        .await
        .unwrap()
        .card
        .id;
    let second = c
        .add(Gateway::Nmi, "5555555555554444")
        .await
        .unwrap()
        .card
        .id;
    for round in 0..ROUNDS {
        let (x, y) = if round % 2 == 0 {
            (first, second)
        } else {
            (second, first)
        };
        let (ra, rb) = tokio::join!(
            c.s.set_default_card(&c.desk, x),
            b.set_default_card(&c.desk, y)
        );
        ra.unwrap();
        rb.unwrap();
        let cards = c.s.list_cards(&c.desk, c.patient).await.unwrap();
        let defaults: Vec<_> = cards
            .iter()
            .filter(|k| k.is_default)
            .map(|k| k.id)
            .collect();
        assert_eq!(defaults.len(), 1, "round {round}: exactly one default");
        // The history tells it as it happened: the later change starts from the earlier one's result.
        let stored = clinicpay_store::activity::for_patient(
            &mut db.store.reader().await.unwrap(),
            c.patient.0,
            2,
        )
        .await
        .unwrap();
        assert!(stored.iter().all(|e| e.action == "card.default_changed"));
        let after_of = |e: &clinicpay_store::activity::ActivityEntry| -> serde_json::Value {
            serde_json::from_str(e.after_state.as_deref().unwrap()).unwrap()
        };
        let before_of = |e: &clinicpay_store::activity::ActivityEntry| -> serde_json::Value {
            serde_json::from_str(e.before_state.as_deref().unwrap()).unwrap()
        };
        assert_eq!(
            before_of(&stored[0])["default_card"],
            after_of(&stored[1])["default_card"],
            "round {round}"
        );
        assert_eq!(
            after_of(&stored[0])["default_card"],
            defaults[0].0,
            "round {round}: the last word is the default"
        );
    }
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_desks_paying_the_same_invoice_at_once_charge_it_once() {
    let db = TestDb::new(Backend::Postgres).await;
    let c = clinic(&db, Gateway::Nmi).await;
    let b = second_desk(&db, &c).await;
    c.add(Gateway::Nmi, "4111111111111111").await.unwrap();
    for round in 0..ROUNDS {
        let inv =
            c.s.create_invoice(&c.desk, c.patient, usd(1_000 + round as i64), "Visit")
                .await
                .unwrap();
        let (ra, rb) = tokio::join!(
            c.s.pay_invoice(&c.desk, inv.id, None),
            b.pay_invoice(&c.desk, inv.id, None)
        );
        let (won, lost) = match (ra, rb) {
            (Ok(p), Err(e)) | (Err(e), Ok(p)) => (p, e),
            (a, b) => panic!(
                "round {round}: expected one winner, got {:?} and {:?}",
                a.map(|p| p.payment.id),
                b.map(|p| p.payment.id)
            ),
        };
        assert_eq!(won.payment.status, PaymentStatus::Succeeded);
        assert_eq!(lost.code(), ErrorCode::Conflict, "{lost}");
        assert!(
            lost.to_string().to_lowercase().contains("another desk"),
            "round {round}: {lost}"
        );
        let charged = c.charged_at(Gateway::Nmi);
        assert_eq!(
            charged
                .iter()
                .filter(|a| **a == 1_000 + round as i64)
                .count(),
            1,
            "round {round}: charged once"
        );
    }
    assert_eq!(c.charged_at(Gateway::Nmi).len(), ROUNDS);
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deleting_and_charging_the_same_card_at_once_never_leaves_money_unaccounted() {
    let db = TestDb::new(Backend::Postgres).await;
    let c = clinic(&db, Gateway::Nmi).await;
    let b = second_desk(&db, &c).await;
    c.add(Gateway::Nmi, "4111111111111111").await.unwrap();
    let mut outcomes = std::collections::BTreeMap::new();
    for round in 0..ROUNDS {
        let card = c
            .add(Gateway::Nmi, "5555555555554444")
            .await
            .unwrap()
            .card
            .id;
        let inv =
            c.s.create_invoice(&c.desk, c.patient, usd(2_000 + round as i64), "Visit")
                .await
                .unwrap();
        // Either desk may be first to the database: one of them starts a little later, by turns.
        let lag = |mine: bool| async move {
            if mine {
                tokio::time::sleep(std::time::Duration::from_millis(
                    [0, 3, 8, 15, 30][round % 5],
                ))
                .await;
            }
        };
        let (deleted, paid) = tokio::join!(
            async {
                lag(round % 2 == 0).await;
                c.s.delete_card(&c.desk, card, false).await
            },
            async {
                lag(round % 2 == 1).await;
                b.pay_invoice(&c.desk, inv.id, Some(card)).await
            }
        );
        for e in [deleted.as_ref().err(), paid.as_ref().err()]
            .into_iter()
            .flatten()
        {
            assert!(
                e.to_string().to_lowercase().contains("another desk"),
                "round {round}: the desk that lost is told why: {e}"
            );
        }
        *outcomes.entry((deleted.is_ok(), paid.is_ok())).or_insert(0) += 1;
        assert!(
            deleted.is_ok() || paid.is_ok(),
            "round {round}: one of them goes through"
        );
        // Whatever happened, the ledger and the gateway agree and nothing is left in flight.
        let payments = c.s.list_payments(&c.desk, Some(c.patient)).await.unwrap();
        assert!(
            payments.iter().all(|p| p.status != PaymentStatus::Pending),
            "round {round}: nothing in flight"
        );
        let ours: i64 = payments
            .iter()
            .filter(|p| p.status == PaymentStatus::Succeeded)
            .map(|p| p.amount.minor)
            .sum();
        assert_eq!(
            ours,
            c.charged_at(Gateway::Nmi).iter().sum::<i64>(),
            "round {round}: ledger equals the gateway's"
        );
        if deleted.is_err() {
            c.s.delete_card(&c.desk, card, false).await.unwrap();
        }
    }
    println!("# (deleted, paid) outcomes over {ROUNDS} rounds: {outcomes:?}");
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_desks_retrying_the_same_recovery_order_at_once_charge_it_once() {
    let db = TestDb::new(Backend::Postgres).await;
    let c = clinic(&db, Gateway::Nmi).await;
    let b = second_desk(&db, &c).await;
    for round in 0..ROUNDS {
        // A cycle that found no card: it waits in recovery until a retry with a card.
        let patient = c
            .new_patient(
                format!("Race Patient {round}"),
                format!("race{round}@example.com"),
            )
            .await;
        c.s.create_subscription(
            &c.desk,
            patient,
            "Wellness",
            usd(3_000 + round as i64),
            "month",
        )
        .await
        .unwrap();
        c.s.run_worker_pass().await.unwrap();
        let order =
            c.s.list_orders(
                &c.desk,
                Some(patient),
                Some(RecoveryStatus::NeedsPaymentMethod),
            )
            .await
            .unwrap()
            .remove(0);
        // The card is saved without the automatic retry (it would win the race for us).
        let token = c.token(Gateway::Nmi, "4111111111111111");
        c.s.add_card(
            &c.desk,
            patient,
            AddCard {
                gateway: Gateway::Nmi,
                token,
                cardholder_name: None,
                country: None,
                nickname: None,
            },
        )
        .await
        .unwrap();
        let (ra, rb) = tokio::join!(
            c.s.retry_order(&c.desk, order.id, None),
            b.retry_order(&c.desk, order.id, None)
        );
        let lost = match (ra, rb) {
            (Ok(_), Err(e)) | (Err(e), Ok(_)) => e,
            (a, b) => panic!(
                "round {round}: expected one winner, got {:?} / {:?}",
                a.map(|p| p.payment.id),
                b.map(|p| p.payment.id)
            ),
        };
        assert_eq!(lost.code(), ErrorCode::Conflict, "{lost}");
        assert!(
            lost.to_string().to_lowercase().contains("another desk"),
            "round {round}: {lost}"
        );
        let charged = c.charged_at(Gateway::Nmi);
        assert_eq!(
            charged
                .iter()
                .filter(|a| **a == 3_000 + round as i64)
                .count(),
            1,
            "round {round}: charged once"
        );
    }
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_card_saved_at_one_desk_pays_the_recovery_order_through_the_worker_on_another_computer() {
    let db = TestDb::new(Backend::Postgres).await;
    let c = clinic(&db, Gateway::Nmi).await;
    let worker = second_desk(&db, &c).await;
    let listening = worker.retry_recovery_when_any_desk_saves_a_card(c.it.clone());
    c.s.create_subscription(&c.desk, c.patient, "Wellness", usd(6_100), "month")
        .await
        .unwrap();
    c.s.run_worker_pass().await.unwrap();
    let order =
        c.s.list_orders(
            &c.desk,
            Some(c.patient),
            Some(RecoveryStatus::NeedsPaymentMethod),
        )
        .await
        .unwrap()
        .remove(0);
    // The front desk saves a card; it does not retry itself (no local listener in this test).
    c.add(Gateway::Nmi, "4111111111111111").await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let o =
            c.s.list_orders(&c.desk, Some(c.patient), None)
                .await
                .unwrap()
                .into_iter()
                .find(|o| o.id == order.id)
                .unwrap();
        if o.status == OrderStatus::Paid {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the worker did not retry the order: {o:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(c.charged_at(Gateway::Nmi), vec![6_100]);
    listening.abort();
    db.drop_db().await;
}

/// A worker IT switched off charges nothing when a card is saved (its listener reads the account
/// again), and the same running worker takes up again once IT switches it back on.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_switched_off_does_not_retry_when_a_card_is_saved() {
    let db = TestDb::new(Backend::Postgres).await;
    let c = clinic(&db, Gateway::Nmi).await;
    c.s.add_staff(
        Some(&c.it),
        "billing-worker",
        "",
        clinicpay_domain::Role::Worker,
        "worker-password-long-1",
    )
    .await
    .unwrap();
    let account =
        c.s.sign_in_via("billing-worker", "worker-password-long-1", "worker")
            .await
            .unwrap();
    let worker = second_desk(&db, &c).await;
    let listening = worker.retry_recovery_when_any_desk_saves_a_card(account);
    c.s.create_subscription(&c.desk, c.patient, "Wellness", usd(6_100), "month")
        .await
        .unwrap();
    c.s.run_worker_pass().await.unwrap();
    let order = |s: clinicpay_services::Services| {
        let (desk, patient) = (c.desk.clone(), c.patient);
        async move {
            s.list_orders(&desk, Some(patient), None)
                .await
                .unwrap()
                .remove(0)
        }
    };
    c.s.set_staff_active(&c.it, "billing-worker", false)
        .await
        .unwrap();
    c.add(Gateway::Nmi, "4111111111111111").await.unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_ne!(order(c.s.clone()).await.status, OrderStatus::Paid);
    assert!(
        c.charged_at(Gateway::Nmi).is_empty(),
        "a switched-off worker charged"
    );

    c.s.set_staff_active(&c.it, "billing-worker", true)
        .await
        .unwrap();
    c.add(Gateway::Nmi, "5555555555554444").await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while order(c.s.clone()).await.status != OrderStatus::Paid {
        assert!(
            std::time::Instant::now() < deadline,
            "the worker did not take up again"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(c.charged_at(Gateway::Nmi), vec![6_100]);
    listening.abort();
    db.drop_db().await;
}
