//! Live updates between desks on one PostgreSQL database: the store's change feed, for the app to
//! pass on to its window. On SQLite there is none (one desk, nothing to hear).

pub use clinicpay_store::changes::{ChangeFeed, ChangeNotice, FeedEvent};

use crate::{Result, Services};

impl Services {
    /// The feed of changes other desks (and this one) commit; `None` on SQLite.
    pub async fn change_feed(&self) -> Result<Option<ChangeFeed>> {
        Ok(self.store().change_feed().await?)
    }
}
