//! The emails a patient gets while a failed payment is recovered (document 000, "What Happens When Cards
//! Expire"): the first payment failure notice (days 1-3), the warning (days 4-7), the "Update Payment
//! Method" email when recovery needs a new card, and the final notice (day 15+). Which are due for an
//! order is a pure rule here; each is sent at most once per order. The words are templates a billing
//! manager edits, with the placeholders below.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{DomainError, RecoveryStatus};

/// One of document 000's recovery emails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum NoticeStage {
    /// "Customer receives first payment failure notice" (days 1-3).
    FirstFailure,
    /// "Warning email sent" (days 4-7).
    Warning,
    /// "'Update Payment Method' email sent with link to Self-Care portal": recovery needs a new card.
    UpdatePaymentMethod,
    /// "Final notice sent" (day 15+): recovery has ended unpaid.
    FinalNotice,
    /// Not a recovery stage: the email that carries a secure card link (issue 22), sent when staff
    /// choose "Send a secure card link". Edited beside the others.
    CardLink,
}

impl NoticeStage {
    pub const ALL: [NoticeStage; 5] = [
        NoticeStage::FirstFailure,
        NoticeStage::Warning,
        NoticeStage::UpdatePaymentMethod,
        NoticeStage::FinalNotice,
        NoticeStage::CardLink,
    ];

    /// The placeholders this email may use: a card link is about no payment, so it has no amount,
    /// card or description to fill in.
    pub fn placeholders(self) -> &'static [(&'static str, &'static str)] {
        match self {
            NoticeStage::CardLink => &CARD_LINK_PLACEHOLDERS,
            _ => &PLACEHOLDERS,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            NoticeStage::FirstFailure => "first_failure",
            NoticeStage::Warning => "warning",
            NoticeStage::UpdatePaymentMethod => "update_payment_method",
            NoticeStage::FinalNotice => "final_notice",
            NoticeStage::CardLink => "card_link",
        }
    }

    /// The name staff see in Settings.
    pub fn title(self) -> &'static str {
        match self {
            NoticeStage::FirstFailure => "First payment failure notice",
            NoticeStage::Warning => "Warning (days 4-7)",
            NoticeStage::UpdatePaymentMethod => "Update your payment method",
            NoticeStage::FinalNotice => "Final notice",
            NoticeStage::CardLink => "Secure card link",
        }
    }

    /// The clinic's words until a billing manager changes them.
    pub fn default_template(self) -> NoticeTemplate {
        let (subject, body) = match self {
            NoticeStage::FirstFailure => (
                "Your payment of {amount} to {clinic} did not go through",
                "Hello {patient_name},\n\nWe tried to charge {amount} to your {card} for {description}, and the payment did not go through. We will try again in the next few days.\n\nIf your card has changed, please update it: {update_link}\n\n{clinic}\n",
            ),
            NoticeStage::Warning => (
                "Reminder: {amount} to {clinic} is still unpaid",
                "Hello {patient_name},\n\nThe payment of {amount} for {description} with your {card} has still not gone through. Please update your payment method soon so your service is not suspended: {update_link}\n\n{clinic}\n",
            ),
            NoticeStage::UpdatePaymentMethod => (
                "Please update your payment method with {clinic}",
                "Hello {patient_name},\n\nWe could not charge {amount} for {description} to your {card}, and we need another card to continue. Please update your payment method: {update_link}\n\nOnce you have, we will take the payment automatically.\n\n{clinic}\n",
            ),
            NoticeStage::FinalNotice => (
                "Final notice: {amount} to {clinic} is unpaid",
                "Hello {patient_name},\n\nThis is our final notice: the payment of {amount} for {description} could not be taken from your {card}, and your service is suspended. To restore it, update your payment method and pay the outstanding balance: {update_link}\n\nIf you have questions, please call or visit {clinic}'s front desk.\n\n{clinic}\n",
            ),
            NoticeStage::CardLink => (
                "Save your card with {clinic}",
                "Hello {patient_name},\n\n{clinic} has sent you a secure link to save a payment card for your account. The card is entered on our payment processor's page; the clinic never sees its number. You will not be charged now.\n\n{update_link}\n\nThe link works for 24 hours and only once. If you did not expect this email, you can ignore it or call the clinic.\n\n{clinic}\n",
            ),
        };
        NoticeTemplate {
            subject: subject.into(),
            body: body.into(),
        }
    }
}

impl fmt::Display for NoticeStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for NoticeStage {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase().replace('-', "_");
        NoticeStage::ALL
            .into_iter()
            .find(|n| n.as_str() == wanted)
            .ok_or_else(|| {
                DomainError::InvalidSetting(format!(
                    "\"{}\" is not a recovery email: use one of {}.",
                    s.trim(),
                    NoticeStage::ALL.map(|n| n.as_str()).join(", ")
                ))
            })
    }
}

/// The emails due for an order in recovery `status`, `days` after its first failure, earliest first.
/// Each is sent once per order, so a due one already sent is simply skipped by the sender.
pub fn due_notices(status: RecoveryStatus, days: i64) -> Vec<NoticeStage> {
    use NoticeStage::*;
    match status {
        RecoveryStatus::Resolved => Vec::new(),
        RecoveryStatus::FailedFinal => vec![FinalNotice],
        RecoveryStatus::NeedsPaymentMethod => {
            let mut due = vec![UpdatePaymentMethod];
            if days >= 3 {
                due.insert(0, Warning);
            }
            due
        }
        RecoveryStatus::RetryScheduled if days >= 3 => vec![FirstFailure, Warning],
        RecoveryStatus::RetryScheduled => vec![FirstFailure],
    }
}

/// A recovery email's words, with `{placeholders}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct NoticeTemplate {
    pub subject: String,
    pub body: String,
}

/// The placeholders a template may use, and what each becomes.
pub const PLACEHOLDERS: [(&str, &str); 6] = [
    ("patient_name", "the patient's name"),
    ("amount", "the amount, e.g. $49.00"),
    ("card", "the card, e.g. Visa ending in 4242"),
    ("description", "what the payment is for"),
    ("update_link", "where the patient updates their card"),
    ("clinic", "the clinic's name"),
];

/// The card-link email's placeholders: the link itself goes in `{update_link}`.
pub const CARD_LINK_PLACEHOLDERS: [(&str, &str); 3] = [
    ("patient_name", "the patient's name"),
    (
        "update_link",
        "the secure link where the patient saves their card",
    ),
    ("clinic", "the clinic's name"),
];

/// What a template's placeholders become for one email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeValues {
    pub patient_name: String,
    pub amount: String,
    pub card: String,
    pub description: String,
    pub update_link: String,
    pub clinic: String,
}

impl NoticeTemplate {
    /// Refuses a template staff cannot mean for `stage`: empty, too long, a line break in the subject,
    /// or a placeholder that email does not have (it would reach the patient as "{amonut}").
    pub fn validate_for(&self, stage: NoticeStage) -> Result<(), DomainError> {
        self.check(stage.placeholders())?;
        if stage == NoticeStage::CardLink && !self.body.contains("{update_link}") {
            return Err(DomainError::InvalidSetting(
                "The secure card link email must carry the link: put {update_link} in its body."
                    .into(),
            ));
        }
        Ok(())
    }

    /// [`Self::validate_for`] a recovery email.
    pub fn validate(&self) -> Result<(), DomainError> {
        self.check(&PLACEHOLDERS)
    }

    fn check(&self, allowed: &[(&str, &str)]) -> Result<(), DomainError> {
        let invalid = |m: String| Err(DomainError::InvalidSetting(m));
        if self.subject.trim().is_empty() || self.body.trim().is_empty() {
            return invalid("A recovery email needs a subject and a body.".into());
        }
        if self.subject.chars().count() > 200 || self.subject.contains(['\n', '\r']) {
            return invalid("The subject is one line of at most 200 characters.".into());
        }
        // A subject is written into the activity log; a link in it could be a live card link.
        if self.subject.contains("{update_link}") {
            return invalid("Put {update_link} in the body, not the subject.".into());
        }
        if self.body.chars().count() > 5_000 {
            return invalid("The body is at most 5,000 characters.".into());
        }
        for text in [&self.subject, &self.body] {
            for name in placeholders_in(text) {
                if !allowed.iter().any(|(p, _)| *p == name) {
                    return invalid(format!(
                        "{{{name}}} is not a placeholder: use {}.",
                        allowed
                            .iter()
                            .map(|(p, _)| format!("{{{p}}}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
            }
        }
        Ok(())
    }

    /// The subject and body with the placeholders filled in.
    pub fn render(&self, v: &NoticeValues) -> (String, String) {
        let fill = |text: &str| {
            let mut out = text.to_owned();
            for (name, value) in [
                ("patient_name", &v.patient_name),
                ("amount", &v.amount),
                ("card", &v.card),
                ("description", &v.description),
                ("update_link", &v.update_link),
                ("clinic", &v.clinic),
            ] {
                out = out.replace(&format!("{{{name}}}"), value);
            }
            out
        };
        (
            fill(&self.subject).replace(['\n', '\r'], " "),
            fill(&self.body),
        )
    }
}

/// The `{names}` in a text.
fn placeholders_in(text: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) if !after[..close].contains('{') => {
                found.push(&after[..close]);
                rest = &after[close + 1..];
            }
            _ => rest = after,
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use NoticeStage::*;

    #[test]
    fn document_000s_emails_come_in_its_order() {
        assert_eq!(
            due_notices(RecoveryStatus::RetryScheduled, 0),
            vec![FirstFailure]
        );
        assert_eq!(
            due_notices(RecoveryStatus::RetryScheduled, 2),
            vec![FirstFailure]
        );
        assert_eq!(
            due_notices(RecoveryStatus::RetryScheduled, 3),
            vec![FirstFailure, Warning],
            "day 4"
        );
        assert_eq!(
            due_notices(RecoveryStatus::NeedsPaymentMethod, 0),
            vec![UpdatePaymentMethod]
        );
        assert_eq!(
            due_notices(RecoveryStatus::NeedsPaymentMethod, 5),
            vec![Warning, UpdatePaymentMethod]
        );
        assert_eq!(
            due_notices(RecoveryStatus::FailedFinal, 15),
            vec![FinalNotice]
        );
        assert!(due_notices(RecoveryStatus::Resolved, 3).is_empty());
    }

    #[test]
    fn the_default_templates_are_valid_and_fill_every_placeholder() {
        let v = NoticeValues {
            patient_name: "Ann Lee".into(),
            amount: "$49.00".into(),
            card: "Visa ending in 4242".into(),
            description: "Wellness membership".into(),
            update_link: "https://portal.example/cards".into(),
            clinic: "Riverside Clinic".into(),
        };
        for stage in NoticeStage::ALL {
            let t = stage.default_template();
            t.validate_for(stage).unwrap();
            let (subject, body) = t.render(&v);
            assert!(
                !subject.contains('{') && !body.contains('{'),
                "{stage}: {subject} {body}"
            );
            assert!(body.contains("Ann Lee"), "{stage}: {body}");
            assert!(
                body.contains("$49.00") || stage == NoticeStage::CardLink,
                "{stage}: {body}"
            );
        }
    }

    #[test]
    fn a_template_with_an_unknown_placeholder_or_a_two_line_subject_is_refused() {
        let bad = NoticeTemplate {
            subject: "Your {amonut}".into(),
            body: "Hello".into(),
        };
        let e = bad.validate().unwrap_err().to_string();
        assert!(e.contains("{amonut} is not a placeholder"), "{e}");
        let two_lines = NoticeTemplate {
            subject: "a\nb".into(),
            body: "Hello".into(),
        };
        assert!(two_lines.validate().is_err());
        assert_eq!("final-notice".parse::<NoticeStage>().unwrap(), FinalNotice);
        // A card link is about no payment: no amount to put in it.
        let link = NoticeTemplate {
            subject: "Your card".into(),
            body: "Pay {amount} at {update_link}".into(),
        };
        assert!(link.validate().is_ok());
        let e = link.validate_for(CardLink).unwrap_err().to_string();
        assert!(e.contains("{amount} is not a placeholder"), "{e}");
        // The card-link email carries its link; no subject carries one (subjects are logged).
        let no_link = NoticeTemplate {
            subject: "Your card".into(),
            body: "Hello {patient_name}".into(),
        };
        assert!(no_link
            .validate_for(CardLink)
            .unwrap_err()
            .to_string()
            .contains("{update_link}"));
        let in_subject = NoticeTemplate {
            subject: "Update: {update_link}".into(),
            body: "Hello {patient_name}".into(),
        };
        assert!(in_subject.validate().is_err());
    }
}
