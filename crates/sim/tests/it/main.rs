//! The simulator's tests: the hosted-field stand-ins, its saved state, and training mode.

mod hosted_fields;
mod state;
mod training;
