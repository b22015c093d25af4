//! Asking patients to re-save their card for the new gateway.

use clinicpay_domain::{Gateway, PaymentMethodId, Permission};
use clinicpay_store::reminders::{self as repo, ReminderKind};

use crate::reminders::{card_row, day_number, resave_email, ReminderReport};
use crate::{Actor, Result, ServiceError, Services};

impl Services {
    /// Emails every at-risk patient who has a card on file a "please re-save your card" message for
    /// `to` (once a day at most each); those without any card are left for a phone call.
    pub async fn request_card_resave(&self, actor: &Actor, to: Gateway) -> Result<ReminderReport> {
        actor.require(Permission::SendReminders)?;
        let readiness = self.gateway_readiness(actor, to).await?;
        let settings = self.load_settings().await?;
        let mailer = self.mailer(&settings).await?.ok_or_else(|| {
            ServiceError::Invalid(
                "No mail server is set up, so no email can go out: IT sets smtp.host and smtp.from in Settings.".into(),
            )
        })?;
        let now = self.now();
        let mut report = ReminderReport::default();
        for p in readiness.patients_without_card {
            let row = {
                let mut r = self.store().reader().await?;
                let cards =
                    clinicpay_store::payment_methods::active_for_patient(&mut r, p.patient_id)
                        .await?;
                let Some(c) = cards.into_iter().max_by_key(|c| c.created_at) else {
                    report.skipped += 1;
                    continue;
                };
                card_row(&c, &p.name, &p.email, "")
            };
            let claimed = {
                let mut tx = self.store().begin().await?;
                let id = repo::claim(
                    &mut tx,
                    PaymentMethodId(row.card_id),
                    p.patient_id,
                    ReminderKind::GatewayChange,
                    None,
                    day_number(now),
                    Some(actor.id.0),
                    now,
                )
                .await?;
                tx.commit().await?;
                id
            };
            match claimed {
                Some(id) => {
                    let email = resave_email(
                        &self
                            .settings_for_email(&settings, p.patient_id, None, &row.patient_email)
                            .await,
                        &row,
                    );
                    self.deliver(
                        &mailer,
                        &settings,
                        (id, 1),
                        &row,
                        email,
                        Some(actor),
                        &mut report,
                    )
                    .await?
                }
                None => report.skipped += 1,
            }
        }
        Ok(report)
    }
}
