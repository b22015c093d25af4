//! What the front desk needs around one patient: the card form for the active gateway, the patient's
//! money records, document 003's "What CS Should Check Before Advising a Patient" computed, and the
//! escalation report with every detail document 003 asks for.

use chrono::Duration;
use clinicpay_domain::{
    Gateway, InvoiceStatus, OrderId, PatientId, PaymentStatus, Permission, RecoveryStatus,
    SubscriptionStatus,
};
use clinicpay_store::ledger::{self, Invoice, Order, Payment, Subscription};
use serde::Serialize;

use crate::cards::CardView;
use crate::{Actor, Result, ServiceError, Services};

/// Where the window loads the active gateway's hosted card fields from.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct CardForm {
    pub gateway: Gateway,
    /// Stripe.js or Collect.js: the gateway's own, or the built-in simulator's in training mode.
    pub script_url: String,
    /// The public key the script takes (Stripe's publishable key, NMI's tokenization key).
    pub public_key: String,
    pub training: bool,
}

pub const STRIPE_JS: &str = "https://js.stripe.com/v3/";
pub const NMI_COLLECT_JS: &str = "https://secure.nmi.com/token/Collect.js";
/// The publishable key the simulator's Stripe.js takes in training mode.
pub const TRAINING_STRIPE_PUBLISHABLE_KEY: &str = "pk_test_clinicpay_training";
pub const TRAINING_NMI_TOKENIZATION_KEY: &str = "clinicpay-training-tokenization-key";

/// A patient's money records, newest first.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct PatientAccount {
    pub invoices: Vec<Invoice>,
    pub orders: Vec<Order>,
    pub payments: Vec<Payment>,
    pub subscriptions: Vec<Subscription>,
}

/// Green, amber or red.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum CheckLevel {
    Ok,
    Attention,
    ActionNeeded,
}

/// The one thing the window can do about a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum CheckAction {
    /// Open Add payment method (for the active gateway).
    AddCard,
    /// Open the Payment methods tab to choose another default.
    ChooseDefault,
    OpenInvoices,
    OpenOrders,
    OpenPayments,
    Escalate,
}

/// One line of "What to check".
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Check {
    /// Document 003's name for the check, e.g. "Default method".
    pub name: String,
    pub level: CheckLevel,
    /// One line: what was found.
    pub finding: String,
    /// One line: what to do next, when anything.
    pub next_step: Option<String>,
    pub action: Option<CheckAction>,
}

/// The escalation report: every detail document 003 lists, as labelled lines and as one text.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct EscalationReport {
    pub title: String,
    pub details: Vec<ReportLine>,
    /// The "What to check" results at the moment of the report.
    pub checks: Vec<Check>,
    /// All of it as plain text, for the clipboard and the ticket.
    pub text: String,
}

/// Where the escalation PDF was saved, and the same report as text for the clipboard.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct SavedReport {
    pub path: String,
    pub text: String,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ReportLine {
    pub label: String,
    pub value: String,
}

/// A card saved this recently counts as "recently re-saved".
const RECENT_DAYS: i64 = 14;
/// A default expiring this soon is worth mentioning.
const EXPIRY_WARNING_DAYS: i32 = 30;

impl Services {
    /// The active gateway's hosted card fields: in training mode the simulator's, otherwise the
    /// gateway's own script with the clinic's public key.
    pub async fn card_form(&self, actor: &Actor) -> Result<CardForm> {
        actor.require(Permission::ManageCards)?;
        let settings = self.load_settings().await?;
        let gateway = settings.active_gateway;
        if settings.training_mode {
            let sim = self
                .training_simulator()
                .map(str::to_owned)
                .or_else(|| match gateway {
                    Gateway::Stripe => settings
                        .stripe_api_base
                        .as_deref()
                        .map(|b| b.trim_end_matches("/stripe").to_owned()),
                    Gateway::Nmi => settings.nmi_api_base.clone(),
                });
            let Some(sim) = sim else {
                return Err(ServiceError::Invalid(
                    "Training mode needs the built-in simulator, and it is not running: restart ClinicPay. If it happens again, ask IT.".into(),
                ));
            };
            let sim = sim.trim_end_matches('/');
            return Ok(match gateway {
                Gateway::Stripe => CardForm {
                    gateway,
                    script_url: format!("{sim}/js.stripe.com/v3/"),
                    public_key: TRAINING_STRIPE_PUBLISHABLE_KEY.into(),
                    training: true,
                },
                Gateway::Nmi => CardForm {
                    gateway,
                    script_url: format!("{sim}/token/Collect.js"),
                    public_key: TRAINING_NMI_TOKENIZATION_KEY.into(),
                    training: true,
                },
            });
        }
        let (script_url, key, setting) = match gateway {
            Gateway::Stripe => (
                STRIPE_JS,
                settings.stripe_publishable_key.clone(),
                "stripe.publishable-key",
            ),
            Gateway::Nmi => (
                NMI_COLLECT_JS,
                settings.nmi_tokenization_key.clone(),
                "nmi.tokenization-key",
            ),
        };
        let public_key = key.ok_or_else(|| {
            ServiceError::Invalid(format!(
                "Cards cannot be added yet: {gateway}'s public key for the card form is not set. Ask IT to set {setting} in Settings."
            ))
        })?;
        Ok(CardForm {
            gateway,
            script_url: script_url.into(),
            public_key,
            training: false,
        })
    }

    pub async fn patient_account(
        &self,
        actor: &Actor,
        patient: PatientId,
    ) -> Result<PatientAccount> {
        actor.require(Permission::ViewPatients)?;
        let mut r = self.store().reader().await?;
        const LIMIT: i64 = 200;
        Ok(PatientAccount {
            invoices: ledger::invoices(&mut r, Some(patient), LIMIT).await?,
            orders: ledger::orders(&mut r, Some(patient), None, LIMIT).await?,
            payments: ledger::payments(&mut r, Some(patient), LIMIT).await?,
            subscriptions: ledger::subscriptions(&mut r, Some(patient), LIMIT).await?,
        })
    }

    /// Document 003's checks for a patient, and for one of their orders when given.
    pub async fn what_to_check(
        &self,
        actor: &Actor,
        patient: PatientId,
        order: Option<OrderId>,
    ) -> Result<Vec<Check>> {
        let facts = self.facts(actor, patient, order).await?;
        Ok(checks(&facts))
    }

    /// Everything document 003 says to include when escalating, with the checks, as one text.
    pub async fn escalation_report(
        &self,
        actor: &Actor,
        patient: PatientId,
        order: Option<OrderId>,
    ) -> Result<EscalationReport> {
        let facts = self.facts(actor, patient, order).await?;
        let checks = checks(&facts);
        let details = report_lines(&facts, actor);
        let title = format!("ClinicPay escalation: {}", facts.patient.name);
        let mut text = format!("{title}\n{}\n\n", "=".repeat(title.chars().count()));
        for l in &details {
            text.push_str(&format!("{}: {}\n", l.label, l.value));
        }
        text.push_str("\nWhat to check\n");
        for c in &checks {
            let mark = match c.level {
                CheckLevel::Ok => "OK     ",
                CheckLevel::Attention => "CHECK  ",
                CheckLevel::ActionNeeded => "ACTION ",
            };
            text.push_str(&format!("- {mark}{}: {}", c.name, c.finding));
            if let Some(n) = &c.next_step {
                text.push_str(&format!(" Next: {n}"));
            }
            text.push('\n');
        }
        Ok(EscalationReport {
            title,
            details,
            checks,
            text,
        })
    }

    /// Writes the escalation report as a PDF into `folder` (made if missing), named after the patient
    /// and the minute, and gives back its path and the text.
    pub async fn save_escalation_pdf(
        &self,
        actor: &Actor,
        patient: PatientId,
        order: Option<OrderId>,
        folder: &std::path::Path,
    ) -> Result<SavedReport> {
        let report = self.escalation_report(actor, patient, order).await?;
        let bytes = crate::report_pdf::escalation_pdf(&report);
        let name = format!(
            "ClinicPay escalation - patient {patient}{} - {}.pdf",
            order.map(|o| format!(" order {o}")).unwrap_or_default(),
            self.now().format("%Y-%m-%d %H%M")
        );
        let path = folder.join(name);
        let write = async {
            tokio::fs::create_dir_all(folder).await?;
            tokio::fs::write(&path, bytes).await
        };
        write.await.map_err(|e| {
            ServiceError::Invalid(format!(
                "The PDF could not be saved in {} ({e}). The report is still on the clipboard: paste it into the ticket.",
                folder.display()
            ))
        })?;
        Ok(SavedReport {
            path: path.display().to_string(),
            text: report.text,
        })
    }

    async fn facts(
        &self,
        actor: &Actor,
        patient: PatientId,
        order: Option<OrderId>,
    ) -> Result<Facts> {
        actor.require(Permission::ViewPatients)?;
        let settings = self.load_settings().await?;
        let profile_cards = self.list_cards(actor, patient).await?;
        let mut r = self.store().reader().await?;
        let patient_record = clinicpay_store::patients::get(&mut r, patient)
            .await?
            .ok_or_else(|| {
                ServiceError::NotFound(format!(
                    "There is no patient {patient}: search for them again."
                ))
            })?;
        let order = match order {
            Some(id) => Some(ledger::order(&mut r, id).await?.ok_or_else(|| {
                ServiceError::NotFound(format!(
                    "There is no order {id}: check the number in the patient's orders."
                ))
            })?),
            None => None,
        };
        if let Some(o) = &order {
            if o.patient_id != patient {
                return Err(ServiceError::Invalid(format!(
                    "Order {} belongs to another patient: open it from that patient's profile.",
                    o.id
                )));
            }
        }
        let invoices = ledger::invoices(&mut r, Some(patient), 20).await?;
        let payments = match &order {
            Some(o) => ledger::payments_of_order(&mut r, o.id).await?,
            None => ledger::payments(&mut r, Some(patient), 20).await?,
        };
        let subscriptions = ledger::subscriptions(&mut r, Some(patient), 20).await?;
        let orders = ledger::orders(&mut r, Some(patient), None, 50).await?;
        let invoice = match &order {
            Some(o) => ledger::invoice_of_order(&mut r, o.id).await?,
            None => invoices.first().cloned(),
        };
        let log_ref = clinicpay_store::processor_log::list(&mut r, None, Some(patient.0), 1)
            .await?
            .first()
            .map(|e| e.id);
        let open_recovery = match &order {
            Some(o) if o.recovery_status.is_some() => Some(o.clone()),
            _ => orders
                .iter()
                .find(|o| o.recovery_status.is_some_and(RecoveryStatus::is_open))
                .cloned(),
        };
        Ok(Facts {
            active: settings.active_gateway,
            patient: patient_record,
            cards: profile_cards,
            invoice,
            latest_payment: payments.into_iter().max_by_key(|p| (p.created_at, p.id.0)),
            subscription: match &order {
                Some(o) => o
                    .subscription_id
                    .and_then(|s| subscriptions.iter().find(|x| x.id == s).cloned()),
                None => subscriptions
                    .iter()
                    .find(|s| s.status != SubscriptionStatus::Cancelled)
                    .or(subscriptions.first())
                    .cloned(),
            },
            recovery: open_recovery,
            order,
            log_ref,
            recent: Duration::days(RECENT_DAYS),
            now: self.now(),
        })
    }
}

/// What the checks are computed from.
struct Facts {
    active: Gateway,
    patient: clinicpay_domain::Patient,
    cards: Vec<CardView>,
    order: Option<Order>,
    invoice: Option<Invoice>,
    latest_payment: Option<Payment>,
    subscription: Option<Subscription>,
    recovery: Option<Order>,
    log_ref: Option<i64>,
    recent: Duration,
    now: chrono::DateTime<chrono::Utc>,
}

impl Facts {
    fn compatible(&self) -> impl Iterator<Item = &CardView> {
        self.cards
            .iter()
            .filter(|c| c.gateway == self.active && !c.expired)
    }

    fn default_card(&self) -> Option<&CardView> {
        self.cards.iter().find(|c| c.is_default)
    }

    fn resaved_recently(&self) -> Option<&CardView> {
        self.cards
            .iter()
            .filter(|c| c.gateway == self.active && self.now - c.added_at <= self.recent)
            .max_by_key(|c| c.added_at)
    }
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

/// Document 003's list, in its order.
fn checks(f: &Facts) -> Vec<Check> {
    use CheckAction::*;
    use CheckLevel::*;
    let active = f.active;
    let resave = format!("Ask the patient to re-save the card for {active}.");
    let mut out = Vec::new();

    out.push(check(
        "Active organization gateway",
        Ok,
        format!("The clinic takes new cards and payments through {active}."),
        None,
        None,
    ));

    let on_active = f.cards.iter().filter(|c| c.gateway == active).count();
    out.push(if f.cards.is_empty() {
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
    });

    let other = active.other();
    out.push(if f.cards.is_empty() {
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
    });

    out.push(match f.default_card() {
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
    });

    out.push(match f.default_card() {
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
    });

    out.push(match &f.invoice {
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
    });

    out.push(match &f.latest_payment {
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
    });

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
    out.push(match gateway_message {
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
    });

    out.push(match &f.order {
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
    });

    out.push(match &f.subscription {
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
    });

    out.push(match &f.recovery {
        None => check(
            "Recovery status",
            Ok,
            "No payment recovery.".into(),
            None,
            None,
        ),
        Some(o) => match o.recovery_status {
            Some(RecoveryStatus::NeedsPaymentMethod) => {
                let compatible = f.compatible().next().is_some();
                check(
                    "Recovery status",
                    ActionNeeded,
                    format!(
                        "Order {} needs a payment method for {}{}.",
                        o.id,
                        o.locked_gateway.unwrap_or(active),
                        o.last_message
                            .as_ref()
                            .map(|m| format!(": {m}"))
                            .unwrap_or_default()
                    ),
                    Some(if compatible {
                        "The patient has a compatible card but recovery says none exists: escalate."
                    } else {
                        resave.as_str()
                    }),
                    Some(if compatible { Escalate } else { AddCard }),
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
    });

    out.push(match (f.resaved_recently(), &f.recovery) {
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
    });

    let locked = f
        .order
        .as_ref()
        .and_then(|o| o.locked_gateway)
        .or(f.subscription.as_ref().and_then(|s| s.locked_gateway));
    out.push(match locked {
        Some(g) if g != active => check(
            "Locked gateway",
            Attention,
            format!(
                "This {} is locked to {g}, while the clinic now takes cards through {active}: its charges go to {g}.",
                if f.order.is_some() { "order" } else { "subscription" }
            ),
            Some(&format!("The patient needs a card saved for {g} for this one.")),
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
    });
    out
}

/// "SUBSCRIPTION_CYCLE" → "subscription cycle".
fn words(status: &str) -> String {
    status.replace('_', " ").to_lowercase()
}

fn report_lines(f: &Facts, actor: &Actor) -> Vec<ReportLine> {
    let line = |label: &str, value: String| ReportLine {
        label: label.into(),
        value,
    };
    let none = || "none".to_owned();
    let default = f.default_card();
    let mut lines = vec![
        line(
            "Patient",
            format!("{} <{}>", f.patient.name, f.patient.email),
        ),
        line("Active organization gateway", f.active.to_string()),
        line(
            "Saved payment methods",
            if f.cards.is_empty() {
                none()
            } else {
                f.cards
                    .iter()
                    .map(|c| {
                        format!(
                            "{} ••{} on {} (expires {}){}",
                            c.brand,
                            c.last4,
                            c.gateway,
                            c.expiry,
                            if c.is_default { ", default" } else { "" }
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            },
        ),
        line(
            "Default card",
            default
                .map(|d| format!("yes: {} on {}", d.description, d.gateway))
                .unwrap_or_else(|| "no".into()),
        ),
        line(
            "Order number",
            f.order
                .as_ref()
                .or(f.recovery.as_ref())
                .map(|o| o.id.to_string())
                .unwrap_or_else(none),
        ),
        line(
            "Invoice number",
            f.invoice
                .as_ref()
                .map(|i| format!("{} ({}, {})", i.id, i.amount, i.status))
                .unwrap_or_else(none),
        ),
        line(
            "Subscription id",
            f.subscription
                .as_ref()
                .map(|s| format!("{} ({}, {})", s.id, s.plan, s.status))
                .unwrap_or_else(none),
        ),
        line(
            "Latest payment status",
            f.latest_payment
                .as_ref()
                .map(|p| {
                    format!(
                        "{} {} on {}{}",
                        p.amount,
                        p.status,
                        p.gateway,
                        p.gateway_reference
                            .as_ref()
                            .map(|r| format!(", transaction {r}"))
                            .unwrap_or_default()
                    )
                })
                .unwrap_or_else(none),
        ),
        line(
            "Recovery status",
            f.recovery
                .as_ref()
                .and_then(|o| o.recovery_status.map(|s| format!("{s} (order {})", o.id)))
                .unwrap_or_else(none),
        ),
        line(
            "Gateway decline/error message",
            f.latest_payment
                .as_ref()
                .filter(|p| p.status == PaymentStatus::Failed)
                .and_then(|p| {
                    p.decline_message.as_ref().map(|m| {
                        format!(
                            "{m}{}",
                            p.decline_code
                                .as_ref()
                                .map(|c| format!(" ({c})"))
                                .unwrap_or_default()
                        )
                    })
                })
                .unwrap_or_else(none),
        ),
        line(
            "Processor log reference",
            f.log_ref
                .map(|id| {
                    format!(
                        "entry {id} (clinicpay processor-log --patient {})",
                        f.patient.id
                    )
                })
                .unwrap_or_else(none),
        ),
    ];
    lines.push(line(
        "Reported by",
        format!(
            "{} ({}) at {}",
            actor.display_name,
            actor.role.display_name(),
            f.now.format("%Y-%m-%d %H:%M UTC")
        ),
    ));
    lines
}
