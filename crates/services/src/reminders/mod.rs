//! Expiring cards and reminders (document 000, "What Happens When Cards Expire"; document 003,
//! "Reminders"): the expiring-cards dashboard and the reminder run (`expiry`), sending mail over the
//! clinic's SMTP (`mail`) and the emails' words (`templates`).

mod expiry;
mod mail;
mod templates;

pub(crate) use expiry::{card_row, day_number, month_of};
pub use expiry::{
    due_threshold, retry_after, ExpiringCard, ExpiringCards, ExpiringCursor, ExpiringFilter,
    DASHBOARD_LIMIT, DASHBOARD_PAGE,
};
pub(crate) use mail::message_to;
pub use templates::{expiry_email, resave_email, Email};

use serde::Serialize;

/// What a reminder run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ReminderReport {
    pub sent: u32,
    pub failed: u32,
    /// Already sent (or being sent) by someone else: not sent again.
    pub skipped: u32,
    /// Reminders disabled, or no mail server set up: why nothing went out.
    pub note: Option<String>,
    /// Cards due a reminder whose gateway could not say whether the card network renewed them: their
    /// reminder waits for the next pass (issue 23).
    #[serde(default)]
    pub not_checked: u32,
    /// Cards the card network had renewed: no reminder for them.
    #[serde(default)]
    pub renewed: u32,
}
