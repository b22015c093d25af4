//! The one table that decides what a decline means: for each (gateway, code), what recovery does next and
//! the sentence staff read. Hard declines are never retried: they need a new card or must stop.

use serde::{Deserialize, Serialize};

use crate::Gateway;

/// What recovery does after a decline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeclineAction {
    /// A soft decline: retry on the next scheduled day.
    RetryLater,
    /// The card cannot be charged again: the patient must give another card (NEEDS_PAYMENT_METHOD).
    NeedsNewCard,
    /// The cardholder or bank asked to stop recurring charges: never retry this card for this plan.
    Stop,
    /// The gateway may already have charged (a duplicate, a processor communication error): look it up.
    LookUp,
}

impl DeclineAction {
    pub fn is_hard(self) -> bool {
        matches!(self, DeclineAction::NeedsNewCard | DeclineAction::Stop)
    }
}

/// What staff are told about a decline, and what recovery does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeclineAdvice {
    pub action: DeclineAction,
    /// Why, in words; the gateway's own code and message are quoted after it.
    pub reason: String,
    /// What to do next.
    pub next_step: String,
}

impl DeclineAdvice {
    /// "The bank declined: insufficient funds. ClinicPay retries on the next scheduled day… (NMI 202: Insufficient funds)"
    pub fn staff_message(&self, gateway: Gateway, code: &str, gateway_message: &str) -> String {
        format!(
            "{} {} ({gateway} {code}: {gateway_message})",
            self.reason, self.next_step
        )
    }
}

impl DeclineAdvice {
    /// The same for a payment taken at the desk, with the patient there: nothing is retried later on
    /// its own, so a soft decline's next step is another card or another try.
    pub fn desk_message(&self, gateway: Gateway, code: &str, gateway_message: &str) -> String {
        let next_step = match self.action {
            DeclineAction::RetryLater => {
                "Ask the patient for another card, or try this one again later."
            }
            _ => self.next_step.as_str(),
        };
        format!(
            "{} {next_step} ({gateway} {code}: {gateway_message})",
            self.reason
        )
    }
}

fn advice(action: DeclineAction, reason: &str) -> DeclineAdvice {
    let next_step = match action {
        DeclineAction::RetryLater => "ClinicPay retries on the next scheduled day; the patient can also pay with another card.",
        DeclineAction::NeedsNewCard => "Ask the patient for another card; this one will not be charged again.",
        DeclineAction::Stop => "Do not charge this card again for the plan; ask the patient how they want to pay.",
        DeclineAction::LookUp => "Do not charge again: ClinicPay checks with the gateway whether the charge went through.",
    };
    DeclineAdvice {
        action,
        reason: reason.into(),
        next_step: next_step.into(),
    }
}

/// The decline table.
pub fn advise(gateway: Gateway, code: &str) -> DeclineAdvice {
    use DeclineAction::*;
    match gateway {
        Gateway::Nmi => match code {
            "202" => advice(RetryLater, "The bank declined: insufficient funds."),
            "203" => advice(RetryLater, "The bank declined: the card is over its limit."),
            "200" | "201" | "204" | "240" | "260" => {
                advice(RetryLater, "The bank declined the charge.")
            }
            "264" => advice(RetryLater, "The bank asked to retry in a few days."),
            "420" | "421" => advice(LookUp, "NMI could not reach the card processor."),
            "430" => advice(LookUp, "The processor saw this charge as a duplicate."),
            "220" | "221" | "222" => advice(
                NeedsNewCard,
                "The card details are not valid with the bank.",
            ),
            "223" | "224" => advice(NeedsNewCard, "The card has expired."),
            "225" => advice(NeedsNewCard, "The card's security code did not match."),
            "250" | "251" | "252" | "253" => advice(
                NeedsNewCard,
                "The bank reported the card lost, stolen or fraudulent.",
            ),
            "263" => advice(
                NeedsNewCard,
                "The bank has updated card details for this patient.",
            ),
            "261" | "262" => advice(
                Stop,
                "The bank asked to stop recurring charges on this card.",
            ),
            "461" => advice(NeedsNewCard, "This card type is not accepted."),
            _ => advice(RetryLater, "The gateway declined the charge."),
        },
        Gateway::Stripe => match code {
            "insufficient_funds" => advice(RetryLater, "The bank declined: insufficient funds."),
            "card_velocity_exceeded" | "withdrawal_count_limit_exceeded" => {
                advice(RetryLater, "The bank declined: the card is over its limit.")
            }
            "generic_decline"
            | "do_not_honor"
            | "card_declined"
            | "try_again_later"
            | "processing_error"
            | "issuer_not_available"
            | "reenter_transaction" => advice(RetryLater, "The bank declined the charge."),
            "duplicate_transaction" => advice(LookUp, "Stripe saw this charge as a duplicate."),
            "expired_card" => advice(NeedsNewCard, "The card has expired."),
            "incorrect_number"
            | "invalid_number"
            | "invalid_expiry_month"
            | "invalid_expiry_year"
            | "invalid_account" => advice(
                NeedsNewCard,
                "The card details are not valid with the bank.",
            ),
            "incorrect_cvc" | "invalid_cvc" => {
                advice(NeedsNewCard, "The card's security code did not match.")
            }
            "authentication_required" => advice(
                NeedsNewCard,
                "The bank wants the patient present to approve this charge.",
            ),
            "lost_card" | "stolen_card" | "pickup_card" | "fraudulent" | "restricted_card"
            | "security_violation" => advice(
                NeedsNewCard,
                "The bank reported the card lost, stolen or restricted.",
            ),
            "card_not_supported" | "currency_not_supported" => {
                advice(NeedsNewCard, "This card cannot be used for this charge.")
            }
            "stop_payment_order"
            | "revocation_of_authorization"
            | "revocation_of_all_authorizations"
            | "do_not_try_again" => advice(
                Stop,
                "The cardholder asked their bank to stop these charges.",
            ),
            _ => advice(RetryLater, "The gateway declined the charge."),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_desk_payment_declined_softly_is_not_promised_a_retry() {
        let m = advise(Gateway::Nmi, "200").desk_message(Gateway::Nmi, "200", "DECLINE");
        assert_eq!(
            m,
            "The bank declined the charge. Ask the patient for another card, or try this one again later. (NMI 200: DECLINE)"
        );
        let hard = advise(Gateway::Nmi, "223").desk_message(Gateway::Nmi, "223", "Expired card");
        assert!(
            hard.contains("this one will not be charged again"),
            "{hard}"
        );
    }

    #[test]
    fn hard_declines_are_never_retried() {
        for (g, code) in [
            (Gateway::Nmi, "261"),
            (Gateway::Nmi, "262"),
            (Gateway::Nmi, "251"),
            (Gateway::Nmi, "223"),
            (Gateway::Stripe, "lost_card"),
            (Gateway::Stripe, "stolen_card"),
            (Gateway::Stripe, "expired_card"),
            (Gateway::Stripe, "do_not_try_again"),
        ] {
            assert!(advise(g, code).action.is_hard(), "{g} {code}");
        }
        assert_eq!(advise(Gateway::Nmi, "261").action, DeclineAction::Stop);
    }

    #[test]
    fn soft_declines_retry_later_and_possible_duplicates_are_looked_up() {
        assert_eq!(
            advise(Gateway::Nmi, "202").action,
            DeclineAction::RetryLater
        );
        assert_eq!(
            advise(Gateway::Nmi, "264").action,
            DeclineAction::RetryLater
        );
        assert_eq!(
            advise(Gateway::Stripe, "insufficient_funds").action,
            DeclineAction::RetryLater
        );
        assert_eq!(advise(Gateway::Nmi, "430").action, DeclineAction::LookUp);
        assert_eq!(advise(Gateway::Nmi, "420").action, DeclineAction::LookUp);
    }

    #[test]
    fn staff_read_the_reason_the_next_step_and_the_gateways_own_words() {
        let a = advise(Gateway::Nmi, "202");
        assert_eq!(
            a.staff_message(Gateway::Nmi, "202", "Insufficient funds"),
            "The bank declined: insufficient funds. ClinicPay retries on the next scheduled day; the patient can also pay with another card. (NMI 202: Insufficient funds)"
        );
        let a = advise(Gateway::Stripe, "expired_card");
        assert_eq!(
            a.staff_message(Gateway::Stripe, "expired_card", "Your card has expired."),
            "The card has expired. Ask the patient for another card; this one will not be charged again. (Stripe expired_card: Your card has expired.)"
        );
    }
}
