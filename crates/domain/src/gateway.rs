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

    /// Which gateway a hosted-field token comes from, by its shape: Stripe's ids carry a type prefix;
    /// Collect.js tokens and vault ids do not.
    pub fn of_token(token: &str) -> Gateway {
        const STRIPE_PREFIXES: [&str; 5] = ["pm_", "seti_", "tok_", "src_", "card_"];
        if STRIPE_PREFIXES.iter().any(|p| token.starts_with(p)) {
            Gateway::Stripe
        } else {
            Gateway::Nmi
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_from_stripe_elements_or_the_stripe_api_is_stripe_s() {
        for token in ["pm_1Q2w3E", "seti_1Abc", "tok_visa", "src_123", "card_1Xyz"] {
            assert_eq!(Gateway::of_token(token), Gateway::Stripe, "{token}");
        }
    }

    #[test]
    fn a_collect_js_token_or_an_nmi_vault_id_is_nmi_s() {
        for token in [
            "00000000-000000-000000-000000000000",
            "1234567890",
            "vault-42",
            "PM_upper",
        ] {
            assert_eq!(Gateway::of_token(token), Gateway::Nmi, "{token}");
        }
    }
}
