//! Typed ids, so a patient id can never be passed where a card id is expected.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

macro_rules! typed_id {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        #[cfg_attr(feature = "specta", derive(specta::Type))]
        pub struct $name(
            // Exported to TypeScript as number: ids stay far below 2^53.
            #[cfg_attr(feature = "specta", specta(type = i32))] pub i64,
        );

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }

        impl FromStr for $name {
            type Err = std::num::ParseIntError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.trim().trim_start_matches('#').parse().map($name)
            }
        }
    )*};
}

typed_id!(
    /// A patient of the clinic.
    PatientId,
    /// A saved card ("payment method").
    PaymentMethodId,
    /// A staff account.
    StaffId,
    OrderId,
    InvoiceId,
    PaymentId,
    SubscriptionId,
    RefundId,
);
