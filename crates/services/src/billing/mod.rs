//! Invoices and the money that pays them (document 003, "Invoice Payment", "Checkout", "Refunds"): a
//! charge is recorded PENDING before the gateway is called, with an idempotency key the gateway also
//! sees, and settled from the status it was seen in, so no payment is ever sent twice or lost. Each
//! file is one use case: `invoices` (create and list), `checkout` (Pay and Take a payment), `charge`
//! (sending one charge and settling its answer), `refunds`, `janitor` (payments whose outcome is
//! unknown), `history` (the orders and payments a patient's tabs list).

mod charge;
mod checkout;
mod history;
mod invoices;
mod janitor;
mod refunds;

pub use checkout::{AttemptState, CheckoutAttemptStatus, CheckoutSource};
pub use history::OrderDetails;
pub use janitor::{JanitorReport, JANITOR_GRACE};
pub(crate) use refunds::mark_refunded;
pub use refunds::RefundResult;

use crate::{Result, ServiceError, Services};
use chrono::{DateTime, Utc};
use clinicpay_domain::{
    Gateway, InvoiceId, InvoiceStatus, Money, OrderKind, OrderStatus, PatientId,
};
use clinicpay_store::invoices::Invoice;
use clinicpay_store::orders::NewOrder;
use clinicpay_store::payments::Payment;
use clinicpay_store::StoreError;
use serde::Serialize;

/// The most rows a list answers with.
const LIST_LIMIT: i64 = 500;

/// A payment that went through, and what to tell the patient.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct PaymentResult {
    pub payment: Payment,
    pub invoice: Invoice,
    pub message: String,
}

/// What one charge attempt came to (the payment row says the same).
pub(crate) enum Charged {
    Paid(Payment),
    Declined(Payment, String),
    NotSent(Payment, String),
    /// The gateway refused it before acting (its duplicate check): not charged, not a decline.
    Refused(Payment, String),
    Unknown(Payment, String),
}

/// The code a payment the gateway refused as a duplicate is recorded with: like `not_sent`, nothing
/// was charged and it is not a failed attempt.
pub(crate) const DUPLICATE_REFUSED: &str = "duplicate_refused";

/// A fresh idempotency key for one attempt: ClinicPay's payment key at the gateway (NMI `orderid`,
/// Stripe `Idempotency-Key` and metadata).
fn new_key(prefix: &str) -> String {
    format!(
        "cp-{prefix}-{:016x}{:08x}",
        rand::random::<u64>(),
        rand::random::<u32>()
    )
}

/// What an order to be paid is: everything but its patient, amount and description is optional.
pub(crate) struct OrderToBill<'a> {
    pub patient: PatientId,
    pub kind: OrderKind,
    pub status: OrderStatus,
    pub description: &'a str,
    pub amount: Money,
    pub subscription: Option<clinicpay_domain::SubscriptionId>,
    pub cycle_start_at: Option<DateTime<Utc>>,
    pub locked_gateway: Option<Gateway>,
}

/// Creates an order and its open invoice, in the caller's transaction.
pub(crate) async fn insert_order_with_invoice(
    tx: &mut clinicpay_store::Tx,
    o: OrderToBill<'_>,
    now: DateTime<Utc>,
) -> std::result::Result<(clinicpay_domain::OrderId, InvoiceId), StoreError> {
    let order = clinicpay_store::orders::insert_order(
        tx,
        &NewOrder {
            patient_id: o.patient,
            subscription_id: o.subscription,
            kind: o.kind,
            status: o.status,
            description: o.description.into(),
            amount: o.amount,
            cycle_start_at: o.cycle_start_at,
            locked_gateway: o.locked_gateway,
            recovery_status: None,
            next_retry_at: None,
            attempts: 0,
            first_failed_at: None,
            last_message: None,
        },
        now,
    )
    .await?;
    let invoice = clinicpay_store::invoices::insert_invoice(
        tx,
        o.patient,
        Some(order),
        o.description,
        o.amount,
        InvoiceStatus::Open,
        now,
    )
    .await?;
    Ok((order, invoice))
}

/// No card of the patient's can be charged on `gateway`. A card saved for that gateway that has only
/// expired is named as expired (the patient needs a new card, not a re-save for another processor).
pub(crate) fn no_card_for(
    gateway: Gateway,
    cards: &[clinicpay_domain::PaymentMethod],
    now: DateTime<Utc>,
) -> ServiceError {
    let expired = cards
        .iter()
        .filter(|c| c.usable_with(gateway) && c.expiry.is_expired(now))
        .max_by_key(|c| (c.is_default, c.expiry));
    ServiceError::NoCompatibleCard(match expired {
        Some(card) => format!(
            "{} expired in {}: ask the patient for a new card and save it for {gateway}.",
            card.describe(),
            card.expiry
        ),
        None => format!(
            "No {gateway} payment method found — ask the patient to re-save the card. The patient may have a card on file, but it is not saved for {gateway}, the payment processor in use."
        ),
    })
}

impl Services {
    /// An amount typed by staff ("12.34", "$1,234.50"), in the clinic's currency.
    pub async fn parse_amount(&self, text: &str) -> Result<Money> {
        let settings = self.load_settings().await?;
        Ok(Money::parse(text, settings.currency)?)
    }
}
