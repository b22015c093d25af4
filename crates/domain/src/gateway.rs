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

    /// Checks a hosted-field token's shape before it goes into a URL or a form: letters, digits, `_`
    /// and `-` only, a sane length, and never something that reads as a card number. A card number
    /// pasted where a token belongs is refused without being repeated or sent anywhere.
    pub fn check_token(token: &str) -> Result<(), crate::DomainError> {
        let digits: String = token.chars().filter(char::is_ascii_digit).collect();
        let card_like = token
            .chars()
            .all(|c| c.is_ascii_digit() || c == ' ' || c == '-')
            && (12..=19).contains(&digits.len());
        // A card number inside a token: 13 to 19 digits in a row that pass the card-number check.
        let holds_a_card_number = token
            .split(|c: char| !c.is_ascii_digit())
            .any(|run| (13..=19).contains(&run.len()) && crate::card::luhn_ok(run));
        if card_like || holds_a_card_number {
            return Err(crate::DomainError::InvalidCard(
                "That looks like a card number, not a card token: ClinicPay never takes card numbers. Enter the card in the card form, which hands ClinicPay a token.".into(),
            ));
        }
        let shaped = (4..=255).contains(&token.len())
            && token
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !shaped {
            return Err(crate::DomainError::InvalidCard(
                "That is not a card token from the card form: enter the card in the card form again.".into(),
            ));
        }
        Ok(())
    }

    /// What this gateway's hosted fields hand back, as the card window may hand it over: Stripe
    /// Elements' PaymentMethod id (`pm_…`), or a Collect.js payment token (groups of letters and digits
    /// joined by `-`, as NMI documents `00000000-000000-000000-000000000000`; a few groups either way
    /// are taken, so a change on NMI's side does not stop a clinic saving cards). Stricter than [`Gateway::check_token`], which also takes the ids the CLI
    /// may be given (`seti_…`, `tok_…`, vault ids).
    pub fn check_form_token(self, token: &str) -> Result<(), crate::DomainError> {
        Gateway::check_token(token)?;
        let alnum = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric());
        let shaped = match self {
            Gateway::Stripe => token
                .strip_prefix("pm_")
                .is_some_and(|id| (8..=64).contains(&id.len()) && alnum(id)),
            Gateway::Nmi => {
                let groups: Vec<&str> = token.split('-').collect();
                (3..=8).contains(&groups.len())
                    && groups.iter().all(|g| g.len() <= 32 && alnum(g))
                    && Gateway::of_token(token) == Gateway::Nmi
            }
        };
        if shaped {
            Ok(())
        } else {
            Err(crate::DomainError::InvalidCard(format!(
                "That is not a card token from {}'s card form: enter the card again.",
                self.display_name()
            )))
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

#[cfg(test)]
mod token_tests {
    use super::Gateway;

    #[test]
    fn a_card_number_pasted_as_a_token_is_refused_without_being_repeated() {
        for pasted in [
            "4111111111111111",
            "4111 1111 1111 1111",
            "4111-1111-1111-1111",
            "pm_4111111111111111x",
        ] {
            let e = Gateway::check_token(pasted).unwrap_err().to_string();
            assert!(e.contains("card number"), "{pasted}: {e}");
            assert!(!e.contains("1111"), "{e}");
        }
        for bad in ["pm_1/../../v1/charges", "a b", "x?y=1", "abc"] {
            assert!(Gateway::check_token(bad).is_err(), "{bad}");
        }
        for good in [
            "pm_1Hclinicpay0abc",
            "3c5d2f1a-1b2c-4d5e-8f90-123456789012",
            "tok_visa",
        ] {
            assert!(Gateway::check_token(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn the_card_window_hands_over_only_its_gateways_token() {
        for (gateway, good) in [
            (Gateway::Stripe, "pm_1Hclinicpay0abcdefghij"),
            (Gateway::Nmi, "00000000-000000-000000-000000000000"),
            (Gateway::Nmi, "3c5d2f1a-1b2c-4d5e-123456789012"),
            (Gateway::Nmi, "3455zJms-7qA2K2-VdVrSu-Rv7WpvPuG7s8"),
        ] {
            assert!(gateway.check_form_token(good).is_ok(), "{good}");
        }
        for (gateway, bad) in [
            (Gateway::Stripe, "seti_1Hclinicpay0abc"),
            (Gateway::Stripe, "tok_visa"),
            (Gateway::Stripe, "3c5d2f1a-1b2c-4d5e-123456789012"),
            (Gateway::Nmi, "pm_1Hclinicpay0abcdefghij"),
            (Gateway::Nmi, "4111111111111111"),
            (Gateway::Nmi, "vault-1234"),
        ] {
            let e = gateway.check_form_token(bad).unwrap_err().to_string();
            assert!(!e.contains("4111"), "{e}");
        }
    }
}
