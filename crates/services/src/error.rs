use clinicpay_domain::{DomainError, Permission};
use clinicpay_store::StoreError;
use serde::Serialize;
use thiserror::Error;

/// What went wrong, as a code the UI and scripts act on. Add a code only when something acts on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    InvalidInput,
    NotFound,
    PermissionDenied,
    SignInFailed,
    NotSignedIn,
    CardRule,
    GatewayMismatch,
    GatewayRefused,
    CredentialsMissing,
    CredentialsRefused,
    KeychainUnavailable,
    NoCompatibleCard,
    Conflict,
    ManagedByIt,
    ActivityLogTampered,
    Declined,
    GatewayUnavailable,
    OutcomeUnknown,
    DatabaseUnavailable,
    Internal,
}

impl ErrorCode {
    /// The `clinicpay` exit code for this error (DESIGN.md, "CLI contract").
    pub fn exit_code(self) -> i32 {
        match self {
            ErrorCode::Declined => 4,
            ErrorCode::GatewayUnavailable
            | ErrorCode::KeychainUnavailable
            | ErrorCode::OutcomeUnknown
            | ErrorCode::DatabaseUnavailable
            | ErrorCode::Internal => 5,
            _ => 3,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidInput => "invalid_input",
            ErrorCode::NotFound => "not_found",
            ErrorCode::PermissionDenied => "permission_denied",
            ErrorCode::SignInFailed => "sign_in_failed",
            ErrorCode::NotSignedIn => "not_signed_in",
            ErrorCode::CardRule => "card_rule",
            ErrorCode::GatewayMismatch => "gateway_mismatch",
            ErrorCode::GatewayRefused => "gateway_refused",
            ErrorCode::CredentialsMissing => "credentials_missing",
            ErrorCode::CredentialsRefused => "credentials_refused",
            ErrorCode::KeychainUnavailable => "keychain_unavailable",
            ErrorCode::NoCompatibleCard => "no_compatible_card",
            ErrorCode::Conflict => "conflict",
            ErrorCode::ManagedByIt => "managed_by_it",
            ErrorCode::ActivityLogTampered => "activity_log_tampered",
            ErrorCode::Declined => "declined",
            ErrorCode::GatewayUnavailable => "gateway_unavailable",
            ErrorCode::OutcomeUnknown => "outcome_unknown",
            ErrorCode::DatabaseUnavailable => "database_unavailable",
            ErrorCode::Internal => "internal",
        }
    }
}

/// The services' one error type. Every message is a sentence staff can act on.
#[derive(Debug, Error)]
pub enum ServiceError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    #[error("You cannot {what}: ask {who}.", what = .0.describe(), who = who_can(*.0))]
    PermissionDenied(Permission),
    #[error("The name or password is not right. Check them and try again.")]
    SignInFailed,
    #[error("{0}")]
    NotSignedIn(String),
    #[error("{0}")]
    CardRule(String),
    #[error("{0}")]
    Conflict(String),
    /// IT pinned this on the computer in its managed configuration.
    #[error("{0}")]
    ManagedByIt(String),
    /// A card of one gateway offered where the clinic uses the other.
    #[error("{0}")]
    GatewayMismatch(String),
    /// The bank or gateway declined the card.
    #[error("{0}")]
    Declined(String),
    /// The gateway refused the request itself (an unknown token, a field it does not accept).
    #[error("{0}")]
    GatewayRefused(String),
    #[error("{0}")]
    GatewayUnavailable(String),
    /// The gateway was asked to charge and its answer was lost: only a look-up may settle it.
    #[error("{0}")]
    OutcomeUnknown(String),
    /// The patient has no card for the gateway being charged.
    #[error("{0}")]
    NoCompatibleCard(String),
    #[error("{0}")]
    CredentialsMissing(String),
    #[error("{0}")]
    CredentialsRefused(String),
    #[error("{0}")]
    KeychainUnavailable(String),
    #[error("The activity log was changed behind ClinicPay's back: {0}. Keep the database as it is and escalate to IT.")]
    ActivityLogTampered(String),
    #[error("The database is not available: {0}. Check the connection, or ask IT.")]
    DatabaseUnavailable(String),
    #[error("Something went wrong inside ClinicPay: {0}. Nothing was changed; if it happens again, escalate with this message.")]
    Internal(String),
}

fn who_can(p: Permission) -> &'static str {
    use clinicpay_domain::Role;
    let holders: Vec<_> = Role::ALL.into_iter().filter(|r| r.allows(p)).collect();
    match holders.as_slice() {
        [Role::ItAdmin] => "IT",
        [Role::BillingManager] => "a billing manager",
        [Role::BillingManager, Role::ItAdmin] => "a billing manager or IT",
        _ => "a colleague with the right role",
    }
}

impl ServiceError {
    pub fn code(&self) -> ErrorCode {
        match self {
            ServiceError::Invalid(_) => ErrorCode::InvalidInput,
            ServiceError::NotFound(_) => ErrorCode::NotFound,
            ServiceError::PermissionDenied(_) => ErrorCode::PermissionDenied,
            ServiceError::SignInFailed => ErrorCode::SignInFailed,
            ServiceError::NotSignedIn(_) => ErrorCode::NotSignedIn,
            ServiceError::CardRule(_) => ErrorCode::CardRule,
            ServiceError::Conflict(_) => ErrorCode::Conflict,
            ServiceError::ManagedByIt(_) => ErrorCode::ManagedByIt,
            ServiceError::GatewayMismatch(_) => ErrorCode::GatewayMismatch,
            ServiceError::Declined(_) => ErrorCode::Declined,
            ServiceError::GatewayRefused(_) => ErrorCode::GatewayRefused,
            ServiceError::GatewayUnavailable(_) => ErrorCode::GatewayUnavailable,
            ServiceError::OutcomeUnknown(_) => ErrorCode::OutcomeUnknown,
            ServiceError::NoCompatibleCard(_) => ErrorCode::NoCompatibleCard,
            ServiceError::CredentialsMissing(_) => ErrorCode::CredentialsMissing,
            ServiceError::CredentialsRefused(_) => ErrorCode::CredentialsRefused,
            ServiceError::KeychainUnavailable(_) => ErrorCode::KeychainUnavailable,
            ServiceError::ActivityLogTampered(_) => ErrorCode::ActivityLogTampered,
            ServiceError::DatabaseUnavailable(_) => ErrorCode::DatabaseUnavailable,
            ServiceError::Internal(_) => ErrorCode::Internal,
        }
    }
}

impl From<DomainError> for ServiceError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::CardRule(m) | DomainError::InvalidTransition(m) => {
                ServiceError::CardRule(capitalise(&m))
            }
            DomainError::InvalidAmount(m)
            | DomainError::InvalidCard(m)
            | DomainError::InvalidPatient(m)
            | DomainError::InvalidSetting(m)
            | DomainError::Overflow(m) => ServiceError::Invalid(capitalise(&m)),
        }
    }
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(m) => ServiceError::DatabaseUnavailable(m),
            StoreError::Invalid(m) => ServiceError::Invalid(m),
            StoreError::Duplicate(m) => ServiceError::Conflict(format!(
                "Someone else changed this at the same moment ({m}). Reload and try again."
            )),
            other => ServiceError::Internal(other.to_string()),
        }
    }
}

impl From<clinicpay_gateways::GatewayError> for ServiceError {
    fn from(e: clinicpay_gateways::GatewayError) -> Self {
        use clinicpay_gateways::GatewayError;
        match e {
            GatewayError::Rejected {
                gateway, message, ..
            } => ServiceError::GatewayRefused(format!(
                "{gateway} refused the request: {message} Nothing was changed."
            )),
            GatewayError::Unauthorized { gateway, message } => {
                ServiceError::CredentialsRefused(format!(
                    "{gateway} did not accept the credentials stored on this computer ({message}). IT can replace them with `clinicpay gateway credentials set {}`.",
                    gateway.as_str()
                ))
            }
            GatewayError::Unavailable { gateway, message } => {
                ServiceError::GatewayUnavailable(format!(
                    "{gateway} is not answering properly ({message}). Nothing was changed: try again in a minute."
                ))
            }
        }
    }
}

/// Domain messages start lower-case so they can be embedded; shown alone they start with a capital.
pub(crate) fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}
