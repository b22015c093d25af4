//! The subset of Stripe's API ClinicPay uses, as Stripe documents it (../shared/reference/stripe.md):
//! form-encoded requests, JSON objects back, `Authorization: Bearer sk_…`, and `Idempotency-Key`
//! replay (same key and parameters → the first answer again; other parameters → 400
//! `idempotency_error`). Test cards behave as on Stripe: the ones Stripe declines when they are set up
//! for later fail at setup/attach with their `decline_code`; 4000000000000341 attaches and then fails
//! when charged; 4000002500003155 needs the patient present.
//! Long because it is one simulated API, object by object, with its idempotency replay.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::cards::{brand_of, is_published_test_card, luhn_ok, CardKey, NOT_A_TEST_CARD};
use crate::{with_faults, Shared};

type Fields = HashMap<String, String>;
type Answer = (StatusCode, Value);

/// What a Stripe test card does.
enum StripeCard {
    Approve,
    /// Declined whenever the card is verified: at setup, attach or charge (code, decline_code, message).
    Declines(&'static str, &'static str, &'static str),
    /// Attaches, then every charge is declined.
    ChargeDeclines(&'static str, &'static str, &'static str),
    /// Off-session charges need the cardholder to authenticate.
    NeedsAuthentication,
}

fn card_behaviour(number: &str) -> StripeCard {
    use StripeCard::*;
    match number {
        "4000000000000002" => Declines(
            "card_declined",
            "generic_decline",
            "Your card was declined.",
        ),
        "4000000000009995" => Declines(
            "card_declined",
            "insufficient_funds",
            "Your card has insufficient funds.",
        ),
        "4000000000009987" => Declines("card_declined", "lost_card", "Your card was declined."),
        "4000000000009979" => Declines("card_declined", "stolen_card", "Your card was declined."),
        "4000000000000069" => Declines("expired_card", "expired_card", "Your card has expired."),
        "4000000000000127" => Declines(
            "incorrect_cvc",
            "incorrect_cvc",
            "Your card's security code is incorrect.",
        ),
        "4000000000000119" => Declines(
            "processing_error",
            "processing_error",
            "An error occurred while processing your card. Try again in a little bit.",
        ),
        "4000000000000341" => ChargeDeclines(
            "card_declined",
            "generic_decline",
            "Your card was declined.",
        ),
        "4000002500003155" | "4000002760003184" => NeedsAuthentication,
        _ => Approve,
    }
}

/// A PaymentMethod as the simulator keeps it: Stripe's JSON (brand, last four, expiry, a keyed
/// fingerprint) and what the card does; never the whole number.
#[derive(Serialize, Deserialize)]
#[serde(from = "StoredCard")]
struct Card {
    behaviour: Behaviour,
    json: Value,
}

/// What a card does, kept instead of its number.
#[derive(Clone, Serialize, Deserialize)]
enum Behaviour {
    Approve,
    Declines(String, String, String),
    ChargeDeclines(String, String, String),
    NeedsAuthentication,
}

impl From<StripeCard> for Behaviour {
    fn from(c: StripeCard) -> Behaviour {
        let own = |a: &str, b: &str, m: &str| (a.to_owned(), b.to_owned(), m.to_owned());
        match c {
            StripeCard::Approve => Behaviour::Approve,
            StripeCard::Declines(a, b, m) => {
                let (a, b, m) = own(a, b, m);
                Behaviour::Declines(a, b, m)
            }
            StripeCard::ChargeDeclines(a, b, m) => {
                let (a, b, m) = own(a, b, m);
                Behaviour::ChargeDeclines(a, b, m)
            }
            StripeCard::NeedsAuthentication => Behaviour::NeedsAuthentication,
        }
    }
}

/// A card as a state file holds it: earlier simulators kept the number, which is read once and dropped.
#[derive(Deserialize)]
struct StoredCard {
    #[serde(default)]
    number: Option<String>,
    #[serde(default)]
    behaviour: Option<Behaviour>,
    json: Value,
}

impl From<StoredCard> for Card {
    fn from(c: StoredCard) -> Card {
        let behaviour = match (c.number, c.behaviour) {
            (Some(number), _) => card_behaviour(&number).into(),
            (None, Some(b)) => b,
            (None, None) => Behaviour::Approve,
        };
        Card {
            behaviour,
            json: c.json,
        }
    }
}

#[derive(Default, Serialize, Deserialize)]
pub struct StripeState {
    /// Comes from the command line each start, never from the state file.
    #[serde(skip)]
    pub(crate) secret_key: Option<String>,
    /// Training mode: the demo clinic's cards (`pm_demo_…`) exist here as approved Visas.
    #[serde(skip)]
    pub(crate) adopt_demo_cards: bool,
    next: u64,
    customers: HashMap<String, Value>,
    payment_methods: HashMap<String, Card>,
    setup_intents: HashMap<String, Value>,
    /// Checkout Sessions in `mode=setup` (Stripe's hosted card page), by id.
    #[serde(default)]
    checkout_sessions: HashMap<String, Value>,
    /// The address this request came to (its Host header), for a session's `url`.
    #[serde(skip)]
    host: Option<String>,
    intents: Vec<Value>,
    pub(crate) refunds: Vec<Value>,
    /// Idempotency-Key → (what was asked, the answer given, when, in Unix seconds). Like Stripe, a key
    /// is forgotten 24 hours after its first use, and the same request is then done again.
    idempotency: HashMap<String, (String, u16, Value, i64)>,
    /// What fingerprints are keyed with (see `CardKey`).
    #[serde(default)]
    card_key: CardKey,
}

/// Stripe keeps an idempotent request's answer this long.
const KEYS_KEPT_SECONDS: i64 = 24 * 60 * 60;

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn error(status: u16, kind: &str, code: &str, message: &str) -> Answer {
    let mut e = json!({"type": kind, "message": message});
    if !code.is_empty() {
        e["code"] = json!(code);
    }
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        json!({ "error": e }),
    )
}

fn missing(name: &str) -> Answer {
    error(
        400,
        "invalid_request_error",
        "parameter_missing",
        &format!("Missing required param: {name}."),
    )
}

fn no_such(kind: &str, id: &str) -> Answer {
    error(
        404,
        "invalid_request_error",
        "resource_missing",
        &format!("No such {kind}: '{id}'"),
    )
}

fn list(data: Vec<Value>, url: &str) -> Answer {
    (
        StatusCode::OK,
        json!({"object": "list", "data": data, "has_more": false, "url": url}),
    )
}

/// A list as Stripe pages it: newest first, `created[gte|gt|lte|lt]` filters, `starting_after` an
/// id (the next page), `limit` 1 to 100 (default 10), and `has_more`.
fn paged(mut newest_first: Vec<Value>, f: &Fields, url: &str) -> Answer {
    let bound = |op: &str| {
        f.get(&format!("created[{op}]"))
            .and_then(|v| v.parse::<i64>().ok())
    };
    let created = |v: &Value| v["created"].as_i64().unwrap_or_default();
    newest_first.retain(|v| {
        let c = created(v);
        bound("gte").is_none_or(|b| c >= b)
            && bound("gt").is_none_or(|b| c > b)
            && bound("lte").is_none_or(|b| c <= b)
            && bound("lt").is_none_or(|b| c < b)
    });
    if let Some(after) = f.get("starting_after") {
        match newest_first.iter().position(|v| v["id"] == json!(after)) {
            Some(i) => {
                newest_first.drain(..=i);
            }
            None => return no_such("object", after),
        }
    }
    let limit = match f.get("limit").map(|l| l.parse::<usize>()) {
        None => 10,
        Some(Ok(l)) if (1..=100).contains(&l) => l,
        Some(_) => {
            return error(
                400,
                "invalid_request_error",
                "parameter_invalid_integer",
                "This value must be greater than or equal to 1 and less than or equal to 100.",
            )
        }
    };
    let has_more = newest_first.len() > limit;
    newest_first.truncate(limit);
    (
        StatusCode::OK,
        json!({"object": "list", "data": newest_first, "has_more": has_more, "url": url}),
    )
}

fn metadata(f: &Fields) -> Value {
    let mut m = serde_json::Map::new();
    for (k, v) in f {
        if let Some(name) = k
            .strip_prefix("metadata[")
            .and_then(|r| r.strip_suffix(']'))
        {
            m.insert(name.to_owned(), json!(v));
        }
    }
    Value::Object(m)
}

impl StripeState {
    pub fn new(secret_key: Option<String>) -> StripeState {
        StripeState {
            secret_key,
            ..StripeState::default()
        }
    }

    /// An id shaped as Stripe's are (`pm_1Nq…`: a prefix and 24 letters and digits), so whatever checks
    /// a token's shape meets the real thing: this simulator's count, then random characters.
    fn id(&mut self, prefix: &str) -> String {
        const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        self.next += 1;
        let mut n = self.next;
        let mut count = [b'0'; 6];
        for c in count.iter_mut().rev() {
            *c = BASE62[(n % 62) as usize];
            n /= 62;
        }
        let random: String = (0..14)
            .map(|_| BASE62[rand::random::<usize>() % 62] as char)
            .collect();
        format!("{prefix}_1Sim{}{random}", String::from_utf8_lossy(&count))
    }

    pub(crate) fn attached_cards(&self) -> usize {
        self.payment_methods
            .values()
            .filter(|c| !c.json["customer"].is_null())
            .count()
    }

    pub(crate) fn customer_count(&self) -> usize {
        self.customers.len()
    }

    pub(crate) fn payment_intents(&self) -> Vec<Value> {
        self.intents.clone()
    }

    /// A PaymentMethod for a card, as Stripe.js makes it in the page from the card element.
    /// The card network renews saved cards ending in `last4` (Stripe's card automatic updates): the
    /// PaymentMethod keeps its id and gets the new expiry, and the new last four and fingerprint when
    /// the issuer replaced the number. Only cards saved to a customer are updated. Answers how many.
    pub(crate) fn renew_cards(
        &mut self,
        last4: &str,
        exp_month: u32,
        exp_year: i32,
        new_number: Option<&str>,
    ) -> usize {
        let mut changed = 0;
        let key = self.card_key.clone();
        for card in self.payment_methods.values_mut() {
            let c = &mut card.json;
            if c["customer"].is_null() || c["card"]["last4"] != last4 {
                continue;
            }
            c["card"]["exp_month"] = json!(exp_month);
            c["card"]["exp_year"] = json!(exp_year);
            if let Some(n) = new_number {
                c["card"]["last4"] = json!(&n[n.len() - 4..]);
                c["card"]["brand"] = json!(brand_of(n));
                c["card"]["fingerprint"] = json!(format!("fp{:016x}", key.digest(n)));
            }
            changed += 1;
        }
        changed
    }

    pub(crate) fn attach_all(&mut self) {
        let customer = self.id("cus");
        for card in self.payment_methods.values_mut() {
            if card.json["customer"].is_null() {
                card.json["customer"] = json!(customer);
            }
        }
    }

    pub(crate) fn create_payment_method(
        &mut self,
        number: &str,
        exp_month: u32,
        exp_year: i32,
        name: &str,
    ) -> String {
        let id = self.id("pm");
        let json = json!({
            "id": id,
            "object": "payment_method",
            "type": "card",
            "created": now(),
            "customer": null,
            "livemode": false,
            "metadata": {},
            "billing_details": {"name": if name.is_empty() { Value::Null } else { json!(name) }},
            "card": {
                "brand": brand_of(number),
                "last4": &number[number.len() - 4..],
                "exp_month": exp_month,
                "exp_year": exp_year,
                "country": "US",
                "funding": "credit",
                // Stripe's fingerprint is per card number and account: keyed here with this
                // simulator's own key, so it cannot be turned back into the number.
                "fingerprint": format!("fp{:016x}", self.card_key.digest(number)),
            },
        });
        self.payment_methods.insert(
            id.clone(),
            Card {
                behaviour: card_behaviour(number).into(),
                json,
            },
        );
        id
    }

    /// Who may call: the secret key for everything, the publishable key only for what Stripe.js does.
    fn authorised(&self, headers: &HeaderMap, method: &Method, path: &str) -> Result<(), Answer> {
        let key = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        let publishable_ok = *method == Method::POST && path == "/v1/payment_methods";
        let ok = match &self.secret_key {
            Some(want) => key == want || (publishable_ok && key.starts_with("pk_")),
            None => key.starts_with("sk_") || (publishable_ok && key.starts_with("pk_")),
        };
        if ok {
            Ok(())
        } else {
            Err(error(
                401,
                "invalid_request_error",
                "",
                "Invalid API Key provided.",
            ))
        }
    }

    /// Serves one request, replaying the first answer for a repeated Idempotency-Key.
    fn serve(&mut self, method: Method, path: &str, headers: &HeaderMap, body: &str) -> Answer {
        if let Err(refused) = self.authorised(headers, &method, path) {
            return refused;
        }
        let f: Fields = serde_urlencoded::from_str::<Vec<(String, String)>>(body)
            .unwrap_or_default()
            .into_iter()
            .collect();
        self.host = headers
            .get("host")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let key = headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .filter(|_| method == Method::POST)
            .map(str::to_owned);
        let asked = {
            let mut sorted: Vec<_> = f.iter().collect();
            sorted.sort();
            format!("{path} {sorted:?}")
        };
        if let Some(k) = &key {
            if self
                .idempotency
                .get(k)
                .is_some_and(|kept| now() - kept.3 >= KEYS_KEPT_SECONDS)
            {
                self.idempotency.remove(k);
            }
            if let Some((first, status, answer, _)) = self.idempotency.get(k) {
                if *first != asked {
                    return error(
                        400,
                        "idempotency_error",
                        "",
                        &format!("Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '{k}' if you meant to execute a different request."),
                    );
                }
                return (
                    StatusCode::from_u16(*status).unwrap_or(StatusCode::OK),
                    answer.clone(),
                );
            }
        }
        let (status, answer) = self.route(&method, path, &f);
        // Stripe keeps the answer once the endpoint began its work; a request refused while its
        // parameters were checked is not kept, so the same key can be used again with good ones.
        let validation_failure =
            status == StatusCode::BAD_REQUEST && answer["error"]["type"] == "invalid_request_error";
        if let (Some(k), false) = (key, validation_failure) {
            self.idempotency
                .insert(k, (asked, status.as_u16(), answer.clone(), now()));
        }
        (status, answer)
    }

    fn route(&mut self, method: &Method, path: &str, f: &Fields) -> Answer {
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        match (method.as_str(), parts.as_slice()) {
            ("POST", ["v1", "customers"]) => self.create_customer(f),
            ("GET", ["v1", "customers"]) => {
                let mut all: Vec<Value> = self.customers.values().cloned().collect();
                all.sort_by_key(|c| std::cmp::Reverse(c["created"].as_i64()));
                let limit = f.get("limit").and_then(|l| l.parse().ok()).unwrap_or(10);
                all.truncate(limit);
                list(all, "/v1/customers")
            }
            ("GET", ["v1", "customers", id]) => match self.customers.get(*id) {
                Some(c) => (StatusCode::OK, c.clone()),
                None => no_such("customer", id),
            },
            ("POST", ["v1", "payment_methods"]) => self.create_payment_method_from(f),
            ("GET", ["v1", "payment_methods"]) => {
                let customer = f.get("customer").cloned().unwrap_or_default();
                let mut cards: Vec<Value> = self
                    .payment_methods
                    .values()
                    .filter(|c| c.json["customer"] == json!(customer))
                    .map(|c| c.json.clone())
                    .collect();
                cards.sort_by_key(|c| std::cmp::Reverse(c["created"].as_i64()));
                list(cards, "/v1/payment_methods")
            }
            ("GET", ["v1", "payment_methods", id]) => match self.payment_methods.get(*id) {
                Some(c) => (StatusCode::OK, c.json.clone()),
                None => no_such("PaymentMethod", id),
            },
            ("POST", ["v1", "payment_methods", id, "attach"]) => {
                let Some(customer) = f.get("customer").cloned() else {
                    return missing("customer");
                };
                self.attach(id, &customer)
            }
            ("POST", ["v1", "payment_methods", id, "detach"]) => self.detach(id),
            ("POST", ["v1", "setup_intents"]) => self.create_setup_intent(f),
            ("GET", ["v1", "setup_intents", id]) => match self.setup_intents.get(*id) {
                Some(s) => (StatusCode::OK, s.clone()),
                None => no_such("setupintent", id),
            },
            ("POST", ["v1", "setup_intents", id, "confirm"]) => self.confirm_setup(id, f),
            ("POST", ["v1", "checkout", "sessions"]) => self.create_checkout_session(f),
            ("GET", ["v1", "checkout", "sessions"]) => {
                self.expire_checkout_sessions();
                let mut found: Vec<Value> = self
                    .checkout_sessions
                    .values()
                    .filter(|s| f.get("status").is_none_or(|st| s["status"] == json!(st)))
                    .filter(|s| f.get("customer").is_none_or(|c| s["customer"] == json!(c)))
                    .cloned()
                    .collect();
                found.sort_by_key(|s| std::cmp::Reverse(s["created"].as_i64()));
                paged(found, f, "/v1/checkout/sessions")
            }
            ("GET", ["v1", "checkout", "sessions", id]) => {
                self.expire_checkout_sessions();
                match self.checkout_sessions.get(*id) {
                    Some(s) => (StatusCode::OK, s.clone()),
                    None => no_such("checkout.session", id),
                }
            }
            ("POST", ["v1", "checkout", "sessions", id, "expire"]) => {
                self.expire_checkout_sessions();
                match self.checkout_sessions.get_mut(*id) {
                    None => no_such("checkout.session", id),
                    Some(s) if s["status"] != "open" => error(
                        400,
                        "invalid_request_error",
                        "checkout_session_not_open",
                        // Stripe's words (a 400 invalid_request_error).
                        &format!(
                            "Only Checkout Sessions with a status in [\"open\"] can be expired. This Checkout Session has a status of `{}`.",
                            s["status"].as_str().unwrap_or("closed")
                        ),
                    ),
                    Some(s) => {
                        s["status"] = json!("expired");
                        s["url"] = Value::Null;
                        (StatusCode::OK, s.clone())
                    }
                }
            }
            ("POST", ["v1", "payment_intents"]) => self.create_payment_intent(f),
            ("GET", ["v1", "payment_intents"]) => {
                let customer = f.get("customer");
                let mut found: Vec<Value> = self
                    .intents
                    .iter()
                    .filter(|pi| customer.is_none_or(|c| pi["customer"] == json!(c)))
                    .cloned()
                    .collect();
                found.reverse();
                paged(found, f, "/v1/payment_intents")
            }
            ("GET", ["v1", "payment_intents", id]) => {
                match self.intents.iter().find(|pi| pi["id"] == json!(id)) {
                    Some(pi) => (StatusCode::OK, pi.clone()),
                    None => no_such("payment_intent", id),
                }
            }
            ("POST", ["v1", "refunds"]) => self.refund(f),
            ("GET", ["v1", "refunds"]) => {
                let pi = f.get("payment_intent");
                let mut found: Vec<Value> = self
                    .refunds
                    .iter()
                    .filter(|r| pi.is_none_or(|p| r["payment_intent"] == json!(p)))
                    .cloned()
                    .collect();
                found.reverse();
                paged(found, f, "/v1/refunds")
            }
            _ => error(
                404,
                "invalid_request_error",
                "",
                &format!(
                    "Unrecognized request URL ({} /{}). The simulator serves the part of Stripe's API ClinicPay uses.",
                    method,
                    parts.join("/")
                ),
            ),
        }
    }

    fn create_customer(&mut self, f: &Fields) -> Answer {
        let id = self.id("cus");
        let c = json!({
            "id": id,
            "object": "customer",
            "created": now(),
            "name": f.get("name"),
            "email": f.get("email"),
            "metadata": metadata(f),
            "livemode": false,
        });
        self.customers.insert(id, c.clone());
        (StatusCode::OK, c)
    }

    pub(crate) fn create_payment_method_from(&mut self, f: &Fields) -> Answer {
        if f.get("type").map(String::as_str) != Some("card") {
            return missing("type");
        }
        let number: String = f
            .get("card[number]")
            .map(|n| n.chars().filter(char::is_ascii_digit).collect())
            .unwrap_or_default();
        if !luhn_ok(&number) {
            return error(
                402,
                "card_error",
                "incorrect_number",
                "Your card number is incorrect.",
            );
        }
        if !is_published_test_card(&number) {
            return error(402, "card_error", "incorrect_number", NOT_A_TEST_CARD);
        }
        let month: u32 = f
            .get("card[exp_month]")
            .and_then(|m| m.parse().ok())
            .unwrap_or(0);
        let mut year: i32 = f
            .get("card[exp_year]")
            .and_then(|y| y.parse().ok())
            .unwrap_or(0);
        if year < 100 {
            year += 2000;
        }
        if !(1..=12).contains(&month) {
            return error(
                402,
                "card_error",
                "invalid_expiry_month",
                "Your card's expiration month is invalid.",
            );
        }
        let today = chrono::Utc::now().date_naive();
        use chrono::Datelike;
        if (year, month) < (today.year(), today.month()) {
            return error(
                402,
                "card_error",
                "invalid_expiry_year",
                "Your card's expiration year is in the past.",
            );
        }
        let name = f.get("billing_details[name]").cloned().unwrap_or_default();
        let id = self.create_payment_method(&number, month, year, &name);
        if let Some(country) = f.get("billing_details[address][country]") {
            let card = self.payment_methods.get_mut(&id).expect("just made");
            card.json["billing_details"]["address"] = json!({ "country": country });
        }
        (StatusCode::OK, self.payment_methods[&id].json.clone())
    }

    /// Verifies the card with its bank, as attaching and setting up do on Stripe.
    fn verify(&self, pm: &str) -> Result<(), Answer> {
        let Some(card) = self.payment_methods.get(pm) else {
            return Err(no_such("PaymentMethod", pm));
        };
        if let Behaviour::Declines(code, decline, message) = &card.behaviour {
            let (status, mut body) = error(402, "card_error", code, message);
            body["error"]["decline_code"] = json!(decline);
            return Err((status, body));
        }
        Ok(())
    }

    fn attach(&mut self, pm: &str, customer: &str) -> Answer {
        if !self.customers.contains_key(customer) {
            return no_such("customer", customer);
        }
        if let Err(declined) = self.verify(pm) {
            return declined;
        }
        let card = self.payment_methods.get_mut(pm).expect("verified above");
        match card.json["customer"].as_str() {
            Some(c) if c != customer => error(
                400,
                "invalid_request_error",
                "",
                "The payment method you provided has already been attached to a customer.",
            ),
            _ => {
                card.json["customer"] = json!(customer);
                (StatusCode::OK, card.json.clone())
            }
        }
    }

    fn detach(&mut self, pm: &str) -> Answer {
        let Some(card) = self.payment_methods.get_mut(pm) else {
            return no_such("PaymentMethod", pm);
        };
        if card.json["customer"].is_null() {
            return error(
                400,
                "invalid_request_error",
                "",
                "The payment method you provided is not attached to a customer so detachment is impossible.",
            );
        }
        card.json["customer"] = Value::Null;
        (StatusCode::OK, card.json.clone())
    }

    fn create_setup_intent(&mut self, f: &Fields) -> Answer {
        if let Some(c) = f.get("customer") {
            if !self.customers.contains_key(c) {
                return no_such("customer", c);
            }
        }
        let id = self.id("seti");
        let seti = json!({
            "id": id,
            "object": "setup_intent",
            "created": now(),
            "client_secret": format!("{id}_secret_{:016x}", rand::random::<u64>()),
            "customer": f.get("customer"),
            "usage": f.get("usage").map(String::as_str).unwrap_or("off_session"),
            "payment_method": null,
            "payment_method_types": ["card"],
            "status": "requires_payment_method",
            "last_setup_error": null,
        });
        self.setup_intents.insert(id, seti.clone());
        (StatusCode::OK, seti)
    }

    /// `POST /v1/checkout/sessions` in `mode=setup`, as Stripe documents it: `success_url` required,
    /// `cancel_url` optional, `expires_at` from 30 minutes to 24 hours ahead (24 hours by default),
    /// a SetupIntent for the session's customer, and the hosted page's `url`.
    fn create_checkout_session(&mut self, f: &Fields) -> Answer {
        let Some(mode) = f.get("mode") else {
            return missing("mode");
        };
        if mode != "setup" {
            return error(
                400,
                "invalid_request_error",
                "parameter_invalid",
                &format!("This simulator serves Checkout in mode=setup only, not mode={mode}."),
            );
        }
        let Some(success_url) = f.get("success_url").cloned() else {
            return missing("success_url");
        };
        if let Some(c) = f.get("customer") {
            if !self.customers.contains_key(c) {
                return no_such("customer", c);
            }
        }
        let created = now();
        let expires_at = match f.get("expires_at") {
            None => created + 24 * 3600,
            Some(t) => match t.parse::<i64>() {
                Ok(t) if (created + 30 * 60..=created + 24 * 3600).contains(&t) => t,
                _ => {
                    return error(
                        400,
                        "invalid_request_error",
                        "parameter_invalid",
                        "The `expires_at` timestamp must be between 30 minutes and 24 hours from the Checkout Session's creation.",
                    )
                }
            },
        };
        let (_, seti) = self.create_setup_intent(f);
        let id = self.id("cs_test");
        let url = match &self.host {
            Some(host) => json!(format!("http://{host}/stripe/checkout/{id}")),
            None => Value::Null,
        };
        let session = json!({
            "id": id,
            "object": "checkout.session",
            "mode": "setup",
            "status": "open",
            "payment_status": "no_payment_required",
            "customer": f.get("customer"),
            "setup_intent": seti["id"],
            "success_url": success_url,
            "cancel_url": f.get("cancel_url"),
            "client_reference_id": f.get("client_reference_id"),
            "created": created,
            "expires_at": expires_at,
            "livemode": false,
            "url": url,
        });
        self.checkout_sessions.insert(id, session.clone());
        (StatusCode::OK, session)
    }

    /// One Checkout Session as Stripe would answer it now (past its `expires_at`, expired).
    pub(crate) fn checkout_session(&mut self, id: &str) -> Option<Value> {
        self.expire_checkout_sessions();
        self.checkout_sessions.get(id).cloned()
    }

    pub(crate) fn run_out_checkout_session(&mut self, id: &str) {
        if let Some(s) = self.checkout_sessions.get_mut(id) {
            s["expires_at"] = json!(now() - 1);
        }
    }

    /// Open sessions past their `expires_at` are expired, as Stripe does on its own.
    fn expire_checkout_sessions(&mut self) {
        let t = now();
        for s in self.checkout_sessions.values_mut() {
            if s["status"] == "open" && s["expires_at"].as_i64().is_some_and(|e| e <= t) {
                s["status"] = json!("expired");
                s["url"] = Value::Null;
            }
        }
    }

    /// The patient fills in the hosted page with a test card: the session's SetupIntent is confirmed
    /// with it (attached to the customer) and the session is complete. A card the bank declines
    /// leaves the session open, as Stripe's page shows the decline and lets them try another.
    pub(crate) fn complete_checkout_setup(
        &mut self,
        session: &str,
        number: &str,
        exp_month: u32,
        exp_year: i32,
    ) -> Result<Value, String> {
        self.expire_checkout_sessions();
        let Some(s) = self.checkout_sessions.get(session).cloned() else {
            return Err(format!("No such checkout.session: '{session}'"));
        };
        if s["status"] != "open" {
            return Err(format!(
                "This Checkout Session is {}: it can no longer be completed.",
                s["status"].as_str().unwrap_or("closed")
            ));
        }
        let seti = s["setup_intent"].as_str().unwrap_or_default().to_owned();
        let pm = self.create_payment_method(number, exp_month, exp_year, "");
        let mut f = Fields::new();
        f.insert("payment_method".into(), pm);
        let (status, answer) = self.confirm_setup(&seti, &f);
        if status != StatusCode::OK {
            return Err(answer["error"]["message"]
                .as_str()
                .unwrap_or("the card was declined")
                .to_owned());
        }
        let done = self.checkout_sessions.get_mut(session).expect("read above");
        done["status"] = json!("complete");
        done["url"] = Value::Null;
        Ok(done.clone())
    }

    fn confirm_setup(&mut self, id: &str, f: &Fields) -> Answer {
        let Some(seti) = self.setup_intents.get(id).cloned() else {
            return no_such("setupintent", id);
        };
        if seti["status"] == "succeeded" {
            return error(
                400,
                "invalid_request_error",
                "setup_intent_unexpected_state",
                "You cannot confirm this SetupIntent because it has already succeeded.",
            );
        }
        let Some(pm) = f.get("payment_method").cloned() else {
            return missing("payment_method");
        };
        let mut seti = seti;
        seti["payment_method"] = json!(pm);
        let result = match self.verify(&pm) {
            Err((status, mut body)) => {
                seti["status"] = json!("requires_payment_method");
                seti["last_setup_error"] = body["error"].clone();
                body["error"]["setup_intent"] = seti.clone();
                (status, body)
            }
            Ok(()) => {
                if let Some(customer) = seti["customer"].as_str().map(str::to_owned) {
                    let (status, body) = self.attach(&pm, &customer);
                    if status != StatusCode::OK {
                        return (status, body);
                    }
                }
                seti["status"] = json!("succeeded");
                (StatusCode::OK, seti.clone())
            }
        };
        self.setup_intents.insert(id.to_owned(), seti);
        result
    }

    fn create_payment_intent(&mut self, f: &Fields) -> Answer {
        let Some(amount) = f.get("amount").and_then(|a| a.parse::<i64>().ok()) else {
            return missing("amount");
        };
        let Some(currency) = f.get("currency").cloned() else {
            return missing("currency");
        };
        if amount < 50 {
            return error(
                400,
                "invalid_request_error",
                "amount_too_small",
                "Amount must be at least $0.50 usd",
            );
        }
        let customer = f.get("customer").cloned();
        let pm = f.get("payment_method").cloned();
        if let Some(pm) = &pm {
            if self.adopt_demo_cards
                && pm.starts_with("pm_demo_")
                && !self.payment_methods.contains_key(pm)
            {
                let made = self.create_payment_method("4242424242424242", 12, 2030, "");
                if let Some(mut card) = self.payment_methods.remove(&made) {
                    card.json["id"] = json!(pm);
                    self.payment_methods.insert(pm.clone(), card);
                }
            }
            let Some(card) = self.payment_methods.get(pm) else {
                return no_such("PaymentMethod", pm);
            };
            if let Some(owner) = card.json["customer"].as_str() {
                if customer.as_deref() != Some(owner) {
                    return error(
                        400,
                        "invalid_request_error",
                        "",
                        "The provided PaymentMethod belongs to a Customer; pass that Customer's id in the `customer` parameter.",
                    );
                }
            }
        }
        let id = self.id("pi");
        let mut pi = json!({
            "id": id,
            "object": "payment_intent",
            "created": now(),
            "amount": amount,
            "amount_received": 0,
            "currency": currency,
            "customer": customer,
            "payment_method": pm,
            "metadata": metadata(f),
            "status": "requires_payment_method",
            "latest_charge": null,
            "last_payment_error": null,
            "livemode": false,
        });
        let confirm = f.get("confirm").map(String::as_str) == Some("true");
        let Some(pm) = pm.filter(|_| confirm) else {
            self.intents.push(pi.clone());
            return (StatusCode::OK, pi);
        };
        let decline = match self.payment_methods[&pm].behaviour.clone() {
            Behaviour::Approve => None,
            Behaviour::Declines(c, d, m) | Behaviour::ChargeDeclines(c, d, m) => Some((c, d, m)),
            Behaviour::NeedsAuthentication => Some((
                "authentication_required".to_owned(),
                "authentication_required".to_owned(),
                "Your card was declined. This transaction requires authentication.".to_owned(),
            )),
        };
        match decline {
            None => {
                let charge = self.id("ch");
                pi["status"] = json!("succeeded");
                pi["amount_received"] = json!(amount);
                pi["latest_charge"] = json!(charge);
                self.intents.push(pi.clone());
                (StatusCode::OK, pi)
            }
            Some((code, decline_code, message)) => {
                let charge = self.id("ch");
                let e = json!({
                    "type": "card_error",
                    "code": code,
                    "decline_code": decline_code,
                    "message": message,
                    "charge": charge,
                });
                pi["last_payment_error"] = e.clone();
                pi["latest_charge"] = json!(charge);
                self.intents.push(pi.clone());
                let mut e = e;
                e["payment_intent"] = pi;
                (StatusCode::PAYMENT_REQUIRED, json!({ "error": e }))
            }
        }
    }

    fn refund(&mut self, f: &Fields) -> Answer {
        let Some(pi_id) = f.get("payment_intent") else {
            return missing("payment_intent");
        };
        let Some(pi) = self.intents.iter().find(|pi| pi["id"] == json!(pi_id)) else {
            return no_such("payment_intent", pi_id);
        };
        if pi["status"] != "succeeded" {
            return error(
                400,
                "invalid_request_error",
                "charge_not_refundable",
                "This PaymentIntent does not have a successful charge to refund.",
            );
        }
        let received = pi["amount_received"].as_i64().unwrap_or(0);
        let currency = pi["currency"].clone();
        let refunded: i64 = self
            .refunds
            .iter()
            .filter(|r| r["payment_intent"] == json!(pi_id))
            .map(|r| r["amount"].as_i64().unwrap_or(0))
            .sum();
        let left = received - refunded;
        if left == 0 {
            return error(
                400,
                "invalid_request_error",
                "charge_already_refunded",
                &format!("Charge for PaymentIntent {pi_id} has already been refunded."),
            );
        }
        let amount = match f.get("amount").map(|a| a.parse::<i64>()) {
            None => left,
            Some(Ok(a)) if a > 0 && a <= left => a,
            Some(_) => {
                return error(
                    400,
                    "invalid_request_error",
                    "amount_too_large",
                    &format!(
                        "Refund amount ({}) is greater than unrefunded amount on charge ({left})",
                        f["amount"]
                    ),
                )
            }
        };
        let id = self.id("re");
        let r = json!({
            "id": id,
            "object": "refund",
            "created": now(),
            "amount": amount,
            "currency": currency,
            "payment_intent": pi_id,
            "metadata": metadata(f),
            "status": "succeeded",
        });
        self.refunds.push(r.clone());
        (StatusCode::OK, r)
    }
}

pub(crate) async fn handle(
    State(shared): State<Arc<Mutex<Shared>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> Response {
    let full = uri.path().to_owned();
    let path = full.trim_start_matches("/stripe").to_owned();
    // A GET's parameters come in the query string.
    let params = if method == Method::GET {
        uri.query().unwrap_or_default().to_owned()
    } else {
        body
    };
    with_faults(&shared, &full, move |s| {
        let (status, answer) = s.stripe.serve(method, &path, &headers, &params);
        (status, "application/json", answer.to_string())
    })
    .await
}
