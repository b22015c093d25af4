//! The desk inventory: every computer running ClinicPay says, at start and then every few minutes,
//! which version it runs against which database; IT sees them all in one list.

use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use clinicpay_domain::Permission;
use clinicpay_store::desks::{self, DeskReport};
use clinicpay_store::Dialect;
use serde::Serialize;

use crate::{Actor, Result, Services};

/// How often a running desk refreshes its row.
pub const DESK_HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(5 * 60);

/// A desk not seen for longer than this is shown as not running.
const SEEN_RECENTLY: Duration = Duration::minutes(15);

/// This computer as a desk: its lasting id and what it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThisDesk {
    pub desk_id: String,
    pub name: String,
    pub app_version: String,
}

impl ThisDesk {
    /// The desk id kept in `folder` (made on first start), named by the managed configuration or the
    /// computer's name.
    pub fn load(folder: &Path, managed_name: Option<&str>, app_version: &str) -> ThisDesk {
        let file = folder.join("desk-id");
        let desk_id = std::fs::read_to_string(&file)
            .ok()
            .map(|s| s.trim().to_owned())
            .filter(|s| s.len() == 32 && s.chars().all(|c| c.is_ascii_hexdigit()))
            .unwrap_or_else(|| {
                let id = format!("{:032x}", rand::random::<u128>());
                // Not fatal: a desk that cannot keep its id appears as a new desk after a restart.
                let _ = std::fs::create_dir_all(folder).and_then(|_| std::fs::write(&file, &id));
                id
            });
        ThisDesk {
            desk_id,
            name: computer_name(managed_name),
            app_version: app_version.to_owned(),
        }
    }
}

/// How this computer is named to people: IT's managed `desk-name`, else the computer's own name.
pub fn computer_name(managed_name: Option<&str>) -> String {
    managed_name
        .map(str::to_owned)
        .filter(|n| !n.trim().is_empty())
        .or_else(|| {
            hostname::get()
                .ok()
                .and_then(|h| h.into_string().ok())
                .filter(|h| !h.is_empty())
        })
        .unwrap_or_else(|| "This computer".into())
}

/// One desk as IT sees it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct DeskView {
    pub desk_id: String,
    pub name: String,
    pub app_version: String,
    pub os: String,
    /// sqlite or postgres.
    pub database: String,
    pub channel: String,
    /// IT's managed configuration is deployed on it.
    pub managed: bool,
    pub first_seen_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    /// Seen within the last 15 minutes.
    pub running: bool,
    /// The desk's clock minus the database's, in seconds, when it last said.
    pub clock_skew_seconds: Option<i32>,
    /// Said when the desk's clock is more than a minute off.
    pub clock_warning: Option<String>,
}

impl Services {
    /// Records that this desk is running now. Called by the app at start and every
    /// [`DESK_HEARTBEAT`]; nobody signs in for it (it is the computer speaking, not a person).
    pub async fn desk_seen(&self, desk: &ThisDesk) -> Result<()> {
        let settings = self.load_settings().await?;
        let skew = self.sync_clock().await?;
        let report = DeskReport {
            desk_id: desk.desk_id.clone(),
            name: desk.name.clone(),
            app_version: desk.app_version.clone(),
            os: format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
            database_kind: match self.store().dialect() {
                Dialect::Sqlite => "sqlite".into(),
                Dialect::Postgres => "postgres".into(),
            },
            channel: settings.updates.channel.as_str().into(),
            managed: self.managed().source.is_some(),
            clock_skew_ms: skew.map(|s| s.num_milliseconds()),
        };
        let mut tx = self.store().begin().await?;
        desks::seen(&mut tx, &report, self.now()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every desk that ever ran against this database, most recently seen first.
    pub async fn list_desks(&self, actor: &Actor) -> Result<Vec<DeskView>> {
        actor.require(Permission::ManageUpdates)?;
        let now = self.now();
        let mut r = self.store().reader().await?;
        Ok(desks::list(&mut r)
            .await?
            .into_iter()
            .map(|d| DeskView {
                first_seen_at: d.first_seen(),
                last_seen_at: d.last_seen(),
                running: now - d.last_seen() <= SEEN_RECENTLY,
                desk_id: d.desk_id,
                name: d.name,
                app_version: d.app_version,
                os: d.os,
                database: d.database_kind,
                channel: d.channel,
                managed: d.managed,
                clock_skew_seconds: d
                    .clock_skew_ms
                    .map(|ms| (ms / 1000).clamp(i32::MIN.into(), i32::MAX.into()) as i32),
                clock_warning: d
                    .clock_skew_ms
                    .and_then(|ms| crate::clock::clock_warning(Duration::milliseconds(ms))),
            })
            .collect())
    }
}
