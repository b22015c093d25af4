//! What NMI's replies mean in ClinicPay's terms: pure functions from a reply to a ChargeOutcome,
//! LookupOutcome, SavedCard or GatewayError, and to the processor log's one-line summary.
//! Long because the unit tests of every mapping (over half the file) sit beside the mappings.

use clinicpay_domain::{CardBrand, Gateway};

use super::wire::{PaymentReply, QueryRecord, QueryReply, QUERY};
use crate::call::{unavailable, Reply};
use crate::{
    ChargeOutcome, GatewayError, GatewayTransaction, LookupOutcome, SavedCard, TransactionKind,
    NOT_FOUND,
};

const NMI: Gateway = Gateway::Nmi;

/// One line for the processor log's outcome column.
pub(crate) fn summarise(path: &str, body: &str) -> String {
    if path.ends_with(QUERY) {
        return format!(
            "{} records",
            body.matches("<transaction>").count() + body.matches("<customer ").count()
        );
    }
    let f = PaymentReply::parse(body);
    match f.response() {
        Some("1") => "approved".into(),
        Some("2") => format!("declined {} {}", f.code(), f.text()),
        Some("3") => format!("error {} {}", f.code(), f.text()),
        _ => "unreadable answer".into(),
    }
}

/// A Payment API reply, or why there is none.
pub(crate) fn payment_reply(reply: Reply<String>) -> Result<PaymentReply, GatewayError> {
    let (status, body) = reply.answer(NMI)?;
    let f = PaymentReply::parse(&body);
    if status != 200 || f.response.is_none() {
        return Err(unavailable(
            NMI,
            format!("HTTP {status} with an answer that is not NMI's format"),
        ));
    }
    Ok(f)
}

/// A refused (not approved) Payment API request as the GatewayError it amounts to.
pub(crate) fn refusal(f: &PaymentReply) -> GatewayError {
    let message = f.text();
    if message
        .to_ascii_lowercase()
        .contains("authentication failed")
    {
        return GatewayError::Unauthorized {
            gateway: NMI,
            message,
        };
    }
    GatewayError::Rejected {
        gateway: NMI,
        code: f.code(),
        message,
    }
}

/// The vault id of a card `add_customer` saved.
pub(crate) fn vault_id(reply: Reply<String>) -> Result<String, GatewayError> {
    let f = payment_reply(reply)?;
    if f.response() != Some("1") {
        return Err(refusal(&f));
    }
    f.customer_vault_id
        .filter(|v| !v.is_empty())
        .ok_or_else(|| unavailable(NMI, "NMI saved the card but sent no customer_vault_id"))
}

/// What `delete_customer` came to: a vault id NMI does not know is [`NOT_FOUND`].
pub(crate) fn deleted(reply: Reply<String>) -> Result<(), GatewayError> {
    let f = payment_reply(reply)?;
    if f.response() == Some("1") {
        return Ok(());
    }
    let text = f.text();
    if text
        .to_ascii_lowercase()
        .contains("invalid customer vault id")
    {
        return Err(GatewayError::Rejected {
            gateway: NMI,
            code: NOT_FOUND.into(),
            message: text,
        });
    }
    Err(refusal(&f))
}

/// A Query API reply's records, or why there are none.
pub(crate) fn query_records(reply: Reply<String>) -> Result<Vec<QueryRecord>, GatewayError> {
    match reply.answer(NMI)? {
        (200, body) => {
            let q = QueryReply::parse(&body)
                .map_err(|e| unavailable(NMI, format!("unreadable Query API answer ({e})")))?;
            match q.error {
                Some(e) if e.to_ascii_lowercase().contains("authentication") => {
                    Err(GatewayError::Unauthorized {
                        gateway: NMI,
                        message: e,
                    })
                }
                Some(e) => Err(GatewayError::Rejected {
                    gateway: NMI,
                    code: String::new(),
                    message: e,
                }),
                None => Ok(q.records),
            }
        }
        (status, _) => Err(unavailable(
            NMI,
            format!("HTTP {status} from the Query API"),
        )),
    }
}

/// "12/30" style `cc_exp` (MMYY) to month and four-digit year.
fn expiry(mmyy: &str) -> Option<(u32, i32)> {
    let d: String = mmyy.chars().filter(char::is_ascii_digit).collect();
    if d.len() != 4 {
        return None;
    }
    Some((d[..2].parse().ok()?, 2000 + d[2..].parse::<i32>().ok()?))
}

fn saved_card(token: &str, r: &QueryRecord) -> Option<SavedCard> {
    let number = r.cc_number.as_ref()?;
    let last4: String = number
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let (exp_month, exp_year) = expiry(r.cc_exp.as_ref()?)?;
    Some(SavedCard {
        token: token.into(),
        brand: CardBrand::from_gateway_name(r.cc_type.as_deref().unwrap_or("")),
        last4,
        exp_month,
        exp_year,
        customer: None,
        country: None,
        fingerprint: None,
    })
}

/// The card a vault report holds for `token`.
pub(crate) fn card(token: &str, records: &[QueryRecord]) -> Result<SavedCard, GatewayError> {
    records
        .iter()
        .find_map(|r| saved_card(token, r))
        .ok_or_else(|| GatewayError::Rejected {
            gateway: NMI,
            code: String::new(),
            message: format!("NMI has no saved card {token}"),
        })
}

/// A charge's Payment API reply as an outcome (a decline of the look-up class is unknown).
pub(crate) fn charge(reply: Reply<String>) -> ChargeOutcome {
    crate::call::look_up_when_advised(Gateway::Nmi, charge_answer(reply))
}

fn charge_answer(reply: Reply<String>) -> ChargeOutcome {
    let (status, body) = match reply.money_answer(NMI, "answer") {
        Ok(answer) => answer,
        Err(outcome) => return outcome,
    };
    let f = PaymentReply::parse(&body);
    match (status, f.response()) {
        // Rate limited: refused before anything was done.
        (429, _) => ChargeOutcome::RetryableFailure {
            message: "NMI asked ClinicPay to slow down (HTTP 429)".into(),
        },
        (200, Some("1")) => ChargeOutcome::Succeeded {
            reference: f.transaction_id(),
        },
        (200, Some("2")) => ChargeOutcome::Declined {
            code: f.code(),
            message: f.text(),
            reference: Some(f.transaction_id()).filter(|t| !t.is_empty()),
        },
        // NMI's duplicate check refused it before acting: nothing was charged now.
        (200, Some("3"))
            if f.code() == "300"
                && f.text()
                    .to_ascii_lowercase()
                    .starts_with("duplicate transaction") =>
        {
            ChargeOutcome::RefusedAsDuplicate { message: f.text() }
        }
        // response=3: the gateway refused the request before acting (its look-up class, 420/421/430,
        // is made unknown by `charge`).
        (200, Some("3")) => ChargeOutcome::Declined {
            code: f.code(),
            message: f.text(),
            reference: None,
        },
        // A 5xx or an unreadable body: the work may have been done.
        _ => ChargeOutcome::Unknown {
            message: format!("NMI answered HTTP {status} without a readable result"),
        },
    }
}

/// A refund's Payment API reply as an outcome.
pub(crate) fn refund(reply: Reply<String>) -> ChargeOutcome {
    match reply.money_answer(NMI, "answer") {
        Err(outcome) => outcome,
        Ok((200, body)) => {
            let f = PaymentReply::parse(&body);
            match f.response() {
                Some("1") => ChargeOutcome::Succeeded {
                    reference: f.transaction_id(),
                },
                Some("2" | "3") => ChargeOutcome::Declined {
                    code: f.code(),
                    message: f.text(),
                    reference: None,
                },
                _ => ChargeOutcome::Unknown {
                    message: "NMI's refund answer was unreadable".into(),
                },
            }
        }
        Ok((status, _)) => ChargeOutcome::Unknown {
            message: format!("NMI answered HTTP {status}"),
        },
    }
}

/// Conditions NMI gives a transaction whose money moved (or is held for the batch).
const TAKEN: [&str; 2] = ["pendingsettlement", "complete"];
/// Conditions that say for certain nothing was taken.
const NOT_TAKEN: [&str; 2] = ["failed", "abandoned"];
/// Actions that charge a card.
const CHARGES: [&str; 3] = ["sale", "auth", "capture"];

fn is_charge(r: &QueryRecord) -> bool {
    r.actions_of(&CHARGES).next().is_some()
}

fn is_refund(r: &QueryRecord) -> bool {
    !is_charge(r) && r.actions_of(&["refund"]).next().is_some()
}

/// A transaction's history as one outcome: a successful sale or capture anywhere in it means the
/// money was taken, whatever came after (a `settle` when the batch closed, a `void`, a `level3`…);
/// NMI's `condition` says the same where an action leaves it out. The first attempt's own answer
/// is the decline.
///
/// Only positive evidence decides. A voided transaction (a successful `void`, condition `canceled`)
/// released the money: it is neither paid nor safe to charge again, so it waits for billing as
/// unknown, as does an authorization never captured (`pending`; ClinicPay only sells), NMI's own
/// `unknown`, or a record whose fields cannot be read. It is declined only when NMI says it failed
/// (condition `failed`/`abandoned`, or the attempt's `success` 0 with a code other than 100).
fn outcome_of(r: &QueryRecord, moved: &[&str], what: &str) -> ChargeOutcome {
    let reference = r.transaction_id.clone().unwrap_or_default();
    let condition = r.condition.as_deref();
    let voided = r.actions_of(&["void"]).any(|a| a.succeeded()) || condition == Some("canceled");
    if voided {
        return ChargeOutcome::Unknown {
            message: format!("NMI shows the {what} {reference} voided: billing must check it"),
        };
    }
    if r.actions_of(moved).any(|a| a.succeeded()) || condition.is_some_and(|c| TAKEN.contains(&c)) {
        return ChargeOutcome::Succeeded { reference };
    }
    let attempt = r.actions_of(moved).next();
    let failed = condition.is_some_and(|c| NOT_TAKEN.contains(&c))
        || attempt.is_some_and(|a| {
            a.success.as_deref() == Some("0")
                && a.response_code
                    .as_deref()
                    .is_some_and(|c| !c.is_empty() && c != "100")
        });
    if !failed {
        return ChargeOutcome::Unknown {
            message: match condition {
                Some("in_progress") => format!("NMI still shows the {what} in progress"),
                Some(c) => format!("NMI shows the {what} {reference} as {c}"),
                None => format!("NMI's record of the {what} {reference} says neither way"),
            },
        };
    }
    ChargeOutcome::Declined {
        code: attempt
            .and_then(|a| a.response_code.clone())
            .unwrap_or_default(),
        message: attempt
            .and_then(|a| a.response_text.clone())
            .unwrap_or_default(),
        reference: Some(reference),
    }
}

/// What the transactions under one key (`order_id`) say: a success anywhere wins (a declined try and
/// a later approved one under the same key mean "paid"), then one still in progress, then the latest.
fn lookup(records: Vec<&QueryRecord>, moved: &[&str], what: &str) -> LookupOutcome {
    let outcomes: Vec<ChargeOutcome> = records.iter().map(|r| outcome_of(r, moved, what)).collect();
    if let Some(o) = outcomes
        .iter()
        .find(|o| matches!(o, ChargeOutcome::Succeeded { .. }))
        .or_else(|| {
            outcomes
                .iter()
                .find(|o| matches!(o, ChargeOutcome::Unknown { .. }))
        })
        .or(outcomes.last())
    {
        return LookupOutcome::Found(o.clone());
    }
    LookupOutcome::NotFound
}

/// What the transactions under our payment key (`order_id`) say about the charge.
pub(crate) fn charge_lookup(records: &[QueryRecord]) -> LookupOutcome {
    lookup(
        records.iter().filter(|r| is_charge(r)).collect(),
        &["sale", "capture"],
        "charge",
    )
}

/// What the transactions under our refund key (`order_id`) say about the refund: refunds are their
/// own transactions, with their own `orderid`.
pub(crate) fn refund_lookup(records: &[QueryRecord]) -> LookupOutcome {
    lookup(
        records.iter().filter(|r| is_refund(r)).collect(),
        &["refund"],
        "refund",
    )
}

/// The transactions of a period as reconciliation reads them: a charge is taken when `outcome_of` says
/// succeeded (a voided one is not), a refund when its refund action succeeded. Validations (zero-amount
/// card checks) move no money and are left out.
pub(crate) fn period_transactions(records: &[QueryRecord]) -> Vec<GatewayTransaction> {
    records
        .iter()
        .filter_map(|r| {
            let (kind, moved, what) = if is_charge(r) {
                (TransactionKind::Charge, &["sale", "capture"][..], "charge")
            } else if is_refund(r) {
                (TransactionKind::Refund, &["refund"][..], "refund")
            } else {
                return None;
            };
            let first = r.actions_of(moved).next().or(r.actions.first());
            Some(GatewayTransaction {
                kind,
                reference: r.transaction_id.clone()?,
                our_key: r.order_id.clone().filter(|k| !k.is_empty()),
                amount_minor: first
                    .and_then(|a| a.amount.as_deref())
                    .and_then(minor_units)
                    .unwrap_or_default(),
                currency: r.currency.as_deref().map(str::to_ascii_uppercase),
                taken: matches!(outcome_of(r, moved, what), ChargeOutcome::Succeeded { .. }),
                status: r.condition.clone().unwrap_or_default(),
                created_at: first
                    .and_then(|a| a.date.as_deref())
                    .and_then(nmi_time)
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// `12.34` or `-12.34` (refunds are listed negative) in minor units, unsigned.
fn minor_units(amount: &str) -> Option<i64> {
    let a = amount.trim().trim_start_matches('-');
    let (whole, cents) = a.split_once('.').unwrap_or((a, "0"));
    let cents = format!("{cents:0<2}");
    if cents.len() != 2
        || !whole
            .chars()
            .chain(cents.chars())
            .all(|c| c.is_ascii_digit())
    {
        return None;
    }
    Some(whole.parse::<i64>().ok()? * 100 + cents.parse::<i64>().ok()?)
}

/// NMI's YYYYMMDDhhmmss, in UTC.
pub(crate) fn nmi_time(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::NaiveDateTime::parse_from_str(s.trim(), "%Y%m%d%H%M%S")
        .ok()
        .map(|t| t.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nmi::wire::TRANSACT;

    const APPROVED: &str = include_str!("../../tests/fixtures/nmi/sale_approved.txt");
    const DECLINED: &str = include_str!("../../tests/fixtures/nmi/sale_declined.txt");
    const ORDER: &str = include_str!("../../tests/fixtures/nmi/query_order.xml");
    const VAULT: &str = include_str!("../../tests/fixtures/nmi/query_customer_vault.xml");
    const SETTLED_SALE: &str = include_str!("../../tests/fixtures/nmi/query_settled_sale.xml");
    const SALE_LEVEL3_SETTLED: &str =
        include_str!("../../tests/fixtures/nmi/query_sale_level3_settled.xml");
    const SETTLED_REFUND: &str = include_str!("../../tests/fixtures/nmi/query_settled_refund.xml");
    const DECLINED_SALE: &str = include_str!("../../tests/fixtures/nmi/query_declined_sale.xml");

    fn answer(status: u16, body: &str) -> Reply<String> {
        Reply::Answer {
            status,
            body: body.into(),
        }
    }

    fn declined(code: &str, message: &str, reference: Option<&str>) -> ChargeOutcome {
        ChargeOutcome::Declined {
            code: code.into(),
            message: message.into(),
            reference: reference.map(Into::into),
        }
    }

    #[test]
    fn documented_sale_replies_read_as_approved_and_declined() {
        assert_eq!(
            charge(answer(200, APPROVED)),
            ChargeOutcome::Succeeded {
                reference: "10815962736".into()
            }
        );
        assert_eq!(
            charge(answer(200, DECLINED)),
            declined("202", "Insufficient funds", Some("10815962737"))
        );
        assert_eq!(summarise(TRANSACT, APPROVED), "approved");
        assert_eq!(
            summarise(TRANSACT, DECLINED),
            "declined 202 Insufficient funds"
        );
    }

    #[test]
    fn a_decline_without_a_transaction_id_has_no_reference() {
        assert_eq!(
            charge(answer(
                200,
                "response=2&responsetext=DECLINE&transactionid=&response_code=200"
            )),
            declined("200", "DECLINE", None)
        );
    }

    #[test]
    fn a_decline_of_the_look_up_class_is_unknown_whatever_the_response_field_says() {
        for code in ["420", "421", "430"] {
            let body = format!(
                "response=2&responsetext=Declined {code}&authcode=&transactionid=1088&response_code={code}"
            );
            assert_eq!(
                charge(answer(200, &body)),
                ChargeOutcome::Unknown {
                    message: format!("Declined {code}")
                },
                "{code} with response=2 may have charged: never a soft decline"
            );
        }
        // The bank's own declines stay declines.
        let body = "response=2&responsetext=DECLINE&transactionid=1089&response_code=200";
        assert!(matches!(
            charge(answer(200, body)),
            ChargeOutcome::Declined { .. }
        ));
    }

    #[test]
    fn response_3_with_a_processor_communication_or_duplicate_code_is_unknown() {
        for code in ["420", "421", "430"] {
            let body = format!("response=3&responsetext=Comm error&response_code={code}");
            assert_eq!(
                charge(answer(200, &body)),
                ChargeOutcome::Unknown {
                    message: "Comm error".into()
                },
                "{code}"
            );
        }
        // Any other response=3 was refused before anything happened.
        assert_eq!(
            charge(answer(
                200,
                "response=3&responsetext=Invalid Customer Vault Id REFID:1&response_code=300"
            )),
            declined("300", "Invalid Customer Vault Id REFID:1", None)
        );
        assert_eq!(
            summarise(TRANSACT, "response=3&responsetext=Bad&response_code=300"),
            "error 300 Bad"
        );
    }

    #[test]
    fn a_rate_limit_is_retryable_and_a_5xx_or_garbled_answer_unknown() {
        assert_eq!(
            charge(answer(429, "")),
            ChargeOutcome::RetryableFailure {
                message: "NMI asked ClinicPay to slow down (HTTP 429)".into()
            }
        );
        for (status, body) in [(503, APPROVED), (200, "<html>oops</html>")] {
            assert_eq!(
                charge(answer(status, body)),
                ChargeOutcome::Unknown {
                    message: format!("NMI answered HTTP {status} without a readable result")
                }
            );
        }
        assert_eq!(summarise(TRANSACT, "<html>"), "unreadable answer");
    }

    #[test]
    fn a_refund_declined_or_refused_is_declined_and_anything_unreadable_unknown() {
        assert_eq!(
            refund(answer(200, APPROVED)),
            ChargeOutcome::Succeeded {
                reference: "10815962736".into()
            }
        );
        assert_eq!(
            refund(answer(
                200,
                "response=3&responsetext=Refund amount may not exceed the transaction balance&response_code=300"
            )),
            declined(
                "300",
                "Refund amount may not exceed the transaction balance",
                None
            )
        );
        assert_eq!(
            refund(answer(200, "garbage")),
            ChargeOutcome::Unknown {
                message: "NMI's refund answer was unreadable".into()
            }
        );
        assert_eq!(
            refund(answer(429, APPROVED)),
            ChargeOutcome::Unknown {
                message: "NMI answered HTTP 429".into()
            }
        );
    }

    #[test]
    fn refusals_name_bad_credentials_and_unknown_vault_ids() {
        let auth =
            PaymentReply::parse("response=3&responsetext=Authentication Failed&response_code=300");
        assert!(matches!(
            refusal(&auth),
            GatewayError::Unauthorized { message, .. } if message == "Authentication Failed"
        ));
        let gone = "response=3&responsetext=Invalid Customer Vault Id REFID:7&response_code=300";
        assert!(matches!(
            deleted(answer(200, gone)),
            Err(GatewayError::Rejected { code, .. }) if code == NOT_FOUND
        ));
        assert!(deleted(answer(200, APPROVED)).is_ok());
        assert!(matches!(
            payment_reply(answer(502, APPROVED)),
            Err(GatewayError::Unavailable { message, .. })
                if message == "HTTP 502 with an answer that is not NMI's format"
        ));
        assert!(matches!(
            vault_id(answer(200, "response=1&responsetext=Customer Added&customer_vault_id=")),
            Err(GatewayError::Unavailable { message, .. })
                if message == "NMI saved the card but sent no customer_vault_id"
        ));
        assert_eq!(
            vault_id(answer(200, "response=1&customer_vault_id=123")).unwrap(),
            "123"
        );
    }

    #[test]
    fn a_documented_order_query_finds_the_approved_charge_and_no_refund() {
        let records = query_records(answer(200, ORDER)).unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!(
            charge_lookup(&records),
            LookupOutcome::Found(ChargeOutcome::Succeeded {
                reference: "10815962736".into()
            })
        );
        assert_eq!(refund_lookup(&records), LookupOutcome::NotFound);
        assert_eq!(summarise(QUERY, ORDER), "1 records");
    }

    #[test]
    fn lookups_prefer_a_success_and_otherwise_report_the_last_try() {
        let tx = |id: &str, condition: &str, kind: &str, code: &str| QueryRecord {
            transaction_id: Some(id.into()),
            condition: Some(condition.into()),
            actions: vec![crate::nmi::wire::Action {
                action_type: Some(kind.into()),
                success: Some(
                    if matches!(condition, "pendingsettlement" | "complete") {
                        "1"
                    } else {
                        "0"
                    }
                    .into(),
                ),
                response_code: Some(code.into()),
                response_text: Some("text".into()),
                ..crate::nmi::wire::Action::default()
            }],
            ..QueryRecord::default()
        };
        let ok = tx("2", "pendingsettlement", "sale", "100");
        let failed = tx("1", "failed", "sale", "202");
        assert_eq!(
            charge_lookup(&[failed.clone(), ok.clone()]),
            LookupOutcome::Found(ChargeOutcome::Succeeded {
                reference: "2".into()
            })
        );
        assert_eq!(
            charge_lookup(std::slice::from_ref(&failed)),
            LookupOutcome::Found(declined("202", "text", Some("1")))
        );
        assert_eq!(
            charge_lookup(&[tx("3", "in_progress", "sale", "")]),
            LookupOutcome::Found(ChargeOutcome::Unknown {
                message: "NMI still shows the charge in progress".into()
            })
        );
        assert_eq!(charge_lookup(&[]), LookupOutcome::NotFound);
        assert_eq!(refund_lookup(&[ok]), LookupOutcome::NotFound);
        assert_eq!(
            refund_lookup(&[tx("4", "failed", "refund", "300")]),
            LookupOutcome::Found(declined("300", "text", Some("4")))
        );
    }

    /// One transaction under `pay-1` with these actions (type, success, code) and this condition.
    fn record(condition: Option<&str>, actions: &[(&str, Option<&str>, Option<&str>)]) -> String {
        let mut xml = String::from("<nm_response><transaction><transaction_id>77</transaction_id><order_id>pay-1</order_id>");
        if let Some(c) = condition {
            xml.push_str(&format!("<condition>{c}</condition>"));
        }
        for (kind, success, code) in actions {
            xml.push_str(&format!("<action><action_type>{kind}</action_type>"));
            if let Some(s) = success {
                xml.push_str(&format!("<success>{s}</success>"));
            }
            if let Some(c) = code {
                xml.push_str(&format!("<response_code>{c}</response_code>"));
            }
            xml.push_str("</action>");
        }
        xml.push_str("</transaction></nm_response>");
        xml
    }

    fn looked_up(xml: &str) -> LookupOutcome {
        charge_lookup(&query_records(answer(200, xml)).unwrap())
    }

    #[test]
    fn a_voided_sale_is_neither_paid_nor_safe_to_charge_again() {
        for xml in [
            record(
                Some("canceled"),
                &[
                    ("sale", Some("1"), Some("100")),
                    ("void", Some("1"), Some("100")),
                ],
            ),
            record(
                None,
                &[
                    ("sale", Some("1"), Some("100")),
                    ("void", Some("1"), Some("100")),
                ],
            ),
        ] {
            assert!(
                matches!(looked_up(&xml), LookupOutcome::Found(ChargeOutcome::Unknown { ref message }) if message.contains("voided")),
                "{xml}"
            );
        }
    }

    #[test]
    fn only_a_record_that_says_it_failed_is_a_decline() {
        // An authorization never captured, NMI's own "unknown", and records without the fields that
        // would say: none is a decline (a decline lets the order be charged again).
        for xml in [
            record(Some("pending"), &[("auth", Some("1"), Some("100"))]),
            record(Some("unknown"), &[("sale", None, None)]),
            record(None, &[("sale", None, None)]),
            record(None, &[("sale", Some(""), None)]),
        ] {
            assert!(
                matches!(
                    looked_up(&xml),
                    LookupOutcome::Found(ChargeOutcome::Unknown { .. })
                ),
                "{xml}"
            );
        }
        for xml in [
            record(Some("failed"), &[("sale", Some("0"), Some("202"))]),
            record(None, &[("sale", Some("0"), Some("202"))]),
        ] {
            assert!(
                matches!(looked_up(&xml), LookupOutcome::Found(ChargeOutcome::Declined { ref code, .. }) if code == "202"),
                "{xml}"
            );
        }
    }

    #[test]
    fn a_success_inside_cdata_is_read() {
        let xml = "<nm_response><transaction><transaction_id>78</transaction_id>\
            <action><action_type><![CDATA[sale]]></action_type><success><![CDATA[1]]></success></action>\
            </transaction></nm_response>";
        assert!(matches!(
            looked_up(xml),
            LookupOutcome::Found(ChargeOutcome::Succeeded { .. })
        ));
    }

    #[test]
    fn only_nmis_own_duplicate_check_is_a_duplicate_refusal() {
        let refused =
            "response=3&responsetext=Duplicate transaction REFID:3161452163&response_code=300";
        assert!(matches!(
            charge(answer(200, refused)),
            ChargeOutcome::RefusedAsDuplicate { .. }
        ));
        // The processor's duplicate (430) may have charged: it is looked up, never "not charged".
        let processor =
            "response=3&responsetext=Duplicate transaction at processor&response_code=430";
        assert!(matches!(
            charge(answer(200, processor)),
            ChargeOutcome::Unknown { .. }
        ));
    }

    #[test]
    fn a_sale_settled_in_the_nightly_batch_is_still_the_charge() {
        let records = query_records(answer(200, SETTLED_SALE)).unwrap();
        assert_eq!(
            records[0].actions.len(),
            2,
            "the sale, then the batch's settle"
        );
        assert_eq!(
            charge_lookup(&records),
            LookupOutcome::Found(ChargeOutcome::Succeeded {
                reference: "10815962736".into()
            })
        );
        assert_eq!(refund_lookup(&records), LookupOutcome::NotFound);
    }

    #[test]
    fn a_sale_is_a_charge_whatever_actions_follow_it() {
        let records = query_records(answer(200, SALE_LEVEL3_SETTLED)).unwrap();
        assert_eq!(records[0].actions.len(), 3);
        assert!(matches!(
            charge_lookup(&records),
            LookupOutcome::Found(ChargeOutcome::Succeeded { .. })
        ));
    }

    #[test]
    fn a_refund_settled_after_the_sale_is_its_own_transaction_and_done() {
        let records = query_records(answer(200, SETTLED_REFUND)).unwrap();
        assert_eq!(
            refund_lookup(&records),
            LookupOutcome::Found(ChargeOutcome::Succeeded {
                reference: "10815999001".into()
            })
        );
        assert_eq!(charge_lookup(&records), LookupOutcome::NotFound);
    }

    #[test]
    fn a_declined_sale_in_the_query_api_keeps_the_banks_code_and_words() {
        let records = query_records(answer(200, DECLINED_SALE)).unwrap();
        assert_eq!(
            charge_lookup(&records),
            LookupOutcome::Found(declined("202", "Insufficient funds", Some("10815962800")))
        );
    }

    #[test]
    fn a_documented_vault_report_reads_as_the_saved_card() {
        let records = query_records(answer(200, VAULT)).unwrap();
        let card = card("1309421227", &records).unwrap();
        assert_eq!(
            (
                card.brand,
                card.last4.as_str(),
                card.exp_month,
                card.exp_year
            ),
            (CardBrand::Visa, "1111", 10, 2025)
        );
        assert_eq!(summarise(QUERY, VAULT), "1 records");
        assert!(matches!(
            super::card("9", &[]),
            Err(GatewayError::Rejected { message, .. }) if message == "NMI has no saved card 9"
        ));
    }

    #[test]
    fn query_errors_tell_bad_credentials_from_other_refusals() {
        let err = |text: &str| {
            format!("<?xml version=\"1.0\"?><nm_response><error_response>{text}</error_response></nm_response>")
        };
        assert!(matches!(
            query_records(answer(200, &err("Authentication Failed"))),
            Err(GatewayError::Unauthorized { .. })
        ));
        assert!(matches!(
            query_records(answer(200, &err("Invalid report_type"))),
            Err(GatewayError::Rejected { code, message, .. })
                if code.is_empty() && message == "Invalid report_type"
        ));
        assert!(matches!(
            query_records(answer(200, "<html>")),
            Err(GatewayError::Unavailable { message, .. })
                if message.starts_with("unreadable Query API answer")
        ));
        assert!(matches!(
            query_records(answer(500, "")),
            Err(GatewayError::Unavailable { message, .. }) if message == "HTTP 500 from the Query API"
        ));
    }

    #[test]
    fn expiry_reads_mmyy_with_or_without_a_slash() {
        assert_eq!(expiry("1230"), Some((12, 2030)));
        assert_eq!(expiry("12/30"), Some((12, 2030)));
        assert_eq!(expiry("123"), None);
    }

    #[test]
    fn a_period_lists_settled_sales_and_refunds_as_money_moved_and_a_decline_as_not() {
        let read = |xml: &str| QueryReply::parse(xml).unwrap().records;
        let at = |s: &str| nmi_time(s).unwrap();
        let sale = period_transactions(&read(SETTLED_SALE));
        assert_eq!(sale.len(), 1);
        assert_eq!(
            sale[0],
            GatewayTransaction {
                kind: TransactionKind::Charge,
                reference: "10815962736".into(),
                our_key: Some("pay-1".into()),
                amount_minor: 4_900,
                currency: Some("USD".into()),
                taken: true,
                status: "complete".into(),
                created_at: at("20250114103212"),
            }
        );
        let refund = &period_transactions(&read(include_str!(
            "../../tests/fixtures/nmi/query_settled_refund.xml"
        )))[0];
        assert_eq!(
            (
                refund.kind,
                refund.our_key.as_deref(),
                refund.amount_minor,
                refund.taken
            ),
            (TransactionKind::Refund, Some("refund-1"), 4_900, true)
        );
        assert_eq!(
            refund.created_at,
            at("20250116091500"),
            "the refund's own date, not the settlement's"
        );
        let declined = &period_transactions(&read(include_str!(
            "../../tests/fixtures/nmi/query_declined_sale.xml"
        )))[0];
        assert_eq!(
            (declined.kind, declined.taken, declined.status.as_str()),
            (TransactionKind::Charge, false, "failed")
        );
        assert_eq!(minor_units("-0.5"), Some(50));
        assert_eq!(minor_units("12"), Some(1_200));
        assert_eq!(minor_units("1.234"), None);
        assert_eq!(minor_units("abc"), None);
    }
}
