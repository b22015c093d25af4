use chrono::{DateTime, Duration, TimeZone, Utc};
use clinicpay_domain::{
    BillingInterval, Currency, Gateway, InvoiceId, InvoiceStatus, Money, OrderId, OrderKind,
    OrderStatus, PatientId, PatientType, PaymentId, PaymentMethodId, PaymentStatus, RecoveryStatus,
    SubscriptionId, SubscriptionStatus,
};
use clinicpay_store::invoices::Invoice;
use clinicpay_store::orders::Order;
use clinicpay_store::payments::Payment;
use clinicpay_store::subscriptions::Subscription;
use CheckLevel::*;

use super::super::facts::{RemindersFacts, RECENT_DAYS};
use super::*;
use crate::cards::CardView;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 30, 10, 0, 0).unwrap()
}

fn usd(minor: i64) -> Money {
    Money::from_minor(minor, Currency::USD)
}

fn facts(active: Gateway) -> Facts {
    Facts {
        active,
        reminders: RemindersFacts {
            enabled: true,
            thresholds: vec![60, 30, 7, 0],
            mail_server: true,
        },
        patient: clinicpay_domain::Patient {
            id: PatientId(7),
            name: "Ann Lee".into(),
            email: "ann@example.com".into(),
            phone: None,
            patient_type: PatientType::Individual,
            created_at: now() - Duration::days(400),
        },
        cards: Vec::new(),
        order: None,
        invoice: None,
        latest_payment: None,
        charged_twice: Vec::new(),
        subscription: None,
        recovery: None,
        next_charge: None,
        log_ref: None,
        recent: Duration::days(RECENT_DAYS),
        now: now(),
    }
}

fn card(id: i64, gateway: Gateway, default: bool, days_until_expiry: i32) -> CardView {
    CardView {
        last_verification: None,
        renewed_by_network_at: None,
        id: PaymentMethodId(id),
        patient_id: PatientId(7),
        gateway,
        brand: "Visa".into(),
        last4: format!("{:04}", 4240 + id),
        description: format!("Visa ending in {:04}", 4240 + id),
        expiry: "12/2027".into(),
        exp_month: 12,
        exp_year: 2027,
        days_until_expiry,
        expired: days_until_expiry < 0,
        cardholder_name: "Ann Lee".into(),
        nickname: None,
        country: None,
        is_default: default,
        added_at: now() - Duration::days(200),
        details_missing: false,
        chargeable: false,
        preselected: false,
    }
}

fn invoice(status: InvoiceStatus) -> Invoice {
    Invoice {
        id: InvoiceId(31),
        patient_id: PatientId(7),
        order_id: None,
        description: "Visit".into(),
        amount: usd(4_900),
        status,
        created_at: now() - Duration::days(2),
        paid_at: None,
    }
}

fn payment(status: PaymentStatus, decline: Option<(&str, &str)>) -> Payment {
    Payment {
        id: PaymentId(41),
        patient_id: PatientId(7),
        invoice_id: Some(InvoiceId(31)),
        order_id: None,
        payment_method_id: Some(PaymentMethodId(1)),
        gateway: Gateway::Nmi,
        amount: usd(4_900),
        status,
        idempotency_key: "pay-1".into(),
        gateway_reference: None,
        decline_code: decline.map(|(c, _)| c.to_owned()),
        decline_message: decline.map(|(_, m)| m.to_owned()),
        created_by: None,
        created_at: now() - Duration::days(1),
        updated_at: now() - Duration::days(1),
        duplicate_of: None,
    }
}

fn order(recovery: Option<RecoveryStatus>, locked: Option<Gateway>) -> Order {
    Order {
        id: OrderId(51),
        patient_id: PatientId(7),
        subscription_id: Some(SubscriptionId(61)),
        kind: OrderKind::SubscriptionCycle,
        status: OrderStatus::AwaitingPayment,
        description: "Wellness".into(),
        amount: usd(4_900),
        cycle_start_at: Some(now() - Duration::days(3)),
        locked_gateway: locked,
        recovery_status: recovery,
        next_retry_at: None,
        attempts: 1,
        first_failed_at: Some(now() - Duration::days(3)),
        last_message: Some("Do not honor".into()),
        created_at: now() - Duration::days(3),
        updated_at: now() - Duration::days(3),
    }
}

fn subscription(status: SubscriptionStatus, locked: Option<Gateway>) -> Subscription {
    Subscription {
        id: SubscriptionId(61),
        patient_id: PatientId(7),
        plan: "Wellness".into(),
        amount: usd(4_900),
        interval: BillingInterval::Month,
        status,
        next_cycle_at: now() + Duration::days(27),
        locked_gateway: locked,
        created_at: now() - Duration::days(90),
        updated_at: now() - Duration::days(3),
    }
}

fn says(c: &Check, level: CheckLevel, action: Option<CheckAction>, finding: &str) {
    assert_eq!(c.level, level, "{c:?}");
    assert_eq!(c.action, action, "{c:?}");
    assert!(
        c.finding.contains(finding),
        "{:?} should say {finding:?}",
        c.finding
    );
}

#[test]
fn the_checks_come_in_document_003s_order_one_each() {
    let names: Vec<String> = checks(&facts(Gateway::Nmi))
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(
        names,
        [
            "Active organization gateway",
            "Saved payment methods",
            "Method gateway",
            "Default method",
            "Card expiry",
            "Expiry reminders",
            "Latest invoice status",
            "Latest payment status",
            "Processor/gateway error",
            "Order source/context",
            "Subscription status",
            "Recovery status",
            "Recently re-saved card",
            "Locked gateway",
        ]
    );
}

#[test]
fn active_organization_gateway_names_the_gateway() {
    says(
        &active_organization_gateway(&facts(Gateway::Nmi)),
        Ok,
        None,
        "through NMI",
    );
}

#[test]
fn saved_payment_methods_asks_for_a_card_when_there_is_none() {
    let mut f = facts(Gateway::Stripe);
    says(
        &saved_payment_methods(&f),
        ActionNeeded,
        Some(CheckAction::AddCard),
        "no saved card",
    );
    f.cards = vec![
        card(1, Gateway::Stripe, true, 300),
        card(2, Gateway::Nmi, false, 300),
    ];
    says(&saved_payment_methods(&f), Ok, None, "2 saved cards");
}

#[test]
fn method_gateway_finds_the_mismatch_after_a_gateway_switch() {
    let mut f = facts(Gateway::Nmi);
    f.cards = vec![card(1, Gateway::Stripe, true, 300)];
    let c = method_gateway(&f);
    says(
        &c,
        ActionNeeded,
        Some(CheckAction::AddCard),
        "every saved card is on Stripe",
    );
    assert_eq!(
        c.next_step.as_deref(),
        Some("Ask the patient to re-save the card for NMI.")
    );
    f.cards.push(card(2, Gateway::Nmi, false, 300));
    says(
        &method_gateway(&f),
        Attention,
        None,
        "1 of 2 cards is on NMI",
    );
    f.cards = vec![card(2, Gateway::Nmi, true, -3)];
    says(
        &method_gateway(&f),
        ActionNeeded,
        Some(CheckAction::AddCard),
        "have all expired",
    );
    f.cards = vec![card(2, Gateway::Nmi, true, 300)];
    says(&method_gateway(&f), Ok, None, "Every saved card is on NMI");
}

#[test]
fn default_method_wants_a_default_on_the_active_gateway() {
    let mut f = facts(Gateway::Nmi);
    f.cards = vec![card(1, Gateway::Nmi, false, 300)];
    says(
        &default_method(&f),
        ActionNeeded,
        Some(CheckAction::ChooseDefault),
        "No card is the default",
    );
    f.cards = vec![
        card(1, Gateway::Stripe, true, 300),
        card(2, Gateway::Nmi, false, 300),
    ];
    says(
        &default_method(&f),
        ActionNeeded,
        Some(CheckAction::ChooseDefault),
        "Gateway mismatch",
    );
    f.cards = vec![card(1, Gateway::Stripe, true, 300)];
    says(
        &default_method(&f),
        ActionNeeded,
        Some(CheckAction::AddCard),
        "Gateway mismatch",
    );
    f.cards = vec![card(2, Gateway::Nmi, true, 300)];
    says(&default_method(&f), Ok, None, "is the default");
}

#[test]
fn card_expiry_warns_before_and_acts_after_the_default_expires() {
    let mut f = facts(Gateway::Nmi);
    says(&card_expiry(&f), Attention, None, "No default card");
    f.cards = vec![card(1, Gateway::Nmi, true, -1)];
    says(
        &card_expiry(&f),
        ActionNeeded,
        Some(CheckAction::AddCard),
        "expired",
    );
    f.cards = vec![card(1, Gateway::Nmi, true, EXPIRY_WARNING_DAYS)];
    says(
        &card_expiry(&f),
        Attention,
        Some(CheckAction::AddCard),
        "expires in 30 days",
    );
    f.cards = vec![card(1, Gateway::Nmi, true, EXPIRY_WARNING_DAYS + 1)];
    says(&card_expiry(&f), Ok, None, "valid until 12/2027");
}

#[test]
fn latest_invoice_status_points_at_an_open_invoice() {
    let mut f = facts(Gateway::Nmi);
    says(&latest_invoice_status(&f), Ok, None, "No invoices");
    f.invoice = Some(invoice(InvoiceStatus::Open));
    says(
        &latest_invoice_status(&f),
        Attention,
        Some(CheckAction::OpenInvoices),
        "is open (unpaid)",
    );
    f.invoice = Some(invoice(InvoiceStatus::Paid));
    says(&latest_invoice_status(&f), Ok, None, "is paid");
}

#[test]
fn latest_payment_status_never_suggests_charging_an_unknown_payment_again() {
    let mut f = facts(Gateway::Nmi);
    says(&latest_payment_status(&f), Ok, None, "No payments yet");
    f.latest_payment = Some(payment(PaymentStatus::Failed, None));
    says(
        &latest_payment_status(&f),
        ActionNeeded,
        Some(CheckAction::OpenPayments),
        "failed",
    );
    f.latest_payment = Some(payment(PaymentStatus::Unknown, None));
    let c = latest_payment_status(&f);
    says(
        &c,
        Attention,
        Some(CheckAction::OpenPayments),
        "never by charging again",
    );
    assert!(c
        .next_step
        .unwrap()
        .starts_with("Do not take the payment again"));
    f.latest_payment = Some(payment(PaymentStatus::Succeeded, None));
    says(&latest_payment_status(&f), Ok, None, "succeeded");
}

#[test]
fn latest_payment_status_puts_an_invoice_charged_twice_first() {
    let mut f = facts(Gateway::Nmi);
    f.latest_payment = Some(payment(PaymentStatus::Succeeded, None));
    let mut late = payment(PaymentStatus::Succeeded, None);
    late.id = PaymentId(42);
    late.duplicate_of = Some(PaymentId(41));
    f.charged_twice = vec![late];
    let c = latest_payment_status(&f);
    says(
        &c,
        ActionNeeded,
        Some(CheckAction::OpenPayments),
        "Invoice 31 was charged twice: payment 42",
    );
    assert!(c.next_step.unwrap().starts_with("Refund the duplicate"));
}

#[test]
fn processor_gateway_error_quotes_the_gateway_on_a_failed_payment() {
    let mut f = facts(Gateway::Nmi);
    says(&processor_gateway_error(&f), Ok, None, "No gateway error");
    f.latest_payment = Some(payment(PaymentStatus::Failed, Some(("05", "Do Not Honor"))));
    says(
        &processor_gateway_error(&f),
        ActionNeeded,
        Some(CheckAction::Escalate),
        "NMI said: \"Do Not Honor\" (05).",
    );
    f.latest_payment = Some(payment(
        PaymentStatus::Succeeded,
        Some(("05", "Do Not Honor")),
    ));
    says(&processor_gateway_error(&f), Ok, None, "No gateway error");
}

#[test]
fn order_source_context_says_what_the_order_is() {
    let mut f = facts(Gateway::Nmi);
    says(
        &order_source_context(&f),
        Ok,
        Some(CheckAction::OpenOrders),
        "Open an order",
    );
    f.order = Some(order(None, Some(Gateway::Stripe)));
    says(
        &order_source_context(&f),
        Ok,
        Some(CheckAction::OpenOrders),
        "Order 51 is a subscription cycle for $49.00, locked to Stripe.",
    );
}

#[test]
fn subscription_status_escalates_a_paid_but_paused_subscription() {
    let mut f = facts(Gateway::Nmi);
    says(&subscription_status(&f), Ok, None, "No subscription");
    f.subscription = Some(subscription(SubscriptionStatus::Active, None));
    says(&subscription_status(&f), Ok, None, "is active");
    f.subscription = Some(subscription(SubscriptionStatus::Paused, None));
    says(
        &subscription_status(&f),
        ActionNeeded,
        Some(CheckAction::OpenOrders),
        "is paused",
    );
    f.invoice = Some(invoice(InvoiceStatus::Paid));
    f.recovery = Some(order(Some(RecoveryStatus::Resolved), None));
    let c = subscription_status(&f);
    says(&c, ActionNeeded, Some(CheckAction::Escalate), "is paused");
    assert!(c
        .next_step
        .unwrap()
        .contains("invoice is paid but the subscription is still paused"));
}

#[test]
fn recovery_status_escalates_when_a_compatible_card_exists_but_recovery_wants_one() {
    let mut f = facts(Gateway::Nmi);
    says(&recovery_status(&f), Ok, None, "No payment recovery");
    f.recovery = Some(order(Some(RecoveryStatus::NeedsPaymentMethod), None));
    says(
        &recovery_status(&f),
        ActionNeeded,
        Some(CheckAction::AddCard),
        "needs a payment method for NMI",
    );
    // The card on file before recovery began (often the one declined) is not "a compatible card":
    // the patient still needs a new one.
    f.cards = vec![card(1, Gateway::Nmi, true, 300)];
    says(
        &recovery_status(&f),
        ActionNeeded,
        Some(CheckAction::AddCard),
        "needs a payment method",
    );
    // One saved since recovery began, and recovery still asks: the retry did not run, escalate.
    let mut fresh = card(2, Gateway::Nmi, false, 300);
    fresh.added_at = now() - Duration::days(1);
    f.cards.push(fresh);
    says(
        &recovery_status(&f),
        ActionNeeded,
        Some(CheckAction::Escalate),
        "needs a payment method",
    );
    f.recovery = Some(order(Some(RecoveryStatus::RetryScheduled), None));
    says(
        &recovery_status(&f),
        Attention,
        Some(CheckAction::OpenOrders),
        "will be retried",
    );
    f.recovery = Some(order(Some(RecoveryStatus::FailedFinal), None));
    says(
        &recovery_status(&f),
        ActionNeeded,
        Some(CheckAction::Escalate),
        "FAILED_FINAL",
    );
    f.recovery = Some(order(Some(RecoveryStatus::Resolved), None));
    says(&recovery_status(&f), Ok, None, "is resolved");
}

#[test]
fn recently_re_saved_card_flags_a_recovery_that_did_not_run_after_the_update() {
    let mut f = facts(Gateway::Nmi);
    says(
        &recently_re_saved_card(&f),
        Ok,
        None,
        "No card saved for NMI in the last 14 days",
    );
    let mut fresh = card(2, Gateway::Nmi, true, 300);
    fresh.added_at = now() - Duration::days(1);
    f.cards = vec![fresh];
    says(
        &recently_re_saved_card(&f),
        Ok,
        None,
        "was saved on 29 Nov 2026",
    );
    f.recovery = Some(order(Some(RecoveryStatus::RetryScheduled), None));
    says(
        &recently_re_saved_card(&f),
        ActionNeeded,
        Some(CheckAction::OpenOrders),
        "still in recovery",
    );
}

#[test]
fn locked_gateway_says_where_a_locked_charge_goes() {
    let mut f = facts(Gateway::Nmi);
    says(&locked_gateway(&f), Ok, None, "No gateway lock");
    f.subscription = Some(subscription(
        SubscriptionStatus::Active,
        Some(Gateway::Stripe),
    ));
    says(
        &locked_gateway(&f),
        Attention,
        None,
        "This subscription is locked to Stripe",
    );
    f.subscription = Some(subscription(SubscriptionStatus::Active, Some(Gateway::Nmi)));
    f.order = Some(order(None, Some(Gateway::Nmi)));
    says(
        &locked_gateway(&f),
        Ok,
        None,
        "Locked to NMI, the active gateway",
    );
}

#[test]
fn locked_gateway_and_recovery_status_give_one_answer_about_the_next_charge() {
    // Locked to Stripe, the clinic on NMI, no usable card anywhere: both checks ask for an NMI card.
    let mut f = facts(Gateway::Nmi);
    f.subscription = Some(subscription(
        SubscriptionStatus::Paused,
        Some(Gateway::Stripe),
    ));
    let o = order(
        Some(RecoveryStatus::NeedsPaymentMethod),
        Some(Gateway::Stripe),
    );
    f.next_charge = Some(crate::recovery::NextCharge {
        order_id: o.id,
        gateway: None,
        card: None,
        reason: None,
        needs_card_for: Some(Gateway::Nmi),
        explanation: "No NMI payment method found".into(),
    });
    f.recovery = Some(o.clone());
    f.order = Some(o.clone());
    let locked = locked_gateway(&f);
    assert_eq!(
        locked.next_step.as_deref(),
        Some("Ask the patient to save a card for NMI.")
    );
    let recovery = recovery_status(&f);
    says(
        &recovery,
        ActionNeeded,
        Some(CheckAction::AddCard),
        "needs a payment method for NMI",
    );
    assert_eq!(
        recovery.next_step.as_deref(),
        Some("Ask the patient to save a card for NMI.")
    );
    // Once an NMI card is saved the next charge goes there, and the lock check says so.
    f.next_charge = Some(crate::recovery::NextCharge {
        order_id: o.id,
        gateway: Some(Gateway::Nmi),
        card: Some("Visa ending in 1111".into()),
        reason: Some(clinicpay_domain::routing::RouteReason::FollowsClinic),
        needs_card_for: None,
        explanation: "The next charge goes to NMI with Visa ending in 1111".into(),
    });
    says(&locked_gateway(&f), Ok, None, "goes to NMI");
}

#[test]
fn expiry_reminders_says_whether_patients_are_told_before_a_card_expires() {
    let mut f = facts(Gateway::Nmi);
    says(
        &expiry_reminders(&f),
        Ok,
        None,
        "emailed 60 days before, 30 days before, 7 days before, at expiry a card expires",
    );
    f.reminders.mail_server = false;
    says(
        &expiry_reminders(&f),
        Attention,
        None,
        "no mail server is set",
    );
    f.reminders.enabled = false;
    let c = expiry_reminders(&f);
    says(&c, Attention, None, "Expiry reminders are off");
    assert!(c.next_step.unwrap().contains("reminders.enabled"));
}
