//! First-run setup (issue 20, item 1): a new clinic is made from the window's steps in one go, each step
//! refuses with the step's own sentence, nothing exists until the end, a finished setup cannot be run
//! again, and two desks finishing at once make one clinic.

use std::sync::Arc;

use crate::support::{now, NMI_KEY, STRIPE_KEY};
use clinicpay_domain::*;
use clinicpay_services::credentials::{CredentialStore, Keychain, SecretKind};
use clinicpay_services::setup::SetupDraft;
use clinicpay_services::{ErrorCode, Services};
use clinicpay_sim::{SimConfig, Simulator};
use clinicpay_testkit::{on_both_databases, smtp::SmtpServer, TestDb};

const IT_PASSWORD: &str = "first-it-password-01";
const NMI_TOKENIZATION_KEY: &str = "5mN8N7-jhr55W-N22pxX-uAW2s9";

struct NewDesk {
    s: Services,
    sim: Simulator,
    keychain: String,
}

impl Drop for NewDesk {
    fn drop(&mut self) {
        let k = Keychain::named(&self.keychain);
        for kind in [
            SecretKind::Gateway(Gateway::Nmi),
            SecretKind::Gateway(Gateway::Stripe),
            SecretKind::SmtpPassword,
        ] {
            let _ = k.delete(kind);
        }
    }
}

/// A desk with an empty database, and the gateways' stand-in insisting on the clinic's real keys.
async fn new_desk(db: &TestDb) -> NewDesk {
    let sim = Simulator::start(SimConfig {
        nmi_security_key: Some(NMI_KEY.into()),
        stripe_secret_key: Some(STRIPE_KEY.into()),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let keychain = format!(
        "ClinicPay-test-setup-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
    );
    let s = Services::with_credentials(
        db.store.clone(),
        Arc::new(FixedClock(now())),
        Arc::new(Keychain::named(&keychain)),
    );
    NewDesk { s, sim, keychain }
}

fn draft(sim: &Simulator) -> SetupDraft {
    SetupDraft {
        step: "gateway".into(),
        clinic_name: "Riverside Family Clinic".into(),
        currency: "USD".into(),
        it_username: "Alex.IT".into(),
        it_display_name: "Alex (IT)".into(),
        gateway: Some(Gateway::Nmi),
        nmi_tokenization_key: NMI_TOKENIZATION_KEY.into(),
        nmi_api_base: sim.base_url(),
        ..SetupDraft::default()
    }
}

/// Clinics (organization rows) and staff accounts in the database.
async fn counts(db: &TestDb) -> (i64, i64) {
    let mut r = db.store.reader().await.unwrap();
    let orgs = clinicpay_store::organization::load(&mut r)
        .await
        .unwrap()
        .is_some() as i64;
    let staff = clinicpay_store::staff::list(&mut r).await.unwrap().len() as i64;
    (orgs, staff)
}

on_both_databases! {
    async fn a_new_clinic_is_set_up_in_one_go_with_its_first_it_account_and_a_checked_gateway(db: &TestDb) {
        let desk = new_desk(db).await;
        let s = &desk.s;
        let d = draft(&desk.sim);
        assert!(!s.clinic_info().await.unwrap().configured);

        // Each step says what is wrong with it, in its own words.
        let short = s.check_setup_account(&d, "short").await.unwrap_err();
        assert_eq!(short.code(), ErrorCode::InvalidInput);
        assert!(short.to_string().contains("at least 12 characters"), "{short}");
        let bad_name = SetupDraft { it_username: "alex it!".into(), ..d.clone() };
        assert!(s.check_setup_account(&bad_name, IT_PASSWORD).await.unwrap_err().to_string().contains("cannot be a sign-in name"));
        s.check_setup_account(&d, IT_PASSWORD).await.unwrap();
        let unnamed = SetupDraft { clinic_name: " ".into(), ..d.clone() };
        assert!(unnamed.settings(true).unwrap_err().to_string().contains("clinic's name"));
        let clear = SetupDraft { nmi_api_base: "http://gateway.example.com".into(), ..d.clone() };
        let e = s.check_setup_gateway(&clear, Gateway::Nmi, Some(NMI_KEY.into())).await.unwrap_err();
        assert!(e.to_string().contains("must start with https://"), "{e}");

        // A key the gateway refuses is said so, and the gateway is not marked checked.
        let refused = s.check_setup_gateway(&d, Gateway::Nmi, Some("0000wrongKeyForThisMerchant0000".into())).await.unwrap();
        assert!(!refused.works, "{}", refused.message);
        assert_eq!(refused.status, "credentials_refused", "{}", refused.message);
        assert!(refused.draft.checked.is_empty());
        assert!(
            Keychain::named(&desk.keychain).get(SecretKind::Gateway(Gateway::Nmi)).unwrap().is_none(),
            "a key the gateway refused is not kept"
        );
        let early = s.finish_setup(&refused.draft, IT_PASSWORD).await.unwrap_err();
        assert!(early.to_string().contains("Check NMI first"), "{early}");
        assert_eq!(counts(db).await, (0, 0), "nothing made before the end");

        // The right key goes into the keychain (never the database) and answers the live check.
        let ok = s.check_setup_gateway(&d, Gateway::Nmi, Some(NMI_KEY.into())).await.unwrap();
        assert!(ok.works, "{}", ok.message);
        assert_eq!(ok.draft.checked, vec![Gateway::Nmi]);
        let stored = Keychain::named(&desk.keychain).get(SecretKind::Gateway(Gateway::Nmi)).unwrap().unwrap();
        assert!(stored.expose().ends_with(NMI_KEY), "bound to its address and kept in the keychain");
        // A wrong key typed afterwards does not replace the one that works.
        let again = s.check_setup_gateway(&ok.draft, Gateway::Nmi, Some("0000wrongKeyForThisMerchant0000".into())).await.unwrap();
        assert!(!again.works);
        let still = Keychain::named(&desk.keychain).get(SecretKind::Gateway(Gateway::Nmi)).unwrap().unwrap();
        assert!(still.expose().ends_with(NMI_KEY), "the working key is still there");
        assert_eq!(counts(db).await, (0, 0), "still nothing made: the check writes nothing");

        let clinic = s.finish_setup(&ok.draft, IT_PASSWORD).await.unwrap();
        assert!(clinic.configured && !clinic.training_mode);
        assert_eq!((clinic.clinic_name.as_str(), clinic.active_gateway), ("Riverside Family Clinic", Gateway::Nmi));
        let it = s.sign_in("alex.it", IT_PASSWORD).await.unwrap();
        assert_eq!((it.role, it.display_name.as_str()), (Role::ItAdmin, "Alex (IT)"));
        let settings = s.settings(&it).await.unwrap();
        let value = |k: &str| settings.values.iter().find(|v| v.key == k).unwrap().value.clone();
        assert_eq!(value("nmi.tokenization-key"), NMI_TOKENIZATION_KEY);
        assert_eq!(value("currency"), "USD");
        let log = {
            let mut r = db.store.reader().await.unwrap();
            clinicpay_store::activity::recent(&mut r, 50).await.unwrap()
        };
        let actions: Vec<(&str, &str)> = log.iter().map(|e| (e.action.as_str(), e.actor_name.as_str())).collect();
        for expected in [("clinic.set_up", "alex.it"), ("staff.added", "alex.it"), ("gateway.credentials_set", "alex.it")] {
            assert!(actions.contains(&expected), "{expected:?} in {actions:?}");
        }
        assert!(!clinicpay_testkit::dump_text(db).await.contains(NMI_KEY), "no secret in the database");
        // The clinic works: the gateway check of `gateway check` passes with what setup kept.
        assert!(s.check_gateways(&it).await.unwrap().iter().any(|c| c.active && c.works));

        // Once made, setup is over for everyone, at every step.
        for e in [
            s.finish_setup(&ok.draft, IT_PASSWORD).await.unwrap_err(),
            s.check_setup_gateway(&d, Gateway::Nmi, Some(NMI_KEY.into())).await.unwrap_err(),
            s.check_setup_account(&d, IT_PASSWORD).await.unwrap_err(),
            s.require_demo_allowed().await.unwrap_err(),
        ] {
            assert_eq!(e.code(), ErrorCode::Conflict, "{e}");
        }
    }

    async fn a_mail_server_given_in_setup_is_tested_with_a_real_email_before_the_clinic_is_made(db: &TestDb) {
        let desk = new_desk(db).await;
        let s = &desk.s;
        let smtp = SmtpServer::start();
        let checked = s.check_setup_gateway(&draft(&desk.sim), Gateway::Nmi, Some(NMI_KEY.into())).await.unwrap();
        assert!(checked.works, "{}", checked.message);
        let mut d = SetupDraft {
            smtp_host: "localhost".into(),
            smtp_port: smtp.port().to_string(),
            smtp_security: "none".into(),
            smtp_from: "billing@riverside.example".into(),
            ..checked.draft
        };
        // A sign-in name at the mail server needs its password typed here: none held before is used.
        let no_password = SetupDraft { smtp_username: "billing".into(), ..d.clone() };
        let e = s.send_setup_test_email(&no_password, None, "it@riverside.example").await.unwrap_err();
        assert!(e.to_string().contains("Type the mail server's password"), "{e}");
        let untested = s.finish_setup(&d, IT_PASSWORD).await.unwrap_err();
        assert!(untested.to_string().contains("Send the test email first"), "{untested}");
        let not_an_address = s.send_setup_test_email(&d, None, "it at riverside").await.unwrap_err();
        assert!(not_an_address.to_string().contains("is not an email address"), "{not_an_address}");
        d = s.send_setup_test_email(&d, None, "it@riverside.example").await.unwrap();
        assert!(d.smtp_tested);
        let mail = smtp.messages().join("\n");
        assert!(mail.contains("ClinicPay test email from Riverside Family Clinic") && mail.contains("it@riverside.example"), "{mail}");
        s.finish_setup(&d, IT_PASSWORD).await.unwrap();
        assert_eq!(counts(db).await, (1, 1));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_desks_finishing_setup_of_one_database_at_once_make_one_clinic() {
    let db = TestDb::new(clinicpay_testkit::Backend::Postgres).await;
    let desk = new_desk(&db).await;
    let other = Services::with_credentials(
        db.store.clone(),
        Arc::new(FixedClock(now())),
        Arc::new(Keychain::named(&desk.keychain)),
    );
    let checked = desk
        .s
        .check_setup_gateway(&draft(&desk.sim), Gateway::Nmi, Some(NMI_KEY.into()))
        .await
        .unwrap();
    let second = SetupDraft {
        it_username: "sam.it".into(),
        ..checked.draft.clone()
    };
    let (a, b) = tokio::join!(
        desk.s.finish_setup(&checked.draft, IT_PASSWORD),
        other.finish_setup(&second, IT_PASSWORD)
    );
    let codes = [&a, &b].map(|r| r.as_ref().err().map(|e| e.code()));
    assert!(
        codes.contains(&None) && codes.contains(&Some(ErrorCode::Conflict)),
        "one clinic, one refusal: {a:?} / {b:?}"
    );
    assert_eq!(counts(&db).await, (1, 1));
    drop(desk);
    db.drop_db().await;
}

#[test]
fn a_draft_is_kept_on_this_computer_without_any_secret_and_read_back_whole() {
    let dir = std::env::temp_dir().join(format!("clinicpay-setup-draft-{}", std::process::id()));
    let path = dir.join("setup-draft.json");
    assert_eq!(
        SetupDraft::load(&path),
        SetupDraft::default(),
        "no draft yet"
    );
    let d = SetupDraft {
        step: "mail".into(),
        clinic_name: "Riverside".into(),
        gateway: Some(Gateway::Stripe),
        checked: vec![Gateway::Stripe],
        smtp_host: "smtp.example.com".into(),
        ..SetupDraft::default()
    };
    d.save(&path).unwrap();
    assert_eq!(SetupDraft::load(&path), d);
    std::fs::write(&path, "{ not json").unwrap();
    assert_eq!(
        SetupDraft::load(&path),
        SetupDraft::default(),
        "a damaged draft starts again"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_desk_joins_the_clinic_in_its_postgresql_or_sets_one_up_there_and_keeps_the_choice() {
    let here = TestDb::new(clinicpay_testkit::Backend::Sqlite).await;
    let clinic_db = TestDb::new(clinicpay_testkit::Backend::Postgres).await;
    let empty_db = TestDb::new(clinicpay_testkit::Backend::Postgres).await;
    let desk = new_desk(&here).await;
    let folder = std::env::temp_dir().join(format!("clinicpay-desk-db-{}", std::process::id()));
    let keychain = Keychain::named(&desk.keychain);

    // The address is checked before anything is tried, and a password never appears in a sentence.
    let bad =
        clinicpay_services::setup::clinic_database_url("https://db.clinic.local/clinicpay", None)
            .unwrap_err();
    assert!(
        bad.to_string().contains("postgres://USER@HOST/DATABASE"),
        "{bad}"
    );
    let with_password = clinicpay_services::setup::clinic_database_url(
        "postgres://clinicpay@db.clinic.local/clinicpay",
        Some("pa ss"),
    )
    .unwrap();
    assert_eq!(
        with_password,
        "postgres://clinicpay:pa%20ss@db.clinic.local/clinicpay"
    );
    let unreachable = desk
        .s
        .choose_clinic_database(
            "postgres://clinicpay:s3cret-pw@127.0.0.1:9/clinicpay",
            &folder,
        )
        .await
        .unwrap_err();
    assert_eq!(unreachable.code(), ErrorCode::DatabaseUnavailable);
    assert!(
        !unreachable.to_string().contains("s3cret-pw"),
        "{unreachable}"
    );
    assert!(
        clinicpay_services::setup::desk_database(&folder, &keychain).is_none(),
        "nothing kept"
    );

    // An empty PostgreSQL: ready for the setup.
    let (_, chosen) = desk
        .s
        .choose_clinic_database(&empty_db.url, &folder)
        .await
        .unwrap();
    assert_eq!(chosen.clinic_name, None, "{}", chosen.message);

    // One that holds a clinic: this desk joins it, and opens it from now on.
    let other = Services::with_credentials(
        clinic_db.store.clone(),
        Arc::new(FixedClock(now())),
        Arc::new(Keychain::named(&desk.keychain)),
    );
    let staff = crate::support::staff(&other).await;
    other
        .set_setting(&staff.it, "clinic-name", "Hillside Clinic")
        .await
        .unwrap();
    let (_, joined) = desk
        .s
        .choose_clinic_database(&clinic_db.url, &folder)
        .await
        .unwrap();
    assert_eq!(joined.clinic_name.as_deref(), Some("Hillside Clinic"));
    assert!(
        !joined.database.contains("postgres:postgres@"),
        "no password shown: {}",
        joined.database
    );
    assert_eq!(
        clinicpay_services::setup::desk_database(&folder, &keychain).as_deref(),
        Some(clinic_db.url.as_str()),
        "the address (with its password) is kept in the keychain, the choice in the desk folder"
    );
    assert!(
        !std::fs::read_to_string(folder.join("desk-database.json"))
            .unwrap()
            .contains("postgres:"),
        "no address or password in the desk's file"
    );

    // A desk whose own database has a clinic cannot be pointed elsewhere from the first-run screen.
    let e = other
        .choose_clinic_database(&empty_db.url, &folder)
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Conflict);
    let _ = keychain.delete(SecretKind::DatabaseUrl);
    std::fs::remove_dir_all(&folder).ok();
    for db in [here, clinic_db, empty_db] {
        db.drop_db().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_clinic_is_made_whole_in_a_file_of_its_own_and_kept_for_the_desk() {
    let here = TestDb::new(clinicpay_testkit::Backend::Sqlite).await;
    let desk = new_desk(&here).await;
    let folder = std::env::temp_dir().join(format!("clinicpay-demo-desk-{}", std::process::id()));
    std::fs::remove_dir_all(&folder).ok();
    let url = desk.s.prepare_demo_clinic(&folder).await.unwrap();
    assert!(
        !folder.join("demo-clinic.seeding.db").exists(),
        "no half-made file left"
    );
    let keychain = Keychain::named(&desk.keychain);
    assert_eq!(
        clinicpay_services::setup::desk_database(&folder, &keychain).as_deref(),
        Some(url.as_str())
    );
    let demo = Services::new(
        clinicpay_store::Store::open(&url).await.unwrap(),
        Arc::new(SystemClock),
    );
    let info = demo.clinic_info().await.unwrap();
    assert!(info.configured && info.training_mode, "{info:?}");
    demo.sign_in("frontdesk", "demo").await.unwrap();
    // Opened again later: the same demo, not a second one.
    let again = desk.s.prepare_demo_clinic(&folder).await.unwrap();
    assert_eq!(again, url);
    // The database the desk started on is left empty.
    assert_eq!(counts(&here).await, (0, 0));
    std::fs::remove_dir_all(&folder).ok();
    here.drop_db().await;
}
