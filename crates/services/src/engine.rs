//! The billing engine: the worker's pass (cycles, retries, recovery deadlines, the janitor, reminders,
//! the daily reconciliation) run by exactly one process per clinic database, whichever desk app or IT's
//! `clinicpay worker` service holds the engine's lease (`clinicpay_store::engine`).
//!
//! A holder renews its lease while it runs, also in the middle of a long pass; a desk that closes gives
//! it up, and one that sleeps, crashes or loses the database stops renewing, so its lease lapses and
//! another takes over at its next try: within `lease + try_every` (under two minutes, see `EnginePace`). Two engines for
//! a moment (a laptop waking up after its lease was taken) cost nothing but work: every charge is
//! claimed in the database first and keyed at the gateway, so nothing is charged twice.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use clinicpay_domain::{EngineHost, Permission};
pub use clinicpay_store::engine::HolderKind;
use clinicpay_store::engine::{self as repo, Holder};
use serde::Serialize;

use crate::recovery::WorkerReport;
use crate::{Actor, Result, ServiceError, Services};

/// The engine's rhythm. The defaults keep a takeover under two minutes: a lease lapses 75 s after its
/// last renewal, and a waiting desk tries every 30 s.
#[derive(Debug, Clone, Copy)]
pub struct EnginePace {
    /// A pass every this long while holding the engine.
    pub every: std::time::Duration,
    /// The longest wait after passes that failed in a row (each failure doubles the wait).
    pub longest_backoff: std::time::Duration,
    /// How long the lease lasts without renewal.
    pub lease: Duration,
    /// How often the holder renews it during a pass, and a waiting process tries to take it.
    pub try_every: std::time::Duration,
    /// How long a pass bills due cycles before its other work; with more due, the next pass follows
    /// at once instead of after `every`.
    pub cycles_per_pass: std::time::Duration,
}

impl Default for EnginePace {
    fn default() -> EnginePace {
        EnginePace {
            every: std::time::Duration::from_secs(30),
            longest_backoff: std::time::Duration::from_secs(5 * 60),
            lease: Duration::seconds(75),
            try_every: std::time::Duration::from_secs(30),
            cycles_per_pass: crate::recovery::CYCLES_PER_PASS,
        }
    }
}
/// No pass for this long, and billing managers and IT see a warning in the top bar.
pub const STALE_AFTER: Duration = Duration::hours(1);

/// This process as a candidate engine.
#[derive(Debug, Clone)]
pub struct EngineRole {
    /// The desk's name, or the computer the service runs on.
    pub name: String,
    pub kind: HolderKind,
}

/// What this process's engine is doing, for the status and the log.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum EngineHere {
    /// No engine loop in this process (the CLI, or a desk whose engine is IT's service).
    #[default]
    Off,
    /// Runs the clinic's billing.
    Running,
    /// Another desk or the service runs it; this one takes over if it stops.
    Standby,
    /// This desk cannot run it (the sentence says why) and leaves it to another.
    CannotRun(String),
}

/// Something the engine loop tells the log.
#[derive(Debug, Clone)]
pub enum EngineEvent {
    /// This process took the engine over.
    Took,
    /// A pass finished; what it did in a sentence.
    Pass(String),
    /// A pass failed; the next waits longer.
    PassFailed(String),
    /// Another process holds the engine now (this one waits).
    Yielded(String),
    /// This process cannot run the engine (why).
    CannotRun(String),
    /// The lease could not be read or renewed (the database away).
    LeaseUnknown(String),
    /// Stopped, and gave the lease up.
    Stopped,
}

/// Who runs the engine now.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct EngineRunner {
    pub name: String,
    /// `desk` or `service`.
    pub kind: String,
    pub since: Option<DateTime<Utc>>,
    /// This very app runs it.
    pub this_process: bool,
}

/// The work ahead of the engine.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct EngineDueWork {
    pub cycles_due: i32,
    pub next_cycle_at: Option<DateTime<Utc>>,
    pub retries_due: i32,
    pub next_retry_at: Option<DateTime<Utc>>,
    pub unsettled_payments: i32,
}

/// Settings → Billing engine, `clinicpay worker status`, and the top-bar warning.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct EngineStatus {
    /// Where IT lets the engine run, as this computer's managed configuration says.
    pub host: EngineHost,
    pub runner: Option<EngineRunner>,
    /// This process's part.
    pub here: EngineHere,
    pub last_pass_at: Option<DateTime<Utc>>,
    pub last_pass_by: Option<String>,
    #[cfg_attr(feature = "specta", specta(type = Option<i32>))]
    pub last_pass_ms: Option<i64>,
    /// What the last pass did, in a sentence.
    pub last_pass: Option<String>,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    pub due: EngineDueWork,
    /// No pass within the last hour (or never): the sentence for the top bar.
    pub warning: Option<String>,
}

/// What a pass did, as one sentence for people.
pub fn pass_summary(r: &WorkerReport) -> String {
    let mut said = Vec::new();
    let mut say = |n: u32, what: &str| {
        if n > 0 {
            said.push(format!("{what}: {n}"));
        }
    };
    say(r.cycles_billed, "subscription cycles billed");
    say(r.cycles_paid, "cycles paid");
    say(r.retries_run, "retries");
    say(r.retries_paid, "retries paid");
    say(r.retries_not_sent, "retries not sent");
    say(r.needs_payment_method, "orders needing a payment method");
    say(r.suspended, "subscriptions suspended");
    say(r.failed_final, "recoveries failed for good");
    say(
        r.janitor.found_paid + r.janitor.found_not_paid,
        "unknown payments settled",
    );
    say(r.janitor.still_unknown, "payments still unknown");
    say(r.card_links.saved, "cards saved through secure card links");
    say(
        r.card_refresh.as_ref().map_or(0, |c| c.renewed),
        "cards renewed by the card network",
    );
    say(r.reminders.sent, "reminders sent");
    say(r.reminders.failed, "reminders failed");
    let mut sentence = if said.is_empty() {
        "Nothing was due.".to_owned()
    } else {
        let s = said.join(", ") + ".";
        s[..1].to_uppercase() + &s[1..]
    };
    if r.more_due {
        sentence.push_str(" More cycles are due: the next pass follows at once.");
    }
    if let Some(v) = &r.reconciliation {
        sentence.push(' ');
        sentence.push_str(&v.verdict);
    }
    if r.janitor.cannot_look_up > 0 {
        sentence.push_str(&format!(
            " {} unsettled payments cannot be looked up from here: {}",
            r.janitor.cannot_look_up,
            r.janitor.cannot_look_up_because.join("; ")
        ));
    }
    sentence
}

impl Services {
    /// Runs the billing engine until `stop` fires: takes the lease when it is free, runs a pass every
    /// `pace.every` while holding it (the worker's rules: a failed pass backs off, never ends it), and
    /// gives it up on stop after finishing the pass under way. A desk (no `worker` account) runs the
    /// pass as the system; IT's service runs it as its worker account, read again every pass.
    pub async fn run_engine(
        &self,
        role: EngineRole,
        worker: Option<Actor>,
        pace: EnginePace,
        mut told: impl FnMut(EngineEvent),
        stop: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(stop);
        let holder = Holder {
            id: self.worker_id().to_owned(),
            name: role.name.clone(),
            kind: role.kind,
        };
        let mut holding = false;
        let mut wait = pace.every;
        loop {
            let mut next = pace.try_every.min(pace.every);
            match self
                .engine_turn(&role, &holder, pace, &mut holding, &mut told)
                .await
            {
                Ok(true) => {
                    match self
                        .engine_pass(&holder, worker.as_ref(), pace, &mut holding, &mut told)
                        .await
                    {
                        // Month-end: more cycles are due than a pass bills, so the next pass
                        // follows at once.
                        Ok(true) => {
                            wait = pace.every;
                            next = std::time::Duration::ZERO;
                        }
                        Ok(false) => {
                            wait = pace.every;
                            next = wait;
                        }
                        Err(()) => {
                            wait = (wait * 2).min(pace.longest_backoff).max(pace.every);
                            next = wait;
                        }
                    }
                }
                Ok(false) => {}
                Err(e) => told(EngineEvent::LeaseUnknown(e.to_string())),
            }
            tokio::select! {
                _ = &mut stop => break,
                _ = tokio::time::sleep(next) => {}
            }
        }
        // Given up at once, so another desk takes over at its next try instead of after the lease.
        if holding {
            if let Err(e) = self.release_engine(&holder).await {
                told(EngineEvent::LeaseUnknown(e.to_string()));
            }
        }
        self.set_engine_here(EngineHere::Off);
        told(EngineEvent::Stopped);
    }

    /// Whether this process runs the next pass: it may (a desk needs the gateway's key), and it holds
    /// or took the lease.
    async fn engine_turn(
        &self,
        role: &EngineRole,
        holder: &Holder,
        pace: EnginePace,
        holding: &mut bool,
        told: &mut impl FnMut(EngineEvent),
    ) -> Result<bool> {
        if role.kind == HolderKind::Desk {
            if let Err(why) = self.desk_can_run_engine(role).await {
                if *holding {
                    self.release_engine(holder).await?;
                    *holding = false;
                }
                if self.engine_here() != EngineHere::CannotRun(why.clone()) {
                    told(EngineEvent::CannotRun(why.clone()));
                }
                self.set_engine_here(EngineHere::CannotRun(why));
                return Ok(false);
            }
        }
        let now = self.fresh_now().await?;
        let mut tx = self.store().begin().await?;
        let got = repo::claim(&mut tx, holder, now, pace.lease).await?;
        let row = repo::load(&mut tx).await?;
        tx.commit().await?;
        if got && !*holding {
            told(EngineEvent::Took);
        }
        if !got && (*holding || self.engine_here() != EngineHere::Standby) {
            let who = row
                .holder_at(now)
                .map(|(_, name, kind)| format!("{kind} {name}"))
                .unwrap_or_else(|| "another process".into());
            told(EngineEvent::Yielded(who));
        }
        *holding = got;
        self.set_engine_here(if got {
            EngineHere::Running
        } else {
            EngineHere::Standby
        });
        Ok(got)
    }

    /// One pass while holding the lease, renewing it meanwhile; what it did (or its error) is recorded
    /// for the status and told to the log. A pass whose lease was taken mid-way finishes (its work is
    /// claimed row by row), and the next turn yields. Ok(true): more cycles are due than it billed.
    async fn engine_pass(
        &self,
        holder: &Holder,
        worker: Option<&Actor>,
        pace: EnginePace,
        holding: &mut bool,
        told: &mut impl FnMut(EngineEvent),
    ) -> std::result::Result<bool, ()> {
        let started = Instant::now();
        // On a task of its own, so a pass that panics is a failed pass, not the end of the engine.
        let mut billing = self.under_lease(holder, pace.lease);
        billing.cycles_per_pass = pace.cycles_per_pass;
        let worker = worker.cloned();
        let pass = tokio::spawn(async move {
            match worker {
                Some(w) => billing.run_worker_pass_as(&w).await,
                None => billing.run_worker_pass().await,
            }
        });
        tokio::pin!(pass);
        let result = loop {
            tokio::select! {
                r = &mut pass => break r.unwrap_or_else(|e| Err(ServiceError::Internal(format!("the billing pass stopped unexpectedly ({e})")))),
                _ = tokio::time::sleep(pace.try_every) => {
                    match self.renew_engine(holder, pace.lease).await {
                        Ok(true) => {}
                        Ok(false) => *holding = false,
                        Err(e) => told(EngineEvent::LeaseUnknown(e.to_string())),
                    }
                }
            }
        };
        let took_ms = started.elapsed().as_millis() as i64;
        let now = self.now();
        match result {
            Ok(report) => {
                let sentence = pass_summary(&report);
                let recorded: Result<()> = async {
                    let mut tx = self.store().begin().await?;
                    repo::record_pass(&mut tx, &holder.name, now, took_ms, &sentence).await?;
                    Ok(tx.commit().await?)
                }
                .await;
                if let Err(e) = recorded {
                    told(EngineEvent::LeaseUnknown(e.to_string()));
                }
                told(EngineEvent::Pass(sentence));
                Ok(report.more_due)
            }
            Err(e) => {
                let message = e.to_string();
                let recorded: Result<()> = async {
                    let mut tx = self.store().begin().await?;
                    repo::record_error(&mut tx, now, &message).await?;
                    Ok(tx.commit().await?)
                }
                .await;
                if let Err(e) = recorded {
                    told(EngineEvent::LeaseUnknown(e.to_string()));
                }
                told(EngineEvent::PassFailed(message));
                Err(())
            }
        }
    }

    /// Services that bill under `holder`'s lease: each charge renews it first (an engine pass runs on
    /// these).
    pub fn under_lease(&self, holder: &Holder, lease: Duration) -> Services {
        let mut s = self.clone();
        s.engine_lease = Some(Arc::new(PassLease {
            holder: holder.clone(),
            lease,
        }));
        s
    }

    /// In an engine pass: renews the lease, and refuses when another process holds it now (this one
    /// slept, or lost the database, long enough to be replaced). Elsewhere: nothing to check.
    pub(crate) async fn require_engine_lease(&self) -> Result<()> {
        let Some(pass) = &self.engine_lease else {
            return Ok(());
        };
        if self.renew_engine(&pass.holder, pass.lease).await? {
            return Ok(());
        }
        Err(ServiceError::Conflict(format!(
            "The billing engine was taken over while {} was away: this charge was not sent here (the desk or service running billing now charges it).",
            pass.holder.name
        )))
    }

    async fn renew_engine(&self, holder: &Holder, lease: Duration) -> Result<bool> {
        let now = self.fresh_now().await?;
        let mut tx = self.store().begin().await?;
        let got = repo::claim(&mut tx, holder, now, lease).await?;
        tx.commit().await?;
        Ok(got)
    }

    async fn release_engine(&self, holder: &Holder) -> Result<()> {
        let mut tx = self.store().begin().await?;
        repo::release(&mut tx, &holder.id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A desk runs the engine only where IT lets desks run it and it can bill: a clinic is set up, and
    /// in a live clinic this computer's keychain has the active gateway's key for its address (a desk
    /// without one would hold the engine and send nothing).
    pub async fn desk_can_run_engine(&self, role: &EngineRole) -> std::result::Result<(), String> {
        if self.managed().config.engine_host() == EngineHost::Service {
            return Err(format!(
                "IT set this clinic's billing to run as a service (engine = \"service\" in {}), so the desk {} leaves it to the service.",
                self.managed().source_name().unwrap_or_else(|| "the managed configuration".into()),
                role.name
            ));
        }
        let configured = {
            let mut r = self.store().reader().await.map_err(|e| e.to_string())?;
            clinicpay_store::organization::load(&mut r)
                .await
                .map_err(|e| e.to_string())?
                .is_some()
        };
        if !configured {
            return Err("No clinic is set up in this database yet.".into());
        }
        let s = self.load_settings().await.map_err(|e| e.to_string())?;
        if s.training_mode {
            return Ok(());
        }
        let gateway = s.active_gateway;
        let address = match gateway {
            clinicpay_domain::Gateway::Stripe => s.stripe_api_base.clone(),
            clinicpay_domain::Gateway::Nmi => s.nmi_api_base.clone(),
        };
        match self.gateway_secret(gateway, address.as_deref()).await {
            Ok(_) => Ok(()),
            Err(ServiceError::CredentialsMissing(why)) => Err(why),
            Err(e) => Err(e.to_string()),
        }
    }

    fn set_engine_here(&self, here: EngineHere) {
        if let Ok(mut h) = self.engine_here.lock() {
            *h = here;
        }
    }

    pub fn engine_here(&self) -> EngineHere {
        self.engine_here
            .lock()
            .map(|h| h.clone())
            .unwrap_or_default()
    }

    /// The engine as billing managers and IT see it.
    pub async fn engine_status(&self, actor: &Actor) -> Result<EngineStatus> {
        actor.require(Permission::RunBilling)?;
        self.engine_status_unchecked().await
    }

    pub(crate) async fn engine_status_unchecked(&self) -> Result<EngineStatus> {
        let now = self.fresh_now().await?;
        let mut r = self.store().reader().await?;
        let row = repo::load(&mut r).await?;
        let due = repo::due_work(&mut r, now).await?;
        let runner = row.holder_at(now).map(|(id, name, kind)| EngineRunner {
            name: name.to_owned(),
            kind: kind.to_owned(),
            since: row.started(),
            this_process: id == self.worker_id(),
        });
        let last_pass_at = row.last_pass();
        let host = self.managed().config.engine_host();
        let warning = stale_warning(last_pass_at, runner.as_ref(), host, now);
        let count = |n: i64| i32::try_from(n).unwrap_or(i32::MAX);
        let last_error_at = row.last_error_time();
        Ok(EngineStatus {
            host,
            runner,
            here: self.engine_here(),
            last_pass_at,
            last_pass_by: row.last_pass_by,
            last_pass_ms: row.last_pass_ms,
            last_pass: row.last_pass_summary,
            last_error_at,
            last_error: row.last_error,
            due: EngineDueWork {
                cycles_due: count(due.cycles_due),
                next_cycle_at: due.next_cycle_at,
                retries_due: count(due.retries_due),
                next_retry_at: due.next_retry_at,
                unsettled_payments: count(due.unsettled_payments),
            },
            warning,
        })
    }
}

/// The top bar's sentence when billing has not run for an hour.
fn stale_warning(
    last_pass: Option<DateTime<Utc>>,
    runner: Option<&EngineRunner>,
    host: EngineHost,
    now: DateTime<Utc>,
) -> Option<String> {
    if last_pass.is_some_and(|t| now - t <= STALE_AFTER) {
        return None;
    }
    let since = match last_pass {
        Some(t) => format!(
            "No billing pass has run since {} UTC",
            t.format("%Y-%m-%d %H:%M")
        ),
        None => "No billing pass has ever run on this clinic's database".to_owned(),
    };
    let why = match (runner, host) {
        (Some(r), _) => format!(
            "the {} {} holds the billing engine but has not finished a pass",
            r.kind, r.name
        ),
        (None, EngineHost::Service) => {
            "IT set billing to run as a service, and no service is running".to_owned()
        }
        (None, EngineHost::Desk) => "no desk or service is running the billing engine".to_owned(),
    };
    Some(format!(
        "{since}: {why}. Subscriptions are not being charged and retries wait. See Settings → Billing engine."
    ))
}

/// The lease an engine pass bills under (see `Services::require_engine_lease`).
#[derive(Debug)]
pub(crate) struct PassLease {
    holder: Holder,
    lease: Duration,
}

/// This process's part, shared between clones of the services.
pub(crate) type EngineHereCell = Arc<Mutex<EngineHere>>;
