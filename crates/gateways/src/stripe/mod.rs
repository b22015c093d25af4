//! Stripe: form-encoded requests, JSON replies, a pinned API version, and an `Idempotency-Key` on every
//! POST so a retried request (after a 429, a 5xx or a dropped connection) can never charge twice.
//! Cards are saved for off-session use through a SetupIntent (`usage=off_session`) on the patient's
//! Customer; charges are PaymentIntents confirmed off-session with our payment key in their metadata, so a
//! charge whose reply was lost is found by listing the customer's PaymentIntents, never by charging again.
//!
//! `wire` holds the Stripe objects we read, `outcome` what they mean; this client sends, retries and
//! records.
//! Long because of the retry loop and one method per PaymentGateway call (formats: wire.rs, meanings: outcome.rs).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use clinicpay_domain::{Gateway, Money};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::call::{self, Call, Format, Logged, Reply, Transport};
use crate::{
    CardHolder, ChargeOutcome, ChargeRequest, GatewayError, GatewayTransaction, HostedSetup,
    HostedSetupRequest, HostedSetupStatus, LookupOutcome, PaymentGateway, ProcessorLog, SavedCard,
    Secret,
};

mod outcome;
mod wire;

use wire::{CheckoutSession, Customer, List, PaymentIntent, PaymentMethod, Refund, SetupIntent};

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

#[derive(Clone, Copy, PartialEq, Eq)]
enum Method {
    Get,
    Post,
}

impl Method {
    fn verb(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

impl StripeClient {
    pub fn new(
        base: Option<&str>,
        secret_key: Secret,
        log: Arc<dyn ProcessorLog>,
        timeout: Duration,
    ) -> StripeClient {
        StripeClient {
            http: call::http_client(timeout),
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
    ) -> Reply<Value> {
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
    ) -> Reply<Value> {
        let url = format!("{}{path}", self.base);
        let mut request = match method {
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
        request = request
            .bearer_auth(self.secret_key.expose())
            .header("Stripe-Version", API_VERSION);
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        let verb = method.verb();
        let preamble = match idempotency_key {
            Some(k) => format!("{verb} {path} Stripe-Version={API_VERSION} Idempotency-Key={k}"),
            None => format!("{verb} {path} Stripe-Version={API_VERSION}"),
        };
        let call = Call {
            log: self.log.as_ref(),
            gateway: Gateway::Stripe,
            operation,
            payment_key,
            preamble: Some(preamble),
        };
        call.run(request, body, read, |body| Logged {
            format: Format::Json,
            body: body.to_string(),
            summary: outcome::summarise(body),
        })
        .await
    }

    /// A GET whose reply must be a success object.
    async fn get<T: DeserializeOwned + Default>(
        &self,
        path: &str,
        operation: &str,
        payment_key: Option<&str>,
        query: &[(&str, &str)],
    ) -> Result<T, GatewayError> {
        outcome::object(
            self.call(Method::Get, path, operation, payment_key, None, query)
                .await,
        )
    }

    /// A POST (with its idempotency key) whose reply must be a success object.
    async fn post<T: DeserializeOwned + Default>(
        &self,
        path: &str,
        operation: &str,
        idempotency_key: &str,
        form: &[(&str, &str)],
    ) -> Result<T, GatewayError> {
        outcome::object(
            self.call(
                Method::Post,
                path,
                operation,
                None,
                Some(idempotency_key),
                form,
            )
            .await,
        )
    }

    async fn create_customer(&self, holder: &CardHolder) -> Result<String, GatewayError> {
        let key = format!("clinicpay-customer-{}", holder.patient_ref);
        let customer: Customer = self
            .post(
                "/v1/customers",
                "customer.create",
                &key,
                &[
                    ("name", &holder.name),
                    ("email", &holder.email),
                    ("metadata[clinicpay_patient]", &holder.patient_ref),
                ],
            )
            .await?;
        customer.id.ok_or_else(|| {
            call::unavailable(Gateway::Stripe, "Stripe made a customer without an id")
        })
    }

    /// The PaymentMethod a hosted-field token stands for: `pm_…` as is, or the one a SetupIntent
    /// (`seti_…`) confirmed in the page holds.
    async fn payment_method_of(&self, hosted_token: &str) -> Result<String, GatewayError> {
        if !hosted_token.starts_with("seti_") {
            return Ok(hosted_token.to_owned());
        }
        let seti: SetupIntent = self
            .get(
                &format!("/v1/setup_intents/{hosted_token}"),
                "setup_intent.retrieve",
                None,
                &[],
            )
            .await?;
        outcome::setup_payment_method(&seti)
    }

    async fn set_up_for_off_session(
        &self,
        customer: &str,
        payment_method: &str,
    ) -> Result<(), GatewayError> {
        let key = format!("clinicpay-setup-{customer}-{payment_method}");
        self.confirm_off_session_setup(Some(customer), payment_method, &key, "")
            .await
            .map(|_| ())
    }

    /// Creates an off-session SetupIntent (for `customer` when given) and confirms it with
    /// `payment_method` under idempotency key `key`: Stripe's check that the card can be charged later.
    /// Answers the SetupIntent's id. `note` marks the processor-log operations (" (verify)").
    async fn confirm_off_session_setup(
        &self,
        customer: Option<&str>,
        payment_method: &str,
        key: &str,
        note: &str,
    ) -> Result<String, GatewayError> {
        let mut create = vec![("usage", "off_session"), ("payment_method_types[]", "card")];
        if let Some(c) = customer {
            create.insert(0, ("customer", c));
        }
        let seti: SetupIntent = self
            .post(
                "/v1/setup_intents",
                &format!("setup_intent.create{note}"),
                key,
                &create,
            )
            .await?;
        let id = seti
            .id
            .ok_or_else(|| call::unavailable(Gateway::Stripe, "SetupIntent without an id"))?;
        let seti: SetupIntent = self
            .post(
                &format!("/v1/setup_intents/{id}/confirm"),
                &format!("setup_intent.confirm{note}"),
                &format!("{key}-confirm"),
                &[("payment_method", payment_method)],
            )
            .await?;
        outcome::set_up(&seti).map(|()| id)
    }

    /// A completed Checkout Session's card: the PaymentMethod its SetupIntent holds.
    async fn with_card(&self, mut setup: HostedSetup) -> Result<HostedSetup, GatewayError> {
        if let Some(seti) = setup.card_token.take() {
            setup.card_token = Some(self.payment_method_of(&seti).await?);
        }
        Ok(setup)
    }

    async fn retrieve_payment_method(&self, id: &str) -> Result<PaymentMethod, GatewayError> {
        self.get(
            &format!("/v1/payment_methods/{id}"),
            "payment_method.retrieve",
            None,
            &[],
        )
        .await
    }
}

/// Stripe's answer is its JSON; anything else (a proxy's error page) is as good as no answer.
fn read(sent: Transport) -> Reply<Value> {
    match sent {
        Transport::NotSent(m) => Reply::NotSent(m),
        Transport::NoAnswer {
            message,
            timed_out: true,
        } => Reply::NoAnswer(format!("timed out ({message})")),
        Transport::NoAnswer { message, .. } => Reply::NoAnswer(message),
        Transport::Answer { status, body } => match serde_json::from_str::<Value>(&body) {
            Ok(body) => Reply::Answer { status, body },
            Err(_) => Reply::NoAnswer(format!(
                "HTTP {status} with an answer that is not Stripe's format"
            )),
        },
    }
}

impl StripeClient {
    /// Creates and confirms an off-session PaymentIntent for the request, under its payment key as the
    /// Idempotency-Key: the same call, with the same parameters, for a charge and for its replay.
    async fn create_payment_intent(&self, req: &ChargeRequest) -> Reply<serde_json::Value> {
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
        self.call(
            Method::Post,
            "/v1/payment_intents",
            "payment_intent.create",
            Some(&req.payment_key),
            Some(&req.payment_key),
            &form,
        )
        .await
    }
}

/// A Checkout Session in ClinicPay's terms; a session without an id or a known status is no answer.
fn read_session(s: CheckoutSession) -> Result<HostedSetup, GatewayError> {
    let status = match s.status.as_deref() {
        Some("open") => HostedSetupStatus::Open,
        Some("complete") => HostedSetupStatus::Complete,
        Some("expired") => HostedSetupStatus::Expired,
        other => {
            return Err(call::unavailable(
                Gateway::Stripe,
                format!("a Checkout Session in a state ClinicPay does not know ({other:?})"),
            ))
        }
    };
    let session =
        s.id.ok_or_else(|| call::unavailable(Gateway::Stripe, "a Checkout Session without an id"))?;
    let expires_at = s
        .expires_at
        .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
        .ok_or_else(|| {
            call::unavailable(Gateway::Stripe, "a Checkout Session without its expiry")
        })?;
    Ok(HostedSetup {
        session,
        url: s.url.filter(|_| status == HostedSetupStatus::Open),
        status,
        customer: s.customer,
        expires_at,
        card_token: s
            .setup_intent
            .filter(|_| status == HostedSetupStatus::Complete),
    })
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
        match pm.customer {
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
        if pm.customer.is_none() {
            pm = self
                .post(
                    &format!("/v1/payment_methods/{payment_method}/attach"),
                    "payment_method.attach",
                    &format!("clinicpay-attach-{customer}-{payment_method}"),
                    &[("customer", &customer)],
                )
                .await?;
        }
        let mut card = outcome::card(&pm)?;
        card.customer = Some(customer);
        Ok(card)
    }

    async fn card_details(&self, card_token: &str) -> Result<SavedCard, GatewayError> {
        outcome::card(&self.retrieve_payment_method(card_token).await?)
    }

    async fn charge(&self, req: &ChargeRequest) -> ChargeOutcome {
        outcome::charge_reply(self.create_payment_intent(req).await)
    }

    async fn replay_charge(
        &self,
        req: &ChargeRequest,
    ) -> Option<Result<LookupOutcome, GatewayError>> {
        let reply = self.create_payment_intent(req).await;
        // Only a card error (402) or a PaymentIntent is Stripe's word on this charge; anything else
        // (a changed key, a conflict, a refusal of the request itself) settles nothing.
        let card_error = matches!(reply, Reply::Answer { status: 402, .. });
        Some(match outcome::charge_reply(reply) {
            o @ ChargeOutcome::Succeeded { .. } => Ok(LookupOutcome::Found(o)),
            o @ ChargeOutcome::Declined { .. } if card_error => Ok(LookupOutcome::Found(o)),
            other => Err(GatewayError::Unavailable {
                gateway: Gateway::Stripe,
                message: format!("asking again with the same key settled nothing ({other:?})"),
            }),
        })
    }

    async fn transactions(
        &self,
        from: chrono::DateTime<chrono::Utc>,
        to: chrono::DateTime<chrono::Utc>,
        pages: &crate::TransactionPages,
    ) -> Result<(), GatewayError> {
        let (gte, lt) = (from.timestamp().to_string(), to.timestamp().to_string());
        // Stripe lists newest first, 100 at a time; `starting_after` the last one reads on.
        for (path, operation) in [
            ("/v1/payment_intents", "payment_intent.list"),
            ("/v1/refunds", "refund.list"),
        ] {
            let mut after: Option<String> = None;
            loop {
                let mut query = vec![
                    ("created[gte]", gte.as_str()),
                    ("created[lt]", lt.as_str()),
                    ("limit", "100"),
                ];
                if let Some(a) = &after {
                    query.push(("starting_after", a));
                }
                let page: List<Value> = self.get(path, operation, None, &query).await?;
                let items = page.items();
                after = items
                    .last()
                    .and_then(|v| v["id"].as_str())
                    .map(str::to_owned);
                let listed: Vec<GatewayTransaction> = items
                    .iter()
                    .filter_map(|v| {
                        if path == "/v1/refunds" {
                            outcome::refund_transaction(&wire::read(v))
                        } else {
                            outcome::intent_transaction(&wire::read(v))
                        }
                    })
                    .collect();
                if !listed.is_empty() && pages.send(listed).await.is_err() {
                    return Ok(());
                }
                if page.has_more != Some(true) || after.is_none() {
                    break;
                }
            }
        }
        Ok(())
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
        let list: List<PaymentIntent> = self
            .get(
                "/v1/payment_intents",
                "payment_intent.list",
                Some(&req.payment_key),
                &[("customer", customer), ("limit", "100")],
            )
            .await?;
        Ok(outcome::charge_lookup(&list, &req.payment_key))
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
        let reply = self
            .call(
                Method::Post,
                "/v1/refunds",
                "refund.create",
                Some(refund_key),
                Some(refund_key),
                &form,
            )
            .await;
        outcome::refund_reply(reply)
    }

    async fn lookup_refund(
        &self,
        charge_reference: &str,
        refund_key: &str,
    ) -> Result<LookupOutcome, GatewayError> {
        let list: List<Refund> = self
            .get(
                "/v1/refunds",
                "refund.list",
                Some(refund_key),
                &[("payment_intent", charge_reference), ("limit", "100")],
            )
            .await?;
        Ok(outcome::refund_lookup(&list, refund_key))
    }

    async fn delete_card(&self, card_token: &str) -> Result<(), GatewayError> {
        let reply = self
            .call(
                Method::Post,
                &format!("/v1/payment_methods/{card_token}/detach"),
                "payment_method.detach",
                None,
                Some(&format!("clinicpay-detach-{card_token}")),
                &[],
            )
            .await;
        outcome::detached(reply)
    }

    async fn verify_card(
        &self,
        card_token: &str,
        customer: Option<&str>,
        key: &str,
    ) -> crate::VerifyOutcome {
        // Stripe verifies a card for later use with a SetupIntent confirmed off-session (its bank
        // check, often a zero-amount authorization): nothing is charged.
        let idempotency = format!("clinicpay-verify-{key}");
        let checked =
            self.confirm_off_session_setup(customer, card_token, &idempotency, " (verify)");
        match checked.await {
            Ok(id) => crate::VerifyOutcome::Verified {
                reference: Some(id),
            },
            Err(GatewayError::Rejected { code, message, .. }) => {
                crate::VerifyOutcome::Refused { code, message }
            }
            Err(e) => crate::VerifyOutcome::Unknown {
                message: e.to_string(),
            },
        }
    }

    async fn begin_hosted_setup(
        &self,
        req: &HostedSetupRequest,
    ) -> Result<HostedSetup, GatewayError> {
        let customer = match &req.holder.customer {
            Some(c) => c.clone(),
            None => self.create_customer(&req.holder).await?,
        };
        let expires_at = req.expires_at.map(|t| t.timestamp().to_string());
        let mut form = vec![
            ("mode", "setup"),
            ("customer", customer.as_str()),
            // Cards only: ClinicPay charges saved cards, nothing else.
            ("payment_method_types[]", "card"),
            ("success_url", req.success_url.as_str()),
            ("client_reference_id", req.reference.as_str()),
            (
                "setup_intent_data[metadata][clinicpay_patient]",
                req.holder.patient_ref.as_str(),
            ),
        ];
        if let Some(back) = &req.cancel_url {
            form.push(("cancel_url", back));
        }
        if let Some(t) = &expires_at {
            form.push(("expires_at", t));
        }
        let session: CheckoutSession = self
            .post(
                "/v1/checkout/sessions",
                "checkout.session.create",
                &format!("clinicpay-setup-page-{}", req.reference),
                &form,
            )
            .await?;
        let mut setup = self.with_card(read_session(session)?).await?;
        setup.customer.get_or_insert(customer);
        Ok(setup)
    }

    async fn hosted_setup(&self, session: &str) -> Result<HostedSetup, GatewayError> {
        let session: CheckoutSession = self
            .get(
                &format!("/v1/checkout/sessions/{session}"),
                "checkout.session.retrieve",
                None,
                &[],
            )
            .await?;
        self.with_card(read_session(session)?).await
    }

    async fn end_hosted_setup(&self, session: &str) -> Result<HostedSetup, GatewayError> {
        let ended: Result<CheckoutSession, _> = self
            .post(
                &format!("/v1/checkout/sessions/{session}/expire"),
                "checkout.session.expire",
                // A key of its own each time: expiring is idempotent at Stripe already, and a key
                // whose first try met a 5xx would answer that 5xx for a day.
                &format!(
                    "clinicpay-end-setup-page-{session}-{}",
                    chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
                ),
                &[],
            )
            .await;
        match ended {
            Ok(s) => self.with_card(read_session(s)?).await,
            // Only an open session can be expired: one that completed or expired already is
            // answered as it stands.
            Err(refused @ GatewayError::Rejected { .. }) => {
                match self.hosted_setup(session).await {
                    Ok(now) if now.status != HostedSetupStatus::Open => Ok(now),
                    _ => Err(refused),
                }
            }
            Err(other) => Err(other),
        }
    }

    async fn check(&self) -> Result<(), GatewayError> {
        self.get::<Value>("/v1/customers", "check", None, &[("limit", "1")])
            .await
            .map(|_| ())
    }
}
