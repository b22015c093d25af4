//! The store's rules, on SQLite and on PostgreSQL alike.

use chrono::{TimeZone, Utc};
use clinicpay_domain::*;
use clinicpay_store::orders::{NewOrder, RecoveryUpdate};
use clinicpay_store::payments::{NewPayment, Settlement};
use clinicpay_store::subscriptions::NewSubscription;
use clinicpay_store::{
    activity, organization, patients, payment_methods, staff, Dialect, StoreError, Tx,
};
use clinicpay_store::{invoices, orders, payments, subscriptions};
use clinicpay_testkit::{on_both_databases, raw_scalar, TestDb};

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).unwrap()
}

fn usd(minor: i64) -> Money {
    Money::from_minor(minor, Currency::USD)
}

async fn patient(tx: &mut Tx, name: &str, email: &str, phone: Option<&str>) -> Patient {
    let p = NewPatient {
        name: name.into(),
        email: email.into(),
        phone: phone.map(Into::into),
        patient_type: PatientType::Individual,
    }
    .validated()
    .unwrap();
    patients::insert(tx, &p, now()).await.unwrap()
}

fn card(gateway: Gateway, token: &str, last4: &str) -> NewCard {
    NewCard {
        gateway,
        token: token.into(),
        brand: CardBrand::Visa,
        last4: last4.into(),
        expiry: CardExpiry::new(12, 2030).unwrap(),
        cardholder_name: "John Smith".into(),
        nickname: None,
        country: Some("US".into()),
        fingerprint: None,
    }
}

fn order(
    patient: PatientId,
    sub: Option<SubscriptionId>,
    recovery: Option<RecoveryStatus>,
) -> NewOrder {
    NewOrder {
        patient_id: patient,
        subscription_id: sub,
        kind: OrderKind::SubscriptionCycle,
        status: OrderStatus::AwaitingPayment,
        description: "Monthly care plan".into(),
        amount: usd(4900),
        cycle_start_at: None,
        locked_gateway: None,
        recovery_status: recovery,
        next_retry_at: None,
        attempts: 0,
        first_failed_at: None,
        last_message: None,
    }
}

fn payment(patient: PatientId, invoice: InvoiceId, key: &str, status: PaymentStatus) -> NewPayment {
    NewPayment {
        patient_id: patient,
        invoice_id: Some(invoice),
        order_id: None,
        payment_method_id: None,
        gateway: Gateway::Stripe,
        amount: usd(4900),
        status,
        idempotency_key: key.into(),
        gateway_reference: None,
        decline_code: None,
        decline_message: None,
        created_by: None,
    }
}

fn entry(action: &str, patient: Option<i64>) -> activity::NewActivity {
    activity::NewActivity {
        at: now(),
        actor_id: None,
        actor_name: "test".into(),
        action: action.into(),
        subject_type: "patient".into(),
        subject_id: patient.map(|p| p.to_string()).unwrap_or_default(),
        patient_id: patient,
        before: None,
        after: Some(serde_json::json!({"n": action})),
    }
}

async fn exec_raw(db: &TestDb, sql: &str) {
    let mut tx = db.store.begin().await.unwrap();
    match &mut tx {
        Tx::Sqlite(t) => {
            sqlx::query(sql).execute(&mut **t).await.unwrap();
        }
        Tx::Postgres(t) => {
            sqlx::query(sql).execute(&mut **t).await.unwrap();
        }
    }
    tx.commit().await.unwrap();
}

on_both_databases! {
    async fn a_database_moved_on_by_a_newer_clinicpay_says_this_desk_must_update(db: &TestDb) {
        // A newer desk applied a migration this build does not have.
        let checksum = match db.backend() {
            clinicpay_testkit::Backend::Sqlite => "X'00'",
            clinicpay_testkit::Backend::Postgres => "decode('00', 'hex')",
        };
        clinicpay_testkit::raw_execute(
            db,
            &format!(
                "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
                 VALUES (999, 'from a newer ClinicPay', TRUE, {checksum}, 0)"
            ),
        )
        .await;
        match clinicpay_store::Store::open(&db.url).await {
            Err(StoreError::NewerSchema(999)) => {}
            Err(e) => panic!("expected NewerSchema(999), got {e}"),
            Ok(_) => panic!("a newer schema was opened as if it were ours"),
        }
        let e = StoreError::NewerSchema(999).to_string();
        assert!(e.contains("update ClinicPay on this computer"), "{e}");
    }

    async fn the_database_holds_one_default_card_per_patient(db: &TestDb) {
        let mut tx = db.store.begin().await.unwrap();
        let p = patient(&mut tx, "John Smith", "john@example.com", None).await;
        payment_methods::insert(&mut tx, p.id, &card(Gateway::Stripe, "pm_1", "1234"), true, now()).await.unwrap();
        tx.commit().await.unwrap();

        let mut tx = db.store.begin().await.unwrap();
        let err = payment_methods::insert(&mut tx, p.id, &card(Gateway::Stripe, "pm_2", "5678"), true, now())
            .await
            .unwrap_err();
        assert!(err.is_duplicate(), "a second default must be refused by the database, got {err}");
        tx.rollback().await.unwrap();

        // set_default moves the single default.
        let mut tx = db.store.begin().await.unwrap();
        let second = payment_methods::insert(&mut tx, p.id, &card(Gateway::Nmi, "900001", "5678"), false, now()).await.unwrap();
        payment_methods::set_default(&mut tx, p.id, second.id).await.unwrap();
        tx.commit().await.unwrap();
        let mut r = db.store.reader().await.unwrap();
        let cards = payment_methods::active_for_patient(&mut r, p.id).await.unwrap();
        assert_eq!(cards.iter().filter(|c| c.is_default).count(), 1);
        assert_eq!(cards[0].id, second.id, "the default is listed first");
        assert_eq!(cards[0].gateway, Gateway::Nmi);
    }

    async fn a_deleted_card_leaves_the_list_but_keeps_its_row(db: &TestDb) {
        let mut tx = db.store.begin().await.unwrap();
        let p = patient(&mut tx, "Jane Doe", "jane@example.com", None).await;
        let c = payment_methods::insert(&mut tx, p.id, &card(Gateway::Stripe, "pm_9", "9012"), true, now()).await.unwrap();
        payment_methods::remove(&mut tx, c.id, now()).await.unwrap();
        tx.commit().await.unwrap();
        let mut r = db.store.reader().await.unwrap();
        assert!(payment_methods::active_for_patient(&mut r, p.id).await.unwrap().is_empty());
        let gone = payment_methods::get(&mut r, c.id).await.unwrap().unwrap();
        assert!(gone.removed_at.is_some() && !gone.is_default);
    }

    async fn an_invoice_is_paid_at_most_once(db: &TestDb) {
        let mut tx = db.store.begin().await.unwrap();
        let p = patient(&mut tx, "Ann Lee", "ann@example.com", None).await;
        let inv = invoices::insert_invoice(&mut tx, p.id, None, "Visit", usd(4900), InvoiceStatus::Open, now()).await.unwrap();
        payments::insert_payment(&mut tx, &payment(p.id, inv, "k1", PaymentStatus::Failed), now()).await.unwrap();
        payments::insert_payment(&mut tx, &payment(p.id, inv, "k2", PaymentStatus::Succeeded), now()).await.unwrap();
        tx.commit().await.unwrap();

        let mut tx = db.store.begin().await.unwrap();
        let err = payments::insert_payment(&mut tx, &payment(p.id, inv, "k3", PaymentStatus::Succeeded), now())
            .await
            .unwrap_err();
        assert!(err.is_duplicate(), "{err}");
        tx.rollback().await.unwrap();

        // No further attempt can even be recorded once the invoice is paid (it would reach the gateway).
        let mut tx = db.store.begin().await.unwrap();
        let err = payments::insert_payment(&mut tx, &payment(p.id, inv, "k4", PaymentStatus::Pending), now()).await.unwrap_err();
        assert!(err.is_duplicate(), "{err}");
        tx.rollback().await.unwrap();

        // While one attempt is being charged or waits for its outcome, a second one is refused.
        let mut tx = db.store.begin().await.unwrap();
        let other = invoices::insert_invoice(&mut tx, p.id, None, "Labs", usd(1200), InvoiceStatus::Open, now()).await.unwrap();
        payments::insert_payment(&mut tx, &payment(p.id, other, "k5", PaymentStatus::Pending), now()).await.unwrap();
        let err = payments::insert_payment(&mut tx, &payment(p.id, other, "k6", PaymentStatus::Pending), now()).await.unwrap_err();
        assert!(err.is_duplicate(), "{err}");
        tx.rollback().await.unwrap();
        let mut tx = db.store.begin().await.unwrap();
        let other = invoices::insert_invoice(&mut tx, p.id, None, "Labs", usd(1200), InvoiceStatus::Open, now()).await.unwrap();
        let pending = payments::insert_payment(&mut tx, &payment(p.id, other, "k7", PaymentStatus::Pending), now()).await.unwrap();
        // Once it failed, the next attempt may be recorded.
        assert!(payments::settle_payment(&mut tx, pending, PaymentStatus::Pending, PaymentStatus::Failed, &Settlement::default(), now()).await.unwrap());
        payments::insert_payment(&mut tx, &payment(p.id, other, "k8", PaymentStatus::Pending), now()).await.unwrap();
        tx.commit().await.unwrap();
    }

    async fn a_singleton_job_runs_in_one_worker_at_a_time(db: &TestDb) {
        let ttl = chrono::Duration::minutes(10);
        let first = db.store.try_singleton("janitor", "worker-a", now(), ttl).await.unwrap().expect("free");
        assert!(db.store.try_singleton("janitor", "worker-b", now(), ttl).await.unwrap().is_none());
        // Another job is not blocked by it.
        let other = db.store.try_singleton("reminders", "worker-b", now(), ttl).await.unwrap().expect("free");
        first.release().await.unwrap();
        let second = db.store.try_singleton("janitor", "worker-b", now(), ttl).await.unwrap().expect("released");
        second.release().await.unwrap();
        other.release().await.unwrap();
    }

    async fn a_commit_that_records_money_is_on_disk_before_it_returns(db: &TestDb) {
        let mut tx = db.store.begin().await.unwrap();
        match tx.dialect() {
            // 2 = FULL: the write-ahead log is synced on every commit of the writing connection.
            Dialect::Sqlite => assert_eq!(raw_scalar::<i64>(&mut tx, "PRAGMA synchronous").await, 2),
            Dialect::Postgres => assert_eq!(raw_scalar::<String>(&mut tx, "SHOW synchronous_commit").await, "on"),
        }
        tx.rollback().await.unwrap();
    }

    async fn an_idempotency_key_is_used_once(db: &TestDb) {
        let mut tx = db.store.begin().await.unwrap();
        let p = patient(&mut tx, "Bob Ray", "bob@example.com", None).await;
        let inv = invoices::insert_invoice(&mut tx, p.id, None, "Visit", usd(100), InvoiceStatus::Open, now()).await.unwrap();
        payments::insert_payment(&mut tx, &payment(p.id, inv, "same-key", PaymentStatus::Pending), now()).await.unwrap();
        let err = payments::insert_payment(&mut tx, &payment(p.id, inv, "same-key", PaymentStatus::Pending), now())
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Duplicate(_)), "{err}");
    }

    async fn a_payment_outcome_is_settled_only_from_the_status_seen(db: &TestDb) {
        let mut tx = db.store.begin().await.unwrap();
        let p = patient(&mut tx, "Cy Twombly", "cy@example.com", None).await;
        let inv = invoices::insert_invoice(&mut tx, p.id, None, "Visit", usd(100), InvoiceStatus::Open, now()).await.unwrap();
        let pay = payments::insert_payment(&mut tx, &payment(p.id, inv, "k", PaymentStatus::Pending), now()).await.unwrap();
        assert!(payments::settle_payment(&mut tx, pay, PaymentStatus::Pending, PaymentStatus::Unknown, &Settlement::default(), now()).await.unwrap());
        // A second worker that still believes it is PENDING changes nothing.
        assert!(!payments::settle_payment(&mut tx, pay, PaymentStatus::Pending, PaymentStatus::Failed, &Settlement::default(), now()).await.unwrap());
    }

    async fn a_subscription_has_one_open_recovery_order_and_one_order_per_cycle(db: &TestDb) {
        let mut tx = db.store.begin().await.unwrap();
        let p = patient(&mut tx, "Dee Dee", "dee@example.com", None).await;
        let sub = subscriptions::insert_subscription(&mut tx, &NewSubscription {
            patient_id: p.id,
            plan: "Care plan".into(),
            amount: usd(4900),
            interval: BillingInterval::Month,
            status: SubscriptionStatus::Paused,
            next_cycle_at: now(),
            locked_gateway: Some(Gateway::Nmi),
        }, now()).await.unwrap();
        let first = orders::insert_order(&mut tx, &order(p.id, Some(sub), Some(RecoveryStatus::NeedsPaymentMethod)), now()).await.unwrap();
        tx.commit().await.unwrap();

        let mut tx = db.store.begin().await.unwrap();
        let err = orders::insert_order(&mut tx, &order(p.id, Some(sub), Some(RecoveryStatus::RetryScheduled)), now())
            .await
            .unwrap_err();
        assert!(err.is_duplicate(), "a second open recovery order must be refused: {err}");
        tx.rollback().await.unwrap();

        // Once the first is resolved, a new recovery may open.
        let mut tx = db.store.begin().await.unwrap();
        let resolved = RecoveryUpdate { recovery_status: Some(RecoveryStatus::Resolved), next_retry_at: None, attempts: 0, first_failed_at: None, last_message: None };
        orders::set_recovery(&mut tx, first, &resolved, now()).await.unwrap();
        orders::insert_order(&mut tx, &order(p.id, Some(sub), Some(RecoveryStatus::RetryScheduled)), now()).await.unwrap();
        tx.commit().await.unwrap();

        let mut tx = db.store.begin().await.unwrap();
        let cycle = NewOrder { cycle_start_at: Some(now()), ..order(p.id, Some(sub), None) };
        orders::insert_order(&mut tx, &cycle, now()).await.unwrap();
        let err = orders::insert_order(&mut tx, &cycle, now()).await.unwrap_err();
        assert!(err.is_duplicate(), "one cycle order per subscription cycle: {err}");
    }

    async fn a_reminder_is_claimed_once_per_card_and_threshold_and_a_manual_one_once_a_day(db: &TestDb) {
        use clinicpay_store::reminders::{self, ReminderKind};
        let mut tx = db.store.begin().await.unwrap();
        let p = patient(&mut tx, "Eve Post", "eve@example.com", None).await;
        let c = payment_methods::insert(&mut tx, p.id, &card(Gateway::Stripe, "pm_e", "4242"), true, now()).await.unwrap();
        let day = 20_000;
        let first = reminders::claim(&mut tx, c.id, p.id, ReminderKind::Automatic, Some(30), day, None, now()).await.unwrap();
        assert!(first.is_some());
        assert_eq!(reminders::claim(&mut tx, c.id, p.id, ReminderKind::Automatic, Some(30), day + 3, None, now()).await.unwrap(), None, "30 days: once");
        assert!(reminders::claim(&mut tx, c.id, p.id, ReminderKind::Automatic, Some(7), day, None, now()).await.unwrap().is_some());
        assert!(reminders::claim(&mut tx, c.id, p.id, ReminderKind::Manual, None, day, None, now()).await.unwrap().is_some());
        assert_eq!(reminders::claim(&mut tx, c.id, p.id, ReminderKind::Manual, None, day, None, now()).await.unwrap(), None, "manual: once a day");
        assert!(reminders::claim(&mut tx, c.id, p.id, ReminderKind::Manual, None, day + 1, None, now()).await.unwrap().is_some());

        // A refused send is retried when due, by one claimer only.
        reminders::mark_failed(&mut tx, first.unwrap(), "550 mailbox unavailable", now()).await.unwrap();
        let later = now() + chrono::Duration::minutes(1);
        let retry = reminders::claim_retries(&mut tx, later, now() - chrono::Duration::minutes(15), 10).await.unwrap();
        assert_eq!(retry.iter().map(|r| (r.id, r.attempts)).collect::<Vec<_>>(), vec![(first.unwrap(), 2)]);
        assert!(reminders::claim_retries(&mut tx, later, now() - chrono::Duration::minutes(15), 10).await.unwrap().is_empty());
        reminders::mark_sent(&mut tx, first.unwrap(), later).await.unwrap();
        let listed = reminders::list(&mut tx, Some(p.id), 10).await.unwrap();
        assert_eq!(listed.len(), 4);
        assert!(listed.iter().any(|r| r.id == first.unwrap() && r.status == "sent" && r.last_error.is_none()));
    }

    async fn expiring_cards_come_soonest_first_with_whether_another_card_lasts_longer(db: &TestDb) {
        use clinicpay_store::reminders;
        let mut tx = db.store.begin().await.unwrap();
        let p = patient(&mut tx, "Ann Exp", "ann@example.com", None).await;
        let mut soon = card(Gateway::Nmi, "v1", "1111");
        soon.expiry = clinicpay_domain::CardExpiry::new(12, 2026).unwrap();
        let mut later = card(Gateway::Nmi, "v2", "2222");
        later.expiry = clinicpay_domain::CardExpiry::new(3, 2029).unwrap();
        let mut gone = card(Gateway::Nmi, "v3", "3333");
        gone.expiry = clinicpay_domain::CardExpiry::new(8, 2026).unwrap();
        payment_methods::insert(&mut tx, p.id, &soon, true, now()).await.unwrap();
        payment_methods::insert(&mut tx, p.id, &later, false, now()).await.unwrap();
        payment_methods::insert(&mut tx, p.id, &gone, false, now()).await.unwrap();
        let rows = reminders::expiring(&mut tx, (2026, 11), (2027, 1), (2026, 11), None, None, None, 100).await.unwrap();
        assert_eq!(rows.iter().map(|r| (r.last4.as_str(), r.has_other_valid)).collect::<Vec<_>>(), vec![("1111", true)]);
        let expired = reminders::expiring(&mut tx, (0, 1), (2026, 10), (2026, 11), None, None, None, 100).await.unwrap();
        assert_eq!(expired.iter().map(|r| r.last4.as_str()).collect::<Vec<_>>(), vec!["3333"]);
        assert!(reminders::expiring(&mut tx, (2026, 11), (2027, 1), (2026, 11), Some("business"), None, None, 100).await.unwrap().is_empty());
    }

    async fn a_page_of_results_is_full_even_when_each_patient_matches_through_several_words(db: &TestDb) {
        // "sa" finds each of them through three words, one after another in the term index (saba, sabb,
        // sabc, saca…): the first twenty terms hold only seven patients. Still ten on a page of ten, each
        // once, and the eleventh when the page is longer.
        let mut tx = db.store.begin().await.unwrap();
        for (i, c) in ('b'..='l').enumerate() {
            patient(&mut tx, &format!("Sa{c}a Sa{c}b Sa{c}c"), &format!("x{i}@example.com"), None).await;
        }
        tx.commit().await.unwrap();
        let mut r = db.store.reader().await.unwrap();
        let found = patients::search(&mut r, "sa", 10).await.unwrap();
        let unique: std::collections::HashSet<i64> = found.iter().map(|p| p.id.0).collect();
        assert_eq!((found.len(), unique.len()), (10, 10));
        assert_eq!(patients::search(&mut r, "sa", 50).await.unwrap().len(), 11);
    }

    async fn a_search_reads_from_the_word_with_fewer_terms_when_both_are_common(db: &TestDb) {
        // Both words match more terms than a quick count looks at, and are as long as each other: the
        // full counts decide. Which word is read from shows in the order: by that word, then by name.
        let mut tx = db.store.begin().await.unwrap();
        for i in 0..150 {
            patient(&mut tx, "Joan Smyth", &format!("a{i}@example.com"), None).await;
            patient(&mut tx, "Joe Smith", &format!("b{i}@example.com"), None).await;
            patient(&mut tx, "Jody Brown", &format!("c{i}@example.com"), None).await;
            patient(&mut tx, "Jody Green", &format!("d{i}@example.com"), None).await;
        }
        tx.commit().await.unwrap();
        let mut r = db.store.reader().await.unwrap();
        let first = |v: Vec<Patient>| v.first().map(|p| p.name.clone());
        // "jo" 600 terms, "sm" 300: read from "sm", so "smith" comes before "smyth".
        let counts = patients::TermCounts::default();
        for q in ["jo sm", "sm jo"] {
            let found = patients::search_with(&mut r, q, 10, &counts).await.unwrap();
            assert_eq!(found.len(), 10);
            assert_eq!(first(found).as_deref(), Some("Joe Smith"), "{q}");
        }
        drop(r);
        // Now "sm" is the common one: read from "jo", so "joan" comes before "joe".
        let mut tx = db.store.begin().await.unwrap();
        for i in 0..400 {
            patient(&mut tx, "Al Smart", &format!("e{i}@example.com"), None).await;
        }
        tx.commit().await.unwrap();
        let mut r = db.store.reader().await.unwrap();
        let fresh = patients::TermCounts::default();
        let found = patients::search_with(&mut r, "jo sm", 10, &fresh).await.unwrap();
        assert_eq!(first(found).as_deref(), Some("Joan Smyth"));
    }

    async fn patients_are_found_by_name_email_or_phone_prefix(db: &TestDb) {
        let mut tx = db.store.begin().await.unwrap();
        patient(&mut tx, "John Smith", "john.smith@example.com", Some("+1 555 010 2030")).await;
        patient(&mut tx, "Joanna Smithers", "jo@clinic.org", Some("555 999 0000")).await;
        patient(&mut tx, "Acme Corp", "billing@acme.test", None).await;
        tx.commit().await.unwrap();
        let mut r = db.store.reader().await.unwrap();
        let names = |v: Vec<Patient>| v.into_iter().map(|p| p.name).collect::<Vec<_>>();
        // In the order of the matched word, then by name.
        assert_eq!(names(patients::search(&mut r, "smi", 10).await.unwrap()), ["John Smith", "Joanna Smithers"]);
        assert_eq!(names(patients::search(&mut r, "jo smith", 10).await.unwrap()), ["John Smith", "Joanna Smithers"]);
        assert_eq!(names(patients::search(&mut r, "j", 10).await.unwrap()), ["Joanna Smithers", "John Smith"]);
        assert_eq!(patients::search(&mut r, "j", 1).await.unwrap().len(), 1, "a patient matching twice is listed once");
        assert_eq!(names(patients::search(&mut r, "john sm", 10).await.unwrap()), ["John Smith"]);
        assert_eq!(names(patients::search(&mut r, "SMITHERS", 10).await.unwrap()), ["Joanna Smithers"]);
        assert_eq!(names(patients::search(&mut r, "billing@", 10).await.unwrap()), ["Acme Corp"]);
        assert_eq!(names(patients::search(&mut r, "(555) 010", 10).await.unwrap()), ["John Smith"]);
        assert_eq!(names(patients::search(&mut r, "1555010", 10).await.unwrap()), ["John Smith"]);
        assert!(patients::search(&mut r, "zz", 10).await.unwrap().is_empty());
        // Words of different kinds combine, and typed `_` or `%` are taken literally.
        assert_eq!(names(patients::search(&mut r, "john 555", 10).await.unwrap()), ["John Smith"]);
        assert_eq!(names(patients::search(&mut r, "smi jo@", 10).await.unwrap()), ["Joanna Smithers"]);
        assert!(patients::search(&mut r, "smi j_", 10).await.unwrap().is_empty());
        assert!(patients::search(&mut r, "smi %", 10).await.unwrap().is_empty());
        assert_eq!(patients::search(&mut r, "", 2).await.unwrap().len(), 2);
    }

    async fn settings_are_saved_and_read_back(db: &TestDb) {
        let mut r = db.store.reader().await.unwrap();
        assert!(organization::load(&mut r).await.unwrap().is_none());
        drop(r);
        let mut s = OrganizationSettings { active_gateway: Gateway::Nmi, ..Default::default() };
        s.recovery.retry_days = vec![1, 4, 6];
        let mut tx = db.store.begin().await.unwrap();
        organization::save(&mut tx, &s, now()).await.unwrap();
        organization::save(&mut tx, &s, now()).await.unwrap();
        tx.commit().await.unwrap();
        let mut r = db.store.reader().await.unwrap();
        assert_eq!(organization::load(&mut r).await.unwrap(), Some(s));
    }

    async fn staff_usernames_are_unique(db: &TestDb) {
        let mut tx = db.store.begin().await.unwrap();
        staff::insert(&mut tx, "frontdesk", "Front Desk", Role::FrontDesk, "hash", now()).await.unwrap();
        let err = staff::insert(&mut tx, "frontdesk", "Other", Role::ItAdmin, "hash", now()).await.unwrap_err();
        assert!(err.is_duplicate());
    }

    async fn the_activity_chain_reports_an_edited_row(db: &TestDb) {
        let mut tx = db.store.begin().await.unwrap();
        for i in 0..5 {
            activity::append(&mut tx, entry(&format!("patient.updated.{i}"), Some(1))).await.unwrap();
        }
        tx.commit().await.unwrap();
        let mut r = db.store.reader().await.unwrap();
        let report = activity::verify(&mut r).await.unwrap();
        assert!(report.is_intact(), "{:?}", report.problems);
        assert_eq!(report.entries, 5);
        drop(r);

        exec_raw(db, "UPDATE activity_log SET actor_name = 'someone else' WHERE seq = 3").await;
        let mut r = db.store.reader().await.unwrap();
        let report = activity::verify(&mut r).await.unwrap();
        assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
        assert_eq!(report.problems[0].seq, 3);
    }

    async fn the_activity_chain_reports_a_deleted_row(db: &TestDb) {
        let mut tx = db.store.begin().await.unwrap();
        for i in 0..4 {
            activity::append(&mut tx, entry(&format!("card.added.{i}"), None)).await.unwrap();
        }
        tx.commit().await.unwrap();
        exec_raw(db, "DELETE FROM activity_log WHERE seq = 2").await;
        let mut r = db.store.reader().await.unwrap();
        let report = activity::verify(&mut r).await.unwrap();
        assert!(report.problems.iter().any(|p| p.seq == 2 && p.problem.contains("missing")), "{:?}", report.problems);
        drop(r);
        // Deleting the newest entry is caught by the head.
        exec_raw(db, "DELETE FROM activity_log WHERE seq = 4").await;
        let mut r = db.store.reader().await.unwrap();
        let report = activity::verify(&mut r).await.unwrap();
        assert!(report.problems.iter().any(|p| p.seq == 4), "{:?}", report.problems);
    }

    async fn concurrent_writers_keep_one_unbroken_activity_chain(db: &TestDb) {
        let mut tasks = Vec::new();
        for w in 0..4 {
            let store = db.store.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..10 {
                    let mut tx = store.begin().await.unwrap();
                    activity::append(&mut tx, entry(&format!("w{w}.{i}"), Some(w))).await.unwrap();
                    tx.commit().await.unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let mut r = db.store.reader().await.unwrap();
        let report = activity::verify(&mut r).await.unwrap();
        assert_eq!(report.entries, 40);
        assert!(report.is_intact(), "{:?}", report.problems);
        assert_eq!(activity::for_patient(&mut r, 2, 100).await.unwrap().len(), 10);
    }
}
