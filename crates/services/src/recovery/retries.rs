//! Charging a cycle or recovery order and recording where its recovery goes: scheduled retries,
//! waiting for a card, success (the order paid, the subscription active again).

use chrono::{DateTime, Duration, Utc};
use clinicpay_domain::decline::{advise, DeclineAction};
use clinicpay_domain::routing::{route_charge, ChargeAsk, RouteReason};
use clinicpay_domain::{
    Gateway, InvoiceStatus, OrderId, OrderStatus, OrganizationSettings, PatientId, PaymentMethod,
    PaymentMethodId, RecoveryStatus, SubscriptionStatus,
};
use clinicpay_store::orders::{Order, RecoveryUpdate};
use clinicpay_store::{
    invoices, orders, payment_methods as cards_repo, payments, subscriptions, Tx,
};

use crate::billing::{no_card_for, Charged, DUPLICATE_REFUSED};
use crate::recovery::{recovery_update_after_failure, WorkerReport, BATCH};
use crate::{Actor, Change, ErrorCode, Result, ServiceError, Services};

/// How a charge of an order was asked for (see `clinicpay_domain::routing::ChargeAsk`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChargeHow {
    pub staff_chose: Option<Gateway>,
    pub allow_fallback: bool,
    pub just_saved: Option<PaymentMethodId>,
}

impl ChargeHow {
    /// The billing engine, a sweep, a plan switch: locked, else active. The fallback gateway is Manual
    /// Retry's only (document 003: "Retry can use … fallback gateway"); automatic billing of a patient
    /// whose cards are on the other gateway waits for a card re-saved for the active one, as document
    /// 003's own example says ("Result: … patient should re-save card for NMI").
    pub(crate) const ENGINE: ChargeHow = ChargeHow {
        staff_chose: None,
        allow_fallback: false,
        just_saved: None,
    };
}

/// Where `route_order_charge` sends a charge.
// One value per charge decision: boxing the card would buy nothing.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Routed {
    To {
        card: PaymentMethod,
        gateway: Gateway,
        reason: RouteReason,
        /// Why a gateway before this one was passed over (its key is not on this computer).
        passed_over: Option<String>,
    },
    /// The patient has no usable card on any gateway the charge may use: save one for `gateway`.
    NoCard { gateway: Gateway },
    /// The patient has a card, but this computer has no working key for its gateway.
    NoKey(ServiceError),
}

/// A retry stopped before the gateway is due again no sooner than this.
pub const RETRY_NOT_SENT_WAIT: Duration = Duration::minutes(15);

impl Services {
    pub(crate) async fn run_due_retries(&self, report: &mut WorkerReport) -> Result<()> {
        let settings = self.load_settings().await?;
        let now = self.now();
        // Retries an earlier worker claimed and stopped before sending (killed, crashed).
        {
            let mut tx = self.store().begin().await?;
            orders::return_stranded_retries(&mut tx, now - crate::billing::JANITOR_GRACE).await?;
            tx.commit().await?;
        }
        let due = {
            let mut r = self.store().reader().await?;
            orders::due_retries(&mut r, now, BATCH).await?
        };
        for order in due {
            let Some(seen) = order.next_retry_at else {
                continue;
            };
            let mut tx = self.store().begin().await?;
            let mine = orders::claim_retry(&mut tx, order.id, seen, now).await?;
            tx.commit().await?;
            if !mine {
                continue;
            }
            report.retries_run += 1;
            match self
                .charge_order(None, order.id, ChargeHow::ENGINE, &settings)
                .await
            {
                Ok(Charged::Paid(_)) => report.retries_paid += 1,
                Err(ServiceError::NoCompatibleCard(_)) => report.needs_payment_method += 1,
                Ok(_) => {}
                // Stopped before the gateway (no key in the keychain, the database away): the retry
                // goes back to its schedule rather than waiting for nobody. If even that cannot be
                // written, the next pass returns it (`return_stranded_retries`).
                Err(e) => {
                    report.retries_not_sent += 1;
                    // Due again on its schedule, but not before a quarter of an hour: a cause that
                    // lasts (no key on this computer) is not tried, and logged, every pass.
                    let again = seen.max(now + RETRY_NOT_SENT_WAIT);
                    eprintln!(
                        "ClinicPay: the retry of order {} was not sent ({e}); it is due again at {again}.",
                        order.id
                    );
                    if let Ok(mut tx) = self.store().begin().await {
                        if orders::unclaim_retry(&mut tx, order.id, again)
                            .await
                            .is_ok()
                        {
                            tx.commit().await.ok();
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Charges an order's open invoice where `how` and the patient's cards say
    /// (`clinicpay_domain::routing`): a card just saved first, staff's gateway on a Manual Retry, else
    /// the subscription's locked gateway while the patient has a usable card there, else the active
    /// gateway, then the fallback. No card anywhere puts the order in recovery as NEEDS_PAYMENT_METHOD
    /// and pauses the subscription; a card whose gateway key is missing here is not a missing card.
    pub(crate) async fn charge_order(
        &self,
        actor: Option<&Actor>,
        order: OrderId,
        how: ChargeHow,
        settings: &OrganizationSettings,
    ) -> Result<Charged> {
        let (o, invoice, sub, cards, charged_before) = {
            let mut r = self.store().reader().await?;
            let o = orders::order(&mut r, order)
                .await?
                .ok_or_else(|| ServiceError::NotFound(format!("There is no order {order}.")))?;
            let invoice = invoices::invoice_of_order(&mut r, order)
                .await?
                .filter(|i| i.status == InvoiceStatus::Open)
                .ok_or_else(|| {
                    ServiceError::Conflict(format!("Order {order} has nothing left to pay (another desk may have just paid it): reload to see it."))
                })?;
            let sub = match o.subscription_id {
                Some(s) => subscriptions::subscription(&mut r, s).await?,
                None => None,
            };
            let cards = cards_repo::active_for_patient(&mut r, o.patient_id).await?;
            // An order charged before (settled not sent, or declined) keeps the gateway's duplicate
            // check on: if a look-up ever missed a charge that went through, the gateway refuses the
            // second. Only a first attempt turns it off (a family's plans of one amount, one card).
            let charged_before = !payments::payments_of_order(&mut r, o.id).await?.is_empty();
            (o, invoice, sub, cards, charged_before)
        };
        let locked = sub
            .as_ref()
            .and_then(|s| s.locked_gateway)
            .or(o.locked_gateway);
        match self
            .route_order_charge(o.patient_id, locked, &cards, how, settings)
            .await?
        {
            Routed::To { card, gateway, .. } => {
                self.charge_invoice(actor, &invoice, &card, gateway, settings, charged_before)
                    .await
            }
            Routed::NoKey(e) => Err(e),
            Routed::NoCard { gateway } => {
                // The card networks' updates first (issue 23): an expired card the network has
                // renewed pays, instead of the order waiting for a card the patient already has.
                let now = self.now();
                // Asked at most once an hour a card: a sweep over many orders waiting on expired
                // cards does not ask the gateway about the same card again and again.
                let expired: Vec<_> = cards
                    .iter()
                    .filter(|c| c.gateway == gateway && c.expiry.is_expired(now))
                    .filter(|c| {
                        c.checked_at
                            .is_none_or(|t| t < now - chrono::Duration::hours(1))
                    })
                    .cloned()
                    .collect();
                if !expired.is_empty() && self.refresh_only(expired, settings).await.renewed > 0 {
                    let fresh = {
                        let mut r = self.store().reader().await?;
                        cards_repo::active_for_patient(&mut r, o.patient_id).await?
                    };
                    if let Routed::To { card, gateway, .. } = self
                        .route_order_charge(o.patient_id, locked, &fresh, how, settings)
                        .await?
                    {
                        return self
                            .charge_invoice(
                                actor,
                                &invoice,
                                &card,
                                gateway,
                                settings,
                                charged_before,
                            )
                            .await;
                    }
                }
                let err = no_card_for(gateway, &cards, self.now());
                self.needs_payment_method(&o, &err.to_string(), settings)
                    .await?;
                Err(err)
            }
        }
    }

    /// Where an order's next charge goes (see `charge_order`), with each candidate gateway's key
    /// looked for on this computer: one without it is passed over for the next.
    pub(crate) async fn route_order_charge(
        &self,
        patient: PatientId,
        locked: Option<Gateway>,
        cards: &[PaymentMethod],
        how: ChargeHow,
        settings: &OrganizationSettings,
    ) -> Result<Routed> {
        let route = route_charge(
            cards,
            ChargeAsk {
                staff_chose: how.staff_chose,
                allow_fallback: how.allow_fallback,
                just_saved: how.just_saved,
                locked,
                active: settings.active_gateway,
                fallback: settings.fallback_gateway,
            },
            self.now(),
        );
        let mut no_key: Option<ServiceError> = None;
        for candidate in route.candidates {
            match self
                .gateway_client(candidate.gateway, settings, Some(patient))
                .await
            {
                Ok(_) => {
                    let card = cards
                        .iter()
                        .find(|c| c.id == candidate.card)
                        .cloned()
                        .ok_or_else(|| ServiceError::Internal("a routed card vanished".into()))?;
                    return Ok(Routed::To {
                        card,
                        gateway: candidate.gateway,
                        reason: candidate.reason,
                        passed_over: no_key.map(|e| e.to_string()),
                    });
                }
                // This computer cannot use that gateway (no key, a key for another address, a test
                // key on a live clinic): try the next; a keychain that did not answer is not that.
                Err(e)
                    if matches!(
                        e.code(),
                        ErrorCode::CredentialsMissing
                            | ErrorCode::CredentialsRefused
                            | ErrorCode::InvalidInput
                    ) =>
                {
                    no_key.get_or_insert(e);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(match no_key {
            Some(e) => Routed::NoKey(e),
            None => Routed::NoCard {
                gateway: route.needs_card_for,
            },
        })
    }

    pub(crate) async fn needs_payment_method(
        &self,
        o: &Order,
        message: &str,
        settings: &OrganizationSettings,
    ) -> Result<()> {
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let mut u = recovery_update_after_failure(o, true, message, now, settings);
        // Finding no card is not a charge attempt.
        u.attempts = o.attempts;
        if let Some(sub) = o.subscription_id {
            let other = orders::open_recovery_orders(&mut tx, Some(o.patient_id), 100)
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
            orders::set_order_status(
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
        orders::set_recovery(&mut tx, o.id, &u, now).await?;
        self.pause_if_set(&mut tx, o, settings, now).await?;
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
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn record_recovery_failure(
        &self,
        tx: &mut Tx,
        order: OrderId,
        declined_by: Gateway,
        code: &str,
        message: &str,
        now: DateTime<Utc>,
        settings: &OrganizationSettings,
    ) -> Result<()> {
        let Some(o) = orders::order(tx, order).await? else {
            return Ok(());
        };
        if !o.kind.allows_manual_retry() {
            return Ok(());
        }
        // Nothing reached the gateway (unreachable, or a worker stopped before sending): not a decline
        // and not an attempt. A first charge stays due for the next pass; a recovery keeps its schedule.
        if code == "not_sent" || code == DUPLICATE_REFUSED {
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
                orders::set_recovery(tx, o.id, &u, now).await?;
            }
            return Ok(());
        }
        // A decline code means what the gateway that gave it says it means: the failed payment's own,
        // whichever gateway the order or the clinic uses now.
        let hard = matches!(
            advise(declined_by, code).action,
            DeclineAction::NeedsNewCard | DeclineAction::Stop
        );
        let mut u = recovery_update_after_failure(&o, hard, message, now, settings);
        // One open recovery per subscription: an order that fails while another is being recovered
        // waits, unpaid, and is charged once that recovery ends.
        if let Some(sub) = o.subscription_id {
            let other = orders::open_recovery_orders(tx, Some(o.patient_id), 100)
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
            orders::set_order_status(
                tx,
                o.id,
                OrderStatus::Pending,
                OrderStatus::AwaitingPayment,
                now,
            )
            .await?;
        }
        orders::set_recovery(tx, o.id, &u, now).await?;
        self.pause_if_set(tx, &o, settings, now).await?;
        Ok(())
    }

    /// Document 000's grace period: service continues after a failed charge, and the subscription is
    /// suspended on the suspension day. A clinic that sets `recovery.pause-on-first-failure` pauses it
    /// at once instead.
    async fn pause_if_set(
        &self,
        tx: &mut Tx,
        o: &Order,
        settings: &OrganizationSettings,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let Some(sub) = o.subscription_id else {
            return Ok(());
        };
        if settings.recovery.pause_on_first_failure
            && subscriptions::set_subscription_status(
                tx,
                sub,
                SubscriptionStatus::Active,
                SubscriptionStatus::Paused,
                now,
            )
            .await?
        {
            Change::new(None, now, "subscription.paused", "subscription", sub)
                .by_system("ClinicPay (payment recovery: recovery.pause-on-first-failure)")
                .patient(o.patient_id)
                .after(serde_json::json!({ "order": o.id.0 }))
                .record(tx)
                .await?;
        }
        Ok(())
    }

    /// A paid cycle, payoff or retry: the subscription's gateway is locked, it resumes if it was paused
    /// for this order, and the card that paid becomes the default when the setting says so.
    pub(crate) async fn record_recovery_success(
        &self,
        tx: &mut Tx,
        payment: &payments::Payment,
        now: DateTime<Utc>,
        settings: &OrganizationSettings,
    ) -> Result<()> {
        let Some(order) = payment.order_id else {
            return Ok(());
        };
        let Some(o) = orders::order(tx, order).await? else {
            return Ok(());
        };
        if !o.kind.allows_manual_retry() {
            return Ok(());
        }
        if let Some(sub) = o.subscription_id {
            let before = subscriptions::subscription(tx, sub)
                .await?
                .and_then(|s| s.locked_gateway);
            // The first success locks; a later one moves the lock only onto the clinic's own gateway
            // (it followed the clinic). Staff's one-off retry on another gateway, the fallback, or a
            // late answer from the old gateway pays this order without moving the plan there.
            let moves = before.is_none() || payment.gateway == settings.active_gateway;
            if moves && subscriptions::lock_subscription_gateway(tx, sub, payment.gateway).await? {
                if let Some(before) = before {
                    // It followed the clinic (no usable card, or no key, on its old gateway).
                    Change::new(None, now, "subscription.gateway_relocked", "subscription", sub)
                        .by_system("ClinicPay (payment recovery)")
                        .patient(o.patient_id)
                        .before(serde_json::json!({ "locked_gateway": before }))
                        .after(serde_json::json!({ "locked_gateway": payment.gateway, "paid_order": o.id.0 }))
                        .record(tx)
                        .await?;
                }
            }
            let others_open = orders::open_recovery_orders(tx, Some(o.patient_id), 100)
                .await?
                .iter()
                .any(|x| x.subscription_id == Some(sub) && x.id != o.id);
            if !others_open {
                for from in [SubscriptionStatus::Paused, SubscriptionStatus::Suspended] {
                    if subscriptions::set_subscription_status(
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
}
