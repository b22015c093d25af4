//! The emails a patient gets while their failed payment is recovered (document 000): each stage once per
//! order (`clinicpay_domain::notices`), through the clinic's mail server, with the words a billing
//! manager set (previewed in Settings). Every send and every refusal is in the activity log.

use chrono::Duration;
use clinicpay_domain::notices::{due_notices, NoticeStage, NoticeTemplate, NoticeValues};
use clinicpay_domain::{Money, OrganizationSettings, Permission, RecoveryStatus};
use clinicpay_store::orders::Order;
use clinicpay_store::recovery_notices as repo;
use clinicpay_store::{orders, payment_methods, payments};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use serde::Serialize;

use crate::reminders::{retry_after, Email, ReminderReport};
use crate::{Actor, Change, Result, ServiceError, Services};

/// A claimed send never finished (the pass was killed) is taken again after this long.
const STALE_SEND: Duration = Duration::minutes(15);
/// Orders that ended unpaid longer ago than this get no final notice when emails are switched on.
const FINAL_NOTICE_WINDOW: Duration = Duration::days(30);

/// One template as Settings shows it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct NoticeTemplateView {
    pub stage: NoticeStage,
    pub title: String,
    pub template: NoticeTemplate,
    /// A billing manager changed ClinicPay's words.
    pub edited: bool,
}

/// The placeholders' values for an order's email.
struct Recipient {
    name: String,
    email: String,
    values: NoticeValues,
}

fn update_link(settings: &OrganizationSettings, patient: i64) -> String {
    match &settings.reminders.update_link {
        Some(link) => link.replace("{patient}", &patient.to_string()),
        None => format!("please call or visit {}'s front desk", settings.clinic_name),
    }
}

impl Services {
    /// The template of `stage`: the billing manager's, else ClinicPay's.
    pub(crate) async fn notice_template(
        &self,
        stage: NoticeStage,
    ) -> Result<(NoticeTemplate, bool)> {
        let mut r = self.store().reader().await?;
        Ok(match repo::template(&mut r, stage).await? {
            Some(t) => (t, true),
            None => (stage.default_template(), false),
        })
    }

    /// The four recovery emails' words, for Settings.
    pub async fn notice_templates(&self, actor: &Actor) -> Result<Vec<NoticeTemplateView>> {
        actor.require(Permission::ViewPatients)?;
        let mut out = Vec::new();
        for stage in NoticeStage::ALL {
            let (template, edited) = self.notice_template(stage).await?;
            out.push(NoticeTemplateView {
                stage,
                title: stage.title().into(),
                template,
                edited,
            });
        }
        Ok(out)
    }

    /// Saves a billing manager's words for `stage`, checked first; in the activity log.
    pub async fn set_notice_template(
        &self,
        actor: &Actor,
        stage: NoticeStage,
        template: NoticeTemplate,
    ) -> Result<NoticeTemplateView> {
        actor.require(Permission::ChangeSettings)?;
        template.validate_for(stage)?;
        let (before, _) = self.notice_template(stage).await?;
        let now = self.now();
        let mut tx = self.store().begin().await?;
        repo::set_template(&mut tx, stage, &template, actor.id.0, now).await?;
        Change::new(
            Some(actor),
            now,
            "setting.notice_template",
            "setting",
            stage.as_str(),
        )
        .before(serde_json::json!({ "subject": before.subject, "body": before.body }))
        .after(serde_json::json!({ "subject": template.subject, "body": template.body }))
        .record(&mut tx)
        .await?;
        tx.commit().await?;
        Ok(NoticeTemplateView {
            stage,
            title: stage.title().into(),
            template,
            edited: true,
        })
    }

    /// The email `template` makes for an example patient, before it is saved.
    pub async fn preview_notice(
        &self,
        actor: &Actor,
        stage: NoticeStage,
        template: NoticeTemplate,
    ) -> Result<Email> {
        actor.require(Permission::ViewPatients)?;
        template.validate_for(stage)?;
        let settings = self.load_settings().await?;
        let values = NoticeValues {
            patient_name: "Ann Example".into(),
            amount: Money::from_minor(4_900, settings.currency).to_string(),
            card: "Visa ending in 4242".into(),
            description: "Wellness membership — month".into(),
            update_link: match stage {
                NoticeStage::CardLink => "https://checkout.stripe.com/c/pay/cs_live_example".into(),
                _ => update_link(&settings, 1),
            },
            clinic: settings.clinic_name.clone(),
        };
        let (subject, body) = template.render(&values);
        Ok(Email { subject, body })
    }

    /// Who an order's email goes to, and its placeholders' values: the card that failed, else the default.
    async fn recipient(&self, o: &Order, settings: &OrganizationSettings) -> Result<Recipient> {
        let mut r = self.store().reader().await?;
        let patient = clinicpay_store::patients::get(&mut r, o.patient_id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("Order {} has no patient.", o.id)))?;
        let failed_card = payments::payments_of_order(&mut r, o.id)
            .await?
            .into_iter()
            .rev()
            .find_map(|p| p.payment_method_id);
        let card = match failed_card {
            Some(id) => payment_methods::get(&mut r, id).await?,
            None => payment_methods::active_for_patient(&mut r, o.patient_id)
                .await?
                .into_iter()
                .find(|c| c.is_default),
        };
        let patient_email = patient.email.clone();
        drop(r);
        Ok(Recipient {
            name: patient.name.clone(),
            email: patient.email.clone(),
            values: NoticeValues {
                patient_name: patient.name,
                amount: o.amount.to_string(),
                card: card
                    .map(|c| c.describe())
                    .unwrap_or_else(|| "card on file".into()),
                description: o.description.clone(),
                update_link: update_link(
                    &self
                        .settings_for_email(settings, o.patient_id, Some(o.id), &patient_email)
                        .await,
                    o.patient_id.0,
                ),
                clinic: settings.clinic_name.clone(),
            },
        })
    }

    /// One pass of recovery emails (the billing engine runs it): each due stage of each order in
    /// recovery, once, then refused sends that are due again. Nothing goes out while they are off.
    pub(crate) async fn send_recovery_notices(&self) -> Result<ReminderReport> {
        let settings = self.load_settings().await?;
        if !settings.recovery.emails {
            return Ok(ReminderReport {
                note: Some("Recovery emails are off (recovery.emails).".into()),
                ..ReminderReport::default()
            });
        }
        let Some(mailer) = self.mailer(&settings).await? else {
            return Ok(ReminderReport {
                note: Some(
                    "No mail server is set up (smtp.host, smtp.from): no recovery email can go out."
                        .into(),
                ),
                ..ReminderReport::default()
            });
        };
        let now = self.now();
        let (mut due_orders, claimed) = {
            let mut r = self.store().reader().await?;
            let mut list = orders::open_recovery_orders(&mut r, None, 10_000).await?;
            list.extend(
                orders::orders(&mut r, None, Some(RecoveryStatus::FailedFinal), 10_000)
                    .await?
                    .into_iter()
                    .filter(|o| o.updated_at >= now - FINAL_NOTICE_WINDOW),
            );
            let ids: Vec<_> = list.iter().map(|o| o.id).collect();
            let claimed = repo::claimed_for(&mut r, &ids).await?;
            (list, claimed)
        };
        due_orders.sort_by_key(|o| o.id.0);
        let mut report = ReminderReport::default();
        for o in due_orders {
            let (Some(status), Some(first)) = (o.recovery_status, o.first_failed_at) else {
                continue;
            };
            for stage in due_notices(status, (now - first).num_days()) {
                if claimed
                    .iter()
                    .any(|(order, s)| *order == o.id.0 && s == stage.as_str())
                {
                    continue;
                }
                let id = {
                    let mut tx = self.store().begin().await?;
                    let id = repo::claim(&mut tx, o.id, o.patient_id, stage, now).await?;
                    tx.commit().await?;
                    id
                };
                match id {
                    Some(id) => {
                        self.deliver_notice(&mailer, &settings, (id, 1), &o, stage, &mut report)
                            .await?
                    }
                    None => report.skipped += 1,
                }
            }
        }
        let again = {
            let mut tx = self.store().begin().await?;
            let due = repo::claim_retries(&mut tx, now, now - STALE_SEND, 200).await?;
            tx.commit().await?;
            due
        };
        for n in again {
            let Ok(stage) = n.stage.parse::<NoticeStage>() else {
                continue;
            };
            let o = {
                let mut r = self.store().reader().await?;
                orders::order(&mut r, n.order_id).await?
            };
            // Only while it is still due: an order paid meanwhile gets no "did not go through".
            let still_due =
                o.as_ref()
                    .is_some_and(|o| match (o.recovery_status, o.first_failed_at) {
                        (Some(status), Some(first)) => {
                            due_notices(status, (now - first).num_days()).contains(&stage)
                        }
                        _ => false,
                    });
            match o {
                Some(o) if still_due => {
                    self.deliver_notice(
                        &mailer,
                        &settings,
                        (n.id, n.attempts),
                        &o,
                        stage,
                        &mut report,
                    )
                    .await?
                }
                _ => {
                    let mut tx = self.store().begin().await?;
                    repo::abandon(&mut tx, n.id, "not sent: the order's recovery moved on").await?;
                    tx.commit().await?;
                    report.skipped += 1;
                }
            }
        }
        Ok(report)
    }

    /// Sends one claimed recovery email and records how it went.
    async fn deliver_notice(
        &self,
        mailer: &AsyncSmtpTransport<Tokio1Executor>,
        settings: &OrganizationSettings,
        (id, attempts): (i64, i64),
        o: &Order,
        stage: NoticeStage,
        report: &mut ReminderReport,
    ) -> Result<()> {
        let to = self.recipient(o, settings).await?;
        let (template, _) = self.notice_template(stage).await?;
        let (subject, body) = template.render(&to.values);
        let sent =
            match crate::reminders::message_to(settings, &to.name, &to.email, &subject, &body) {
                Ok(message) => mailer
                    .send(message)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e),
            };
        let now = self.now();
        let mut tx = self.store().begin().await?;
        match &sent {
            Ok(()) => {
                repo::mark_sent(&mut tx, id, now).await?;
                report.sent += 1;
            }
            Err(e) => {
                repo::mark_failed(&mut tx, id, e, now + retry_after(attempts)).await?;
                report.failed += 1;
            }
        }
        Change::new(
            None,
            now,
            if sent.is_ok() {
                "recovery.notice_sent"
            } else {
                "recovery.notice_refused"
            },
            "order",
            o.id,
        )
        .by_system("ClinicPay (payment recovery emails)")
        .patient(o.patient_id)
        .after(serde_json::json!({
            "stage": stage.as_str(),
            "to": to.email,
            "subject": subject,
            "error": sent.as_ref().err(),
        }))
        .record(&mut tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
