//! Document 003's fourteen checks, each a function of the facts about one patient (and order): what
//! was found, how urgent, what to do next, and the one action the window can take.
//! Long because there are fourteen checks and each holds its own words for every case; splitting them
//! further would scatter document 003's one list.

use clinicpay_domain::{InvoiceStatus, PaymentStatus, RecoveryStatus, SubscriptionStatus};

use super::facts::{Check, CheckAction, CheckLevel, Facts, RECENT_DAYS};

/// A default expiring this soon is worth mentioning.
pub(super) const EXPIRY_WARNING_DAYS: i32 = 30;

/// Document 003's list, in its order.
pub(super) fn checks(f: &Facts) -> Vec<Check> {
    vec![
        active_organization_gateway(f),
        saved_payment_methods(f),
        method_gateway(f),
        default_method(f),
        card_expiry(f),
        expiry_reminders(f),
        latest_invoice_status(f),
        latest_payment_status(f),
        processor_gateway_error(f),
        order_source_context(f),
        subscription_status(f),
        recovery_status(f),
        recently_re_saved_card(f),
        locked_gateway(f),
    ]
}

fn check(
    name: &str,
    level: CheckLevel,
    finding: String,
    next: Option<&str>,
    action: Option<CheckAction>,
) -> Check {
    Check {
        name: name.into(),
        level,
        finding,
        next_step: next.map(str::to_owned),
        action,
    }
}

/// Document 003: "Active organization gateway".
fn active_organization_gateway(f: &Facts) -> Check {
    use CheckLevel::*;
    let active = f.active;
    check(
        "Active organization gateway",
        Ok,
        format!("The clinic takes new cards and payments through {active}."),
        None,
        None,
    )
}

/// Document 003: "Saved payment methods".
fn saved_payment_methods(f: &Facts) -> Check {
    use CheckAction::*;
    use CheckLevel::*;

    if f.cards.is_empty() {
        check(
            "Saved payment methods",
            ActionNeeded,
            "The patient has no saved card.".into(),
            Some("Add a card with the patient."),
            Some(AddCard),
        )
    } else {
        check(
            "Saved payment methods",
            Ok,
            format!(
                "{} saved card{}.",
                f.cards.len(),
                if f.cards.len() == 1 { "" } else { "s" }
            ),
            None,
            None,
        )
    }
}

/// Document 003: "Method gateway".
fn method_gateway(f: &Facts) -> Check {
    use CheckAction::*;
    use CheckLevel::*;
    let active = f.active;
    let resave = format!("Ask the patient to re-save the card for {active}.");

    let other = active.other();
    let on_active = f.cards.iter().filter(|c| c.gateway == active).count();
    if f.cards.is_empty() {
        check(
            "Method gateway",
            Attention,
            "No card to check.".into(),
            None,
            None,
        )
    } else if on_active == 0 {
        check(
            "Method gateway",
            ActionNeeded,
            format!(
                "Gateway mismatch: every saved card is on {other}, but the clinic now takes cards through {active}. No compatible payment method exists."
            ),
            Some(&resave),
            Some(AddCard),
        )
    } else if f.compatible().next().is_none() {
        check(
            "Method gateway",
            ActionNeeded,
            format!("The patient's {active} cards have all expired."),
            Some("Add a new card with the patient."),
            Some(AddCard),
        )
    } else if on_active < f.cards.len() {
        check(
            "Method gateway",
            Attention,
            format!(
                "{on_active} of {} cards {} on {active}; the others are on {other} and cannot be charged now.",
                f.cards.len(),
                if on_active == 1 { "is" } else { "are" }
            ),
            None,
            None,
        )
    } else {
        check(
            "Method gateway",
            Ok,
            format!("Every saved card is on {active}."),
            None,
            None,
        )
    }
}

/// Document 003: "Default method".
fn default_method(f: &Facts) -> Check {
    use CheckAction::*;
    use CheckLevel::*;
    let active = f.active;
    let resave = format!("Ask the patient to re-save the card for {active}.");
    match f.default_card() {
        None if f.cards.is_empty() => check(
            "Default method",
            Attention,
            "No default card.".into(),
            None,
            None,
        ),
        None => check(
            "Default method",
            ActionNeeded,
            "No card is the default, so automatic billing has nothing to charge.".into(),
            Some("Set a default card."),
            Some(ChooseDefault),
        ),
        Some(d) if d.gateway != active => {
            let compatible = f.compatible().next();
            check(
                "Default method",
                ActionNeeded,
                format!(
                    "Gateway mismatch: the default {} is on {}, but the clinic takes cards through {active}.",
                    d.description, d.gateway
                ),
                Some(if compatible.is_some() {
                    "Set a card saved for the active gateway as the default."
                } else {
                    resave.as_str()
                }),
                Some(if compatible.is_some() { ChooseDefault } else { AddCard }),
            )
        }
        Some(d) => check(
            "Default method",
            Ok,
            format!("{} is the default.", d.description),
            None,
            None,
        ),
    }
}

/// Document 003: "Card expiry".
fn card_expiry(f: &Facts) -> Check {
    use CheckAction::*;
    use CheckLevel::*;
    match f.default_card() {
        Some(d) if d.expired => check(
            "Card expiry",
            ActionNeeded,
            format!("The default {} expired ({}).", d.description, d.expiry),
            Some("Add the patient's new card and make it the default."),
            Some(AddCard),
        ),
        Some(d) if d.days_until_expiry <= EXPIRY_WARNING_DAYS => check(
            "Card expiry",
            Attention,
            format!(
                "The default {} expires in {} days ({}).",
                d.description, d.days_until_expiry, d.expiry
            ),
            Some("Ask the patient for the new card when they next call."),
            Some(AddCard),
        ),
        Some(d) => check(
            "Card expiry",
            Ok,
            format!("The default card is valid until {}.", d.expiry),
            None,
            None,
        ),
        None => check(
            "Card expiry",
            Attention,
            "No default card to check.".into(),
            None,
            None,
        ),
    }
}

/// Document 003, "Expiring Card Reminders": "whether reminder settings are enabled".
fn expiry_reminders(f: &Facts) -> Check {
    use CheckLevel::*;
    let r = &f.reminders;
    let when = r
        .thresholds
        .iter()
        .map(|d| match d {
            0 => "at expiry".to_owned(),
            d => format!("{d} days before"),
        })
        .collect::<Vec<_>>()
        .join(", ");
    match (r.enabled, r.mail_server) {
        (false, _) => check(
            "Expiry reminders",
            Attention,
            "Expiry reminders are off: patients are not emailed before their cards expire.".into(),
            Some("Remind the patient yourself; a billing manager can turn reminders on in Settings (reminders.enabled)."),
            None,
        ),
        (true, false) => check(
            "Expiry reminders",
            Attention,
            "Expiry reminders are on, but no mail server is set, so none can be sent.".into(),
            Some("Tell IT: the mail server (smtp.host) is not set."),
            None,
        ),
        (true, true) => check(
            "Expiry reminders",
            Ok,
            format!("Expiry reminders are on: patients are emailed {when} a card expires."),
            None,
            None,
        ),
    }
}

/// Document 003: "Latest invoice status".
fn latest_invoice_status(f: &Facts) -> Check {
    use CheckAction::*;
    use CheckLevel::*;
    match &f.invoice {
        None => check(
            "Latest invoice status",
            Ok,
            "No invoices.".into(),
            None,
            None,
        ),
        Some(i) if i.status == InvoiceStatus::Open => check(
            "Latest invoice status",
            Attention,
            format!("Invoice {} for {} is open (unpaid).", i.id, i.amount),
            Some("Take the payment, or check why it failed."),
            Some(OpenInvoices),
        ),
        Some(i) => check(
            "Latest invoice status",
            Ok,
            format!(
                "Invoice {} for {} is {}.",
                i.id,
                i.amount,
                words(i.status.as_str())
            ),
            None,
            None,
        ),
    }
}

/// Document 003: "Latest payment status".
fn latest_payment_status(f: &Facts) -> Check {
    use CheckAction::*;
    use CheckLevel::*;
    // Money taken twice outranks whatever the latest payment says.
    if let Some(d) = f.charged_twice.first() {
        return check(
            "Latest payment status",
            ActionNeeded,
            format!(
                "Invoice {} was charged twice: payment {} ({} on {}) was taken after payment {} had already paid it.",
                d.invoice_id.map_or_else(|| "?".into(), |i| i.to_string()),
                d.id,
                d.amount,
                d.gateway,
                d.duplicate_of.map_or_else(|| "?".into(), |p| p.to_string()),
            ),
            Some("Refund the duplicate charge from the Payments tab and tell the patient."),
            Some(OpenPayments),
        );
    }
    match &f.latest_payment {
        None => check("Latest payment status", Ok, "No payments yet.".into(), None, None),
        Some(p) => match p.status {
            PaymentStatus::Succeeded => check(
                "Latest payment status",
                Ok,
                format!("{} on {} succeeded.", p.amount, p.gateway),
                None,
                None,
            ),
            PaymentStatus::Failed => check(
                "Latest payment status",
                ActionNeeded,
                format!("{} on {} failed.", p.amount, p.gateway),
                Some("Read the gateway's message below before advising the patient."),
                Some(OpenPayments),
            ),
            PaymentStatus::Pending | PaymentStatus::Unknown => check(
                "Latest payment status",
                Attention,
                format!(
                    "{} on {} is waiting for the gateway's answer; ClinicPay settles it by asking the gateway, never by charging again.",
                    p.amount, p.gateway
                ),
                Some("Do not take the payment again; check back in a few minutes."),
                Some(OpenPayments),
            ),
        },
    }
}

/// Document 003: "Processor/gateway error".
fn processor_gateway_error(f: &Facts) -> Check {
    use CheckAction::*;
    use CheckLevel::*;

    let gateway_message = f
        .latest_payment
        .as_ref()
        .filter(|p| p.status == PaymentStatus::Failed)
        .and_then(|p| {
            p.decline_message.clone().map(|m| match &p.decline_code {
                Some(code) => format!("{} said: \"{m}\" ({code}).", p.gateway),
                None => format!("{} said: \"{m}\".", p.gateway),
            })
        });
    match gateway_message {
        Some(m) => check(
            "Processor/gateway error",
            ActionNeeded,
            m,
            Some("Tell the patient in plain words; escalate if the message is unclear."),
            Some(Escalate),
        ),
        None => check(
            "Processor/gateway error",
            Ok,
            "No gateway error on the latest payment.".into(),
            None,
            None,
        ),
    }
}

/// Document 003: "Order source/context".
fn order_source_context(f: &Facts) -> Check {
    use CheckAction::*;
    use CheckLevel::*;
    match &f.order {
        Some(o) => check(
            "Order source/context",
            Ok,
            format!(
                "Order {} is a {} for {}{}.",
                o.id,
                words(o.kind.as_str()),
                o.amount,
                o.locked_gateway
                    .map(|g| format!(", locked to {g}"))
                    .unwrap_or_default()
            ),
            None,
            Some(OpenOrders),
        ),
        None => check(
            "Order source/context",
            Ok,
            "Open an order to see its source.".into(),
            None,
            Some(OpenOrders),
        ),
    }
}

/// Document 003: "Subscription status".
fn subscription_status(f: &Facts) -> Check {
    use CheckAction::*;
    use CheckLevel::*;
    match &f.subscription {
        None => check(
            "Subscription status",
            Ok,
            "No subscription.".into(),
            None,
            None,
        ),
        Some(s) => match s.status {
            SubscriptionStatus::Active => check(
                "Subscription status",
                Ok,
                format!("{} ({}) is active.", s.plan, s.amount),
                None,
                None,
            ),
            SubscriptionStatus::Cancelled => check(
                "Subscription status",
                Ok,
                format!("{} was cancelled.", s.plan),
                None,
                None,
            ),
            status => {
                let paid_but_paused = f.invoice.as_ref().is_some_and(|i| {
                    i.status == InvoiceStatus::Paid
                        && f.recovery
                            .as_ref()
                            .is_some_and(|r| r.recovery_status == Some(RecoveryStatus::Resolved))
                });
                check(
                    "Subscription status",
                    ActionNeeded,
                    format!("{} is {}.", s.plan, words(status.as_str())),
                    Some(if paid_but_paused {
                        "The invoice is paid but the subscription is still paused: escalate."
                    } else {
                        "It resumes when the recovery payment succeeds."
                    }),
                    Some(if paid_but_paused {
                        Escalate
                    } else {
                        OpenOrders
                    }),
                )
            }
        },
    }
}

/// Document 003: "Recovery status".
fn recovery_status(f: &Facts) -> Check {
    use CheckAction::*;
    use CheckLevel::*;
    match &f.recovery {
        None => check(
            "Recovery status",
            Ok,
            "No payment recovery.".into(),
            None,
            None,
        ),
        Some(o) => match o.recovery_status {
            Some(RecoveryStatus::NeedsPaymentMethod) => {
                // The same routing the billing engine charges by says which gateway needs the card.
                let next = f.next_charge.as_ref().filter(|n| n.order_id == o.id);
                let needs = next.and_then(|n| n.needs_card_for).unwrap_or(f.active);
                // Document 003's escalation case: a compatible card saved since recovery began, yet
                // recovery still asks for one (the retry after the save did not run). A card on file
                // before (often the one declined) is not it.
                let _ = next;
                let chargeable = f
                    .compatible()
                    .any(|c| o.first_failed_at.is_some_and(|first| c.added_at > first));
                let resave = format!("Ask the patient to save a card for {needs}.");
                check(
                    "Recovery status",
                    ActionNeeded,
                    format!(
                        "Order {} needs a payment method for {needs}{}.",
                        o.id,
                        o.last_message
                            .as_ref()
                            .map(|m| format!(": {m}"))
                            .unwrap_or_default()
                    ),
                    Some(if chargeable {
                        "The patient has a card the next charge can use but recovery says none exists: escalate."
                    } else {
                        resave.as_str()
                    }),
                    Some(if chargeable { Escalate } else { AddCard }),
                )
            }
            Some(RecoveryStatus::RetryScheduled) => check(
                "Recovery status",
                Attention,
                format!(
                    "Order {} will be retried{} (attempt {} so far).",
                    o.id,
                    o.next_retry_at
                        .map(|t| format!(" on {}", t.format("%d %b %Y")))
                        .unwrap_or_default(),
                    o.attempts
                ),
                Some("Retry now if the patient has just fixed the card."),
                Some(OpenOrders),
            ),
            Some(RecoveryStatus::FailedFinal) => check(
                "Recovery status",
                ActionNeeded,
                format!("Recovery of order {} ended unpaid (FAILED_FINAL).", o.id),
                Some("Escalate to billing."),
                Some(Escalate),
            ),
            Some(RecoveryStatus::Resolved) | None => check(
                "Recovery status",
                Ok,
                format!("Order {} is resolved.", o.id),
                None,
                None,
            ),
        },
    }
}

/// Document 003: "Recently re-saved card".
fn recently_re_saved_card(f: &Facts) -> Check {
    use CheckAction::*;
    use CheckLevel::*;
    let active = f.active;
    match (f.resaved_recently(), &f.recovery) {
        (Some(c), Some(o)) if o.recovery_status.is_some_and(RecoveryStatus::is_open) => check(
            "Recently re-saved card",
            ActionNeeded,
            format!(
                "{} was saved on {} but order {} is still in recovery.",
                c.description,
                c.added_at.format("%d %b %Y"),
                o.id
            ),
            Some("Retry the order; if it still fails, escalate (recovery did not run after the card update)."),
            Some(OpenOrders),
        ),
        (Some(c), _) => check(
            "Recently re-saved card",
            Ok,
            format!("{} was saved on {}.", c.description, c.added_at.format("%d %b %Y")),
            None,
            None,
        ),
        (None, _) => check(
            "Recently re-saved card",
            Ok,
            format!("No card saved for {active} in the last {RECENT_DAYS} days."),
            None,
            None,
        ),
    }
}

/// Document 003: "Locked gateway". A lock holds while the patient has a usable card on the locked
/// gateway; the next charge's routing says where it goes now and why.
fn locked_gateway(f: &Facts) -> Check {
    use CheckLevel::*;
    let active = f.active;
    let locked = f
        .subscription
        .as_ref()
        .and_then(|s| s.locked_gateway)
        .or(f.order.as_ref().and_then(|o| o.locked_gateway));
    let what = if f.subscription.is_some() {
        "subscription"
    } else {
        "order"
    };
    if let Some(next) = &f.next_charge {
        return match (next.gateway, next.needs_card_for) {
            (Some(g), _) => check(
                "Locked gateway",
                if g == active { Ok } else { Attention },
                next.explanation.clone(),
                None,
                None,
            ),
            (None, Some(needs)) => check(
                "Locked gateway",
                Attention,
                next.explanation.clone(),
                Some(&format!("Ask the patient to save a card for {needs}.")),
                None,
            ),
            (None, None) => check(
                "Locked gateway",
                Attention,
                next.explanation.clone(),
                Some("Tell IT: the gateway key on this computer needs fixing."),
                None,
            ),
        };
    }
    match locked {
        Some(g) if g != active => check(
            "Locked gateway",
            Attention,
            format!(
                "This {what} is locked to {g}, while the clinic now takes cards through {active}: its charges go to {g} while the patient has a usable {g} card, and to {active} after that."
            ),
            None,
            None,
        ),
        Some(g) => check(
            "Locked gateway",
            Ok,
            format!("Locked to {g}, the active gateway."),
            None,
            None,
        ),
        None => check("Locked gateway", Ok, "No gateway lock.".into(), None, None),
    }
}

/// "SUBSCRIPTION_CYCLE" → "subscription cycle".
fn words(status: &str) -> String {
    status.replace('_', " ").to_lowercase()
}

#[cfg(test)]
mod tests;
