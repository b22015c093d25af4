//! What Stripe's replies mean in ClinicPay's terms: pure functions from a reply to a ChargeOutcome,
//! LookupOutcome, SavedCard or GatewayError, and to the processor log's one-line summary.
//! Long because the unit tests of every mapping (over half the file) sit beside the mappings.

use clinicpay_domain::{CardBrand, Gateway};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::wire::{
    read, ApiError, ErrorReply, Head, LastError, List, PaymentIntent, PaymentMethod, Refund,
    SetupIntent,
};
use crate::call::{unavailable, Reply};
use crate::{
    ChargeOutcome, GatewayError, GatewayTransaction, LookupOutcome, SavedCard, TransactionKind,
    NOT_FOUND,
};

const STRIPE: Gateway = Gateway::Stripe;

fn error_of(body: &Value) -> ApiError {
    read::<ErrorReply>(body).error
}

impl ApiError {
    /// The most telling code there is: the issuer's decline code, else Stripe's code, else the type.
    fn most_specific_code(&self) -> String {
        [&self.decline_code, &self.code, &self.kind]
            .into_iter()
            .flatten()
            .find(|c| !c.is_empty())
            .cloned()
            .unwrap_or_default()
    }
    fn text(&self) -> String {
        self.message.clone().unwrap_or_default()
    }
}

/// One line for the processor log's outcome column.
pub(crate) fn summarise(body: &Value) -> String {
    let head: Head = read(body);
    if let Some(e) = head.error {
        let s = |v: Option<String>| v.unwrap_or_default();
        return format!("error {} {} {}", s(e.code), s(e.decline_code), s(e.message))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
    }
    match (head.object.as_deref(), head.status.as_deref()) {
        (Some("list"), _) => format!("{} records", head.data.map_or(0, |d| d.len())),
        (Some(object), Some(status)) => format!("{object} {status}"),
        (Some(object), None) => object.to_owned(),
        _ => "answer".into(),
    }
}

/// A reply that must be a success (2xx) object, or the GatewayError it amounts to.
pub(crate) fn object<T: DeserializeOwned + Default>(
    reply: Reply<Value>,
) -> Result<T, GatewayError> {
    match reply.answer(STRIPE)? {
        (status, body) if (200..300).contains(&status) => Ok(read(&body)),
        (status, body) => Err(refusal(status, &body)),
    }
}

fn refusal(status: u16, body: &Value) -> GatewayError {
    let e = error_of(body);
    match status {
        401 | 403 => GatewayError::Unauthorized {
            gateway: STRIPE,
            message: e.text(),
        },
        429 | 500.. => unavailable(STRIPE, format!("HTTP {status}: {}", e.text())),
        _ => GatewayError::Rejected {
            gateway: STRIPE,
            code: e.most_specific_code(),
            message: e.text(),
        },
    }
}

/// What detaching a card came to: already detached is done; a card Stripe does not know is
/// [`NOT_FOUND`].
pub(crate) fn detached(reply: Reply<Value>) -> Result<(), GatewayError> {
    match object::<Value>(reply) {
        Ok(_) => Ok(()),
        // Already detached (by an earlier try whose answer was lost): the card is gone, as asked.
        Err(GatewayError::Rejected { message, .. }) if message.contains("not attached") => Ok(()),
        Err(GatewayError::Rejected { code, message, .. }) if code == "resource_missing" => {
            Err(GatewayError::Rejected {
                gateway: STRIPE,
                code: NOT_FOUND.into(),
                message,
            })
        }
        Err(e) => Err(e),
    }
}

/// The PaymentMethod a confirmed SetupIntent holds.
pub(crate) fn setup_payment_method(seti: &SetupIntent) -> Result<String, GatewayError> {
    seti.payment_method
        .clone()
        .ok_or_else(|| GatewayError::Rejected {
            gateway: STRIPE,
            code: "setup_intent_unconfirmed".into(),
            message: "The card form was not completed: no card is attached to it yet.".into(),
        })
}

/// Whether a confirmed SetupIntent left the card ready for off-session charges.
pub(crate) fn set_up(seti: &SetupIntent) -> Result<(), GatewayError> {
    match seti.status.as_deref() {
        Some("succeeded" | "processing") => Ok(()),
        Some("requires_action") => Err(GatewayError::Rejected {
            gateway: STRIPE,
            code: "authentication_required".into(),
            message:
                "The bank wants the patient to confirm this card; save it with the patient present."
                    .into(),
        }),
        other => {
            let e = &seti.last_setup_error;
            Err(GatewayError::Rejected {
                gateway: STRIPE,
                code: e
                    .decline_code
                    .clone()
                    .or(e.code.clone())
                    .unwrap_or_else(|| "setup_failed".into()),
                message: e.message.clone().unwrap_or_else(|| {
                    format!("Stripe could not set the card up (status {other:?}).")
                }),
            })
        }
    }
}

/// A card PaymentMethod as the card ClinicPay shows.
pub(crate) fn card(pm: &PaymentMethod) -> Result<SavedCard, GatewayError> {
    let card = &pm.card;
    let token = pm.id.clone().unwrap_or_default();
    let (Some(last4), Some(exp_month), Some(exp_year)) =
        (&card.last4, card.exp_month, card.exp_year)
    else {
        return Err(GatewayError::Rejected {
            gateway: STRIPE,
            code: "not_a_card".into(),
            message: format!("Stripe's payment method {token} is not a card."),
        });
    };
    Ok(SavedCard {
        token,
        brand: CardBrand::from_gateway_name(card.brand.as_deref().unwrap_or_default()),
        last4: last4.clone(),
        exp_month: exp_month as u32,
        exp_year: exp_year as i32,
        customer: pm.customer.clone(),
        country: card.country.clone(),
        fingerprint: card.fingerprint.clone(),
    })
}

/// A PaymentIntent as a charge outcome.
///
/// Only what Stripe says is final is read as final: `succeeded` is paid; `requires_action` is the bank
/// asking the patient to authenticate (a decline staff can act on); `requires_payment_method` with a
/// `last_payment_error` is a decline, and `canceled` is not charged. Everything in between
/// (`processing`, `requires_capture`, `requires_confirmation`, `requires_payment_method` with no error,
/// a status Stripe adds later) is unknown, for the look-up to settle; never a decline.
/// A listed PaymentIntent as reconciliation reads it: taken only when `succeeded`.
pub(crate) fn intent_transaction(pi: &PaymentIntent) -> Option<GatewayTransaction> {
    Some(GatewayTransaction {
        kind: TransactionKind::Charge,
        reference: pi.id.clone()?,
        our_key: pi.metadata.payment_key.clone(),
        amount_minor: pi.amount.unwrap_or_default(),
        currency: pi.currency.as_deref().map(str::to_ascii_uppercase),
        taken: pi.status.as_deref() == Some("succeeded"),
        status: pi.status.clone().unwrap_or_default(),
        created_at: created_at(pi.created),
    })
}

/// A listed Refund as reconciliation reads it: paid back only when `succeeded`.
pub(crate) fn refund_transaction(r: &Refund) -> Option<GatewayTransaction> {
    Some(GatewayTransaction {
        kind: TransactionKind::Refund,
        reference: r.id.clone()?,
        our_key: r.metadata.payment_key.clone(),
        amount_minor: r.amount.unwrap_or_default(),
        currency: r.currency.as_deref().map(str::to_ascii_uppercase),
        taken: r.status.as_deref() == Some("succeeded"),
        status: r.status.clone().unwrap_or_default(),
        created_at: created_at(r.created),
    })
}

fn created_at(unix: Option<i64>) -> chrono::DateTime<chrono::Utc> {
    unix.and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .unwrap_or_default()
}

pub(crate) fn payment_intent(pi: &PaymentIntent) -> ChargeOutcome {
    let reference = pi.id.clone().unwrap_or_default();
    let e = &pi.last_payment_error;
    let failed = e.code.is_some() || e.decline_code.is_some() || e.message.is_some();
    match pi.status.as_deref() {
        Some("succeeded") => ChargeOutcome::Succeeded { reference },
        Some("requires_action") => ChargeOutcome::Declined {
            code: "authentication_required".into(),
            message: "The bank wants the patient to authenticate this payment.".into(),
            reference: Some(reference),
        },
        Some("canceled") => declined(e, reference),
        Some("requires_payment_method") if failed => declined(e, reference),
        Some("processing") => ChargeOutcome::Unknown {
            message: "Stripe is still processing the charge".into(),
        },
        Some(status) => ChargeOutcome::Unknown {
            message: format!("Stripe shows the charge {reference} as {status}"),
        },
        None => ChargeOutcome::Unknown {
            message: format!("Stripe's charge {reference} has no status"),
        },
    }
}

/// A PaymentIntent that did not charge, with Stripe's own code and words where it gave them.
fn declined(e: &LastError, reference: String) -> ChargeOutcome {
    ChargeOutcome::Declined {
        code: e
            .decline_code
            .clone()
            .or(e.code.clone())
            .unwrap_or_else(|| "payment_failed".into()),
        message: e
            .message
            .clone()
            .unwrap_or_else(|| "The charge did not go through.".into()),
        reference: Some(reference),
    }
}

/// A Refund as an outcome.
pub(crate) fn refund(refund: &Refund) -> ChargeOutcome {
    let reference = refund.id.clone().unwrap_or_default();
    match refund.status.as_deref() {
        Some("succeeded") => ChargeOutcome::Succeeded { reference },
        Some("pending" | "requires_action") => ChargeOutcome::Unknown {
            message: format!("Stripe has the refund {reference} pending"),
        },
        _ => ChargeOutcome::Declined {
            code: refund
                .failure_reason
                .clone()
                .unwrap_or_else(|| "refund_failed".into()),
            message: "Stripe could not refund this payment.".into(),
            reference: Some(reference),
        },
    }
}

/// The reply to creating a PaymentIntent as a charge outcome.
/// A decline of the look-up class (`duplicate_transaction`) is unknown until looked up.
pub(crate) fn charge_reply(reply: Reply<Value>) -> ChargeOutcome {
    crate::call::look_up_when_advised(
        Gateway::Stripe,
        money(reply, "charge", |body| payment_intent(&read(body))),
    )
}

/// The reply to creating a Refund as an outcome.
pub(crate) fn refund_reply(reply: Reply<Value>) -> ChargeOutcome {
    money(reply, "refund", |body| refund(&read(body)))
}

/// A charge or refund reply as an outcome; `succeeded` reads a 2xx body.
fn money(
    reply: Reply<Value>,
    what: &str,
    succeeded: impl FnOnce(&Value) -> ChargeOutcome,
) -> ChargeOutcome {
    let (status, body) = match reply.money_answer(STRIPE, &format!("answer to the {what}")) {
        Ok(answer) => answer,
        Err(outcome) => return outcome,
    };
    match status {
        200..300 => succeeded(&body),
        402 => {
            let e = error_of(&body);
            ChargeOutcome::Declined {
                code: match e.decline_code.filter(|c| !c.is_empty()) {
                    Some(decline) => decline,
                    None => e.code.unwrap_or_default(),
                },
                message: e.message.unwrap_or_default(),
                reference: e.payment_intent,
            }
        }
        // Stripe refused before acting (rate limit that outlasted our retries): nothing happened.
        429 => ChargeOutcome::RetryableFailure {
            message: "Stripe asked ClinicPay to slow down; try again in a minute".into(),
        },
        // A 5xx, or a conflict on the idempotency key: the first try may have gone through.
        500.. | 409 => ChargeOutcome::Unknown {
            message: format!("Stripe answered HTTP {status}: {}", error_of(&body).text()),
        },
        _ => {
            let e = error_of(&body);
            if e.kind.as_deref() == Some("idempotency_error") {
                // Our key was used before with other parameters: that earlier request is the one that counts.
                return ChargeOutcome::Unknown { message: e.text() };
            }
            ChargeOutcome::Declined {
                code: e.most_specific_code(),
                message: e.text(),
                reference: e.payment_intent,
            }
        }
    }
}

/// What a customer's PaymentIntents say about the charge made with our payment key: a success
/// anywhere wins, else the newest try.
pub(crate) fn charge_lookup(list: &List<PaymentIntent>, payment_key: &str) -> LookupOutcome {
    let outcomes: Vec<ChargeOutcome> = list
        .items()
        .iter()
        .filter(|pi| pi.metadata.payment_key.as_deref() == Some(payment_key))
        .map(payment_intent)
        .collect();
    if let Some(ok) = outcomes
        .iter()
        .find(|o| matches!(o, ChargeOutcome::Succeeded { .. }))
    {
        return LookupOutcome::Found(ok.clone());
    }
    outcomes
        .into_iter()
        .next()
        .map_or(LookupOutcome::NotFound, LookupOutcome::Found)
}

/// What a charge's Refunds say about the refund made with our refund key.
pub(crate) fn refund_lookup(list: &List<Refund>, refund_key: &str) -> LookupOutcome {
    list.items()
        .iter()
        .find(|r| r.metadata.payment_key.as_deref() == Some(refund_key))
        .map_or(LookupOutcome::NotFound, |r| LookupOutcome::Found(refund(r)))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn fixture(name: &str) -> Value {
        let text = match name {
            "payment_intent_succeeded" => {
                include_str!("../../tests/fixtures/stripe/payment_intent_succeeded.json")
            }
            "card_declined" => include_str!("../../tests/fixtures/stripe/card_declined.json"),
            "payment_method" => include_str!("../../tests/fixtures/stripe/payment_method.json"),
            "refund_list" => include_str!("../../tests/fixtures/stripe/refund_list.json"),
            other => panic!("no fixture {other}"),
        };
        serde_json::from_str(text).unwrap()
    }

    fn answer(status: u16, body: Value) -> Reply<Value> {
        Reply::Answer { status, body }
    }

    fn error(kind: &str, code: Option<&str>, decline: Option<&str>, message: &str) -> Value {
        json!({"error": {"type": kind, "code": code, "decline_code": decline, "message": message}})
    }

    #[test]
    fn a_documented_succeeded_payment_intent_is_a_success() {
        let pi = fixture("payment_intent_succeeded");
        assert_eq!(
            charge_reply(answer(200, pi.clone())),
            ChargeOutcome::Succeeded {
                reference: "pi_3MtwBwLkdIwHu7ix28a3tqPa".into()
            }
        );
        assert_eq!(summarise(&pi), "payment_intent succeeded");
        let list: List<PaymentIntent> = read(&json!({"object": "list", "data": [pi]}));
        assert_eq!(
            charge_lookup(&list, "pay-1"),
            LookupOutcome::Found(ChargeOutcome::Succeeded {
                reference: "pi_3MtwBwLkdIwHu7ix28a3tqPa".into()
            })
        );
        assert_eq!(charge_lookup(&list, "pay-2"), LookupOutcome::NotFound);
    }

    #[test]
    fn only_final_payment_intent_statuses_are_read_as_final() {
        let pi = |status: &str, error: Value| -> PaymentIntent {
            read(
                &json!({"id": "pi_1", "object": "payment_intent", "status": status, "last_payment_error": error}),
            )
        };
        for status in [
            "processing",
            "requires_capture",
            "requires_confirmation",
            "requires_payment_method",
            "a_status_stripe_adds_later",
        ] {
            assert!(
                matches!(
                    payment_intent(&pi(status, Value::Null)),
                    ChargeOutcome::Unknown { .. }
                ),
                "{status} is not a decline"
            );
        }
        let declined = pi(
            "requires_payment_method",
            json!({"type": "card_error", "code": "card_declined", "decline_code": "insufficient_funds", "message": "Your card has insufficient funds."}),
        );
        assert_eq!(
            payment_intent(&declined),
            ChargeOutcome::Declined {
                code: "insufficient_funds".into(),
                message: "Your card has insufficient funds.".into(),
                reference: Some("pi_1".into())
            }
        );
        assert!(matches!(
            payment_intent(&pi("requires_action", Value::Null)),
            ChargeOutcome::Declined { code, .. } if code == "authentication_required"
        ));
        assert!(matches!(
            payment_intent(&pi("canceled", Value::Null)),
            ChargeOutcome::Declined { code, .. } if code == "payment_failed"
        ));
        assert!(matches!(
            payment_intent(&pi("succeeded", Value::Null)),
            ChargeOutcome::Succeeded { .. }
        ));
    }

    #[test]
    fn a_duplicate_transaction_decline_is_unknown_until_looked_up() {
        let body = error(
            "card_error",
            Some("card_declined"),
            Some("duplicate_transaction"),
            "Your card was declined.",
        );
        assert_eq!(
            charge_reply(answer(402, body)),
            ChargeOutcome::Unknown {
                message: "Your card was declined.".into()
            }
        );
    }

    #[test]
    fn a_documented_card_error_is_declined_with_the_decline_code_and_its_payment_intent() {
        let body = fixture("card_declined");
        assert_eq!(
            charge_reply(answer(402, body.clone())),
            ChargeOutcome::Declined {
                code: "insufficient_funds".into(),
                message: "Your card has insufficient funds.".into(),
                reference: Some("pi_3MtwBwLkdIwHu7ix0snN0B15".into()),
            }
        );
        assert_eq!(
            summarise(&body),
            "error card_declined insufficient_funds Your card has insufficient funds."
        );
        // A 402 without a decline code carries Stripe's code.
        assert_eq!(
            charge_reply(answer(
                402,
                error(
                    "card_error",
                    Some("expired_card"),
                    None,
                    "Your card has expired."
                )
            )),
            ChargeOutcome::Declined {
                code: "expired_card".into(),
                message: "Your card has expired.".into(),
                reference: None,
            }
        );
    }

    #[test]
    fn a_declined_payment_intent_carries_its_last_error_and_authentication_is_a_decline() {
        let declined = json!({"id": "pi_1", "object": "payment_intent", "status": "requires_payment_method",
            "last_payment_error": {"type": "card_error", "code": "card_declined", "decline_code": "generic_decline",
                "message": "Your card was declined."}});
        assert_eq!(
            payment_intent(&read(&declined)),
            ChargeOutcome::Declined {
                code: "generic_decline".into(),
                message: "Your card was declined.".into(),
                reference: Some("pi_1".into()),
            }
        );
        assert_eq!(
            payment_intent(&read(&json!({"id": "pi_2", "status": "canceled"}))),
            ChargeOutcome::Declined {
                code: "payment_failed".into(),
                message: "The charge did not go through.".into(),
                reference: Some("pi_2".into()),
            }
        );
        assert_eq!(
            payment_intent(&read(&json!({"id": "pi_3", "status": "requires_action"}))),
            ChargeOutcome::Declined {
                code: "authentication_required".into(),
                message: "The bank wants the patient to authenticate this payment.".into(),
                reference: Some("pi_3".into()),
            }
        );
        assert_eq!(
            payment_intent(&read(&json!({"id": "pi_4", "status": "processing"}))),
            ChargeOutcome::Unknown {
                message: "Stripe is still processing the charge".into()
            }
        );
    }

    #[test]
    fn an_idempotency_error_is_unknown_and_other_refusals_declined_with_the_most_specific_code() {
        let reused = error(
            "idempotency_error",
            None,
            None,
            "Keys for idempotent requests can only be used with the same parameters they were first used with.",
        );
        assert!(matches!(
            charge_reply(answer(400, reused)),
            ChargeOutcome::Unknown { message } if message.starts_with("Keys for idempotent requests")
        ));
        assert_eq!(
            refund_reply(answer(
                400,
                error(
                    "invalid_request_error",
                    Some("amount_too_large"),
                    None,
                    "Refund amount is greater than unrefunded amount on charge"
                )
            )),
            ChargeOutcome::Declined {
                code: "amount_too_large".into(),
                message: "Refund amount is greater than unrefunded amount on charge".into(),
                reference: None,
            }
        );
        assert_eq!(
            charge_reply(answer(
                400,
                error("invalid_request_error", None, None, "Bad")
            )),
            ChargeOutcome::Declined {
                code: "invalid_request_error".into(),
                message: "Bad".into(),
                reference: None,
            }
        );
    }

    #[test]
    fn a_rate_limit_is_retryable_and_a_5xx_or_conflict_unknown() {
        assert_eq!(
            charge_reply(answer(429, error("rate_limit_error", None, None, "slow"))),
            ChargeOutcome::RetryableFailure {
                message: "Stripe asked ClinicPay to slow down; try again in a minute".into()
            }
        );
        for status in [500, 503, 409] {
            assert_eq!(
                charge_reply(answer(status, error("api_error", None, None, "oops"))),
                ChargeOutcome::Unknown {
                    message: format!("Stripe answered HTTP {status}: oops")
                }
            );
        }
        assert_eq!(
            refund_reply(Reply::NoAnswer("reset".into())),
            ChargeOutcome::Unknown {
                message: "Stripe's answer to the refund was lost (reset)".into()
            }
        );
        assert_eq!(
            charge_reply(Reply::NotSent("refused".into())),
            ChargeOutcome::RetryableFailure {
                message: "Stripe could not be reached (refused)".into()
            }
        );
    }

    #[test]
    fn refunds_read_as_succeeded_pending_or_failed() {
        let list: List<Refund> = read(&fixture("refund_list"));
        assert_eq!(
            refund_lookup(&list, "refund-1"),
            LookupOutcome::Found(ChargeOutcome::Succeeded {
                reference: "re_3MtwBwLkdIwHu7ix0Z5Tq3s0".into()
            })
        );
        assert_eq!(refund_lookup(&list, "refund-9"), LookupOutcome::NotFound);
        assert_eq!(summarise(&fixture("refund_list")), "1 records");
        assert_eq!(
            refund(&read(&json!({"id": "re_2", "status": "pending"}))),
            ChargeOutcome::Unknown {
                message: "Stripe has the refund re_2 pending".into()
            }
        );
        assert_eq!(
            refund(&read(
                &json!({"id": "re_3", "status": "failed", "failure_reason": "expired_or_canceled_card"})
            )),
            ChargeOutcome::Declined {
                code: "expired_or_canceled_card".into(),
                message: "Stripe could not refund this payment.".into(),
                reference: Some("re_3".into()),
            }
        );
    }

    #[test]
    fn a_documented_payment_method_reads_as_the_saved_card() {
        let pm: PaymentMethod = read(&fixture("payment_method"));
        assert_eq!(
            card(&pm).unwrap(),
            SavedCard {
                token: "pm_1MqLiJLkdIwHu7ixUEgbFdYF".into(),
                brand: CardBrand::Visa,
                last4: "4242".into(),
                exp_month: 8,
                exp_year: 2026,
                customer: Some("cus_NffrFeUfNV2Hib".into()),
                country: Some("US".into()),
                fingerprint: Some("mToisGZ01V71BCos".into()),
            }
        );
        assert!(matches!(
            card(&read(&json!({"id": "pm_x", "type": "us_bank_account"}))),
            Err(GatewayError::Rejected { code, message, .. })
                if code == "not_a_card" && message == "Stripe's payment method pm_x is not a card."
        ));
    }

    #[test]
    fn refusals_of_non_money_calls_by_status() {
        let bad_key = error(
            "invalid_request_error",
            None,
            None,
            "Invalid API Key provided",
        );
        assert!(matches!(
            object::<Value>(answer(401, bad_key)),
            Err(GatewayError::Unauthorized { message, .. }) if message == "Invalid API Key provided"
        ));
        assert!(matches!(
            object::<Value>(answer(503, error("api_error", None, None, "down"))),
            Err(GatewayError::Unavailable { message, .. }) if message == "HTTP 503: down"
        ));
        let setup_declined = error(
            "card_error",
            Some("card_declined"),
            Some("expired_card"),
            "Your card has expired.",
        );
        assert!(matches!(
            object::<Value>(answer(402, setup_declined)),
            Err(GatewayError::Rejected { code, .. }) if code == "expired_card"
        ));
        let missing = error(
            "invalid_request_error",
            Some("resource_missing"),
            None,
            "No such PaymentMethod: 'pm_x'",
        );
        assert!(matches!(
            detached(answer(404, missing)),
            Err(GatewayError::Rejected { code, .. }) if code == NOT_FOUND
        ));
        let not_attached = error(
            "invalid_request_error",
            None,
            None,
            "The payment method you provided is not attached to a customer so detachment is impossible.",
        );
        assert!(detached(answer(400, not_attached)).is_ok());
    }

    #[test]
    fn a_setup_intent_that_did_not_succeed_is_refused_with_its_error() {
        let failed: SetupIntent =
            read(&json!({"id": "seti_1", "status": "requires_payment_method",
            "last_setup_error": {"code": "card_declined", "decline_code": "insufficient_funds",
                "message": "Your card has insufficient funds."}}));
        assert!(matches!(
            set_up(&failed),
            Err(GatewayError::Rejected { code, message, .. })
                if code == "insufficient_funds" && message == "Your card has insufficient funds."
        ));
        assert!(matches!(
            set_up(&read(&json!({"status": "canceled"}))),
            Err(GatewayError::Rejected { code, message, .. })
                if code == "setup_failed"
                    && message == "Stripe could not set the card up (status Some(\"canceled\"))."
        ));
        assert!(matches!(
            set_up(&read(&json!({"status": "requires_action"}))),
            Err(GatewayError::Rejected { code, .. }) if code == "authentication_required"
        ));
        assert!(set_up(&read(&json!({"status": "processing"}))).is_ok());
        assert!(matches!(
            setup_payment_method(&read(&json!({"id": "seti_2", "payment_method": null}))),
            Err(GatewayError::Rejected { code, .. }) if code == "setup_intent_unconfirmed"
        ));
        assert_eq!(
            setup_payment_method(&read(&json!({"payment_method": {"id": "pm_9"}}))).unwrap(),
            "pm_9"
        );
    }

    #[test]
    fn the_log_summary_names_the_object_and_status_or_the_error() {
        assert_eq!(summarise(&json!({"object": "customer"})), "customer");
        assert_eq!(summarise(&json!({"deleted": true})), "answer");
        assert_eq!(
            summarise(&error("invalid_request_error", None, None, "Bad")),
            "error Bad"
        );
    }

    #[test]
    fn listed_payment_intents_and_refunds_read_as_reconciliation_needs_them() {
        let pi = intent_transaction(&read(&fixture("payment_intent_succeeded"))).unwrap();
        assert_eq!(
            (pi.kind, pi.amount_minor, pi.taken),
            (TransactionKind::Charge, 4_900, true)
        );
        assert_eq!(pi.currency.as_deref(), Some("USD"));
        assert_eq!(pi.created_at.timestamp(), 1_680_800_504);
        let list: List<Value> = read(&fixture("refund_list"));
        assert_eq!(list.has_more, Some(false));
        let refund = refund_transaction(&read(&list.items()[0])).unwrap();
        assert_eq!(
            (
                refund.kind,
                refund.our_key.as_deref(),
                refund.amount_minor,
                refund.taken
            ),
            (TransactionKind::Refund, Some("refund-1"), 2_500, true)
        );
        // A PaymentIntent that never succeeded moved no money, whatever else it says.
        let waiting =
            json!({"id": "pi_1", "status": "requires_payment_method", "amount": 100, "created": 1});
        assert!(!intent_transaction(&read(&waiting)).unwrap().taken);
        assert_eq!(
            intent_transaction(&read(&json!({"status": "succeeded"}))),
            None,
            "no id, nothing to match"
        );
    }
}
