//! What "What to check" reads and answers: the facts about one patient (and one order) the checks are
//! computed from, and a check as the window shows it.

use chrono::Duration;
use clinicpay_domain::Gateway;
use clinicpay_store::invoices::Invoice;
use clinicpay_store::orders::Order;
use clinicpay_store::payments::Payment;
use clinicpay_store::subscriptions::Subscription;
use serde::Serialize;

use crate::cards::CardView;

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

/// A card saved this recently counts as "recently re-saved".
pub(super) const RECENT_DAYS: i64 = 14;

/// What "Expiry reminders" needs to know of the clinic's settings.
pub(super) struct RemindersFacts {
    pub(super) enabled: bool,
    pub(super) thresholds: Vec<u32>,
    /// A mail server is set to send them through.
    pub(super) mail_server: bool,
}

/// What the checks are computed from.
pub(super) struct Facts {
    pub(super) active: Gateway,
    pub(super) reminders: RemindersFacts,
    pub(super) patient: clinicpay_domain::Patient,
    pub(super) cards: Vec<CardView>,
    pub(super) order: Option<Order>,
    pub(super) invoice: Option<Invoice>,
    pub(super) latest_payment: Option<Payment>,
    /// Second charges of an invoice (late answers) not refunded yet.
    pub(super) charged_twice: Vec<Payment>,
    pub(super) subscription: Option<Subscription>,
    pub(super) recovery: Option<Order>,
    /// Where the order's (else the open recovery's) next charge goes, by the engine's own routing.
    pub(super) next_charge: Option<crate::recovery::NextCharge>,
    pub(super) log_ref: Option<i64>,
    pub(super) recent: Duration,
    pub(super) now: chrono::DateTime<chrono::Utc>,
}

impl Facts {
    pub(super) fn compatible(&self) -> impl Iterator<Item = &CardView> {
        self.cards
            .iter()
            .filter(|c| c.gateway == self.active && !c.expired)
    }

    pub(super) fn default_card(&self) -> Option<&CardView> {
        self.cards.iter().find(|c| c.is_default)
    }

    pub(super) fn resaved_recently(&self) -> Option<&CardView> {
        self.cards
            .iter()
            .filter(|c| c.gateway == self.active && self.now - c.added_at <= self.recent)
            .max_by_key(|c| c.added_at)
    }
}
