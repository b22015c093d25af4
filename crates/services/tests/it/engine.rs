//! The billing engine (issue 20): exactly one process bills per clinic database, a desk takes over when
//! the one running it closes or stops answering, a desk that cannot bill leaves it to one that can, and
//! billing managers and IT see who runs it, what it did, and a warning after an hour without a pass.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::*;
use clinicpay_domain::*;
use clinicpay_services::credentials::Keychain;
use clinicpay_services::engine::{EngineEvent, EngineHere, EnginePace, EngineRole, HolderKind};
use clinicpay_services::{ErrorCode, Services};
use clinicpay_testkit::{on_both_databases, TestDb};

/// A desk's engine running in the background, with what it told its log.
struct Running {
    services: Services,
    events: Arc<Mutex<Vec<String>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    fn passes(&self) -> usize {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.starts_with("pass:"))
            .count()
    }

    /// The desk closes: it finishes its pass and gives the engine up.
    async fn close(mut self) {
        self.stop.take().unwrap().send(()).ok();
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("the engine stops when the desk closes")
            .unwrap();
    }
}

fn fast(lease: chrono::Duration) -> EnginePace {
    EnginePace {
        every: Duration::from_millis(100),
        longest_backoff: Duration::from_millis(400),
        lease,
        try_every: Duration::from_millis(100),
        cycles_per_pass: Duration::from_secs(60),
    }
}

fn start(services: Services, desk: &str, pace: EnginePace) -> Running {
    let events = Arc::new(Mutex::new(Vec::new()));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let told = events.clone();
    let role = EngineRole {
        name: desk.into(),
        kind: HolderKind::Desk,
    };
    let engine = services.clone();
    let task = tokio::spawn(async move {
        engine
            .run_engine(
                role,
                None,
                pace,
                move |e| {
                    told.lock().unwrap().push(match e {
                        EngineEvent::Pass(what) => format!("pass: {what}"),
                        other => format!("{other:?}"),
                    })
                },
                async {
                    stopped.await.ok();
                },
            )
            .await
    });
    Running {
        services,
        events,
        stop: Some(stop),
        task,
    }
}

async fn until(what: &str, within: Duration, mut done: impl AsyncFnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !done().await {
        assert!(started.elapsed() < within, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    started.elapsed()
}

async fn runner(c: &Clinic) -> Option<String> {
    c.s.engine_status(&c.it)
        .await
        .unwrap()
        .runner
        .map(|r| r.name)
}

/// The same clinic at another desk (its own process id for the lease), on `clock`.
fn desk(c: &Clinic, clock: impl Clock + 'static) -> Services {
    c.with_clock(clock)
}

async fn due_subscription(c: &Clinic, minor: i64) {
    c.add(Gateway::Nmi, "4111111111111111").await.unwrap();
    c.s.create_subscription(&c.desk, c.patient, "Wellness", Clinic::usd(minor), "month")
        .await
        .unwrap();
}

/// `n` patients, each with a saved NMI card and a monthly plan due now, written straight to the store
/// (a month-end's worth of cycles without a month of set-up).
async fn cycles_due_now(c: &Clinic, db: &TestDb, n: usize) {
    use clinicpay_store::subscriptions::{insert_subscription, NewSubscription};
    let at = now();
    let mut tx = db.store.begin().await.unwrap();
    for i in 0..n {
        let p = clinicpay_store::patients::insert(
            &mut tx,
            &NewPatient {
                name: format!("Month End {i}"),
                email: format!("month-end-{i}@example.com"),
                phone: None,
                patient_type: PatientType::Individual,
            },
            at,
        )
        .await
        .unwrap();
        let card = NewCard {
            gateway: Gateway::Nmi,
            token: c.sim.vault_card("4111111111111111", "1230"),
            brand: CardBrand::Visa,
            last4: "1111".into(),
            expiry: CardExpiry::new(12, 2030).unwrap(),
            cardholder_name: p.name.clone(),
            nickname: None,
            country: None,
            fingerprint: None,
        };
        clinicpay_store::payment_methods::insert(&mut tx, p.id, &card, true, at)
            .await
            .unwrap();
        let plan = NewSubscription {
            patient_id: p.id,
            plan: "Wellness".into(),
            amount: Clinic::usd(2_500),
            interval: BillingInterval::Month,
            status: SubscriptionStatus::Active,
            next_cycle_at: at,
            locked_gateway: None,
        };
        insert_subscription(&mut tx, &plan, at).await.unwrap();
    }
    tx.commit().await.unwrap();
}

on_both_databases! {
    async fn at_month_end_the_engine_bills_every_due_cycle_without_waiting_for_its_next_pass(db: &TestDb) {
        let c = clinic(db, Gateway::Nmi).await;
        // More cycles due than one pass bills: a batch is 200, and this engine's pass bills one batch.
        cycles_due_now(&c, db, 450).await;
        let pace = EnginePace {
            every: Duration::from_secs(3600),
            cycles_per_pass: Duration::ZERO,
            ..fast(chrono::Duration::seconds(75))
        };
        let a = start(desk(&c, FixedClock(now())), "Front desk 1", pace);
        until("every due cycle is billed, although a pass comes only every hour", Duration::from_secs(60), async || {
            c.sim.transactions().iter().filter(|t| t.kind == "sale" && t.success).count() == 450 && a.passes() >= 3
        })
        .await;
        let said = a.events.lock().unwrap().clone();
        let passes: Vec<_> = said.iter().filter(|e| e.starts_with("pass:")).collect();
        assert!(passes.len() >= 3, "{said:?}");
        assert!(passes[0].contains("More cycles are due"), "{said:?}");
        assert!(passes[1].contains("More cycles are due"), "{said:?}");
        let sales = c.sim.transactions().into_iter().filter(|t| t.kind == "sale").collect::<Vec<_>>();
        let orders: std::collections::BTreeSet<_> = sales.iter().map(|t| t.order_id.clone()).collect();
        assert_eq!((sales.len(), orders.len()), (450, 450), "each cycle charged once");
        a.close().await;
    }

    async fn one_pass_bills_due_cycles_beyond_one_batch(db: &TestDb) {
        let c = clinic(db, Gateway::Nmi).await;
        cycles_due_now(&c, db, 450).await;
        let report = c.s.run_worker_pass().await.unwrap();
        assert_eq!((report.cycles_billed, report.cycles_paid, report.more_due), (450, 450, false));
        assert_eq!(c.s.run_worker_pass().await.unwrap().cycles_billed, 0);
    }

    async fn one_desk_runs_the_engine_and_another_takes_over_when_it_closes(db: &TestDb) {
        let c = clinic(db, Gateway::Nmi).await;
        due_subscription(&c, 4_900).await;
        let a = start(desk(&c, FixedClock(now())), "Front desk 1", fast(chrono::Duration::seconds(75)));
        until("desk 1 bills the due cycle", Duration::from_secs(30), async || {
            c.charged_at(Gateway::Nmi) == vec![4_900]
        })
        .await;
        assert_eq!(runner(&c).await.as_deref(), Some("Front desk 1"));
        assert_eq!(a.services.engine_here(), EngineHere::Running);

        let b = start(desk(&c, FixedClock(now())), "Front desk 2", fast(chrono::Duration::seconds(75)));
        until("desk 2 waits", Duration::from_secs(10), async || {
            b.services.engine_here() == EngineHere::Standby
        })
        .await;
        let passes_before = a.passes();
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert!(a.passes() > passes_before, "desk 1 goes on billing");
        assert_eq!(b.passes(), 0, "desk 2 runs no pass while desk 1 holds the engine");
        assert_eq!(runner(&c).await.as_deref(), Some("Front desk 1"));

        a.close().await;
        let took = until("desk 2 takes over", Duration::from_secs(10), async || {
            runner(&c).await.as_deref() == Some("Front desk 2") && b.passes() > 0
        })
        .await;
        println!("# desk 2 took over {took:?} after desk 1 closed (it gave the lease up)");
        let status = c.s.engine_status(&c.manager).await.unwrap();
        assert_eq!(status.last_pass_by.as_deref(), Some("Front desk 2"));
        assert_eq!(status.runner.as_ref().map(|r| r.kind.as_str()), Some("desk"));
        assert_eq!(c.charged_at(Gateway::Nmi), vec![4_900], "the cycle was charged once");
        b.close().await;
        assert_eq!(runner(&c).await, None, "nobody holds the engine once every desk closed");
    }

    async fn a_desk_that_stops_answering_is_replaced_once_its_lease_lapses(db: &TestDb) {
        let c = clinic(db, Gateway::Nmi).await;
        let lease = chrono::Duration::seconds(2);
        let a = start(desk(&c, SystemClock), "Laptop", fast(lease));
        until("the laptop runs the engine", Duration::from_secs(30), async || {
            a.passes() > 0
        })
        .await;
        let b = start(desk(&c, SystemClock), "Front desk", fast(lease));
        until("the front desk waits", Duration::from_secs(10), async || {
            b.services.engine_here() == EngineHere::Standby
        })
        .await;
        // The laptop dies (or sleeps, or loses the network): no pass finished, no lease given up.
        a.task.abort();
        let cut = Instant::now();
        until("the front desk takes over", Duration::from_secs(30), async || {
            b.passes() > 0
        })
        .await;
        let took = cut.elapsed();
        println!("# took over {took:?} after the laptop stopped answering (lease {lease})");
        assert!(
            took >= Duration::from_millis(1_000),
            "not before the laptop's lease could lapse: {took:?}"
        );
        assert_eq!(runner(&c).await.as_deref(), Some("Front desk"));
        b.close().await;
    }

    async fn a_desk_that_cannot_bill_leaves_the_engine_to_one_that_can(db: &TestDb) {
        let c = clinic(db, Gateway::Nmi).await;
        due_subscription(&c, 5_100).await;
        // A desk whose keychain holds no gateway key.
        let keyless = Services::with_credentials(
            c.s.store().clone(),
            Arc::new(FixedClock(now())),
            Arc::new(Keychain::named(format!("{}-empty", c.keychain))),
        );
        let k = start(keyless, "Reception", fast(chrono::Duration::seconds(75)));
        until("the keyless desk says why it waits", Duration::from_secs(10), async || {
            matches!(k.services.engine_here(), EngineHere::CannotRun(_))
        })
        .await;
        let EngineHere::CannotRun(why) = k.services.engine_here() else { unreachable!() };
        assert!(why.contains("NMI security key"), "{why}");
        assert_eq!(runner(&c).await, None);
        assert!(c.charged_at(Gateway::Nmi).is_empty());

        // IT's managed configuration keeps the engine off the desks altogether.
        let managed = clinicpay_services::managed::Managed {
            config: ManagedConfig::parse("engine = \"service\"\n", "/etc/clinicpay/managed.toml").unwrap(),
            source: Some("/etc/clinicpay/managed.toml".into()),
        };
        let pinned = start(desk(&c, FixedClock(now())).with_managed(managed), "Office", fast(chrono::Duration::seconds(75)));
        until("the office desk leaves it to the service", Duration::from_secs(10), async || {
            matches!(pinned.services.engine_here(), EngineHere::CannotRun(_))
        })
        .await;
        let EngineHere::CannotRun(why) = pinned.services.engine_here() else { unreachable!() };
        assert!(why.contains("engine = \"service\"") && why.contains("/etc/clinicpay/managed.toml"), "{why}");

        let keyed = start(desk(&c, FixedClock(now())), "Front desk", fast(chrono::Duration::seconds(75)));
        until("the desk with the key bills", Duration::from_secs(30), async || {
            c.charged_at(Gateway::Nmi) == vec![5_100]
        })
        .await;
        assert_eq!(runner(&c).await.as_deref(), Some("Front desk"));
        for r in [k, pinned, keyed] {
            r.close().await;
        }
    }

    async fn billing_managers_and_it_see_the_engine_and_a_warning_after_an_hour_without_a_pass(db: &TestDb) {
        let c = clinic(db, Gateway::Nmi).await;
        due_subscription(&c, 6_100).await;
        let before = c.s.engine_status(&c.it).await.unwrap();
        assert!(before.runner.is_none() && before.last_pass_at.is_none());
        assert_eq!((before.due.cycles_due, before.due.retries_due), (1, 0));
        assert!(
            before.warning.as_deref().is_some_and(|w| w.contains("No billing pass has ever run")),
            "{:?}",
            before.warning
        );
        assert_eq!(
            c.s.engine_status(&c.desk).await.unwrap_err().code(),
            ErrorCode::PermissionDenied,
            "the front desk does not see the engine"
        );

        let a = start(desk(&c, FixedClock(now())), "Front desk 1", fast(chrono::Duration::seconds(75)));
        until("a pass", Duration::from_secs(30), async || {
            c.charged_at(Gateway::Nmi) == vec![6_100] && a.passes() > 1
        })
        .await;
        let running = c.s.engine_status(&c.manager).await.unwrap();
        assert_eq!(running.warning, None);
        assert_eq!(running.last_pass_at, Some(now()));
        assert_eq!(running.due.cycles_due, 0, "nothing due once billed");
        assert!(running.due.next_cycle_at.is_some_and(|t| t > now()), "the next cycle is ahead");
        let first = a.events.lock().unwrap().iter().find(|e| e.starts_with("pass:")).cloned().unwrap();
        assert!(first.contains("Subscription cycles billed: 1, cycles paid: 1."), "{first}");
        a.close().await;

        // An hour and a minute later nothing has run: the top bar says so, and what to look at.
        let later = c.later(61);
        let it_later = later.actor_by_username("it").await.unwrap();
        let stale = later.engine_status(&it_later).await.unwrap();
        let warning = stale.warning.expect("a warning after an hour without a pass");
        assert!(warning.contains("No billing pass has run since 2026-11-23 10:00 UTC"), "{warning}");
        assert!(warning.contains("no desk or service is running the billing engine"), "{warning}");
        assert!(warning.contains("Settings → Billing engine"), "{warning}");
    }
}

on_both_databases! {
    async fn the_lease_goes_by_the_database_clock_and_a_desk_waking_after_a_takeover_yields(db: &TestDb) {
        use clinicpay_store::engine::{self as lease, Holder};
        let laptop = Holder { id: "laptop-1".into(), name: "Laptop".into(), kind: HolderKind::Desk };
        let front = Holder { id: "front-1".into(), name: "Front desk".into(), kind: HolderKind::Desk };
        let ttl = chrono::Duration::seconds(75);
        let t0 = now();
        let at = |s: i64| t0 + chrono::Duration::seconds(s);
        let claim = |h: &Holder, t| {
            let h = h.clone();
            let store = db.store.clone();
            async move {
                let mut tx = store.begin().await.unwrap();
                let got = lease::claim(&mut tx, &h, t, ttl).await.unwrap();
                tx.commit().await.unwrap();
                got
            }
        };
        assert!(claim(&laptop, at(0)).await, "a free engine is taken");
        assert!(!claim(&front, at(30)).await, "not while the laptop's lease runs");
        assert!(claim(&laptop, at(60)).await, "the holder renews");
        assert!(!claim(&front, at(130)).await, "renewed until 135 s");
        // The laptop sleeps: nothing renews, the lease lapses, the front desk takes over.
        assert!(claim(&front, at(136)).await, "a lapsed lease is taken over");
        assert!(claim(&front, at(200)).await, "and renews it");
        // The laptop wakes: its renewal is refused, and it cannot give away what it no longer holds.
        assert!(!claim(&laptop, at(230)).await, "a desk waking after a takeover yields");
        let mut tx = db.store.begin().await.unwrap();
        assert!(!lease::release(&mut tx, "laptop-1").await.unwrap());
        tx.commit().await.unwrap();
        let mut r = db.store.reader().await.unwrap();
        let row = lease::load(&mut r).await.unwrap();
        assert_eq!(row.holder_at(at(150)).map(|(id, _, _)| id.to_owned()), Some("front-1".into()));
        assert_eq!(row.started(), Some(at(136)), "the takeover's time, kept through renewals");
    }

    async fn a_desk_whose_clock_is_days_ahead_does_not_take_the_engine_from_the_one_running_it(db: &TestDb) {
        let c = clinic(db, Gateway::Nmi).await;
        let a = start(desk(&c, SystemClock), "Front desk", fast(chrono::Duration::seconds(75)));
        until("the front desk runs the engine", Duration::from_secs(30), async || a.passes() > 0).await;
        // Its own clock says the lease ran out long ago; the database's clock decides.
        let b = start(desk(&c, SkewedClock(chrono::Duration::days(3))), "Laptop", fast(chrono::Duration::seconds(75)));
        until("the laptop waits", Duration::from_secs(10), async || {
            b.services.engine_here() == EngineHere::Standby
        })
        .await;
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert_eq!(b.passes(), 0, "the laptop ran no pass");
        assert_eq!(runner(&c).await.as_deref(), Some("Front desk"));
        a.close().await;
        b.close().await;
    }
}

on_both_databases! {
    async fn a_desk_that_slept_through_a_takeover_sends_no_charge_when_it_wakes(db: &TestDb) {
        use clinicpay_store::engine::{self as lease, Holder};
        let c = clinic(db, Gateway::Nmi).await;
        due_subscription(&c, 7_300).await;
        let laptop = Holder { id: "laptop-2".into(), name: "Laptop".into(), kind: HolderKind::Desk };
        let front = Holder { id: "front-2".into(), name: "Front desk".into(), kind: HolderKind::Desk };
        let ttl = chrono::Duration::seconds(75);
        let mut tx = db.store.begin().await.unwrap();
        assert!(lease::claim(&mut tx, &laptop, now(), ttl).await.unwrap());
        // The laptop sleeps in the middle of its pass; two minutes later the front desk takes over.
        let later = now() + chrono::Duration::minutes(2);
        assert!(lease::claim(&mut tx, &front, later, ttl).await.unwrap());
        tx.commit().await.unwrap();

        // The laptop wakes and carries on with its pass: nothing is recorded or sent.
        let woke = c.with_clock(FixedClock(later + chrono::Duration::seconds(5))).under_lease(&laptop, ttl);
        woke.run_worker_pass().await.unwrap();
        assert!(c.charged_at(Gateway::Nmi).is_empty(), "the laptop sent nothing");
        assert!(c.s.list_payments(&c.manager, None).await.unwrap().is_empty(), "nor recorded a payment");

        // The front desk, which holds the engine, charges the cycle: once.
        // The order the laptop made but did not charge is picked up once it is surely not in flight.
        let front_desk = c.with_clock(FixedClock(later + chrono::Duration::minutes(30))).under_lease(&front, ttl);
        front_desk.run_worker_pass().await.unwrap();
        assert_eq!(c.charged_at(Gateway::Nmi), vec![7_300]);
    }
}
