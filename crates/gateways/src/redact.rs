//! What is written about a gateway call: never a secret, a full token, a card number or a CVC.

/// Fields whose value is a secret: replaced entirely.
const SECRET_FIELDS: &[&str] = &[
    "security_key",
    "cvv",
    "ccnumber",
    "password",
    "authorization",
    "card[number]",
    "card[cvc]",
    "cvc",
];
/// Fields holding tokens: only a short prefix is kept, enough to match log lines together.
const TOKEN_FIELDS: &[&str] = &["payment_token", "client_secret"];
/// JSON members holding a card number in full (only the simulator's own card objects could).
const JSON_SECRET_MEMBERS: &[&str] = &["number", "cvc", "secret", "client_secret"];

/// Redacts a JSON reply member by member: secrets and client secrets go, card numbers anywhere are masked.
pub fn json(body: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(body) {
        Ok(mut v) => {
            scrub(&mut v);
            v.to_string()
        }
        Err(_) => text(body),
    }
}

fn scrub(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, member) in map.iter_mut() {
                if k == "url" {
                    // A hosted card page's address lets whoever holds it save a card for the
                    // patient: only its origin is written down.
                    if let serde_json::Value::String(s) = member {
                        if let Ok(u) = reqwest::Url::parse(s) {
                            *s = format!("{}/…", u.origin().ascii_serialization());
                        }
                    }
                } else if JSON_SECRET_MEMBERS.contains(&k.to_ascii_lowercase().as_str()) {
                    if let serde_json::Value::String(s) = member {
                        *s = if k == "client_secret" {
                            token_prefix(s)
                        } else {
                            "[redacted]".into()
                        };
                    }
                } else {
                    scrub(member);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(scrub),
        serde_json::Value::String(s) => *s = text(s),
        _ => {}
    }
}

/// Redacts a form-encoded or `key=value&…` body field by field, then masks digit runs that look like
/// card numbers anywhere in what is left.
pub fn form(body: &str) -> String {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(body).unwrap_or_default();
    if pairs.is_empty() {
        return text(body);
    }
    let redacted: Vec<(String, String)> = pairs
        .into_iter()
        .map(|(k, v)| {
            let lk = k.to_ascii_lowercase();
            let v = if SECRET_FIELDS.contains(&lk.as_str()) {
                "[redacted]".to_owned()
            } else if TOKEN_FIELDS.contains(&lk.as_str()) {
                token_prefix(&v)
            } else if lk == "ccexp" {
                "[redacted]".to_owned()
            } else {
                text(&v)
            };
            (k, v)
        })
        .collect();
    serde_urlencoded::to_string(redacted).unwrap_or_default()
}

fn token_prefix(v: &str) -> String {
    let keep: String = v.chars().take(6).collect();
    format!("{keep}…")
}

/// Masks every run of 13 to 19 digits (spaces and dashes allowed inside) that passes the Luhn check.
pub fn text(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_ascii_digit() {
            let mut j = i;
            let mut digits = String::new();
            while j < chars.len()
                && (chars[j].is_ascii_digit()
                    || ((chars[j] == ' ' || chars[j] == '-')
                        && j + 1 < chars.len()
                        && chars[j + 1].is_ascii_digit()))
            {
                if chars[j].is_ascii_digit() {
                    digits.push(chars[j]);
                }
                j += 1;
            }
            if (13..=19).contains(&digits.len()) && clinicpay_domain::card::luhn_ok(&digits) {
                out.push_str(&format!("[card ••{}]", &digits[digits.len() - 4..]));
            } else {
                out.extend(&chars[i..j]);
            }
            i = j;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_tokens_and_card_numbers_never_survive() {
        let body = "security_key=6457Thfj624V5r7WUwc5v6a68Zsd6YEm&type=sale&payment_token=00000000-000000-000000-000000000000&amount=12.34&ccnumber=4111111111111111&cvv=123&ccexp=1230&orderid=p-1";
        let r = form(body);
        assert!(!r.contains("6457Thfj"), "{r}");
        assert!(
            !r.contains("4111111111111111") && !r.contains("cvv=123"),
            "{r}"
        );
        assert!(
            r.contains("amount=12.34") && r.contains("orderid=p-1"),
            "{r}"
        );
        assert!(r.contains("payment_token=000000"), "{r}");
    }

    #[test]
    fn stripe_json_keeps_ids_and_loses_client_secrets_and_numbers() {
        let body = r#"{"id":"seti_1","client_secret":"seti_1_secret_abcdef","card":{"number":"4242424242424242","last4":"4242"},"note":"4000 0000 0000 0002"}"#;
        let r = json(body);
        assert!(
            r.contains("\"id\":\"seti_1\"") && r.contains("\"last4\":\"4242\""),
            "{r}"
        );
        assert!(
            !r.contains("secret_abcdef") && !r.contains("4242424242424242"),
            "{r}"
        );
        assert!(r.contains("[card ••0002]"), "{r}");
        let form_body = "card[number]=4242424242424242&card[cvc]=123&type=card";
        let f = form(form_body);
        assert!(!f.contains("4242424242424242") && !f.contains("123"), "{f}");
    }

    #[test]
    fn a_hosted_card_pages_address_keeps_only_its_origin() {
        let r = json(
            r#"{"id":"cs_test_1","url":"https://checkout.stripe.com/c/pay/cs_test_1#fidkdWxOYHwnPyd1blpxYHZxWjA0","object":"checkout.session"}"#,
        );
        assert!(
            r.contains(r#""url":"https://checkout.stripe.com/…""#),
            "{r}"
        );
        assert!(!r.contains("fidkd") && r.contains("cs_test_1"), "{r}");
        // A list's relative url is no address to anything.
        assert!(json(r#"{"url":"/v1/checkout/sessions"}"#).contains("/v1/checkout/sessions"));
    }

    #[test]
    fn card_numbers_are_masked_in_free_text_but_ids_are_not() {
        assert_eq!(
            text("card 4242 4242 4242 4242 failed"),
            "card [card ••4242] failed"
        );
        assert_eq!(
            text("transactionid=10000000001"),
            "transactionid=10000000001"
        );
        assert_eq!(text("4000-0000-0000-9995"), "[card ••9995]");
    }
}
