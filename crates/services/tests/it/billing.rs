//! Money moving, per gateway and on both databases (product document 003: invoice payment, checkout,
//! refunds; DESIGN.md "Money safety"): every scenario ends by comparing ClinicPay's records with what the
//! gateway itself took.

use crate::support::*;
use clinicpay_domain::*;
use clinicpay_gateways::Secret;
use clinicpay_services::billing::CheckoutSource;
use clinicpay_services::cards::AddCard;
use clinicpay_services::ErrorCode;
use clinicpay_sim::Fault;
use clinicpay_testkit::{on_both_databases, TestDb};

fn usd(minor: i64) -> Money {
    Clinic::usd(minor)
}

async fn invoice_paid_with_the_default_card(db: &TestDb, gateway: Gateway) {
    let c = clinic(db, gateway).await;
    let card = c.add(gateway, "4111111111111111").await.unwrap().card;
    let inv =
        c.s.create_invoice(&c.desk, c.patient, usd(12_345), "Consultation")
            .await
            .unwrap();
    assert_eq!(inv.status, InvoiceStatus::Open);
    let paid = c.s.pay_invoice(&c.desk, inv.id, None).await.unwrap();
    assert_eq!(paid.invoice.status, InvoiceStatus::Paid);
    assert_eq!(paid.payment.status, PaymentStatus::Succeeded);
    assert_eq!(paid.payment.payment_method_id, Some(card.id));
    assert_eq!(paid.payment.gateway, gateway);
    assert_eq!(
        paid.message,
        "Payment of $123.45 with Visa ending in 1111 succeeded."
    );
    let order =
        c.s.list_orders(&c.desk, Some(c.patient), None)
            .await
            .unwrap()
            .remove(0);
    assert_eq!(order.status, OrderStatus::Paid, "the order is recalculated");
    assert_eq!(order.locked_gateway, Some(gateway));
    assert_eq!(c.charged_at(gateway), vec![12_345]);
    // Paying again is refused before the gateway is asked.
    let err = c.s.pay_invoice(&c.desk, inv.id, None).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::Conflict);
    assert_eq!(c.charged_at(gateway), vec![12_345]);
}

async fn declined_invoice_stays_unpaid(db: &TestDb, gateway: Gateway, number: &str) {
    let c = clinic(db, gateway).await;
    c.add(gateway, number).await.unwrap();
    let inv =
        c.s.create_invoice(&c.desk, c.patient, usd(5_000), "Labs")
            .await
            .unwrap();
    let err = c.s.pay_invoice(&c.desk, inv.id, None).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::Declined, "{err}");
    assert!(
        err.to_string().contains("The invoice stays unpaid."),
        "{err}"
    );
    let payments = c.s.list_payments(&c.desk, Some(c.patient)).await.unwrap();
    assert_eq!(payments.len(), 1);
    assert_eq!(payments[0].status, PaymentStatus::Failed);
    assert!(
        payments[0].decline_message.is_some(),
        "the gateway's own words are kept"
    );
    let invoices = c.s.list_invoices(&c.desk, Some(c.patient)).await.unwrap();
    assert_eq!(invoices[0].status, InvoiceStatus::Open);
    assert!(c.charged_at(gateway).is_empty());
}

async fn timeout_after_the_charge_is_settled_by_the_janitor(db: &TestDb, gateway: Gateway) {
    let c = clinic(db, gateway).await;
    c.add(gateway, "4111111111111111").await.unwrap();
    let inv =
        c.s.create_invoice(&c.desk, c.patient, usd(7_700), "Visit")
            .await
            .unwrap();
    let path = match gateway {
        Gateway::Nmi => "/api/transact.php",
        Gateway::Stripe => "/stripe/v1/payment_intents",
    };
    // The gateway takes the money and its answer never arrives (the client gives up after its timeout).
    c.sim.inject(path, 1, Fault::DropAfterCommit);
    c.sim.inject(path, 2, Fault::DropAfterCommit);
    let err = c.s.pay_invoice(&c.desk, inv.id, None).await;
    let payments = c.s.list_payments(&c.desk, Some(c.patient)).await.unwrap();
    match err {
        // Stripe's client retries with the same key and gets the first answer back: paid, once.
        Ok(paid) => {
            assert_eq!(gateway, Gateway::Stripe);
            assert_eq!(paid.payment.status, PaymentStatus::Succeeded);
        }
        Err(e) => {
            assert_eq!(e.code(), ErrorCode::OutcomeUnknown, "{e}");
            assert!(e.to_string().contains("Do not charge again"), "{e}");
            assert_eq!(payments[0].status, PaymentStatus::Unknown);
            // Paying again is refused while the outcome is unknown.
            let again = c.s.pay_invoice(&c.desk, inv.id, None).await.unwrap_err();
            assert_eq!(again.code(), ErrorCode::Conflict);
            // The janitor leaves it alone during the grace period, then asks the gateway.
            assert_eq!(c.s.settle_unknown_payments().await.unwrap().looked_at, 0);
            let report = c.later(10).settle_unknown_payments().await.unwrap();
            assert_eq!(report.found_paid, 1);
        }
    }
    let payments = c.s.list_payments(&c.desk, Some(c.patient)).await.unwrap();
    assert_eq!(payments.len(), 1);
    assert_eq!(payments[0].status, PaymentStatus::Succeeded);
    assert_eq!(
        c.s.list_invoices(&c.desk, Some(c.patient)).await.unwrap()[0].status,
        InvoiceStatus::Paid
    );
    assert_eq!(c.charged_at(gateway), vec![7_700], "charged exactly once");
}

on_both_databases! {
    async fn nmi_an_invoice_is_paid_with_the_default_card_and_the_order_is_recalculated(db: &TestDb) {
        invoice_paid_with_the_default_card(db, Gateway::Nmi).await;
    }

    async fn stripe_an_invoice_is_paid_with_the_default_card_and_the_order_is_recalculated(db: &TestDb) {
        invoice_paid_with_the_default_card(db, Gateway::Stripe).await;
    }

    async fn nmi_a_declined_invoice_payment_is_recorded_as_failed_and_the_invoice_stays_unpaid(db: &TestDb) {
        declined_invoice_stays_unpaid(db, Gateway::Nmi, "4000000000009995").await;
    }

    async fn stripe_a_declined_invoice_payment_is_recorded_as_failed_and_the_invoice_stays_unpaid(db: &TestDb) {
        declined_invoice_stays_unpaid(db, Gateway::Stripe, "4000000000000341").await;
    }

    async fn nmi_a_timeout_after_the_charge_is_unknown_and_the_janitor_finds_it_paid_without_charging_again(db: &TestDb) {
        timeout_after_the_charge_is_settled_by_the_janitor(db, Gateway::Nmi).await;
    }

    async fn stripe_a_lost_answer_is_never_a_second_charge(db: &TestDb) {
        timeout_after_the_charge_is_settled_by_the_janitor(db, Gateway::Stripe).await;
    }

    async fn invoice_payment_uses_another_card_of_the_active_gateway_when_the_selected_one_does_not_match(db: &TestDb) {
        let c = clinic(db, Gateway::Stripe).await;
        let stripe_card = c.add(Gateway::Stripe, "4242424242424242").await.unwrap().card;
        c.s.set_setting(&c.manager, "gateway", "nmi").await.unwrap();
        let nmi_card = c.add(Gateway::Nmi, "5555555555554444").await.unwrap().card;
        let inv = c.s.create_invoice(&c.desk, c.patient, usd(2_000), "Visit").await.unwrap();
        let paid = c.s.pay_invoice(&c.desk, inv.id, Some(stripe_card.id)).await.unwrap();
        assert_eq!(paid.payment.payment_method_id, Some(nmi_card.id));
        assert_eq!(paid.payment.gateway, Gateway::Nmi);
        assert_eq!(c.charged_at(Gateway::Nmi), vec![2_000]);
        assert!(c.charged_at(Gateway::Stripe).is_empty());
    }

    async fn without_a_card_for_the_active_gateway_staff_are_told_to_have_it_re_saved(db: &TestDb) {
        let c = clinic(db, Gateway::Stripe).await;
        c.add(Gateway::Stripe, "4242424242424242").await.unwrap();
        c.s.set_setting(&c.manager, "gateway", "nmi").await.unwrap();
        let inv = c.s.create_invoice(&c.desk, c.patient, usd(2_000), "Visit").await.unwrap();
        let calls = c.sim.requests();
        let err = c.s.pay_invoice(&c.desk, inv.id, None).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::NoCompatibleCard);
        assert!(err.to_string().starts_with("No NMI payment method found — ask the patient to re-save the card."), "{err}");
        assert_eq!(c.sim.requests(), calls, "no gateway was called");
        assert!(c.s.list_payments(&c.desk, Some(c.patient)).await.unwrap().is_empty());
    }

    async fn checkout_refuses_a_saved_card_of_the_other_gateway(db: &TestDb) {
        let c = clinic(db, Gateway::Stripe).await;
        let card = c.add(Gateway::Stripe, "4242424242424242").await.unwrap().card;
        c.s.set_setting(&c.manager, "gateway", "nmi").await.unwrap();
        let err = c.s.checkout(&c.desk, c.patient, usd(1_500), CheckoutSource::SavedCard(card.id)).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::GatewayMismatch);
        assert!(err.to_string().starts_with("Selected payment method gateway does not match active gateway"), "{err}");
        assert!(c.s.list_invoices(&c.desk, Some(c.patient)).await.unwrap().is_empty(), "nothing was created");
    }

    async fn checkout_with_a_new_card_saves_it_only_when_asked(db: &TestDb) {
        let c = clinic(db, Gateway::Nmi).await;
        let once = AddCard { gateway: Gateway::Nmi, token: c.token(Gateway::Nmi, "4111111111111111"), cardholder_name: None, country: None, nickname: None };
        let paid = c.s.checkout(&c.desk, c.patient, usd(4_000), CheckoutSource::NewCard { card: once, save: false }).await.unwrap();
        assert_eq!(paid.payment.status, PaymentStatus::Succeeded);
        assert!(c.s.list_cards(&c.desk, c.patient).await.unwrap().is_empty(), "not kept");
        assert_eq!(c.sim.vault_size(), 0, "not kept at NMI either");
        let keep = AddCard { gateway: Gateway::Nmi, token: c.token(Gateway::Nmi, "5555555555554444"), cardholder_name: None, country: None, nickname: None };
        c.s.checkout(&c.desk, c.patient, usd(6_000), CheckoutSource::NewCard { card: keep, save: true }).await.unwrap();
        let cards = c.s.list_cards(&c.desk, c.patient).await.unwrap();
        assert_eq!(cards.len(), 1);
        assert!(cards[0].is_default);
        assert_eq!(c.charged_at(Gateway::Nmi), vec![4_000, 6_000]);
    }

    async fn refunds_go_through_the_original_gateway_in_part_or_in_full_and_never_beyond(db: &TestDb) {
        let c = clinic(db, Gateway::Stripe).await;
        c.add(Gateway::Stripe, "4242424242424242").await.unwrap();
        let inv = c.s.create_invoice(&c.desk, c.patient, usd(10_000), "Procedure").await.unwrap();
        let paid = c.s.pay_invoice(&c.desk, inv.id, None).await.unwrap();
        // The clinic moved to NMI since: the refund still goes to Stripe, which took the money.
        c.s.set_setting(&c.manager, "gateway", "nmi").await.unwrap();
        let part = c.s.refund_payment(&c.desk, paid.payment.id, Some(usd(2_500))).await.unwrap();
        assert_eq!(part.refund.gateway, Gateway::Stripe);
        assert_eq!(part.left_to_refund, usd(7_500));
        assert_eq!(part.message, "Refunded $25.00 to the patient through Stripe. $75.00 is left to refund.");
        let err = c.s.refund_payment(&c.desk, paid.payment.id, Some(usd(9_000))).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidInput);
        assert_eq!(err.to_string(), format!("A refund of $90.00 is more than the $75.00 left to refund on payment {}.", paid.payment.id));
        // Above the front-desk limit ($100 by default) only a billing manager refunds; $75 is within it.
        let rest = c.s.refund_payment(&c.desk, paid.payment.id, None).await.unwrap();
        assert_eq!(rest.left_to_refund, usd(0));
        let again = c.s.refund_payment(&c.manager, paid.payment.id, None).await.unwrap_err();
        assert_eq!(again.code(), ErrorCode::Conflict);
        assert!(again.to_string().contains("already refunded in full"), "{again}");
        let refunded: Vec<i64> = c.sim.stripe_refunds().iter().map(|r| r["amount"].as_i64().unwrap()).collect();
        assert_eq!(refunded, vec![2_500, 7_500]);
        assert!(c.sim.transactions().is_empty(), "nothing went to NMI");
        assert_eq!(c.s.list_invoices(&c.desk, Some(c.patient)).await.unwrap()[0].status, InvoiceStatus::Refunded);
    }

    async fn a_refund_above_the_front_desk_limit_needs_a_billing_manager(db: &TestDb) {
        let c = clinic(db, Gateway::Nmi).await;
        c.add(Gateway::Nmi, "4111111111111111").await.unwrap();
        let inv = c.s.create_invoice(&c.desk, c.patient, usd(50_000), "Surgery").await.unwrap();
        let paid = c.s.pay_invoice(&c.desk, inv.id, None).await.unwrap();
        let err = c.s.refund_payment(&c.desk, paid.payment.id, None).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::PermissionDenied);
        assert!(c.sim.transactions().iter().all(|t| t.kind != "refund"));
        let done = c.s.refund_payment(&c.manager, paid.payment.id, None).await.unwrap();
        assert_eq!(done.refund.amount, usd(50_000));
        let refunds: Vec<i64> = c.sim.transactions().iter().filter(|t| t.kind == "refund" && t.success).map(|t| t.amount_minor).collect();
        assert_eq!(refunds, vec![50_000]);
    }

    async fn nmi_a_second_checkout_refused_as_a_duplicate_charges_nothing_and_says_what_to_do(db: &TestDb) {
        let sim = clinicpay_sim::SimConfig { nmi_duplicate_window: Some(1200), ..Default::default() };
        let c = crate::support::clinic_on(db, Gateway::Nmi, sim).await;
        let card = c.add(Gateway::Nmi, "4111111111111111").await.unwrap();
        c.s.checkout(&c.desk, c.patient, usd(4_900), CheckoutSource::SavedCard(card.card.id)).await.unwrap();
        // Pressed again: NMI's duplicate check refuses it, and the desk is told so in words.
        let err = c.s.checkout(&c.desk, c.patient, usd(4_900), CheckoutSource::SavedCard(card.card.id)).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::GatewayRefused, "{err}");
        assert!(err.to_string().contains("refused this charge as a duplicate"), "{err}");
        assert!(err.to_string().contains("Nothing was charged now"), "{err}");
        let payments = c.s.list_payments(&c.desk, Some(c.patient)).await.unwrap();
        let refused: Vec<_> = payments.iter().filter(|p| p.status == PaymentStatus::Failed).collect();
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].decline_code.as_deref(), Some("duplicate_refused"));
        assert_eq!(c.charged_at(Gateway::Nmi), vec![4_900], "charged once");
    }

    async fn nmi_a_checkout_pressed_again_after_a_lost_answer_is_one_invoice_and_one_charge(db: &TestDb) {
        let c = clinic(db, Gateway::Nmi).await;
        let card = c.add(Gateway::Nmi, "4111111111111111").await.unwrap().card;
        // NMI takes the money and its answer is lost.
        c.sim.inject("/api/transact.php", 1, Fault::DropAfterCommit);
        let first = c.s.checkout_attempt(&c.desk, c.patient, usd(6_600), CheckoutSource::SavedCard(card.id), Some("attempt-1")).await;
        assert_eq!(first.unwrap_err().code(), ErrorCode::OutcomeUnknown);
        // Pressed again: the same attempt finds its invoice, asks NMI, and answers paid.
        let again = c.s.checkout_attempt(&c.desk, c.patient, usd(6_600), CheckoutSource::SavedCard(card.id), Some("attempt-1")).await.unwrap();
        assert!(again.message.starts_with("The first attempt went through"), "{}", again.message);
        assert_eq!(again.invoice.status, InvoiceStatus::Paid);
        // And a third time: the same answer, nothing charged.
        c.s.checkout_attempt(&c.desk, c.patient, usd(6_600), CheckoutSource::SavedCard(card.id), Some("attempt-1")).await.unwrap();
        assert_eq!(c.s.list_invoices(&c.desk, Some(c.patient)).await.unwrap().len(), 1, "one invoice");
        assert_eq!(c.charged_at(Gateway::Nmi), vec![6_600], "one charge");
    }

    async fn nmi_a_checkout_pressed_again_while_its_outcome_is_unknown_says_so_and_charges_nothing_until_it_is_known(db: &TestDb) {
        let c = clinic(db, Gateway::Nmi).await;
        let card = c.add(Gateway::Nmi, "4111111111111111").await.unwrap().card;
        // A 5xx: NMI did nothing, but ClinicPay cannot know that yet.
        c.sim.inject("/api/transact.php", 1, Fault::Status(500));
        let pay = || c.s.checkout_attempt(&c.desk, c.patient, usd(6_700), CheckoutSource::SavedCard(card.id), Some("attempt-2"));
        assert_eq!(pay().await.unwrap_err().code(), ErrorCode::OutcomeUnknown);
        let again = pay().await.unwrap_err();
        assert_eq!(again.code(), ErrorCode::OutcomeUnknown, "{again}");
        assert!(again.to_string().contains("the first attempt may have gone through"), "{again}");
        assert!(c.charged_at(Gateway::Nmi).is_empty());
        // Once two looks minutes apart agree it never went through, pressing again charges the same invoice.
        // (The desk's own look, when pressed again, was the first.)
        let settled = c.later(10).settle_unknown_payments().await.unwrap();
        assert_eq!((settled.found_not_paid, settled.still_unknown), (1, 0), "{settled:?}");
        let paid = pay().await.unwrap();
        assert_eq!(paid.invoice.status, InvoiceStatus::Paid);
        assert_eq!(c.s.list_invoices(&c.desk, Some(c.patient)).await.unwrap().len(), 1, "one invoice");
        assert_eq!(c.charged_at(Gateway::Nmi), vec![6_700]);
    }

    async fn nmi_the_checkout_window_asks_where_its_attempt_stands_without_ever_charging(db: &TestDb) {
        use clinicpay_services::billing::AttemptState;
        let c = clinic(db, Gateway::Nmi).await;
        let card = c.add(Gateway::Nmi, "4111111111111111").await.unwrap().card;
        assert_eq!(c.s.checkout_status(&c.desk, "attempt-9").await.unwrap_err().code(), ErrorCode::NotFound);
        c.sim.inject("/api/transact.php", 1, Fault::Status(500));
        let pay = || c.s.checkout_attempt(&c.desk, c.patient, usd(6_900), CheckoutSource::SavedCard(card.id), Some("attempt-9"));
        assert_eq!(pay().await.unwrap_err().code(), ErrorCode::OutcomeUnknown);
        assert_eq!(c.s.checkout_status(&c.desk, "attempt-9").await.unwrap().state, AttemptState::Checking);
        c.later(10).settle_unknown_payments().await.unwrap();
        c.later(20).settle_unknown_payments().await.unwrap();
        // Found never sent: the window says so, and charges nothing by asking.
        let status = c.s.checkout_status(&c.desk, "attempt-9").await.unwrap();
        assert_eq!(status.state, AttemptState::NotThrough, "{}", status.message);
        assert!(c.charged_at(Gateway::Nmi).is_empty());
        // Pressed again, it is paid; asked again, it says paid.
        pay().await.unwrap();
        let status = c.s.checkout_status(&c.desk, "attempt-9").await.unwrap();
        assert_eq!(status.state, AttemptState::Paid);
        assert_eq!(c.charged_at(Gateway::Nmi), vec![6_900]);
    }

    async fn a_checkout_declined_and_pressed_again_with_another_card_pays_the_same_invoice(db: &TestDb) {
        let c = clinic(db, Gateway::Nmi).await;
        let declining = c.add(Gateway::Nmi, "4000000000000341").await.unwrap().card;
        let good = c.add(Gateway::Nmi, "5431111111111111").await.unwrap().card;
        let err = c.s.checkout_attempt(&c.desk, c.patient, usd(6_800), CheckoutSource::SavedCard(declining.id), Some("attempt-3")).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::Declined, "{err}");
        let between = c.s.list_invoices(&c.desk, Some(c.patient)).await.unwrap().remove(0);
        assert_eq!(between.status, InvoiceStatus::Void, "nothing left to pay by mistake between the presses");
        let paid = c.s.checkout_attempt(&c.desk, c.patient, usd(6_800), CheckoutSource::SavedCard(good.id), Some("attempt-3")).await.unwrap();
        let order = c.s.order_details(&c.desk, paid.invoice.order_id.unwrap()).await.unwrap().order;
        assert_eq!((paid.invoice.status, order.status), (InvoiceStatus::Paid, OrderStatus::Paid));
        assert_eq!(paid.payment.payment_method_id, Some(good.id));
        assert_eq!(c.s.list_invoices(&c.desk, Some(c.patient)).await.unwrap().len(), 1, "one invoice");
        // The same attempt for another amount is refused before anything happens.
        let other = c.s.checkout_attempt(&c.desk, c.patient, usd(100), CheckoutSource::SavedCard(good.id), Some("attempt-3")).await.unwrap_err();
        assert_eq!(other.code(), ErrorCode::InvalidInput, "{other}");
        let bad = c.s.checkout_attempt(&c.desk, c.patient, usd(100), CheckoutSource::SavedCard(good.id), Some("no spaces; please")).await.unwrap_err();
        assert_eq!(bad.code(), ErrorCode::InvalidInput, "{bad}");
        assert_eq!(c.charged_at(Gateway::Nmi), vec![6_800]);
    }

    async fn a_failed_checkout_leaves_nothing_to_pay_by_mistake(db: &TestDb) {
        use clinicpay_services::credentials::{CredentialStore, Keychain};
        let c = clinic(db, Gateway::Nmi).await;
        let declining = c.add(Gateway::Nmi, "4000000000000341").await.unwrap().card;
        // Declined: its invoice is voided and its order cancelled, by ClinicPay, in the activity log.
        let err = c.s.checkout(&c.desk, c.patient, usd(4_500), CheckoutSource::SavedCard(declining.id)).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::Declined, "{err}");
        let invoices = c.s.list_invoices(&c.desk, Some(c.patient)).await.unwrap();
        assert_eq!(invoices.iter().map(|i| i.status).collect::<Vec<_>>(), vec![InvoiceStatus::Void]);
        let orders = c.s.list_orders(&c.desk, Some(c.patient), None).await.unwrap();
        assert_eq!(orders.iter().map(|o| o.status).collect::<Vec<_>>(), vec![OrderStatus::Cancelled]);
        let log = c.s.patient_profile(&c.desk, c.patient).await.unwrap().activity;
        assert!(log.iter().any(|a| a.action == "invoice.voided"), "{log:?}");
        // An invoice voided this way cannot be paid from the invoices tab.
        let e = c.s.pay_invoice(&c.desk, invoices[0].id, None).await.unwrap_err();
        assert_eq!(e.code(), ErrorCode::Conflict, "{e}");

        // Not sent (this computer lost NMI's key): the same, and the error says why.
        let good = c.add(Gateway::Nmi, "4111111111111111").await.unwrap().card;
        Keychain::named(&c.keychain).delete(Gateway::Nmi.into()).unwrap();
        let unsent = c.later(1);
        let err = unsent.checkout(&c.desk, c.patient, usd(4_500), CheckoutSource::SavedCard(good.id)).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::CredentialsMissing, "{err}");
        let invoices = unsent.list_invoices(&c.desk, Some(c.patient)).await.unwrap();
        assert!(invoices.iter().all(|i| i.status == InvoiceStatus::Void), "{invoices:?}");
        assert!(c.charged_at(Gateway::Nmi).is_empty());
    }

    async fn nmi_two_invoices_of_the_same_amount_are_both_paid_at_the_desk(db: &TestDb) {
        // Each invoice is paid at most once by the database's own rule: the duplicate check is off.
        let sim = clinicpay_sim::SimConfig { nmi_duplicate_window: Some(1200), ..Default::default() };
        let c = crate::support::clinic_on(db, Gateway::Nmi, sim).await;
        c.add(Gateway::Nmi, "4111111111111111").await.unwrap();
        let visit = c.s.create_invoice(&c.desk, c.patient, usd(4_900), "Visit").await.unwrap();
        let labs = c.s.create_invoice(&c.desk, c.patient, usd(4_900), "Labs").await.unwrap();
        c.s.pay_invoice(&c.desk, visit.id, None).await.unwrap();
        c.s.pay_invoice(&c.desk, labs.id, None).await.unwrap();
        assert_eq!(c.charged_at(Gateway::Nmi), vec![4_900, 4_900]);
    }

    async fn nmi_two_plans_of_the_same_amount_on_one_card_are_both_billed_in_one_pass(db: &TestDb) {
        // A merchant account with NMI's duplicate check on: the engine turns it off for its cycles.
        let sim = clinicpay_sim::SimConfig { nmi_duplicate_window: Some(1200), ..Default::default() };
        let c = crate::support::clinic_on(db, Gateway::Nmi, sim).await;
        c.add(Gateway::Nmi, "4111111111111111").await.unwrap();
        c.s.create_subscription(&c.desk, c.patient, "Wellness (Ann)", usd(4_900), "month").await.unwrap();
        c.s.create_subscription(&c.desk, c.patient, "Wellness (Ben)", usd(4_900), "month").await.unwrap();
        let report = c.s.run_worker_pass().await.unwrap();
        assert_eq!((report.cycles_billed, report.cycles_paid, report.retries_run), (2, 2, 0));
        assert_eq!(c.charged_at(Gateway::Nmi), vec![4_900, 4_900]);
    }

    async fn nmi_a_processor_communication_error_is_unknown_and_the_janitor_finds_it_paid_never_a_decline(db: &TestDb) {
        // NMI answers response=2 with 420: the processor may have acted (here it did).
        let c = clinic(db, Gateway::Nmi).await;
        c.add(Gateway::Nmi, "4000000000420002").await.unwrap();
        let inv = c.s.create_invoice(&c.desk, c.patient, usd(5_400), "Visit").await.unwrap();
        let err = c.s.pay_invoice(&c.desk, inv.id, None).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::OutcomeUnknown, "{err}");
        let payments = c.s.list_payments(&c.desk, Some(c.patient)).await.unwrap();
        assert_eq!((payments.len(), payments[0].status), (1, PaymentStatus::Unknown));
        // Paying again is refused while the outcome is unknown; the janitor asks NMI and finds it paid.
        assert_eq!(c.s.pay_invoice(&c.desk, inv.id, None).await.unwrap_err().code(), ErrorCode::Conflict);
        let report = c.later(10).settle_unknown_payments().await.unwrap();
        assert_eq!(report.found_paid, 1);
        assert_eq!(c.s.list_invoices(&c.desk, Some(c.patient)).await.unwrap()[0].status, InvoiceStatus::Paid);
        assert_eq!(c.charged_at(Gateway::Nmi), vec![5_400], "charged exactly once");
    }

    async fn nmi_a_cycle_answered_with_a_processor_communication_error_starts_no_recovery(db: &TestDb) {
        let c = clinic(db, Gateway::Nmi).await;
        c.add(Gateway::Nmi, "4000000000420002").await.unwrap();
        c.s.create_subscription(&c.desk, c.patient, "Wellness", usd(4_900), "month").await.unwrap();
        let report = c.s.run_worker_pass().await.unwrap();
        assert_eq!((report.cycles_billed, report.cycles_paid, report.retries_run), (1, 0, 0));
        let orders = c.s.list_orders(&c.desk, Some(c.patient), None).await.unwrap();
        assert_eq!(orders[0].recovery_status, None, "not a soft decline: no retry scheduled");
        assert_eq!(orders[0].attempts, 0, "not a failed attempt");
        let subs = c.s.list_subscriptions(&c.desk, Some(c.patient)).await.unwrap();
        assert_eq!(subs[0].status, SubscriptionStatus::Active);
        let report = c.later(10).run_worker_pass().await.unwrap();
        assert_eq!(report.janitor.found_paid, 1);
        let orders = c.s.list_orders(&c.desk, Some(c.patient), None).await.unwrap();
        assert_eq!(orders[0].status, OrderStatus::Paid);
        assert_eq!(c.charged_at(Gateway::Nmi), vec![4_900], "charged exactly once");
    }

    async fn nmi_a_cycle_answered_duplicate_at_the_processor_and_found_not_done_is_due_again_never_a_decline(db: &TestDb) {
        // 430 "duplicate at the processor": looked up, found not charged, so nothing was declined.
        let c = clinic(db, Gateway::Nmi).await;
        c.add(Gateway::Nmi, "4000000000430001").await.unwrap();
        c.s.create_subscription(&c.desk, c.patient, "Wellness", usd(4_900), "month").await.unwrap();
        c.s.run_worker_pass().await.unwrap();
        let payments = c.s.list_payments(&c.desk, Some(c.patient)).await.unwrap();
        assert_eq!(payments[0].status, PaymentStatus::Unknown);
        let report = c.later(10).settle_unknown_payments().await.unwrap();
        assert_eq!((report.found_paid, report.found_not_paid), (0, 1));
        let payments = c.s.list_payments(&c.desk, Some(c.patient)).await.unwrap();
        assert_eq!((payments[0].status, payments[0].decline_code.as_deref()), (PaymentStatus::Failed, Some("not_sent")));
        assert!(payments[0].decline_message.as_deref().unwrap().contains("430"), "{:?}", payments[0].decline_message);
        let orders = c.s.list_orders(&c.desk, Some(c.patient), None).await.unwrap();
        assert_eq!((orders[0].recovery_status, orders[0].attempts), (None, 0), "no recovery, no attempt");
        assert_eq!(c.s.list_subscriptions(&c.desk, Some(c.patient)).await.unwrap()[0].status, SubscriptionStatus::Active);
        // The next pass charges the order again (its first charge is recorded, so NMI's duplicate check stays on).
        let again = c.later(20).run_worker_pass().await.unwrap();
        assert_eq!(again.cycles_billed, 1, "the order is due again");
        assert!(c.charged_at(Gateway::Nmi).is_empty(), "nothing was ever taken");
    }

    async fn nmi_a_lost_answer_settled_in_the_nightly_batch_is_found_paid_by_the_janitor_and_never_charged_again(db: &TestDb) {
        let c = clinic(db, Gateway::Nmi).await;
        c.add(Gateway::Nmi, "4111111111111111").await.unwrap();
        let inv = c.s.create_invoice(&c.desk, c.patient, usd(6_600), "Visit").await.unwrap();
        c.sim.inject("/api/transact.php", 1, Fault::DropAfterCommit);
        let err = c.s.pay_invoice(&c.desk, inv.id, None).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::OutcomeUnknown, "{err}");
        // NMI's batch closes between the charge and the janitor's look-up.
        assert_eq!(c.sim.settle_nmi_batch(), 1);
        let report = c.later(10).settle_unknown_payments().await.unwrap();
        assert_eq!((report.found_paid, report.found_not_paid), (1, 0));
        let payments = c.s.list_payments(&c.desk, Some(c.patient)).await.unwrap();
        assert_eq!((payments.len(), payments[0].status), (1, PaymentStatus::Succeeded));
        assert_eq!(c.s.list_invoices(&c.desk, Some(c.patient)).await.unwrap()[0].status, InvoiceStatus::Paid);
        assert_eq!(c.charged_at(Gateway::Nmi), vec![6_600], "charged exactly once");
    }

    async fn nmi_a_refund_whose_answer_was_lost_is_found_done_after_its_batch_settled(db: &TestDb) {
        let c = clinic(db, Gateway::Nmi).await;
        c.add(Gateway::Nmi, "4111111111111111").await.unwrap();
        let inv = c.s.create_invoice(&c.desk, c.patient, usd(9_000), "Visit").await.unwrap();
        let paid = c.s.pay_invoice(&c.desk, inv.id, None).await.unwrap();
        c.sim.settle_nmi_batch();
        c.sim.inject("/api/transact.php", 1, Fault::DropAfterCommit);
        let err = c.s.refund_payment(&c.desk, paid.payment.id, Some(usd(4_000))).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::OutcomeUnknown);
        assert_eq!(c.sim.settle_nmi_batch(), 1);
        let report = c.later(10).settle_unknown_payments().await.unwrap();
        assert_eq!((report.refunds_looked_at, report.refunds_found_done, report.refunds_found_not_done), (1, 1, 0));
        let mut r = db.store.reader().await.unwrap();
        let refunds = clinicpay_store::refunds::refunds_of(&mut r, paid.payment.id).await.unwrap();
        assert_eq!(refunds[0].status, PaymentStatus::Succeeded);
    }

    async fn nmi_a_charge_still_in_flight_when_the_janitor_first_looks_is_never_recorded_as_not_sent(db: &TestDb) {
        let c = clinic(db, Gateway::Nmi).await;
        c.add(Gateway::Nmi, "4111111111111111").await.unwrap();
        let inv = c.s.create_invoice(&c.desk, c.patient, usd(6_100), "Visit").await.unwrap();
        // NMI is slow; the janitor (its clock past the grace) looks while the charge is still in flight.
        c.sim.inject("/api/transact.php", 1, Fault::Latency(std::time::Duration::from_millis(800)));
        let janitor = async {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            c.later(10).settle_unknown_payments().await.unwrap()
        };
        let (paid, report) = tokio::join!(c.s.pay_invoice(&c.desk, inv.id, None), janitor);
        assert_eq!((report.looked_at, report.found_not_paid, report.still_unknown), (1, 0, 1));
        let paid = paid.unwrap();
        assert_eq!(paid.payment.status, PaymentStatus::Succeeded);
        assert_eq!(c.s.list_invoices(&c.desk, Some(c.patient)).await.unwrap()[0].status, InvoiceStatus::Paid);
        assert_eq!(c.charged_at(Gateway::Nmi), vec![6_100]);
    }

    async fn nmi_a_charge_answered_after_the_janitor_recorded_it_not_sent_is_recorded_as_taken_and_shown_to_billing(db: &TestDb) {
        let c = clinic(db, Gateway::Nmi).await;
        c.add(Gateway::Nmi, "4111111111111111").await.unwrap();
        let inv = c.s.create_invoice(&c.desk, c.patient, usd(4_400), "Visit").await.unwrap();
        // NMI answers very late: meanwhile two look-ups minutes apart (by the janitor's clock) find nothing.
        c.sim.inject("/api/transact.php", 1, Fault::Latency(std::time::Duration::from_millis(900)));
        let janitor = async {
            tokio::time::sleep(std::time::Duration::from_millis(150)).await;
            c.later(10).settle_unknown_payments().await.unwrap();
            c.later(20).settle_unknown_payments().await.unwrap()
        };
        let (paid, report) = tokio::join!(c.s.pay_invoice(&c.desk, inv.id, None), janitor);
        assert_eq!(report.found_not_paid, 1, "the janitor recorded it as never sent");
        // Then NMI's own answer says it was taken: the money is recorded, the invoice paid.
        let paid = paid.unwrap();
        assert_eq!(paid.payment.status, PaymentStatus::Succeeded);
        assert_eq!(paid.payment.decline_code, None);
        assert_eq!(paid.invoice.status, InvoiceStatus::Paid);
        assert_eq!(c.charged_at(Gateway::Nmi), vec![4_400]);
        let mut r = db.store.reader().await.unwrap();
        let log = clinicpay_store::activity::for_patient(&mut r, c.patient.0, 50).await.unwrap();
        assert!(log.iter().any(|e| e.action == "payment.late_success"), "billing sees the correction");
        assert!(c.s.charged_twice(&c.desk, Some(c.patient)).await.unwrap().is_empty());
    }

    async fn nmi_a_look_it_up_answer_after_two_looks_found_nothing_is_looked_up_again_and_the_money_recorded(db: &TestDb) {
        let c = clinic(db, Gateway::Nmi).await;
        // NMI's 420 test card: the sale is taken, and the answer says only "look it up".
        c.add(Gateway::Nmi, "4000000000420002").await.unwrap();
        let inv = c.s.create_invoice(&c.desk, c.patient, usd(2_600), "Visit").await.unwrap();
        c.sim.inject("/api/transact.php", 1, Fault::Latency(std::time::Duration::from_millis(900)));
        let janitor = async {
            tokio::time::sleep(std::time::Duration::from_millis(150)).await;
            c.later(10).settle_unknown_payments().await.unwrap();
            c.later(20).settle_unknown_payments().await.unwrap()
        };
        let (paid, report) = tokio::join!(c.s.pay_invoice(&c.desk, inv.id, None), janitor);
        assert_eq!(report.found_not_paid, 1, "two looks while it was in flight recorded it not sent");
        // The call's own answer proves the request reached NMI: ClinicPay looked again and found it.
        assert_eq!(paid.unwrap().payment.status, PaymentStatus::Succeeded);
        assert_eq!(c.s.list_invoices(&c.desk, Some(c.patient)).await.unwrap()[0].status, InvoiceStatus::Paid);
        assert_eq!(c.charged_at(Gateway::Nmi), vec![2_600]);
    }

    async fn nmi_an_invoice_paid_again_before_a_late_answer_shows_both_charges_and_the_duplicate_is_refunded(db: &TestDb) {
        let c = clinic(db, Gateway::Nmi).await;
        c.add(Gateway::Nmi, "4111111111111111").await.unwrap();
        let inv = c.s.create_invoice(&c.desk, c.patient, usd(4_500), "Visit").await.unwrap();
        c.sim.inject("/api/transact.php", 1, Fault::Latency(std::time::Duration::from_millis(1_500)));
        // While the first charge's answer is on its way, it is recorded not sent and the desk pays again.
        let meanwhile = async {
            tokio::time::sleep(std::time::Duration::from_millis(150)).await;
            c.later(10).settle_unknown_payments().await.unwrap();
            let report = c.later(20).settle_unknown_payments().await.unwrap();
            assert_eq!(report.found_not_paid, 1);
            c.s.pay_invoice(&c.desk, inv.id, None).await.unwrap()
        };
        let (first, second) = tokio::join!(c.s.pay_invoice(&c.desk, inv.id, None), meanwhile);
        let first = first.unwrap();
        // Both charges are real: both recorded, side by side, the late one marked as the duplicate.
        assert_eq!(c.charged_at(Gateway::Nmi), vec![4_500, 4_500]);
        assert_eq!(first.payment.status, PaymentStatus::Succeeded);
        assert_eq!(first.payment.duplicate_of, Some(second.payment.id));
        let twice = c.s.charged_twice(&c.desk, None).await.unwrap();
        assert_eq!(twice.iter().map(|p| p.id).collect::<Vec<_>>(), vec![first.payment.id]);
        let mut r = db.store.reader().await.unwrap();
        let log = clinicpay_store::activity::for_patient(&mut r, c.patient.0, 50).await.unwrap();
        assert!(log.iter().any(|e| e.action == "payment.charged_twice"), "billing is alerted");
        drop(r);
        // Refunding the duplicate gives the money back and leaves the invoice paid by the other.
        c.s.refund_payment(&c.desk, first.payment.id, None).await.unwrap();
        assert!(c.s.charged_twice(&c.desk, None).await.unwrap().is_empty());
        assert_eq!(c.s.list_invoices(&c.desk, Some(c.patient)).await.unwrap()[0].status, InvoiceStatus::Paid);
        let refunded: Vec<i64> = c.sim.transactions().iter().filter(|t| t.kind == "refund" && t.success).map(|t| t.amount_minor).collect();
        assert_eq!(refunded, vec![4_500]);
    }

    async fn nmi_refunding_the_first_of_two_charges_leaves_the_invoice_paid_by_the_other(db: &TestDb) {
        let c = clinic(db, Gateway::Nmi).await;
        c.add(Gateway::Nmi, "4111111111111111").await.unwrap();
        let inv = c.s.create_invoice(&c.desk, c.patient, usd(4_600), "Visit").await.unwrap();
        c.sim.inject("/api/transact.php", 1, Fault::Latency(std::time::Duration::from_millis(1_500)));
        let meanwhile = async {
            tokio::time::sleep(std::time::Duration::from_millis(150)).await;
            c.later(10).settle_unknown_payments().await.unwrap();
            c.later(20).settle_unknown_payments().await.unwrap();
            c.s.pay_invoice(&c.desk, inv.id, None).await.unwrap()
        };
        let (late, paid_again) = tokio::join!(c.s.pay_invoice(&c.desk, inv.id, None), meanwhile);
        assert_eq!(late.unwrap().payment.duplicate_of, Some(paid_again.payment.id));
        // Billing refunds the one that paid the invoice instead: the other takes its place.
        c.s.refund_payment(&c.manager, paid_again.payment.id, None).await.unwrap();
        assert!(c.s.charged_twice(&c.desk, None).await.unwrap().is_empty(), "nothing left to refund");
        assert_eq!(c.s.list_invoices(&c.desk, Some(c.patient)).await.unwrap()[0].status, InvoiceStatus::Paid);
        let payments = c.s.list_payments(&c.desk, Some(c.patient)).await.unwrap();
        let refunded = payments.iter().find(|p| p.id == paid_again.payment.id).unwrap();
        assert!(refunded.duplicate_of.is_some(), "the refunded one is now the duplicate");
        let mut r = db.store.reader().await.unwrap();
        let log = clinicpay_store::activity::for_patient(&mut r, c.patient.0, 50).await.unwrap();
        assert!(log.iter().any(|e| e.action == "payment.duplicate_swapped"));
    }

    async fn nmi_a_late_success_beside_an_attempt_that_then_fails_pays_the_invoice_once(db: &TestDb) {
        let c = clinic(db, Gateway::Nmi).await;
        c.add(Gateway::Nmi, "4111111111111111").await.unwrap();
        let declining = c.add(Gateway::Nmi, "4000000000000341").await.unwrap().card;
        let inv = c.s.create_invoice(&c.desk, c.patient, usd(4_700), "Visit").await.unwrap();
        // The first charge answers late; meanwhile it is recorded not sent and the desk tries another
        // card, whose answer (a decline) comes after the first's success.
        c.sim.inject("/api/transact.php", 1, Fault::Latency(std::time::Duration::from_millis(1_200)));
        let meanwhile = async {
            tokio::time::sleep(std::time::Duration::from_millis(150)).await;
            c.later(10).settle_unknown_payments().await.unwrap();
            c.later(20).settle_unknown_payments().await.unwrap();
            c.sim.inject("/api/transact.php", 1, Fault::Latency(std::time::Duration::from_millis(2_000)));
            c.s.pay_invoice(&c.desk, inv.id, Some(declining.id)).await
        };
        let (late, second) = tokio::join!(c.s.pay_invoice(&c.desk, inv.id, None), meanwhile);
        assert_eq!(second.unwrap_err().code(), ErrorCode::Declined);
        let late = late.unwrap();
        // The late success pays the invoice: one charge, nothing to refund.
        let payments = c.s.list_payments(&c.desk, Some(c.patient)).await.unwrap();
        let recorded = payments.iter().find(|p| p.id == late.payment.id).unwrap();
        assert_eq!((recorded.status, recorded.duplicate_of), (PaymentStatus::Succeeded, None));
        assert_eq!(c.s.list_invoices(&c.desk, Some(c.patient)).await.unwrap()[0].status, InvoiceStatus::Paid);
        assert!(c.s.charged_twice(&c.desk, None).await.unwrap().is_empty());
        assert_eq!(c.charged_at(Gateway::Nmi), vec![4_700]);
    }

    async fn nmi_a_desk_whose_clock_is_ten_minutes_behind_cannot_make_its_charge_look_stale_to_the_janitor(db: &TestDb) {
        let c = clinic(db, Gateway::Nmi).await;
        c.add(Gateway::Nmi, "4111111111111111").await.unwrap();
        let inv = c.s.create_invoice(&c.desk, c.patient, usd(3_300), "Visit").await.unwrap();
        let desk = c.with_clock(SkewedClock(chrono::Duration::minutes(-10)));
        let worker = c.with_clock(SystemClock);
        c.sim.inject("/api/transact.php", 1, Fault::Latency(std::time::Duration::from_millis(800)));
        let janitor = async {
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            worker.settle_unknown_payments().await.unwrap()
        };
        let (paid, report) = tokio::join!(desk.pay_invoice(&c.desk, inv.id, None), janitor);
        assert_eq!(report.looked_at, 0, "a charge in flight is not the janitor's, whatever the desk's clock says");
        let paid = paid.unwrap();
        assert!((paid.payment.created_at - chrono::Utc::now()).num_seconds().abs() < 5, "written at the database's time");
        assert_eq!(c.charged_at(Gateway::Nmi), vec![3_300]);
    }

    async fn the_janitor_reads_past_payments_it_cannot_look_up_and_says_why(db: &TestDb) {
        use clinicpay_services::credentials::{CredentialStore, Keychain};
        let c = clinic(db, Gateway::Nmi).await;
        c.add(Gateway::Nmi, "4111111111111111").await.unwrap();
        // More unsettled Stripe payments than a page, older than the one NMI payment after them.
        let mut tx = db.store.begin().await.unwrap();
        for i in 0..205 {
            clinicpay_store::payments::insert_payment(&mut tx, &clinicpay_store::payments::NewPayment {
                patient_id: c.patient, invoice_id: None, order_id: None, payment_method_id: None,
                gateway: Gateway::Stripe, amount: usd(100), status: PaymentStatus::Unknown,
                idempotency_key: format!("pay-old-{i}"), gateway_reference: None, decline_code: None,
                decline_message: None, created_by: None,
            }, now()).await.unwrap();
        }
        tx.commit().await.unwrap();
        let inv = c.s.create_invoice(&c.desk, c.patient, usd(2_900), "Visit").await.unwrap();
        c.sim.inject("/api/transact.php", 1, Fault::DropAfterCommit);
        assert_eq!(c.s.pay_invoice(&c.desk, inv.id, None).await.unwrap_err().code(), ErrorCode::OutcomeUnknown);
        // This computer has no Stripe key: those cannot be looked up, and do not hold up NMI's.
        Keychain::named(&c.keychain).delete(Gateway::Stripe.into()).unwrap();
        let report = c.later(10).settle_unknown_payments().await.unwrap();
        assert_eq!((report.found_paid, report.cannot_look_up), (1, 205));
        assert_eq!(report.cannot_look_up_because.len(), 1, "{:?}", report.cannot_look_up_because);
        assert!(report.cannot_look_up_because[0].starts_with("Stripe: "), "{:?}", report.cannot_look_up_because);
        assert_eq!(c.s.list_invoices(&c.desk, Some(c.patient)).await.unwrap()[0].status, InvoiceStatus::Paid);
    }

    async fn stripe_a_charge_whose_request_never_arrived_is_settled_by_asking_again_with_its_key(db: &TestDb) {
        let c = clinic(db, Gateway::Stripe).await;
        c.add(Gateway::Stripe, "4242424242424242").await.unwrap();
        let inv = c.s.create_invoice(&c.desk, c.patient, usd(5_100), "Visit").await.unwrap();
        // The connection drops before Stripe does anything, for the call and its retries: unknown.
        c.sim.inject("/stripe/v1/payment_intents", 3, Fault::DropBeforeCommit);
        let err = c.s.pay_invoice(&c.desk, inv.id, None).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::OutcomeUnknown, "{err}");
        assert!(c.charged_at(Gateway::Stripe).is_empty());
        // Within the hour, the janitor sends the same request with the same key: Stripe's answer is
        // authoritative at the first look (it does the charge now, once).
        let report = c.later(10).settle_unknown_payments().await.unwrap();
        assert_eq!((report.found_paid, report.still_unknown), (1, 0));
        assert_eq!(c.s.list_invoices(&c.desk, Some(c.patient)).await.unwrap()[0].status, InvoiceStatus::Paid);
        // A second janitor, or a second look, charges nothing more.
        c.later(20).settle_unknown_payments().await.unwrap();
        assert_eq!(c.charged_at(Gateway::Stripe), vec![5_100]);
    }

    async fn stripe_a_charge_whose_answer_was_lost_is_replayed_with_stripes_first_answer_not_charged_again(db: &TestDb) {
        let c = clinic(db, Gateway::Stripe).await;
        c.add(Gateway::Stripe, "4242424242424242").await.unwrap();
        let inv = c.s.create_invoice(&c.desk, c.patient, usd(5_200), "Visit").await.unwrap();
        // Stripe takes the money and no answer arrives, to the call or to its own retries.
        c.sim.inject("/stripe/v1/payment_intents", 3, Fault::DropAfterCommit);
        assert_eq!(c.s.pay_invoice(&c.desk, inv.id, None).await.unwrap_err().code(), ErrorCode::OutcomeUnknown);
        let report = c.later(10).settle_unknown_payments().await.unwrap();
        assert_eq!(report.found_paid, 1);
        assert_eq!(c.charged_at(Gateway::Stripe), vec![5_200], "Stripe replayed its first answer");
    }

    async fn stripe_a_charge_paid_again_another_way_is_never_replayed(db: &TestDb) {
        let c = clinic(db, Gateway::Stripe).await;
        let card = c.add(Gateway::Stripe, "4242424242424242").await.unwrap().card;
        let inv = c.s.create_invoice(&c.desk, c.patient, usd(5_400), "Visit").await.unwrap();
        c.sim.inject("/stripe/v1/payment_intents", 3, Fault::DropBeforeCommit);
        assert_eq!(c.s.pay_invoice(&c.desk, inv.id, None).await.unwrap_err().code(), ErrorCode::OutcomeUnknown);
        // Staff took the same amount as a new checkout instead (against the advice on screen).
        c.s.checkout(&c.desk, c.patient, usd(5_400), CheckoutSource::SavedCard(card.id)).await.unwrap();
        // The janitor does not send the first request again: it only looks, and finds nothing.
        let report = c.later(10).settle_unknown_payments().await.unwrap();
        assert_eq!((report.found_paid, report.still_unknown), (0, 1));
        assert_eq!(c.charged_at(Gateway::Stripe), vec![5_400], "charged once");
    }

    async fn stripe_after_24_hours_the_janitor_only_looks_and_never_sends_again(db: &TestDb) {
        let c = clinic(db, Gateway::Stripe).await;
        c.add(Gateway::Stripe, "4242424242424242").await.unwrap();
        let inv = c.s.create_invoice(&c.desk, c.patient, usd(5_300), "Visit").await.unwrap();
        c.sim.inject("/stripe/v1/payment_intents", 3, Fault::Status(500));
        c.s.pay_invoice(&c.desk, inv.id, None).await.unwrap_err();
        // A day later (Stripe no longer keeps the key: asking again would be a new charge) the
        // janitor only lists, and two looks that find nothing settle it as never sent.
        c.later(25 * 60).settle_unknown_payments().await.unwrap();
        let report = c.later(25 * 60 + 10).settle_unknown_payments().await.unwrap();
        assert_eq!(report.found_not_paid, 1);
        assert!(c.charged_at(Gateway::Stripe).is_empty());
    }

    async fn nmi_a_charge_the_gateway_never_took_is_recorded_not_sent_only_when_a_second_look_agrees(db: &TestDb) {
        let c = clinic(db, Gateway::Nmi).await;
        c.add(Gateway::Nmi, "4111111111111111").await.unwrap();
        let inv = c.s.create_invoice(&c.desk, c.patient, usd(2_200), "Visit").await.unwrap();
        // A 5xx: the outcome is unknown, and here the gateway did nothing.
        c.sim.inject("/api/transact.php", 1, Fault::Status(500));
        let err = c.s.pay_invoice(&c.desk, inv.id, None).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::OutcomeUnknown, "{err}");
        let once = c.later(10).settle_unknown_payments().await.unwrap();
        assert_eq!((once.found_not_paid, once.still_unknown), (0, 1), "one look that finds nothing settles nothing");
        let soon = c.later(12).settle_unknown_payments().await.unwrap();
        assert_eq!(soon.found_not_paid, 0, "a second look too soon settles nothing either");
        let later = c.later(20).settle_unknown_payments().await.unwrap();
        assert_eq!(later.found_not_paid, 1);
        let p = &c.s.list_payments(&c.desk, Some(c.patient)).await.unwrap()[0];
        assert_eq!((p.status, p.decline_code.as_deref()), (PaymentStatus::Failed, Some("not_sent")));
        // The invoice can be paid again now, and is charged once.
        c.s.pay_invoice(&c.desk, inv.id, None).await.unwrap();
        assert_eq!(c.charged_at(Gateway::Nmi), vec![2_200]);
    }

    async fn nmi_a_refund_confirmed_after_the_janitor_found_nothing_is_recorded_done_and_shown_to_billing(db: &TestDb) {
        let c = clinic(db, Gateway::Nmi).await;
        c.add(Gateway::Nmi, "4111111111111111").await.unwrap();
        let inv = c.s.create_invoice(&c.desk, c.patient, usd(8_000), "Visit").await.unwrap();
        let paid = c.s.pay_invoice(&c.desk, inv.id, None).await.unwrap();
        // NMI is slow to do the refund; meanwhile the janitor (its clock well past the grace) looks it
        // up, finds nothing yet and records it as not done.
        c.sim.inject("/api/transact.php", 1, Fault::Latency(std::time::Duration::from_millis(800)));
        let janitor = async {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            let first = c.later(10).settle_unknown_payments().await.unwrap();
            // One look that finds nothing settles nothing; a second, minutes later, agrees.
            assert_eq!((first.refunds_looked_at, first.refunds_found_not_done), (1, 0));
            c.later(20).settle_unknown_payments().await.unwrap()
        };
        let (refund, report) = tokio::join!(c.s.refund_payment(&c.desk, paid.payment.id, Some(usd(3_000))), janitor);
        assert_eq!((report.refunds_looked_at, report.refunds_found_not_done), (1, 1));
        // The gateway's own answer then says it was done: the record follows the money.
        let refund = refund.unwrap();
        assert!(refund.message.starts_with("Refunded $30.00"), "{}", refund.message);
        let mut r = db.store.reader().await.unwrap();
        let refunds = clinicpay_store::refunds::refunds_of(&mut r, paid.payment.id).await.unwrap();
        assert_eq!(refunds[0].status, PaymentStatus::Succeeded);
        let log = clinicpay_store::activity::for_patient(&mut r, c.patient.0, 50).await.unwrap();
        assert!(log.iter().any(|e| e.action == "refund.late_answer"), "billing sees the correction");
        let refunded: Vec<i64> = c.sim.transactions().iter().filter(|t| t.kind == "refund" && t.success).map(|t| t.amount_minor).collect();
        assert_eq!(refunded, vec![3_000]);
    }

    async fn a_refund_whose_answer_is_lost_is_recorded_and_staff_are_told_not_to_refund_again(db: &TestDb) {
        let c = clinic(db, Gateway::Nmi).await;
        c.add(Gateway::Nmi, "4111111111111111").await.unwrap();
        let inv = c.s.create_invoice(&c.desk, c.patient, usd(8_000), "Visit").await.unwrap();
        let paid = c.s.pay_invoice(&c.desk, inv.id, None).await.unwrap();
        c.sim.inject("/api/transact.php", 1, Fault::DropAfterCommit);
        let err = c.s.refund_payment(&c.desk, paid.payment.id, Some(usd(3_000))).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::OutcomeUnknown);
        assert!(err.to_string().contains("Do not refund again"), "{err}");
        let mut r = db.store.reader().await.unwrap();
        let refunds = clinicpay_store::refunds::refunds_of(&mut r, paid.payment.id).await.unwrap();
        assert_eq!((refunds.len(), refunds[0].status), (1, PaymentStatus::Unknown));
        // The unknown refund counts against what is left, so it cannot be refunded a second time by mistake.
        let err = c.s.refund_payment(&c.desk, paid.payment.id, Some(usd(6_000))).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidInput, "{err}");
        // An unreachable gateway is recorded as failed, with nothing refunded.
        c.s.set_setting(&c.it, "nmi.api-base", "http://127.0.0.1:9").await.unwrap();
        c.s.set_gateway_credentials(&c.it, Gateway::Nmi, Secret::new(NMI_KEY)).await.unwrap();
        let err = c.s.refund_payment(&c.desk, paid.payment.id, Some(usd(1_000))).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::GatewayUnavailable, "{err}");
        let refunds = clinicpay_store::refunds::refunds_of(&mut r, paid.payment.id).await.unwrap();
        assert_eq!(refunds[1].status, PaymentStatus::Failed);
        assert!(refunds[1].failure_message.is_some());
        // The janitor asks NMI about the lost one and finds it was made.
        c.s.set_setting(&c.it, "nmi.api-base", &c.sim.base_url()).await.unwrap();
        c.s.set_gateway_credentials(&c.it, Gateway::Nmi, Secret::new(NMI_KEY)).await.unwrap();
        let report = c.later(10).settle_unknown_payments().await.unwrap();
        assert_eq!((report.refunds_looked_at, report.refunds_found_done), (1, 1));
        let refunds = clinicpay_store::refunds::refunds_of(&mut r, paid.payment.id).await.unwrap();
        assert_eq!(refunds[0].status, PaymentStatus::Succeeded);
    }

    async fn two_desks_paying_one_invoice_at_once_charge_it_once(db: &TestDb) {
        let c = clinic(db, Gateway::Nmi).await;
        c.add(Gateway::Nmi, "4111111111111111").await.unwrap();
        let inv = c.s.create_invoice(&c.desk, c.patient, usd(3_300), "Visit").await.unwrap();
        c.sim.inject("/api/transact.php", 2, Fault::Latency(std::time::Duration::from_millis(300)));
        let (a, b) = tokio::join!(
            c.s.pay_invoice(&c.desk, inv.id, None),
            c.s.pay_invoice(&c.manager, inv.id, None)
        );
        let codes: Vec<Option<ErrorCode>> = [a, b].into_iter().map(|r| r.err().map(|e| e.code())).collect();
        assert!(codes.contains(&None), "{codes:?}");
        assert!(codes.contains(&Some(ErrorCode::Conflict)), "{codes:?}");
        assert_eq!(c.charged_at(Gateway::Nmi), vec![3_300]);
    }
}
