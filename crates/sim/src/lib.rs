//! ClinicPay's gateway simulator. NMI has no public fake, so this one follows NMI's documented formats
//! field by field: the Payment API (`/api/transact.php`, form in, `key=value` out), the Query API
//! (`/api/query.php`, XML out), a customer vault, a transaction ledger, test-mode behaviours, and a
//! Collect.js stand-in that turns typed test card numbers into single-use payment tokens.
//!
//! Tests put it under faults per request: latency, an HTTP status (5xx, 429), a reply lost *after* the
//! charge was recorded, a dropped connection, a malformed body.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::{get, post};
use axum::Router;

pub mod cards;
mod collect;
mod nmi;

pub use nmi::{NmiState, Transaction};

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
    faults: Vec<FaultRule>,
    pub requests: usize,
}

impl Shared {
    /// The fault for this request, if a rule matches; uses up one of its times.
    pub(crate) fn take_fault(&mut self, path: &str) -> Option<Fault> {
        self.requests += 1;
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
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

/// How the simulator is set up.
#[derive(Debug, Clone, Default)]
pub struct SimConfig {
    /// The NMI security key it accepts; None accepts any non-empty key.
    pub nmi_security_key: Option<String>,
    /// 0 picks a free port.
    pub port: u16,
}

impl Simulator {
    pub async fn start(config: SimConfig) -> std::io::Result<Simulator> {
        let shared = Arc::new(Mutex::new(Shared {
            nmi: NmiState::new(config.nmi_security_key.clone()),
            ..Shared::default()
        }));
        let app = Router::new()
            .route("/api/transact.php", post(nmi::transact))
            .route("/api/query.php", post(nmi::query))
            .route("/token/Collect.js", get(collect::script))
            .route("/token/tokenize", post(collect::tokenize))
            .with_state(shared.clone());
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

    /// A single-use payment token for a card, as Collect.js would hand it to the page.
    pub fn payment_token(&self, number: &str, exp_mmyy: &str) -> String {
        self.shared
            .lock()
            .expect("sim state")
            .nmi
            .tokenize(number, exp_mmyy)
    }

    /// The transaction ledger, to check what was really charged.
    pub fn transactions(&self) -> Vec<Transaction> {
        self.shared.lock().expect("sim state").nmi.ledger.clone()
    }

    pub fn vault_size(&self) -> usize {
        self.shared.lock().expect("sim state").nmi.vault.len()
    }

    /// Requests served so far (including faulted ones).
    pub fn requests(&self) -> usize {
        self.shared.lock().expect("sim state").requests
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
