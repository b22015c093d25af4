//! What every gateway call does, whichever gateway: send the request on a client with ClinicPay's
//! timeouts, time it, tell "never sent" from "sent but no answer" from an answer, write the processor
//! log entry (redacted), and settle the two transport failures the same way for every gateway: a call
//! that never left is a retryable failure, one whose answer was lost is unknown, and either one makes a
//! non-money call's gateway unavailable. What an answer means is each gateway's own `outcome` module.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use clinicpay_domain::Gateway;

use crate::{redact, ChargeOutcome, GatewayError, ProcessorLog, ProcessorLogEntry};

/// The HTTP client every gateway client sends on, one per timeout for the whole process. Building a
/// client reads and parses the OS's trust store (about 150 certificates, milliseconds of work), which
/// per gateway call was a third of a busy worker's time. Connections are not kept between calls: a
/// kept one the gateway closed meanwhile would fail a charge in a way that reads as "outcome unknown".
pub(crate) fn http_client(timeout: Duration) -> reqwest::Client {
    static CLIENTS: std::sync::OnceLock<std::sync::Mutex<HashMap<Duration, reqwest::Client>>> =
        std::sync::OnceLock::new();
    let mut clients = CLIENTS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    clients
        .entry(timeout)
        .or_insert_with(|| {
            reqwest::Client::builder()
                .timeout(timeout)
                .connect_timeout(Duration::from_secs(5))
                .pool_max_idle_per_host(0)
                .user_agent(concat!("ClinicPay/", env!("CARGO_PKG_VERSION")))
                // A redirect would carry NMI's security key (it is in the form body) to wherever the
                // answer points, over any scheme: the address IT set is the only one a request goes to.
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("the HTTP client builds with static settings")
        })
        .clone()
}

/// What came of one request, as a client reads it (`B`: the body in the gateway's format).
#[derive(Debug)]
pub(crate) enum Reply<B> {
    /// The request never reached the gateway (connection refused, DNS): certainly nothing happened.
    NotSent(String),
    /// It may have reached the gateway but no complete answer came back.
    NoAnswer(String),
    Answer {
        status: u16,
        body: B,
    },
}

/// What came back over HTTP, before the gateway's format is read.
pub(crate) enum Transport {
    NotSent(String),
    /// `timed_out` when our own timeout cut the request or its answer off.
    NoAnswer {
        message: String,
        timed_out: bool,
    },
    Answer {
        status: u16,
        body: String,
    },
}

/// How a body is redacted for the processor log.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Format {
    /// `key=value&…` (NMI's Payment API).
    Form,
    /// Free text or XML (NMI's Query API).
    Text,
    /// JSON (Stripe).
    Json,
}

impl Format {
    fn redact(self, body: &str) -> String {
        match self {
            Format::Form => redact::form(body),
            Format::Text => redact::text(body),
            Format::Json => redact::json(body),
        }
    }
}

/// An answer as the processor log shows it.
pub(crate) struct Logged {
    pub format: Format,
    /// The body as received (redacted before it is written).
    pub body: String,
    /// One line for the log's outcome column.
    pub summary: String,
}

/// A decline whose code means "the charge may exist" (NMI 420/421 processor communication errors and
/// 430 duplicate at the processor, Stripe's `duplicate_transaction`: `decline::advise`'s look-up class)
/// is not a decline: it is unknown until a look-up by our key settles it, and is never retried as a
/// soft decline.
pub(crate) fn look_up_when_advised(gateway: Gateway, outcome: ChargeOutcome) -> ChargeOutcome {
    match outcome {
        ChargeOutcome::Declined { code, message, .. }
            if clinicpay_domain::decline::advise(gateway, &code).action
                == clinicpay_domain::decline::DeclineAction::LookUp =>
        {
            ChargeOutcome::Unknown { message }
        }
        other => other,
    }
}

/// One call to a gateway, for its processor-log entry.
pub(crate) struct Call<'a> {
    pub log: &'a dyn ProcessorLog,
    pub gateway: Gateway,
    pub operation: &'a str,
    pub payment_key: Option<&'a str>,
    /// What the log shows ahead of the form body (Stripe: method, path and headers).
    pub preamble: Option<String>,
}

impl Call<'_> {
    /// Sends `request` (whose form-encoded fields are `form`), reads what came back with `read`, and
    /// records the call (request, answer and outcome redacted) before handing the reply back.
    pub async fn run<B>(
        &self,
        request: reqwest::RequestBuilder,
        form: &str,
        read: impl FnOnce(Transport) -> Reply<B>,
        logged: impl FnOnce(&B) -> Logged,
    ) -> Reply<B> {
        let started = Instant::now();
        let reply = read(send(request).await);
        let (http_status, response, outcome) = match &reply {
            Reply::NotSent(m) => (None, String::new(), format!("not sent: {m}")),
            Reply::NoAnswer(m) => (None, String::new(), format!("no answer: {m}")),
            Reply::Answer { status, body } => {
                let l = logged(body);
                (Some(*status), capped(l.format.redact(&l.body)), l.summary)
            }
        };
        let request = match &self.preamble {
            Some(p) => format!("{p} {}", redact::form(form)),
            None => redact::form(form),
        };
        self.log
            .record(ProcessorLogEntry {
                at: chrono::Utc::now(),
                gateway: self.gateway,
                operation: self.operation.into(),
                payment_key: self.payment_key.map(Into::into),
                http_status,
                duration_ms: started.elapsed().as_millis() as i64,
                outcome: redact::text(&outcome),
                request,
                response,
            })
            .await;
        reply
    }
}

/// The processor log keeps this much of an answer: a listing page (reconciliation) can be a megabyte of
/// patients' names; the log is for reading one call, not for keeping the gateway's records.
pub(crate) const LOGGED_ANSWER_BYTES: usize = 16 * 1024;

fn capped(mut text: String) -> String {
    if text.len() > LOGGED_ANSWER_BYTES {
        let mut cut = LOGGED_ANSWER_BYTES;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        let dropped = text.len() - cut;
        text.truncate(cut);
        text.push_str(&format!("\n… ({dropped} more bytes not kept)"));
    }
    text
}

async fn send(request: reqwest::RequestBuilder) -> Transport {
    let lost = |e: reqwest::Error| Transport::NoAnswer {
        timed_out: e.is_timeout(),
        message: e.to_string(),
    };
    match request.send().await {
        Err(e) if e.is_connect() => Transport::NotSent(e.to_string()),
        Err(e) => lost(e),
        Ok(resp) => {
            let status = resp.status().as_u16();
            match resp.text().await {
                Ok(body) => Transport::Answer { status, body },
                Err(e) => lost(e),
            }
        }
    }
}

impl<B> Reply<B> {
    /// The answer to a call that moves no money; a call that never left or lost its answer leaves the
    /// gateway unavailable.
    pub fn answer(self, gateway: Gateway) -> Result<(u16, B), GatewayError> {
        match self {
            Reply::NotSent(m) | Reply::NoAnswer(m) => Err(unavailable(gateway, m)),
            Reply::Answer { status, body } => Ok((status, body)),
        }
    }

    /// The answer to a charge or refund, or its outcome when there is none: never sent is a retryable
    /// failure; a lost answer (`what` names it in the message) is unknown.
    pub fn money_answer(self, gateway: Gateway, what: &str) -> Result<(u16, B), ChargeOutcome> {
        let name = gateway.display_name();
        match self {
            Reply::NotSent(m) => Err(ChargeOutcome::RetryableFailure {
                message: format!("{name} could not be reached ({m})"),
            }),
            Reply::NoAnswer(m) => Err(ChargeOutcome::Unknown {
                message: format!("{name}'s {what} was lost ({m})"),
            }),
            Reply::Answer { status, body } => Ok((status, body)),
        }
    }
}

pub(crate) fn unavailable(gateway: Gateway, message: impl Into<String>) -> GatewayError {
    GatewayError::Unavailable {
        gateway,
        message: message.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_that_never_left_is_retryable_and_a_lost_answer_unknown() {
        let never = Reply::<()>::NotSent("connection refused".into());
        assert_eq!(
            never.money_answer(Gateway::Nmi, "answer").unwrap_err(),
            ChargeOutcome::RetryableFailure {
                message: "NMI could not be reached (connection refused)".into()
            }
        );
        let lost = Reply::<()>::NoAnswer("reset".into());
        assert_eq!(
            lost.money_answer(Gateway::Stripe, "answer to the refund")
                .unwrap_err(),
            ChargeOutcome::Unknown {
                message: "Stripe's answer to the refund was lost (reset)".into()
            }
        );
        let answered = Reply::Answer {
            status: 503,
            body: "x",
        };
        assert_eq!(
            answered.money_answer(Gateway::Nmi, "answer").unwrap(),
            (503, "x")
        );
    }

    #[test]
    fn without_an_answer_a_gateway_is_unavailable_with_the_transport_error() {
        for reply in [
            Reply::<()>::NotSent("dns".into()),
            Reply::NoAnswer("dns".into()),
        ] {
            match reply.answer(Gateway::Stripe) {
                Err(GatewayError::Unavailable { gateway, message }) => {
                    assert_eq!((gateway, message.as_str()), (Gateway::Stripe, "dns"))
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn bodies_are_redacted_in_their_own_format() {
        assert_eq!(
            Format::Form.redact("security_key=abc&orderid=p-1"),
            "security_key=%5Bredacted%5D&orderid=p-1"
        );
        assert_eq!(
            Format::Text.redact("<cc_number>4111111111111111</cc_number>"),
            "<cc_number>[card ••1111]</cc_number>"
        );
        assert_eq!(
            Format::Json.redact(r#"{"client_secret":"seti_1_secret_x"}"#),
            r#"{"client_secret":"seti_1…"}"#
        );
    }
}
