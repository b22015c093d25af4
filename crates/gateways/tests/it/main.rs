//! The gateway clients end to end, in one test binary: NMI against ClinicPay's simulator, Stripe against
//! the simulator and localstripe, and one contract both must keep.

mod contract;
mod nmi;
mod stripe;
mod support;
