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

impl Services {
    /// For the worker: a card saved at any desk (heard through the feed) retries that patient's
    /// recovery orders here, as document 003 asks, even when the desk that saved it is a different
    /// computer. The desk retries too; the one-live-payment rule lets only one of them charge.
    /// Nothing on SQLite (there, the desk that saves the card is the only one). The worker's account
    /// is read again before each retry: switched off or moved by IT, it charges nothing here either.
    pub fn retry_recovery_when_any_desk_saves_a_card(
        &self,
        worker: crate::Actor,
    ) -> tokio::task::JoinHandle<()> {
        let services = self.clone();
        tokio::spawn(async move {
            let Ok(Some(mut feed)) = services.change_feed().await else {
                return;
            };
            while let Some(event) = feed.next().await {
                if let FeedEvent::Change(ChangeNotice {
                    action,
                    patient_id: Some(patient),
                    subject_id,
                    ..
                }) = event
                {
                    let may_bill = match services.current_actor(&worker).await {
                        Ok(now) => now
                            .require(clinicpay_domain::Permission::RunBilling)
                            .is_ok(),
                        Err(_) => false,
                    };
                    if action == "card.added" && may_bill {
                        let _ = services
                            .retry_recovery_for_patient(
                                clinicpay_domain::PatientId(patient),
                                subject_id
                                    .parse()
                                    .ok()
                                    .map(clinicpay_domain::PaymentMethodId),
                            )
                            .await;
                    }
                }
            }
        })
    }
}
