//! Moving the clinic from one gateway to the other (document 003, "Gateway Compatibility"): who is
//! ready (`readiness`) and asking the rest to re-save their card (`resave_requests`).

mod readiness;
mod resave_requests;

pub use readiness::{AtRiskPatient, GatewayReadiness, LockedSubscription};
