//! For IT: the managed configuration pins desk settings, the desk inventory lists every desk, and the
//! diagnostics bundle holds what support needs and never a secret or a card number.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::support::*;
use chrono::{Duration, Utc};
use clinicpay_domain::*;
use clinicpay_services::desk_inventory::ThisDesk;
use clinicpay_services::diagnostics::DiagnosticsRequest;
use clinicpay_services::managed::Managed;
use clinicpay_services::{ErrorCode, Services};
use clinicpay_testkit::{fingerprint, on_both_databases, TestDb};

fn temp_dir(label: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "clinicpay-it-{label}-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn rand_suffix() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

fn managed(dir: &Path, text: &str) -> Managed {
    let file = dir.join("managed.toml");
    std::fs::write(&file, text).unwrap();
    Managed::load_from(&file).unwrap()
}

async fn staffed(db: &TestDb, managed: Managed) -> (Services, clinicpay_services::Actor) {
    let s = Services::new(db.store.clone(), Arc::new(FixedClock(now()))).with_managed(managed);
    s.add_staff(None, "it", "IT Admin", Role::ItAdmin, "secret-it-0001")
        .await
        .unwrap();
    let it = s.actor_by_username("it").await.unwrap();
    (s, it)
}

on_both_databases! {
    async fn a_setting_it_manages_is_shown_as_managed_and_cannot_be_changed_at_the_desk(db: &TestDb) {
        let dir = temp_dir("managed");
        let m = managed(&dir, "[desk]\nlock-after-minutes = 2\n[updates]\nchannel = \"pilot\"\n");
        let (s, it) = staffed(db, m).await;
        s.add_staff(Some(&it), "manager", "M", Role::BillingManager, "secret-manager").await.unwrap();
        let manager = s.actor_by_username("manager").await.unwrap();

        let before = fingerprint(db).await;
        let e = s.set_setting(&manager, "desk.lock-after-minutes", "30").await.unwrap_err();
        assert_eq!(e.code(), ErrorCode::ManagedByIt);
        assert!(e.to_string().contains("managed.toml"), "{e}");
        assert!(e.to_string().contains("Ask IT"), "{e}");
        assert_eq!(s.set_setting(&it, "updates.channel", "stable").await.unwrap_err().code(), ErrorCode::ManagedByIt);
        assert_eq!(fingerprint(db).await, before, "a refused change changes nothing");

        let view = s.settings(&manager).await.unwrap();
        let get = |k: &str| view.values.iter().find(|v| v.key == k).unwrap().clone();
        assert_eq!((get("desk.lock-after-minutes").value.as_str(), get("desk.lock-after-minutes").managed), ("2", true));
        assert_eq!((get("updates.channel").value.as_str(), get("updates.channel").managed), ("pilot", true));
        assert!(!get("updates.endpoint").managed);
        assert!(view.managed_file.as_deref().unwrap().ends_with("managed.toml"));
        assert_eq!(s.clinic_info().await.unwrap().desk_lock_minutes, 2, "the window locks by IT's minutes");

        // What IT did not pin stays the clinic's to change, and is logged.
        let changed = s.set_setting(&it, "updates.endpoint", "https://updates.clinic.example/clinicpay").await.unwrap();
        assert_eq!(changed.after, "https://updates.clinic.example/clinicpay");
        assert_eq!(
            s.set_setting(&it, "updates.endpoint", "http://updates.clinic.example").await.unwrap_err().code(),
            ErrorCode::InvalidInput,
            "updates come over https"
        );
        std::fs::remove_dir_all(dir).ok();
    }

    async fn a_desk_where_it_forbids_training_refuses_the_demo_clinic(db: &TestDb) {
        let dir = temp_dir("training");
        let s = Services::new(db.store.clone(), Arc::new(FixedClock(now())))
            .with_managed(managed(&dir, "training-allowed = false\n"));
        let e = s.seed_demo(None, 5, 1).await.unwrap_err();
        assert_eq!(e.code(), ErrorCode::ManagedByIt);
        assert!(e.to_string().contains("training-allowed = false"), "{e}");
        assert!(!s.clinic_info().await.unwrap().configured, "nothing was created");

        // The same database seeded elsewhere is a training clinic this desk refuses to open.
        Services::new(db.store.clone(), Arc::new(FixedClock(now()))).seed_demo(None, 5, 1).await.unwrap();
        assert!(s.clinic_info().await.unwrap().training_refused);
        std::fs::remove_dir_all(dir).ok();
    }

    async fn every_desk_is_listed_with_its_version_database_and_when_it_was_last_seen(db: &TestDb) {
        let (s, it) = staffed(db, Managed::default()).await;
        let (a_dir, b_dir) = (temp_dir("desk-a"), temp_dir("desk-b"));
        let a = ThisDesk::load(&a_dir, Some("Front desk 1"), "0.1.0");
        assert_eq!(ThisDesk::load(&a_dir, Some("Front desk 1"), "0.1.0").desk_id, a.desk_id, "a desk keeps its id");
        let b = ThisDesk::load(&b_dir, None, "0.1.0");
        assert_ne!(a.desk_id, b.desk_id);
        assert!(!b.name.is_empty(), "unnamed desks take the computer's name");

        s.desk_seen(&a).await.unwrap();
        s.desk_seen(&b).await.unwrap();
        // Desk B updates and is seen 20 minutes later; desk A has not been heard of since.
        let later = Services::new(db.store.clone(), Arc::new(FixedClock(now() + Duration::minutes(20))));
        let b2 = ThisDesk::load(&b_dir, None, "0.2.0");
        later.desk_seen(&b2).await.unwrap();

        let desks = later.list_desks(&it).await.unwrap();
        assert_eq!(desks.len(), 2);
        assert_eq!(desks[0].desk_id, b.desk_id, "most recently seen first");
        assert_eq!((desks[0].app_version.as_str(), desks[0].running), ("0.2.0", true));
        assert_eq!(desks[0].first_seen_at, now());
        assert_eq!((desks[1].name.as_str(), desks[1].running), ("Front desk 1", false));
        let kind = match db.backend() { clinicpay_testkit::Backend::Sqlite => "sqlite", _ => "postgres" };
        assert!(desks.iter().all(|d| d.database == kind && d.channel == "stable"));

        s.add_staff(Some(&it), "frontdesk", "F", Role::FrontDesk, "secret-frontdesk").await.unwrap();
        let desk = s.actor_by_username("frontdesk").await.unwrap();
        assert_eq!(s.list_desks(&desk).await.unwrap_err().code(), ErrorCode::PermissionDenied);
        for d in [a_dir, b_dir] {
            std::fs::remove_dir_all(d).ok();
        }
    }

    async fn a_desk_whose_clock_is_wrong_keeps_the_databases_time_and_it_sees_it_in_the_inventory(db: &TestDb) {
        let (s, it) = staffed(db, Managed::default()).await;
        let dir = temp_dir("desk-skew");
        let behind = Services::new(db.store.clone(), Arc::new(SkewedClock(Duration::minutes(-10))));
        behind.desk_seen(&ThisDesk::load(&dir, Some("Front desk 2"), "0.1.0")).await.unwrap();
        // Its "now" is the database's, not its own clock's.
        assert!((behind.now() - Utc::now()).num_seconds().abs() < 5, "{}", behind.now());
        let skew = behind.clock_skew().unwrap();
        assert!((skew + Duration::minutes(10)).num_seconds().abs() < 5, "{skew}");
        let desks = s.list_desks(&it).await.unwrap();
        let seen = desks.iter().find(|d| d.name == "Front desk 2").unwrap();
        assert!((seen.clock_skew_seconds.unwrap() + 600).abs() < 5, "{seen:?}");
        let warning = seen.clock_warning.as_deref().unwrap();
        assert!(warning.starts_with("this computer's clock is 10 minutes behind the database's"), "{warning}");
        // A desk whose clock is right is not warned about.
        let right = Services::new(db.store.clone(), Arc::new(SystemClock));
        right.desk_seen(&ThisDesk::load(&temp_dir("desk-right"), Some("Front desk 3"), "0.1.0")).await.unwrap();
        let desks = s.list_desks(&it).await.unwrap();
        let seen = desks.iter().find(|d| d.name == "Front desk 3").unwrap();
        assert_eq!(seen.clock_warning, None);
        assert!(seen.clock_skew_seconds.unwrap().abs() <= 1);
        std::fs::remove_dir_all(dir).ok();
    }

    async fn the_diagnostics_bundle_holds_what_support_needs_and_no_secret_or_card_number(db: &TestDb) {
        let c = clinic(db, Gateway::Nmi).await;
        // Real work first, so the process holds the gateway secret and the processor log has calls.
        c.add(Gateway::Nmi, "4111111111111111").await.unwrap();
        let inv = c.s.create_invoice(&c.desk, c.patient, Money::from_minor(4_200, Currency::USD), "Visit").await.unwrap();
        c.s.pay_invoice(&c.desk, inv.id, None).await.unwrap();

        let dir = temp_dir("diagnostics");
        let m = managed(&dir, "database-url = \"postgres://clinicpay:hunter2-db-password@db.clinic.local/clinicpay\"\ndesk-name = \"Front desk 2\"\n");
        let s = c.s.clone().with_managed(m);
        // An app log that (through some slip) mentions a card number, both keys and the database password.
        let logs = dir.join("logs");
        std::fs::create_dir_all(&logs).unwrap();
        std::fs::write(
            logs.join("clinicpay.log"),
            format!(
                "2026-11-23 INFO started\n2026-11-23 WARN pasted card 4111 1111 1111 1111 and 4242424242424242\n\
                 2026-11-23 WARN keys {NMI_KEY} {STRIPE_KEY}\n2026-11-23 WARN db postgres://clinicpay:hunter2-db-password@db/x\n"
            ),
        )
        .unwrap();
        let desk = ThisDesk::load(&dir, Some("Front desk 2"), "0.1.0");
        s.desk_seen(&desk).await.unwrap();

        let out = dir.join("bundle.zip");
        let written = s
            .write_diagnostics(
                &c.it,
                DiagnosticsRequest { app_version: "0.1.0", desk: Some(&desk), log_dir: logs, out: out.clone() },
                "postgres://clinicpay:hunter2-db-password@db.clinic.local/clinicpay",
            )
            .await
            .unwrap();
        assert!(written.bytes > 0 && written.message.contains("bundle.zip"));

        let mut zip = zip::ZipArchive::new(std::fs::File::open(&out).unwrap()).unwrap();
        let mut files = std::collections::BTreeMap::new();
        for i in 0..zip.len() {
            let mut f = zip.by_index(i).unwrap();
            let mut text = String::new();
            f.read_to_string(&mut text).unwrap();
            files.insert(f.name().to_owned(), text);
        }
        let names: Vec<_> = files.keys().cloned().collect();
        assert_eq!(names, written.files.iter().cloned().collect::<std::collections::BTreeSet<_>>().into_iter().collect::<Vec<_>>());
        for forbidden in [
            NMI_KEY, STRIPE_KEY, "hunter2-db-password", "4111111111111111", "4111 1111 1111 1111", "4242424242424242",
            "John Smith", "john@example.com",
        ] {
            for (name, text) in &files {
                assert!(!text.contains(forbidden), "{forbidden} is in {name}");
            }
        }
        // …and it holds what support asks for.
        let about: serde_json::Value = serde_json::from_str(&files["about.json"]).unwrap();
        assert_eq!(about["app_version"], "0.1.0");
        assert_eq!(about["desk_name"], "Front desk 2");
        assert_eq!(about["database"], "postgres://clinicpay:***@db.clinic.local/clinicpay");
        assert!(files["settings.json"].contains("\"gateway\""));
        assert!(files["managed.json"].contains("Front desk 2"));
        assert!(files["desks.json"].contains(&desk.desk_id));
        let engine: serde_json::Value = serde_json::from_str(&files["billing-engine.json"]).unwrap();
        assert!(engine["due"].is_object(), "{engine}");
        assert!(engine["warning"].as_str().is_some_and(|w| w.contains("No billing pass has ever run")), "{engine}");
        let calls: Vec<serde_json::Value> = serde_json::from_str(&files["processor-log-last-7-days.json"]).unwrap();
        assert!(calls.iter().any(|c| c["gateway"] == "nmi" && c["calls"].as_i64().unwrap() > 0), "{calls:?}");
        let log = &files["logs/clinicpay.log"];
        assert!(log.contains("started") && log.contains("[card ••1111]") && log.contains("[secret removed]"), "{log}");
        std::fs::remove_dir_all(dir).ok();
    }
}
