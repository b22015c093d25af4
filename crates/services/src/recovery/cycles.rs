//! Billing every due subscription cycle once, several charges in flight at the gateway's pace.

use chrono::{DateTime, Utc};
use clinicpay_domain::recovery::next_cycle;
use clinicpay_domain::{OrderId, OrderKind, OrderStatus, OrganizationSettings};
use clinicpay_store::subscriptions::Subscription;
use clinicpay_store::{orders, subscriptions, StoreError, Tx};

use crate::billing::{insert_order_with_invoice, Charged, OrderToBill};
use crate::recovery::{WorkerReport, BATCH, CHARGES_IN_FLIGHT};
use crate::{Change, Result, ServiceError, Services};

impl Services {
    /// Bills every due cycle once: its order and invoice are created (the unique cycle index makes a
    /// second worker's attempt fail harmlessly), the subscription's next date moves on, then it is charged.
    ///
    /// At month-end tens of thousands of cycles fall due at once, so the pass keeps the gateway busy:
    /// the next batch is claimed while the last charges of the one before are still in flight, batch
    /// after batch, for up to [`CYCLES_PER_PASS`](crate::recovery::CYCLES_PER_PASS) (the engine's pace may say otherwise); what is left is said in `more_due`, and the engine
    /// runs its next pass at once (retries and reminders get their turn in between).
    pub(crate) async fn run_due_cycles(&self, report: &mut WorkerReport) -> Result<()> {
        let settings = self.load_settings().await?;
        let now = self.now();
        let started = std::time::Instant::now();
        let limit = std::sync::Arc::new(tokio::sync::Semaphore::new(CHARGES_IN_FLIGHT));
        let mut running = tokio::task::JoinSet::new();
        let tally = |done: std::result::Result<Result<Charged>, tokio::task::JoinError>,
                     report: &mut WorkerReport| match done {
            Ok(Ok(Charged::Paid(_))) => report.cycles_paid += 1,
            Ok(Err(ServiceError::NoCompatibleCard(_))) => report.needs_payment_method += 1,
            _ => {}
        };
        let mut first = true;
        loop {
            let mut created = Vec::new();
            let claimed = {
                let mut tx = self.store().begin().await?;
                let due = subscriptions::claim_due_subscriptions(&mut tx, now, BATCH).await?;
                for sub in &due {
                    match self.create_cycle_order(&mut tx, sub, now).await {
                        Ok(order) => created.push(order),
                        Err(ServiceError::Conflict(_)) => {}
                        Err(e) => return Err(e),
                    }
                }
                tx.commit().await?;
                due.len()
            };
            if first {
                // Orders an earlier worker created but stopped before charging (killed, crashed).
                let mut r = self.store().reader().await?;
                let stranded =
                    orders::uncharged_orders(&mut r, now - crate::billing::JANITOR_GRACE, BATCH)
                        .await?;
                created.extend(stranded.into_iter().map(|o| o.id));
                first = false;
            }
            report.cycles_billed += created.len() as u32;
            let made_any = !created.is_empty();
            // Several charges in flight at once, so a sweep runs at the gateway's pace rather than
            // one round trip at a time; each order is charged by exactly one task.
            for order in created {
                let permit = limit.clone().acquire_owned().await;
                let services = self.clone();
                let settings = settings.clone();
                running.spawn(async move {
                    let _permit = permit;
                    services.charge_paced(order, &settings).await
                });
                // Finished charges are counted as they end, so a long month-end holds only the
                // ones in flight.
                while let Some(done) = running.try_join_next() {
                    tally(done, report);
                }
            }
            if claimed < BATCH as usize || !made_any {
                break;
            }
            if started.elapsed() >= self.cycles_per_pass {
                report.more_due = true;
                break;
            }
        }
        while let Some(done) = running.join_next().await {
            tally(done, report);
        }
        Ok(())
    }

    /// Charges an order; when the gateway refused before acting (rate limit, unreachable) it waits a
    /// little longer each time and tries again, a few times, before leaving the order for the next pass.
    pub(crate) async fn charge_paced(
        &self,
        order: OrderId,
        settings: &OrganizationSettings,
    ) -> Result<Charged> {
        let mut wait = std::time::Duration::from_millis(50);
        let mut tries = 0;
        loop {
            let charged = self
                .charge_order(None, order, super::ChargeHow::ENGINE, settings)
                .await;
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

    pub(crate) async fn create_cycle_order(
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
        subscriptions::set_next_cycle(tx, sub.id, next_cycle(sub.next_cycle_at, sub.interval), now)
            .await?;
        Change::new(None, now, "subscription.cycle_billed", "order", order)
            .by_system("ClinicPay (subscription billing)")
            .patient(sub.patient_id)
            .after(serde_json::json!({ "subscription": sub.id.0, "amount": sub.amount, "cycle": sub.next_cycle_at }))
            .record(tx)
            .await?;
        Ok(order)
    }
}
