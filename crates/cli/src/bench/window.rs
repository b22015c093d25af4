//! What the window measures need from the database (issue 24): a demo clinic with ten thousand orders
//! in recovery for the billing manager's sweep, and a stream of changes to one patient from "another
//! desk" while the window shows that patient. The window itself is measured by `ui/bench/window.mjs`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clinicpay_domain::{
    Currency, Gateway, Money, NewPatient, OrderKind, OrderStatus, PatientId, RecoveryStatus,
    SystemClock,
};
use clinicpay_services::demo::DemoSize;
use clinicpay_services::Services;
use clinicpay_store::orders::NewOrder;
use clinicpay_store::{invoices, orders, Store};

/// The demo clinic (training mode, its built-in simulators) with `orders` open recovery orders, each
/// due for a retry on a patient's valid NMI card, so the sweep has real work for each.
pub async fn sweep_clinic(db: &str, patients: u32, orders_wanted: usize) {
    let store = Store::open(db).await.expect("database");
    let s = Services::new(store.clone(), Arc::new(SystemClock));
    s.seed_demo_sized(
        None,
        DemoSize {
            patients,
            seed: 1,
            clinic_group: false,
        },
    )
    .await
    .expect("demo clinic");
    let now = chrono::Utc::now();
    let month = now.year_month_index();
    let payers: Vec<i64> = {
        let mut r = store.reader().await.expect("reader");
        let clinicpay_store::Conn::Sqlite(c) = clinicpay_store::Executor::conn(&mut r) else {
            panic!("the sweep clinic is a SQLite file");
        };
        sqlx::query_scalar(
            "SELECT DISTINCT patient_id FROM payment_methods
              WHERE removed_at IS NULL AND gateway = 'nmi' AND exp_year * 12 + exp_month >= ?1
              ORDER BY patient_id",
        )
        .bind(month)
        .fetch_all(c)
        .await
        .expect("patients with a valid NMI card")
    };
    assert!(!payers.is_empty(), "the demo clinic has NMI cards");
    let mut tx = store.begin().await.expect("begin");
    for i in 0..orders_wanted {
        let patient = PatientId(payers[i % payers.len()]);
        let amount = Money::from_minor(2_500 + (i % 50) as i64 * 100, Currency::USD);
        let failed_at = now - chrono::Duration::days(2);
        let order = orders::insert_order(
            &mut tx,
            &NewOrder {
                patient_id: patient,
                subscription_id: None,
                kind: OrderKind::OneTime,
                status: OrderStatus::AwaitingPayment,
                description: format!("Treatment plan instalment {i}"),
                amount,
                cycle_start_at: None,
                locked_gateway: Some(Gateway::Nmi),
                recovery_status: Some(RecoveryStatus::RetryScheduled),
                next_retry_at: Some(now + chrono::Duration::days(1)),
                attempts: 1,
                first_failed_at: Some(failed_at),
                last_message: Some("Insufficient funds".into()),
            },
            failed_at,
        )
        .await
        .expect("order");
        invoices::insert_invoice(
            &mut tx,
            patient,
            Some(order),
            &format!("Treatment plan instalment {i}"),
            amount,
            clinicpay_domain::InvoiceStatus::Open,
            failed_at,
        )
        .await
        .expect("invoice");
    }
    tx.commit().await.expect("commit");
    store.close().await;
    println!(
        "{orders_wanted} orders in recovery over {} patients",
        payers.len()
    );
}

/// Another desk renames the patient with `email` `rate` times a second for `seconds` ("Live Patient
/// 0", "Live Patient 1", …), printing each change's number and the wall-clock time (ms) it started,
/// so the window's measure can tell when each became visible there.
pub async fn live_changes(db: &str, email: &str, rate: u32, seconds: u64) {
    let store = Store::open(db).await.expect("database");
    let s = Services::new(store.clone(), Arc::new(SystemClock));
    let desk = s.actor_by_username("frontdesk").await.expect("demo staff");
    let found = s
        .search_patients(&desk, email)
        .await
        .expect("search")
        .into_iter()
        .next()
        .expect("the patient");
    let mut pace = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate.max(1))));
    pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let until = Instant::now() + Duration::from_secs(seconds);
    let mut i = 0u64;
    while Instant::now() < until {
        pace.tick().await;
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_millis();
        s.update_patient(
            &desk,
            found.id,
            NewPatient {
                name: format!("Live Patient {i}"),
                email: email.to_owned(),
                phone: None,
                patient_type: clinicpay_domain::PatientType::Individual,
            },
        )
        .await
        .expect("change");
        println!("{i} {started}");
        i += 1;
    }
    store.close().await;
}

trait MonthIndex {
    fn year_month_index(&self) -> i32;
}

impl MonthIndex for chrono::DateTime<chrono::Utc> {
    fn year_month_index(&self) -> i32 {
        use chrono::Datelike;
        self.year() * 12 + self.month() as i32
    }
}
