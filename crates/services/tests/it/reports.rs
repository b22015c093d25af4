//! The gateway report: its totals are the ledger's, exactly, per gateway; declines by code; refunds on the
//! gateway that took the payment; the recovery funnel; CSV and PDF exports recorded in the activity log.

use crate::support::*;
use chrono::NaiveDate;
use clinicpay_domain::*;
use clinicpay_services::ErrorCode;
use clinicpay_testkit::on_both_databases;

fn usd(minor: i64) -> Money {
    Clinic::usd(minor)
}

on_both_databases! {
    async fn a_gateway_report_totals_match_the_ledger_exactly(db: &TestDb) {
        let c = clinic(db, Gateway::Nmi).await;
        c.add(Gateway::Nmi, "4111111111111111").await.unwrap();
        let mut paid = Vec::new();
        for amount in [8_000, 4_250, 1_999] {
            let inv = c.s.create_invoice(&c.desk, c.patient, usd(amount), "Visit").await.unwrap();
            paid.push(c.s.pay_invoice(&c.desk, inv.id, None).await.unwrap().payment);
        }
        // NMI declines amounts below 1.00 in test mode.
        let small = c.s.create_invoice(&c.desk, c.patient, usd(50), "Copay").await.unwrap();
        assert_eq!(c.s.pay_invoice(&c.desk, small.id, None).await.unwrap_err().code(), ErrorCode::Declined);
        // A refund of part of the first payment, made after the clinic moved to Stripe: still NMI's.
        c.s.set_setting(&c.manager, "gateway", "stripe").await.unwrap();
        c.s.refund_payment(&c.manager, paid[0].id, Some(usd(1_500))).await.unwrap();
        // A Stripe payment too.
        c.add(Gateway::Stripe, "4242424242424242").await.unwrap();
        let inv = c.s.create_invoice(&c.desk, c.patient, usd(12_345), "Lab").await.unwrap();
        c.s.pay_invoice(&c.desk, inv.id, None).await.unwrap();
        // A recovery: a subscription with no card for the active gateway of its patient… none here; make one
        // on a second patient who only has an NMI card.
        let other = c.s.add_patient(&c.desk, NewPatient {
            name: "Rae Recover".into(), email: "rae@example.com".into(), phone: None, patient_type: PatientType::Individual,
        }).await.unwrap().id;
        c.s.create_subscription(&c.desk, other, "Wellness", usd(4_900), "month").await.unwrap();
        assert_eq!(c.s.run_worker_pass().await.unwrap().needs_payment_method, 1);

        let report = c.s.gateway_report(&c.manager, None, None).await.unwrap();
        let payments = c.s.list_payments(&c.manager, None).await.unwrap();
        for g in &report.gateways {
            let mine: Vec<_> = payments.iter().filter(|p| p.gateway == g.gateway).collect();
            let ok: Vec<_> = mine.iter().filter(|p| p.status == PaymentStatus::Succeeded).collect();
            assert_eq!(g.attempts as usize, mine.len(), "{:?}", g.gateway);
            assert_eq!(g.succeeded as usize, ok.len());
            assert_eq!(g.succeeded_amount.minor, ok.iter().map(|p| p.amount.minor).sum::<i64>());
            // …and what the gateway itself took.
            assert_eq!(g.succeeded_amount.minor, c.charged_at(g.gateway).iter().sum::<i64>(), "{:?} against its own ledger", g.gateway);
        }
        let nmi = report.gateways.iter().find(|g| g.gateway == Gateway::Nmi).unwrap();
        assert_eq!((nmi.attempts, nmi.succeeded, nmi.failed), (4, 3, 1));
        assert_eq!(nmi.succeeded_amount, usd(14_249));
        assert_eq!(nmi.success_rate_percent, Some(75.0));
        assert_eq!(nmi.declines.len(), 1);
        assert_eq!((nmi.declines[0].code.as_deref(), nmi.declines[0].count), (Some("200"), 1));
        assert_eq!((nmi.refunds, nmi.refunded_amount), (1, usd(1_500)), "refunded on the gateway that took it");
        let stripe = report.gateways.iter().find(|g| g.gateway == Gateway::Stripe).unwrap();
        assert_eq!((stripe.succeeded, stripe.succeeded_amount, stripe.refunds), (1, usd(12_345), 0));
        assert_eq!(report.recovery.needs_payment_method, 1);

        // A range that holds none of it.
        let empty = c.s.gateway_report(&c.manager, NaiveDate::from_ymd_opt(2025, 1, 1), NaiveDate::from_ymd_opt(2025, 1, 31)).await.unwrap();
        assert!(empty.gateways.is_empty());
        let backwards = c.s.gateway_report(&c.manager, NaiveDate::from_ymd_opt(2026, 2, 1), NaiveDate::from_ymd_opt(2026, 1, 1)).await.unwrap_err();
        assert!(backwards.to_string().contains("swap the dates"), "{backwards}");
        assert_eq!(c.s.gateway_report(&c.desk, None, None).await.unwrap_err().code(), ErrorCode::PermissionDenied);

        // Exports: CSV a spreadsheet reads, a PDF a reader reads, each in the activity log with who did it.
        let dir = std::env::temp_dir().join(format!("clinicpay-report-{}-{:?}", std::process::id(), db.backend()));
        std::fs::create_dir_all(&dir).unwrap();
        let csv_file = dir.join("gateway.csv");
        c.s.export_gateway_report(&c.manager, &report, &csv_file).await.unwrap();
        let csv = std::fs::read_to_string(&csv_file).unwrap();
        assert!(csv.starts_with("section,gateway,currency,item,count,amount\n"), "{csv}");
        assert!(csv.contains("payments,nmi,USD,succeeded,3,142.49\n"), "{csv}");
        assert!(csv.contains("refunds,nmi,USD,succeeded,1,15.00\n"), "{csv}");
        assert!(csv.contains("declines,nmi,USD,200: DECLINE,1,\n"), "{csv}");
        assert!(csv.contains("recovery,,,needs_payment_method,1,\n"), "{csv}");
        let pdf_file = dir.join("gateway.pdf");
        c.s.export_gateway_report(&c.manager, &report, &pdf_file).await.unwrap();
        let pdf = lopdf::Document::load(&pdf_file).unwrap();
        let pages: Vec<u32> = pdf.get_pages().keys().copied().collect();
        let text = pdf.extract_text(&pages).unwrap();
        assert!(text.contains("Succeeded: 3 for $142.49"), "{text}");
        let mut r = c.s.store().reader().await.unwrap();
        let log = clinicpay_store::activity::recent(&mut r, 10).await.unwrap();
        let exports: Vec<_> = log.iter().filter(|e| e.action == "report.exported").collect();
        assert_eq!(exports.len(), 2);
        assert!(exports.iter().all(|e| e.actor_name == "manager"));
        drop(r);
        std::fs::remove_dir_all(&dir).ok();
    }

    async fn a_report_over_closed_days_is_the_ledgers_even_after_a_late_change_to_an_old_payment(db: &TestDb) {
        use clinicpay_store::payments::{insert_payment, NewPayment};
        let c = clinic(db, Gateway::Nmi).await;
        let now = c.s.now();
        // A fortnight of history: closed days, whose totals the report keeps.
        let mut tx = db.store.begin().await.unwrap();
        let mut keys = Vec::new();
        for (i, (days_ago, minor, status, code)) in [
            (12, 5_000, PaymentStatus::Succeeded, None),
            (12, 2_500, PaymentStatus::Failed, Some("200")),
            (9, 7_000, PaymentStatus::Succeeded, None),
            (9, 1_000, PaymentStatus::Failed, Some("201")),
            (6, 3_000, PaymentStatus::Failed, Some("200")),
            (6, 4_000, PaymentStatus::Unknown, None),
        ]
        .into_iter()
        .enumerate()
        {
            let key = format!("history-{i}");
            insert_payment(&mut tx, &NewPayment {
                patient_id: c.patient, invoice_id: None, order_id: None, payment_method_id: None,
                gateway: Gateway::Nmi, amount: usd(minor), status, idempotency_key: key.clone(),
                gateway_reference: None, decline_code: code.map(String::from),
                decline_message: code.map(|_| "DECLINE".to_owned()), created_by: None,
            }, now - chrono::Duration::days(days_ago)).await.unwrap();
            keys.push(key);
        }
        tx.commit().await.unwrap();
        let from = (now - chrono::Duration::days(20)).date_naive();
        let nmi = |r: &clinicpay_services::reports::GatewayReport| r.gateways.iter().find(|g| g.gateway == Gateway::Nmi).unwrap().clone();

        let first = nmi(&c.s.gateway_report(&c.manager, Some(from), None).await.unwrap());
        assert_eq!((first.attempts, first.succeeded, first.failed, first.unknown_waiting), (6, 2, 3, 1));
        assert_eq!(first.succeeded_amount, usd(12_000));
        let codes: Vec<_> = first.declines.iter().map(|d| (d.code.clone().unwrap(), d.count)).collect();
        assert_eq!(codes, vec![("200".to_owned(), 2), ("201".to_owned(), 1)], "most frequent first");
        let mut tx = db.store.begin().await.unwrap();
        let kept: i64 = clinicpay_testkit::raw_scalar(&mut tx, "SELECT COUNT(*) FROM payment_day_totals").await;
        drop(tx);
        assert!(kept > 0, "the closed days' totals are kept");

        // Days later the janitor learns the unknown payment was taken, and a decline is corrected.
        clinicpay_testkit::raw_execute(db, &format!("UPDATE payments SET status = 'SUCCEEDED' WHERE idempotency_key = '{}'", keys[5])).await;
        clinicpay_testkit::raw_execute(db, &format!("UPDATE payments SET decline_code = '201' WHERE idempotency_key = '{}'", keys[4])).await;
        let again = nmi(&c.s.gateway_report(&c.manager, Some(from), None).await.unwrap());
        assert_eq!((again.attempts, again.succeeded, again.failed, again.unknown_waiting), (6, 3, 3, 0));
        assert_eq!(again.succeeded_amount, usd(16_000));
        let codes: Vec<_> = again.declines.iter().map(|d| (d.code.clone().unwrap(), d.count)).collect();
        assert_eq!(codes, vec![("201".to_owned(), 2), ("200".to_owned(), 1)]);
        // A payment made today is counted live beside the kept days.
        let inv = c.s.create_invoice(&c.desk, c.patient, usd(900), "Visit").await.unwrap();
        c.add(Gateway::Nmi, "4111111111111111").await.unwrap();
        c.s.pay_invoice(&c.desk, inv.id, None).await.unwrap();
        let today = nmi(&c.s.gateway_report(&c.manager, Some(from), None).await.unwrap());
        assert_eq!((today.attempts, today.succeeded, today.succeeded_amount), (7, 4, usd(16_900)));
    }

    async fn the_first_report_over_months_of_history_counts_live_and_leaves_keeping_the_days_to_the_engine(db: &TestDb) {
        use clinicpay_store::payments::{insert_payment, NewPayment};
        let c = clinic(db, Gateway::Nmi).await;
        let now = c.s.now();
        // Two months of history arrive at once (an import, a desk that joins): 60 closed days not kept.
        let mut tx = db.store.begin().await.unwrap();
        for days_ago in 2..62 {
            insert_payment(&mut tx, &NewPayment {
                patient_id: c.patient, invoice_id: None, order_id: None, payment_method_id: None,
                gateway: Gateway::Nmi, amount: usd(1_000 + days_ago), status: PaymentStatus::Succeeded,
                idempotency_key: format!("old-{days_ago}"), gateway_reference: None, decline_code: None,
                decline_message: None, created_by: None,
            }, now - chrono::Duration::days(days_ago)).await.unwrap();
        }
        tx.commit().await.unwrap();
        let kept = || async {
            let mut tx = db.store.begin().await.unwrap();
            clinicpay_testkit::raw_scalar(&mut tx, "SELECT COUNT(*) FROM payment_day_totals").await
        };
        let from = (now - chrono::Duration::days(90)).date_naive();
        let expected = usd((2..62).map(|d| 1_000 + d).sum());
        let nmi = |r: &clinicpay_services::reports::GatewayReport| r.gateways.iter().find(|g| g.gateway == Gateway::Nmi).unwrap().clone();

        // The billing manager does not wait while sixty days are counted: the answer is the ledger's.
        let first = nmi(&c.s.gateway_report(&c.manager, Some(from), None).await.unwrap());
        assert_eq!((first.attempts, first.succeeded, first.succeeded_amount), (60, 60, expected));
        let kept_after_asking: i64 = kept().await;
        assert_eq!(kept_after_asking, 0, "no day was counted while the report was asked");

        // The billing engine keeps them, a month a pass, the most recent first; then the report reads them.
        c.s.run_worker_pass().await.unwrap();
        let after_one_pass: i64 = kept().await;
        assert_eq!(after_one_pass, 31, "a month, the most recent first");
        c.s.run_worker_pass().await.unwrap();
        let after_two: i64 = kept().await;
        assert_eq!(after_two, 60);
        let later = nmi(&c.s.gateway_report(&c.manager, Some(from), None).await.unwrap());
        assert_eq!((later.attempts, later.succeeded, later.succeeded_amount), (60, 60, expected));
    }
}
