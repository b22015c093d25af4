//! A desk losing its PostgreSQL server (the network cut, the server restarted): it says so plainly,
//! sends nothing to the gateway while the database is away, queues nothing to charge later, and works
//! again by itself when the database is back. A sweep cut half-way loses nothing and charges nothing twice.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::*;
use clinicpay_domain::*;
use clinicpay_services::cards::AddCard;
use clinicpay_services::credentials::Keychain;
use clinicpay_services::engine::EngineEvent;
use clinicpay_services::{ErrorCode, Services};
use clinicpay_store::Store;
use clinicpay_testkit::{Backend, NetCut, TestDb};

const SERVER: &str = "127.0.0.1:5432";

/// The desk whose cable the test pulls: its own connections, through the relay.
async fn desk_through(db: &TestDb, c: &Clinic) -> (Services, NetCut) {
    assert!(
        db.url.contains(SERVER),
        "the tests' PostgreSQL is at {SERVER}: {}",
        db.url
    );
    let net = NetCut::start(SERVER.parse::<SocketAddr>().unwrap()).await;
    let s = Services::with_credentials(
        Store::open(&net.url_through(&db.url, SERVER))
            .await
            .unwrap(),
        Arc::new(FixedClock(now())),
        Arc::new(Keychain::named(&c.keychain)),
    );
    (s, net)
}

fn usd(minor: i64) -> Money {
    Clinic::usd(minor)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn while_the_database_is_away_nothing_is_charged_or_queued_and_the_desk_comes_back_by_itself()
{
    let db = TestDb::new(Backend::Postgres).await;
    let c = clinic(&db, Gateway::Nmi).await;
    c.add(Gateway::Nmi, "4111111111111111").await.unwrap();
    let inv =
        c.s.create_invoice(&c.desk, c.patient, usd(4_200), "Visit")
            .await
            .unwrap();
    let (desk, net) = desk_through(&db, &c).await;
    desk.list_payments(&c.desk, None).await.unwrap();

    net.cut();
    let started = Instant::now();
    let e = desk.pay_invoice(&c.desk, inv.id, None).await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::DatabaseUnavailable, "{e}");
    assert!(
        e.to_string().contains("Check the connection"),
        "said plainly: {e}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "said within seconds, not minutes"
    );
    assert!(
        c.charged_at(Gateway::Nmi).is_empty(),
        "nothing reached the gateway"
    );
    assert!(
        c.s.list_payments(&c.desk, None).await.unwrap().is_empty(),
        "nothing kept to charge later"
    );

    net.restore();
    // No restart, no reconnect button: the next action just works, and charges once.
    let paid = desk.pay_invoice(&c.desk, inv.id, None).await.unwrap();
    assert_eq!(paid.payment.status, PaymentStatus::Succeeded);
    assert_eq!(c.charged_at(Gateway::Nmi), vec![4_200]);
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_cut_during_a_sweep_loses_nothing_and_charges_nothing_twice() {
    let db = TestDb::new(Backend::Postgres).await;
    let c = clinic(&db, Gateway::Nmi).await;
    const PATIENTS: i64 = 30;
    for i in 0..PATIENTS {
        let p = c
            .new_patient(
                format!("Sweep Patient {i}"),
                format!("sweep{i}@example.com"),
            )
            .await;
        let token = c.token(Gateway::Nmi, "4111111111111111");
        c.s.add_card(
            &c.desk,
            p,
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
        // Distinct amounts: each cycle is recognisable in the gateway's own ledger.
        c.s.create_subscription(&c.desk, p, "Wellness", usd(5_000 + i), "month")
            .await
            .unwrap();
    }
    let (worker, net) = desk_through(&db, &c).await;
    let sweep = tokio::spawn(async move { worker.run_worker_pass().await });
    // Pull the cable once a few cycles went through.
    let deadline = Instant::now() + Duration::from_secs(30);
    while c.charged_at(Gateway::Nmi).len() < 5 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    net.cut();
    let first = sweep.await.unwrap();
    let charged_by_then = c.charged_at(Gateway::Nmi).len();
    assert!(
        charged_by_then >= 5 && (charged_by_then as i64) < PATIENTS,
        "cut half-way ({charged_by_then} charged); the pass said {first:?}"
    );

    // The server is back; the worker's next passes (the janitor's grace over) finish the job.
    net.restore();
    for minutes in [10, 20, 30] {
        c.later(minutes).run_worker_pass().await.unwrap();
    }
    let mut charged = c.charged_at(Gateway::Nmi);
    charged.sort();
    assert_eq!(
        charged,
        (0..PATIENTS).map(|i| 5_000 + i).collect::<Vec<_>>(),
        "every cycle charged exactly once"
    );
    let payments = c.s.list_payments(&c.manager, None).await.unwrap();
    // An attempt cut off before it reached the gateway is settled as failed by the janitor's look-up
    // (no money moved) and its cycle charged again; nothing stays pending or unknown.
    assert!(
        payments
            .iter()
            .all(|p| matches!(p.status, PaymentStatus::Succeeded | PaymentStatus::Failed)),
        "nothing left pending or unknown: {:?}",
        payments.iter().map(|p| p.status).collect::<Vec<_>>()
    );
    let mut ours: Vec<_> = payments
        .iter()
        .filter(|p| p.status == PaymentStatus::Succeeded)
        .map(|p| p.amount.minor)
        .collect();
    ours.sort();
    assert_eq!(ours, charged, "the ledger is the gateway's");
    let failed = payments.len() - ours.len();
    println!("# cut after {charged_by_then} of {PATIENTS} cycles; all {PATIENTS} charged once after the restore ({failed} attempts cut before the gateway, settled as failed)");
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_billing_engine_outlives_a_database_that_goes_away_and_bills_once_it_is_back() {
    let db = TestDb::new(Backend::Postgres).await;
    let c = clinic(&db, Gateway::Nmi).await;
    c.add(Gateway::Nmi, "4111111111111111").await.unwrap();
    c.s.create_subscription(&c.desk, c.patient, "Wellness", usd(4_900), "month")
        .await
        .unwrap();
    let (worker, net) = desk_through(&db, &c).await;
    net.cut();
    let failures = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let seen = failures.clone();
    let it = c.it.clone();
    let running = tokio::spawn(async move {
        worker
            .run_engine(
                clinicpay_services::engine::EngineRole {
                    name: "billing service".into(),
                    kind: clinicpay_services::engine::HolderKind::Service,
                },
                Some(it),
                clinicpay_services::engine::EnginePace {
                    every: Duration::from_millis(100),
                    longest_backoff: Duration::from_millis(400),
                    try_every: Duration::from_millis(100),
                    ..Default::default()
                },
                move |event| {
                    if matches!(
                        event,
                        EngineEvent::LeaseUnknown(_) | EngineEvent::PassFailed(_)
                    ) {
                        seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                },
                async {
                    stopped.await.ok();
                },
            )
            .await
    });
    // The database is away: passes fail, and the worker goes on.
    let deadline = Instant::now() + Duration::from_secs(90);
    while failures.load(std::sync::atomic::Ordering::SeqCst) < 2 {
        assert!(
            Instant::now() < deadline,
            "no pass failed while the database was away"
        );
        assert!(
            !running.is_finished(),
            "the worker ended with the database away"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(c.charged_at(Gateway::Nmi).is_empty());
    // Back: the next pass bills the due cycle, once.
    net.restore();
    while c.charged_at(Gateway::Nmi).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the worker did not bill once the database was back"
        );
        assert!(!running.is_finished(), "the worker ended");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(c.charged_at(Gateway::Nmi), vec![4_900], "billed once");
    // Only a signal stops it.
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(30), running)
        .await
        .expect("the worker stops when told")
        .unwrap();
    db.drop_db().await;
}
