//! The window's commands: each reads the state, calls one service, and maps the error.

use clinicpay_domain::{Patient, PatientId, Role};
use clinicpay_services::clinic::ClinicInfo;
use clinicpay_services::patients::PatientProfile;
use clinicpay_services::Actor;
use serde::Serialize;
use tauri::State;

use crate::error::UiError;
use crate::state::AppState;

/// The person signed in at this desk.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct Session {
    pub username: String,
    pub display_name: String,
    pub role: Role,
    /// "Front desk", "Billing manager", "IT".
    pub role_label: String,
}

impl From<&Actor> for Session {
    fn from(a: &Actor) -> Self {
        Session {
            username: a.username.clone(),
            display_name: a.display_name.clone(),
            role: a.role,
            role_label: a.role.display_name().into(),
        }
    }
}

#[tauri::command]
#[specta::specta]
pub async fn clinic_info(state: State<'_, AppState>) -> Result<ClinicInfo, UiError> {
    Ok(state.services()?.clinic_info().await?)
}

#[tauri::command]
#[specta::specta]
pub async fn sign_in(
    state: State<'_, AppState>,
    username: String,
    password: String,
) -> Result<Session, UiError> {
    let actor = state.services()?.sign_in(&username, &password).await?;
    let session = Session::from(&actor);
    state.set_session(Some(actor)).await;
    Ok(session)
}

#[tauri::command]
#[specta::specta]
pub async fn sign_out(state: State<'_, AppState>) -> Result<(), UiError> {
    state.set_session(None).await;
    Ok(())
}

#[tauri::command]
#[specta::specta]
pub async fn current_session(state: State<'_, AppState>) -> Result<Option<Session>, UiError> {
    Ok(state.session().await.as_ref().map(Session::from))
}

#[tauri::command]
#[specta::specta]
pub async fn search_patients(
    state: State<'_, AppState>,
    query: String,
) -> Result<Vec<Patient>, UiError> {
    let (s, actor) = state.signed_in().await?;
    Ok(s.search_patients(&actor, &query).await?)
}

#[tauri::command]
#[specta::specta]
pub async fn patient_profile(
    state: State<'_, AppState>,
    patient_id: PatientId,
) -> Result<PatientProfile, UiError> {
    let (s, actor) = state.signed_in().await?;
    Ok(s.patient_profile(&actor, patient_id).await?)
}
