//! NMI: the Payment API (`transact.php`: form fields in, `key=value` out, HTTP 200 even for declines)
//! and the Query API (`query.php`: XML out). Our payment key travels as `orderid`, so a charge whose reply
//! was lost is found by `order_id` before anything is ever charged again.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use clinicpay_domain::{CardBrand, Gateway, Money};
use quick_xml::events::Event;

use crate::{
    redact, CardHolder, ChargeOutcome, ChargeRequest, GatewayError, LookupOutcome, PaymentGateway,
    ProcessorLog, ProcessorLogEntry, SavedCard, Secret,
};

pub const LIVE_BASE: &str = "https://secure.nmi.com";

pub struct NmiClient {
    http: reqwest::Client,
    base: String,
    security_key: Secret,
    log: Arc<dyn ProcessorLog>,
}

/// A record the Query API returned: a `<transaction>` or a vault `<customer>`, flattened to its fields
/// (for a transaction, the fields of its last `<action>` win, prefixed `action_`).
type Record = HashMap<String, String>;

/// What came of sending one request.
enum Reply {
    /// The request never reached the gateway (connection refused, DNS): certainly nothing happened.
    NotSent(String),
    /// It may have reached the gateway but no complete answer came back.
    NoAnswer(String),
    Answer {
        status: u16,
        body: String,
    },
}

impl NmiClient {
    pub fn new(
        base: Option<&str>,
        security_key: Secret,
        log: Arc<dyn ProcessorLog>,
        timeout: Duration,
    ) -> NmiClient {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("ClinicPay/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the HTTP client builds with static settings");
        NmiClient {
            http,
            base: base.unwrap_or(LIVE_BASE).trim_end_matches('/').to_owned(),
            security_key,
            log,
        }
    }

    async fn post(
        &self,
        path: &str,
        operation: &str,
        payment_key: Option<&str>,
        fields: &[(&str, &str)],
    ) -> Reply {
        let mut all: Vec<(&str, &str)> = vec![("security_key", self.security_key.expose())];
        all.extend_from_slice(fields);
        let body = serde_urlencoded::to_string(&all).unwrap_or_default();
        let started = Instant::now();
        let result = self
            .http
            .post(format!("{}{path}", self.base))
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body.clone())
            .send()
            .await;
        let sent = match result {
            Err(e) if e.is_connect() => Reply::NotSent(e.to_string()),
            Err(e) => Reply::NoAnswer(e.to_string()),
            Ok(resp) => {
                let status = resp.status().as_u16();
                match resp.text().await {
                    Ok(body) => Reply::Answer { status, body },
                    Err(e) => Reply::NoAnswer(e.to_string()),
                }
            }
        };
        let (http_status, response, outcome) = match &sent {
            Reply::NotSent(m) => (None, String::new(), format!("not sent: {m}")),
            Reply::NoAnswer(m) => (None, String::new(), format!("no answer: {m}")),
            Reply::Answer { status, body } => (Some(*status), body.clone(), String::new()),
        };
        let outcome = if outcome.is_empty() {
            summarise(path, &response)
        } else {
            outcome
        };
        self.log
            .record(ProcessorLogEntry {
                at: chrono::Utc::now(),
                gateway: Gateway::Nmi,
                operation: operation.into(),
                payment_key: payment_key.map(Into::into),
                http_status,
                duration_ms: started.elapsed().as_millis() as i64,
                outcome: redact::text(&outcome),
                request: redact::form(&body),
                response: if path.ends_with("query.php") {
                    redact::text(&response)
                } else {
                    redact::form(&response)
                },
            })
            .await;
        sent
    }

    fn unavailable(&self, message: impl Into<String>) -> GatewayError {
        GatewayError::Unavailable {
            gateway: Gateway::Nmi,
            message: message.into(),
        }
    }

    /// A Payment API reply as fields, or why there is none.
    fn payment_reply(&self, sent: Reply) -> Result<HashMap<String, String>, GatewayError> {
        match sent {
            Reply::NotSent(m) | Reply::NoAnswer(m) => Err(self.unavailable(m)),
            Reply::Answer { status, body } => {
                let fields = parse_reply(&body);
                if status != 200 || !fields.contains_key("response") {
                    return Err(self.unavailable(format!(
                        "HTTP {status} with an answer that is not NMI's format"
                    )));
                }
                Ok(fields)
            }
        }
    }

    /// Turns a response=3 error into the right GatewayError.
    fn refusal(&self, f: &HashMap<String, String>) -> GatewayError {
        let message = f.get("responsetext").cloned().unwrap_or_default();
        if message
            .to_ascii_lowercase()
            .contains("authentication failed")
        {
            return GatewayError::Unauthorized {
                gateway: Gateway::Nmi,
                message,
            };
        }
        GatewayError::Rejected {
            gateway: Gateway::Nmi,
            code: f.get("response_code").cloned().unwrap_or_default(),
            message,
        }
    }

    async fn query(
        &self,
        operation: &str,
        payment_key: Option<&str>,
        fields: &[(&str, &str)],
    ) -> Result<Vec<Record>, GatewayError> {
        match self
            .post("/api/query.php", operation, payment_key, fields)
            .await
        {
            Reply::NotSent(m) | Reply::NoAnswer(m) => Err(self.unavailable(m)),
            Reply::Answer { status: 200, body } => {
                let (records, error) = parse_query(&body)
                    .map_err(|e| self.unavailable(format!("unreadable Query API answer ({e})")))?;
                match error {
                    Some(e) if e.to_ascii_lowercase().contains("authentication") => {
                        Err(GatewayError::Unauthorized {
                            gateway: Gateway::Nmi,
                            message: e,
                        })
                    }
                    Some(e) => Err(GatewayError::Rejected {
                        gateway: Gateway::Nmi,
                        code: String::new(),
                        message: e,
                    }),
                    None => Ok(records),
                }
            }
            Reply::Answer { status, .. } => {
                Err(self.unavailable(format!("HTTP {status} from the Query API")))
            }
        }
    }
}

/// One line for the processor log's outcome column.
fn summarise(path: &str, body: &str) -> String {
    if path.ends_with("query.php") {
        return format!(
            "{} records",
            body.matches("<transaction>").count() + body.matches("<customer ").count()
        );
    }
    let f = parse_reply(body);
    match f.get("response").map(String::as_str) {
        Some("1") => "approved".into(),
        Some("2") => format!(
            "declined {} {}",
            f.get("response_code").cloned().unwrap_or_default(),
            f.get("responsetext").cloned().unwrap_or_default()
        ),
        Some("3") => format!(
            "error {} {}",
            f.get("response_code").cloned().unwrap_or_default(),
            f.get("responsetext").cloned().unwrap_or_default()
        ),
        _ => "unreadable answer".into(),
    }
}

pub(crate) fn parse_reply(body: &str) -> HashMap<String, String> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(body.trim())
        .unwrap_or_default()
        .into_iter()
        .collect()
}

/// Reads `<nm_response>`: every `<transaction>` and vault `<customer>`, or its `<error_response>`.
pub(crate) fn parse_query(xml: &str) -> Result<(Vec<Record>, Option<String>), quick_xml::Error> {
    let mut reader = quick_xml::Reader::from_str(xml);
    reader.config_mut().trim_text(true);
    let mut records = Vec::new();
    let mut current: Option<Record> = None;
    let mut in_action = false;
    let mut path: Vec<String> = Vec::new();
    let mut error = None;
    let mut saw_root = false;
    loop {
        match reader.read_event()? {
            Event::Start(e) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                match name.as_str() {
                    "nm_response" => saw_root = true,
                    "transaction" | "customer" => current = Some(Record::new()),
                    "action" => in_action = true,
                    _ => {}
                }
                path.push(name);
            }
            Event::End(e) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                match name.as_str() {
                    "transaction" | "customer" => records.extend(current.take()),
                    "action" => in_action = false,
                    _ => {}
                }
                path.pop();
            }
            Event::Text(t) => {
                let text = t.xml_content().map(|c| c.into_owned()).unwrap_or_default();
                if let Some(field) = path.last() {
                    if field == "error_response" {
                        error = Some(text);
                    } else if let Some(rec) = current.as_mut() {
                        let key = if in_action {
                            format!("action_{field}")
                        } else {
                            field.clone()
                        };
                        rec.insert(key, text);
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !saw_root {
        return Err(quick_xml::Error::Io(std::sync::Arc::new(
            std::io::Error::other("no <nm_response>"),
        )));
    }
    Ok((records, error))
}

/// "12/30" style `cc_exp` (MMYY) to month and four-digit year.
fn expiry(mmyy: &str) -> Option<(u32, i32)> {
    let d: String = mmyy.chars().filter(char::is_ascii_digit).collect();
    if d.len() != 4 {
        return None;
    }
    Some((d[..2].parse().ok()?, 2000 + d[2..].parse::<i32>().ok()?))
}

fn saved_card(token: &str, r: &Record) -> Option<SavedCard> {
    let number = r.get("cc_number")?;
    let last4: String = number
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let (exp_month, exp_year) = expiry(r.get("cc_exp")?)?;
    Some(SavedCard {
        token: token.into(),
        brand: CardBrand::from_gateway_name(r.get("cc_type").map(String::as_str).unwrap_or("")),
        last4,
        exp_month,
        exp_year,
        customer: None,
        country: None,
        fingerprint: None,
    })
}

/// A transaction record as a charge outcome.
fn outcome_of(r: &Record) -> ChargeOutcome {
    let reference = r.get("transaction_id").cloned().unwrap_or_default();
    match r.get("condition").map(String::as_str) {
        Some("complete" | "pendingsettlement" | "pending") => {
            ChargeOutcome::Succeeded { reference }
        }
        Some("in_progress") => ChargeOutcome::Unknown {
            message: "NMI still shows the charge in progress".into(),
        },
        _ => ChargeOutcome::Declined {
            code: r.get("action_response_code").cloned().unwrap_or_default(),
            message: r.get("action_response_text").cloned().unwrap_or_default(),
            reference: Some(reference),
        },
    }
}

#[async_trait]
impl PaymentGateway for NmiClient {
    fn gateway(&self) -> Gateway {
        Gateway::Nmi
    }

    async fn save_card(
        &self,
        holder: &CardHolder,
        hosted_token: &str,
    ) -> Result<SavedCard, GatewayError> {
        let (first, last) = holder
            .name
            .split_once(' ')
            .unwrap_or((holder.name.as_str(), ""));
        let sent = self
            .post(
                "/api/transact.php",
                "vault.add_customer",
                None,
                &[
                    ("customer_vault", "add_customer"),
                    ("payment_token", hosted_token),
                    ("first_name", first),
                    ("last_name", last),
                    ("email", &holder.email),
                ],
            )
            .await;
        let f = self.payment_reply(sent)?;
        if f.get("response").map(String::as_str) != Some("1") {
            return Err(self.refusal(&f));
        }
        let id = f
            .get("customer_vault_id")
            .filter(|v| !v.is_empty())
            .ok_or_else(|| self.unavailable("NMI saved the card but sent no customer_vault_id"))?;
        self.card_details(id).await
    }

    async fn card_details(&self, card_token: &str) -> Result<SavedCard, GatewayError> {
        let records = self
            .query(
                "vault.report",
                None,
                &[
                    ("report_type", "customer_vault"),
                    ("customer_vault_id", card_token),
                ],
            )
            .await?;
        records
            .iter()
            .find_map(|r| saved_card(card_token, r))
            .ok_or_else(|| GatewayError::Rejected {
                gateway: Gateway::Nmi,
                code: String::new(),
                message: format!("NMI has no saved card {card_token}"),
            })
    }

    async fn charge(&self, req: &ChargeRequest) -> ChargeOutcome {
        let amount = req.amount.plain();
        let sent = self
            .post(
                "/api/transact.php",
                "sale",
                Some(&req.payment_key),
                &[
                    ("type", "sale"),
                    ("customer_vault_id", &req.card_token),
                    ("amount", &amount),
                    ("currency", req.amount.currency.code()),
                    ("orderid", &req.payment_key),
                ],
            )
            .await;
        match sent {
            Reply::NotSent(m) => ChargeOutcome::RetryableFailure {
                message: format!("NMI could not be reached ({m})"),
            },
            Reply::NoAnswer(m) => ChargeOutcome::Unknown {
                message: format!("NMI's answer was lost ({m})"),
            },
            Reply::Answer { status, body } => {
                let f = parse_reply(&body);
                let get = |k: &str| f.get(k).cloned().unwrap_or_default();
                match (status, f.get("response").map(String::as_str)) {
                    // Rate limited: refused before anything was done.
                    (429, _) => ChargeOutcome::RetryableFailure {
                        message: "NMI asked ClinicPay to slow down (HTTP 429)".into(),
                    },
                    (200, Some("1")) => ChargeOutcome::Succeeded {
                        reference: get("transactionid"),
                    },
                    (200, Some("2")) => ChargeOutcome::Declined {
                        code: get("response_code"),
                        message: get("responsetext"),
                        reference: Some(get("transactionid")).filter(|t| !t.is_empty()),
                    },
                    // response=3: the gateway refused the request before acting. 420/421 are communication
                    // errors with the processor and 430 a duplicate at the processor: the charge may exist.
                    (200, Some("3")) => match get("response_code").as_str() {
                        "420" | "421" | "430" => ChargeOutcome::Unknown {
                            message: get("responsetext"),
                        },
                        code => ChargeOutcome::Declined {
                            code: code.into(),
                            message: get("responsetext"),
                            reference: None,
                        },
                    },
                    // A 5xx or an unreadable body: the work may have been done.
                    _ => ChargeOutcome::Unknown {
                        message: format!("NMI answered HTTP {status} without a readable result"),
                    },
                }
            }
        }
    }

    async fn lookup(&self, request: &ChargeRequest) -> Result<LookupOutcome, GatewayError> {
        let payment_key = request.payment_key.as_str();
        let records = self
            .query(
                "query.order",
                Some(payment_key),
                &[("order_id", payment_key)],
            )
            .await?;
        let charges: Vec<&Record> = records
            .iter()
            .filter(|r| {
                matches!(
                    r.get("action_action_type").map(String::as_str),
                    Some("sale" | "auth" | "capture")
                )
            })
            .collect();
        // A success anywhere wins: a declined try and a later approved one under the same key mean "paid".
        if let Some(r) = charges
            .iter()
            .find(|r| matches!(outcome_of(r), ChargeOutcome::Succeeded { .. }))
        {
            return Ok(LookupOutcome::Found(outcome_of(r)));
        }
        Ok(charges.last().map_or(LookupOutcome::NotFound, |r| {
            LookupOutcome::Found(outcome_of(r))
        }))
    }

    async fn refund(
        &self,
        charge_reference: &str,
        amount: Option<Money>,
        refund_key: &str,
    ) -> ChargeOutcome {
        let amount_text = amount.map(|a| a.plain());
        let mut fields = vec![
            ("type", "refund"),
            ("transactionid", charge_reference),
            ("orderid", refund_key),
        ];
        if let Some(a) = &amount_text {
            fields.push(("amount", a));
        }
        match self
            .post("/api/transact.php", "refund", Some(refund_key), &fields)
            .await
        {
            Reply::NotSent(m) => ChargeOutcome::RetryableFailure {
                message: format!("NMI could not be reached ({m})"),
            },
            Reply::NoAnswer(m) => ChargeOutcome::Unknown {
                message: format!("NMI's answer was lost ({m})"),
            },
            Reply::Answer { status: 200, body } => {
                let f = parse_reply(&body);
                let get = |k: &str| f.get(k).cloned().unwrap_or_default();
                match f.get("response").map(String::as_str) {
                    Some("1") => ChargeOutcome::Succeeded {
                        reference: get("transactionid"),
                    },
                    Some("2" | "3") => ChargeOutcome::Declined {
                        code: get("response_code"),
                        message: get("responsetext"),
                        reference: None,
                    },
                    _ => ChargeOutcome::Unknown {
                        message: "NMI's refund answer was unreadable".into(),
                    },
                }
            }
            Reply::Answer { status, .. } => ChargeOutcome::Unknown {
                message: format!("NMI answered HTTP {status}"),
            },
        }
    }

    async fn lookup_refund(
        &self,
        _charge_reference: &str,
        refund_key: &str,
    ) -> Result<LookupOutcome, GatewayError> {
        let records = self
            .query(
                "query.refund",
                Some(refund_key),
                &[("order_id", refund_key)],
            )
            .await?;
        let refunds: Vec<&Record> = records
            .iter()
            .filter(|r| r.get("action_action_type").map(String::as_str) == Some("refund"))
            .collect();
        Ok(match refunds.last() {
            None => LookupOutcome::NotFound,
            Some(r) if r.get("action_success").map(String::as_str) == Some("1") => {
                LookupOutcome::Found(ChargeOutcome::Succeeded {
                    reference: r.get("transaction_id").cloned().unwrap_or_default(),
                })
            }
            Some(r) => LookupOutcome::Found(ChargeOutcome::Declined {
                code: r.get("action_response_code").cloned().unwrap_or_default(),
                message: r.get("action_response_text").cloned().unwrap_or_default(),
                reference: r.get("transaction_id").cloned(),
            }),
        })
    }

    async fn delete_card(&self, card_token: &str) -> Result<(), GatewayError> {
        let sent = self
            .post(
                "/api/transact.php",
                "vault.delete_customer",
                None,
                &[
                    ("customer_vault", "delete_customer"),
                    ("customer_vault_id", card_token),
                ],
            )
            .await;
        let f = self.payment_reply(sent)?;
        if f.get("response").map(String::as_str) == Some("1") {
            return Ok(());
        }
        let text = f.get("responsetext").cloned().unwrap_or_default();
        if text
            .to_ascii_lowercase()
            .contains("invalid customer vault id")
        {
            return Err(GatewayError::Rejected {
                gateway: Gateway::Nmi,
                code: crate::NOT_FOUND.into(),
                message: text,
            });
        }
        Err(self.refusal(&f))
    }

    async fn check(&self) -> Result<(), GatewayError> {
        // Looking up an order that cannot exist proves the key without touching any money.
        self.query(
            "check",
            None,
            &[("order_id", "clinicpay-credentials-check")],
        )
        .await
        .map(|_| ())
    }
}
