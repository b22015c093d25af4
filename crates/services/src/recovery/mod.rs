//! The billing engine's pass and payment recovery (document 003, "Subscription Billing", "Payment
//! Recovery", "Manual Retry"; document 000, "What Happens When Cards Expire"). A due cycle gets exactly
//! one order and invoice (a unique index), is charged on the subscription's locked gateway or else the
//! active one, and a failure starts recovery: retries on the clinic's schedule
//! (`clinicpay_domain::recovery`), a pause, suspension, and a final notice. Saving a compatible card
//! retries the patient's recovery orders at once. `cycles` bills due cycles, `retries` charges an order
//! and records how it went, `deadlines` moves recovery on with the calendar, `manual_retry` is staff's
//! Retry and the retry when a card is saved, `sweep` is the billing manager's sweep.

mod cycles;
mod deadlines;
mod manual_retry;
mod next_charge;
mod notices;
mod retries;
mod sweep;

pub use next_charge::NextCharge;
pub use notices::NoticeTemplateView;
pub(crate) use retries::{ChargeHow, Routed};
pub use sweep::SweepProgress;

use crate::{Actor, Result, Services};
use chrono::{DateTime, Duration, Utc};
use clinicpay_domain::recovery::{self};
use clinicpay_domain::{OrganizationSettings, SubscriptionId};
use clinicpay_store::orders::{Order, RecoveryUpdate};
use clinicpay_store::subscriptions;
use serde::Serialize;

/// Work taken per pass, so one pass never holds the database for long.
pub(crate) const BATCH: i64 = 200;
/// Charges a worker has in flight at once.
pub(crate) const CHARGES_IN_FLIGHT: usize = 8;
/// How long one pass keeps billing due cycles before the rest of its work (retries, deadlines,
/// reminders) has its turn; the engine then runs the next pass at once.
pub(crate) const CYCLES_PER_PASS: std::time::Duration = std::time::Duration::from_secs(60);

/// What one worker pass did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct WorkerReport {
    pub cycles_billed: u32,
    /// More cycles were due than one pass bills ([`CYCLES_PER_PASS`]): the next pass follows at once.
    pub more_due: bool,
    pub cycles_paid: u32,
    pub retries_run: u32,
    pub retries_paid: u32,
    /// Retries claimed but stopped before the gateway (no key, the database away): back on schedule.
    pub retries_not_sent: u32,
    pub needs_payment_method: u32,
    pub suspended: u32,
    pub failed_final: u32,
    pub janitor: crate::billing::JanitorReport,
    /// Card expiry reminders sent, refused and skipped in this pass.
    pub reminders: crate::reminders::ReminderReport,
    /// Recovery emails (document 000's failure notice, warning, update request, final notice).
    pub notices: crate::reminders::ReminderReport,
    /// Paused or suspended subscriptions whose latest cycle is paid and that nothing is recovering: an
    /// escalation case (document 003), listed for billing until someone looks.
    pub paused_after_payment: Vec<SubscriptionId>,
    /// The daily reconciliation of the day before, when this pass ran it.
    pub reconciliation: Option<crate::reconcile::ReconciliationVerdict>,
    /// Cards patients saved on Stripe's page through secure card links, and pages that ended.
    pub card_links: crate::card_pages::CardPageReport,
    /// This pass's share of the refresh from the card networks' updates (issue 23), when it ran one.
    pub card_refresh: Option<crate::card_refresh::RefreshReport>,
}

/// Where an order's recovery goes after a failed charge, by the clinic's schedule
/// (`clinicpay_domain::recovery::after_failure`), with the gateway's words kept for staff.
pub(crate) fn recovery_update_after_failure(
    order: &Order,
    hard: bool,
    message: &str,
    now: DateTime<Utc>,
    s: &OrganizationSettings,
) -> RecoveryUpdate {
    let step = recovery::after_failure(
        order.attempts,
        order.first_failed_at,
        hard,
        now,
        &s.recovery,
    );
    RecoveryUpdate {
        recovery_status: Some(step.status),
        next_retry_at: step.next_retry_at,
        attempts: step.attempts,
        first_failed_at: Some(step.first_failed_at),
        last_message: Some(message.to_owned()),
    }
}

impl Services {
    /// One pass for the worker signed in as `worker`, whose account is read again first: switched off
    /// or given another role by IT, it bills nothing from its next pass on (every pass says why), and
    /// takes up again by itself when IT switches it back on.
    pub async fn run_worker_pass_as(&self, worker: &Actor) -> Result<WorkerReport> {
        self.current_actor(worker)
            .await?
            .require(clinicpay_domain::Permission::RunBilling)?;
        self.run_worker_pass().await
    }

    /// One pass of the worker: due cycles, due retries, recovery deadlines, unknown outcomes, reminders.
    pub async fn run_worker_pass(&self) -> Result<WorkerReport> {
        let mut report = WorkerReport::default();
        // Every time this pass decides by is the database's (see `clock`).
        self.sync_clock().await?;
        self.run_due_cycles(&mut report).await?;
        self.run_due_retries(&mut report).await?;
        self.apply_recovery_deadlines(&mut report).await?;
        report.paused_after_payment = {
            let mut r = self.store().reader().await?;
            subscriptions::paused_after_payment(&mut r).await?
        };
        // One janitor at a time across all workers and desks.
        if let Some(job) = self
            .store()
            .try_singleton(
                "janitor",
                self.worker_id(),
                self.now(),
                Duration::minutes(10),
            )
            .await?
        {
            let settled = self.settle_unknown_payments().await;
            job.release().await?;
            report.janitor = settled?;
        }
        // The card networks' updates: a share of the expiring cards asked of their gateways, so
        // reminders and the dashboard act on cards as they are (never in billing's way).
        match self.refresh_expiring_cards().await {
            Ok(r) => report.card_refresh = r,
            Err(e) => eprintln!("ClinicPay: expiring cards were not refreshed from their gateways ({e}); tried again next pass."),
        }
        // Reminders never stop the billing work: a mail problem is reported and retried next pass.
        report.reminders = match self.run_reminders().await {
            Ok(r) => r,
            Err(e) => crate::reminders::ReminderReport {
                note: Some(e.to_string()),
                ..Default::default()
            },
        };
        // Recovery emails, likewise never in the way of billing.
        report.notices = match self.send_recovery_notices().await {
            Ok(r) => r,
            Err(e) => crate::reminders::ReminderReport {
                note: Some(e.to_string()),
                ..Default::default()
            },
        };
        // Cards saved through secure card links: before the reconciliation, after billing, and never
        // in its way (a gateway that cannot answer is asked again next pass).
        match self.poll_card_pages().await {
            Ok(r) => report.card_links = r,
            Err(e) => eprintln!("ClinicPay: secure card links were not checked ({e}); they are checked again next pass."),
        }
        // The gateway report's kept day totals, a month of days a pass at most, never in billing's way.
        if let Err(e) = self.keep_report_day_totals(31).await {
            eprintln!("ClinicPay: the report's day totals were not kept up to date ({e}); tried again next pass.");
        }
        // The day before, reconciled once by one worker; a failure is said and tried next pass.
        if let Some(job) = self
            .store()
            .try_singleton(
                "reconcile",
                self.worker_id(),
                self.now(),
                Duration::minutes(30),
            )
            .await?
        {
            let reconciled = self.daily_reconciliation().await;
            job.release().await?;
            match reconciled {
                Ok(verdict) => report.reconciliation = verdict,
                Err(e) => eprintln!("ClinicPay: the daily reconciliation did not run ({e}); it is tried again next pass."),
            }
        }
        Ok(report)
    }
}
