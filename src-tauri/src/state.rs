//! What the shell holds between commands: the services over the open database, and who is signed in.

use std::sync::Arc;

use clinicpay_domain::SystemClock;
use clinicpay_services::{Actor, ErrorCode, Services};
use clinicpay_store::Store;
use tokio::sync::RwLock;

use crate::error::UiError;

pub struct AppState {
    /// The services, or why the database could not be opened (shown in the window, never a blank screen).
    services: Result<Services, UiError>,
    session: RwLock<Option<Actor>>,
    pub database: String,
}

impl AppState {
    pub async fn open(url: &str) -> AppState {
        let services = match Store::open(url).await {
            Ok(store) => Ok(Services::new(store, Arc::new(SystemClock))),
            Err(e) => Err(UiError {
                code: ErrorCode::DatabaseUnavailable,
                message: format!(
                    "ClinicPay cannot open its database ({}). Check the connection, or ask IT.",
                    e
                ),
            }),
        };
        AppState {
            services,
            session: RwLock::new(None),
            database: clinicpay_store::redact_url(url),
        }
    }

    pub fn services(&self) -> Result<&Services, UiError> {
        self.services.as_ref().map_err(Clone::clone)
    }

    /// The services and the signed-in staff member, or `not_signed_in`.
    pub async fn signed_in(&self) -> Result<(&Services, Actor), UiError> {
        let services = self.services()?;
        let actor = self
            .session
            .read()
            .await
            .clone()
            .ok_or_else(UiError::not_signed_in)?;
        Ok((services, actor))
    }

    pub async fn set_session(&self, actor: Option<Actor>) {
        *self.session.write().await = actor;
    }

    pub async fn session(&self) -> Option<Actor> {
        self.session.read().await.clone()
    }
}
