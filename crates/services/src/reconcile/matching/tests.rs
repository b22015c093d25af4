use chrono::TimeZone;
use clinicpay_domain::PaymentMethodId;

use super::*;

fn at(h: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap() + Duration::hours(h)
}

fn usd(minor: i64) -> Money {
    Money::from_minor(minor, Currency::USD)
}

fn payment(id: i64, key: &str, minor: i64, status: PaymentStatus) -> Payment {
    Payment {
        id: PaymentId(id),
        patient_id: PatientId(7),
        invoice_id: Some(InvoiceId(id + 100)),
        order_id: None,
        payment_method_id: Some(PaymentMethodId(1)),
        gateway: Gateway::Nmi,
        amount: usd(minor),
        status,
        idempotency_key: key.into(),
        gateway_reference: None,
        decline_code: None,
        decline_message: None,
        created_by: None,
        created_at: at(10),
        updated_at: at(10),
        duplicate_of: None,
    }
}

fn refund(id: i64, payment: i64, key: &str, minor: i64, status: PaymentStatus) -> Refund {
    Refund {
        id,
        payment_id: PaymentId(payment),
        gateway: Gateway::Nmi,
        amount: usd(minor),
        status,
        idempotency_key: key.into(),
        gateway_reference: None,
        failure_message: None,
        created_by: None,
        created_at: at(11),
    }
}

fn tx(kind: TransactionKind, key: Option<&str>, minor: i64, taken: bool) -> GatewayTransaction {
    GatewayTransaction {
        kind,
        reference: format!("t-{}", key.unwrap_or("none")),
        our_key: key.map(str::to_owned),
        amount_minor: minor,
        currency: Some("USD".into()),
        taken,
        status: if taken { "complete" } else { "failed" }.into(),
        created_at: at(10),
    }
}

fn run(
    transactions: &[GatewayTransaction],
    payments: &[Payment],
    refunds: &[Refund],
) -> Vec<Mismatch> {
    mismatches(&Inputs {
        gateway: Gateway::Nmi,
        from: at(0),
        to: at(24),
        now: at(23),
        currency: Currency::USD,
        transactions,
        payments,
        refunds,
    })
}

fn kinds(m: &[Mismatch]) -> Vec<MismatchKind> {
    m.iter().map(|m| m.kind).collect()
}

use MismatchKind::*;
use PaymentStatus::*;
use TransactionKind::{Charge, Refund as Back};

#[test]
fn a_ledger_that_agrees_with_the_gateway_is_clean() {
    let m = run(
        &[
            tx(Charge, Some("pay-1"), 4_900, true),
            tx(Charge, Some("pay-2"), 100, false),
            tx(Back, Some("re-1"), 900, true),
        ],
        &[
            payment(1, "pay-1", 4_900, Succeeded),
            payment(2, "pay-2", 100, Failed),
        ],
        &[refund(1, 1, "re-1", 900, Succeeded)],
    );
    assert_eq!(m, vec![]);
}

#[test]
fn money_taken_at_the_gateway_without_a_payment_is_listed_with_where_to_look() {
    let m = run(
        &[
            tx(Charge, Some("pay-9"), 4_900, true),
            tx(Charge, None, 1_000, true),
        ],
        &[],
        &[],
    );
    assert_eq!(kinds(&m), vec![TakenNotRecorded, TakenNotRecorded]);
    assert!(
        m[1].what_to_do.contains("made outside ClinicPay")
            || m[0].what_to_do.contains("made outside ClinicPay")
    );
    assert!(m[0].what_to_do.contains("dashboard"), "{}", m[0].what_to_do);
    assert_eq!(
        m[0].gateway_amount.unwrap().minor + m[1].gateway_amount.unwrap().minor,
        5_900
    );
}

#[test]
fn a_payment_recorded_failed_that_the_gateway_took_is_listed_as_taken() {
    let m = run(
        &[tx(Charge, Some("pay-1"), 4_900, true)],
        &[payment(1, "pay-1", 4_900, Failed)],
        &[],
    );
    assert_eq!(kinds(&m), vec![TakenRecordedFailed]);
    assert_eq!(
        (m[0].payment_id, m[0].gateway_reference.as_deref()),
        (Some(PaymentId(1)), Some("t-pay-1"))
    );
}

#[test]
fn a_payment_recorded_paid_that_the_gateway_never_took_says_not_to_refund_it() {
    let m = run(
        &[tx(Charge, Some("pay-1"), 4_900, false)],
        &[
            payment(1, "pay-1", 4_900, Succeeded),
            payment(2, "pay-2", 100, Succeeded),
        ],
        &[],
    );
    assert_eq!(kinds(&m), vec![RecordedNotTaken, RecordedNotTaken]);
    assert!(
        m[0].what_to_do.contains("Do not refund it in ClinicPay"),
        "{}",
        m[0].what_to_do
    );
    assert_eq!(m[0].gateway_status.as_deref(), Some("failed"));
}

#[test]
fn different_amounts_and_a_key_taken_twice_are_listed() {
    let mut again = tx(Charge, Some("pay-2"), 500, true);
    again.reference = "t-pay-2-again".into();
    let m = run(
        &[
            tx(Charge, Some("pay-1"), 4_000, true),
            tx(Charge, Some("pay-2"), 500, true),
            again,
        ],
        &[
            payment(1, "pay-1", 4_900, Succeeded),
            payment(2, "pay-2", 500, Succeeded),
        ],
        &[],
    );
    assert_eq!(kinds(&m), vec![AmountDiffers, ChargedTwice]);
    assert_eq!(
        (m[0].ledger_amount, m[0].gateway_amount),
        (Some(usd(4_900)), Some(usd(4_000)))
    );
}

#[test]
fn refunds_are_matched_by_their_own_keys() {
    let m = run(
        &[
            tx(Charge, Some("pay-1"), 4_900, true),
            tx(Back, Some("re-2"), 900, true),
            tx(Back, None, 300, true),
            tx(Back, Some("re-3"), 700, true),
        ],
        &[payment(1, "pay-1", 4_900, Succeeded)],
        &[
            refund(1, 1, "re-1", 900, Succeeded),
            refund(2, 1, "re-2", 900, Failed),
            refund(3, 1, "re-3", 800, Succeeded),
        ],
    );
    let mut k = kinds(&m);
    k.sort_by_key(|k| format!("{k:?}"));
    assert_eq!(
        k,
        vec![
            AmountDiffers,
            RefundNotRecorded,
            RefundRecordedFailed,
            RefundRecordedNotDone
        ]
    );
}

#[test]
fn only_what_happened_in_the_period_is_reported_and_long_waits_are_mentioned() {
    let mut before = payment(1, "pay-1", 4_900, Succeeded);
    before.created_at = at(0) - Duration::hours(2);
    let mut waiting = payment(2, "pay-2", 500, Unknown);
    waiting.updated_at = at(23) - Duration::minutes(30);
    let mut old_wait = payment(3, "pay-3", 500, Pending);
    old_wait.updated_at = at(12);
    let mut outside = tx(Charge, Some("pay-x"), 100, true);
    outside.created_at = at(24);
    let m = run(&[outside], &[before, waiting, old_wait], &[]);
    assert_eq!(kinds(&m), vec![StillUnknown]);
    assert_eq!(m[0].payment_id, Some(PaymentId(3)));
}

#[test]
fn a_failed_payment_is_recorded_as_taken_only_for_one_charge_of_its_own_amount() {
    // Another amount under its key (typed into the gateway's terminal, say): listed, never recorded.
    let m = run(
        &[tx(Charge, Some("pay-1"), 100, true)],
        &[payment(1, "pay-1", 49_000, Failed)],
        &[],
    );
    assert_eq!(kinds(&m), vec![AmountDiffers]);
    assert!(
        m[0].what_to_do.contains("Nothing was recorded"),
        "{}",
        m[0].what_to_do
    );
    // Two charges under its key: charged twice, never recorded as one.
    let mut second = tx(Charge, Some("pay-1"), 49_000, true);
    second.reference = "t-other".into();
    let m = run(
        &[tx(Charge, Some("pay-1"), 49_000, true), second],
        &[payment(1, "pay-1", 49_000, Failed)],
        &[],
    );
    assert_eq!(kinds(&m), vec![ChargedTwice]);
}

#[test]
fn a_transaction_listed_twice_is_one_and_one_still_moving_is_no_difference_yet() {
    let t = tx(Charge, Some("pay-1"), 4_900, true);
    let m = run(
        &[t.clone(), t],
        &[payment(1, "pay-1", 4_900, Succeeded)],
        &[],
    );
    assert_eq!(m, vec![], "the same reference twice is one charge");
    let mut pending = tx(Back, Some("re-1"), 900, false);
    pending.status = "pending".into();
    let m = run(
        &[tx(Charge, Some("pay-1"), 4_900, true), pending],
        &[payment(1, "pay-1", 4_900, Succeeded)],
        &[refund(1, 1, "re-1", 900, Succeeded)],
    );
    assert_eq!(
        m,
        vec![],
        "a Stripe refund still pending is not a refund that was not done"
    );
}

#[test]
fn a_voided_sale_recorded_paid_says_the_money_went_back() {
    let mut voided = tx(Charge, Some("pay-1"), 4_900, false);
    voided.status = "canceled".into();
    let m = run(&[voided], &[payment(1, "pay-1", 4_900, Succeeded)], &[]);
    assert_eq!(kinds(&m), vec![RecordedNotTaken]);
    assert!(m[0].what_to_do.contains("voided"), "{}", m[0].what_to_do);
}
