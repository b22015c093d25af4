//! ClinicPay's gateway simulator. NMI has no public fake, so this one follows NMI's documented formats
//! field by field: the Payment API (`/api/transact.php`, form in, `key=value` out), the Query API
//! (`/api/query.php`, XML out), a customer vault, a transaction ledger, test-mode behaviours, and a
//! Collect.js stand-in whose card fields (frames on the simulator's origin) turn typed test card numbers
//! into single-use payment tokens; `/js.stripe.com/v3/` is the same for Stripe.js's card Element.
//!
//! Under `/stripe` it also serves the subset of Stripe's API ClinicPay uses (customers, setup intents,
//! payment methods, payment intents, refunds) as Stripe documents it, including what localstripe lacks:
//! `Idempotency-Key` replay, `decline_code`s, 429s and lost replies.
//!
//! Tests put it under faults per request: latency, an HTTP status (5xx, 429), a reply lost *after* the
//! charge was recorded, a dropped connection, a malformed body.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::Router;

pub mod cards;
mod checkout;
mod collect;
mod hosted;
mod nmi;
mod stripe;

pub use nmi::{NmiState, Transaction};
pub use stripe::StripeState;

/// Something to go wrong with the next matching requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer after this long.
    Latency(Duration),
    /// Answer with this HTTP status and a short body, without doing the work.
    Status(u16),
    /// Do the work (a charge is recorded), then never answer: the client times out.
    HangAfterCommit,
    /// Do the work, then close the connection without an answer.
    DropAfterCommit,
    /// Close the connection before doing anything.
    DropBeforeCommit,
    /// Do the work, then answer with a body that is not NMI's format.
    MalformedBody,
}

#[derive(Debug, Clone)]
struct FaultRule {
    path: String,
    remaining: usize,
    fault: Fault,
}

#[derive(Default)]
pub(crate) struct Shared {
    pub nmi: NmiState,
    pub stripe: StripeState,
    faults: Vec<FaultRule>,
    pub requests: usize,
    state_file: Option<PathBuf>,
    /// Requests per second the gateway accepts before answering 429, like a real gateway's rate limit.
    rate: Option<RateLimit>,
    pub(crate) rate_limited: usize,
    /// What the hosted-field frames sent, by session, until the token is made (never persisted).
    pub(crate) hosted: std::collections::HashMap<String, hosted::Typed>,
    /// Changed since the state file was last written.
    dirty: bool,
    /// Wakes the state file's writer (set when there is a state file).
    persist_soon: Option<Arc<tokio::sync::Notify>>,
    /// How many times the state file was written.
    state_writes: usize,
}

/// How long the state file's writer gathers changes before it writes them all at once. Writing the
/// whole state after every request cost time in proportion to its size, so a training clinic's sweep
/// of thousands of orders spent its desk's processor on the file, and the window stuttered.
const PERSIST_AFTER: Duration = Duration::from_millis(250);

/// Serialises the state file's writers: the one that takes its snapshot later also writes later.
#[derive(Default)]
struct StateFile {
    writing: Mutex<()>,
}

/// A token bucket refilled at `per_second`, holding at most one second's worth.
#[derive(Debug, Clone)]
struct RateLimit {
    per_second: f64,
    tokens: f64,
    last: std::time::Instant,
}

impl RateLimit {
    fn allow(&mut self) -> bool {
        let now = std::time::Instant::now();
        let refill = now.duration_since(self.last).as_secs_f64() * self.per_second;
        self.tokens = (self.tokens + refill).min(self.per_second.max(1.0));
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// What `--state FILE` keeps between runs: the vault, the ledger and the Stripe objects.
#[derive(serde::Serialize, serde::Deserialize)]
struct SavedState {
    nmi: NmiState,
    stripe: StripeState,
}

/// Writes `path` readable by its owner only (0600 on Unix): the simulator's vault is a gateway's.
fn write_owner_only(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let _ = std::fs::remove_file(path);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(bytes)
}

impl Shared {
    /// Marks the gateways' state for the state file, if there is one: its writer writes it within
    /// `PERSIST_AFTER`, with every change made meanwhile, and the simulator writes what is left when
    /// it stops. A crash of the process loses at most that last quarter second of a training gateway.
    fn persist(&mut self) {
        if self.state_file.is_none() {
            return;
        }
        self.dirty = true;
        if let Some(soon) = &self.persist_soon {
            soon.notify_one();
        }
    }

    /// The state as the file holds it, when there are changes to write; clears `dirty`.
    fn take_snapshot(&mut self) -> Option<(PathBuf, Vec<u8>)> {
        if !self.dirty {
            return None;
        }
        let path = self.state_file.clone()?;
        let saved = SavedStateRef {
            nmi: &self.nmi,
            stripe: &self.stripe,
        };
        let bytes = serde_json::to_vec(&saved).ok()?;
        self.dirty = false;
        self.state_writes += 1;
        Some((path, bytes))
    }
}

/// What `SavedState` reads, written without copying the state.
#[derive(serde::Serialize)]
struct SavedStateRef<'a> {
    nmi: &'a NmiState,
    stripe: &'a StripeState,
}

/// Writes the newest state if it changed (whole file, then renamed, so a crash never leaves half a file).
fn write_state(shared: &Mutex<Shared>, file: &StateFile) {
    let _writing = file.writing.lock().unwrap_or_else(|e| e.into_inner());
    let snapshot = shared
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take_snapshot();
    if let Some((path, bytes)) = snapshot {
        let tmp = path.with_extension("tmp");
        if write_owner_only(&tmp, &bytes).is_ok() {
            let _ = std::fs::rename(&tmp, path);
        }
    }
}

impl Shared {
    /// The fault for this request, if a rule matches; uses up one of its times.
    pub(crate) fn take_fault(&mut self, path: &str) -> Option<Fault> {
        self.requests += 1;
        // Over the rate limit: refused before any work, as a gateway's 429 is.
        if let Some(rate) = self.rate.as_mut() {
            if !rate.allow() {
                self.rate_limited += 1;
                return Some(Fault::Status(429));
            }
        }
        let rule = self
            .faults
            .iter_mut()
            .find(|r| r.remaining > 0 && path.contains(&r.path))?;
        rule.remaining -= 1;
        Some(rule.fault.clone())
    }
}

/// A running simulator. Dropping it stops the server.
pub struct Simulator {
    addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
    state_file: Arc<StateFile>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

/// How the simulator is set up.
#[derive(Debug, Clone, Default)]
pub struct SimConfig {
    /// The NMI security key it accepts; None accepts any non-empty key.
    pub nmi_security_key: Option<String>,
    /// The Stripe secret key it accepts; None accepts any non-empty `sk_…` key.
    pub stripe_secret_key: Option<String>,
    /// 0 picks a free port.
    pub port: u16,
    /// Keep the vault, ledger and Stripe objects in this file across restarts (training mode).
    pub state_file: Option<PathBuf>,
    /// Answer 429 beyond this many requests per second (None: no limit).
    pub rate_limit_per_second: Option<u32>,
    /// Training mode: charge the demo clinic's made-up cards (NMI vault ids `demo…`, Stripe `pm_demo_…`)
    /// as approved test Visas, so a trainee can take payments with them.
    pub adopt_demo_cards: bool,
    /// The time of day (UTC) NMI closes the merchant's batch: every sale pending settlement becomes
    /// `complete` with a `settle` action, as on a real account. None: only when a test asks
    /// (`Simulator::settle_nmi_batch`).
    pub nmi_batch_close: Option<chrono::NaiveTime>,
    /// The merchant's duplicate window in seconds (NMI refuses a second sale of the same amount on
    /// the same card within it with response=3 "Duplicate transaction"); None: the check is off.
    pub nmi_duplicate_window: Option<u32>,
}

/// The message a dropped-connection fault panics with: the handler's task ends without an answer and
/// hyper closes the connection, which is what the client must see.
const DROPPED: &str = "simulated dropped connection";

/// Keeps the simulated drops out of the process's error output (they are the point, not a bug); every
/// other panic is reported as before.
fn quiet_simulated_drops() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let message = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_default();
            if !message.starts_with(DROPPED) {
                previous(info);
            }
        }));
    });
}

impl Simulator {
    pub async fn start(config: SimConfig) -> std::io::Result<Simulator> {
        quiet_simulated_drops();
        let (mut nmi, mut stripe) = match config.state_file.as_deref().map(std::fs::read_to_string)
        {
            // An empty file (just made, e.g. by `mktemp`) is an empty state, as a missing one is.
            Some(Ok(text)) if !text.trim().is_empty() => {
                let saved: SavedState = serde_json::from_str(&text).map_err(|e| {
                    std::io::Error::other(format!("the simulator's state file is unreadable ({e})"))
                })?;
                (saved.nmi, saved.stripe)
            }
            Some(Err(e)) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => (NmiState::new(None), StripeState::default()),
        };
        nmi.security_key = config.nmi_security_key.clone();
        stripe.secret_key = config.stripe_secret_key.clone();
        nmi.adopt_demo_cards = config.adopt_demo_cards;
        nmi.duplicate_window = config.nmi_duplicate_window;
        stripe.adopt_demo_cards = config.adopt_demo_cards;
        let persist_soon = config
            .state_file
            .as_ref()
            .map(|_| Arc::new(tokio::sync::Notify::new()));
        let shared = Arc::new(Mutex::new(Shared {
            nmi,
            stripe,
            state_file: config.state_file.clone(),
            persist_soon: persist_soon.clone(),
            rate: config.rate_limit_per_second.map(|r| RateLimit {
                per_second: f64::from(r),
                tokens: f64::from(r),
                last: std::time::Instant::now(),
            }),
            ..Shared::default()
        }));
        let app = Router::new()
            .route("/api/transact.php", post(nmi::transact))
            .route("/api/query.php", post(nmi::query))
            .route("/token/Collect.js", get(hosted::collect_script))
            .route("/token/field", get(hosted::collect_field))
            .route("/token/session/{session}/field", post(hosted::field_values))
            .route(
                "/token/session/{session}/tokenize",
                post(hosted::collect_tokenize),
            )
            .route("/token/tokenize", post(collect::tokenize))
            .route("/js.stripe.com/v3/", get(hosted::stripe_script))
            .route(
                "/js.stripe.com/elements/card",
                get(hosted::stripe_card_frame),
            )
            .route(
                "/js.stripe.com/elements/{session}/field",
                post(hosted::field_values),
            )
            .route(
                "/js.stripe.com/elements/{session}/payment_method",
                post(hosted::stripe_payment_method),
            )
            .route("/stripe/checkout/thanks", get(checkout::thanks))
            // The simulator's own controls (no gateway has them): what a card network does by itself.
            .route("/_sim/renew-card", post(renew_card_route))
            .route(
                "/stripe/checkout/{session}",
                get(checkout::page).post(checkout::submit),
            )
            .route("/stripe/{*rest}", any(stripe::handle))
            .with_state(shared.clone());
        let state_file = Arc::new(StateFile::default());
        if let Some(soon) = persist_soon {
            let shared = Arc::downgrade(&shared);
            let file = state_file.clone();
            tokio::spawn(async move {
                loop {
                    soon.notified().await;
                    tokio::time::sleep(PERSIST_AFTER).await;
                    let Some(shared) = shared.upgrade() else {
                        return;
                    };
                    let file = file.clone();
                    let _ = tokio::task::spawn_blocking(move || write_state(&shared, &file)).await;
                }
            });
        }
        if let Some(close) = config.nmi_batch_close {
            let shared = Arc::downgrade(&shared);
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(until_next(close, chrono::Utc::now())).await;
                    let Some(shared) = shared.upgrade() else {
                        return;
                    };
                    let mut s = shared.lock().expect("sim state");
                    s.nmi.settle_batch();
                    s.persist();
                }
            });
        }
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", config.port)).await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(Simulator {
            addr,
            shared,
            state_file,
            shutdown: Some(tx),
        })
    }

    /// `http://127.0.0.1:PORT`, the base URL for `nmi.api-base`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Makes the next `times` requests whose path contains `path` fail with `fault`.
    pub fn inject(&self, path: &str, times: usize, fault: Fault) {
        self.shared
            .lock()
            .expect("sim state")
            .faults
            .push(FaultRule {
                path: path.into(),
                remaining: times,
                fault,
            });
    }

    /// Requests refused with 429 by the rate limit.
    pub fn rate_limited(&self) -> usize {
        self.shared.lock().expect("sim state").rate_limited
    }

    /// Removes every fault not yet used up.
    pub fn clear_faults(&self) {
        self.shared.lock().expect("sim state").faults.clear();
    }

    /// A single-use payment token for a card, as Collect.js would hand it to the page.
    pub fn payment_token(&self, number: &str, exp_mmyy: &str) -> String {
        self.shared
            .lock()
            .expect("sim state")
            .nmi
            .tokenize(number, exp_mmyy)
    }

    /// Closes NMI's batch now, as the nightly settlement does: answers how many transactions settled.
    pub fn settle_nmi_batch(&self) -> usize {
        let mut s = self.shared.lock().expect("sim state");
        let settled = s.nmi.settle_batch();
        s.persist();
        settled
    }

    /// The transaction ledger, to check what was really charged.
    pub fn transactions(&self) -> Vec<Transaction> {
        self.shared.lock().expect("sim state").nmi.ledger.clone()
    }

    /// How many NMI sales were approved so far, without copying the ledger (a benchmark watches a
    /// month-end's progress with it while the gateway is busy).
    pub fn approved_sales(&self) -> usize {
        self.shared
            .lock()
            .expect("sim state")
            .nmi
            .ledger
            .iter()
            .filter(|t| t.kind == "sale" && t.success)
            .count()
    }

    /// Every PaymentIntent the Stripe side holds, oldest first, as Stripe would show them.
    pub fn stripe_payment_intents(&self) -> Vec<serde_json::Value> {
        self.shared
            .lock()
            .expect("sim state")
            .stripe
            .payment_intents()
    }

    /// Every refund the Stripe side holds, oldest first.
    pub fn stripe_refunds(&self) -> Vec<serde_json::Value> {
        self.shared
            .lock()
            .expect("sim state")
            .stripe
            .refunds
            .clone()
    }

    /// A Stripe PaymentMethod for a card, as Stripe.js would create it from the card element.
    pub fn stripe_payment_method(&self, number: &str, exp_month: u32, exp_year: i32) -> String {
        self.shared
            .lock()
            .expect("sim state")
            .stripe
            .create_payment_method(number, exp_month, exp_year, "")
    }

    /// Completes a Checkout Session in setup mode as the patient would on its page, with a test card
    /// (`sim complete-setup`): the session as Stripe then answers it, or why the page refused.
    pub fn complete_checkout_setup(
        &self,
        session: &str,
        number: &str,
        exp_month: u32,
        exp_year: i32,
    ) -> Result<serde_json::Value, String> {
        self.shared
            .lock()
            .expect("sim state")
            .stripe
            .complete_checkout_setup(session, number, exp_month, exp_year)
    }

    /// Lets a Checkout Session's time run out, as if its `expires_at` had passed: Stripe expires it
    /// on its own (tests cannot wait 24 hours).
    pub fn run_out_checkout_session(&self, session: &str) {
        self.shared
            .lock()
            .expect("sim state")
            .stripe
            .run_out_checkout_session(session)
    }

    /// The card network renews the saved cards ending in `last4` at `gateway` to expire at the end
    /// of `month`/`year` (and, given `new_number`, replaces their number): afterwards the gateway's own
    /// look-ups answer the new details (`sim renew-card`). Answers how many saved cards changed.
    pub fn renew_card(
        &self,
        gateway: &str,
        last4: &str,
        month: u32,
        year: i32,
        new_number: Option<&str>,
    ) -> usize {
        let mut s = self.shared.lock().expect("sim state");
        let changed = match gateway {
            "stripe" => s.stripe.renew_cards(last4, month, year, new_number),
            _ => s
                .nmi
                .renew_cards(last4, &format!("{month:02}{:02}", year % 100), new_number),
        };
        s.persist();
        changed
    }

    /// Attaches every PaymentMethod not saved to a customer to one customer of its own (benchmarks
    /// that make cards in bulk, as Stripe holds saved cards).
    pub fn attach_all_stripe_payment_methods(&self) {
        let mut s = self.shared.lock().expect("sim state");
        s.stripe.attach_all();
    }

    /// Stripe PaymentMethods attached to a customer (saved cards, as Stripe holds them).
    pub fn stripe_attached_cards(&self) -> usize {
        self.shared
            .lock()
            .expect("sim state")
            .stripe
            .attached_cards()
    }

    pub fn stripe_customers(&self) -> usize {
        self.shared
            .lock()
            .expect("sim state")
            .stripe
            .customer_count()
    }

    /// Puts a card straight into the NMI vault, as an older system would have, and answers its vault id.
    /// What a POST of `body` to `/api/transact.php` would answer, without HTTP or faults: for benchmarks
    /// that need a gateway holding many transactions quickly.
    pub fn nmi_transact(&self, body: &str) -> String {
        let f = serde_urlencoded::from_str::<Vec<(String, String)>>(body)
            .unwrap_or_default()
            .into_iter()
            .collect();
        self.shared.lock().expect("sim state").nmi.transact(&f)
    }

    pub fn vault_card(&self, number: &str, exp_mmyy: &str) -> String {
        self.shared
            .lock()
            .expect("sim state")
            .nmi
            .vault_card(number, exp_mmyy)
    }

    /// The customer vault ids NMI holds.
    pub fn vault_ids(&self) -> Vec<String> {
        self.shared
            .lock()
            .expect("sim state")
            .nmi
            .vault
            .keys()
            .cloned()
            .collect()
    }

    pub fn vault_size(&self) -> usize {
        self.shared.lock().expect("sim state").nmi.vault.len()
    }

    /// Requests served so far (including faulted ones).
    /// Writes the state file now if anything changed since it was last written (the app calls it on
    /// its way out; dropping the simulator does it too).
    pub fn flush_state(&self) {
        write_state(&self.shared, &self.state_file);
    }

    /// How many times the state file has been written.
    pub fn state_writes(&self) -> usize {
        self.shared.lock().expect("sim state").state_writes
    }

    pub fn requests(&self) -> usize {
        self.shared.lock().expect("sim state").requests
    }
}

/// Applies the request's fault, if any, around `work`, which answers (status, content type, body).
/// `POST /_sim/renew-card` (`gateway`, `last4`, `exp` as MMYY or MM/YY, optional `number`): the card
/// network renews saved cards, as `Simulator::renew_card`.
async fn renew_card_route(
    axum::extract::State(shared): axum::extract::State<Arc<Mutex<Shared>>>,
    axum::Form(f): axum::Form<std::collections::HashMap<String, String>>,
) -> Response {
    let digits: String = f
        .get("exp")
        .map(|e| e.chars().filter(char::is_ascii_digit).collect())
        .unwrap_or_default();
    let (Some(gateway), Some(last4), 4) = (f.get("gateway"), f.get("last4"), digits.len()) else {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(serde_json::json!({"error": "give gateway, last4 and exp (MM/YY)"})),
        )
            .into_response();
    };
    let month: u32 = digits[..2].parse().unwrap_or(0);
    let year: i32 = 2000 + digits[2..].parse::<i32>().unwrap_or(0);
    let number = f.get("number").filter(|n| n.len() >= 12);
    let mut s = shared.lock().expect("sim state");
    let renewed = match gateway.as_str() {
        "stripe" => s
            .stripe
            .renew_cards(last4, month, year, number.map(String::as_str)),
        _ => s.nmi.renew_cards(
            last4,
            &format!("{month:02}{:02}", year % 100),
            number.map(String::as_str),
        ),
    };
    s.persist();
    axum::Json(serde_json::json!({ "renewed": renewed })).into_response()
}

pub(crate) async fn with_faults(
    shared: &Arc<Mutex<Shared>>,
    path: &str,
    work: impl FnOnce(&mut Shared) -> (StatusCode, &'static str, String),
) -> Response {
    let fault = shared.lock().expect("sim state").take_fault(path);
    match &fault {
        Some(Fault::Latency(d)) => tokio::time::sleep(*d).await,
        Some(Fault::Status(code)) => {
            let status = StatusCode::from_u16(*code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            if path.starts_with("/stripe") {
                let kind = if *code == 429 {
                    "rate_limit_error"
                } else {
                    "api_error"
                };
                let body = serde_json::json!({"error": {
                    "type": kind,
                    "message": format!("Simulated HTTP {code} from the Stripe simulator."),
                }});
                return (
                    status,
                    [(header::CONTENT_TYPE, "application/json")],
                    body.to_string(),
                )
                    .into_response();
            }
            return (status, "simulated gateway failure").into_response();
        }
        Some(Fault::DropBeforeCommit) => panic!("{DROPPED} (before the work)"),
        _ => {}
    }
    let (status, content_type, body) = {
        let mut state = shared.lock().expect("sim state");
        let answer = work(&mut state);
        state.persist();
        answer
    };
    match fault {
        Some(Fault::HangAfterCommit) => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            body.into_response()
        }
        Some(Fault::DropAfterCommit) => panic!("{DROPPED} (after the work)"),
        Some(Fault::MalformedBody) => (
            [(header::CONTENT_TYPE, "text/html")],
            "<html><body>502 Bad Gateway</body>",
        )
            .into_response(),
        _ => (status, [(header::CONTENT_TYPE, content_type)], body).into_response(),
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.flush_state();
    }
}

/// How long from `now` until the next `at` o'clock (UTC).
fn until_next(at: chrono::NaiveTime, now: chrono::DateTime<chrono::Utc>) -> std::time::Duration {
    let today = now.date_naive().and_time(at).and_utc();
    let next = if today > now {
        today
    } else {
        today + chrono::Duration::days(1)
    };
    (next - now).to_std().unwrap_or_default()
}

#[cfg(test)]
mod batch_tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_batch_closes_at_the_next_close_time_today_or_tomorrow() {
        let close = chrono::NaiveTime::from_hms_opt(2, 0, 0).unwrap();
        let before = chrono::Utc
            .with_ymd_and_hms(2026, 11, 30, 1, 30, 0)
            .unwrap();
        assert_eq!(
            until_next(close, before),
            std::time::Duration::from_secs(30 * 60)
        );
        let after = chrono::Utc.with_ymd_and_hms(2026, 11, 30, 2, 0, 0).unwrap();
        assert_eq!(
            until_next(close, after),
            std::time::Duration::from_secs(24 * 3600)
        );
    }
}

#[cfg(test)]
mod state_file_tests {
    use super::*;

    #[tokio::test]
    async fn an_empty_state_file_is_an_empty_state_and_a_broken_one_is_refused() {
        let dir = std::env::temp_dir().join(format!("clinicpay-sim-state-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("state.json");
        std::fs::write(&file, "").unwrap();
        let config = || SimConfig {
            state_file: Some(file.clone()),
            ..Default::default()
        };
        let sim = Simulator::start(config())
            .await
            .expect("an empty file starts empty");
        assert!(sim.transactions().is_empty());
        drop(sim);
        std::fs::write(&file, "{ not json").unwrap();
        let e = Simulator::start(config())
            .await
            .err()
            .expect("a broken file is refused");
        assert!(e.to_string().contains("unreadable"), "{e}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
