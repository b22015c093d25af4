//! The escalation report: every detail document 003 lists, as text and as a PDF.

use clinicpay_domain::{OrderId, PatientId, PaymentStatus};
use serde::Serialize;

use super::checks::checks;
use super::facts::Facts;
use crate::desk::{Check, CheckLevel};
use crate::pdf::{blank, render, wrap, Line, BODY, WRAP};
use crate::{Actor, Result, ServiceError, Services};

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

/// The longest on-screen message a report carries.
const MESSAGE_LIMIT: usize = 2_000;

fn report_lines(f: &Facts, actor: &Actor, shown: Option<&str>) -> Vec<ReportLine> {
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
    // Document 003: "screenshot or exact patient/staff-facing message".
    lines.push(line(
        "Message on screen",
        shown
            .map(|m| format!("\"{m}\""))
            .unwrap_or_else(|| "none given".into()),
    ));
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

impl Services {
    /// Everything document 003 says to include when escalating, with the checks, as one text.
    /// `shown` is the exact message that was on screen (the pay dialog's error, the patient's words),
    /// kept as it was, without anything that reads as a card number.
    pub async fn escalation_report(
        &self,
        actor: &Actor,
        patient: PatientId,
        order: Option<OrderId>,
        shown: Option<&str>,
    ) -> Result<EscalationReport> {
        let shown = shown.map(|m| m.trim()).filter(|m| !m.is_empty()).map(|m| {
            let flat: String = m
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .take(MESSAGE_LIMIT)
                .collect();
            clinicpay_domain::card::without_card_numbers(&flat)
        });
        let facts = self.facts(actor, patient, order).await?;
        let checks = checks(&facts);
        let details = report_lines(&facts, actor, shown.as_deref());
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
        shown: Option<&str>,
        folder: &std::path::Path,
    ) -> Result<SavedReport> {
        let report = self.escalation_report(actor, patient, order, shown).await?;
        let bytes = escalation_pdf(&report);
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
}
/// The PDF bytes of the report.
pub fn escalation_pdf(report: &EscalationReport) -> Vec<u8> {
    let mut lines = vec![Line {
        text: report.title.clone(),
        bold: true,
        size: 15.0,
        indent: 0.0,
    }];
    lines.push(blank());
    for d in &report.details {
        for (i, part) in wrap(&format!("{}: {}", d.label, d.value), WRAP)
            .into_iter()
            .enumerate()
        {
            lines.push(Line {
                text: part,
                bold: false,
                size: BODY,
                indent: if i == 0 { 0.0 } else { 12.0 },
            });
        }
    }
    lines.push(blank());
    lines.push(Line {
        text: "What to check".into(),
        bold: true,
        size: 12.0,
        indent: 0.0,
    });
    for c in &report.checks {
        let mark = match c.level {
            CheckLevel::Ok => "OK",
            CheckLevel::Attention => "CHECK",
            CheckLevel::ActionNeeded => "ACTION",
        };
        let mut text = format!("[{mark}] {}: {}", c.name, c.finding);
        if let Some(next) = &c.next_step {
            text.push_str(&format!(" Next: {next}"));
        }
        for (i, part) in wrap(&text, WRAP).into_iter().enumerate() {
            lines.push(Line {
                text: part,
                bold: i == 0 && c.level == CheckLevel::ActionNeeded,
                size: BODY,
                indent: if i == 0 { 0.0 } else { 12.0 },
            });
        }
    }

    render(&report.title, &lines)
}

/// Writes the report's PDF to `file`, or says what went wrong and what to do.
pub fn write_escalation_pdf(
    report: &EscalationReport,
    file: &std::path::Path,
) -> crate::Result<()> {
    std::fs::write(file, escalation_pdf(report)).map_err(|e| {
        crate::ServiceError::Invalid(format!(
            "The PDF could not be written to {} ({e}): choose a folder you can write to.",
            file.display()
        ))
    })
}
