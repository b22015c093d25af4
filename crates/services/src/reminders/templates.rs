//! The reminder emails' words, from the clinic's templates.

use clinicpay_domain::{CardBrand, OrganizationSettings};
use clinicpay_store::reminders::ExpiringRow;

/// A reminder's (or a recovery email's) subject and text.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Email {
    pub subject: String,
    pub body: String,
}

/// The expiry reminder: the patient's name, the card's brand and last four, its expiry, and the link
/// to update it.
pub fn expiry_email(settings: &OrganizationSettings, row: &ExpiringRow, days: i64) -> Email {
    let card = format!("{} ending in {}", brand_words(&row.brand), row.last4);
    let expiry = format!("{:02}/{}", row.exp_month, row.exp_year);
    let clinic = &settings.clinic_name;
    let (subject, when) = match days {
        d if d < 0 => (
            format!("Your {card} has expired"),
            format!("expired at the end of {expiry}"),
        ),
        0 => (
            format!("Your {card} expires today"),
            format!("expires today (end of {expiry})"),
        ),
        d => (
            format!(
                "Your {card} expires in {d} day{}",
                if d == 1 { "" } else { "s" }
            ),
            format!(
                "expires at the end of {expiry}, in {d} day{}",
                if d == 1 { "" } else { "s" }
            ),
        ),
    };
    let update = match &settings.reminders.update_link {
        Some(link) => format!(
            "Please update your card here: {}",
            link.replace("{patient}", &row.patient_id.to_string())
        ),
        None => format!("Please call or visit {clinic}'s front desk to update your card."),
    };
    let body = format!(
        "Hello {name},\n\nThe {card} you keep on file with {clinic} {when}.\n\n{update}\n\nKeeping a valid card on file means your appointments and any subscription stay paid without interruption. If you have already updated your card, you can ignore this message.\n\n{clinic}\n",
        name = row.patient_name,
    );
    Email { subject, body }
}

/// "Visa", "Mastercard", "American Express card": how the email names the card.
/// "Please re-save your card": the clinic now takes cards through another processor.
pub fn resave_email(settings: &OrganizationSettings, row: &ExpiringRow) -> Email {
    let clinic = &settings.clinic_name;
    let card = format!("{} ending in {}", brand_words(&row.brand), row.last4);
    let update = match &settings.reminders.update_link {
        Some(link) => format!(
            "Please enter your card again here: {}",
            link.replace("{patient}", &row.patient_id.to_string())
        ),
        None => format!("Please call or visit {clinic}'s front desk to enter your card again."),
    };
    Email {
        subject: format!("Please re-save your card with {clinic}"),
        body: format!(
            "Hello {name},\n\n{clinic} is moving card payments to a new payment processor. The {card} you keep on file cannot move with it, so it needs to be entered once more to keep your appointments and any subscription paid without interruption.\n\n{update}\n\nThank you,\n{clinic}\n",
            name = row.patient_name
        ),
    }
}

fn brand_words(brand: &str) -> String {
    match CardBrand::from_gateway_name(brand) {
        CardBrand::Visa => "Visa".into(),
        CardBrand::Mastercard => "Mastercard".into(),
        CardBrand::Amex => "American Express card".into(),
        CardBrand::Unknown => "card".into(),
        other => format!("{} card", other.display_name()),
    }
}
