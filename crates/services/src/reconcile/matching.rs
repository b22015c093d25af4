//! Matching one gateway's charges and refunds of a period to the ledger: a pure function of what the
//! gateway listed and what ClinicPay recorded, with what to do about each difference.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use clinicpay_domain::{Currency, Gateway, InvoiceId, Money, PatientId, PaymentId, PaymentStatus};
use clinicpay_gateways::{GatewayTransaction, TransactionKind};
use clinicpay_store::payments::Payment;
use clinicpay_store::refunds::Refund;
use serde::{Deserialize, Serialize};

/// A payment or refund waiting for its outcome longer than this is worth mentioning.
pub const LONG_UNKNOWN: Duration = Duration::hours(1);

/// What kind of difference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum MismatchKind {
    /// The gateway took money ClinicPay has no payment for.
    TakenNotRecorded,
    /// The gateway took money for a payment ClinicPay recorded as failed.
    TakenRecordedFailed,
    /// ClinicPay shows a payment paid that the gateway did not take.
    RecordedNotTaken,
    /// Both have it, for different amounts.
    AmountDiffers,
    /// One invoice was charged twice.
    ChargedTwice,
    /// The gateway paid back money ClinicPay has no refund for.
    RefundNotRecorded,
    /// ClinicPay shows a refund done that the gateway did not do.
    RefundRecordedNotDone,
    /// The gateway did a refund ClinicPay recorded as failed.
    RefundRecordedFailed,
    /// A payment or refund still waits for its outcome.
    StillUnknown,
}

/// One difference between a gateway and the ledger, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Mismatch {
    pub kind: MismatchKind,
    pub gateway: Gateway,
    pub payment_id: Option<PaymentId>,
    #[cfg_attr(feature = "specta", specta(type = Option<i32>))]
    pub refund_id: Option<i64>,
    pub invoice_id: Option<InvoiceId>,
    pub patient_id: Option<PatientId>,
    /// The gateway's id for it, when the gateway has it.
    pub gateway_reference: Option<String>,
    pub gateway_amount: Option<Money>,
    pub ledger_amount: Option<Money>,
    /// The gateway's word for its state.
    pub gateway_status: Option<String>,
    pub ledger_status: Option<PaymentStatus>,
    pub at: DateTime<Utc>,
    pub what_to_do: String,
    /// ClinicPay corrected its own record from the gateway's (money taken or paid back that it had
    /// recorded as failed); the difference is listed so billing knows.
    pub recorded_now: bool,
}

/// What is matched: one gateway's transactions and the ledger around the period.
pub struct Inputs<'a> {
    pub gateway: Gateway,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub now: DateTime<Utc>,
    pub currency: Currency,
    pub transactions: &'a [GatewayTransaction],
    /// The gateway's payments around the period, and any others whose keys the gateway listed.
    pub payments: &'a [Payment],
    pub refunds: &'a [Refund],
}

/// Every difference, oldest first.
pub fn mismatches(i: &Inputs) -> Vec<Mismatch> {
    let g = i.gateway;
    let in_period = |t: DateTime<Utc>| t >= i.from && t < i.to;
    let money = |minor: i64, t: &GatewayTransaction| {
        let currency = t
            .currency
            .as_deref()
            .and_then(|c| c.parse().ok())
            .unwrap_or(i.currency);
        Money::from_minor(minor, currency)
    };
    // One entry per gateway reference: a listing can repeat a transaction that moved while it was read.
    let mut listed = HashSet::new();
    let transactions: Vec<&GatewayTransaction> = i
        .transactions
        .iter()
        .filter(|t| listed.insert((t.kind, t.reference.as_str())))
        .collect();
    let mut by_key: HashMap<(&str, TransactionKind), Vec<&GatewayTransaction>> = HashMap::new();
    for t in &transactions {
        if let Some(k) = &t.our_key {
            by_key.entry((k.as_str(), t.kind)).or_default().push(t);
        }
    }
    // The same amount in the same currency (a gateway that does not say its currency is taken at its word).
    let same = |t: &GatewayTransaction, m: Money| {
        t.amount_minor == m.minor
            && t.currency
                .as_deref()
                .is_none_or(|c| c.eq_ignore_ascii_case(m.currency.code()))
    };
    // Still moving at the gateway (a Stripe refund `pending`, a PaymentIntent `processing`): not a
    // difference yet.
    let in_flight = |t: &GatewayTransaction| {
        matches!(
            t.status.as_str(),
            "pending" | "processing" | "requires_action" | "in_progress"
        )
    };
    let taken = |key: &str, kind| -> Vec<&GatewayTransaction> {
        by_key
            .get(&(key, kind))
            .map(|ts| ts.iter().copied().filter(|t| t.taken).collect())
            .unwrap_or_default()
    };
    let seen = |key: &str, kind| by_key.get(&(key, kind)).and_then(|ts| ts.last().copied());
    let mut out = Vec::new();
    let blank = |kind, at, what_to_do: String| Mismatch {
        kind,
        gateway: g,
        payment_id: None,
        refund_id: None,
        invoice_id: None,
        patient_id: None,
        gateway_reference: None,
        gateway_amount: None,
        ledger_amount: None,
        gateway_status: None,
        ledger_status: None,
        at,
        what_to_do,
        recorded_now: false,
    };

    let payment_keys: HashSet<&str> = i
        .payments
        .iter()
        .map(|p| p.idempotency_key.as_str())
        .collect();
    for p in i.payments.iter().filter(|p| in_period(p.created_at)) {
        let took = taken(&p.idempotency_key, TransactionKind::Charge);
        let listed = seen(&p.idempotency_key, TransactionKind::Charge);
        let of_payment = |kind, what: String| Mismatch {
            payment_id: Some(p.id),
            invoice_id: p.invoice_id,
            patient_id: Some(p.patient_id),
            ledger_amount: Some(p.amount),
            ledger_status: Some(p.status),
            gateway_reference: took
                .first()
                .or(listed.as_ref())
                .map(|t| t.reference.clone()),
            gateway_amount: took.first().map(|t| money(t.amount_minor, t)),
            gateway_status: listed.map(|t| t.status.clone()),
            ..blank(kind, p.created_at, what)
        };
        match p.status {
            PaymentStatus::Succeeded if took.is_empty() && listed.is_some_and(in_flight) => {}
            PaymentStatus::Succeeded if took.is_empty() && listed.is_some_and(|t| t.status == "canceled") => {
                out.push(of_payment(
                    MismatchKind::RecordedNotTaken,
                    format!(
                        "{g} shows payment {} ({}) voided: the money was released to the patient. ClinicPay still shows it paid. Do not refund it; the patient owes {} again: ask billing to collect it as a new invoice, and note why.",
                        p.id, p.amount, p.amount
                    ),
                ))
            }
            PaymentStatus::Succeeded if took.is_empty() => out.push(of_payment(
                MismatchKind::RecordedNotTaken,
                format!(
                    "ClinicPay shows payment {} ({}) paid, but {g} has no charge taken for it{}. Do not refund it in ClinicPay: ask {g} support. If they confirm nothing was taken, the patient still owes it: ask billing to collect it as a new invoice.",
                    p.id,
                    p.amount,
                    listed.map(|t| format!(" (its record says {})", t.status)).unwrap_or_default()
                ),
            )),
            PaymentStatus::Succeeded | PaymentStatus::Failed if took.len() > 1 => out.push(of_payment(
                MismatchKind::ChargedTwice,
                format!(
                    "{g} took payment {} {} times ({}); ClinicPay recorded {}. Keep that one, refund the others in the {g} dashboard and note it on the patient.",
                    p.id,
                    took.len(),
                    took.iter().map(|t| t.reference.as_str()).collect::<Vec<_>>().join(", "),
                    p.gateway_reference.as_deref().unwrap_or(if p.status == PaymentStatus::Failed { "none (it shows it failed)" } else { "no reference" })
                ),
            )),
            PaymentStatus::Failed if !took.is_empty() && !same(took[0], p.amount) => out.push(of_payment(
                MismatchKind::AmountDiffers,
                format!(
                    "{g} took {} under payment {}'s key, which ClinicPay recorded as a failed payment of {}. Nothing was recorded: check it in the {g} dashboard before anything else.",
                    money(took[0].amount_minor, took[0]),
                    p.id,
                    p.amount
                ),
            )),
            PaymentStatus::Succeeded if !same(took[0], p.amount) => out.push(of_payment(
                MismatchKind::AmountDiffers,
                format!(
                    "Payment {}: ClinicPay recorded {}, {g} took {}. Check it in the {g} dashboard, then refund the difference or collect it.",
                    p.id,
                    p.amount,
                    money(took[0].amount_minor, took[0])
                ),
            )),
            PaymentStatus::Failed if !took.is_empty() => out.push(of_payment(
                MismatchKind::TakenRecordedFailed,
                format!(
                    "{g} took {} for payment {}, which ClinicPay had recorded as failed: it is recorded as paid now. If the invoice was paid again, refund the duplicate from the patient's Payments tab.",
                    money(took[0].amount_minor, took[0]),
                    p.id
                ),
            )),
            PaymentStatus::Pending | PaymentStatus::Unknown if i.now - p.updated_at > LONG_UNKNOWN => {
                out.push(of_payment(
                    MismatchKind::StillUnknown,
                    format!(
                        "Payment {} has waited for its outcome since {}: ClinicPay's worker settles it by asking {g}. If it stays, check that the worker is running and has {g}'s key.",
                        p.id,
                        p.updated_at.format("%Y-%m-%d %H:%M UTC")
                    ),
                ))
            }
            _ => {}
        }
    }
    for t in transactions
        .iter()
        .filter(|t| t.kind == TransactionKind::Charge && t.taken && in_period(t.created_at))
    {
        let known = t
            .our_key
            .as_deref()
            .is_some_and(|k| payment_keys.contains(k));
        if !known {
            out.push(Mismatch {
                gateway_reference: Some(t.reference.clone()),
                gateway_amount: Some(money(t.amount_minor, t)),
                gateway_status: Some(t.status.clone()),
                ..blank(
                    MismatchKind::TakenNotRecorded,
                    t.created_at,
                    format!(
                        "{g} took {} ({}) and ClinicPay has no payment for it{}. Find who took it in the {g} dashboard; if it was a mistake, refund it there and note it on the patient.",
                        money(t.amount_minor, t),
                        t.reference,
                        if t.our_key.is_none() { ", made outside ClinicPay" } else { "" }
                    ),
                )
            });
        }
    }

    let refund_keys: HashSet<&str> = i
        .refunds
        .iter()
        .map(|r| r.idempotency_key.as_str())
        .collect();
    let patient_of: HashMap<PaymentId, (PatientId, Option<InvoiceId>)> = i
        .payments
        .iter()
        .map(|p| (p.id, (p.patient_id, p.invoice_id)))
        .collect();
    for r in i.refunds.iter().filter(|r| in_period(r.created_at)) {
        let paid_back = taken(&r.idempotency_key, TransactionKind::Refund);
        let listed = seen(&r.idempotency_key, TransactionKind::Refund);
        let of_refund = |kind, what: String| Mismatch {
            payment_id: Some(r.payment_id),
            refund_id: Some(r.id),
            patient_id: patient_of.get(&r.payment_id).map(|p| p.0),
            invoice_id: patient_of.get(&r.payment_id).and_then(|p| p.1),
            ledger_amount: Some(r.amount),
            ledger_status: Some(r.status),
            gateway_reference: paid_back
                .first()
                .or(listed.as_ref())
                .map(|t| t.reference.clone()),
            gateway_amount: paid_back.first().map(|t| money(t.amount_minor, t)),
            gateway_status: listed.map(|t| t.status.clone()),
            ..blank(kind, r.created_at, what)
        };
        match r.status {
            PaymentStatus::Succeeded if paid_back.is_empty() && listed.is_some_and(in_flight) => {}
            PaymentStatus::Succeeded if paid_back.is_empty() => out.push(of_refund(
                MismatchKind::RefundRecordedNotDone,
                format!(
                    "ClinicPay shows refund {} ({}) of payment {} paid back, but {g} has no such refund. Ask {g} support before refunding again.",
                    r.id, r.amount, r.payment_id
                ),
            )),
            PaymentStatus::Succeeded if !same(paid_back[0], r.amount) => out.push(of_refund(
                MismatchKind::AmountDiffers,
                format!(
                    "Refund {}: ClinicPay recorded {}, {g} paid back {}. Check it in the {g} dashboard.",
                    r.id,
                    r.amount,
                    money(paid_back[0].amount_minor, paid_back[0])
                ),
            )),
            PaymentStatus::Failed
                if paid_back.len() == 1 && !same(paid_back[0], r.amount) =>
            {
                out.push(of_refund(
                    MismatchKind::AmountDiffers,
                    format!(
                        "{g} paid back {} under refund {}'s key, which ClinicPay recorded as a failed refund of {}. Nothing was recorded: check it in the {g} dashboard.",
                        money(paid_back[0].amount_minor, paid_back[0]),
                        r.id,
                        r.amount
                    ),
                ))
            }
            PaymentStatus::Failed if paid_back.len() == 1 => out.push(of_refund(
                MismatchKind::RefundRecordedFailed,
                format!(
                    "{g} paid back refund {} ({}) that ClinicPay had recorded as failed: it is recorded as done now. Do not refund it again.",
                    r.id, r.amount
                ),
            )),
            PaymentStatus::Pending | PaymentStatus::Unknown if i.now - r.created_at > LONG_UNKNOWN => {
                out.push(of_refund(
                    MismatchKind::StillUnknown,
                    format!(
                        "Refund {} has waited for its outcome since {}: ClinicPay's worker settles it by asking {g}. If it stays, check that the worker is running.",
                        r.id,
                        r.created_at.format("%Y-%m-%d %H:%M UTC")
                    ),
                ))
            }
            _ => {}
        }
    }
    for t in transactions
        .iter()
        .filter(|t| t.kind == TransactionKind::Refund && t.taken && in_period(t.created_at))
    {
        if !t
            .our_key
            .as_deref()
            .is_some_and(|k| refund_keys.contains(k))
        {
            out.push(Mismatch {
                gateway_reference: Some(t.reference.clone()),
                gateway_amount: Some(money(t.amount_minor, t)),
                gateway_status: Some(t.status.clone()),
                ..blank(
                    MismatchKind::RefundNotRecorded,
                    t.created_at,
                    format!(
                        "{g} paid back {} ({}) with no refund in ClinicPay (made in the {g} dashboard?). Note it on the patient's account so the two agree.",
                        money(t.amount_minor, t),
                        t.reference
                    ),
                )
            });
        }
    }
    out.sort_by_key(|m| m.at);
    out
}

#[cfg(test)]
mod tests;
