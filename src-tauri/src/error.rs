//! The one error type that crosses to the window: a code the UI acts on and a sentence a person reads.

use clinicpay_services::{ErrorCode, ServiceError};
use serde::Serialize;

#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct UiError {
    pub code: ErrorCode,
    pub message: String,
}

impl From<ServiceError> for UiError {
    fn from(e: ServiceError) -> Self {
        // Messages are written for staff and hold no secret; the code says which kind of problem.
        tracing::info!(code = e.code().as_str(), message = %e, "refused or failed");
        UiError {
            code: e.code(),
            message: e.to_string(),
        }
    }
}

impl UiError {
    pub fn not_signed_in() -> UiError {
        UiError {
            code: ErrorCode::NotSignedIn,
            message: "Sign in to continue.".into(),
        }
    }
}
