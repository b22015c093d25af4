//! The card networks' updates first (issue 23), on both gateways and both databases: a card the network
//! renewed (Stripe's card automatic updates, NMI's Account Updater, as the simulator does them) gets no
//! reminder and leaves the expiring-cards dashboard; one it did not is reminded once as before; a
//! gateway that is down delays the reminder and changes nothing; a recovery order waiting on an expired
//! card the network renewed is paid instead of waiting for a re-save.

use crate::support::*;
use clinicpay_domain::*;
use clinicpay_services::reminders::ExpiringFilter;
use clinicpay_sim::Fault;
use clinicpay_testkit::{on_both_databases, SmtpServer};

/// The clinic's reminders on, going to `smtp`.
async fn reminders_on(c: &Clinic, smtp: &SmtpServer) {
    for (k, v) in [
        ("clinic-name", "Riverside Clinic".to_owned()),
        ("smtp.host", "127.0.0.1".into()),
        ("smtp.port", smtp.port().to_string()),
        ("smtp.security", "none".into()),
        (
            "smtp.from",
            "Riverside Clinic <billing@riverside.example>".into(),
        ),
    ] {
        c.s.set_setting(&c.it, k, &v).await.unwrap();
    }
    c.s.set_setting(&c.manager, "reminders.enabled", "true")
        .await
        .unwrap();
}

fn path_of(gateway: Gateway) -> &'static str {
    match gateway {
        Gateway::Nmi => "/api/query.php",
        Gateway::Stripe => "/stripe/v1/payment_methods",
    }
}

fn within_60() -> ExpiringFilter {
    ExpiringFilter {
        within_days: Some(60),
        ..ExpiringFilter::default()
    }
}

async fn a_renewed_card_is_not_reminded_and_leaves_the_dashboard(
    db: &clinicpay_testkit::TestDb,
    gateway: Gateway,
) {
    let smtp = SmtpServer::start();
    let c = clinic(db, gateway).await;
    reminders_on(&c, &smtp).await;
    // 23 Nov 2026: John's Visa ends 12/2026 (38 days: the 60-day reminder is due); Ann's Mastercard too.
    let john = c
        .add_expiring(gateway, "4111111111111111", 12, 2026)
        .await
        .unwrap()
        .card;
    let ann = c
        .new_patient("Ann Lee".into(), "ann@example.com".into())
        .await;
    let token = match gateway {
        Gateway::Nmi => c.sim.payment_token("5555555555554444", "1226"),
        Gateway::Stripe => c.sim.stripe_payment_method("5555555555554444", 12, 2026),
    };
    c.s.add_card(
        &c.desk,
        ann,
        clinicpay_services::cards::AddCard {
            gateway,
            token,
            cardholder_name: Some("Ann Lee".into()),
            country: None,
            nickname: None,
        },
    )
    .await
    .unwrap();
    let shown: Vec<_> =
        c.s.expiring_cards(&c.manager, &within_60())
            .await
            .unwrap()
            .cards
            .iter()
            .map(|x| x.last4.clone())
            .collect();
    assert_eq!(shown, ["1111", "4444"]);

    // The network renews John's card at the gateway (to 08/2030), not Ann's.
    assert_eq!(c.sim.renew_card(gateway.as_str(), "1111", 8, 2030, None), 1);
    let report = c.s.run_reminders().await.unwrap();
    assert_eq!(
        (report.sent, report.renewed, report.not_checked),
        (1, 1, 0),
        "{report:?}"
    );
    let mails = smtp.messages();
    assert_eq!(mails.len(), 1);
    assert!(
        mails[0].contains("ann@example.com") && mails[0].contains("ending in 4444"),
        "only Ann is reminded"
    );

    // John's card is as the gateway holds it, said in the activity log and on the card.
    let cards = c.s.list_cards(&c.desk, c.patient).await.unwrap();
    assert_eq!(
        (cards[0].id, cards[0].expiry.as_str()),
        (john.id, "08/2030")
    );
    assert!(cards[0].renewed_by_network_at.is_some());
    let log =
        c.s.patient_profile(&c.manager, c.patient)
            .await
            .unwrap()
            .activity;
    let entry = log
        .iter()
        .find(|a| a.action == "card.renewed_by_network")
        .expect("the renewal is logged");
    assert!(
        entry
            .summary
            .contains("the card network renewed it to 08/2030"),
        "{}",
        entry.summary
    );
    assert_eq!(entry.actor, format!("the card network, through {gateway}"));
    // And it has left the dashboard.
    let shown: Vec<_> =
        c.s.expiring_cards(&c.manager, &within_60())
            .await
            .unwrap()
            .cards
            .iter()
            .map(|x| x.last4.clone())
            .collect();
    assert_eq!(shown, ["4444"]);
    // Ann's is reminded once, as before.
    assert_eq!(c.s.run_reminders().await.unwrap().sent, 0);
}

async fn a_gateway_that_is_down_delays_the_reminder_and_changes_nothing(
    db: &clinicpay_testkit::TestDb,
    gateway: Gateway,
) {
    let smtp = SmtpServer::start();
    let c = clinic(db, gateway).await;
    reminders_on(&c, &smtp).await;
    c.add_expiring(gateway, "4111111111111111", 12, 2026)
        .await
        .unwrap();
    let cards = || async { format!("{:?}", c.s.list_cards(&c.desk, c.patient).await.unwrap()) };
    let before = cards().await;
    c.sim.inject(path_of(gateway), 100, Fault::Status(503));
    let report = c.s.run_reminders().await.unwrap();
    assert_eq!((report.sent, report.not_checked), (0, 1), "{report:?}");
    assert!(smtp.messages().is_empty(), "the reminder waits");
    assert_eq!(cards().await, before, "the card is as it was");
    assert!(
        c.s.list_reminders(&c.manager, None)
            .await
            .unwrap()
            .is_empty(),
        "no reminder claimed"
    );
    // The dashboard shows the card as ClinicPay knew it, and says it could not be checked.
    let shown = c.s.expiring_cards(&c.manager, &within_60()).await.unwrap();
    assert_eq!((shown.cards.len(), shown.not_checked), (1, 1));
    // The gateway answers again: the next pass sends it.
    c.sim.clear_faults();
    let report = c.s.run_reminders().await.unwrap();
    assert_eq!((report.sent, report.not_checked), (1, 0), "{report:?}");
}

async fn an_expired_card_the_network_renewed_pays_its_recovery_order(
    db: &clinicpay_testkit::TestDb,
    gateway: Gateway,
) {
    let c = clinic(db, gateway).await;
    let card = c
        .add_expiring(gateway, "4111111111111111", 12, 2026)
        .await
        .unwrap()
        .card;
    c.s.create_subscription(
        &c.desk,
        c.patient,
        "Wellness",
        Money::from_minor(4_900, Currency::USD),
        "month",
    )
    .await
    .unwrap();
    c.s.run_worker_pass().await.unwrap();
    // 5 Jan 2027: the card ClinicPay knows has expired and the network has not renewed it yet: the
    // cycle waits for a card.
    let january = c.with_clock(FixedClock(
        chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2027, 1, 5, 9, 0, 0).unwrap(),
    ));
    january.run_worker_pass().await.unwrap();
    let order = january
        .list_orders(
            &c.desk,
            Some(c.patient),
            Some(RecoveryStatus::NeedsPaymentMethod),
        )
        .await
        .unwrap();
    assert_eq!(order.len(), 1, "waiting for a new card");

    // The network renews it: the next day's refresh takes it and the order is paid with it, no re-save.
    c.sim.renew_card(gateway.as_str(), "1111", 12, 2029, None);
    let next_day = c.with_clock(FixedClock(
        chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2027, 1, 6, 10, 0, 0).unwrap(),
    ));
    let pass = next_day.run_worker_pass().await.unwrap();
    assert_eq!(
        pass.card_refresh.as_ref().map(|r| r.renewed),
        Some(1),
        "{:?}",
        pass.card_refresh
    );
    let orders = next_day
        .list_orders(&c.desk, Some(c.patient), None)
        .await
        .unwrap();
    assert!(
        orders.iter().all(|o| o.status == OrderStatus::Paid),
        "{orders:?}"
    );
    let cards = next_day.list_cards(&c.desk, c.patient).await.unwrap();
    assert_eq!(
        (cards.len(), cards[0].id, cards[0].expiry.as_str()),
        (1, card.id, "12/2029")
    );
    assert_eq!(
        c.charged_at(gateway).len(),
        2,
        "November's cycle, and December's with the renewed card"
    );

    // The issuer replaces the number too: `cards refresh` for the patient says so.
    c.sim
        .renew_card(gateway.as_str(), "1111", 4, 2031, Some("4242424242424242"));
    let report = next_day
        .refresh_cards(&c.desk, Some(c.patient))
        .await
        .unwrap();
    assert_eq!(
        (
            report.checked,
            report.renewed,
            report.unchanged,
            report.could_not_check
        ),
        (1, 1, 0, 0),
        "{report:?}"
    );
    assert_eq!(
        report.renewals,
        ["Visa ••1111: the card network replaced it with ••4242, valid to 04/2031"]
    );
    let cards = next_day.list_cards(&c.desk, c.patient).await.unwrap();
    assert_eq!(
        (cards[0].last4.as_str(), cards[0].expiry.as_str()),
        ("4242", "04/2031")
    );
}

on_both_databases! {
    async fn nmi_a_card_the_network_renewed_gets_no_reminder_and_leaves_the_dashboard(db: &TestDb) {
        a_renewed_card_is_not_reminded_and_leaves_the_dashboard(db, Gateway::Nmi).await;
    }

    async fn stripe_a_card_the_network_renewed_gets_no_reminder_and_leaves_the_dashboard(db: &TestDb) {
        a_renewed_card_is_not_reminded_and_leaves_the_dashboard(db, Gateway::Stripe).await;
    }

    async fn nmi_a_gateway_that_is_down_delays_the_reminder_and_changes_nothing(db: &TestDb) {
        a_gateway_that_is_down_delays_the_reminder_and_changes_nothing(db, Gateway::Nmi).await;
    }

    async fn stripe_a_gateway_that_is_down_delays_the_reminder_and_changes_nothing(db: &TestDb) {
        a_gateway_that_is_down_delays_the_reminder_and_changes_nothing(db, Gateway::Stripe).await;
    }

    async fn nmi_an_expired_card_the_network_renewed_pays_its_recovery_order_without_a_re_save(db: &TestDb) {
        an_expired_card_the_network_renewed_pays_its_recovery_order(db, Gateway::Nmi).await;
    }

    async fn stripe_an_expired_card_the_network_renewed_pays_its_recovery_order_without_a_re_save(db: &TestDb) {
        an_expired_card_the_network_renewed_pays_its_recovery_order(db, Gateway::Stripe).await;
    }
}
