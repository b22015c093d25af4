//! Reconciliation (issue 18): each gateway's charges and refunds of a day matched to the ledger, on both
//! gateways and both databases, with each kind of difference seeded the way it happens (a record
//! edited or lost behind the app, money moved outside ClinicPay).

use crate::support::*;
use clinicpay_domain::*;
use clinicpay_services::reconcile::{MismatchKind, Reconciliation};
use clinicpay_services::{ErrorCode, Services};
use clinicpay_sim::Fault;
use clinicpay_testkit::{on_both_databases, raw_execute, TestDb};

fn usd(minor: i64) -> Money {
    Clinic::usd(minor)
}

/// The clinic on the real clock, so its records and the gateway's fall on the same day.
async fn today(db: &TestDb, gateway: Gateway) -> (Clinic, Services) {
    let c = clinic(db, gateway).await;
    let s = c.with_clock(SystemClock);
    (c, s)
}

async fn pay(c: &Clinic, s: &Services, minor: i64) -> PaymentId {
    let inv = s
        .create_invoice(&c.desk, c.patient, usd(minor), "Visit")
        .await
        .unwrap();
    s.pay_invoice(&c.desk, inv.id, None)
        .await
        .unwrap()
        .payment
        .id
}

/// Today's reconciliation, asked ten minutes from now: what was made in the last five minutes is left
/// for later (it may still be on its way), and everything here was made just now.
async fn run(c: &Clinic, _s: &Services, gateway: Gateway) -> Reconciliation {
    let day = chrono::Utc::now().date_naive();
    c.with_clock(FixedClock(
        chrono::Utc::now() + chrono::Duration::minutes(10),
    ))
    .reconcile(&c.manager, day, day, Some(gateway))
    .await
    .unwrap()
}

fn kinds(r: &Reconciliation) -> Vec<MismatchKind> {
    let mut k: Vec<MismatchKind> = r
        .gateways
        .iter()
        .flat_map(|g| g.mismatches.iter().map(|m| m.kind))
        .collect();
    k.sort_by_key(|k| format!("{k:?}"));
    k
}

async fn every_kind_of_difference_is_found_and_said(db: &TestDb, gateway: Gateway) {
    let (c, s) = today(db, gateway).await;
    c.add(gateway, "4111111111111111").await.unwrap();
    // A clean day first: two payments, one partly refunded.
    let a = pay(&c, &s, 4_900).await;
    pay(&c, &s, 2_500).await;
    s.refund_payment(&c.desk, a, Some(usd(900))).await.unwrap();
    let clean = run(&c, &s, gateway).await;
    assert!(clean.clean, "{:?}", clean.gateways);
    let g = &clean.gateways[0];
    assert_eq!(
        (
            g.gateway_charges,
            g.gateway_refunds,
            g.ledger_payments,
            g.ledger_refunds
        ),
        (2, 1, 2, 1)
    );
    assert!(
        clean.verdict.ends_with("every charge and refund matches."),
        "{}",
        clean.verdict
    );

    // Then every kind of difference, each made as it happens in a clinic.
    let lost = pay(&c, &s, 1_100).await; // the record lost behind the app
    raw_execute(db, &format!("DELETE FROM payments WHERE id = {}", lost.0)).await;
    let failed = pay(&c, &s, 1_200).await; // recorded failed, but taken
    raw_execute(
        db,
        &format!(
            "UPDATE payments SET status = 'FAILED', decline_code = 'not_sent' WHERE id = {}",
            failed.0
        ),
    )
    .await;
    let edited = pay(&c, &s, 1_300).await; // the amount edited
    raw_execute(
        db,
        &format!(
            "UPDATE payments SET amount_minor = 1400 WHERE id = {}",
            edited.0
        ),
    )
    .await;
    let now = chrono::Utc::now().timestamp_millis();
    raw_execute(db, &format!(
        "INSERT INTO payments (patient_id, gateway, amount_minor, currency, status, idempotency_key, created_at, updated_at)
         VALUES ({}, '{}', 1500, 'USD', 'SUCCEEDED', 'pay-never-at-the-gateway', {now}, {now})",
        c.patient.0, gateway.as_str()
    )).await;
    let first = pay(&c, &s, 1_600).await; // two charges of one invoice
    let second = pay(&c, &s, 1_600).await;
    raw_execute(db, &format!(
        "UPDATE payments SET invoice_id = (SELECT invoice_id FROM payments WHERE id = {}), duplicate_of = {} WHERE id = {}",
        first.0, first.0, second.0
    )).await;
    let refunded = pay(&c, &s, 1_700).await; // a refund whose record was lost
    s.refund_payment(&c.desk, refunded, Some(usd(700)))
        .await
        .unwrap();
    raw_execute(
        db,
        &format!("DELETE FROM refunds WHERE payment_id = {}", refunded.0),
    )
    .await;
    let back = pay(&c, &s, 1_800).await; // a refund recorded failed, but done
    s.refund_payment(&c.desk, back, Some(usd(800)))
        .await
        .unwrap();
    raw_execute(
        db,
        &format!(
            "UPDATE refunds SET status = 'FAILED' WHERE payment_id = {}",
            back.0
        ),
    )
    .await;
    raw_execute(db, &format!(
        "INSERT INTO refunds (payment_id, gateway, amount_minor, currency, status, idempotency_key, created_at, updated_at)
         VALUES ({}, '{}', 100, 'USD', 'SUCCEEDED', 'refund-never-at-the-gateway', {now}, {now})",
        a.0, gateway.as_str()
    )).await;

    let r = run(&c, &s, gateway).await;
    assert!(!r.clean);
    use MismatchKind::*;
    assert_eq!(
        kinds(&r),
        vec![
            AmountDiffers,
            ChargedTwice,
            RecordedNotTaken,
            RefundNotRecorded,
            RefundRecordedFailed,
            RefundRecordedNotDone,
            TakenNotRecorded,
            TakenRecordedFailed
        ]
    );
    let m = &r.gateways[0].mismatches;
    let of = |k: MismatchKind| m.iter().find(|m| m.kind == k).unwrap();
    assert_eq!(of(TakenNotRecorded).gateway_amount, Some(usd(1_100)));
    assert!(
        of(TakenNotRecorded).what_to_do.contains("dashboard"),
        "{}",
        of(TakenNotRecorded).what_to_do
    );
    assert_eq!(
        (
            of(AmountDiffers).ledger_amount,
            of(AmountDiffers).gateway_amount
        ),
        (Some(usd(1_400)), Some(usd(1_300)))
    );
    assert_eq!(of(ChargedTwice).payment_id, Some(second));
    assert!(of(RecordedNotTaken)
        .what_to_do
        .contains("Do not refund it in ClinicPay"));
    // Money the gateway moved that ClinicPay had recorded as failed is recorded now, as it did.
    assert!(of(TakenRecordedFailed).recorded_now && of(RefundRecordedFailed).recorded_now);
    let payments = s.list_payments(&c.desk, Some(c.patient)).await.unwrap();
    assert_eq!(
        payments.iter().find(|p| p.id == failed).unwrap().status,
        PaymentStatus::Succeeded
    );
    // Kept: the screen and the top bar read it back.
    let kept = s.reconciliations(&c.manager).await.unwrap();
    assert_eq!((kept[0].id, kept[0].clean), (r.id, false));
    assert_eq!(kept[0].gateways[0].mismatches.len(), 8);
    // Run again: what was recorded now no longer differs.
    let again = run(&c, &s, gateway).await;
    assert_eq!(again.gateways[0].mismatches.len(), 6, "{:?}", kinds(&again));
    // The gateway's listing was staged in the database for the matching, and is gone with the run.
    let mut tx = db.store.begin().await.unwrap();
    let staged: i64 =
        clinicpay_testkit::raw_scalar(&mut tx, "SELECT COUNT(*) FROM reconciliation_lines").await;
    assert_eq!(staged, 0);
}

on_both_databases! {
    async fn nmi_every_kind_of_difference_is_found_and_said(db: &TestDb) {
        every_kind_of_difference_is_found_and_said(db, Gateway::Nmi).await;
    }

    async fn stripe_every_kind_of_difference_is_found_and_said(db: &TestDb) {
        every_kind_of_difference_is_found_and_said(db, Gateway::Stripe).await;
    }

    async fn a_gateway_that_cannot_be_asked_gives_no_verdict_and_says_so(db: &TestDb) {
        let (c, s) = today(db, Gateway::Nmi).await;
        c.add(Gateway::Nmi, "4111111111111111").await.unwrap();
        pay(&c, &s, 4_900).await;
        c.sim.inject("/api/query.php", 5, Fault::Status(503));
        let r = run(&c, &s, Gateway::Nmi).await;
        assert!(!r.clean && r.unavailable());
        assert!(r.verdict.contains("NMI could not be asked"), "{}", r.verdict);
        // What was made in the last five minutes is not judged yet.
        c.sim.clear_faults();
        let day = chrono::Utc::now().date_naive();
        let just_now = s.reconcile(&c.manager, day, day, Some(Gateway::Nmi)).await.unwrap();
        assert_eq!((just_now.gateways[0].ledger_payments, just_now.gateways[0].mismatches.len()), (1, 0));
        // The front desk cannot run it; a billing manager can.
        assert_eq!(s.reconcile(&c.desk, day, day, None).await.unwrap_err().code(), ErrorCode::PermissionDenied);
        assert_eq!(s.reconcile(&c.manager, day, day - chrono::Duration::days(1), None).await.unwrap_err().code(), ErrorCode::InvalidInput);
    }

    async fn the_worker_reconciles_the_day_before_once_and_billing_sees_the_verdict(db: &TestDb) {
        let c = clinic(db, Gateway::Nmi).await;
        c.add(Gateway::Nmi, "4111111111111111").await.unwrap();
        let worker = c.with_clock(SystemClock);
        assert_eq!(worker.reconciliation_verdict(&c.manager).await.unwrap().map(|v| v.clean), None);
        let first = worker.run_worker_pass().await.unwrap();
        let verdict = first.reconciliation.expect("the first pass of the day reconciles yesterday");
        assert_eq!(verdict.day, (chrono::Utc::now() - chrono::Duration::days(1)).date_naive().to_string());
        assert!(verdict.clean, "{}", verdict.verdict);
        assert!(worker.run_worker_pass().await.unwrap().reconciliation.is_none(), "once a day");
        let shown = worker.reconciliation_verdict(&c.manager).await.unwrap().unwrap();
        assert_eq!((shown.id, shown.clean, shown.mismatches), (verdict.id, verdict.clean, verdict.mismatches));
    }
}
