//! `clinicpay worker` as IT runs it: killed with SIGKILL in the middle of a sweep and restarted, two
//! workers at once on one PostgreSQL database, and the long-running billing engine killed mid-pass and
//! taken over by the next. Each ends with the gateway's own ledger: every due cycle charged exactly once.

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use clinicpay_domain::*;
use clinicpay_gateways::Secret;
use clinicpay_services::cards::AddCard;
use clinicpay_services::credentials::{CredentialStore, Keychain, SecretKind};
use clinicpay_services::Services;
use clinicpay_sim::{Fault, SimConfig, Simulator};
use clinicpay_store::payments;
use clinicpay_testkit::{on_both_databases, Backend, TestDb};

const NMI_KEY: &str = "workerTestNmiKey0000000000000000";
const SUBSCRIPTIONS: usize = 40;

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).unwrap()
}

struct Setup {
    sim: Simulator,
    keychain: String,
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = Keychain::named(&self.keychain).delete(Gateway::Nmi.into());
        let _ = Keychain::named(&self.keychain).delete(SecretKind::WorkerSignIn);
    }
}

/// A clinic on NMI (the simulator) with `SUBSCRIPTIONS` patients, each with a card and a weekly plan due now.
async fn clinic_with_due_cycles(db: &TestDb) -> Setup {
    let sim = Simulator::start(SimConfig {
        nmi_security_key: Some(NMI_KEY.into()),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let keychain = format!(
        "ClinicPay-worker-test-{}-{}",
        std::process::id(),
        Utc::now().timestamp_nanos_opt().unwrap_or_default()
    );
    let s = Services::with_credentials(
        db.store.clone(),
        Arc::new(FixedClock(start())),
        Arc::new(Keychain::named(&keychain)),
    );
    s.add_staff(None, "it", "IT", Role::ItAdmin, "it-password-1")
        .await
        .unwrap();
    let it = s.actor_by_username("it").await.unwrap();
    s.add_staff(
        Some(&it),
        "manager",
        "Manager",
        Role::BillingManager,
        "manager-password-1",
    )
    .await
    .unwrap();
    let manager = s.actor_by_username("manager").await.unwrap();
    // The worker signs in as its own account, stored in this computer's keychain.
    s.add_staff(
        Some(&it),
        "billing-worker",
        "Worker",
        Role::Worker,
        WORKER_PASSWORD,
    )
    .await
    .unwrap();
    s.set_worker_credentials("billing-worker", WORKER_PASSWORD)
        .await
        .unwrap();
    s.set_setting(&manager, "gateway", "nmi").await.unwrap();
    s.set_setting(&it, "nmi.api-base", &sim.base_url())
        .await
        .unwrap();
    s.set_gateway_credentials(&it, Gateway::Nmi, Secret::new(NMI_KEY))
        .await
        .unwrap();
    for i in 0..SUBSCRIPTIONS {
        let p = s
            .add_patient(
                &manager,
                NewPatient {
                    name: format!("Patient {i}"),
                    email: format!("p{i}@example.com"),
                    phone: None,
                    patient_type: PatientType::Individual,
                },
            )
            .await
            .unwrap();
        let token = sim.payment_token("4111111111111111", "1230");
        s.add_card(
            &manager,
            p.id,
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
        s.create_subscription(
            &manager,
            p.id,
            "Weekly",
            Money::from_minor(1_000 + i as i64, Currency::USD),
            "week",
        )
        .await
        .unwrap();
    }
    Setup { sim, keychain }
}

const WORKER_PASSWORD: &str = "worker-password-1";

fn worker(db: &TestDb, keychain: &str, now: DateTime<Utc>) -> Child {
    Command::new(env!("CARGO_BIN_EXE_clinicpay"))
        .args([
            "--db",
            &db.url,
            "--now",
            &now.to_rfc3339(),
            "--json",
            "worker",
            "--once",
        ])
        .env("CLINICPAY_KEYCHAIN_SERVICE", keychain)
        .env_remove("CLINICPAY_DB")
        .env_remove("CLINICPAY_STAFF")
        .env_remove("CLINICPAY_PASSWORD")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the worker")
}

/// Waits for a worker, but never for ever: a hung worker fails the test with what it printed.
async fn finish(mut child: Child) -> std::process::Output {
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().ok();
            let out = child.wait_with_output().unwrap();
            panic!(
                "the worker did not finish within 120 s: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child.wait_with_output().unwrap()
}

fn sales(sim: &Simulator) -> Vec<(String, i64)> {
    sim.transactions()
        .iter()
        .filter(|t| t.kind == "sale" && t.success)
        .map(|t| (t.order_id.clone(), t.amount_minor))
        .collect()
}

/// Every subscription's first cycle was charged exactly once, and ClinicPay recorded exactly that.
async fn assert_each_cycle_charged_once(db: &TestDb, sim: &Simulator) {
    let taken = sales(sim);
    let keys: BTreeSet<&String> = taken.iter().map(|(k, _)| k).collect();
    assert_eq!(keys.len(), taken.len(), "a payment was charged twice");
    let amounts: BTreeSet<i64> = taken.iter().map(|(_, a)| *a).collect();
    assert_eq!(
        amounts.len(),
        SUBSCRIPTIONS,
        "each plan (distinct amounts) charged once: {taken:?}"
    );
    let mut r = db.store.reader().await.unwrap();
    let ours: BTreeSet<String> = payments::payments(&mut r, None, 10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|p| p.status == PaymentStatus::Succeeded)
        .map(|p| p.idempotency_key)
        .collect();
    assert_eq!(
        ours,
        keys.into_iter().cloned().collect(),
        "recorded exactly what was taken"
    );
}

/// A worker killed (SIGKILL) once `charged` cycles reached NMI, then restarted: every cycle is
/// charged exactly once.
async fn killed_after(db: &TestDb, charged: usize) {
    let setup = clinic_with_due_cycles(db).await;
    // Slow answers, so the kill lands in the middle of the sweep.
    setup.sim.inject(
        "/api/transact.php",
        10_000,
        Fault::Latency(Duration::from_millis(40)),
    );
    let mut first = worker(db, &setup.keychain, start());
    let deadline = Instant::now() + Duration::from_secs(60);
    while sales(&setup.sim).len() < charged {
        assert!(
            Instant::now() < deadline,
            "the worker did not start charging"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    first.kill().unwrap(); // SIGKILL: no chance to tidy up.
    first.wait().unwrap();
    let charged_before_restart = sales(&setup.sim).len();
    assert!(charged_before_restart < SUBSCRIPTIONS, "killed mid-sweep");

    // Restarted after the janitor's grace period: stranded cycles are charged, unknown ones looked up.
    setup.sim.clear_faults();
    // Two passes ten minutes apart: a charge the gateway never got is settled as not sent only
    // when a second look agrees, and its cycle is charged by the pass after.
    for minutes in [10, 20, 30] {
        let later = start() + chrono::Duration::minutes(minutes);
        let out = finish(worker(db, &setup.keychain, later)).await;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    assert_each_cycle_charged_once(db, &setup.sim).await;
}

on_both_databases! {
    async fn a_worker_killed_at_its_first_charge_and_restarted_charges_every_cycle_exactly_once(db: &TestDb) {
        killed_after(db, 1).await;
    }

    async fn a_worker_killed_mid_sweep_and_restarted_charges_every_cycle_exactly_once(db: &TestDb) {
        killed_after(db, SUBSCRIPTIONS / 4).await;
    }

    async fn a_worker_killed_near_the_end_of_its_sweep_and_restarted_charges_every_cycle_exactly_once(db: &TestDb) {
        killed_after(db, SUBSCRIPTIONS * 3 / 4).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_on_one_postgresql_database_charge_every_cycle_exactly_once() {
    let db = TestDb::new(Backend::Postgres).await;
    let setup = clinic_with_due_cycles(&db).await;
    setup.sim.inject(
        "/api/transact.php",
        10_000,
        Fault::Latency(Duration::from_millis(10)),
    );
    let a = worker(&db, &setup.keychain, start());
    let b = worker(&db, &setup.keychain, start());
    let (a, b) = (finish(a).await, finish(b).await);
    assert!(a.status.success() && b.status.success(), "{a:?} {b:?}");
    let billed = |o: &std::process::Output| {
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()["cycles_billed"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(
        billed(&a) + billed(&b),
        SUBSCRIPTIONS as u64,
        "the cycles were shared, none billed twice"
    );
    assert_each_cycle_charged_once(&db, &setup.sim).await;
    drop(setup);
    db.drop_db().await;
}

/// `clinicpay worker` as the long-running billing engine (no `--once`), at the fixed time `now`.
fn engine(db: &TestDb, keychain: &str, now: DateTime<Utc>) -> Child {
    Command::new(env!("CARGO_BIN_EXE_clinicpay"))
        .args(["--db", &db.url, "--now", &now.to_rfc3339(), "worker"])
        .env("CLINICPAY_KEYCHAIN_SERVICE", keychain)
        .env_remove("CLINICPAY_DB")
        .env_remove("CLINICPAY_STAFF")
        .env_remove("CLINICPAY_PASSWORD")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the engine")
}

/// Waits until an engine has finished a pass at `at` (its fixed time), then stops it as systemd does.
async fn one_pass_then_stop(db: &TestDb, mut child: Child, at: DateTime<Utc>) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let row = {
            let mut r = db.store.reader().await.unwrap();
            clinicpay_store::engine::load(&mut r).await.unwrap()
        };
        if row.last_pass() == Some(at) {
            break;
        }
        if Instant::now() > deadline || child.try_wait().unwrap().is_some() {
            child.kill().ok();
            let out = child.wait_with_output().unwrap();
            panic!(
                "the engine at {at} finished no pass: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stopped = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    assert_eq!(finish(child).await.status.code(), Some(0));
}

on_both_databases! {
    async fn a_billing_engine_killed_mid_pass_is_taken_over_and_the_janitor_settles_what_it_left(db: &TestDb) {
        let setup = clinic_with_due_cycles(db).await;
        setup.sim.inject("/api/transact.php", 10_000, Fault::Latency(Duration::from_millis(40)));
        let mut first = engine(db, &setup.keychain, start());
        let deadline = Instant::now() + Duration::from_secs(60);
        while sales(&setup.sim).len() < SUBSCRIPTIONS / 3 {
            assert!(Instant::now() < deadline, "the engine charged nothing");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        first.kill().unwrap(); // SIGKILL mid-pass: the lease is not given up, payments are left pending.
        first.wait().unwrap();
        assert!(sales(&setup.sim).len() < SUBSCRIPTIONS, "killed mid-pass");
        let held = {
            let mut r = db.store.reader().await.unwrap();
            clinicpay_store::engine::load(&mut r).await.unwrap()
        };
        assert!(held.holder_at(start()).is_some(), "the dead engine still holds its lease");

        // Other engines come up later (the lease has lapsed by their clocks), one after another, as a
        // desk or the service would: the janitor settles what the dead one left, and the rest is billed.
        setup.sim.clear_faults();
        for minutes in [10, 20, 30] {
            let later = start() + chrono::Duration::minutes(minutes);
            one_pass_then_stop(db, engine(db, &setup.keychain, later), later).await;
        }
        assert_each_cycle_charged_once(db, &setup.sim).await;
    }
}
