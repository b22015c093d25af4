//! The billing engine inside the desk app (`clinicpay_services::engine`): started with the app, with
//! nobody signed in, on the async runtime so it never holds the window up; stopped when the app exits,
//! after the pass under way, giving the engine up so another desk takes over at once. What it does goes
//! to the app log (and so into the diagnostics bundle).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use clinicpay_services::engine::{EngineEvent, EnginePace, EngineRole, HolderKind};
use clinicpay_services::Services;

/// The running engine of this desk.
#[derive(Default)]
pub struct DeskEngine {
    stop: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
    task: Mutex<Option<tauri::async_runtime::JoinHandle<()>>>,
    /// The app is closing: nothing starts the engine any more (the start deferred to the window's first
    /// page could otherwise take the lease after the exit gave it up, and hold it until it lapsed).
    closing: AtomicBool,
}

impl DeskEngine {
    /// Starts the engine loop for the desk named `desk` (it waits while another holds the engine, or
    /// while this desk cannot run it, and says why in the log), in place of any loop running before
    /// (which gives its lease up in the background).
    pub fn start(&self, services: Services, desk: String) {
        // Held while starting, so a stop at the same moment either comes first (and nothing starts) or
        // finds this loop's sender.
        let Ok(mut slot) = self.stop.lock() else {
            return;
        };
        if self.closing.load(Ordering::SeqCst) {
            return;
        }
        if let Some(running) = slot.take() {
            let _ = running.send(());
        }
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let role = EngineRole {
            name: desk,
            kind: HolderKind::Desk,
        };
        let task = tauri::async_runtime::spawn(async move {
            services
                .run_engine(role, None, EnginePace::default(), log, async {
                    stopped.await.ok();
                })
                .await
        });
        *slot = Some(stop);
        if let Ok(mut t) = self.task.lock() {
            *t = Some(task);
        }
    }

    /// Whether the engine was started at this desk (by the app or by the first-run screen).
    pub fn is_started(&self) -> bool {
        self.task.lock().map(|t| t.is_some()).unwrap_or(false)
    }

    /// Stops the engine when the app exits: the pass under way may finish within `grace`, then the
    /// lease is given up. A pass longer than that is cut off with the app; its lease lapses and the
    /// janitor settles whatever it left unknown.
    pub fn stop(&self, grace: Duration) {
        if let Ok(mut slot) = self.stop.lock() {
            self.closing.store(true, Ordering::SeqCst);
            if let Some(stop) = slot.take() {
                let _ = stop.send(());
            }
        }
        if let Some(task) = self.task.lock().ok().and_then(|mut t| t.take()) {
            let finished =
                tauri::async_runtime::block_on(async { tokio::time::timeout(grace, task).await });
            if finished.is_err() {
                tracing::warn!(
                    target: "clinicpay::engine",
                    "the billing pass under way did not finish within {grace:?}; ClinicPay closes anyway and another desk takes over once its lease lapses"
                );
            }
        }
    }
}

fn log(event: EngineEvent) {
    const T: &str = "clinicpay::engine";
    match event {
        EngineEvent::Took => {
            tracing::info!(target: T, "this desk now runs the clinic's billing engine")
        }
        EngineEvent::Pass(what) => tracing::info!(target: T, "billing pass: {what}"),
        EngineEvent::PassFailed(e) => {
            tracing::warn!(target: T, "billing pass failed; the next waits longer: {e}")
        }
        EngineEvent::Yielded(who) => tracing::info!(
            target: T,
            "the billing engine is run by the {who}; this desk takes over if it stops"
        ),
        EngineEvent::CannotRun(why) => {
            tracing::warn!(target: T, "this desk cannot run the billing engine: {why}")
        }
        EngineEvent::LeaseUnknown(e) => {
            tracing::warn!(target: T, "the billing engine's lease could not be read or renewed: {e}")
        }
        EngineEvent::Stopped => tracing::info!(target: T, "billing engine stopped and given up"),
    }
}
