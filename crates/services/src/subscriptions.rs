//! Subscriptions and payment recovery (document 003, "Subscription Billing", "Payment Recovery",
//! "Manual Retry"; document 000, "What Happens When Cards Expire"). A due cycle gets exactly one order
//! and invoice (a unique index), is charged on the subscription's locked gateway or else the active one,
//! and a failure starts recovery: retries on the organization's schedule, a pause, suspension, and a
//! final notice. Saving a compatible card retries the patient's recovery orders at once.

use chrono::{DateTime, Duration, Months, Utc};
use clinicpay_domain::card::pick_compatible;
use clinicpay_domain::decline::{advise, DeclineAction};
use clinicpay_domain::{
    Gateway, InvoiceStatus, Money, OrderId, OrderKind, OrderStatus, OrganizationSettings,
    PatientId, Permission, RecoveryStatus, SubscriptionId, SubscriptionStatus,
};
use clinicpay_store::billing::{self, NewSubscription};
use clinicpay_store::ledger::{self, Order, RecoveryUpdate, Subscription};
use clinicpay_store::{payment_methods as cards_repo, StoreError, Tx};
use serde::Serialize;

use crate::billing::{insert_order_with_invoice, no_card_for, Charged, OrderToBill};
use crate::{Actor, Change, Result, ServiceError, Services};

const LIST_LIMIT: i64 = 500;
/// Work taken per pass, so one pass never holds the database for long.
const BATCH: i64 = 200;
/// Charges a worker has in flight at once.
const CHARGES_IN_FLIGHT: usize = 8;

/// How far a recovery sweep is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct SweepProgress {
    /// Open recovery orders when the sweep began.
    pub total: u32,
    pub done: u32,
    /// Of those done, paid now.
    pub paid: u32,
    /// Stopped by staff before the end.
    pub cancelled: bool,
}

/// What one worker pass did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct WorkerReport {
    pub cycles_billed: u32,
    pub cycles_paid: u32,
    pub retries_run: u32,
    pub retries_paid: u32,
    pub needs_payment_method: u32,
    pub suspended: u32,
    pub failed_final: u32,
    pub janitor: crate::billing::JanitorReport,
    /// Card expiry reminders sent, refused and skipped in this pass.
    pub reminders: crate::reminders::ReminderReport,
    /// Paused or suspended subscriptions whose latest cycle is paid and that nothing is recovering: an
    /// escalation case (document 003), listed for billing until someone looks.
    pub paused_after_payment: Vec<SubscriptionId>,
}

/// The next billing date after `from`.
pub fn next_cycle(from: DateTime<Utc>, interval: &str) -> DateTime<Utc> {
    match interval {
        "week" => from + Duration::weeks(1),
        _ => from
            .checked_add_months(Months::new(1))
            .unwrap_or(from + Duration::days(30)),
    }
}

/// Where recovery goes after a failed charge of a cycle or payoff order, under the clinic's schedule:
/// hard declines wait for a new card; soft ones are retried on the retry days after the first failure;
/// once the retries are used up the order waits for a new card; from the final day it has failed.
pub fn after_failure(
    order: &Order,
    hard: bool,
    message: &str,
    now: DateTime<Utc>,
    s: &OrganizationSettings,
) -> RecoveryUpdate {
    let first = order.first_failed_at.unwrap_or(now);
    let attempts = order.attempts + 1;
    let day = (now - first).num_days();
    let retries_done = (attempts - 1) as usize;
    let (status, next) = if day >= s.recovery.final_day as i64 {
        (RecoveryStatus::FailedFinal, None)
    } else if hard {
        (RecoveryStatus::NeedsPaymentMethod, None)
    } else if retries_done < s.recovery.max_attempts as usize
        && retries_done < s.recovery.retry_days.len()
    {
        let at = first + Duration::days(s.recovery.retry_days[retries_done] as i64);
        (RecoveryStatus::RetryScheduled, Some(at.max(now)))
    } else {
        (RecoveryStatus::NeedsPaymentMethod, None)
    };
    RecoveryUpdate {
        recovery_status: Some(status),
        next_retry_at: next,
        attempts,
        first_failed_at: Some(first),
        last_message: Some(message.to_owned()),
    }
}

impl Services {
    pub async fn create_subscription(
        &self,
        actor: &Actor,
        patient: PatientId,
        plan: &str,
        amount: Money,
        interval: &str,
    ) -> Result<Subscription> {
        actor.require(Permission::TakePayments)?;
        let settings = self.load_settings().await?;
        let plan = plan.trim();
        if plan.is_empty() {
            return Err(ServiceError::Invalid("Give the plan a name.".into()));
        }
        if !matches!(interval, "month" | "week") {
            return Err(ServiceError::Invalid(format!(
                "\"{interval}\" is not a billing interval: use month or week."
            )));
        }
        if amount.currency != settings.currency || !amount.is_positive() {
            return Err(ServiceError::Invalid(format!(
                "Give the plan's amount as a positive amount in {}.",
                settings.currency
            )));
        }
        let now = self.now();
        let mut tx = self.store().begin().await?;
        self.require_patient(&mut tx, patient).await?;
        // The first cycle is due at once: the worker bills it on its next pass.
        let id = billing::insert_subscription(
            &mut tx,
            &NewSubscription {
                patient_id: patient,
                plan: plan.into(),
                amount,
                interval: interval.into(),
                status: SubscriptionStatus::Active,
                next_cycle_at: now,
                locked_gateway: None,
            },
            now,
        )
        .await?;
        let sub = ledger::subscription(&mut tx, id)
            .await?
            .ok_or_else(|| ServiceError::Internal("the new subscription vanished".into()))?;
        Change::new(Some(actor), now, "subscription.created", "subscription", id)
            .patient(patient)
            .after(&sub)
            .record(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(sub)
    }

    pub async fn list_subscriptions(
        &self,
        actor: &Actor,
        patient: Option<PatientId>,
    ) -> Result<Vec<Subscription>> {
        actor.require(Permission::ViewPatients)?;
        let mut r = self.store().reader().await?;
        Ok(ledger::subscriptions(&mut r, patient, LIST_LIMIT).await?)
    }

    /// Moves a subscription to another plan. The difference for the rest of the current cycle, when the
    /// new plan costs more, is a switch-payoff order charged at once on the subscription's gateway.
    pub async fn switch_plan(
        &self,
        actor: &Actor,
        id: SubscriptionId,
        plan: &str,
        amount: Money,
    ) -> Result<SwitchResult> {
        actor.require(Permission::TakePayments)?;
        let now = self.now();
        let (sub, payoff) = {
            let mut tx = self.store().begin().await?;
            let sub = ledger::subscription(&mut tx, id)
                .await?
                .ok_or_else(|| ServiceError::NotFound(format!("There is no subscription {id}.")))?;
            if sub.status == SubscriptionStatus::Cancelled {
                return Err(ServiceError::CardRule(format!(
                    "Subscription {id} is cancelled: start a new one instead."
                )));
            }
            if amount.currency != sub.amount.currency
                || !amount.is_positive()
                || plan.trim().is_empty()
            {
                return Err(ServiceError::Invalid(format!(
                    "Give the new plan a name and a positive amount in {}.",
                    sub.amount.currency
                )));
            }
            // What is left of the paid cycle, as a share of the cycle, priced at the difference.
            let cycle_start = previous_cycle(sub.next_cycle_at, &sub.interval);
            let cycle = (sub.next_cycle_at - cycle_start).num_seconds().max(1);
            let left = (sub.next_cycle_at - now).num_seconds().clamp(0, cycle);
            let difference = amount.minor - sub.amount.minor;
            let payoff_minor =
                (i128::from(difference) * i128::from(left) / i128::from(cycle)) as i64;
            ledger::set_plan(&mut tx, id, plan.trim(), amount, now).await?;
            let payoff = if payoff_minor > 0 {
                let payoff_amount = Money::from_minor(payoff_minor, amount.currency);
                let description = format!("Switch to {} (rest of the current cycle)", plan.trim());
                let (order, _) = insert_order_with_invoice(
                    &mut tx,
                    OrderToBill {
                        patient: sub.patient_id,
                        kind: OrderKind::SwitchPayoff,
                        status: OrderStatus::Pending,
                        description: &description,
                        amount: payoff_amount,
                        subscription: Some(id),
                        cycle_start_at: None,
                        locked_gateway: sub.locked_gateway,
                    },
                    now,
                )
                .await?;
                Some(order)
            } else {
                None
            };
            Change::new(Some(actor), now, "subscription.plan_switched", "subscription", id)
                .patient(sub.patient_id)
                .before(serde_json::json!({ "plan": sub.plan, "amount": sub.amount }))
                .after(serde_json::json!({ "plan": plan.trim(), "amount": amount, "payoff_order": payoff.map(|o| o.0) }))
                .record(&mut tx)
                .await?;
            tx.commit().await?;
            (sub, payoff)
        };
        let settings = self.load_settings().await?;
        let message = match payoff {
            None => format!("Subscription {id} moves to {} from its next cycle.", plan.trim()),
            Some(order) => match self.charge_order(Some(actor), order, None, false, &settings).await {
                Ok(Charged::Paid(p)) => format!(
                    "Subscription {id} is on {} now; the difference of {} for this cycle was paid.",
                    plan.trim(),
                    p.amount
                ),
                Ok(_) | Err(_) => format!(
                    "Subscription {id} is on {} now; the difference for this cycle could not be charged: order {order} is in payment recovery.",
                    plan.trim()
                ),
            },
        };
        let mut r = self.store().reader().await?;
        Ok(SwitchResult {
            subscription: ledger::subscription(&mut r, sub.id)
                .await?
                .ok_or_else(|| ServiceError::Internal("the subscription vanished".into()))?,
            payoff_order: payoff,
            message,
        })
    }

    /// One pass of the worker: due cycles, due retries, recovery deadlines, unknown outcomes, reminders.
    pub async fn run_worker_pass(&self) -> Result<WorkerReport> {
        let mut report = WorkerReport::default();
        self.run_due_cycles(&mut report).await?;
        self.run_due_retries(&mut report).await?;
        self.apply_recovery_deadlines(&mut report).await?;
        report.paused_after_payment = {
            let mut r = self.store().reader().await?;
            ledger::paused_after_payment(&mut r).await?
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
        // Reminders never stop the billing work: a mail problem is reported and retried next pass.
        report.reminders = match self.run_reminders().await {
            Ok(r) => r,
            Err(e) => crate::reminders::ReminderReport {
                note: Some(e.to_string()),
                ..Default::default()
            },
        };
        Ok(report)
    }

    /// Bills every due cycle once: its order and invoice are created (the unique cycle index makes a
    /// second worker's attempt fail harmlessly), the subscription's next date moves on, then it is charged.
    async fn run_due_cycles(&self, report: &mut WorkerReport) -> Result<()> {
        let settings = self.load_settings().await?;
        let now = self.now();
        let mut created = Vec::new();
        {
            let mut tx = self.store().begin().await?;
            for sub in ledger::claim_due_subscriptions(&mut tx, now, BATCH).await? {
                match self.create_cycle_order(&mut tx, &sub, now).await {
                    Ok(order) => created.push(order),
                    Err(ServiceError::Conflict(_)) => {}
                    Err(e) => return Err(e),
                }
            }
            tx.commit().await?;
        }
        // Orders an earlier worker created but stopped before charging (killed, crashed).
        let stranded = {
            let mut r = self.store().reader().await?;
            ledger::uncharged_orders(&mut r, now - crate::billing::JANITOR_GRACE, BATCH).await?
        };
        created.extend(stranded.into_iter().map(|o| o.id));
        report.cycles_billed += created.len() as u32;
        // Several charges in flight at once, so a sweep runs at the gateway's pace rather than one
        // round trip at a time; each order is charged by exactly one task.
        let limit = std::sync::Arc::new(tokio::sync::Semaphore::new(CHARGES_IN_FLIGHT));
        let mut running = tokio::task::JoinSet::new();
        for order in created {
            let permit = limit.clone().acquire_owned().await;
            let services = self.clone();
            let settings = settings.clone();
            running.spawn(async move {
                let _permit = permit;
                services.charge_paced(order, &settings).await
            });
        }
        while let Some(done) = running.join_next().await {
            match done {
                Ok(Ok(Charged::Paid(_))) => report.cycles_paid += 1,
                Ok(Err(ServiceError::NoCompatibleCard(_))) => report.needs_payment_method += 1,
                _ => {}
            }
        }
        Ok(())
    }

    /// Charges an order; when the gateway refused before acting (rate limit, unreachable) it waits a
    /// little longer each time and tries again, a few times, before leaving the order for the next pass.
    async fn charge_paced(
        &self,
        order: OrderId,
        settings: &OrganizationSettings,
    ) -> Result<Charged> {
        let mut wait = std::time::Duration::from_millis(50);
        let mut tries = 0;
        loop {
            let charged = self.charge_order(None, order, None, false, settings).await;
            tries += 1;
            match charged {
                Ok(Charged::NotSent(..)) if tries < 16 => {
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(std::time::Duration::from_secs(2));
                }
                other => return other,
            }
        }
    }

    async fn create_cycle_order(
        &self,
        tx: &mut Tx,
        sub: &Subscription,
        now: DateTime<Utc>,
    ) -> Result<OrderId> {
        let description = format!(
            "{} — {} from {}",
            sub.plan,
            sub.interval,
            sub.next_cycle_at.format("%Y-%m-%d")
        );
        let (order, _) = insert_order_with_invoice(
            tx,
            OrderToBill {
                patient: sub.patient_id,
                kind: OrderKind::SubscriptionCycle,
                status: OrderStatus::Pending,
                description: &description,
                amount: sub.amount,
                subscription: Some(sub.id),
                cycle_start_at: Some(sub.next_cycle_at),
                locked_gateway: sub.locked_gateway,
            },
            now,
        )
        .await
        .map_err(|e| match e {
            StoreError::Duplicate(m) => ServiceError::Conflict(m),
            other => other.into(),
        })?;
        ledger::set_next_cycle(
            tx,
            sub.id,
            next_cycle(sub.next_cycle_at, &sub.interval),
            now,
        )
        .await?;
        Change::new(None, now, "subscription.cycle_billed", "order", order)
            .by_system("ClinicPay (subscription billing)")
            .patient(sub.patient_id)
            .after(serde_json::json!({ "subscription": sub.id.0, "amount": sub.amount, "cycle": sub.next_cycle_at }))
            .record(tx)
            .await?;
        Ok(order)
    }

    async fn run_due_retries(&self, report: &mut WorkerReport) -> Result<()> {
        let settings = self.load_settings().await?;
        let now = self.now();
        let due = {
            let mut r = self.store().reader().await?;
            ledger::due_retries(&mut r, now, BATCH).await?
        };
        for order in due {
            let Some(seen) = order.next_retry_at else {
                continue;
            };
            let mut tx = self.store().begin().await?;
            let mine = ledger::claim_retry(&mut tx, order.id, seen, now).await?;
            tx.commit().await?;
            if !mine {
                continue;
            }
            report.retries_run += 1;
            match self
                .charge_order(None, order.id, None, false, &settings)
                .await
            {
                Ok(Charged::Paid(_)) => report.retries_paid += 1,
                Err(ServiceError::NoCompatibleCard(_)) => report.needs_payment_method += 1,
                _ => {}
            }
        }
        Ok(())
    }

    /// Suspends subscriptions from the suspension day and ends recovery with the final notice from the
    /// final day, counted from the first failure.
    async fn apply_recovery_deadlines(&self, report: &mut WorkerReport) -> Result<()> {
        let settings = self.load_settings().await?;
        let now = self.now();
        let open = {
            let mut r = self.store().reader().await?;
            ledger::open_recovery_orders(&mut r, None, 10_000).await?
        };
        for order in open {
            let Some(first) = order.first_failed_at else {
                continue;
            };
            let day = (now - first).num_days();
            let mut tx = self.store().begin().await?;
            if day >= settings.recovery.final_day as i64 {
                let mut u = after_failure(&order, true, "", now, &settings);
                u.attempts = order.attempts;
                u.last_message = Some(format!(
                    "Final notice: no payment {day} days after the first failure. Recovery has ended; the subscription stays suspended."
                ));
                ledger::set_recovery(&mut tx, order.id, &u, now).await?;
                if let Some(sub) = order.subscription_id {
                    if ledger::set_subscription_status(
                        &mut tx,
                        sub,
                        SubscriptionStatus::Paused,
                        SubscriptionStatus::Suspended,
                        now,
                    )
                    .await?
                    {
                        report.suspended += 1;
                    }
                }
                Change::new(None, now, "recovery.final_notice", "order", order.id)
                    .by_system("ClinicPay (payment recovery)")
                    .patient(order.patient_id)
                    .after(serde_json::json!({ "recovery_status": "FAILED_FINAL", "day": day }))
                    .record(&mut tx)
                    .await?;
                report.failed_final += 1;
            } else if day >= settings.recovery.suspend_day as i64 {
                if let Some(sub) = order.subscription_id {
                    if ledger::set_subscription_status(
                        &mut tx,
                        sub,
                        SubscriptionStatus::Paused,
                        SubscriptionStatus::Suspended,
                        now,
                    )
                    .await?
                    {
                        Change::new(None, now, "subscription.suspended", "subscription", sub)
                            .by_system("ClinicPay (payment recovery)")
                            .patient(order.patient_id)
                            .after(serde_json::json!({ "day": day, "order": order.id.0 }))
                            .record(&mut tx)
                            .await?;
                        report.suspended += 1;
                    }
                }
            }
            tx.commit().await?;
        }
        Ok(())
    }

    /// Manual retry (document 003): only subscription cycle and switch payoff orders, on the active
    /// gateway, the gateway staff chose, or the configured fallback when the first has no card.
    pub async fn retry_order(
        &self,
        actor: &Actor,
        order: OrderId,
        gateway: Option<Gateway>,
    ) -> Result<crate::billing::PaymentResult> {
        actor.require(Permission::RetryRecovery)?;
        let settings = self.load_settings().await?;
        let o = {
            let mut r = self.store().reader().await?;
            ledger::order(&mut r, order)
                .await?
                .ok_or_else(|| ServiceError::NotFound(format!("There is no order {order}.")))?
        };
        if !o.kind.allows_manual_retry() {
            return Err(ServiceError::CardRule(format!(
                "Manual retry is only for subscription cycle and switch payoff orders; order {order} is a {} order: take the payment from its invoice instead.",
                o.kind.as_str().to_lowercase().replace('_', " ")
            )));
        }
        if o.status == OrderStatus::Paid {
            return Err(ServiceError::Conflict(format!(
                "Order {order} is paid already (perhaps just now, at another desk): nothing to retry."
            )));
        }
        let target = gateway.unwrap_or(settings.active_gateway);
        let charged = self
            .charge_order(Some(actor), order, Some(target), true, &settings)
            .await?;
        self.answer_retry(charged).await
    }

    /// Retries the patient's open recovery orders, as happens when they save a compatible card.
    pub async fn retry_recovery_for_patient(&self, patient: PatientId) -> Result<u32> {
        let settings = self.load_settings().await?;
        let open = {
            let mut r = self.store().reader().await?;
            ledger::open_recovery_orders(&mut r, Some(patient), 100).await?
        };
        let mut paid = 0;
        for order in open {
            if let Ok(Charged::Paid(_)) = self
                .charge_order(None, order.id, None, false, &settings)
                .await
            {
                paid += 1;
            }
        }
        Ok(paid)
    }

    /// A billing manager's recovery sweep: retries every open recovery order now (on its locked or the
    /// active gateway, with the patient's compatible card), reporting after each order, and stops
    /// between orders when `cancel` is set. An order without a compatible card is not charged.
    pub async fn recovery_sweep(
        &self,
        actor: &Actor,
        cancel: &std::sync::atomic::AtomicBool,
        mut progress: impl FnMut(SweepProgress) + Send,
    ) -> Result<SweepProgress> {
        actor.require(Permission::RunBilling)?;
        let settings = self.load_settings().await?;
        let open = {
            let mut r = self.store().reader().await?;
            ledger::open_recovery_orders(&mut r, None, 100_000).await?
        };
        let mut p = SweepProgress {
            total: open.len() as u32,
            ..SweepProgress::default()
        };
        progress(p);
        for order in open {
            if cancel.load(std::sync::atomic::Ordering::Relaxed) {
                p.cancelled = true;
                break;
            }
            if let Ok(Charged::Paid(_)) = self
                .charge_order(Some(actor), order.id, None, false, &settings)
                .await
            {
                p.paid += 1;
            }
            p.done += 1;
            progress(p);
        }
        progress(p);
        Ok(p)
    }

    /// Listens for saved cards and retries that patient's recovery orders in the background.
    pub fn retry_recovery_when_cards_are_saved(&self) -> tokio::task::JoinHandle<()> {
        let mut events = self.card_saved_events();
        let services = self.clone();
        tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(e) => {
                        let _ = services.retry_recovery_for_patient(e.patient_id).await;
                    }
                    // Missed announcements: the worker's scheduled retries still cover those patients.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                }
            }
        })
    }

    /// Charges an order's open invoice: on `gateway` when given, else the gateway locked on the order or
    /// its subscription, else the active one; with the default card if it fits, else another that does;
    /// with the configured fallback gateway when allowed and the first has no card. No card at all puts
    /// the order in recovery as NEEDS_PAYMENT_METHOD and pauses the subscription.
    pub(crate) async fn charge_order(
        &self,
        actor: Option<&Actor>,
        order: OrderId,
        gateway: Option<Gateway>,
        allow_fallback: bool,
        settings: &OrganizationSettings,
    ) -> Result<Charged> {
        let (o, invoice, sub, cards) = {
            let mut r = self.store().reader().await?;
            let o = ledger::order(&mut r, order)
                .await?
                .ok_or_else(|| ServiceError::NotFound(format!("There is no order {order}.")))?;
            let invoice = ledger::invoice_of_order(&mut r, order)
                .await?
                .filter(|i| i.status == InvoiceStatus::Open)
                .ok_or_else(|| {
                    ServiceError::Conflict(format!("Order {order} has nothing left to pay (another desk may have just paid it): reload to see it."))
                })?;
            let sub = match o.subscription_id {
                Some(s) => ledger::subscription(&mut r, s).await?,
                None => None,
            };
            let cards = cards_repo::active_for_patient(&mut r, o.patient_id).await?;
            (o, invoice, sub, cards)
        };
        let first_choice = gateway
            .or(o.locked_gateway)
            .or(sub.as_ref().and_then(|s| s.locked_gateway))
            .unwrap_or(settings.active_gateway);
        let now = self.now();
        let mut choice =
            pick_compatible(&cards, first_choice, None, now).map(|c| (c.clone(), first_choice));
        if choice.is_none() && allow_fallback {
            if let Some(fallback) = settings.fallback_gateway.filter(|f| *f != first_choice) {
                choice =
                    pick_compatible(&cards, fallback, None, now).map(|c| (c.clone(), fallback));
            }
        }
        let Some((card, gateway)) = choice else {
            let err = no_card_for(first_choice);
            self.needs_payment_method(&o, &err.to_string(), settings)
                .await?;
            return Err(err);
        };
        self.charge_invoice(actor, &invoice, &card, gateway, settings)
            .await
    }

    async fn needs_payment_method(
        &self,
        o: &Order,
        message: &str,
        settings: &OrganizationSettings,
    ) -> Result<()> {
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let mut u = after_failure(o, true, message, now, settings);
        // Finding no card is not a charge attempt.
        u.attempts = o.attempts;
        if let Some(sub) = o.subscription_id {
            let other = ledger::open_recovery_orders(&mut tx, Some(o.patient_id), 100)
                .await?
                .into_iter()
                .find(|x| x.subscription_id == Some(sub) && x.id != o.id);
            if let Some(other) = other {
                u.recovery_status = None;
                u.last_message = Some(format!(
                    "{message} Waiting for order {}'s payment recovery; charged again once it ends.",
                    other.id
                ));
            }
        }
        if o.status == OrderStatus::Pending {
            ledger::set_order_status(
                &mut tx,
                o.id,
                OrderStatus::Pending,
                OrderStatus::AwaitingPayment,
                now,
            )
            .await?;
        }
        if let Some(current) = o.recovery_status {
            current
                .transition(
                    u.recovery_status
                        .unwrap_or(RecoveryStatus::NeedsPaymentMethod),
                )
                .or_else(|e| {
                    if current == RecoveryStatus::NeedsPaymentMethod {
                        Ok(current)
                    } else {
                        Err(e)
                    }
                })?;
        }
        ledger::set_recovery(&mut tx, o.id, &u, now).await?;
        if let Some(sub) = o.subscription_id {
            ledger::set_subscription_status(
                &mut tx,
                sub,
                SubscriptionStatus::Active,
                SubscriptionStatus::Paused,
                now,
            )
            .await?;
        }
        Change::new(None, now, "recovery.needs_payment_method", "order", o.id)
            .by_system("ClinicPay (payment recovery)")
            .patient(o.patient_id)
            .after(serde_json::json!({ "recovery_status": "NEEDS_PAYMENT_METHOD", "message": message }))
            .record(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A failed charge of a subscription cycle or switch payoff: the order awaits payment, recovery is
    /// scheduled (or waits for a new card after a hard decline), and the subscription pauses.
    pub(crate) async fn record_recovery_failure(
        &self,
        tx: &mut Tx,
        order: OrderId,
        code: &str,
        message: &str,
        now: DateTime<Utc>,
        settings: &OrganizationSettings,
    ) -> Result<()> {
        let Some(o) = ledger::order(tx, order).await? else {
            return Ok(());
        };
        if !o.kind.allows_manual_retry() {
            return Ok(());
        }
        // Nothing reached the gateway (unreachable, or a worker stopped before sending): not a decline
        // and not an attempt. A first charge stays due for the next pass; a recovery keeps its schedule.
        if code == "not_sent" {
            if o.recovery_status == Some(RecoveryStatus::RetryScheduled)
                && o.next_retry_at.is_none()
            {
                let u = RecoveryUpdate {
                    next_retry_at: Some(now + Duration::hours(1)),
                    recovery_status: o.recovery_status,
                    attempts: o.attempts,
                    first_failed_at: o.first_failed_at,
                    last_message: Some(message.to_owned()),
                };
                ledger::set_recovery(tx, o.id, &u, now).await?;
            }
            return Ok(());
        }
        let gateway = o.locked_gateway.unwrap_or(settings.active_gateway);
        let hard = matches!(
            advise(gateway, code).action,
            DeclineAction::NeedsNewCard | DeclineAction::Stop
        );
        let mut u = after_failure(&o, hard, message, now, settings);
        // One open recovery per subscription: an order that fails while another is being recovered
        // waits, unpaid, and is charged once that recovery ends.
        if let Some(sub) = o.subscription_id {
            let other = ledger::open_recovery_orders(tx, Some(o.patient_id), 100)
                .await?
                .into_iter()
                .find(|x| x.subscription_id == Some(sub) && x.id != o.id);
            if let Some(other) = other {
                u.recovery_status = None;
                u.next_retry_at = None;
                u.last_message = Some(format!(
                    "{message} Waiting for order {}'s payment recovery; charged again once it ends.",
                    other.id
                ));
            }
        }
        if o.status == OrderStatus::Pending {
            ledger::set_order_status(
                tx,
                o.id,
                OrderStatus::Pending,
                OrderStatus::AwaitingPayment,
                now,
            )
            .await?;
        }
        ledger::set_recovery(tx, o.id, &u, now).await?;
        if let Some(sub) = o.subscription_id {
            ledger::set_subscription_status(
                tx,
                sub,
                SubscriptionStatus::Active,
                SubscriptionStatus::Paused,
                now,
            )
            .await?;
        }
        Ok(())
    }

    /// A paid cycle, payoff or retry: the subscription's gateway is locked, it resumes if it was paused
    /// for this order, and the card that paid becomes the default when the setting says so.
    pub(crate) async fn record_recovery_success(
        &self,
        tx: &mut Tx,
        payment: &ledger::Payment,
        now: DateTime<Utc>,
        settings: &OrganizationSettings,
    ) -> Result<()> {
        let Some(order) = payment.order_id else {
            return Ok(());
        };
        let Some(o) = ledger::order(tx, order).await? else {
            return Ok(());
        };
        if !o.kind.allows_manual_retry() {
            return Ok(());
        }
        if let Some(sub) = o.subscription_id {
            ledger::lock_subscription_gateway(tx, sub, payment.gateway).await?;
            let others_open = ledger::open_recovery_orders(tx, Some(o.patient_id), 100)
                .await?
                .iter()
                .any(|x| x.subscription_id == Some(sub) && x.id != o.id);
            if !others_open {
                for from in [SubscriptionStatus::Paused, SubscriptionStatus::Suspended] {
                    if ledger::set_subscription_status(
                        tx,
                        sub,
                        from,
                        SubscriptionStatus::Active,
                        now,
                    )
                    .await?
                    {
                        Change::new(None, now, "subscription.resumed", "subscription", sub)
                            .by_system("ClinicPay (payment recovery)")
                            .patient(o.patient_id)
                            .after(serde_json::json!({ "paid_order": o.id.0 }))
                            .record(tx)
                            .await?;
                    }
                }
            }
        }
        if settings.recovery.promote_successful_card {
            if let Some(card_id) = payment.payment_method_id {
                if let Some(card) = cards_repo::get(tx, card_id).await? {
                    if card.is_active() && !card.is_default {
                        cards_repo::set_default(tx, card.patient_id, card.id).await?;
                        Change::new(None, now, "card.default_changed", "payment_method", card.id)
                            .by_system("ClinicPay (the card that paid became the default)")
                            .patient(card.patient_id)
                            .after(serde_json::json!({ "default_card": card.id.0, "paid_order": o.id.0 }))
                            .record(tx)
                            .await?;
                    }
                }
            }
        }
        Ok(())
    }

    async fn answer_retry(&self, charged: Charged) -> Result<crate::billing::PaymentResult> {
        match charged {
            Charged::Paid(p) => {
                let mut r = self.store().reader().await?;
                let invoice = match p.invoice_id {
                    Some(i) => ledger::invoice(&mut r, i).await?,
                    None => None,
                }
                .ok_or_else(|| {
                    ServiceError::Internal("a paid payment without its invoice".into())
                })?;
                Ok(crate::billing::PaymentResult {
                    message: format!("The retry of {} on {} succeeded.", p.amount, p.gateway),
                    payment: p,
                    invoice,
                })
            }
            Charged::Declined(p, m) => Err(ServiceError::Declined(format!(
                "{} declined the retry (payment {}). {m}",
                p.gateway, p.id
            ))),
            Charged::NotSent(p, m) => Err(ServiceError::GatewayUnavailable(format!(
                "Payment {}: {m}",
                p.id
            ))),
            Charged::Unknown(p, m) => Err(ServiceError::OutcomeUnknown(format!(
                "Payment {}: {m}",
                p.id
            ))),
        }
    }
}

/// What a plan switch did.
#[derive(Debug, Clone, Serialize)]
pub struct SwitchResult {
    pub subscription: Subscription,
    pub payoff_order: Option<OrderId>,
    pub message: String,
}

fn previous_cycle(next: DateTime<Utc>, interval: &str) -> DateTime<Utc> {
    match interval {
        "week" => next - Duration::weeks(1),
        _ => next
            .checked_sub_months(Months::new(1))
            .unwrap_or(next - Duration::days(30)),
    }
}
