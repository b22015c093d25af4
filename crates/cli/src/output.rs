//! How results are printed: one JSON value with --json, otherwise tables and sentences for people.
//! Long because each answer has its table and its sentence here, one function each.

use std::process::ExitCode;

use clinicpay_domain::Patient;
use clinicpay_services::billing::{OrderDetails, PaymentResult, RefundResult};
use clinicpay_services::cards::{CardChange, CardView};
use clinicpay_services::credentials::CredentialsStored;
use clinicpay_services::demo::SeedReport;
use clinicpay_services::desk::{Check, CheckLevel, EscalationReport};
use clinicpay_services::engine::{EngineEvent, EngineStatus};
use clinicpay_services::gateway_switch::GatewayReadiness;
use clinicpay_services::gateways::GatewayCheck;
use clinicpay_services::overview::FrontDeskOverview;
use clinicpay_services::patients::PatientProfile;
use clinicpay_services::recovery::WorkerReport;
use clinicpay_services::reminders::{ExpiringCards, ReminderReport};
use clinicpay_services::reports::GatewayReport;
use clinicpay_services::settings::{SettingChanged, SettingsView};
use clinicpay_services::staff::StaffView;
use clinicpay_services::subscriptions::SwitchResult;
use clinicpay_services::ServiceError;
use clinicpay_store::activity::ChainReport;
use clinicpay_store::invoices::Invoice;
use clinicpay_store::orders::Order;
use clinicpay_store::payments::Payment;
use clinicpay_store::processor_log::LogEntry;
use clinicpay_store::reminders::Reminder;
use clinicpay_store::subscriptions::Subscription;
use comfy_table::{presets::UTF8_HORIZONTAL_ONLY, Table};
use serde::Serialize;

pub struct Out {
    pub json: bool,
}

fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_HORIZONTAL_ONLY)
        .set_header(header.to_vec());
    t
}

impl Out {
    fn json<T: Serialize + ?Sized>(&self, value: &T) -> bool {
        if self.json {
            match serde_json::to_string(value) {
                Ok(s) => println!("{s}"),
                Err(e) => println!(
                    r#"{{"error":{{"code":"internal","message":"cannot print the answer: {e}"}}}}"#
                ),
            }
        }
        self.json
    }

    /// Prints the error and answers the contract's exit code.
    pub fn error(&self, e: &ServiceError) -> ExitCode {
        let code = e.code();
        if self.json {
            let v = serde_json::json!({"error": {"code": code.as_str(), "message": e.to_string()}});
            println!("{v}");
        } else {
            eprintln!("{e}");
        }
        ExitCode::from(code.exit_code() as u8)
    }

    pub fn migrated(&self, url: &str) {
        if !self.json(&serde_json::json!({"migrated": true, "database": url})) {
            println!("The database at {url} is up to date.");
        }
    }

    pub fn copied(&self, r: &clinicpay_services::dbcopy::CopyReport) {
        if !self.json(r) {
            println!("{}", r.message);
        }
    }

    pub fn seeded(&self, r: &SeedReport) {
        if !self.json(r) {
            println!(
                "The demo clinic is ready: {} patients, {} saved cards, {} subscriptions, {} invoices, {} payments ({} failed), {} orders in recovery.",
                r.patients, r.cards, r.subscriptions, r.invoices, r.payments, r.failed_payments, r.recovery_orders
            );
            println!(
                "Sign in as {} with the password \"{}\".",
                r.staff.join(", "),
                clinicpay_services::demo::DEMO_PASSWORD
            );
        }
    }

    /// One record a command made or changed: one JSON object with `--json` (lists are for searches and
    /// listings), the same one-row table otherwise.
    pub fn one<T: Serialize>(&self, item: T, as_table: fn(&Out, &[T])) {
        if !self.json(&item) {
            as_table(self, std::slice::from_ref(&item));
        }
    }

    pub fn staff(&self, staff: &[StaffView]) {
        if !self.json(staff) {
            let mut t = table(&["Sign-in name", "Name", "Role", "Active"]);
            for s in staff {
                t.add_row(vec![
                    s.username.clone(),
                    s.display_name.clone(),
                    s.role.display_name().to_owned(),
                    if s.active { "yes" } else { "no" }.to_owned(),
                ]);
            }
            println!("{t}");
        }
    }

    pub fn settings(&self, s: &SettingsView) {
        if !self.json(&s.values) {
            let mut t = table(&["Setting", "Value"]);
            for v in &s.values {
                let value = if v.value.is_empty() {
                    "(default)".to_owned()
                } else {
                    v.value.clone()
                };
                t.add_row(vec![
                    v.key.to_owned(),
                    if v.managed {
                        format!("{value} (set by IT)")
                    } else {
                        value
                    },
                ]);
            }
            println!("{t}");
            if let Some(file) = &s.managed_file {
                println!(
                    "Settings marked \"set by IT\" come from {file} and cannot be changed here."
                );
            }
        }
    }

    pub fn desks(&self, desks: &[clinicpay_services::desk_inventory::DeskView]) {
        if !self.json(desks) {
            if desks.is_empty() {
                println!("No desk has run ClinicPay on this database yet.");
                return;
            }
            let mut t = table(&[
                "Desk",
                "Version",
                "Database",
                "Channel",
                "Managed",
                "System",
                "Last seen",
            ]);
            for d in desks {
                t.add_row(vec![
                    d.name.clone(),
                    d.app_version.clone(),
                    d.database.clone(),
                    d.channel.clone(),
                    if d.managed { "yes" } else { "no" }.into(),
                    d.os.clone(),
                    format!(
                        "{}{}",
                        d.last_seen_at.format("%Y-%m-%d %H:%M UTC"),
                        if d.running { " (running)" } else { "" }
                    ),
                ]);
            }
            println!("{t}");
        }
    }

    pub fn diagnostics(&self, d: &clinicpay_services::diagnostics::DiagnosticsWritten) {
        if !self.json(d) {
            println!("{}", d.message);
        }
    }

    pub fn setting_changed(&self, c: &SettingChanged) {
        if !self.json(c) {
            println!("{}", c.message);
        }
    }

    pub fn patients(&self, patients: &[Patient]) {
        if !self.json(patients) {
            if patients.is_empty() {
                println!("No patient matches. Search by the start of a name, an email or a phone number.");
                return;
            }
            let mut t = table(&["#", "Name", "Email", "Phone", "Type"]);
            for p in patients {
                t.add_row(vec![
                    p.id.to_string(),
                    p.name.clone(),
                    p.email.clone(),
                    p.phone.clone().unwrap_or_default(),
                    p.patient_type.to_string(),
                ]);
            }
            println!("{t}");
        }
    }

    fn card_table(cards: &[CardView]) -> Table {
        let mut t = table(&[
            "#", "Nickname", "Issuer", "Expiry", "Added", "Default", "Gateway",
        ]);
        for c in cards {
            let expiry = if c.expired {
                format!("{} EXPIRED", c.expiry)
            } else if c.days_until_expiry <= 60 {
                format!("{} (expires in {} days)", c.expiry, c.days_until_expiry)
            } else {
                c.expiry.clone()
            };
            t.add_row(vec![
                c.id.to_string(),
                c.nickname.clone().unwrap_or_default(),
                format!("{} ••{}", c.brand, c.last4),
                expiry,
                c.added_at.format("%Y-%m-%d").to_string(),
                if c.is_default { "✓" } else { "" }.to_owned(),
                c.gateway.display_name().to_owned(),
            ]);
        }
        t
    }

    pub fn cards(&self, cards: &[CardView]) {
        if !self.json(cards) {
            if cards.is_empty() {
                println!(
                    "No saved cards. Add one with the patient, in the active gateway's card form."
                );
            } else {
                println!("{}", Self::card_table(cards));
            }
        }
    }

    pub fn profile(&self, p: &PatientProfile) {
        if !self.json(p) {
            let pt = &p.patient;
            println!(
                "{} (#{}) · {} · {}",
                pt.name, pt.id, pt.patient_type, pt.email
            );
            if let Some(phone) = &pt.phone {
                println!("Phone {phone}");
            }
            println!("\nPayment methods");
            if p.cards.is_empty() {
                println!("  No saved cards.");
            } else {
                println!("{}", Self::card_table(&p.cards));
            }
            println!("\nActivity");
            if p.activity.is_empty() {
                println!("  No changes recorded for this patient yet.");
                return;
            }
            let mut t = table(&["When", "Who", "What"]);
            for e in p.activity.iter().take(20) {
                t.add_row(vec![
                    e.at.format("%Y-%m-%d %H:%M").to_string(),
                    e.actor.clone(),
                    e.action.clone(),
                ]);
            }
            println!("{t}");
        }
    }

    pub fn audit(&self, r: &ChainReport) {
        if !self.json(&serde_json::json!({"intact": r.is_intact(), "entries": r.entries, "problems": r.problems, "anchors_checked": r.anchors_checked})) {
            println!("The activity log is intact: {} entries, each chained to the one before.", r.entries);
            if r.anchors_checked > 0 {
                println!("{} anchors kept outside the database match it.", r.anchors_checked);
            }
        }
    }

    pub fn anchor(&self, a: &clinicpay_services::audit::ActivityAnchor) {
        if !self.json(a) {
            println!("{}", a.line);
        }
    }

    pub fn overview(&self, o: &FrontDeskOverview) {
        if !self.json(o) {
            let c = &o.counts;
            println!(
                "{} — taking cards through {}",
                o.clinic_name, o.active_gateway
            );
            println!(
                "{} patients · {} saved cards · {} open invoices · {} subscriptions · {} failed payments",
                c.patients, c.active_cards, c.open_invoices, c.active_subscriptions, c.failed_payments
            );
            println!(
                "Cards: {} expired, {} expiring within 30 days · {} orders in payment recovery",
                o.cards_expired, o.cards_expiring_within_30_days, c.open_recoveries
            );
            if !o.needs_attention.is_empty() {
                println!("\nNeeds attention");
                let mut t = table(&["Order", "Patient", "Recovery", "Amount", "Last message"]);
                for r in &o.needs_attention {
                    t.add_row(vec![
                        format!("#{}", r.order_id),
                        format!("{} (#{})", r.patient_name, r.patient_id),
                        r.recovery_status.to_string(),
                        r.amount.to_string(),
                        r.last_message.clone().unwrap_or_default(),
                    ]);
                }
                println!("{t}");
            }
        }
    }

    pub fn expiring(&self, e: &ExpiringCards) {
        if !self.json(e) {
            if e.cards.is_empty() {
                println!("No card matches.");
                return;
            }
            let mut t = table(&[
                "Patient",
                "Type",
                "Card",
                "Expiry",
                "Days",
                "Other valid card",
                "Plans",
            ]);
            for c in &e.cards {
                t.add_row(vec![
                    format!("{} (#{})", c.patient_name, c.patient_id),
                    c.patient_type.as_str().to_owned(),
                    format!("{} ••{} ({})", c.brand, c.last4, c.gateway),
                    c.expiry.clone(),
                    if c.expired {
                        "EXPIRED".to_owned()
                    } else {
                        c.days_until_expiry.to_string()
                    },
                    if c.has_other_valid_card { "yes" } else { "no" }.to_owned(),
                    c.plans.join(", "),
                ]);
            }
            println!("{t}");
            if e.truncated {
                println!("More cards match than are shown: narrow the filter.");
            }
        }
    }

    pub fn gateway_report(&self, r: &GatewayReport) {
        if !self.json(r) {
            println!("Gateway report, {} to {}", r.from, r.to);
            if r.gateways.is_empty() {
                println!("No payments or refunds in this range.");
            }
            let mut t = table(&[
                "Gateway",
                "Attempts",
                "Succeeded",
                "Amount",
                "Failed",
                "Success rate",
                "Unknown",
                "Refunds",
                "Refunded",
            ]);
            for g in &r.gateways {
                t.add_row(vec![
                    format!("{} ({})", g.gateway, g.currency.code()),
                    g.attempts.to_string(),
                    g.succeeded.to_string(),
                    g.succeeded_amount.to_string(),
                    g.failed.to_string(),
                    g.success_rate_percent
                        .map(|p| format!("{p:.1} %"))
                        .unwrap_or_else(|| "—".into()),
                    g.unknown_waiting.to_string(),
                    g.refunds.to_string(),
                    g.refunded_amount.to_string(),
                ]);
            }
            println!("{t}");
            for g in r.gateways.iter().filter(|g| !g.declines.is_empty()) {
                let mut d = table(&["Count", "Code", "What the gateway said"]);
                for line in &g.declines {
                    d.add_row(vec![
                        line.count.to_string(),
                        line.code.clone().unwrap_or_default(),
                        line.message.clone().unwrap_or_default(),
                    ]);
                }
                println!("Declines on {}:\n{d}", g.gateway);
            }
            let f = &r.recovery;
            println!(
                "Recovery (began in the range): {} need a payment method, {} retry scheduled, {} resolved, {} failed final.",
                f.needs_payment_method, f.retry_scheduled, f.resolved, f.failed_final
            );
        }
    }

    pub fn readiness(&self, r: &GatewayReadiness) {
        if !self.json(r) {
            println!("{}", r.message);
            if !r.patients_without_card.is_empty() {
                let mut t = table(&[
                    "Patient",
                    "Email",
                    "Subscriptions",
                    "Unpaid invoices",
                    "Card on file",
                ]);
                for p in &r.patients_without_card {
                    t.add_row(vec![
                        format!("{} (#{})", p.name, p.patient_id),
                        p.email.clone(),
                        p.subscriptions.to_string(),
                        p.open_invoices.to_string(),
                        if p.has_any_card {
                            "yes (other gateway)"
                        } else {
                            "none: call"
                        }
                        .to_owned(),
                    ]);
                }
                println!("{t}");
            }
            if !r.locked_subscriptions.is_empty() {
                let mut t = table(&["Subscription", "Patient", "Plan", "Locked to"]);
                for l in &r.locked_subscriptions {
                    t.add_row(vec![
                        l.subscription_id.to_string(),
                        l.name.clone(),
                        l.plan.clone(),
                        l.locked_gateway.to_string(),
                    ]);
                }
                println!("{t}");
            }
        }
    }

    pub fn reminders_run(&self, r: &ReminderReport) {
        if !self.json(r) {
            println!(
                "{} sent, {} refused by the mail server (retried later), {} already sent.",
                r.sent, r.failed, r.skipped
            );
            if let Some(note) = &r.note {
                println!("{note}");
            }
        }
    }

    pub fn reminders(&self, list: &[Reminder]) {
        if !self.json(list) {
            let mut t = table(&["#", "Card", "Kind", "Threshold", "Status", "Tries", "Error"]);
            for r in list {
                t.add_row(vec![
                    r.id.to_string(),
                    r.card_id.to_string(),
                    r.kind.as_str().to_owned(),
                    r.threshold_days
                        .map(|d| format!("{d} days"))
                        .unwrap_or_default(),
                    r.status.clone(),
                    r.attempts.to_string(),
                    r.last_error.clone().unwrap_or_default(),
                ]);
            }
            println!("{t}");
        }
    }

    pub fn message(&self, m: &str) {
        if !self.json(&serde_json::json!({ "message": m })) {
            println!("{m}");
        }
    }

    pub fn checks(&self, checks: &[Check]) {
        if !self.json(checks) {
            let mut t = table(&["", "Check", "Found", "Next step"]);
            for c in checks {
                t.add_row(vec![
                    match c.level {
                        CheckLevel::Ok => "ok",
                        CheckLevel::Attention => "check",
                        CheckLevel::ActionNeeded => "ACTION",
                    }
                    .to_owned(),
                    c.name.clone(),
                    c.finding.clone(),
                    c.next_step.clone().unwrap_or_default(),
                ]);
            }
            println!("{t}");
        }
    }

    pub fn escalation(&self, report: &EscalationReport, pdf: Option<&std::path::Path>) {
        let shown = serde_json::json!({
            "title": report.title,
            "details": report.details,
            "checks": report.checks,
            "text": report.text,
            "pdf": pdf.map(|p| p.display().to_string()),
        });
        if !self.json(&shown) {
            print!("{}", report.text);
            if let Some(p) = pdf {
                println!("\nSaved as {}", p.display());
            }
        }
    }

    pub fn processor_log(&self, entries: &[LogEntry]) {
        if !self.json(entries) {
            if entries.is_empty() {
                println!("No gateway calls recorded for this.");
                return;
            }
            let mut t = table(&[
                "When", "Gateway", "Call", "Payment", "HTTP", "Took", "Outcome",
            ]);
            for e in entries.iter().map(|e| &e.call) {
                t.add_row(vec![
                    e.at.format("%Y-%m-%d %H:%M:%S").to_string(),
                    e.gateway.clone(),
                    e.operation.clone(),
                    e.payment_key.clone().unwrap_or_default(),
                    e.http_status
                        .map(|s| s.to_string())
                        .unwrap_or_else(|| "—".into()),
                    format!("{} ms", e.duration_ms),
                    e.outcome.clone(),
                ]);
            }
            println!("{t}");
        }
    }

    pub fn sim_serving(&self, base_url: &str) {
        if !self.json(&serde_json::json!({"base_url": base_url})) {
            println!("{base_url}");
        }
        use std::io::Write;
        std::io::stdout().flush().ok();
    }

    pub fn sim_token(&self, token: &str) {
        if !self.json(&serde_json::json!({"token": token})) {
            println!("{token}");
        }
    }

    pub fn sim_renewed(&self, renewed: u64) {
        if !self.json(&serde_json::json!({ "renewed": renewed })) {
            println!("{renewed} saved card(s) renewed by the card network.");
        }
    }

    pub fn sim_setup_completed(&self, session: &serde_json::Value) {
        if !self.json(session) {
            println!(
                "Checkout Session {} is {}.",
                session["id"].as_str().unwrap_or("?"),
                session["status"].as_str().unwrap_or("?")
            );
        }
    }

    pub fn card_change(&self, c: &CardChange) {
        if !self.json(c) {
            println!("{}", c.message);
            println!("{}", Self::card_table(std::slice::from_ref(&c.card)));
        }
    }

    pub fn card_verified(&self, v: &clinicpay_services::card_verify::CardVerified) {
        if !self.json(v) {
            println!("{}", v.message);
        }
    }

    pub fn card_link(&self, l: &clinicpay_services::card_pages::CardLinkView) {
        if !self.json(l) {
            match &l.sent_to {
                Some(to) => println!("The secure card link was emailed to {to}."),
                None => println!("Give this secure card link to the patient:"),
            }
            println!("{}", l.url.as_deref().unwrap_or("(no longer open)"));
            println!(
                "Session {} · works until {} (UTC), once.",
                l.session,
                l.expires_at.format("%d %b %Y %H:%M")
            );
        }
    }

    pub fn card_refresh(&self, r: &clinicpay_services::card_refresh::RefreshReport) {
        if !self.json(r) {
            println!(
                "{} checked: {} renewed by the card network, {} unchanged; {} could not be checked.",
                r.checked, r.renewed, r.unchanged, r.could_not_check
            );
            for line in r.renewals.iter().chain(&r.problems) {
                println!("  {line}");
            }
        }
    }

    pub fn card_links(&self, links: &[clinicpay_services::card_pages::CardLinkView]) {
        if !self.json(&links) {
            let mut t = table(&["Id", "Made", "Sent to", "Status", "Until", "Card", "Note"]);
            for l in links {
                t.add_row(vec![
                    l.id.to_string(),
                    l.created_at.format("%d %b %Y %H:%M").to_string(),
                    l.sent_to.clone().unwrap_or_else(|| "not sent".into()),
                    format!("{:?}", l.status).to_lowercase(),
                    l.expires_at.format("%d %b %Y %H:%M").to_string(),
                    l.card_id.map(|c| c.to_string()).unwrap_or_default(),
                    l.outcome.clone().unwrap_or_default(),
                ]);
            }
            println!("{t}");
        }
    }

    pub fn card_dependents(&self, d: &clinicpay_services::card_dependents::CardDependents) {
        if !self.json(d) {
            println!("{}", d.summary);
            if !d.dependents.is_empty() {
                let mut t = table(&["Kind", "Id", "What", "Charged after deletion to"]);
                for x in &d.dependents {
                    t.add_row(vec![
                        format!("{:?}", x.kind).to_lowercase(),
                        x.id.to_string(),
                        x.what.clone(),
                        x.then_paid_by.clone().unwrap_or_else(|| "nothing".into()),
                    ]);
                }
                println!("{t}");
            }
        }
    }

    pub fn credentials_stored(&self, c: &CredentialsStored) {
        if !self.json(c) {
            println!("{}", c.message);
        }
    }

    pub fn gateway_checks(&self, checks: &[GatewayCheck]) {
        if !self.json(checks) {
            let mut t = table(&["Gateway", "Active", "Works", "What was found"]);
            for c in checks {
                t.add_row(vec![
                    c.gateway.to_string(),
                    if c.active { "active" } else { "" }.into(),
                    if c.works { "yes" } else { "no" }.into(),
                    c.message.clone(),
                ]);
            }
            println!("{t}");
        }
    }

    pub fn payment(&self, p: &PaymentResult) {
        if !self.json(p) {
            println!("{}", p.message);
            println!("{}", Self::payment_table(std::slice::from_ref(&p.payment)));
        }
    }

    pub fn refund(&self, r: &RefundResult) {
        if !self.json(r) {
            println!("{}", r.message);
        }
    }

    pub fn invoices(&self, invoices: &[Invoice]) {
        if !self.json(invoices) {
            let mut t = table(&[
                "Invoice",
                "Patient",
                "Description",
                "Amount",
                "Status",
                "Created",
            ]);
            for i in invoices {
                t.add_row(vec![
                    i.id.to_string(),
                    i.patient_id.to_string(),
                    i.description.clone(),
                    i.amount.to_string(),
                    i.status.as_str().into(),
                    i.created_at.format("%Y-%m-%d %H:%M").to_string(),
                ]);
            }
            println!("{t}");
        }
    }

    pub fn orders(&self, orders: &[Order]) {
        if !self.json(orders) {
            let mut t = table(&[
                "Order",
                "Patient",
                "Kind",
                "Amount",
                "Status",
                "Recovery",
                "Gateway",
                "Last message",
            ]);
            for o in orders {
                t.add_row(vec![
                    o.id.to_string(),
                    o.patient_id.to_string(),
                    o.kind.as_str().into(),
                    o.amount.to_string(),
                    o.status.as_str().into(),
                    o.recovery_status.map(|r| r.as_str()).unwrap_or("").into(),
                    o.locked_gateway.map(|g| g.to_string()).unwrap_or_default(),
                    o.last_message.clone().unwrap_or_default(),
                ]);
            }
            println!("{t}");
        }
    }

    pub fn order(&self, d: &OrderDetails) {
        if !self.json(d) {
            println!("{}", {
                let mut t = table(&[
                    "Order",
                    "Kind",
                    "Amount",
                    "Status",
                    "Recovery",
                    "Locked gateway",
                ]);
                t.add_row(vec![
                    d.order.id.to_string(),
                    d.order.kind.as_str().into(),
                    d.order.amount.to_string(),
                    d.order.status.as_str().into(),
                    d.order
                        .recovery_status
                        .map(|r| r.as_str())
                        .unwrap_or("")
                        .into(),
                    d.order
                        .locked_gateway
                        .map(|g| g.to_string())
                        .unwrap_or_default(),
                ]);
                t
            });
            if let Some(i) = &d.invoice {
                println!("Invoice {}: {} {}", i.id, i.amount, i.status.as_str());
            }
            if let Some(next) = &d.next_charge {
                println!("Next charge: {}", next.explanation);
            }
            println!("{}", Self::payment_table(&d.payments));
        }
    }

    pub fn payments(&self, payments: &[Payment]) {
        if !self.json(payments) {
            println!("{}", Self::payment_table(payments));
        }
    }

    fn payment_table(payments: &[Payment]) -> Table {
        let mut t = table(&[
            "Payment", "Patient", "Invoice", "Gateway", "Amount", "Status", "Decline", "When",
        ]);
        for p in payments {
            t.add_row(vec![
                p.id.to_string(),
                p.patient_id.to_string(),
                p.invoice_id.map(|i| i.to_string()).unwrap_or_default(),
                p.gateway.to_string(),
                p.amount.to_string(),
                p.status.as_str().into(),
                p.decline_message.clone().unwrap_or_default(),
                p.created_at.format("%Y-%m-%d %H:%M").to_string(),
            ]);
        }
        t
    }

    pub fn reconciliation(&self, r: &clinicpay_services::reconcile::Reconciliation) {
        if !self.json(r) {
            println!("{}", r.verdict);
            for g in &r.gateways {
                match &g.unavailable {
                    Some(why) => println!("{}: not asked ({why})", g.gateway),
                    None => println!(
                        "{}: {} charges and {} refunds at the gateway; {} payments and {} refunds in ClinicPay",
                        g.gateway, g.gateway_charges, g.gateway_refunds, g.ledger_payments, g.ledger_refunds
                    ),
                }
            }
            let mismatches: Vec<_> = r.gateways.iter().flat_map(|g| &g.mismatches).collect();
            if !mismatches.is_empty() {
                let mut t = table(&["When", "Gateway", "Difference", "Payment", "What to do"]);
                for m in mismatches {
                    t.add_row(vec![
                        m.at.format("%Y-%m-%d %H:%M").to_string(),
                        m.gateway.to_string(),
                        format!("{:?}", m.kind),
                        m.payment_id.map(|p| p.to_string()).unwrap_or_default(),
                        m.what_to_do.clone(),
                    ]);
                }
                println!("{t}");
            }
        }
    }

    pub fn engine_status(&self, e: &EngineStatus) {
        if !self.json(e) {
            let time = |t: Option<chrono::DateTime<chrono::Utc>>| {
                t.map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
                    .unwrap_or_else(|| "never".into())
            };
            match &e.runner {
                Some(r) => println!(
                    "Billing engine: run by the {} {} since {}",
                    r.kind,
                    r.name,
                    time(r.since)
                ),
                None => println!("Billing engine: nobody runs it now"),
            }
            println!(
                "Last pass: {}{}",
                time(e.last_pass_at),
                e.last_pass
                    .as_deref()
                    .map(|s| format!(" · {s}"))
                    .unwrap_or_default()
            );
            println!(
                "Due now: {} cycles, {} retries · next cycle {} · next retry {} · unsettled payments {}",
                e.due.cycles_due,
                e.due.retries_due,
                time(e.due.next_cycle_at),
                time(e.due.next_retry_at),
                e.due.unsettled_payments
            );
            if let (Some(error), Some(at)) = (&e.last_error, e.last_error_at) {
                println!("Last error ({}): {error}", time(Some(at)));
            }
            if let Some(w) = &e.warning {
                println!("{w}");
            }
        }
    }

    pub fn worker_pass(&self, r: &WorkerReport) {
        if !self.json(r) {
            println!(
                "Cycles billed {} (paid {}) · retries {} (paid {}) · need a card {} · suspended {} · failed final {}",
                r.cycles_billed, r.cycles_paid, r.retries_run, r.retries_paid, r.needs_payment_method, r.suspended, r.failed_final
            );
            let j = &r.janitor;
            println!(
                "Unsettled payments looked at {} · found paid {} · found not paid {} · still unknown {}",
                j.looked_at, j.found_paid, j.found_not_paid, j.still_unknown
            );
            if let Some(v) = &r.reconciliation {
                println!("{}", v.verdict);
            }
            if r.retries_not_sent > 0 {
                println!(
                    "Retries not sent (due again in a quarter of an hour): {}",
                    r.retries_not_sent
                );
            }
            if j.cannot_look_up > 0 {
                println!(
                    "Cannot be looked up from this computer: {} ({})",
                    j.cannot_look_up,
                    j.cannot_look_up_because.join("; ")
                );
            }
        }
    }

    pub fn subscriptions(&self, subs: &[Subscription]) {
        if !self.json(subs) {
            let mut t = table(&[
                "Subscription",
                "Patient",
                "Plan",
                "Amount",
                "Every",
                "Status",
                "Next cycle",
                "Gateway",
            ]);
            for s in subs {
                t.add_row(vec![
                    s.id.to_string(),
                    s.patient_id.to_string(),
                    s.plan.clone(),
                    s.amount.to_string(),
                    s.interval.to_string(),
                    s.status.as_str().into(),
                    s.next_cycle_at.format("%Y-%m-%d").to_string(),
                    s.locked_gateway.map(|g| g.to_string()).unwrap_or_default(),
                ]);
            }
            println!("{t}");
        }
    }

    pub fn switched(&self, r: &SwitchResult) {
        if !self.json(r) {
            println!("{}", r.message);
        }
    }
}

/// One line of the worker's log for an engine event.
pub fn engine_event(event: &EngineEvent) -> String {
    match event {
        EngineEvent::Took => "this worker now runs the clinic's billing engine.".into(),
        EngineEvent::Pass(what) => format!("pass done: {what}"),
        EngineEvent::PassFailed(e) => {
            format!("this pass failed and the next waits longer: {e}")
        }
        EngineEvent::Yielded(who) => {
            format!("the billing engine is run by the {who}; this worker takes over if it stops.")
        }
        EngineEvent::CannotRun(why) => format!("this worker cannot run the billing engine: {why}"),
        EngineEvent::LeaseUnknown(e) => {
            format!("the billing engine's lease could not be read or renewed: {e}")
        }
        EngineEvent::Stopped => "stopped; the billing engine is free for another.".into(),
    }
}
