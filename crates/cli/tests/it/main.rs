//! The `clinicpay` command's tests: the CLI contract, the gateways through the CLI, and the workers.

mod contract;
mod gateway_cli;
mod permissions;
mod scripting;
mod security;
mod support;
mod worker;
