//! Moving from one desk to several: `db copy` puts every row of the SQLite clinic into an empty
//! PostgreSQL database, with the activity-log chain intact, and refuses to overwrite a clinic.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use clinicpay_domain::*;
use clinicpay_services::{ErrorCode, Services};
use clinicpay_store::Store;
use clinicpay_testkit::{fingerprint, raw_scalar, Backend, TestDb};

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).unwrap()
}

async fn count(db: &TestDb, table: &str) -> i64 {
    let mut tx = db.store.begin().await.unwrap();
    let n = raw_scalar(&mut tx, &format!("SELECT COUNT(*) FROM {table}")).await;
    tx.rollback().await.ok();
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_clinic_is_copied_into_postgresql_whole_and_verified() {
    let single = TestDb::new(Backend::Sqlite).await;
    let shared = TestDb::new(Backend::Postgres).await;
    let s = Services::new(single.store.clone(), Arc::new(FixedClock(now())));
    s.seed_demo(None, 40, 7).await.unwrap();
    let desk = clinicpay_services::desk_inventory::ThisDesk {
        desk_id: "0123456789abcdef0123456789abcdef".into(),
        name: "Front desk".into(),
        app_version: "0.1.0".into(),
    };
    s.desk_seen(&desk).await.unwrap();
    let head_before: String = {
        let mut tx = single.store.begin().await.unwrap();
        let h = raw_scalar(&mut tx, "SELECT hash FROM activity_head").await;
        tx.rollback().await.ok();
        h
    };

    let report = s.copy_to_postgres(&shared.url).await.unwrap();
    assert!(
        report.verified && report.activity_chain_intact,
        "{report:?}"
    );
    assert!(
        !report.to.contains("postgres:postgres@"),
        "the password is not printed: {}",
        report.to
    );
    for t in &report.tables {
        assert!(t.verified, "{} differs", t.table);
        if t.table != "activity_head" {
            assert_eq!(t.rows, count(&single, &t.table).await, "{}", t.table);
            assert_eq!(
                count(&shared, &t.table).await,
                t.rows + i64::from(t.table == "activity_log"),
                "{}",
                t.table
            );
        }
    }
    assert!(
        report.rows > 200,
        "a real clinic was copied: {}",
        report.rows
    );

    // The shared database is the same clinic: same answers, a chain that continues from the old head,
    // and new ids after the copied ones.
    let pg = Services::new(
        Store::open(&shared.url).await.unwrap(),
        Arc::new(FixedClock(now())),
    );
    let manager = pg.actor_by_username("manager").await.unwrap();
    let manager_sqlite = s.actor_by_username("manager").await.unwrap();
    assert_eq!(
        pg.require_intact_activity_log(&manager)
            .await
            .unwrap()
            .entries,
        report.activity_entries + 1
    );
    let recent = clinicpay_store::activity::recent(&mut shared.store.reader().await.unwrap(), 1)
        .await
        .unwrap();
    assert_eq!(
        (recent[0].action.as_str(), recent[0].prev_hash.as_str()),
        ("database.copied", head_before.as_str())
    );
    let a = s.list_payments(&manager_sqlite, None).await.unwrap();
    let b = pg.list_payments(&manager, None).await.unwrap();
    assert_eq!(
        a.iter()
            .map(|p| (p.id, p.amount.minor, p.status))
            .collect::<Vec<_>>(),
        b.iter()
            .map(|p| (p.id, p.amount.minor, p.status))
            .collect::<Vec<_>>()
    );
    let desk_user = pg.actor_by_username("frontdesk").await.unwrap();
    let patients = s.search_patients(&desk_user, "").await.unwrap();
    let max_id = patients.iter().map(|p| p.id.0).max().unwrap();
    let added = pg
        .add_patient(
            &desk_user,
            NewPatient {
                name: "First Shared Patient".into(),
                email: "first.shared@example.com".into(),
                phone: None,
                patient_type: PatientType::Individual,
            },
        )
        .await
        .unwrap();
    assert!(added.id.0 > max_id, "ids go on after the copied ones");
    assert_eq!(
        pg.list_desks(&pg.actor_by_username("it").await.unwrap())
            .await
            .unwrap()[0]
            .name,
        "Front desk"
    );

    // The check can tell: one patient's name changed in the copy shows up as that table differing.
    let other = Store::open(&shared.url).await.unwrap();
    clinicpay_testkit::raw_execute(
        &shared,
        "UPDATE patients SET name = name || ' (edited)' WHERE id = (SELECT MIN(id) FROM patients)",
    )
    .await;
    let compared = clinicpay_store::copy::compare(s.store(), &other)
        .await
        .unwrap();
    let differ: Vec<_> = compared
        .iter()
        .filter(|(_, same)| !same)
        .map(|(t, _)| t.as_str())
        .collect();
    assert!(differ.contains(&"patients"), "{differ:?}");
    other.close().await;

    // A second copy would overwrite a clinic: refused, and nothing there changes.
    let before = fingerprint(&shared).await;
    let e = s.copy_to_postgres(&shared.url).await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidInput);
    assert!(e.to_string().contains("already holds a clinic"), "{e}");
    assert_eq!(fingerprint(&shared).await, before);
    let e = s
        .copy_to_postgres("/tmp/not-postgres.db")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("postgres://"), "{e}");
    pg.store().close().await;
    single.drop_db().await;
    shared.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_waits_until_the_desks_billing_engine_has_stopped_and_leaves_the_engine_behind() {
    use clinicpay_store::engine::{self as lease, Holder, HolderKind};
    let single = TestDb::new(Backend::Sqlite).await;
    let shared = TestDb::new(Backend::Postgres).await;
    let s = Services::new(single.store.clone(), Arc::new(FixedClock(now())));
    s.seed_demo(None, 5, 7).await.unwrap();
    let desk = Holder {
        id: "front-desk-app".into(),
        name: "Front desk".into(),
        kind: HolderKind::Desk,
    };
    let mut tx = single.store.begin().await.unwrap();
    assert!(
        lease::claim(&mut tx, &desk, now(), chrono::Duration::seconds(75))
            .await
            .unwrap()
    );
    tx.commit().await.unwrap();

    let e = s.copy_to_postgres(&shared.url).await.unwrap_err();
    assert_eq!(e.code(), clinicpay_services::ErrorCode::Conflict);
    assert!(e.to_string().contains("close ClinicPay there"), "{e}");
    assert_eq!(count(&shared, "patients").await, 0, "nothing copied");

    // The desk closed (its engine gave the lease up): the copy goes, without the old engine's row.
    let mut tx = single.store.begin().await.unwrap();
    assert!(lease::release(&mut tx, "front-desk-app").await.unwrap());
    tx.commit().await.unwrap();
    let report = s.copy_to_postgres(&shared.url).await.unwrap();
    assert!(report.verified, "{report:?}");
    assert_eq!(count(&shared, "billing_engine").await, 0);
    single.drop_db().await;
    shared.drop_db().await;
}
