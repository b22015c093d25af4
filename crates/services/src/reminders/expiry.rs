//! The expiring-cards dashboard and the reminder run: each card reminded once per threshold.

use chrono::{DateTime, Datelike, Duration, Utc};
use clinicpay_domain::{
    CardBrand, CardExpiry, Gateway, OrganizationSettings, PatientId, PatientType, PaymentMethod,
    PaymentMethodId, Permission,
};
use clinicpay_store::payment_methods;
use clinicpay_store::reminders::{self as repo, ExpiringRow, Month, ReminderKind};
use lettre::{AsyncSmtpTransport, Tokio1Executor};
use serde::{Deserialize, Serialize};

use crate::reminders::{expiry_email, ReminderReport};
use crate::{Actor, Result, ServiceError, Services};

/// The reminder "threshold" of the one "your card has expired" email sent after a card has expired
/// (document 000's at-expiry notice came while it was still valid).
pub const EXPIRED_EMAIL: i64 = -1;
/// Cards expired longer ago than this get no "it has expired" email when reminders are switched on.
const EXPIRED_REMINDER_WINDOW_DAYS: i64 = 31;
/// A claimed send that never finished (a worker killed mid-send) is tried again after this long.
const STALE_SEND: Duration = Duration::minutes(15);
/// The most rows the dashboard gets at once; the count says when there are more.
pub const DASHBOARD_LIMIT: i64 = 5_000;
/// The window's page of the dashboard: a screen's worth many times over, and cheap to draw; "Show more"
/// asks for the next.
pub const DASHBOARD_PAGE: u32 = 500;

/// The dashboard's first page: the cards asked of their gateways before it is shown.
const FIRST_PAGE: usize = 25;
/// How long the dashboard waits for those answers.
const FIRST_PAGE_WAIT: std::time::Duration = std::time::Duration::from_secs(4);

/// What the expiring-cards dashboard and `clinicpay expiring` show.
#[derive(Debug, Clone, Default)]
pub struct ExpiringFilter {
    /// Expiring within this many days (default 60).
    pub within_days: Option<u32>,
    /// Only cards that have already expired.
    pub expired: bool,
    pub patient_type: Option<PatientType>,
    /// Document 000's "Service Type": only default cards that pay a subscription to this plan.
    pub service: Option<String>,
    /// Pages of this many cards (at most `DASHBOARD_LIMIT`), with `next` to ask for the one after;
    /// without it, up to `DASHBOARD_LIMIT` at once (the CLI's list).
    pub page_size: Option<u32>,
    /// The page after this card (`ExpiringCards::next` of the page before).
    pub after: Option<ExpiringCursor>,
}

/// Where the next page of expiring cards starts: after this card, in the dashboard's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ExpiringCursor {
    /// The card's expiry month as `year * 12 + month`.
    pub month_key: i32,
    pub card_id: PaymentMethodId,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ExpiringCard {
    pub card_id: PaymentMethodId,
    pub patient_id: PatientId,
    pub patient_name: String,
    pub patient_email: String,
    pub patient_type: PatientType,
    pub gateway: Gateway,
    pub brand: String,
    pub last4: String,
    /// "12/2026".
    pub expiry: String,
    /// 0 on the last valid day, negative once expired.
    pub days_until_expiry: i32,
    pub expired: bool,
    pub is_default: bool,
    /// Another saved card that is still valid and lasts longer.
    pub has_other_valid_card: bool,
    /// Subscription plans charged to this card (it is the default).
    pub plans: Vec<String>,
    /// The card network renewed it (a new expiry or number ClinicPay took from its gateway).
    pub renewed_by_network: bool,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ExpiringCards {
    pub cards: Vec<ExpiringCard>,
    /// Cards at the top of the list whose gateway could not say just now whether the card network
    /// renewed them (shown as ClinicPay last knew them).
    pub not_checked: u32,
    /// More matched than the dashboard shows.
    pub truncated: bool,
    /// Asked in pages: where the next page starts, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<ExpiringCursor>,
    /// The services (subscription plans) patients have, for the Service Type filter.
    pub services: Vec<String>,
}

pub(crate) fn month_of(t: DateTime<Utc>) -> Month {
    (t.year(), t.month())
}

fn previous_month((y, m): Month) -> Month {
    if m == 1 {
        (y - 1, 12)
    } else {
        (y, m - 1)
    }
}

pub(crate) fn day_number(t: DateTime<Utc>) -> i64 {
    t.timestamp().div_euclid(86_400)
}

/// The automatic reminder due for a card `days` before its last valid day: the tightest threshold it
/// has reached (a card 5 days out gets the 7-day reminder, not also the 60- and 30-day ones).
pub fn due_threshold(thresholds: &[u32], days: i64) -> Option<u32> {
    if days < -EXPIRED_REMINDER_WINDOW_DAYS {
        return None;
    }
    thresholds
        .iter()
        .copied()
        .filter(|t| days <= i64::from(*t))
        .min()
}

pub(crate) fn card_row(
    c: &PaymentMethod,
    name: &str,
    email: &str,
    patient_type: &str,
) -> ExpiringRow {
    ExpiringRow {
        card_id: c.id.0,
        patient_id: c.patient_id.0,
        gateway: c.gateway.as_str().into(),
        brand: c.brand.display_name().into(),
        last4: c.last4.clone(),
        exp_month: i64::from(c.expiry.month),
        exp_year: i64::from(c.expiry.year),
        is_default: c.is_default,
        patient_name: name.into(),
        patient_email: email.into(),
        patient_type: patient_type.into(),
        has_other_valid: false,
        plans: None,
        renewed_at: c.renewed_at.map(|t| t.timestamp_millis()),
    }
}

/// 5, 10, 20 … minutes after each refused attempt, at most six hours: retried until it goes.
pub fn retry_after(attempts: i64) -> Duration {
    let minutes = 5_i64.saturating_mul(1_i64 << attempts.clamp(1, 10).saturating_sub(1));
    Duration::minutes(minutes.min(6 * 60))
}

fn expiring_card(row: ExpiringRow, now: DateTime<Utc>) -> Option<ExpiringCard> {
    let expiry = CardExpiry::new(row.exp_month as u32, row.exp_year as i32).ok()?;
    let plans = row
        .plans
        .as_deref()
        .map(|p| p.split(repo::PLAN_SEPARATOR).map(str::to_owned).collect())
        .unwrap_or_default();
    Some(ExpiringCard {
        card_id: PaymentMethodId(row.card_id),
        patient_id: PatientId(row.patient_id),
        patient_name: row.patient_name,
        patient_email: row.patient_email,
        patient_type: row.patient_type.parse().unwrap_or(PatientType::Individual),
        gateway: row.gateway.parse().unwrap_or(Gateway::Stripe),
        brand: CardBrand::from_gateway_name(&row.brand)
            .display_name()
            .into(),
        last4: row.last4,
        expiry: expiry.mm_yyyy(),
        days_until_expiry: expiry.days_until_expiry(now).clamp(-99_999, 99_999) as i32,
        expired: expiry.is_expired(now),
        is_default: row.is_default,
        has_other_valid_card: row.has_other_valid,
        plans,
        renewed_by_network: row.renewed_at.is_some(),
    })
}

impl Services {
    pub async fn expiring_cards(
        &self,
        actor: &Actor,
        filter: &ExpiringFilter,
    ) -> Result<ExpiringCards> {
        actor.require(Permission::ViewPatients)?;
        let now = self.now();
        let this_month = month_of(now);
        let within = i64::from(filter.within_days.unwrap_or(60));
        if within > 3_650 {
            return Err(ServiceError::Invalid(
                "Look at most ten years ahead: give --within 30, 60 or 90.".into(),
            ));
        }
        let (from, to) = if filter.expired {
            ((0, 1), previous_month(this_month))
        } else {
            // A month's cards all end on its last day: the last month in the window is the one whose
            // last day is at most `within` days away, so no page is made of cards shown nowhere.
            (
                this_month,
                previous_month(month_of(now + Duration::days(within + 1))),
            )
        };
        let kind = filter.patient_type.map(|t| t.as_str());
        let limit = match filter.page_size {
            None => DASHBOARD_LIMIT,
            Some(n) if n >= 1 && i64::from(n) <= DASHBOARD_LIMIT => i64::from(n),
            Some(_) => {
                return Err(ServiceError::Invalid(format!(
                    "A page of expiring cards holds 1 to {DASHBOARD_LIMIT} cards."
                )))
            }
        };
        let after = filter.after.map(|a| repo::ExpiringAfter {
            month_key: i64::from(a.month_key),
            card_id: a.card_id.0,
        });
        let service = filter
            .service
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty());
        let mut r = self.store().reader().await?;
        let services = repo::service_names(&mut r).await?;
        if let Some(name) = service {
            if !services.iter().any(|s| s == name) {
                return Err(ServiceError::NotFound(format!(
                    "No patient has a subscription to \"{name}\": use one of {}.",
                    if services.is_empty() {
                        "the plans once patients have some".to_owned()
                    } else {
                        services.join(", ")
                    }
                )));
            }
        }
        let rows = repo::expiring(
            &mut r,
            from,
            to,
            this_month,
            kind,
            service,
            after,
            limit + 1,
        )
        .await?;
        drop(r);
        // The card networks' updates first: the top of the list is asked of the gateways (those not
        // asked within the day), a few seconds at most, so a card already renewed is not shown as
        // expiring (issue 23). The rest are kept true by the billing engine's refresh, and so are the
        // pages after the first.
        let top: Vec<PaymentMethodId> = rows
            .iter()
            .take(if after.is_some() { 0 } else { FIRST_PAGE })
            .map(|r| PaymentMethodId(r.card_id))
            .collect();
        let (rows, not_checked) = match self.refresh_first_page(&top).await {
            Some(checked) if checked.renewed > 0 => {
                let mut r = self.store().reader().await?;
                let again = repo::expiring(
                    &mut r,
                    from,
                    to,
                    this_month,
                    kind,
                    service,
                    after,
                    limit + 1,
                )
                .await?;
                (again, checked.unchecked.len() as u32)
            }
            Some(checked) => (rows, checked.unchecked.len() as u32),
            None => (rows, top.len() as u32),
        };
        let truncated = rows.len() as i64 > limit;
        let last = rows
            .get(limit as usize - 1)
            .map(|r| (r.exp_year * 12 + r.exp_month, PaymentMethodId(r.card_id)));
        let cards: Vec<ExpiringCard> = rows
            .into_iter()
            .take(limit as usize)
            .filter_map(|row| expiring_card(row, now))
            .filter(|c| filter.expired || i64::from(c.days_until_expiry) <= within)
            .collect();
        // The range is whole months and a month's cards all end on its last day, so once the page's last
        // card is past the window, so is every card after it: no next page then.
        let next = match last {
            Some((month_key, card_id))
                if truncated
                    && filter.page_size.is_some()
                    && cards.last().map(|c| c.card_id) == Some(card_id) =>
            {
                Some(ExpiringCursor {
                    month_key: month_key as i32,
                    card_id,
                })
            }
            _ => None,
        };
        Ok(ExpiringCards {
            truncated: truncated && (next.is_some() || filter.page_size.is_none()),
            cards,
            not_checked,
            next,
            services,
        })
    }

    /// The dashboard's first page asked of the gateways (see `expiring_cards`); None when the answers
    /// did not come within `FIRST_PAGE_WAIT` (what came is kept).
    async fn refresh_first_page(
        &self,
        cards: &[PaymentMethodId],
    ) -> Option<crate::card_refresh::RefreshReport> {
        let settings = self.load_settings().await.ok()?;
        let cards = {
            let mut r = self.store().reader().await.ok()?;
            let mut found = Vec::with_capacity(cards.len());
            for id in cards {
                if let Ok(Some(c)) = payment_methods::get(&mut r, *id).await {
                    found.push(c);
                }
            }
            found
        };
        tokio::time::timeout(FIRST_PAGE_WAIT, self.refresh_if_stale(cards, &settings))
            .await
            .ok()
    }

    /// One pass of automatic reminders (the worker runs it): new thresholds reached, then failed sends
    /// that are due again. Nothing goes out while reminders are disabled.
    pub async fn run_reminders(&self) -> Result<ReminderReport> {
        let settings = self.load_settings().await?;
        if !settings.reminders.enabled {
            return Ok(ReminderReport {
                note: Some("Reminders are disabled (reminders.enabled).".into()),
                ..ReminderReport::default()
            });
        }
        let mailer =
            match self.mailer(&settings).await? {
                Some(m) => m,
                None => return Ok(ReminderReport {
                    note: Some(
                        "No mail server is set up (smtp.host, smtp.from): no reminder can go out."
                            .into(),
                    ),
                    ..ReminderReport::default()
                }),
            };
        let now = self.now();
        let max = settings
            .reminders
            .thresholds
            .iter()
            .copied()
            .max()
            .unwrap_or(0);
        let from = month_of(now - Duration::days(EXPIRED_REMINDER_WINDOW_DAYS));
        let to = month_of(now + Duration::days(i64::from(max)));
        let rows = {
            let mut r = self.store().reader().await?;
            repo::expiring(&mut r, from, to, month_of(now), None, None, None, 1_000_000).await?
        };
        // Every threshold of a card in this window was claimed within the window plus a month.
        let claimed_before: std::collections::HashSet<(i64, i64)> = {
            let mut r = self.store().reader().await?;
            let since = now - Duration::days(i64::from(max) + 2 * EXPIRED_REMINDER_WINDOW_DAYS);
            repo::automatic_claimed_since(&mut r, since)
                .await?
                .into_iter()
                .collect()
        };
        let mut report = ReminderReport::default();
        // The card networks' updates first: each card due a reminder now is asked of its gateway
        // just before, so a card already renewed gets none (issue 23).
        let due_now: Vec<PaymentMethodId> = rows
            .iter()
            .filter(|row| {
                let Ok(expiry) = CardExpiry::new(row.exp_month as u32, row.exp_year as i32) else {
                    return false;
                };
                let days = expiry.days_until_expiry(now);
                let expired_email = days < 0
                    && row.plans.is_some()
                    && !row.has_other_valid
                    && !claimed_before.contains(&(row.card_id, EXPIRED_EMAIL));
                let threshold = due_threshold(&settings.reminders.thresholds, days)
                    .is_some_and(|t| !claimed_before.contains(&(row.card_id, i64::from(t))));
                expired_email || threshold
            })
            .map(|row| PaymentMethodId(row.card_id))
            .collect();
        let checked = if due_now.is_empty() {
            crate::card_refresh::RefreshReport::default()
        } else {
            let cards = {
                let mut r = self.store().reader().await?;
                let mut cards = Vec::with_capacity(due_now.len());
                for id in &due_now {
                    if let Some(c) = payment_methods::get(&mut r, *id).await? {
                        cards.push(c);
                    }
                }
                cards
            };
            self.refresh_at_gateways(cards, &settings).await
        };
        report.renewed = checked.renewed;
        let rows = if checked.renewed > 0 {
            let mut r = self.store().reader().await?;
            repo::expiring(&mut r, from, to, month_of(now), None, None, None, 1_000_000).await?
        } else {
            rows
        };
        for row in rows {
            if checked.unchecked.contains(&PaymentMethodId(row.card_id)) {
                report.not_checked += 1;
                continue;
            }
            let Ok(expiry) = CardExpiry::new(row.exp_month as u32, row.exp_year as i32) else {
                continue;
            };
            let days = expiry.days_until_expiry(now);
            // Document 000: once the card has expired, one "your card has expired" email when it pays
            // a subscription and the patient has no other valid card, after the at-expiry reminder that
            // went out while it was still valid (one that went out after expiry said it already).
            if days < 0
                && row.plans.is_some()
                && !row.has_other_valid
                && !claimed_before.contains(&(row.card_id, EXPIRED_EMAIL))
            {
                let warned = {
                    let mut r = self.store().reader().await?;
                    repo::automatic_claimed_at(&mut r, PaymentMethodId(row.card_id), 0).await?
                };
                if warned.is_some_and(|at| at < expiry.expires_at()) {
                    let claimed = {
                        let mut tx = self.store().begin().await?;
                        let id = repo::claim(
                            &mut tx,
                            PaymentMethodId(row.card_id),
                            PatientId(row.patient_id),
                            ReminderKind::Automatic,
                            Some(EXPIRED_EMAIL),
                            day_number(now),
                            None,
                            now,
                        )
                        .await?;
                        tx.commit().await?;
                        id
                    };
                    if let Some(id) = claimed {
                        let email = self.expiry_email_to(&settings, &row, days).await;
                        self.deliver(&mailer, &settings, (id, 1), &row, email, None, &mut report)
                            .await?;
                    }
                }
            }
            let Some(threshold) = due_threshold(&settings.reminders.thresholds, days) else {
                continue;
            };
            if claimed_before.contains(&(row.card_id, i64::from(threshold))) {
                report.skipped += 1;
                continue;
            }
            let claimed = {
                let mut tx = self.store().begin().await?;
                let id = repo::claim(
                    &mut tx,
                    PaymentMethodId(row.card_id),
                    PatientId(row.patient_id),
                    ReminderKind::Automatic,
                    Some(i64::from(threshold)),
                    day_number(now),
                    None,
                    now,
                )
                .await?;
                tx.commit().await?;
                id
            };
            match claimed {
                Some(id) => {
                    let email = self.expiry_email_to(&settings, &row, days).await;
                    self.deliver(&mailer, &settings, (id, 1), &row, email, None, &mut report)
                        .await?;
                }
                None => report.skipped += 1,
            }
        }
        self.retry_failed_reminders(&mailer, &settings, &mut report)
            .await?;
        Ok(report)
    }

    /// `reminders run` by a person: the same pass as the worker's, for someone who may send reminders.
    pub async fn run_reminders_for(&self, actor: &Actor) -> Result<ReminderReport> {
        actor.require(Permission::SendReminders)?;
        self.run_reminders().await
    }

    /// Notify from the dashboard: a reminder now for each chosen card (at most once a card a day).
    pub async fn notify_cards(
        &self,
        actor: &Actor,
        cards: &[PaymentMethodId],
    ) -> Result<ReminderReport> {
        actor.require(Permission::SendReminders)?;
        if cards.is_empty() {
            return Err(ServiceError::Invalid(
                "Choose at least one card to send a reminder for.".into(),
            ));
        }
        let settings = self.load_settings().await?;
        let mailer = self.mailer(&settings).await?.ok_or_else(|| {
            ServiceError::Invalid(
                "No mail server is set up, so no reminder can go out: IT sets smtp.host and smtp.from in Settings and the password with `clinicpay smtp password set`.".into(),
            )
        })?;
        let now = self.now();
        let mut report = ReminderReport::default();
        for card in cards {
            let row = self.email_row(*card).await?;
            let days = CardExpiry::new(row.exp_month as u32, row.exp_year as i32)
                .map(|e| e.days_until_expiry(now))
                .unwrap_or(0);
            let claimed = {
                let mut tx = self.store().begin().await?;
                let id = repo::claim(
                    &mut tx,
                    *card,
                    PatientId(row.patient_id),
                    ReminderKind::Manual,
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
                    let email = self.expiry_email_to(&settings, &row, days).await;
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

    /// The expiry reminder for `row`, with a fresh secure card link in it when the clinic chose so.
    async fn expiry_email_to(
        &self,
        settings: &OrganizationSettings,
        row: &ExpiringRow,
        days: i64,
    ) -> crate::reminders::Email {
        let settings = self
            .settings_for_email(
                settings,
                PatientId(row.patient_id),
                None,
                &row.patient_email,
            )
            .await;
        expiry_email(&settings, row, days)
    }

    pub async fn list_reminders(
        &self,
        actor: &Actor,
        patient: Option<PatientId>,
    ) -> Result<Vec<repo::Reminder>> {
        actor.require(Permission::ViewPatients)?;
        let mut r = self.store().reader().await?;
        Ok(repo::list(&mut r, patient, 500).await?)
    }

    pub(crate) async fn retry_failed_reminders(
        &self,
        mailer: &AsyncSmtpTransport<Tokio1Executor>,
        settings: &OrganizationSettings,
        report: &mut ReminderReport,
    ) -> Result<()> {
        let now = self.now();
        let due = {
            let mut tx = self.store().begin().await?;
            let due = repo::claim_retries(&mut tx, now, now - STALE_SEND, 200).await?;
            tx.commit().await?;
            due
        };
        for reminder in due {
            let row = self.email_row(reminder.card_id).await?;
            let days = CardExpiry::new(row.exp_month as u32, row.exp_year as i32)
                .map(|e| e.days_until_expiry(now))
                .unwrap_or(0);
            let email = self.expiry_email_to(settings, &row, days).await;
            self.deliver(
                mailer,
                settings,
                (reminder.id, reminder.attempts),
                &row,
                email,
                None,
                report,
            )
            .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tightest_threshold_reached_is_the_one_due() {
        let t = [60, 30, 7, 0];
        assert_eq!(due_threshold(&t, 61), None);
        assert_eq!(due_threshold(&t, 60), Some(60));
        assert_eq!(due_threshold(&t, 45), Some(60));
        assert_eq!(due_threshold(&t, 30), Some(30));
        assert_eq!(due_threshold(&t, 5), Some(7));
        assert_eq!(due_threshold(&t, 0), Some(0));
        assert_eq!(
            due_threshold(&t, -3),
            Some(0),
            "an expired card gets the at-expiry email"
        );
        assert_eq!(
            due_threshold(&t, -40),
            None,
            "long expired: no email when reminders start"
        );
    }

    #[test]
    fn refused_sends_back_off_to_six_hours() {
        assert_eq!(retry_after(1), Duration::minutes(5));
        assert_eq!(retry_after(2), Duration::minutes(10));
        assert_eq!(retry_after(4), Duration::minutes(40));
        assert_eq!(retry_after(20), Duration::hours(6));
    }
}
