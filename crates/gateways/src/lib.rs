//! ClinicPay's payment gateways. Each client speaks its gateway's wire format exactly and answers in
//! ClinicPay's terms: a charge is succeeded, declined (with the gateway's own code and message), a
//! retryable failure (it certainly did not happen), or unknown (it may have happened: look it up, never
//! charge again). Every call is written to the processor log with secrets and card data redacted.

use std::time::Duration;

use async_trait::async_trait;
use clinicpay_domain::{CardBrand, Gateway, Money};
use serde::Serialize;
use thiserror::Error;

mod call;
pub mod nmi;
pub mod redact;
pub mod stripe;

/// A secret (API key) that never shows in Debug output or logs.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The `code` of a [`GatewayError::Rejected`] when the gateway has no such card (already deleted).
pub const NOT_FOUND: &str = "not_found";

/// How long any one gateway call may take before its outcome counts as unknown.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);

/// The card a gateway holds for a patient, as display metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SavedCard {
    /// The gateway's reference: NMI customer vault id, Stripe PaymentMethod id.
    pub token: String,
    pub brand: CardBrand,
    pub last4: String,
    pub exp_month: u32,
    pub exp_year: i32,
    /// The gateway's customer the card is saved under (Stripe `cus_…`); NMI vault records stand alone.
    pub customer: Option<String>,
    /// The issuing country (ISO 3166 alpha-2), when the gateway tells.
    pub country: Option<String>,
    /// The gateway's fingerprint of the card number, to spot the same card saved twice.
    pub fingerprint: Option<String>,
}

/// Who the card belongs to, for the gateway's customer record.
#[derive(Debug, Clone, Default)]
pub struct CardHolder {
    pub name: String,
    pub email: String,
    /// Our patient id, written into the gateway's customer metadata.
    pub patient_ref: String,
    /// The patient's existing customer at this gateway (Stripe `cus_…`), if one was made before.
    pub customer: Option<String>,
    /// The billing country typed at the desk (ISO 3166 alpha-2): NMI keeps it on the vault record
    /// (`country`); Stripe has it on the PaymentMethod from Elements already.
    pub country: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ChargeRequest {
    /// Our payment's idempotency key: NMI `orderid`, Stripe `Idempotency-Key`.
    pub payment_key: String,
    /// The saved card's gateway reference.
    pub card_token: String,
    /// The gateway customer the card is saved under (Stripe needs it to charge and to look up).
    pub customer: Option<String>,
    pub amount: Money,
    /// Let the gateway refuse a second charge of this amount on this card within its duplicate window
    /// (NMI's duplicate check): a second net under our own keys for a payment staff take at the desk.
    /// The billing engine's charges turn it off (`dup_seconds=0`): two family members' plans of the same
    /// amount on one card are billed in the same pass, and each cycle order is already unique.
    pub check_duplicates: bool,
}

/// What became of a charge (or refund).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ChargeOutcome {
    Succeeded {
        reference: String,
    },
    /// The bank or gateway said no. `code` and `message` are the gateway's own.
    Declined {
        code: String,
        message: String,
        reference: Option<String>,
    },
    /// Certainly not done (nothing reached the gateway, or it refused before acting): safe to try again.
    RetryableFailure {
        message: String,
    },
    /// Maybe done: the reply was lost. Only a look-up may settle it.
    Unknown {
        message: String,
    },
    /// Certainly not done: the gateway refused it as a duplicate of a charge of the same amount on
    /// the same card within its duplicate window (NMI response=3 "Duplicate transaction"). Not the
    /// bank's decline and not a failed attempt.
    RefusedAsDuplicate {
        message: String,
    },
}

/// What a look-up by our payment key found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "found", rename_all = "snake_case")]
pub enum LookupOutcome {
    /// The gateway has no charge with our key: it never happened.
    NotFound,
    Found(ChargeOutcome),
}

#[derive(Debug, Error)]
pub enum GatewayError {
    /// The gateway refused the request itself (bad token, bad key, invalid field): nothing happened.
    #[error("{gateway} refused the request: {message}")]
    Rejected {
        gateway: Gateway,
        code: String,
        message: String,
    },
    /// The credentials do not work.
    #[error("{gateway} did not accept ClinicPay's credentials: {message}")]
    Unauthorized { gateway: Gateway, message: String },
    /// The gateway could not be reached or answered in a way we cannot read.
    #[error("{gateway} is not answering properly: {message}")]
    Unavailable { gateway: Gateway, message: String },
}

/// One call to a gateway, as the processor log stores it (already redacted).
#[derive(Debug, Clone, Serialize)]
pub struct ProcessorLogEntry {
    pub at: chrono::DateTime<chrono::Utc>,
    pub gateway: Gateway,
    pub operation: String,
    pub payment_key: Option<String>,
    pub http_status: Option<u16>,
    pub duration_ms: i64,
    pub outcome: String,
    pub request: String,
    pub response: String,
}

/// Where clients write their processor log. The services store it in the database.
#[async_trait]
pub trait ProcessorLog: Send + Sync {
    async fn record(&self, entry: ProcessorLogEntry);
}

/// A processor log held in memory (for tools and tests that have no database).
#[derive(Default)]
pub struct MemoryLog(pub std::sync::Mutex<Vec<ProcessorLogEntry>>);

#[async_trait]
impl ProcessorLog for MemoryLog {
    async fn record(&self, entry: ProcessorLogEntry) {
        self.0.lock().expect("log").push(entry);
    }
}

impl MemoryLog {
    pub fn entries(&self) -> Vec<ProcessorLogEntry> {
        self.0.lock().expect("log").clone()
    }
}

/// A charge or a refund as the gateway holds it, for reconciliation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GatewayTransaction {
    pub kind: TransactionKind,
    /// The gateway's id: NMI's transaction id, Stripe's `pi_…` or `re_…`.
    pub reference: String,
    /// Our payment or refund key as we sent it (NMI's `orderid`, Stripe's metadata); None for a
    /// transaction ClinicPay did not make.
    pub our_key: Option<String>,
    pub amount_minor: i64,
    /// ISO 4217, upper case, when the gateway says.
    pub currency: Option<String>,
    /// The money moved: a charge taken (and not voided), a refund paid back.
    pub taken: bool,
    /// The gateway's own word for its state (`complete`, `pendingsettlement`, `succeeded`,
    /// `requires_payment_method`…), for staff.
    pub status: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// Where a gateway's listing hands its pages (see [`PaymentGateway::transactions`]).
pub type TransactionPages = tokio::sync::mpsc::Sender<Vec<GatewayTransaction>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TransactionKind {
    Charge,
    Refund,
}

/// What a zero-amount check of a saved card found (document 000's "test payment after updating").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyOutcome {
    /// The bank accepted the card; nothing was charged.
    Verified { reference: Option<String> },
    /// The bank or the gateway refused it, in its own words.
    Refused { code: String, message: String },
    /// No answer could be read: nothing is known (and nothing was charged, the check being for zero).
    Unknown { message: String },
}

impl VerifyOutcome {
    /// A check's answer read from a charge-shaped answer (NMI's `type=validate` replies as a sale).
    pub fn from_charge(outcome: ChargeOutcome) -> VerifyOutcome {
        match outcome {
            ChargeOutcome::Succeeded { reference } => VerifyOutcome::Verified {
                reference: Some(reference).filter(|r| !r.is_empty()),
            },
            ChargeOutcome::Declined { code, message, .. } => {
                VerifyOutcome::Refused { code, message }
            }
            ChargeOutcome::RetryableFailure { message }
            | ChargeOutcome::Unknown { message }
            | ChargeOutcome::RefusedAsDuplicate { message } => VerifyOutcome::Unknown { message },
        }
    }
}

/// A page the gateway hosts where the patient types a card to save it for later (Stripe Checkout in
/// `mode=setup`): opened in a window of its own at the desk, or sent to the patient as a link.
#[derive(Debug, Clone)]
pub struct HostedSetupRequest {
    pub holder: CardHolder,
    /// Where the page sends the browser once the card is saved; `{CHECKOUT_SESSION_ID}` is filled in.
    pub success_url: String,
    /// Where the page's Back goes; None: the page has no Back (a link the patient opens by email).
    pub cancel_url: Option<String>,
    /// When the page stops taking cards (Stripe: 30 minutes to 24 hours after it is made, judged by
    /// Stripe's clock); None: the gateway's longest (Stripe: 24 hours), which no clock difference can
    /// make invalid.
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Our name for this setup: the idempotency key and the session's `client_reference_id`.
    pub reference: String,
}

/// Where a hosted setup page stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HostedSetupStatus {
    /// Waiting for the patient.
    Open,
    /// The patient saved a card on it.
    Complete,
    /// It no longer takes a card (its time ran out, or ClinicPay ended it).
    Expired,
}

/// A hosted setup page as the gateway answers for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostedSetup {
    /// The gateway's id for it (Stripe `cs_…`).
    pub session: String,
    /// The page's address while it is open.
    pub url: Option<String>,
    pub status: HostedSetupStatus,
    /// The gateway customer the card is saved under (Stripe `cus_…`).
    pub customer: Option<String>,
    pub expires_at: chrono::DateTime<chrono::Utc>,
    /// Once complete: the card saved on it, as `save_card` takes it and as it is kept once saved
    /// (Stripe: the SetupIntent's PaymentMethod, `pm_…`).
    pub card_token: Option<String>,
}

/// One interface for both gateways.
#[async_trait]
pub trait PaymentGateway: Send + Sync {
    fn gateway(&self) -> Gateway;
    /// Saves the card behind a hosted-field token for later, off-session charges.
    async fn save_card(
        &self,
        holder: &CardHolder,
        hosted_token: &str,
    ) -> Result<SavedCard, GatewayError>;
    /// The brand, last four and expiry the gateway holds for a saved card.
    async fn card_details(&self, card_token: &str) -> Result<SavedCard, GatewayError>;
    async fn charge(&self, request: &ChargeRequest) -> ChargeOutcome;
    /// Finds the charge made for this request (by its payment key), if any, without charging.
    async fn lookup(&self, request: &ChargeRequest) -> Result<LookupOutcome, GatewayError>;
    /// Sends the original request again with its idempotency key, while the gateway still keeps the
    /// first answer (Stripe: 24 hours): the gateway answers what it did the first time, or, if the first
    /// request never reached it, does it now, once. Authoritative where a listing may lag. None: this
    /// gateway has no idempotent replay (NMI), so only `lookup` can tell.
    async fn replay_charge(
        &self,
        _request: &ChargeRequest,
    ) -> Option<Result<LookupOutcome, GatewayError>> {
        None
    }
    /// Refunds all (None) or part of a charge, against the original transaction.
    async fn refund(
        &self,
        charge_reference: &str,
        amount: Option<Money>,
        refund_key: &str,
    ) -> ChargeOutcome;
    /// Finds the refund made with our refund key against a charge, if any, without refunding.
    async fn lookup_refund(
        &self,
        charge_reference: &str,
        refund_key: &str,
    ) -> Result<LookupOutcome, GatewayError>;
    async fn delete_card(&self, card_token: &str) -> Result<(), GatewayError>;
    /// Asks the bank whether a saved card is good, charging nothing: NMI `type=validate`, Stripe an
    /// off-session SetupIntent confirmed with the card. `key` names this check at the gateway.
    async fn verify_card(
        &self,
        card_token: &str,
        customer: Option<&str>,
        key: &str,
    ) -> VerifyOutcome;
    /// Every charge and refund the gateway holds that was created in `[from, to)`, read page by page
    /// to the end, each page handed to `pages` as soon as it is read: what reconciliation matches
    /// against the ledger, a million of them in a busy month, never all held at once. A transaction
    /// that moved while the pages were read may come twice. Stops early, without error, once
    /// nobody takes the pages any more.
    async fn transactions(
        &self,
        from: chrono::DateTime<chrono::Utc>,
        to: chrono::DateTime<chrono::Utc>,
        pages: &TransactionPages,
    ) -> Result<(), GatewayError>;
    /// A harmless call that proves the credentials work.
    async fn check(&self) -> Result<(), GatewayError>;
    /// Makes a hosted page where the patient saves a card (Stripe Checkout in setup mode), under the
    /// patient's customer (made first when they have none). A gateway without one refuses.
    async fn begin_hosted_setup(
        &self,
        _request: &HostedSetupRequest,
    ) -> Result<HostedSetup, GatewayError> {
        Err(no_hosted_setup(self.gateway()))
    }
    /// Where a hosted setup page stands now.
    async fn hosted_setup(&self, _session: &str) -> Result<HostedSetup, GatewayError> {
        Err(no_hosted_setup(self.gateway()))
    }
    /// Ends a hosted setup page so it takes no card (Cancel, a closed window, a link withdrawn). One
    /// that already completed or expired is answered as it is.
    async fn end_hosted_setup(&self, _session: &str) -> Result<HostedSetup, GatewayError> {
        Err(no_hosted_setup(self.gateway()))
    }
}

/// The `code` of a [`GatewayError::Rejected`] from a gateway that hosts no card-saving page.
pub const NO_HOSTED_SETUP: &str = "hosted_setup_not_offered";

fn no_hosted_setup(gateway: Gateway) -> GatewayError {
    GatewayError::Rejected {
        gateway,
        code: NO_HOSTED_SETUP.into(),
        message: format!("{gateway} has no page of its own where a patient saves a card for later: enter the card at the desk."),
    }
}
