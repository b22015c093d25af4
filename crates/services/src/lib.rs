//! ClinicPay's use cases. Each public method is one thing a person at the clinic does: it checks who is
//! asking, applies the domain rules, writes the change and its activity-log entry in one transaction,
//! and answers in the clinic's words. The desktop shell and the CLI are thin layers over this crate.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use clinicpay_domain::{Clock, OrganizationSettings, Permission, Role, StaffId};
use clinicpay_store::activity::NewActivity;
use clinicpay_store::{organization, Store, Tx};
use serde::Serialize;

/// A build for ClinicPay's own tests (`--features test-build`, switched on by the test crates only):
/// `--now` on any clinic, and a live clinic on the stand-ins the tests run on this computer. Never in a
/// shipped package (`clinicpay --version` says "test build").
pub const TEST_BUILD: bool = cfg!(feature = "test-build");

pub mod audit;
pub mod billing;
pub mod card_dependents;
pub mod card_pages;
pub mod card_refresh;
pub mod card_verify;
pub mod cards;
pub mod clinic;
pub mod clock;
pub mod credentials;
pub mod dbcopy;
pub mod demo;
pub mod desk;
pub mod desk_inventory;
pub mod diagnostics;
pub mod engine;
mod error;
pub mod gateway_switch;
pub mod gateways;
pub mod live;
pub mod managed;
pub mod overview;
pub mod patients;
mod pdf;
pub mod processor_log;
pub mod reconcile;
pub mod recovery;
pub mod reminders;
pub mod reports;
pub mod settings;
pub mod setup;
pub mod staff;
pub mod subscriptions;

pub use error::{ErrorCode, ServiceError};

pub type Result<T, E = ServiceError> = std::result::Result<T, E>;

/// The staff member on whose behalf a service runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Actor {
    pub id: StaffId,
    pub username: String,
    pub display_name: String,
    pub role: Role,
}

impl Actor {
    /// Refuses unless the actor's role holds `permission`.
    pub fn require(&self, permission: Permission) -> Result<()> {
        if self.role.allows(permission) {
            Ok(())
        } else {
            Err(ServiceError::PermissionDenied(permission))
        }
    }
}

/// The services over one database and one clock.
#[derive(Clone)]
pub struct Services {
    store: Store,
    clock: Arc<dyn Clock>,
    credentials: Arc<dyn credentials::CredentialStore>,
    events: tokio::sync::broadcast::Sender<cards::CardSaved>,
    /// Names this process when it takes a singleton job.
    worker_id: Arc<str>,
    /// Gateway secrets read from the keychain by this process (never written anywhere).
    secrets: Arc<
        tokio::sync::Mutex<
            std::collections::HashMap<clinicpay_domain::Gateway, clinicpay_gateways::Secret>,
        >,
    >,
    /// The simulator this process started for training mode (the desktop app starts its own).
    training_simulator: Option<Arc<str>>,
    /// A test build's services that keep the shipped rules (to test those rules).
    as_shipped: bool,
    /// What IT pinned on this computer (`managed.toml`); wins over the clinic's settings.
    managed: Arc<managed::Managed>,
    /// The database's time as last read: "now" for every desk and worker (see `clock`).
    database_time: Arc<std::sync::Mutex<Option<clock::DatabaseTime>>>,
    /// This process's part in the billing engine (see `engine`).
    engine_here: engine::EngineHereCell,
    /// Set on the services an engine pass runs with: every charge first renews the engine's lease, so
    /// a desk that slept through a takeover sends nothing (see `engine`).
    engine_lease: Option<Arc<engine::PassLease>>,
    /// When the billing engine next refreshes expiring cards from the card networks' updates (see
    /// `card_refresh`): later after a gateway would not answer, or once every card was fresh.
    card_refresh_next: Arc<std::sync::Mutex<Option<DateTime<Utc>>>>,
    /// How many search terms start with words typed lately, to choose which word a search reads from.
    term_counts: Arc<clinicpay_store::patients::TermCounts>,
    /// How long a pass keeps billing due cycles before the rest of its work (see `recovery::cycles`).
    cycles_per_pass: std::time::Duration,
}

impl Services {
    /// Services whose gateway secrets come from this computer's keychain.
    pub fn new(store: Store, clock: Arc<dyn Clock>) -> Services {
        Services::with_credentials(store, clock, Arc::new(credentials::Keychain::from_env()))
    }

    pub fn with_credentials(
        store: Store,
        clock: Arc<dyn Clock>,
        credentials: Arc<dyn credentials::CredentialStore>,
    ) -> Services {
        Services {
            store,
            clock,
            credentials,
            events: tokio::sync::broadcast::channel(256).0,
            worker_id: format!("pid{}-{:08x}", std::process::id(), rand::random::<u32>()).into(),
            secrets: Arc::default(),
            training_simulator: None,
            as_shipped: false,
            managed: Arc::default(),
            database_time: Arc::default(),
            engine_here: Arc::default(),
            engine_lease: None,
            card_refresh_next: Arc::default(),
            term_counts: Arc::default(),
            cycles_per_pass: recovery::CYCLES_PER_PASS,
        }
    }

    /// Services that apply IT's managed configuration of this computer.
    pub fn with_managed(mut self, managed: managed::Managed) -> Services {
        self.managed = Arc::new(managed);
        self
    }

    pub fn managed(&self) -> &managed::Managed {
        &self.managed
    }

    /// In training mode, talk to this simulator (`http://127.0.0.1:PORT`) whatever the settings say:
    /// the desktop app starts one inside itself, on a port that changes with every start.
    pub fn with_training_simulator(mut self, base_url: impl Into<String>) -> Services {
        self.training_simulator = Some(Arc::from(base_url.into()));
        self
    }

    /// Services that keep a shipped build's rules even in a test build (`CLINICPAY_AS_SHIPPED=1` for
    /// the CLI), so tests can meet the refusals a clinic meets.
    pub fn as_shipped(mut self) -> Services {
        self.as_shipped = true;
        self
    }

    /// Whether this is a test build's relaxed rules (see [`TEST_BUILD`]).
    pub(crate) fn test_build(&self) -> bool {
        TEST_BUILD && !self.as_shipped
    }

    pub(crate) fn training_simulator(&self) -> Option<&str> {
        self.training_simulator.as_deref()
    }

    pub fn worker_id(&self) -> &str {
        &self.worker_id
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Now: the database's time when this is a computer's clock and the database's was read (see
    /// `clock`), else the clock's.
    pub fn now(&self) -> DateTime<Utc> {
        if self.clock.is_machine_clock() {
            if let Some(t) = self.database_time.lock().ok().and_then(|t| *t) {
                return t.now();
            }
        }
        self.clock.now()
    }

    /// The clinic's settings; a database that was never configured has the defaults.
    pub(crate) async fn load_settings(&self) -> Result<OrganizationSettings> {
        let mut r = self.store.reader().await?;
        let saved = organization::load(&mut r).await?.unwrap_or_default();
        Ok(self.managed.config.apply(saved)?)
    }
}

/// One entry for the activity log, built up and then recorded in the transaction of the change.
pub(crate) struct Change(NewActivity);

impl Change {
    pub(crate) fn new(
        actor: Option<&Actor>,
        at: DateTime<Utc>,
        action: &str,
        subject_type: &str,
        subject_id: impl ToString,
    ) -> Change {
        Change(NewActivity {
            at,
            actor_id: actor.map(|a| a.id.0),
            actor_name: actor.map_or_else(|| "ClinicPay setup".to_owned(), |a| a.username.clone()),
            action: action.into(),
            subject_type: subject_type.into(),
            subject_id: subject_id.to_string(),
            patient_id: None,
            before: None,
            after: None,
        })
    }

    /// Names the automatic process that made a change nobody asked for by hand.
    pub(crate) fn by_system(mut self, name: &str) -> Change {
        self.0.actor_name = name.into();
        self
    }

    /// [`Self::by_system`] when no staff member made the change.
    pub(crate) fn unless_staff(self, actor: Option<&Actor>, name: &str) -> Change {
        match actor {
            Some(_) => self,
            None => self.by_system(name),
        }
    }

    pub(crate) fn patient(mut self, id: clinicpay_domain::PatientId) -> Change {
        self.0.patient_id = Some(id.0);
        self
    }

    pub(crate) fn before(mut self, state: impl Serialize) -> Change {
        self.0.before = serde_json::to_value(state).ok();
        self
    }

    pub(crate) fn after(mut self, state: impl Serialize) -> Change {
        self.0.after = serde_json::to_value(state).ok();
        self
    }

    pub(crate) async fn record(self, tx: &mut Tx) -> Result<()> {
        clinicpay_store::activity::append(tx, self.0).await?;
        Ok(())
    }
}
