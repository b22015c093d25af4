//! Signed auto-updates from the clinic's own update server (`tauri-plugin-updater`). The desk checks at
//! start and every few hours, offers "Restart to update" / "Later today" so nobody is cut off in the
//! middle of a patient, installs only what ClinicPay's release key signed, and says plainly when an
//! update is refused. A manifest may require a minimum version: then there is no "Later today".

use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use clinicpay_services::ErrorCode;
use serde::Serialize;
use tauri::{AppHandle, Manager, Runtime};
use tauri_plugin_updater::{Update, UpdaterExt};

use crate::error::UiError;
use crate::state::AppState;

/// How often a running desk looks again.
pub const CHECK_EVERY: Duration = Duration::from_secs(4 * 60 * 60);
/// The first look, soon after start (not during it: start-up stays quick).
pub const FIRST_CHECK_AFTER: Duration = Duration::from_secs(3);
/// "Later today" hides the prompt this long.
const LATER_TODAY: chrono::Duration = chrono::Duration::hours(4);

/// Where the desk's updating stands, for the window's prompt and IT's settings screen.
#[derive(Debug, Clone, Serialize, specta::Type)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum UpdatePhase {
    /// No update server is set (neither by IT's managed configuration nor in settings).
    NotConfigured,
    NotCheckedYet,
    Checking,
    UpToDate,
    Available {
        version: String,
        notes: Option<String>,
        /// The manifest's minimum version is above this desk's: it must update.
        required: bool,
    },
    Downloading {
        version: String,
        received: f64,
        total: Option<f64>,
    },
    Installing {
        version: String,
    },
    /// The download did not match ClinicPay's release signature: nothing was installed.
    Refused {
        version: String,
        message: String,
    },
    Failed {
        message: String,
    },
}

#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct UpdateStatus {
    pub current_version: String,
    pub channel: String,
    pub manifest_url: Option<String>,
    pub phase: UpdatePhase,
    pub last_checked_at: Option<DateTime<Utc>>,
    /// "Later today" was chosen: the prompt stays hidden until then.
    pub postponed_until: Option<DateTime<Utc>>,
}

pub struct Updates {
    status: Mutex<UpdateStatus>,
    pending: Mutex<Option<Update>>,
}

impl Updates {
    pub fn new(current_version: String) -> Updates {
        Updates {
            status: Mutex::new(UpdateStatus {
                current_version,
                channel: "stable".into(),
                manifest_url: None,
                phase: UpdatePhase::NotCheckedYet,
                last_checked_at: None,
                postponed_until: None,
            }),
            pending: Mutex::new(None),
        }
    }

    pub fn status(&self) -> UpdateStatus {
        self.status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn set(&self, f: impl FnOnce(&mut UpdateStatus)) {
        f(&mut self.status.lock().unwrap_or_else(|e| e.into_inner()));
    }

    fn set_phase(&self, phase: UpdatePhase) {
        self.set(|s| s.phase = phase);
    }

    /// "Later today": refused when the clinic requires this update.
    pub fn postpone(&self, now: DateTime<Utc>) -> Result<UpdateStatus, UiError> {
        let mut s = self.status.lock().unwrap_or_else(|e| e.into_inner());
        if let UpdatePhase::Available { required: true, .. } = s.phase {
            return Err(UiError {
                code: ErrorCode::ManagedByIt,
                message: "Your clinic requires this update: finish with the current patient, then choose Restart to update.".into(),
            });
        }
        s.postponed_until = Some(now + LATER_TODAY);
        Ok(s.clone())
    }
}

/// The manifest's `minimum_version` (ClinicPay's addition to Tauri's format) is above `current`.
pub fn is_required(current: &str, manifest: &serde_json::Value) -> bool {
    let minimum = manifest
        .get("minimum_version")
        .and_then(|v| v.as_str())
        .and_then(|v| semver::Version::parse(v.trim_start_matches('v')).ok());
    match (semver::Version::parse(current), minimum) {
        (Ok(current), Some(minimum)) => current < minimum,
        _ => false,
    }
}

/// Looks for an update now. Never fails the desk: a server that cannot be reached is a status line.
pub async fn check<R: Runtime>(app: &AppHandle<R>) {
    let updates = app.state::<Updates>();
    let state = app.state::<AppState>();
    let Ok(services) = state.services() else {
        return;
    };
    let settings = match services.update_settings().await {
        Ok(s) => s,
        Err(e) => {
            return updates.set_phase(UpdatePhase::Failed {
                message: e.to_string(),
            })
        }
    };
    let manifest_url = settings.manifest_url();
    updates.set(|s| {
        s.channel = settings.channel.as_str().into();
        s.manifest_url = manifest_url.clone();
    });
    let Some(url) = manifest_url else {
        return updates.set_phase(UpdatePhase::NotConfigured);
    };
    if matches!(
        updates.status().phase,
        UpdatePhase::Downloading { .. } | UpdatePhase::Installing { .. }
    ) {
        return;
    }
    updates.set_phase(UpdatePhase::Checking);
    let found = async {
        let url = url.parse().map_err(|e| format!("{e}"))?;
        app.updater_builder()
            .endpoints(vec![url])
            .map_err(|e| e.to_string())?
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| e.to_string())?
            .check()
            .await
            .map_err(|e| e.to_string())
    }
    .await;
    let now = Utc::now();
    updates.set(|s| s.last_checked_at = Some(now));
    match found {
        Ok(Some(update)) => {
            let current = updates.status().current_version;
            let required = is_required(&current, &update.raw_json);
            tracing::info!(version = %update.version, required, "update available");
            updates.set_phase(UpdatePhase::Available {
                version: update.version.clone(),
                notes: update.body.clone(),
                required,
            });
            *updates.pending.lock().unwrap_or_else(|e| e.into_inner()) = Some(update);
        }
        Ok(None) => updates.set_phase(UpdatePhase::UpToDate),
        Err(e) => {
            tracing::warn!(%url, error = %e, "update check failed");
            updates.set_phase(UpdatePhase::Failed {
                message: format!(
                    "ClinicPay could not check for updates at {url} ({e}). It keeps working and will try again later; if this stays, tell IT."
                ),
            })
        }
    }
}

/// Downloads, verifies against ClinicPay's release key, installs and restarts. A download that does
/// not match its signature is refused and the desk keeps running the version it has.
pub async fn install<R: Runtime>(app: &AppHandle<R>) -> Result<(), UiError> {
    let updates = app.state::<Updates>();
    let update = updates
        .pending
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .ok_or_else(|| UiError {
            code: ErrorCode::NotFound,
            message: "No update is waiting for this desk. Check again from Settings.".into(),
        })?;
    let version = update.version.clone();
    let current = updates.status().current_version;
    updates.set_phase(UpdatePhase::Downloading {
        version: version.clone(),
        received: 0.0,
        total: None,
    });
    let mut received = 0u64;
    let bytes = update
        .download(
            |chunk, total| {
                received += chunk as u64;
                updates.set_phase(UpdatePhase::Downloading {
                    version: version.clone(),
                    received: received as f64,
                    total: total.map(|t| t as f64),
                });
            },
            || {},
        )
        .await;
    let bytes = match bytes {
        Ok(bytes) => bytes,
        Err(e) if is_signature_error(&e) => {
            tracing::warn!(%version, error = %e, "update refused: signature");
            let message = format!(
                "The update to ClinicPay {version} was refused: it is not signed with ClinicPay's release key, or it was changed after signing. Nothing was installed and ClinicPay {current} keeps working. Tell IT."
            );
            updates.set_phase(UpdatePhase::Refused {
                version: version.clone(),
                message: message.clone(),
            });
            *updates.pending.lock().unwrap_or_else(|e| e.into_inner()) = None;
            return Err(UiError {
                code: ErrorCode::InvalidInput,
                message,
            });
        }
        Err(e) => {
            let message = format!(
                "The update to ClinicPay {version} could not be downloaded ({e}). ClinicPay {current} keeps working; try again later."
            );
            updates.set_phase(UpdatePhase::Available {
                version: version.clone(),
                notes: update.body.clone(),
                required: false,
            });
            return Err(UiError {
                code: ErrorCode::GatewayUnavailable,
                message,
            });
        }
    };
    updates.set_phase(UpdatePhase::Installing {
        version: version.clone(),
    });
    tracing::info!(%version, bytes = bytes.len(), "installing update");
    // The installer (dpkg, msiexec, NSIS) blocks: keep it off the async threads.
    let installed = tauri::async_runtime::spawn_blocking(move || update.install(bytes))
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r.map_err(|e| e.to_string()));
    if let Err(e) = installed {
        tracing::warn!(%version, error = %e, "update install failed");
        let message = format!(
            "ClinicPay {version} was downloaded and verified but could not be installed ({e}). ClinicPay {current} keeps working; tell IT."
        );
        updates.set_phase(UpdatePhase::Failed {
            message: message.clone(),
        });
        return Err(UiError {
            code: ErrorCode::Internal,
            message,
        });
    }
    tracing::info!(%version, "update installed; restarting");
    app.restart()
}

fn is_signature_error(e: &tauri_plugin_updater::Error) -> bool {
    use tauri_plugin_updater::Error::*;
    matches!(
        e,
        Minisign(_)
            | Base64(_)
            | SignatureUtf8(_)
            | SignedVersionMismatch { .. }
            | MissingSignedVersion
    )
}

/// The desk's own timer: a first look shortly after start, then every [`CHECK_EVERY`].
pub fn start_checking<R: Runtime>(app: AppHandle<R>) {
    tauri::async_runtime::spawn(async move {
        tokio::time::sleep(FIRST_CHECK_AFTER).await;
        loop {
            check(&app).await;
            tokio::time::sleep(CHECK_EVERY).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minimum_version_above_this_desk_makes_the_update_required() {
        let m = |v: &str| serde_json::json!({ "version": "0.3.0", "minimum_version": v });
        assert!(is_required("0.1.0", &m("0.2.0")));
        assert!(!is_required("0.2.0", &m("0.2.0")));
        assert!(!is_required(
            "0.1.0",
            &serde_json::json!({ "version": "0.3.0" })
        ));
        assert!(!is_required("0.1.0", &m("not a version")));
    }

    #[test]
    fn later_today_is_refused_for_a_required_update() {
        let u = Updates::new("0.1.0".into());
        u.set_phase(UpdatePhase::Available {
            version: "0.2.0".into(),
            notes: None,
            required: true,
        });
        assert_eq!(
            u.postpone(Utc::now()).unwrap_err().code,
            ErrorCode::ManagedByIt
        );
        u.set_phase(UpdatePhase::Available {
            version: "0.2.0".into(),
            notes: None,
            required: false,
        });
        let now = Utc::now();
        assert_eq!(
            u.postpone(now).unwrap().postponed_until,
            Some(now + LATER_TODAY)
        );
    }
}
