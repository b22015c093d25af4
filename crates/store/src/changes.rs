//! The change feed between desks (PostgreSQL): every activity-log entry also sends a NOTIFY on the
//! schema's own channel, inside the transaction, so it reaches the other desks exactly when the change
//! commits (and never if it rolls back). A desk listens with one connection of its own. SQLite desks
//! work alone and have no feed.

use serde::{Deserialize, Serialize};
use sqlx::postgres::PgListener;

use crate::{Pools, Result, Store};

/// The channel of this schema: desks on other schemas (test runs, other clinics) hear nothing.
pub(crate) const CHANNEL_SQL: &str = "'clinicpay_changes_' || current_schema()";

/// What changed, as the activity log recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeNotice {
    pub seq: i64,
    pub action: String,
    pub subject_type: String,
    pub subject_id: String,
    pub patient_id: Option<i64>,
    /// Milliseconds since the epoch at which the change was recorded (for the propagation figures).
    pub at: i64,
}

/// What the feed says next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedEvent {
    Change(ChangeNotice),
    /// The database connection is gone; the feed keeps trying to come back.
    Lost,
    /// Back after a loss: anything may have changed meanwhile, so whoever shows data reloads it.
    Reconnected,
}

pub struct ChangeFeed {
    listener: PgListener,
    channel: String,
    lost: bool,
}

impl Store {
    /// The live feed of committed changes on PostgreSQL; `None` on SQLite.
    pub async fn change_feed(&self) -> Result<Option<ChangeFeed>> {
        let Pools::Postgres(pool) = &self.pools else {
            return Ok(None);
        };
        let channel: String = sqlx::query_scalar(&format!("SELECT {CHANNEL_SQL}"))
            .fetch_one(pool)
            .await?;
        let mut listener = PgListener::connect_with(pool).await?;
        listener.listen(&channel).await?;
        Ok(Some(ChangeFeed {
            listener,
            channel,
            lost: false,
        }))
    }
}

impl ChangeFeed {
    /// Waits for the next event. `None` once the store is closed (the app is stopping).
    pub async fn next(&mut self) -> Option<FeedEvent> {
        loop {
            if self.lost {
                // Coming back: re-listen on a fresh connection before saying so, so nothing committed
                // after the reload that follows is missed.
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                self.listener.unlisten(&self.channel).await.ok();
                match self.listener.listen(&self.channel).await {
                    Ok(()) => {
                        self.lost = false;
                        return Some(FeedEvent::Reconnected);
                    }
                    Err(sqlx::Error::PoolClosed) => return None,
                    Err(_) => continue,
                }
            }
            match self.listener.try_recv().await {
                Ok(Some(n)) => match serde_json::from_str::<ChangeNotice>(n.payload()) {
                    Ok(notice) => return Some(FeedEvent::Change(notice)),
                    Err(_) => continue,
                },
                Err(sqlx::Error::PoolClosed) => return None,
                // The connection went (sqlx says Ok(None) and would reconnect on the next call). It
                // is not listening yet: "Reconnected" only once LISTEN runs again (above), or a
                // change committed between the window's reload and the new LISTEN would be missed.
                Ok(None) | Err(_) => {
                    self.lost = true;
                    return Some(FeedEvent::Lost);
                }
            }
        }
    }
}
