use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use crate::DomainError;

/// A payment processor. A saved card belongs to exactly one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "lowercase")]
pub enum Gateway {
    Stripe,
    Nmi,
}

impl Gateway {
    pub const ALL: [Gateway; 2] = [Gateway::Stripe, Gateway::Nmi];

    /// The stable machine name, as stored and as typed on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Gateway::Stripe => "stripe",
            Gateway::Nmi => "nmi",
        }
    }

    /// The other one of the two.
    pub fn other(self) -> Gateway {
        match self {
            Gateway::Stripe => Gateway::Nmi,
            Gateway::Nmi => Gateway::Stripe,
        }
    }

    /// The name staff know it by.
    pub fn display_name(self) -> &'static str {
        match self {
            Gateway::Stripe => "Stripe",
            Gateway::Nmi => "NMI",
        }
    }
}

impl fmt::Display for Gateway {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.display_name())
    }
}

impl FromStr for Gateway {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "stripe" => Ok(Gateway::Stripe),
            "nmi" => Ok(Gateway::Nmi),
            other => Err(DomainError::InvalidSetting(format!(
                "\"{other}\" is not a payment gateway ClinicPay supports: use stripe or nmi."
            ))),
        }
    }
}
