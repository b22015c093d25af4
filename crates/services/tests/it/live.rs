//! Several desks on one PostgreSQL: a change committed at one desk reaches the others through
//! LISTEN/NOTIFY, only when it commits, and the feed comes back by itself after its connection is cut.
//! SQLite desks work alone and have no feed.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use clinicpay_domain::*;
use clinicpay_services::live::{ChangeFeed, FeedEvent};
use clinicpay_services::{Actor, Services};
use clinicpay_store::Store;
use clinicpay_testkit::{pg_admin_url, Backend, TestDb};
use sqlx::Connection;

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).unwrap()
}

/// Two desks: each its own Store (its own connections) on the same test schema.
async fn two_desks(db: &TestDb) -> (Services, Services, Actor) {
    let a = Services::new(db.store.clone(), Arc::new(FixedClock(now())));
    a.seed_demo(None, 3, 1).await.unwrap();
    let other = Store::open(&db.url).await.unwrap();
    let b = Services::new(other, Arc::new(FixedClock(now())));
    let manager = a.actor_by_username("manager").await.unwrap();
    (a, b, manager)
}

async fn next(feed: &mut ChangeFeed) -> FeedEvent {
    tokio::time::timeout(Duration::from_secs(10), feed.next())
        .await
        .expect("the feed said nothing for 10 s")
        .expect("the feed ended")
}

fn patient(name: &str) -> NewPatient {
    NewPatient {
        name: name.into(),
        email: format!("{}@example.com", name.to_lowercase().replace(' ', ".")),
        phone: None,
        patient_type: PatientType::Individual,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_at_one_desk_reaches_the_other_desk_when_it_commits() {
    let db = TestDb::new(Backend::Postgres).await;
    let (a, b, manager) = two_desks(&db).await;
    let desk = a.actor_by_username("frontdesk").await.unwrap();
    let mut feed = b
        .change_feed()
        .await
        .unwrap()
        .expect("PostgreSQL has a feed");

    let added = a.add_patient(&desk, patient("Nora Live")).await.unwrap();
    match next(&mut feed).await {
        FeedEvent::Change(n) => {
            assert_eq!(n.action, "patient.added");
            assert_eq!(n.patient_id, Some(added.id.0));
        }
        other => panic!("expected the new patient, got {other:?}"),
    }

    // A change refused (and rolled back) is never announced: the next notice is the next real change.
    assert!(a
        .set_setting(&manager, "recovery.final-day", "3")
        .await
        .is_err());
    a.set_setting(&manager, "clinic-name", "Riverside Clinic")
        .await
        .unwrap();
    match next(&mut feed).await {
        FeedEvent::Change(n) => {
            assert_eq!(
                (n.action.as_str(), n.subject_type.as_str()),
                ("setting.changed", "setting")
            );
            assert_eq!(n.patient_id, None);
        }
        other => panic!("expected the setting, got {other:?}"),
    }
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn desks_of_another_clinic_database_hear_nothing() {
    let one = TestDb::new(Backend::Postgres).await;
    let two = TestDb::new(Backend::Postgres).await;
    let (a, _, _) = two_desks(&one).await;
    let (_, b, manager_b) = two_desks(&two).await;
    let mut feed = b.change_feed().await.unwrap().unwrap();
    let desk = a.actor_by_username("frontdesk").await.unwrap();
    a.add_patient(&desk, patient("Elsewhere Only"))
        .await
        .unwrap();
    b.set_setting(&manager_b, "clinic-name", "Second Clinic")
        .await
        .unwrap();
    match next(&mut feed).await {
        FeedEvent::Change(n) => assert_eq!(
            n.action, "setting.changed",
            "the other schema's patient was not heard"
        ),
        other => panic!("{other:?}"),
    }
    one.drop_db().await;
    two.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_connection_comes_back_by_itself_and_says_so_once_it_listens_again() {
    let db = TestDb::new(Backend::Postgres).await;
    let (a, b, manager) = two_desks(&db).await;
    let mut feed = b.change_feed().await.unwrap().unwrap();
    // Cut the listening connection from the server's side, as a restart or a network drop would.
    let schema = db.url.split("search_path%3D").nth(1).unwrap().to_owned();
    let mut admin = sqlx::PgConnection::connect(&pg_admin_url()).await.unwrap();
    let cut: i64 = sqlx::query_scalar(
        "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE query LIKE 'LISTEN %' AND query LIKE $1",
    )
    .bind(format!("%{schema}%"))
    .fetch_one(&mut admin)
    .await
    .unwrap();
    assert_eq!(cut, 1, "the desk listens on one connection of its own");
    // The window hears "lost", then "reconnected" only once the desk listens again: a change
    // committed the moment the window reloads (right after "reconnected") still arrives.
    assert!(matches!(next(&mut feed).await, FeedEvent::Lost));
    assert!(matches!(next(&mut feed).await, FeedEvent::Reconnected));
    a.set_setting(&manager, "clinic-name", "After The Cut")
        .await
        .unwrap();
    match next(&mut feed).await {
        FeedEvent::Change(n) => assert_eq!(n.action, "setting.changed"),
        other => panic!("the change made right after the reconnect was missed: {other:?}"),
    }
    admin.close().await.ok();
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_desk_on_sqlite_works_alone_without_a_feed() {
    let db = TestDb::new(Backend::Sqlite).await;
    let s = Services::new(db.store.clone(), Arc::new(FixedClock(now())));
    assert!(s.change_feed().await.unwrap().is_none());
    db.drop_db().await;
}
