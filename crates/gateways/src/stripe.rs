//! Stripe: form-encoded requests, JSON replies, a pinned API version, and an `Idempotency-Key` on every
//! POST so a retried request (after a 429, a 5xx or a dropped connection) can never charge twice.
//! Cards are saved for off-session use through a SetupIntent (`usage=off_session`) on the patient's
//! Customer; charges are PaymentIntents confirmed off-session with our payment key in their metadata, so a
//! charge whose reply was lost is found by listing the customer's PaymentIntents, never by charging again.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use clinicpay_domain::{CardBrand, Gateway, Money};
use serde_json::Value;

use crate::{
    redact, CardHolder, ChargeOutcome, ChargeRequest, GatewayError, LookupOutcome, PaymentGateway,
    ProcessorLog, ProcessorLogEntry, SavedCard, Secret,
};

pub const LIVE_BASE: &str = "https://api.stripe.com";
/// The API version ClinicPay's requests and reply parsing are written against.
pub const API_VERSION: &str = "2024-06-20";
/// Where our payment key travels on a PaymentIntent.
pub const PAYMENT_KEY_METADATA: &str = "clinicpay_payment";

/// How often and how patiently a request is repeated after a 429, a 5xx or a dropped connection.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Tries in all, the first included.
    pub attempts: u32,
    /// The wait before the second try; it doubles each time.
    pub first_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 3,
            first_delay: Duration::from_millis(500),
        }
    }
}

pub struct StripeClient {
    http: reqwest::Client,
    base: String,
    secret_key: Secret,
    log: Arc<dyn ProcessorLog>,
    retry: RetryPolicy,
}

/// What came of one request, after any retries.
enum Reply {
    /// It never reached Stripe: certainly nothing happened.
    NotSent(String),
    /// It may have reached Stripe but no answer came back in time.
    NoAnswer(String),
    Answer {
        status: u16,
        body: Value,
    },
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Method {
    Get,
    Post,
}

/// Stripe's error object: `{"error": {"type", "code", "decline_code", "message", "payment_intent"}}`.
struct StripeError {
    kind: String,
    code: String,
    decline_code: String,
    message: String,
    payment_intent: Option<String>,
}

fn stripe_error(body: &Value) -> StripeError {
    let e = &body["error"];
    let s = |k: &str| e[k].as_str().unwrap_or_default().to_owned();
    StripeError {
        kind: s("type"),
        code: s("code"),
        decline_code: s("decline_code"),
        message: s("message"),
        payment_intent: id_of(&e["payment_intent"]),
    }
}

/// An expandable field: either the id itself or the object holding it.
fn id_of(v: &Value) -> Option<String> {
    v.as_str()
        .map(str::to_owned)
        .or_else(|| v["id"].as_str().map(str::to_owned))
}

impl StripeClient {
    pub fn new(
        base: Option<&str>,
        secret_key: Secret,
        log: Arc<dyn ProcessorLog>,
        timeout: Duration,
    ) -> StripeClient {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("ClinicPay/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the HTTP client builds with static settings");
        StripeClient {
            http,
            base: base.unwrap_or(LIVE_BASE).trim_end_matches('/').to_owned(),
            secret_key,
            log,
            retry: RetryPolicy::default(),
        }
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> StripeClient {
        self.retry = retry;
        self
    }

    /// Sends one request, repeating it with the same idempotency key while Stripe asks us to slow down
    /// (429), fails on its side (5xx), reports the same key still in flight (409), or the connection
    /// drops. A request that timed out is not repeated: the person waiting has waited long enough, and
    /// the look-up settles it.
    async fn call(
        &self,
        method: Method,
        path: &str,
        operation: &str,
        payment_key: Option<&str>,
        idempotency_key: Option<&str>,
        form: &[(&str, &str)],
    ) -> Reply {
        let body = serde_urlencoded::to_string(form).unwrap_or_default();
        let mut delay = self.retry.first_delay;
        let mut attempt = 1;
        // Whether an earlier try may have reached Stripe and done the work (its answer was lost, or
        // Stripe failed after acting): then a later "nothing happened" answer proves nothing.
        let mut may_have_acted: Option<String> = None;
        loop {
            let reply = self
                .send_once(method, path, operation, payment_key, idempotency_key, &body)
                .await;
            let again = match &reply {
                Reply::Answer { status, .. } => *status == 429 || *status == 409 || *status >= 500,
                Reply::NotSent(_) => true,
                Reply::NoAnswer(m) => !m.starts_with("timed out"),
            };
            let safe = method == Method::Get || idempotency_key.is_some();
            if !again || !safe || attempt >= self.retry.attempts {
                // After a try that may have acted, only a success is conclusive: a refused connection,
                // a rate limit or an error could hide work the earlier try did (a refund or charge
                // marked failed that in fact went through). The look-up by our key settles it.
                let conclusive =
                    matches!(&reply, Reply::Answer { status, .. } if (200..300).contains(status));
                return match may_have_acted {
                    Some(earlier) if !conclusive && method == Method::Post => {
                        Reply::NoAnswer(format!("an earlier try may have gone through ({earlier})"))
                    }
                    _ => reply,
                };
            }
            match &reply {
                Reply::NoAnswer(m) => may_have_acted = Some(m.clone()),
                Reply::Answer { status, .. } if *status >= 500 || *status == 409 => {
                    may_have_acted = Some(format!("HTTP {status}"))
                }
                _ => {}
            }
            tokio::time::sleep(delay).await;
            delay *= 2;
            attempt += 1;
        }
    }

    async fn send_once(
        &self,
        method: Method,
        path: &str,
        operation: &str,
        payment_key: Option<&str>,
        idempotency_key: Option<&str>,
        body: &str,
    ) -> Reply {
        let url = format!("{}{path}", self.base);
        let mut req = match method {
            Method::Get => self.http.get(if body.is_empty() {
                url
            } else {
                format!("{url}?{body}")
            }),
            Method::Post => self
                .http
                .post(url)
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .body(body.to_owned()),
        };
        req = req
            .bearer_auth(self.secret_key.expose())
            .header("Stripe-Version", API_VERSION);
        if let Some(key) = idempotency_key {
            req = req.header("Idempotency-Key", key);
        }
        let started = Instant::now();
        let sent = match req.send().await {
            Err(e) if e.is_connect() => Reply::NotSent(e.to_string()),
            Err(e) if e.is_timeout() => Reply::NoAnswer(format!("timed out ({e})")),
            Err(e) => Reply::NoAnswer(e.to_string()),
            Ok(resp) => {
                let status = resp.status().as_u16();
                match resp.text().await {
                    Err(e) if e.is_timeout() => Reply::NoAnswer(format!("timed out ({e})")),
                    Err(e) => Reply::NoAnswer(e.to_string()),
                    Ok(text) => match serde_json::from_str::<Value>(&text) {
                        Ok(body) => Reply::Answer { status, body },
                        // Not Stripe's JSON (a proxy's error page): as good as no answer.
                        Err(_) => Reply::NoAnswer(format!(
                            "HTTP {status} with an answer that is not Stripe's format"
                        )),
                    },
                }
            }
        };
        let (http_status, response, outcome) = match &sent {
            Reply::NotSent(m) => (None, String::new(), format!("not sent: {m}")),
            Reply::NoAnswer(m) => (None, String::new(), format!("no answer: {m}")),
            Reply::Answer { status, body } => (Some(*status), body.to_string(), summarise(body)),
        };
        let request = match idempotency_key {
            Some(k) => format!(
                "{} {path} Stripe-Version={API_VERSION} Idempotency-Key={k} {}",
                verb(method),
                redact::form(body)
            ),
            None => format!(
                "{} {path} Stripe-Version={API_VERSION} {}",
                verb(method),
                redact::form(body)
            ),
        };
        self.log
            .record(ProcessorLogEntry {
                at: chrono::Utc::now(),
                gateway: Gateway::Stripe,
                operation: operation.into(),
                payment_key: payment_key.map(Into::into),
                http_status,
                duration_ms: started.elapsed().as_millis() as i64,
                outcome: redact::text(&outcome),
                request,
                response: redact::json(&response),
            })
            .await;
        sent
    }

    fn unavailable(&self, message: impl Into<String>) -> GatewayError {
        GatewayError::Unavailable {
            gateway: Gateway::Stripe,
            message: message.into(),
        }
    }

    /// A reply that must be a success (2xx) object, or the GatewayError it amounts to.
    fn object(&self, sent: Reply) -> Result<Value, GatewayError> {
        match sent {
            Reply::NotSent(m) | Reply::NoAnswer(m) => Err(self.unavailable(m)),
            Reply::Answer { status, body } if (200..300).contains(&status) => Ok(body),
            Reply::Answer { status, body } => Err(self.refusal(status, &body)),
        }
    }

    fn refusal(&self, status: u16, body: &Value) -> GatewayError {
        let e = stripe_error(body);
        match status {
            401 | 403 => GatewayError::Unauthorized {
                gateway: Gateway::Stripe,
                message: e.message,
            },
            429 | 500.. => self.unavailable(format!("HTTP {status}: {}", e.message)),
            _ => GatewayError::Rejected {
                gateway: Gateway::Stripe,
                code: [e.decline_code, e.code, e.kind]
                    .into_iter()
                    .find(|c| !c.is_empty())
                    .unwrap_or_default(),
                message: e.message,
            },
        }
    }

    async fn create_customer(&self, holder: &CardHolder) -> Result<String, GatewayError> {
        let key = format!("clinicpay-customer-{}", holder.patient_ref);
        let sent = self
            .call(
                Method::Post,
                "/v1/customers",
                "customer.create",
                None,
                Some(&key),
                &[
                    ("name", &holder.name),
                    ("email", &holder.email),
                    ("metadata[clinicpay_patient]", &holder.patient_ref),
                ],
            )
            .await;
        let customer = self.object(sent)?;
        id_of(&customer).ok_or_else(|| self.unavailable("Stripe made a customer without an id"))
    }

    /// The PaymentMethod a hosted-field token stands for: `pm_…` as is, or the one a SetupIntent
    /// (`seti_…`) confirmed in the page holds.
    async fn payment_method_of(&self, hosted_token: &str) -> Result<String, GatewayError> {
        if !hosted_token.starts_with("seti_") {
            return Ok(hosted_token.to_owned());
        }
        let sent = self
            .call(
                Method::Get,
                &format!("/v1/setup_intents/{hosted_token}"),
                "setup_intent.retrieve",
                None,
                None,
                &[],
            )
            .await;
        let seti = self.object(sent)?;
        id_of(&seti["payment_method"]).ok_or_else(|| GatewayError::Rejected {
            gateway: Gateway::Stripe,
            code: "setup_intent_unconfirmed".into(),
            message: "The card form was not completed: no card is attached to it yet.".into(),
        })
    }

    async fn set_up_for_off_session(
        &self,
        customer: &str,
        payment_method: &str,
    ) -> Result<(), GatewayError> {
        let key = format!("clinicpay-setup-{customer}-{payment_method}");
        let sent = self
            .call(
                Method::Post,
                "/v1/setup_intents",
                "setup_intent.create",
                None,
                Some(&key),
                &[
                    ("customer", customer),
                    ("usage", "off_session"),
                    ("payment_method_types[]", "card"),
                ],
            )
            .await;
        let seti = self.object(sent)?;
        let id = id_of(&seti).ok_or_else(|| self.unavailable("SetupIntent without an id"))?;
        let sent = self
            .call(
                Method::Post,
                &format!("/v1/setup_intents/{id}/confirm"),
                "setup_intent.confirm",
                None,
                Some(&format!("{key}-confirm")),
                &[("payment_method", payment_method)],
            )
            .await;
        let seti = self.object(sent)?;
        match seti["status"].as_str() {
            Some("succeeded" | "processing") => Ok(()),
            Some("requires_action") => Err(GatewayError::Rejected {
                gateway: Gateway::Stripe,
                code: "authentication_required".into(),
                message: "The bank wants the patient to confirm this card; save it with the patient present.".into(),
            }),
            other => {
                let e = &seti["last_setup_error"];
                Err(GatewayError::Rejected {
                    gateway: Gateway::Stripe,
                    code: e["decline_code"]
                        .as_str()
                        .or(e["code"].as_str())
                        .unwrap_or("setup_failed")
                        .into(),
                    message: e["message"].as_str().map(str::to_owned).unwrap_or_else(|| {
                        format!("Stripe could not set the card up (status {other:?}).")
                    }),
                })
            }
        }
    }

    async fn retrieve_payment_method(&self, id: &str) -> Result<Value, GatewayError> {
        let sent = self
            .call(
                Method::Get,
                &format!("/v1/payment_methods/{id}"),
                "payment_method.retrieve",
                None,
                None,
                &[],
            )
            .await;
        self.object(sent)
    }

    fn card_of(&self, pm: &Value) -> Result<SavedCard, GatewayError> {
        let card = &pm["card"];
        let token = id_of(pm).unwrap_or_default();
        let (Some(last4), Some(exp_month), Some(exp_year)) = (
            card["last4"].as_str(),
            card["exp_month"].as_u64(),
            card["exp_year"].as_i64(),
        ) else {
            return Err(GatewayError::Rejected {
                gateway: Gateway::Stripe,
                code: "not_a_card".into(),
                message: format!("Stripe's payment method {token} is not a card."),
            });
        };
        Ok(SavedCard {
            token,
            brand: CardBrand::from_gateway_name(card["brand"].as_str().unwrap_or_default()),
            last4: last4.to_owned(),
            exp_month: exp_month as u32,
            exp_year: exp_year as i32,
            customer: id_of(&pm["customer"]),
            country: card["country"].as_str().map(str::to_owned),
            fingerprint: card["fingerprint"].as_str().map(str::to_owned),
        })
    }

    /// A PaymentIntent as a charge outcome.
    fn outcome_of(pi: &Value) -> ChargeOutcome {
        let reference = id_of(pi).unwrap_or_default();
        match pi["status"].as_str() {
            Some("succeeded") => ChargeOutcome::Succeeded { reference },
            Some("processing") => ChargeOutcome::Unknown {
                message: "Stripe is still processing the charge".into(),
            },
            Some("requires_action") => ChargeOutcome::Declined {
                code: "authentication_required".into(),
                message: "The bank wants the patient to authenticate this payment.".into(),
                reference: Some(reference),
            },
            _ => {
                let e = &pi["last_payment_error"];
                ChargeOutcome::Declined {
                    code: e["decline_code"]
                        .as_str()
                        .or(e["code"].as_str())
                        .unwrap_or("payment_failed")
                        .into(),
                    message: e["message"]
                        .as_str()
                        .unwrap_or("The charge did not go through.")
                        .into(),
                    reference: Some(reference),
                }
            }
        }
    }

    /// A charge or refund reply as an outcome.
    fn money_outcome(sent: Reply, what: &str) -> ChargeOutcome {
        match sent {
            Reply::NotSent(m) => ChargeOutcome::RetryableFailure {
                message: format!("Stripe could not be reached ({m})"),
            },
            Reply::NoAnswer(m) => ChargeOutcome::Unknown {
                message: format!("Stripe's answer to the {what} was lost ({m})"),
            },
            Reply::Answer { status, body } if (200..300).contains(&status) => {
                if what == "refund" {
                    refund_outcome(&body)
                } else {
                    Self::outcome_of(&body)
                }
            }
            Reply::Answer { status: 402, body } => {
                let e = stripe_error(&body);
                ChargeOutcome::Declined {
                    code: if e.decline_code.is_empty() {
                        e.code
                    } else {
                        e.decline_code
                    },
                    message: e.message,
                    reference: e.payment_intent,
                }
            }
            // Stripe refused before acting (rate limit that outlasted our retries): nothing happened.
            Reply::Answer { status: 429, .. } => ChargeOutcome::RetryableFailure {
                message: "Stripe asked ClinicPay to slow down; try again in a minute".into(),
            },
            // A 5xx, or a conflict on the idempotency key: the first try may have gone through.
            Reply::Answer { status, body } if status >= 500 || status == 409 => {
                ChargeOutcome::Unknown {
                    message: format!(
                        "Stripe answered HTTP {status}: {}",
                        stripe_error(&body).message
                    ),
                }
            }
            Reply::Answer { body, .. } => {
                let e = stripe_error(&body);
                if e.kind == "idempotency_error" {
                    // Our key was used before with other parameters: that earlier request is the one that counts.
                    return ChargeOutcome::Unknown { message: e.message };
                }
                ChargeOutcome::Declined {
                    code: [e.decline_code, e.code, e.kind]
                        .into_iter()
                        .find(|c| !c.is_empty())
                        .unwrap_or_default(),
                    message: e.message,
                    reference: e.payment_intent,
                }
            }
        }
    }
}

fn refund_outcome(refund: &Value) -> ChargeOutcome {
    let reference = id_of(refund).unwrap_or_default();
    match refund["status"].as_str() {
        Some("succeeded") => ChargeOutcome::Succeeded { reference },
        Some("pending" | "requires_action") => ChargeOutcome::Unknown {
            message: format!("Stripe has the refund {reference} pending"),
        },
        _ => ChargeOutcome::Declined {
            code: refund["failure_reason"]
                .as_str()
                .unwrap_or("refund_failed")
                .into(),
            message: "Stripe could not refund this payment.".into(),
            reference: Some(reference),
        },
    }
}

fn verb(m: Method) -> &'static str {
    match m {
        Method::Get => "GET",
        Method::Post => "POST",
    }
}

/// One line for the processor log's outcome column.
fn summarise(body: &Value) -> String {
    if body.get("error").is_some() {
        let e = stripe_error(body);
        return format!("error {} {} {}", e.code, e.decline_code, e.message)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
    }
    match (body["object"].as_str(), body["status"].as_str()) {
        (Some("list"), _) => format!("{} records", body["data"].as_array().map_or(0, Vec::len)),
        (Some(object), Some(status)) => format!("{object} {status}"),
        (Some(object), None) => object.to_owned(),
        _ => "answer".into(),
    }
}

fn amount_minor(amount: Money) -> String {
    amount.minor.to_string()
}

#[async_trait]
impl PaymentGateway for StripeClient {
    fn gateway(&self) -> Gateway {
        Gateway::Stripe
    }

    async fn save_card(
        &self,
        holder: &CardHolder,
        hosted_token: &str,
    ) -> Result<SavedCard, GatewayError> {
        let customer = match &holder.customer {
            Some(c) => c.clone(),
            None => self.create_customer(holder).await?,
        };
        let payment_method = self.payment_method_of(hosted_token).await?;
        let pm = self.retrieve_payment_method(&payment_method).await?;
        match id_of(&pm["customer"]) {
            Some(owner) if owner != customer => {
                return Err(GatewayError::Rejected {
                    gateway: Gateway::Stripe,
                    code: "payment_method_of_another_customer".into(),
                    message: "This card is saved for another Stripe customer; enter it again for this patient.".into(),
                })
            }
            Some(_) => {}
            None => self.set_up_for_off_session(&customer, &payment_method).await?,
        }
        // Stripe attaches on confirm; some Stripe-compatible servers leave that to an explicit attach.
        let mut pm = self.retrieve_payment_method(&payment_method).await?;
        if id_of(&pm["customer"]).is_none() {
            let sent = self
                .call(
                    Method::Post,
                    &format!("/v1/payment_methods/{payment_method}/attach"),
                    "payment_method.attach",
                    None,
                    Some(&format!("clinicpay-attach-{customer}-{payment_method}")),
                    &[("customer", &customer)],
                )
                .await;
            pm = self.object(sent)?;
        }
        let mut card = self.card_of(&pm)?;
        card.customer = Some(customer);
        Ok(card)
    }

    async fn card_details(&self, card_token: &str) -> Result<SavedCard, GatewayError> {
        let pm = self.retrieve_payment_method(card_token).await?;
        self.card_of(&pm)
    }

    async fn charge(&self, req: &ChargeRequest) -> ChargeOutcome {
        let amount = amount_minor(req.amount);
        let currency = req.amount.currency.code().to_ascii_lowercase();
        let meta = format!("metadata[{PAYMENT_KEY_METADATA}]");
        let mut form: Vec<(&str, &str)> = vec![
            ("amount", &amount),
            ("currency", &currency),
            ("payment_method", &req.card_token),
            ("off_session", "true"),
            ("confirm", "true"),
            ("payment_method_types[]", "card"),
            (&meta, &req.payment_key),
        ];
        if let Some(c) = &req.customer {
            form.push(("customer", c));
        }
        let sent = self
            .call(
                Method::Post,
                "/v1/payment_intents",
                "payment_intent.create",
                Some(&req.payment_key),
                Some(&req.payment_key),
                &form,
            )
            .await;
        Self::money_outcome(sent, "charge")
    }

    async fn lookup(&self, req: &ChargeRequest) -> Result<LookupOutcome, GatewayError> {
        let Some(customer) = &req.customer else {
            return Err(GatewayError::Rejected {
                gateway: Gateway::Stripe,
                code: "no_customer".into(),
                message:
                    "A Stripe charge can only be looked up through the patient's Stripe customer."
                        .into(),
            });
        };
        // Listing is read-after-write consistent (Stripe's search is not), and a clinic patient has few
        // PaymentIntents; 100 newest is far more than the retries of one payment.
        let sent = self
            .call(
                Method::Get,
                "/v1/payment_intents",
                "payment_intent.list",
                Some(&req.payment_key),
                None,
                &[("customer", customer), ("limit", "100")],
            )
            .await;
        let list = self.object(sent)?;
        let ours: Vec<&Value> = list["data"]
            .as_array()
            .map(|d| {
                d.iter()
                    .filter(|pi| {
                        pi["metadata"][PAYMENT_KEY_METADATA].as_str() == Some(&req.payment_key)
                    })
                    .collect()
            })
            .unwrap_or_default();
        let outcomes: Vec<ChargeOutcome> = ours.iter().map(|pi| Self::outcome_of(pi)).collect();
        if let Some(ok) = outcomes
            .iter()
            .find(|o| matches!(o, ChargeOutcome::Succeeded { .. }))
        {
            return Ok(LookupOutcome::Found(ok.clone()));
        }
        Ok(outcomes
            .into_iter()
            .next()
            .map_or(LookupOutcome::NotFound, LookupOutcome::Found))
    }

    async fn refund(
        &self,
        charge_reference: &str,
        amount: Option<Money>,
        refund_key: &str,
    ) -> ChargeOutcome {
        let amount_text = amount.map(amount_minor);
        let meta = format!("metadata[{PAYMENT_KEY_METADATA}]");
        let mut form = vec![("payment_intent", charge_reference), (&meta, refund_key)];
        if let Some(a) = &amount_text {
            form.push(("amount", a));
        }
        let sent = self
            .call(
                Method::Post,
                "/v1/refunds",
                "refund.create",
                Some(refund_key),
                Some(refund_key),
                &form,
            )
            .await;
        Self::money_outcome(sent, "refund")
    }

    async fn lookup_refund(
        &self,
        charge_reference: &str,
        refund_key: &str,
    ) -> Result<LookupOutcome, GatewayError> {
        let sent = self
            .call(
                Method::Get,
                "/v1/refunds",
                "refund.list",
                Some(refund_key),
                None,
                &[("payment_intent", charge_reference), ("limit", "100")],
            )
            .await;
        let list = self.object(sent)?;
        Ok(list["data"]
            .as_array()
            .and_then(|d| {
                d.iter()
                    .find(|r| r["metadata"][PAYMENT_KEY_METADATA].as_str() == Some(refund_key))
            })
            .map_or(LookupOutcome::NotFound, |r| {
                LookupOutcome::Found(refund_outcome(r))
            }))
    }

    async fn delete_card(&self, card_token: &str) -> Result<(), GatewayError> {
        let sent = self
            .call(
                Method::Post,
                &format!("/v1/payment_methods/{card_token}/detach"),
                "payment_method.detach",
                None,
                Some(&format!("clinicpay-detach-{card_token}")),
                &[],
            )
            .await;
        match self.object(sent) {
            Ok(_) => Ok(()),
            // Already detached (by an earlier try whose answer was lost): the card is gone, as asked.
            Err(GatewayError::Rejected { message, .. }) if message.contains("not attached") => {
                Ok(())
            }
            Err(GatewayError::Rejected { code, message, .. }) if code == "resource_missing" => {
                Err(GatewayError::Rejected {
                    gateway: Gateway::Stripe,
                    code: crate::NOT_FOUND.into(),
                    message,
                })
            }
            Err(e) => Err(e),
        }
    }

    async fn check(&self) -> Result<(), GatewayError> {
        let sent = self
            .call(
                Method::Get,
                "/v1/customers",
                "check",
                None,
                None,
                &[("limit", "1")],
            )
            .await;
        self.object(sent).map(|_| ())
    }
}
