//! The behaviours of product documents 000 and 003 that the core holds, on both databases.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use clinicpay_domain::*;
use clinicpay_services::{Actor, ErrorCode, Services};
use clinicpay_testkit::{on_both_databases, TestDb};

use crate::support::{staff, Staff};

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).unwrap()
}

fn services(db: &TestDb) -> Services {
    Services::new(db.store.clone(), Arc::new(FixedClock(now())))
}

/// A clinic on `gateway` with an IT account, a billing manager and a front-desk account.
async fn clinic(s: &Services, gateway: Gateway) -> (Actor, Actor, Actor) {
    let Staff { it, manager, desk } = staff(s).await;
    s.set_setting(&manager, "gateway", gateway.as_str())
        .await
        .unwrap();
    (it, manager, desk)
}

async fn john(s: &Services, desk: &Actor) -> Patient {
    s.add_patient(
        desk,
        NewPatient {
            name: "John Smith".into(),
            email: "john@example.com".into(),
            phone: Some("+1 555 010 2030".into()),
            patient_type: PatientType::Individual,
        },
    )
    .await
    .unwrap()
}

fn card(gateway: Gateway, token: &str, last4: &str) -> NewCard {
    NewCard {
        gateway,
        token: token.into(),
        brand: CardBrand::Visa,
        last4: last4.into(),
        expiry: CardExpiry::new(12, 2028).unwrap(),
        cardholder_name: "John Smith".into(),
        nickname: Some("Personal Card".into()),
        country: Some("US".into()),
        fingerprint: None,
    }
}

async fn activity_count(s: &Services, it: &Actor) -> i64 {
    s.verify_activity_log(it).await.unwrap().entries
}

on_both_databases! {
    async fn the_first_card_becomes_default_and_later_cards_do_not(db: &TestDb) {
        let s = services(db);
        let (_, _, desk) = clinic(&s, Gateway::Stripe).await;
        let p = john(&s, &desk).await;
        let first = s.save_card(&desk, p.id, card(Gateway::Stripe, "pm_1", "1234")).await.unwrap();
        assert_eq!(first.message, "Your Visa ending in 1234 has been added to your account.");
        assert!(first.card.is_default);
        let second = s.save_card(&desk, p.id, card(Gateway::Stripe, "pm_2", "5678")).await.unwrap();
        assert!(!second.card.is_default);
        let cards = s.list_cards(&desk, p.id).await.unwrap();
        assert_eq!(cards.iter().map(|c| (c.last4.as_str(), c.is_default)).collect::<Vec<_>>(), [("1234", true), ("5678", false)]);
    }

    async fn setting_a_new_default_moves_the_checkmark(db: &TestDb) {
        let s = services(db);
        let (_, _, desk) = clinic(&s, Gateway::Nmi).await;
        let p = john(&s, &desk).await;
        s.save_card(&desk, p.id, card(Gateway::Nmi, "100001", "1234")).await.unwrap();
        let second = s.save_card(&desk, p.id, card(Gateway::Nmi, "100002", "5678")).await.unwrap();
        let changed = s.set_default_card(&desk, second.card.id).await.unwrap();
        assert_eq!(changed.message, "Visa ending in 5678 is now your default payment method.");
        let cards = s.list_cards(&desk, p.id).await.unwrap();
        assert_eq!(cards.iter().filter(|c| c.is_default).map(|c| c.last4.as_str()).collect::<Vec<_>>(), ["5678"]);
    }

    async fn deleting_the_default_card_is_refused_while_other_cards_exist(db: &TestDb) {
        let s = services(db);
        let (it, _, desk) = clinic(&s, Gateway::Stripe).await;
        let p = john(&s, &desk).await;
        let default = s.save_card(&desk, p.id, card(Gateway::Stripe, "pm_1", "1234")).await.unwrap();
        s.save_card(&desk, p.id, card(Gateway::Stripe, "pm_2", "5678")).await.unwrap();
        let log_before = activity_count(&s, &it).await;
        let err = s.delete_card(&desk, default.card.id, true).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::CardRule);
        assert!(err.to_string().contains("Set a different card as default first") || err.to_string().contains("set a different card as default first"), "{err}");
        assert_eq!(s.list_cards(&desk, p.id).await.unwrap().len(), 2, "nothing was deleted");
        assert_eq!(activity_count(&s, &it).await, log_before, "nothing was logged");
    }

    async fn a_card_token_of_the_other_gateway_is_refused(db: &TestDb) {
        let s = services(db);
        let (_, _, desk) = clinic(&s, Gateway::Nmi).await;
        let p = john(&s, &desk).await;
        let err = s.save_card(&desk, p.id, card(Gateway::Stripe, "pm_1", "1234")).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidInput);
        assert!(err.to_string().contains("The clinic takes cards through NMI"), "{err}");
        assert!(s.list_cards(&desk, p.id).await.unwrap().is_empty());
    }

    async fn an_expired_card_is_not_saved(db: &TestDb) {
        let s = services(db);
        let (_, _, desk) = clinic(&s, Gateway::Stripe).await;
        let p = john(&s, &desk).await;
        let mut old = card(Gateway::Stripe, "pm_old", "1111");
        old.expiry = CardExpiry::new(10, 2026).unwrap();
        let err = s.save_card(&desk, p.id, old).await.unwrap_err();
        assert!(err.to_string().contains("expired 10/2026"), "{err}");
    }

    async fn front_desk_cannot_change_gateway_settings(db: &TestDb) {
        let s = services(db);
        let (it, _, desk) = clinic(&s, Gateway::Stripe).await;
        let before = s.settings(&desk).await.unwrap().settings;
        let log_before = activity_count(&s, &it).await;
        let err = s.set_setting(&desk, "gateway", "nmi").await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::PermissionDenied);
        assert_eq!(err.to_string(), "You cannot change the clinic's payment settings: ask a billing manager or IT.");
        assert_eq!(s.settings(&desk).await.unwrap().settings, before);
        assert_eq!(activity_count(&s, &it).await, log_before);
    }

    async fn an_invalid_setting_is_refused_and_changes_nothing(db: &TestDb) {
        let s = services(db);
        let (it, manager, _) = clinic(&s, Gateway::Stripe).await;
        let before = s.settings(&manager).await.unwrap().settings;
        let log_before = activity_count(&s, &it).await;
        for (k, v) in [("gateway", "paypal"), ("recovery.suspend-day", "30"), ("fallback-gateway", "stripe"), ("colour", "blue")] {
            let err = s.set_setting(&manager, k, v).await.unwrap_err();
            assert_eq!(err.code(), ErrorCode::InvalidInput, "{k}={v}: {err}");
        }
        assert_eq!(s.settings(&manager).await.unwrap().settings, before);
        assert_eq!(activity_count(&s, &it).await, log_before);
    }

    async fn a_setting_change_is_logged_with_before_and_after(db: &TestDb) {
        let s = services(db);
        let (it, manager, _) = clinic(&s, Gateway::Stripe).await;
        let changed = s.set_setting(&manager, "fallback-gateway", "nmi").await.unwrap();
        assert_eq!(changed.message, "fallback-gateway is now nmi (was none).");
        let mut r = db.store.reader().await.unwrap();
        let last = &clinicpay_store::activity::recent(&mut r, 1).await.unwrap()[0];
        assert_eq!((last.action.as_str(), last.actor_name.as_str()), ("setting.changed", "manager"));
        assert_eq!(last.before_state.as_deref(), Some(r#"{"fallback-gateway":"none"}"#));
        assert_eq!(last.after_state.as_deref(), Some(r#"{"fallback-gateway":"nmi"}"#));
        drop(r);
        assert!(s.verify_activity_log(&it).await.unwrap().is_intact());
    }

    async fn a_wrong_password_gets_the_same_answer_as_an_unknown_name(db: &TestDb) {
        let s = services(db);
        clinic(&s, Gateway::Stripe).await;
        let ok = s.sign_in("FrontDesk", "secret-frontdesk").await.unwrap();
        assert_eq!(ok.role, Role::FrontDesk);
        let wrong = s.sign_in("frontdesk", "nope").await.unwrap_err();
        let unknown = s.sign_in("nobody", "nope").await.unwrap_err();
        assert_eq!(wrong.code(), ErrorCode::SignInFailed);
        assert_eq!(wrong.to_string(), unknown.to_string());
        assert_eq!(wrong.to_string(), "The name or password is not right. Check them and try again.");
    }

    async fn only_it_adds_staff_and_the_first_account_is_it(db: &TestDb) {
        let s = services(db);
        let info = s.clinic_info().await.unwrap();
        assert!(!info.configured && !info.training_mode, "{info:?}");
        let err = s.add_staff(None, "desk", "Desk", Role::FrontDesk, "pw12-long-enough").await.unwrap_err();
        assert!(err.to_string().contains("must be IT's"), "{err}");
        let (_, manager, _) = clinic(&s, Gateway::Stripe).await;
        let err = s.add_staff(Some(&manager), "desk2", "Desk", Role::FrontDesk, "pw12-long-enough").await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::PermissionDenied);
        assert_eq!(err.to_string(), "You cannot manage staff accounts: ask IT.");
    }

    async fn a_patient_is_found_as_you_type_and_a_bad_email_is_refused(db: &TestDb) {
        let s = services(db);
        let (_, _, desk) = clinic(&s, Gateway::Stripe).await;
        let p = john(&s, &desk).await;
        assert_eq!(s.search_patients(&desk, "jo").await.unwrap()[0].id, p.id);
        assert_eq!(s.search_patients(&desk, "555 010").await.unwrap()[0].id, p.id);
        let err = s.add_patient(&desk, NewPatient {
            name: "Jane".into(),
            email: "jane-at-example".into(),
            phone: None,
            patient_type: PatientType::Individual,
        }).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidInput);
        assert_eq!(s.search_patients(&desk, "jane").await.unwrap().len(), 0);
    }

    async fn the_demo_clinic_goes_only_into_an_empty_database(db: &TestDb) {
        let s = services(db);
        let report = s.seed_demo(None, 40, 7).await.unwrap();
        assert_eq!(report.patients, 40);
        assert!(report.cards > 20, "{report:?}");
        let it = s.actor_by_username("it").await.unwrap();
        let err = s.seed_demo(Some(&it), 40, 7).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::Conflict);
        let desk = s.sign_in("frontdesk", "demo").await.unwrap();
        let overview = s.front_desk_overview(&desk).await.unwrap();
        assert_eq!(overview.counts.patients, 40);
        assert_eq!(overview.active_gateway, Gateway::Nmi);
        let info = s.clinic_info().await.unwrap();
        assert!(info.training_mode && info.configured, "the demo clinic runs in training mode: {info:?}");
        assert!(s.verify_activity_log(&it).await.unwrap().is_intact());
    }
}

/// The same seed and clock give the same clinic, on either database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_clinic_is_the_same_for_the_same_seed() {
    let mut shapes = Vec::new();
    for backend in [
        clinicpay_testkit::Backend::Sqlite,
        clinicpay_testkit::Backend::Postgres,
    ] {
        let db = TestDb::new(backend).await;
        let s = services(&db);
        let report = s.seed_demo(None, 120, 42).await.unwrap();
        let desk = s.actor_by_username("frontdesk").await.unwrap();
        let found: Vec<_> = s
            .search_patients(&desk, "s")
            .await
            .unwrap()
            .into_iter()
            .map(|p| (p.id, p.name, p.email))
            .collect();
        let overview = s.front_desk_overview(&desk).await.unwrap();
        shapes.push(format!(
            "{report:?} {found:?} {:?} {}",
            overview.counts, overview.cards_expired
        ));
        db.drop_db().await;
    }
    assert_eq!(shapes[0], shapes[1]);
}

/// A clinic group's demo clinic (what the benchmarks run on): about two saved cards and ten invoices a
/// patient, nearly all paid, and the same for the same seed on either database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clinic_groups_demo_clinic_holds_years_of_history_the_same_every_time() {
    use clinicpay_services::demo::DemoSize;
    let size = DemoSize {
        patients: 300,
        seed: 5,
        clinic_group: true,
    };
    let now = chrono::Utc::now();
    let mut shapes = Vec::new();
    for backend in [
        clinicpay_testkit::Backend::Sqlite,
        clinicpay_testkit::Backend::Postgres,
    ] {
        let db = TestDb::new(backend).await;
        let s = Services::new(
            db.store.clone(),
            std::sync::Arc::new(clinicpay_domain::FixedClock(now)),
        );
        let report = s.seed_demo_sized(None, size).await.unwrap();
        assert_eq!(report.patients, 300);
        let per_patient = |n: u64| n as f64 / 300.0;
        assert!(
            (1.8..2.2).contains(&per_patient(report.cards)),
            "{report:?}"
        );
        assert!(
            (9.0..11.5).contains(&per_patient(report.invoices)),
            "{report:?}"
        );
        assert!(report.payments > report.invoices * 8 / 10, "{report:?}");

        // Each patient's history is there, newest first, and the patient's lists are complete.
        let desk = s.actor_by_username("frontdesk").await.unwrap();
        let found = s.search_patients(&desk, "s").await.unwrap();
        let account = s.patient_account(&desk, found[0].id).await.unwrap();
        assert!(account.invoices.len() >= 6, "{:?}", account.invoices);
        assert!(account
            .invoices
            .windows(2)
            .all(|w| w[0].created_at >= w[1].created_at));
        // An invoice made afterwards does not meet a number the history took.
        let invoice = s
            .create_invoice(
                &desk,
                found[0].id,
                Money::from_minor(1000, Currency::USD),
                "After the history",
            )
            .await
            .unwrap();
        let shape = format!(
            "{report:?} {:?} {}",
            found.iter().map(|p| (p.id, &p.name)).collect::<Vec<_>>(),
            invoice.id
        );
        shapes.push(shape);
        db.drop_db().await;
    }
    assert_eq!(shapes[0], shapes[1]);
}
