//! Sending a reminder over the clinic's SMTP server, with the clinic's sender.

use std::time::Duration as StdDuration;

use clinicpay_domain::{OrganizationSettings, PatientId, PaymentMethodId};
use clinicpay_gateways::Secret;
use clinicpay_store::reminders::{self as repo, ExpiringRow};
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::card_row;
use crate::reminders::{retry_after, Email, ReminderReport};
use crate::{Actor, Change, Result, ServiceError, Services};

const SMTP_TIMEOUT: StdDuration = StdDuration::from_secs(20);

/// The clinic's sender, or what is wrong with `smtp.from`.
fn sender(settings: &OrganizationSettings) -> std::result::Result<Mailbox, String> {
    settings
        .smtp
        .from
        .as_deref()
        .unwrap_or_default()
        .parse()
        .map_err(|e| format!("smtp.from is not an address ({e})"))
}

fn build_message(
    settings: &OrganizationSettings,
    row: &ExpiringRow,
    email: &Email,
) -> std::result::Result<Message, String> {
    message_to(
        settings,
        &row.patient_name,
        &row.patient_email,
        &email.subject,
        &email.body,
    )
}

/// An email from the clinic's sender to a patient, or why it cannot be written.
pub(crate) fn message_to(
    settings: &OrganizationSettings,
    name: &str,
    address: &str,
    subject: &str,
    body: &str,
) -> std::result::Result<Message, String> {
    let from = sender(settings)?;
    // The name as a display name, whatever it holds ("Lee, Ann", "Acme Dental, LLC"): never parsed.
    let to = Mailbox::new(
        Some(name.replace(['\r', '\n'], " ")),
        address
            .trim()
            .parse()
            .map_err(|e| format!("the patient's email {address} is not an address ({e})"))?,
    );
    Message::builder()
        .from(from)
        .to(to)
        .subject(subject.to_owned())
        .body(body.to_owned())
        .map_err(|e| e.to_string())
}

impl Services {
    /// Sends a short test email to `to` through the mail server of `settings` (first-run setup), and
    /// says in plain words what went wrong when it cannot.
    pub(crate) async fn send_test_email(
        &self,
        settings: &OrganizationSettings,
        password: Option<Secret>,
        to: &str,
    ) -> Result<()> {
        let mailer = self.mailer_with(settings, password).await?.ok_or_else(|| {
            ServiceError::Invalid(
                "Give the mail server's name and the address emails come from first.".into(),
            )
        })?;
        let from = sender(settings).map_err(|e| ServiceError::Invalid(format!("{e}.")))?;
        let to: Mailbox = to.trim().parse().map_err(|_| {
            ServiceError::Invalid(format!(
                "\"{}\" is not an email address: give the address the test email goes to.",
                to.trim()
            ))
        })?;
        let message = Message::builder()
            .from(from)
            .to(to.clone())
            .subject(format!("ClinicPay test email from {}", settings.clinic_name))
            .body(format!(
                "This is a test email from ClinicPay, sent while {} was being set up. Card expiry reminders and payment notices will come from this address.",
                settings.clinic_name
            ))
            .map_err(|e| ServiceError::Invalid(format!("The test email cannot be written ({e}).")))?;
        mailer.send(message).await.map(|_| ()).map_err(|e| {
            ServiceError::GatewayUnavailable(format!(
                "The mail server did not take the test email to {to} ({e}). Check the server's name, port, security and password, then try again."
            ))
        })
    }

    /// A saved card and its patient, as an email about it needs them.
    pub(crate) async fn email_row(&self, card: PaymentMethodId) -> Result<ExpiringRow> {
        let mut r = self.store().reader().await?;
        let c = self.require_card(&mut r, card).await?;
        let p = clinicpay_store::patients::get(&mut r, c.patient_id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("Card {card} has no patient.")))?;
        Ok(card_row(&c, &p.name, &p.email, p.patient_type.as_str()))
    }

    /// The SMTP transport of the settings, with the keychain's password; None when none is set up.
    pub(crate) async fn mailer(
        &self,
        settings: &OrganizationSettings,
    ) -> Result<Option<AsyncSmtpTransport<Tokio1Executor>>> {
        self.mailer_with(settings, None).await
    }

    /// The same, with `typed` as the password instead of the keychain's when given.
    async fn mailer_with(
        &self,
        settings: &OrganizationSettings,
        typed: Option<Secret>,
    ) -> Result<Option<AsyncSmtpTransport<Tokio1Executor>>> {
        let smtp = &settings.smtp;
        let (Some(host), Some(_)) = (&smtp.host, &smtp.from) else {
            return Ok(None);
        };
        let builder = match smtp.security.as_str() {
            "tls" => AsyncSmtpTransport::<Tokio1Executor>::relay(host),
            "none" => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(
                host,
            )),
            _ => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host),
        }
        .map_err(|e| {
            ServiceError::Invalid(format!(
                "The mail server {host} cannot be used ({e}): check smtp.host and smtp.security."
            ))
        })?;
        let mut builder = builder.port(smtp.port).timeout(Some(SMTP_TIMEOUT));
        if let Some(user) = &smtp.username {
            if smtp.security == "none" && !is_this_computer(host) {
                return Err(ServiceError::Invalid(format!(
                    "The mail server password would cross the network in clear to {host}: set smtp.security to starttls or tls (none is for a server on this computer)."
                )));
            }
            let stored = match typed {
                Some(typed) => Some(typed),
                None => self.smtp_password(host).await?,
            };
            let password = stored.ok_or_else(|| {
                ServiceError::CredentialsMissing(
                    "This computer has no mail server password in its keychain: IT adds it with `clinicpay smtp password set`.".into(),
                )
            })?;
            builder =
                builder.credentials(Credentials::new(user.clone(), password.expose().to_owned()));
        }
        Ok(Some(builder.build()))
    }

    /// Sends one claimed reminder (`(id, attempts so far)`) and records the outcome and the activity
    /// log entry.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn deliver(
        &self,
        mailer: &AsyncSmtpTransport<Tokio1Executor>,
        settings: &OrganizationSettings,
        (id, attempts): (i64, i64),
        row: &ExpiringRow,
        email: Email,
        actor: Option<&Actor>,
        report: &mut ReminderReport,
    ) -> Result<()> {
        let sent = match build_message(settings, row, &email) {
            Ok(message) => mailer
                .send(message)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Err(e) => Err(e),
        };
        let now = self.now();
        let mut tx = self.store().begin().await?;
        match &sent {
            Ok(()) => {
                repo::mark_sent(&mut tx, id, now).await?;
                report.sent += 1;
            }
            Err(e) => {
                repo::mark_failed(&mut tx, id, e, now + retry_after(attempts)).await?;
                report.failed += 1;
            }
        }
        let mut change = Change::new(
            actor,
            now,
            if sent.is_ok() {
                "reminder.sent"
            } else {
                "reminder.failed"
            },
            "payment_method",
            row.card_id,
        )
        .patient(PatientId(row.patient_id))
        .after(serde_json::json!({
            "to": row.patient_email,
            "subject": email.subject,
            "error": sent.as_ref().err(),
        }));
        if actor.is_none() {
            change = change.by_system("ClinicPay worker");
        }
        change.record(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// A mail server on this computer, where a login without encryption never crosses a network.
fn is_this_computer(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}
