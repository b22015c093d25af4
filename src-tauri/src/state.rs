//! What the shell holds between commands: the services over the open database, who is signed in, and
//! in training mode the gateway simulator the app started for itself.

use std::path::PathBuf;
use std::sync::Arc;

use clinicpay_domain::{StaffId, SystemClock};
use clinicpay_services::desk::DeskSession;
use clinicpay_services::desk_inventory::ThisDesk;
use clinicpay_services::managed::Managed;
use clinicpay_services::{Actor, ErrorCode, Services};
use clinicpay_sim::{SimConfig, Simulator};
use clinicpay_store::Store;
use tokio::sync::RwLock;

use crate::error::UiError;

pub struct AppState {
    /// The services, or why the database could not be opened (shown in the window, never a blank screen).
    /// Replaced once, when a new desk opens the demo clinic from the first-run screen (`switch_to`).
    services: std::sync::RwLock<Result<Services, UiError>>,
    session: RwLock<Option<DeskSession>>,
    /// Training mode's simulator: it serves the card fields and answers as both gateways. Dropping it
    /// stops it, so it lives exactly as long as the app. Started too for a database with no clinic
    /// yet, so the demo clinic can be opened from the first-run screen without a restart (the window's
    /// policy names the simulator's address when the app starts).
    pub simulator: Option<Simulator>,
    /// The running recovery sweep: who started it and its stop flag (one sweep at a time per desk).
    #[allow(clippy::type_complexity)]
    sweep: std::sync::Mutex<Option<(StaffId, Arc<std::sync::atomic::AtomicBool>)>>,
    /// The database address as given (with any password): only handed to services that redact it.
    database_url: std::sync::RwLock<String>,
    /// This computer in the desk inventory.
    pub desk: Option<ThisDesk>,
    pub app_version: String,
    /// The clinic as the app found it when opening the database: the window's first screen is drawn
    /// from it (the boot script in lib.rs) without asking again.
    pub clinic_at_start: Option<clinicpay_services::clinic::ClinicInfo>,
}

impl AppState {
    /// Opens the desk's database with IT's managed configuration of this computer applied.
    pub async fn open(url: &str, managed: Managed) -> AppState {
        let store = match Store::open_with(url, &managed.database_trust()).await {
            Ok(store) => store,
            Err(e @ clinicpay_store::StoreError::NewerSchema(_)) => {
                return AppState::failed(
                    url,
                    format!("ClinicPay cannot open this clinic's database: {e}."),
                )
            }
            Err(e) => {
                return AppState::failed(
                    url,
                    format!(
                        "ClinicPay cannot open its database ({e}). Check the connection, or ask IT."
                    ),
                )
            }
        };
        let services = Services::new(store, Arc::new(SystemClock)).with_managed(managed);
        let info = services.clinic_info().await;
        let at_start = info.as_ref().ok().cloned();
        // A training clinic on a desk where IT forbids training: say so instead of opening it.
        if info.as_ref().is_ok_and(|c| c.training_refused) {
            if let Err(e) = services.require_training_allowed() {
                return AppState::failed(url, e.to_string());
            }
        }
        // A training clinic talks to the app's own simulator; so may a database with no clinic yet,
        // whose person may open the demo clinic from the first-run screen.
        let allowed = services.managed().config.training_allowed();
        let training = info
            .map(|c| c.training_mode || (!c.configured && allowed))
            .unwrap_or(false);
        if !training {
            return AppState::ready(url, services, None).started_with(at_start);
        }
        // The simulator keeps its vault next to the database, so cards saved in training still charge
        // after a restart.
        let config = SimConfig {
            state_file: Some(simulator_state_file(url)),
            adopt_demo_cards: true,
            ..SimConfig::default()
        };
        match Simulator::start(config).await {
            Ok(sim) => {
                let services = services.with_training_simulator(sim.base_url());
                AppState::ready(url, services, Some(sim)).started_with(at_start)
            }
            Err(e) => AppState::failed(
                url,
                format!("Training mode could not start its built-in gateway simulator ({e}). Restart ClinicPay; if it happens again, ask IT."),
            ),
        }
    }

    fn ready(url: &str, services: Services, simulator: Option<Simulator>) -> AppState {
        // Document 003: after a card is saved the app retries that patient's recovery orders (with
        // the services as finally set up, so training retries reach the app's own simulator).
        services.retry_recovery_when_cards_are_saved();
        AppState {
            services: std::sync::RwLock::new(Ok(services)),
            session: RwLock::new(None),
            simulator,
            sweep: std::sync::Mutex::new(None),
            database_url: std::sync::RwLock::new(url.to_owned()),
            desk: None,
            app_version: String::new(),
            clinic_at_start: None,
        }
    }

    fn started_with(mut self, clinic: Option<clinicpay_services::clinic::ClinicInfo>) -> AppState {
        self.clinic_at_start = clinic;
        self
    }

    pub fn failed(url: &str, message: String) -> AppState {
        AppState {
            services: std::sync::RwLock::new(Err(UiError {
                code: ErrorCode::DatabaseUnavailable,
                message,
            })),
            session: RwLock::new(None),
            simulator: None,
            sweep: std::sync::Mutex::new(None),
            database_url: std::sync::RwLock::new(url.to_owned()),
            desk: None,
            app_version: String::new(),
            clinic_at_start: None,
        }
    }

    /// Names this desk and its version (for the desk inventory and diagnostics).
    pub fn with_desk(mut self, desk: ThisDesk) -> AppState {
        self.app_version = desk.app_version.clone();
        self.desk = Some(desk);
        self
    }

    pub fn database_url(&self) -> String {
        self.database_url
            .read()
            .map(|u| u.clone())
            .unwrap_or_default()
    }

    /// Opens the clinic at `url` in place of the one this desk opened (the first-run screen's demo
    /// clinic, or the clinic's PostgreSQL): new services over it, with the app's simulator (used only
    /// by a training clinic), and nobody signed in.
    pub async fn switch_to(&self, url: &str, managed: Managed) -> Result<Services, UiError> {
        let store = Store::open_with(url, &managed.database_trust())
            .await
            .map_err(|e| UiError {
                code: ErrorCode::DatabaseUnavailable,
                message: format!(
                    "ClinicPay cannot open the database at {} ({e}).",
                    clinicpay_store::redact_url(url)
                ),
            })?;
        let mut services = Services::new(store, Arc::new(SystemClock)).with_managed(managed);
        if let Some(sim) = &self.simulator {
            services = services.with_training_simulator(sim.base_url());
        }
        services.retry_recovery_when_cards_are_saved();
        *self.session.write().await = None;
        if let Ok(mut current) = self.services.write() {
            *current = Ok(services.clone());
        }
        if let Ok(mut current) = self.database_url.write() {
            *current = url.to_owned();
        }
        Ok(services)
    }

    /// Marks a sweep as running and gives its stop flag; refuses a second one.
    pub fn start_sweep(&self, by: &Actor) -> Result<Arc<std::sync::atomic::AtomicBool>, UiError> {
        let mut running = self.sweep.lock().unwrap_or_else(|e| e.into_inner());
        if running.is_some() {
            return Err(UiError {
                code: ErrorCode::Conflict,
                message:
                    "A recovery sweep is already running at this desk: wait for it or cancel it."
                        .into(),
            });
        }
        let flag = Arc::new(std::sync::atomic::AtomicBool::new(false));
        *running = Some((by.id, flag.clone()));
        Ok(flag)
    }

    pub fn end_sweep(&self) {
        *self.sweep.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// Stops the sweep between orders, if the person asking is the one who started it.
    pub fn cancel_sweep(&self, by: &Actor) -> Result<(), UiError> {
        match self
            .sweep
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            Some((started_by, flag)) if *started_by == by.id => {
                flag.store(true, std::sync::atomic::Ordering::Relaxed);
                Ok(())
            }
            Some(_) => Err(UiError {
                code: ErrorCode::PermissionDenied,
                message: "Someone else started this recovery sweep: only they can cancel it."
                    .into(),
            }),
            None => Ok(()),
        }
    }

    /// `http://127.0.0.1:PORT` while training mode's simulator runs.
    pub fn simulator_origin(&self) -> Option<String> {
        self.simulator.as_ref().map(Simulator::base_url)
    }

    /// The services over the open database (a cheap handle: clones share everything).
    pub fn services(&self) -> Result<Services, UiError> {
        self.services
            .read()
            .map_err(|_| UiError {
                code: ErrorCode::Internal,
                message: "ClinicPay's state is damaged: restart ClinicPay.".into(),
            })?
            .clone()
    }

    /// The services and the signed-in staff member, or `not_signed_in`: the services end a session
    /// left idle past the desk lock, apply a role IT changed to this very command, and end the session
    /// of an account IT switched off.
    pub async fn signed_in(&self) -> Result<(Services, Actor), UiError> {
        let services = self.services()?;
        let mut guard = self.session.write().await;
        let session = guard.as_mut().ok_or_else(UiError::not_signed_in)?;
        match services.desk_session_actor(session).await {
            Ok(actor) => Ok((services, actor)),
            Err(e) => {
                if e.code() == ErrorCode::NotSignedIn {
                    *guard = None;
                }
                Err(e.into())
            }
        }
    }

    /// Signs a person in at this desk (ending whoever was signed in before).
    pub async fn open_session(&self, username: &str, password: &str) -> Result<Actor, UiError> {
        let services = self.services()?;
        let session = services.open_desk_session(username, password).await?;
        let actor = session.actor().clone();
        *self.session.write().await = Some(session);
        Ok(actor)
    }

    /// A person did something at the desk (keys, clicks): the idle lock starts again, unless the
    /// session already passed it (then it is over).
    pub async fn activity(&self) -> Result<(), UiError> {
        let services = self.services()?;
        let mut guard = self.session.write().await;
        let Some(session) = guard.as_mut() else {
            return Ok(());
        };
        if let Err(e) = services.desk_activity(session).await {
            if e.code() == ErrorCode::NotSignedIn {
                *guard = None;
            }
            return Err(e.into());
        }
        Ok(())
    }

    /// The person signed in changes their own password; they stay signed in here.
    pub async fn change_own_password(&self, current: &str, new: &str) -> Result<(), UiError> {
        let services = self.services()?;
        let mut guard = self.session.write().await;
        let session = guard.as_mut().ok_or_else(UiError::not_signed_in)?;
        match services.change_desk_password(session, current, new).await {
            Ok(()) => Ok(()),
            Err(e) => {
                if e.code() == ErrorCode::NotSignedIn {
                    *guard = None;
                }
                Err(e.into())
            }
        }
    }

    /// Ends the session on purpose (sign-out, the window's lock), in the activity log.
    pub async fn close_session(&self, why: &str) -> Result<(), UiError> {
        let ended = self.session.write().await.take();
        if let (Some(session), Ok(services)) = (ended, self.services()) {
            services.close_desk_session(session, why).await?;
        }
        Ok(())
    }

    pub async fn session(&self) -> Option<Actor> {
        self.session
            .read()
            .await
            .as_ref()
            .map(|s| s.actor().clone())
    }

    /// Where escalation PDFs go: `CLINICPAY_REPORTS_DIR`, else Documents/ClinicPay, else the app's data.
    pub fn reports_folder(&self) -> PathBuf {
        if let Some(dir) = std::env::var_os("CLINICPAY_REPORTS_DIR").filter(|d| !d.is_empty()) {
            return PathBuf::from(dir);
        }
        directories::UserDirs::new()
            .and_then(|u| u.document_dir().map(|d| d.join("ClinicPay")))
            .or_else(|| {
                directories::ProjectDirs::from("com", "ClinicPay", "ClinicPay")
                    .map(|d| d.data_dir().join("reports"))
            })
            .unwrap_or_else(|| PathBuf::from("ClinicPay reports"))
    }
}

/// `clinic.db` → `clinic.db.training-gateways.json`; a server database → the app's data folder.
fn simulator_state_file(url: &str) -> PathBuf {
    let file = url.strip_prefix("sqlite://").unwrap_or(url);
    let file = file.split('?').next().unwrap_or(file);
    if !url.starts_with("postgres") && !file.is_empty() {
        return PathBuf::from(format!("{file}.training-gateways.json"));
    }
    directories::ProjectDirs::from("com", "ClinicPay", "ClinicPay")
        .map(|d| d.data_dir().join("training-gateways.json"))
        .unwrap_or_else(|| PathBuf::from("training-gateways.json"))
}
