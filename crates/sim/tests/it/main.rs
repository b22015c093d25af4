//! The simulator's tests: the hosted-field stand-ins, its saved state, and training mode.

mod checkout_sessions;
mod hosted_fields;
mod state;
mod training;
