//! Subscription billing and payment recovery (document 003 "Subscription Billing", "Payment Recovery",
//! "Manual Retry"; document 000 "What Happens When Cards Expire"), per gateway and on both databases,
//! each checked against what the gateway itself took.

use std::time::Duration as StdDuration;

use crate::support::*;
use chrono::Duration;
use clinicpay_domain::*;
use clinicpay_services::ErrorCode;
use clinicpay_testkit::{on_both_databases, TestDb};

fn usd(minor: i64) -> Money {
    Clinic::usd(minor)
}

const DAY: i64 = 24 * 60;

async fn a_due_cycle_is_billed_once_and_paid(db: &TestDb, gateway: Gateway) {
    let c = clinic(db, gateway).await;
    c.add(gateway, "4111111111111111").await.unwrap();
    let sub =
        c.s.create_subscription(&c.desk, c.patient, "Wellness", usd(4_900), "month")
            .await
            .unwrap();
    let report = c.s.run_worker_pass().await.unwrap();
    assert_eq!((report.cycles_billed, report.cycles_paid), (1, 1));
    // A second pass, or a second worker, at the same moment bills nothing more.
    assert_eq!(c.s.run_worker_pass().await.unwrap().cycles_billed, 0);
    let subs =
        c.s.list_subscriptions(&c.desk, Some(c.patient))
            .await
            .unwrap();
    assert_eq!(
        subs[0].locked_gateway,
        Some(gateway),
        "the first successful charge locks the gateway"
    );
    assert_eq!(
        subs[0].next_cycle_at,
        now() + Duration::days(30),
        "the phase advances a month"
    );
    let orders =
        c.s.list_orders(&c.desk, Some(c.patient), None)
            .await
            .unwrap();
    assert_eq!(orders.len(), 1);
    assert_eq!(
        (orders[0].kind, orders[0].status),
        (OrderKind::SubscriptionCycle, OrderStatus::Paid)
    );
    assert_eq!(orders[0].subscription_id, Some(sub.id));
    // A month later the next cycle.
    let later = c.later(30 * DAY + 1);
    assert_eq!(later.run_worker_pass().await.unwrap().cycles_paid, 1);
    assert_eq!(c.charged_at(gateway), vec![4_900, 4_900]);
}

async fn decline_schedule(db: &TestDb, gateway: Gateway) {
    let c = clinic(db, gateway).await;
    c.add(gateway, "4000000000000341").await.unwrap();
    c.s.create_subscription(&c.desk, c.patient, "Wellness", usd(4_900), "month")
        .await
        .unwrap();
    c.s.run_worker_pass().await.unwrap();
    let order = |s: &clinicpay_services::Services| {
        let s = s.clone();
        let (desk, patient) = (c.desk.clone(), c.patient);
        async move {
            s.list_orders(&desk, Some(patient), None)
                .await
                .unwrap()
                .remove(0)
        }
    };
    let o = order(&c.s).await;
    assert_eq!(o.status, OrderStatus::AwaitingPayment);
    assert_eq!(o.recovery_status, Some(RecoveryStatus::RetryScheduled));
    assert_eq!(
        o.next_retry_at,
        Some(now() + Duration::days(2)),
        "retry in days 1-3"
    );
    let said = if gateway == Gateway::Nmi {
        "NMI 201"
    } else {
        "Stripe generic_decline"
    };
    assert!(
        o.last_message.as_deref().unwrap().contains(said),
        "{:?}",
        o.last_message
    );
    assert_eq!(
        c.s.list_subscriptions(&c.desk, Some(c.patient))
            .await
            .unwrap()[0]
            .status,
        SubscriptionStatus::Active,
        "document 000's grace period: service continues after the first failure"
    );

    assert_eq!(c.later(DAY).run_worker_pass().await.unwrap().retries_run, 0);
    assert_eq!(
        c.later(2 * DAY)
            .run_worker_pass()
            .await
            .unwrap()
            .retries_run,
        1
    );
    let o = order(&c.s).await;
    assert_eq!(
        o.next_retry_at,
        Some(now() + Duration::days(5)),
        "another in days 4-7"
    );
    assert_eq!(
        c.later(5 * DAY)
            .run_worker_pass()
            .await
            .unwrap()
            .retries_run,
        1
    );
    let o = order(&c.s).await;
    assert_eq!(
        o.recovery_status,
        Some(RecoveryStatus::NeedsPaymentMethod),
        "retries used up"
    );
    assert_eq!(o.attempts, 3);
    assert_eq!(
        c.later(8 * DAY).run_worker_pass().await.unwrap().suspended,
        1
    );
    assert_eq!(
        c.s.list_subscriptions(&c.desk, Some(c.patient))
            .await
            .unwrap()[0]
            .status,
        SubscriptionStatus::Suspended
    );
    assert_eq!(
        c.later(15 * DAY)
            .run_worker_pass()
            .await
            .unwrap()
            .failed_final,
        1
    );
    assert_eq!(
        order(&c.s).await.recovery_status,
        Some(RecoveryStatus::FailedFinal)
    );
    // Three declined attempts at the gateway, nothing charged, one order for the cycle.
    let attempts = match gateway {
        Gateway::Nmi => c
            .sim
            .transactions()
            .iter()
            .filter(|t| t.kind == "sale")
            .count(),
        Gateway::Stripe => c.sim.stripe_payment_intents().len(),
    };
    assert_eq!(attempts, 3);
    assert!(c.charged_at(gateway).is_empty());
    assert_eq!(
        c.s.list_orders(&c.desk, Some(c.patient), None)
            .await
            .unwrap()
            .len(),
        1
    );
}

async fn plan_switch(db: &TestDb, gateway: Gateway) {
    let c = clinic(db, gateway).await;
    c.add(gateway, "4111111111111111").await.unwrap();
    let sub =
        c.s.create_subscription(&c.desk, c.patient, "Basic", usd(3_000), "month")
            .await
            .unwrap();
    c.s.run_worker_pass().await.unwrap();
    // Half-way through the 30-day cycle, to a plan costing $30.00 more: $15.00 now.
    let switched = c
        .later(15 * DAY)
        .switch_plan(&c.desk, sub.id, "Premium", usd(6_000))
        .await
        .unwrap();
    let payoff = switched.payoff_order.expect("a switch-payoff order");
    assert_eq!(switched.subscription.plan, "Premium");
    let o = c.s.order_details(&c.desk, payoff).await.unwrap();
    assert_eq!(
        (o.order.kind, o.order.status, o.order.amount),
        (OrderKind::SwitchPayoff, OrderStatus::Paid, usd(1_500))
    );
    assert_eq!(c.charged_at(gateway), vec![3_000, 1_500]);
}

on_both_databases! {
    async fn a_managers_recovery_sweep_reports_progress_pays_what_it_can_and_stops_when_cancelled(db: &TestDb) {
        use std::sync::atomic::AtomicBool;
        let c = clinic(db, Gateway::Stripe).await;
        c.add(Gateway::Stripe, "4242424242424242").await.unwrap();
        c.s.set_setting(&c.manager, "gateway", "nmi").await.unwrap();
        c.s.create_subscription(&c.desk, c.patient, "Wellness", usd(4_900), "month").await.unwrap();
        assert_eq!(c.s.run_worker_pass().await.unwrap().needs_payment_method, 1);

        // The front desk is not offered it, and is refused anyway.
        let refused = c.s.recovery_sweep(&c.desk, &AtomicBool::new(false), |_| {}).await.unwrap_err();
        assert_eq!(refused.code(), ErrorCode::PermissionDenied);

        // Cancelled before the first order: nothing is charged.
        let mut seen = Vec::new();
        let stopped = c.s.recovery_sweep(&c.manager, &AtomicBool::new(true), |p| seen.push(p)).await.unwrap();
        assert!(stopped.cancelled && stopped.done == 0 && stopped.total == 1, "{stopped:?}");
        assert!(c.charged_at(Gateway::Nmi).is_empty());

        // Without a compatible card the sweep charges nothing; once one is saved, it pays.
        let none = c.s.recovery_sweep(&c.manager, &AtomicBool::new(false), |_| {}).await.unwrap();
        assert_eq!((none.total, none.done, none.paid), (1, 1, 0));
        c.add(Gateway::Nmi, "4111111111111111").await.unwrap();
        let mut seen = Vec::new();
        let swept = c.s.recovery_sweep(&c.manager, &AtomicBool::new(false), |p| seen.push(p)).await.unwrap();
        assert_eq!((swept.total, swept.done, swept.paid, swept.cancelled), (1, 1, 1, false));
        assert_eq!(seen.first().map(|p| p.done), Some(0), "progress starts at zero");
        assert_eq!(seen.last(), Some(&swept));
        assert_eq!(c.charged_at(Gateway::Nmi), vec![4_900]);
    }

    async fn nmi_a_due_cycle_gets_one_order_and_invoice_and_is_paid_with_the_default_card(db: &TestDb) {
        a_due_cycle_is_billed_once_and_paid(db, Gateway::Nmi).await;
    }

    async fn stripe_a_due_cycle_gets_one_order_and_invoice_and_is_paid_with_the_default_card(db: &TestDb) {
        a_due_cycle_is_billed_once_and_paid(db, Gateway::Stripe).await;
    }

    async fn a_subscription_stays_on_the_gateway_that_first_charged_it(db: &TestDb) {
        let c = clinic(db, Gateway::Stripe).await;
        c.add(Gateway::Stripe, "4242424242424242").await.unwrap();
        c.s.create_subscription(&c.desk, c.patient, "Wellness", usd(2_500), "week").await.unwrap();
        c.s.run_worker_pass().await.unwrap();
        c.s.set_setting(&c.manager, "gateway", "nmi").await.unwrap();
        let report = c.later(7 * DAY + 1).run_worker_pass().await.unwrap();
        assert_eq!(report.cycles_paid, 1);
        assert_eq!(c.charged_at(Gateway::Stripe), vec![2_500, 2_500]);
        assert!(c.charged_at(Gateway::Nmi).is_empty());
    }

    async fn without_a_compatible_card_the_order_needs_a_payment_method_and_saving_one_recovers_it(db: &TestDb) {
        let c = clinic(db, Gateway::Stripe).await;
        c.add(Gateway::Stripe, "4242424242424242").await.unwrap();
        c.s.set_setting(&c.manager, "gateway", "nmi").await.unwrap();
        c.s.create_subscription(&c.desk, c.patient, "Wellness", usd(4_900), "month").await.unwrap();
        let report = c.s.run_worker_pass().await.unwrap();
        assert_eq!(report.needs_payment_method, 1);
        let order = c.s.list_orders(&c.desk, Some(c.patient), None).await.unwrap().remove(0);
        assert_eq!(order.status, OrderStatus::AwaitingPayment);
        assert_eq!(order.recovery_status, Some(RecoveryStatus::NeedsPaymentMethod));
        assert!(order.last_message.as_deref().unwrap().starts_with("No NMI payment method found"), "{:?}", order.last_message);
        assert_eq!(c.s.list_subscriptions(&c.desk, Some(c.patient)).await.unwrap()[0].status, SubscriptionStatus::Active, "in its grace period");
        assert!(c.charged_at(Gateway::Stripe).is_empty(), "the Stripe card is not charged for an NMI order");

        // The patient re-saves the card for NMI: the recovery order is retried in the background at once.
        let listener = c.s.retry_recovery_when_cards_are_saved();
        let nmi_card = c.add(Gateway::Nmi, "5555555555554444").await.unwrap().card;
        let mut resolved = None;
        for _ in 0..100 {
            let o = c.s.list_orders(&c.desk, Some(c.patient), None).await.unwrap().remove(0);
            if o.recovery_status == Some(RecoveryStatus::Resolved) {
                resolved = Some(o);
                break;
            }
            tokio::time::sleep(StdDuration::from_millis(50)).await;
        }
        listener.abort();
        let o = resolved.expect("the recovery order was retried and resolved");
        assert_eq!(o.status, OrderStatus::Paid);
        assert_eq!(c.s.list_subscriptions(&c.desk, Some(c.patient)).await.unwrap()[0].status, SubscriptionStatus::Active);
        let cards = c.s.list_cards(&c.desk, c.patient).await.unwrap();
        assert!(cards.iter().any(|x| x.id == nmi_card.id && x.is_default), "the card that paid became the default");
        assert_eq!(c.charged_at(Gateway::Nmi), vec![4_900]);
        assert_eq!(c.s.list_orders(&c.desk, Some(c.patient), None).await.unwrap().len(), 1, "no second recovery order");
    }

    async fn a_decline_is_judged_by_the_gateway_that_gave_it_not_the_orders_or_the_clinics(db: &TestDb) {
        // The patient's NMI card was saved while the clinic was on NMI; the clinic is on Stripe now, and
        // the patient's Stripe card is declined softly (retried on schedule).
        let c = clinic(db, Gateway::Nmi).await;
        c.add(Gateway::Nmi, "4000000000000069").await.unwrap();
        c.s.set_setting(&c.manager, "gateway", "stripe").await.unwrap();
        c.add(Gateway::Stripe, "4000000000000341").await.unwrap();
        c.s.create_subscription(&c.desk, c.patient, "Wellness", usd(4_900), "month").await.unwrap();
        c.s.run_worker_pass().await.unwrap();
        let o = c.s.list_orders(&c.desk, Some(c.patient), None).await.unwrap().remove(0);
        assert_eq!(o.recovery_status, Some(RecoveryStatus::RetryScheduled));

        // Staff retry through NMI with the patient's NMI card, which NMI declines as expired (223): a hard
        // decline on NMI, though "223" means nothing to Stripe. The recovery waits for a new card.
        let e = c.s.retry_order(&c.manager, o.id, Some(Gateway::Nmi)).await.unwrap_err();
        assert_eq!(e.code(), ErrorCode::Declined, "{e}");
        let o = c.s.list_orders(&c.desk, Some(c.patient), None).await.unwrap().remove(0);
        assert_eq!(o.recovery_status, Some(RecoveryStatus::NeedsPaymentMethod), "{:?}", o.last_message);
        assert_eq!(o.next_retry_at, None, "an expired card is not retried");
    }

    async fn after_the_clinic_moves_a_subscription_whose_card_is_gone_follows_it_and_is_locked_there(db: &TestDb) {
        // Paid on Stripe, so locked to Stripe; then the clinic moves to NMI and the Stripe card is removed.
        let c = clinic(db, Gateway::Stripe).await;
        let stripe_card = c.add(Gateway::Stripe, "4242424242424242").await.unwrap().card;
        let sub = c.s.create_subscription(&c.desk, c.patient, "Wellness", usd(4_900), "month").await.unwrap();
        c.s.run_worker_pass().await.unwrap();
        c.s.set_setting(&c.manager, "gateway", "nmi").await.unwrap();
        c.s.delete_card(&c.desk, stripe_card.id, true).await.unwrap();

        // The next cycle cannot go to Stripe: it waits for a card, and every screen asks for an NMI one.
        let month = c.later(30 * DAY + 1);
        let pass = month.run_worker_pass().await.unwrap();
        assert_eq!(pass.needs_payment_method, 1, "{pass:?}");
        let o = month.list_orders(&c.desk, Some(c.patient), None).await.unwrap().remove(0);
        assert_eq!(o.recovery_status, Some(RecoveryStatus::NeedsPaymentMethod));
        assert!(o.last_message.as_deref().unwrap().starts_with("No NMI payment method found"), "{:?}", o.last_message);
        let details = month.order_details(&c.desk, o.id).await.unwrap();
        let next = details.next_charge.expect("an unpaid cycle has a next charge");
        assert_eq!((next.gateway, next.needs_card_for), (None, Some(Gateway::Nmi)));
        let checks = month.what_to_check(&c.desk, c.patient, Some(o.id)).await.unwrap();
        for name in ["Recovery status", "Locked gateway"] {
            let check = checks.iter().find(|x| x.name == name).unwrap();
            let said = format!("{} {}", check.finding, check.next_step.clone().unwrap_or_default());
            assert!(!said.contains("card saved for Stripe") && !said.contains("needs a payment method for Stripe"), "{name}: {said}");
        }
        assert_eq!(
            checks.iter().find(|x| x.name == "Recovery status").unwrap().next_step.as_deref(),
            Some("Ask the patient to save a card for NMI.")
        );

        // The patient re-saves for NMI, exactly as document 003 tells staff: the recovery pays on NMI.
        let nmi_card = c.add(Gateway::Nmi, "4111111111111111").await.unwrap().card;
        assert_eq!(month.retry_recovery_for_patient(c.patient, Some(nmi_card.id)).await.unwrap(), 1);
        let o = month.list_orders(&c.desk, Some(c.patient), None).await.unwrap().remove(0);
        assert_eq!((o.status, o.recovery_status), (OrderStatus::Paid, Some(RecoveryStatus::Resolved)));
        assert_eq!(o.locked_gateway, Some(Gateway::Nmi), "the order says the gateway that paid it");
        let s = month.list_subscriptions(&c.desk, Some(c.patient)).await.unwrap().remove(0);
        assert_eq!((s.status, s.locked_gateway), (SubscriptionStatus::Active, Some(Gateway::Nmi)), "locked again, to NMI");
        let log = month.patient_profile(&c.desk, c.patient).await.unwrap().activity;
        let moved = log.iter().find(|a| a.action == "subscription.gateway_relocked").expect("the move is in the activity log");
        assert_eq!(moved.summary, "Subscription moved from Stripe to NMI, which paid it");
        assert_eq!(sub.locked_gateway, None);

        // And the month after, the cycle goes straight to NMI.
        assert_eq!(c.later(62 * DAY).run_worker_pass().await.unwrap().cycles_paid, 1, "January's cycle");
        assert_eq!(c.charged_at(Gateway::Nmi), vec![4_900, 4_900]);
        assert_eq!(c.charged_at(Gateway::Stripe), vec![4_900]);
    }

    async fn a_subscription_locked_to_a_gateway_this_computer_has_no_key_for_is_charged_on_the_clinics(db: &TestDb) {
        use clinicpay_services::credentials::{CredentialStore, Keychain};
        let c = clinic(db, Gateway::Stripe).await;
        c.add(Gateway::Stripe, "4242424242424242").await.unwrap();
        c.s.create_subscription(&c.desk, c.patient, "Wellness", usd(2_500), "week").await.unwrap();
        c.s.run_worker_pass().await.unwrap();
        c.s.set_setting(&c.manager, "gateway", "nmi").await.unwrap();
        c.add(Gateway::Nmi, "4111111111111111").await.unwrap();
        // While the Stripe key is here the lock holds, card on Stripe and all.
        assert_eq!(c.later(7 * DAY + 1).run_worker_pass().await.unwrap().cycles_paid, 1);
        assert_eq!(c.charged_at(Gateway::Stripe), vec![2_500, 2_500]);
        // IT retired the Stripe key: the next cycle follows the clinic instead of never being sent.
        Keychain::named(&c.keychain).delete(Gateway::Stripe.into()).unwrap();
        assert_eq!(c.later(14 * DAY + 2).run_worker_pass().await.unwrap().cycles_paid, 1);
        assert_eq!(c.charged_at(Gateway::Nmi), vec![2_500]);
        assert_eq!(c.s.list_subscriptions(&c.desk, Some(c.patient)).await.unwrap()[0].locked_gateway, Some(Gateway::Nmi));
    }

    async fn the_retry_after_a_card_is_saved_charges_that_card_not_the_declined_default(db: &TestDb) {
        // The default card is reported lost: a hard decline, so recovery waits for a new card.
        let c = clinic(db, Gateway::Nmi).await;
        let lost = c.add(Gateway::Nmi, "4000000000000119").await.unwrap().card;
        c.s.create_subscription(&c.desk, c.patient, "Wellness", usd(4_900), "month").await.unwrap();
        c.s.run_worker_pass().await.unwrap();
        let o = c.s.list_orders(&c.desk, Some(c.patient), None).await.unwrap().remove(0);
        assert_eq!(o.recovery_status, Some(RecoveryStatus::NeedsPaymentMethod), "{:?}", o.last_message);

        // The patient gives a new card at the desk; the background retry charges it, not the lost one.
        let listener = c.s.retry_recovery_when_cards_are_saved();
        let new_card = c.add(Gateway::Nmi, "4111111111111111").await.unwrap().card;
        let mut paid = None;
        for _ in 0..100 {
            let o = c.s.list_orders(&c.desk, Some(c.patient), None).await.unwrap().remove(0);
            if o.status == OrderStatus::Paid {
                paid = Some(o);
                break;
            }
            tokio::time::sleep(StdDuration::from_millis(50)).await;
        }
        listener.abort();
        let o = paid.expect("the retry after the card was saved paid the order");
        let attempts = c.s.order_details(&c.desk, o.id).await.unwrap().payments;
        let cards_tried: Vec<_> = attempts.iter().map(|p| (p.payment_method_id, p.status)).collect();
        assert_eq!(
            cards_tried.iter().filter(|(card, _)| *card == Some(lost.id)).count(),
            1,
            "the lost card was tried once, by the cycle, never by the retry: {cards_tried:?}"
        );
        assert!(cards_tried.contains(&(Some(new_card.id), PaymentStatus::Succeeded)), "{cards_tried:?}");
        let cards = c.s.list_cards(&c.desk, c.patient).await.unwrap();
        assert!(cards.iter().any(|x| x.id == new_card.id && x.is_default), "the card that paid became the default");
        assert_eq!(c.charged_at(Gateway::Nmi), vec![4_900]);
    }

    async fn an_expired_card_on_the_right_gateway_is_called_expired_not_unsaved(db: &TestDb) {
        let c = clinic(db, Gateway::Nmi).await;
        c.add_expiring(Gateway::Nmi, "4111111111111111", 12, 2026).await.unwrap();
        c.s.create_subscription(&c.desk, c.patient, "Wellness", usd(4_900), "month").await.unwrap();
        // December's cycle is paid; January's finds the card expired.
        assert_eq!(c.s.run_worker_pass().await.unwrap().cycles_paid, 1);
        let january = c.later(40 * DAY);
        assert_eq!(january.run_worker_pass().await.unwrap().needs_payment_method, 1);
        let o = january.list_orders(&c.desk, Some(c.patient), Some(RecoveryStatus::NeedsPaymentMethod)).await.unwrap().remove(0);
        let said = o.last_message.unwrap();
        assert!(said.starts_with("Visa ending in 1111 expired in 12/2026: ask the patient for a new card"), "{said}");
        assert!(!said.contains("not saved for"), "{said}");
        let checks = january.what_to_check(&c.desk, c.patient, Some(o.id)).await.unwrap();
        let recovery = checks.iter().find(|x| x.name == "Recovery status").unwrap();
        assert!(recovery.finding.contains("expired in 12/2026"), "{}", recovery.finding);
        // Paying an invoice with it says the same.
        let inv = january.create_invoice(&c.desk, c.patient, usd(1_000), "Visit").await.unwrap();
        let e = january.pay_invoice(&c.desk, inv.id, None).await.unwrap_err();
        assert_eq!(e.code(), ErrorCode::NoCompatibleCard);
        assert!(e.to_string().contains("expired in 12/2026"), "{e}");
    }

    async fn service_continues_through_the_grace_period_and_is_suspended_on_day_eight(db: &TestDb) {
        // Document 000: days 1-3 service continues; from day 8 it is suspended.
        let c = clinic(db, Gateway::Nmi).await;
        c.add(Gateway::Nmi, "4000000000000341").await.unwrap();
        c.s.create_subscription(&c.desk, c.patient, "Wellness", usd(4_900), "month").await.unwrap();
        c.s.run_worker_pass().await.unwrap();
        let status = |s: clinicpay_services::Services| {
            let (desk, patient) = (c.desk.clone(), c.patient);
            async move { s.list_subscriptions(&desk, Some(patient)).await.unwrap()[0].status }
        };
        assert_eq!(status(c.s.clone()).await, SubscriptionStatus::Active);
        let day3 = c.later(3 * DAY);
        day3.run_worker_pass().await.unwrap();
        assert_eq!(status(day3).await, SubscriptionStatus::Active, "day 3: still in grace");
        let day8 = c.later(8 * DAY);
        assert_eq!(day8.run_worker_pass().await.unwrap().suspended, 1);
        assert_eq!(status(day8).await, SubscriptionStatus::Suspended, "day 8: suspended");
    }

    async fn a_clinic_that_pauses_on_the_first_failure_has_its_subscription_paused_at_once(db: &TestDb) {
        let c = clinic(db, Gateway::Nmi).await;
        c.s.set_setting(&c.manager, "recovery.pause-on-first-failure", "true").await.unwrap();
        c.add(Gateway::Nmi, "4000000000000341").await.unwrap();
        c.s.create_subscription(&c.desk, c.patient, "Wellness", usd(4_900), "month").await.unwrap();
        c.s.run_worker_pass().await.unwrap();
        let status = c.s.list_subscriptions(&c.desk, Some(c.patient)).await.unwrap()[0].status;
        assert_eq!(status, SubscriptionStatus::Paused);
        let log = c.s.patient_profile(&c.desk, c.patient).await.unwrap().activity;
        assert!(log.iter().any(|a| a.action == "subscription.paused" && a.actor.starts_with("ClinicPay")), "{log:?}");
    }

    async fn the_patient_is_emailed_at_each_stage_of_recovery_once_in_the_managers_words(db: &TestDb) {
        use clinicpay_domain::notices::{NoticeStage, NoticeTemplate};
        use clinicpay_testkit::SmtpServer;
        let smtp = SmtpServer::start();
        let c = clinic(db, Gateway::Nmi).await;
        for (k, v) in [("smtp.host", "127.0.0.1".to_owned()), ("smtp.port", smtp.port().to_string()), ("smtp.security", "none".into()),
                       ("smtp.from", "Riverside Clinic <billing@riverside.example>".into()),
                       ("reminders.update-link", "https://portal.riverside.example/cards?patient={patient}".into())] {
            c.s.set_setting(&c.it, k, &v).await.unwrap();
        }
        c.add(Gateway::Nmi, "4000000000000341").await.unwrap();
        c.s.create_subscription(&c.desk, c.patient, "Wellness", usd(4_900), "month").await.unwrap();
        // Off until the clinic turns them on: the first failure sends nothing, and says why.
        let pass = c.s.run_worker_pass().await.unwrap();
        assert_eq!(pass.notices.note.as_deref(), Some("Recovery emails are off (recovery.emails)."));
        assert!(smtp.messages().is_empty());
        c.s.set_setting(&c.manager, "recovery.emails", "true").await.unwrap();
        // The billing manager's own words for the warning, checked and previewed first.
        let bad = NoticeTemplate { subject: "Still unpaid: {amonut}".into(), body: "Hello".into() };
        assert_eq!(c.s.set_notice_template(&c.manager, NoticeStage::Warning, bad).await.unwrap_err().code(), ErrorCode::InvalidInput);
        let mine = NoticeTemplate { subject: "Still unpaid: {amount}".into(), body: "Dear {patient_name}, {card} was declined. {update_link}".into() };
        assert_eq!(c.s.set_notice_template(&c.desk, NoticeStage::Warning, mine.clone()).await.unwrap_err().code(), ErrorCode::PermissionDenied);
        let preview = c.s.preview_notice(&c.manager, NoticeStage::Warning, mine.clone()).await.unwrap();
        assert_eq!(preview.subject, "Still unpaid: $49.00");
        c.s.set_notice_template(&c.manager, NoticeStage::Warning, mine).await.unwrap();

        let subjects = || {
            smtp.messages().iter().filter_map(|m| m.lines().find_map(|l| l.strip_prefix("Subject: ").map(str::to_owned))).collect::<Vec<_>>()
        };
        // Day 1: the first failure notice, once however many passes run.
        c.later(60).run_worker_pass().await.unwrap();
        c.later(61).run_worker_pass().await.unwrap();
        assert_eq!(subjects(), ["Your payment of $49.00 to Clinic did not go through"]);
        let first = &smtp.messages()[0];
        // Quoted-printable: `=` is written `=3D`, long lines are broken with a trailing `=`.
        let text = first.replace("=\n", "").replace("=\r\n", "").replace("=3D", "=");
        assert!(text.contains("Hello John Smith") && text.contains("Visa ending in 0341") && text.contains("portal.riverside.example/cards?patient="), "{text}");
        // Day 4: the warning, in the manager's words; day 6: the retries are used up, so the update request.
        c.later(4 * DAY).run_worker_pass().await.unwrap();
        assert!(subjects().contains(&"Still unpaid: $49.00".to_owned()), "{:?}", subjects());
        c.later(6 * DAY).run_worker_pass().await.unwrap();
        assert!(subjects().contains(&"Please update your payment method with Clinic".to_owned()), "{:?}", subjects());
        c.later(15 * DAY).run_worker_pass().await.unwrap();
        assert!(subjects().contains(&"Final notice: $49.00 to Clinic is unpaid".to_owned()), "{:?}", subjects());
        c.later(16 * DAY).run_worker_pass().await.unwrap();
        assert_eq!(subjects().len(), 4, "each once");
        let log = c.s.patient_profile(&c.manager, c.patient).await.unwrap().activity;
        assert_eq!(log.iter().filter(|a| a.action == "recovery.notice_sent").count(), 4);
    }

    async fn an_order_paid_after_its_final_notice_resolves_its_recovery(db: &TestDb) {
        let c = clinic(db, Gateway::Nmi).await;
        c.add(Gateway::Nmi, "4000000000000341").await.unwrap();
        c.s.create_subscription(&c.desk, c.patient, "Wellness", usd(4_900), "month").await.unwrap();
        c.s.run_worker_pass().await.unwrap();
        for days in [2, 5, 8] {
            c.later(days * DAY).run_worker_pass().await.unwrap();
        }
        assert_eq!(c.later(15 * DAY).run_worker_pass().await.unwrap().failed_final, 1);
        let o = c.s.list_orders(&c.desk, Some(c.patient), None).await.unwrap().remove(0);
        assert_eq!(o.recovery_status, Some(RecoveryStatus::FailedFinal));

        // Days later the patient brings a new card and the front desk takes the order's invoice with it.
        let card = c.add(Gateway::Nmi, "4111111111111111").await.unwrap().card;
        let later = c.later(17 * DAY);
        let invoice = later
            .list_invoices(&c.desk, Some(c.patient))
            .await
            .unwrap()
            .into_iter()
            .find(|i| i.order_id == Some(o.id))
            .expect("the order's invoice");
        later.pay_invoice(&c.desk, invoice.id, Some(card.id)).await.unwrap();
        let o = c.s.list_orders(&c.desk, Some(c.patient), None).await.unwrap().remove(0);
        assert_eq!(o.status, OrderStatus::Paid);
        assert_eq!(o.recovery_status, Some(RecoveryStatus::Resolved), "not FAILED_FINAL once paid");
        assert_eq!(o.last_message.as_deref(), Some("Paid"));
        assert!(c.charged_at(Gateway::Nmi).contains(&4_900));
    }

    async fn nmi_a_declined_cycle_is_retried_on_the_recovery_schedule_then_suspended_then_failed_final(db: &TestDb) {
        decline_schedule(db, Gateway::Nmi).await;
    }

    async fn stripe_a_declined_cycle_is_retried_on_the_recovery_schedule_then_suspended_then_failed_final(db: &TestDb) {
        decline_schedule(db, Gateway::Stripe).await;
    }

    async fn a_retry_claimed_but_never_sent_goes_back_to_its_schedule_and_is_sent_once_it_can_be(db: &TestDb) {
        use clinicpay_services::credentials::{CredentialStore, Keychain};
        let c = clinic(db, Gateway::Nmi).await;
        c.add(Gateway::Nmi, "4000000000000341").await.unwrap();
        c.s.create_subscription(&c.desk, c.patient, "Wellness", usd(4_900), "month").await.unwrap();
        c.s.run_worker_pass().await.unwrap();
        let retry_at = c.s.list_orders(&c.desk, Some(c.patient), None).await.unwrap()[0].next_retry_at;
        assert_eq!(retry_at, Some(now() + Duration::days(2)));
        // The worker's computer has lost NMI's key: the retry is claimed, then stops before NMI.
        let keychain = Keychain::named(&c.keychain);
        let key = keychain.get(Gateway::Nmi.into()).unwrap().unwrap();
        keychain.delete(Gateway::Nmi.into()).unwrap();
        let report = c.later(2 * DAY).run_worker_pass().await.unwrap();
        assert_eq!((report.retries_run, report.retries_not_sent), (1, 1));
        let o = c.s.list_orders(&c.desk, Some(c.patient), None).await.unwrap().remove(0);
        let again = now() + Duration::days(2) + Duration::minutes(15);
        assert_eq!((o.recovery_status, o.next_retry_at), (Some(RecoveryStatus::RetryScheduled), Some(again)), "back on its schedule, a quarter of an hour on");
        assert_eq!(o.attempts, 1, "a retry never sent is not an attempt");
        assert_eq!(c.later(2 * DAY + 5).run_worker_pass().await.unwrap().retries_run, 0, "not every pass");
        // With the key back, the next pass after that sends it.
        keychain.set(Gateway::Nmi.into(), &key).unwrap();
        let report = c.later(2 * DAY + 15).run_worker_pass().await.unwrap();
        assert_eq!((report.retries_run, report.retries_not_sent), (1, 0));
        let sales = c.sim.transactions().iter().filter(|t| t.kind == "sale").count();
        assert_eq!(sales, 2, "the first attempt and the retry");
    }

    async fn a_retry_whose_worker_died_after_claiming_it_is_due_again(db: &TestDb) {
        let c = clinic(db, Gateway::Nmi).await;
        c.add(Gateway::Nmi, "4000000000000341").await.unwrap();
        c.s.create_subscription(&c.desk, c.patient, "Wellness", usd(4_900), "month").await.unwrap();
        c.s.run_worker_pass().await.unwrap();
        let o = c.s.list_orders(&c.desk, Some(c.patient), None).await.unwrap().remove(0);
        // A worker claims the retry and is killed before recording a payment.
        let claimed_at = now() + Duration::days(2);
        let mut tx = db.store.begin().await.unwrap();
        assert!(clinicpay_store::orders::claim_retry(&mut tx, o.id, o.next_retry_at.unwrap(), claimed_at).await.unwrap());
        tx.commit().await.unwrap();
        // Within the janitor's grace it may still be on its way: nobody takes it.
        let soon = c.later(2 * DAY + 1).run_worker_pass().await.unwrap();
        assert_eq!(soon.retries_run, 0);
        // After it, the retry is due again and sent once.
        let later = c.later(2 * DAY + 10).run_worker_pass().await.unwrap();
        assert_eq!(later.retries_run, 1);
        assert_eq!(c.sim.transactions().iter().filter(|t| t.kind == "sale").count(), 2);
    }

    async fn a_worker_whose_clock_jumped_months_ahead_bills_no_cycle_before_its_time(db: &TestDb) {
        let c = clinic(db, Gateway::Nmi).await;
        c.add(Gateway::Nmi, "4111111111111111").await.unwrap();
        c.s.create_subscription(&c.desk, c.patient, "Wellness", usd(4_900), "month").await.unwrap();
        // The computer's clock says it is three months on; the database says it is today.
        let worker = c.with_clock(SkewedClock(Duration::days(90)));
        let mut billed = 0;
        for _ in 0..5 {
            billed += worker.run_worker_pass().await.unwrap().cycles_billed;
        }
        assert_eq!(billed, 1, "only the cycle that is due by the database's clock");
        assert_eq!(c.charged_at(Gateway::Nmi), vec![4_900]);
    }

    async fn a_subscription_left_paused_after_its_invoice_was_paid_is_reported_for_escalation(db: &TestDb) {
        let c = clinic(db, Gateway::Nmi).await;
        c.add(Gateway::Nmi, "4111111111111111").await.unwrap();
        let sub = c.s.create_subscription(&c.desk, c.patient, "Wellness", usd(4_900), "month").await.unwrap();
        let report = c.s.run_worker_pass().await.unwrap();
        assert!(report.paused_after_payment.is_empty());
        // Paused behind ClinicPay's back (another tool, a manual edit) although the cycle is paid.
        clinicpay_testkit::raw_execute(db, &format!("UPDATE subscriptions SET status = 'PAUSED' WHERE id = {}", sub.id.0)).await;
        let report = c.s.run_worker_pass().await.unwrap();
        assert_eq!(report.paused_after_payment, vec![sub.id]);
    }

    async fn a_card_that_must_not_be_charged_again_waits_for_a_new_card(db: &TestDb) {
        let c = clinic(db, Gateway::Nmi).await;
        c.add(Gateway::Nmi, "4000000000000259").await.unwrap();
        c.s.create_subscription(&c.desk, c.patient, "Wellness", usd(4_900), "month").await.unwrap();
        c.s.run_worker_pass().await.unwrap();
        let o = c.s.list_orders(&c.desk, Some(c.patient), None).await.unwrap().remove(0);
        assert_eq!(o.recovery_status, Some(RecoveryStatus::NeedsPaymentMethod));
        assert_eq!(o.next_retry_at, None);
        assert_eq!(c.later(5 * DAY).run_worker_pass().await.unwrap().retries_run, 0);
    }

    async fn manual_retry_is_only_for_cycle_and_payoff_orders_and_may_use_the_fallback_gateway(db: &TestDb) {
        let c = clinic(db, Gateway::Stripe).await;
        c.add(Gateway::Stripe, "4242424242424242").await.unwrap();
        let inv = c.s.create_invoice(&c.desk, c.patient, usd(1_000), "Visit").await.unwrap();
        let err = c.s.retry_order(&c.desk, inv.order_id.unwrap(), None).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::CardRule);
        assert!(err.to_string().starts_with("Manual retry is only for subscription cycle and switch payoff orders"), "{err}");

        c.s.set_setting(&c.manager, "gateway", "nmi").await.unwrap();
        c.s.create_subscription(&c.desk, c.patient, "Wellness", usd(4_900), "month").await.unwrap();
        c.s.run_worker_pass().await.unwrap();
        let cycle = c.s.list_orders(&c.desk, Some(c.patient), Some(RecoveryStatus::NeedsPaymentMethod)).await.unwrap().remove(0);
        // NMI has no card: without a fallback the retry says so.
        let err = c.s.retry_order(&c.desk, cycle.id, None).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::NoCompatibleCard);
        c.s.set_setting(&c.manager, "fallback-gateway", "stripe").await.unwrap();
        let paid = c.s.retry_order(&c.desk, cycle.id, None).await.unwrap();
        assert_eq!(paid.payment.gateway, Gateway::Stripe);
        assert_eq!(c.charged_at(Gateway::Stripe), vec![4_900]);
        // Staff may also name the gateway.
        let again = c.s.retry_order(&c.desk, cycle.id, Some(Gateway::Stripe)).await.unwrap_err();
        assert_eq!(again.code(), ErrorCode::Conflict, "paid already");
    }

    async fn a_one_off_retry_on_another_gateway_pays_the_order_without_moving_the_plan_there(db: &TestDb) {
        // A Stripe card from before, the clinic on NMI now, and the plan paid (so locked) on NMI.
        let c = clinic(db, Gateway::Stripe).await;
        c.add(Gateway::Stripe, "4242424242424242").await.unwrap();
        c.s.set_setting(&c.manager, "gateway", "nmi").await.unwrap();
        c.add(Gateway::Nmi, "4111111111111111").await.unwrap();
        let sub = c.s.create_subscription(&c.desk, c.patient, "Wellness", usd(4_900), "month").await.unwrap();
        c.s.run_worker_pass().await.unwrap();
        assert_eq!(c.s.list_subscriptions(&c.desk, Some(c.patient)).await.unwrap()[0].locked_gateway, Some(Gateway::Nmi));
        // A small plan change: NMI's test mode declines the payoff (under $1.00), staff retry it on Stripe.
        let switched = c.s.switch_plan(&c.desk, sub.id, "Wellness plus", usd(4_990)).await.unwrap();
        let payoff = switched.payoff_order.expect("a payoff");
        let paid = c.s.retry_order(&c.manager, payoff, Some(Gateway::Stripe)).await.unwrap();
        assert_eq!(paid.payment.gateway, Gateway::Stripe);
        let s = c.s.list_subscriptions(&c.desk, Some(c.patient)).await.unwrap().remove(0);
        assert_eq!(s.locked_gateway, Some(Gateway::Nmi), "a one-off on Stripe does not move the plan off the clinic's gateway");
    }

    async fn nmi_a_plan_switch_charges_the_difference_for_the_rest_of_the_cycle_as_a_switch_payoff(db: &TestDb) {
        plan_switch(db, Gateway::Nmi).await;
    }

    async fn stripe_a_plan_switch_charges_the_difference_for_the_rest_of_the_cycle_as_a_switch_payoff(db: &TestDb) {
        plan_switch(db, Gateway::Stripe).await;
    }
}
