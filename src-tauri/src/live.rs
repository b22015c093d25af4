//! Passes the database's change feed to the window as `DataChanged` events: the screens showing what
//! changed reload it, and after a lost connection every screen reloads.

use clinicpay_domain::PatientId;
use clinicpay_services::live::FeedEvent;
use clinicpay_services::Services;
use serde::{Deserialize, Serialize};
use tauri::AppHandle;
use tauri_specta::Event;

#[derive(Debug, Clone, Copy, Serialize, Deserialize, specta::Type, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum LiveKind {
    /// Something was changed (at this desk or another).
    Change,
    /// The connection to the clinic's database was lost: show it, offer nothing that moves money.
    Lost,
    /// Back: reload everything on screen.
    Reconnected,
}

#[derive(Debug, Clone, Serialize, Deserialize, specta::Type, Event)]
pub struct DataChanged {
    pub kind: LiveKind,
    /// The patient the change is about, when it is about one.
    pub patient_id: Option<PatientId>,
    /// e.g. payment_method, payment, invoice, order, setting.
    pub subject_type: Option<String>,
    /// e.g. card.added, payment.succeeded.
    pub action: Option<String>,
}

impl From<FeedEvent> for DataChanged {
    fn from(e: FeedEvent) -> Self {
        match e {
            FeedEvent::Change(n) => DataChanged {
                kind: LiveKind::Change,
                patient_id: n.patient_id.map(PatientId),
                subject_type: Some(n.subject_type),
                action: Some(n.action),
            },
            FeedEvent::Lost => DataChanged {
                kind: LiveKind::Lost,
                patient_id: None,
                subject_type: None,
                action: None,
            },
            FeedEvent::Reconnected => DataChanged {
                kind: LiveKind::Reconnected,
                patient_id: None,
                subject_type: None,
                action: None,
            },
        }
    }
}

/// Listens for as long as the app runs (PostgreSQL only).
pub fn start<R: tauri::Runtime>(app: AppHandle<R>, services: Services) {
    tauri::async_runtime::spawn(async move {
        let mut feed = loop {
            match services.change_feed().await {
                Ok(Some(feed)) => break feed,
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "live updates not started; trying again");
                    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                }
            }
        };
        while let Some(event) = feed.next().await {
            if !matches!(event, FeedEvent::Change(_)) {
                tracing::info!(?event, "database connection");
            }
            DataChanged::from(event).emit(&app).ok();
        }
    });
}
