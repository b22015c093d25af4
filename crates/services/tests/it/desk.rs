//! Document 003's "What CS Should Check Before Advising a Patient", the escalation details, and the card
//! form of the active gateway: what the front desk reads before advising a patient.

use crate::support::*;
use clinicpay_domain::*;
use clinicpay_services::desk::{CheckAction, CheckLevel};
use clinicpay_testkit::on_both_databases;

fn find<'a>(
    checks: &'a [clinicpay_services::desk::Check],
    name: &str,
) -> &'a clinicpay_services::desk::Check {
    checks
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no check named {name}"))
}

on_both_databases! {
    async fn the_checks_name_the_gateway_mismatch_and_ask_for_a_card_resaved_for_nmi(db: &TestDb) {
        let c = clinic(db, Gateway::Stripe).await;
        c.add(Gateway::Stripe, "4242424242424242").await.unwrap();
        c.s.set_setting(&c.manager, "gateway", "nmi").await.unwrap();
        c.s.create_subscription(&c.desk, c.patient, "Wellness", Clinic::usd(4_900), "month").await.unwrap();
        c.s.run_worker_pass().await.unwrap();

        let checks = c.s.what_to_check(&c.desk, c.patient, None).await.unwrap();
        let names: Vec<&str> = checks.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, [
            "Active organization gateway", "Saved payment methods", "Method gateway", "Default method",
            "Card expiry", "Expiry reminders", "Latest invoice status", "Latest payment status", "Processor/gateway error",
            "Order source/context", "Subscription status", "Recovery status", "Recently re-saved card",
            "Locked gateway",
        ], "document 003's list, in its order");
        let method = find(&checks, "Method gateway");
        assert_eq!(method.level, CheckLevel::ActionNeeded);
        assert!(method.finding.contains("Gateway mismatch") && method.finding.contains("on Stripe"), "{}", method.finding);
        assert_eq!(method.next_step.as_deref(), Some("Ask the patient to re-save the card for NMI."));
        assert_eq!(method.action, Some(CheckAction::AddCard));
        let default = find(&checks, "Default method");
        assert_eq!(default.level, CheckLevel::ActionNeeded);
        assert!(default.finding.contains("Visa ending in 4242 is on Stripe"), "{}", default.finding);
        let recovery = find(&checks, "Recovery status");
        assert_eq!(recovery.level, CheckLevel::ActionNeeded);
        assert!(recovery.finding.contains("needs a payment method for NMI"), "{}", recovery.finding);
        assert_eq!(find(&checks, "Active organization gateway").level, CheckLevel::Ok);

        // Re-saving for NMI resolves the recovery, and the checks turn green where they should.
        let saved = c.add(Gateway::Nmi, "4111111111111111").await.unwrap().card;
        c.s.retry_recovery_for_patient(c.patient, Some(saved.id)).await.unwrap();
        let after = c.s.what_to_check(&c.desk, c.patient, None).await.unwrap();
        assert_eq!(find(&after, "Recovery status").level, CheckLevel::Ok, "{:?}", find(&after, "Recovery status"));
        assert_eq!(find(&after, "Latest payment status").level, CheckLevel::Ok);
        assert_eq!(find(&after, "Subscription status").level, CheckLevel::Ok);
        // The card that paid the recovery became the default (recovery.promote-successful-card).
        let default = find(&after, "Default method");
        assert_eq!(default.level, CheckLevel::Ok);
        assert_eq!(default.finding, "Visa ending in 1111 is the default.");
        assert_eq!(find(&after, "Method gateway").level, CheckLevel::Attention, "the Stripe card is still there");
    }

    async fn a_decline_shows_the_gateways_own_words_in_the_checks_and_the_escalation_report(db: &TestDb) {
        let c = clinic(db, Gateway::Stripe).await;
        c.add(Gateway::Stripe, "4000000000000341").await.unwrap();
        let invoice = c.s.create_invoice(&c.desk, c.patient, Clinic::usd(8_000), "Physio session").await.unwrap();
        let declined = c.s.pay_invoice(&c.desk, invoice.id, None).await.unwrap_err();
        assert_eq!(declined.code(), clinicpay_services::ErrorCode::Declined);

        let checks = c.s.what_to_check(&c.desk, c.patient, None).await.unwrap();
        let error = find(&checks, "Processor/gateway error");
        assert_eq!(error.level, CheckLevel::ActionNeeded);
        assert_eq!(error.finding, "Stripe said: \"Your card was declined.\" (generic_decline).");
        assert_eq!(find(&checks, "Latest invoice status").level, CheckLevel::Attention);

        // The pay dialog's Escalate passes the exact message staff saw, as document 003 asks.
        let shown = declined.to_string();
        let report = c.s.escalation_report(&c.desk, c.patient, None, Some(&shown)).await.unwrap();
        assert!(report.text.contains(&format!("Message on screen: \"{shown}\"")), "{}", report.text);
        let labels: Vec<&str> = report.details.iter().map(|l| l.label.as_str()).collect();
        for wanted in [
            "Patient", "Active organization gateway", "Saved payment methods", "Default card", "Order number",
            "Invoice number", "Subscription id", "Latest payment status", "Recovery status",
            "Gateway decline/error message", "Processor log reference", "Message on screen",
        ] {
            assert!(labels.contains(&wanted), "document 003 asks for {wanted}: {labels:?}");
        }
        assert!(report.text.contains("Patient: John Smith <john@example.com>"), "{}", report.text);
        assert!(report.text.contains("Gateway decline/error message: Your card was declined. (generic_decline)"), "{}", report.text);
        assert!(report.text.contains(&format!("Invoice number: {} ($80.00, OPEN)", invoice.id)), "{}", report.text);
        assert!(report.text.contains("Visa ••0341 on Stripe (expires 12/2030), default"), "{}", report.text);
        assert!(report.text.contains("Processor log reference: entry "), "{}", report.text);
        assert!(!report.text.contains(STRIPE_KEY) && !report.text.contains("4000000000000341"), "no secret and no card number");

        // The same report as a PDF that a PDF reader reads back.
        let folder = std::env::temp_dir().join(format!("clinicpay-escalation-{}-{:?}", std::process::id(), db.backend()));
        let saved = c.s.save_escalation_pdf(&c.desk, c.patient, None, Some(&shown), &folder).await.unwrap();
        assert!(saved.path.ends_with(".pdf"), "{}", saved.path);
        let pdf = lopdf::Document::load(&saved.path).expect("a readable PDF");
        let pages: Vec<u32> = pdf.get_pages().keys().copied().collect();
        let text = pdf.extract_text(&pages).unwrap();
        assert!(text.contains("Gateway decline/error message: Your card was declined."), "{text}");
        assert!(text.contains("John Smith"), "{text}");
        assert_eq!(saved.text, report.text);
        std::fs::remove_dir_all(&folder).ok();

        // Whatever staff type as the message, a card number in it is never kept or printed.
        let typed = "Patient read out 4000 0000 0000 0341 and it failed";
        let report = c.s.escalation_report(&c.desk, c.patient, None, Some(typed)).await.unwrap();
        assert!(report.text.contains("Message on screen: \"Patient read out [card number removed] and it failed\""), "{}", report.text);
        assert!(!report.text.contains("0000 0341"));
        let none = c.s.escalation_report(&c.desk, c.patient, None, None).await.unwrap();
        assert!(none.text.contains("Message on screen: none given"), "{}", none.text);
    }

    async fn the_card_form_is_the_gateways_own_script_with_the_public_key_or_a_clear_refusal(db: &TestDb) {
        let c = clinic(db, Gateway::Stripe).await;
        let missing = c.s.card_form(&c.desk).await.unwrap_err().to_string();
        assert!(missing.contains("stripe.publishable-key"), "{missing}");
        c.s.set_setting(&c.it, "stripe.publishable-key", "pk_test_51Hclinic").await.unwrap();
        let form = c.s.card_form(&c.desk).await.unwrap();
        assert_eq!((form.script_url.as_str(), form.public_key.as_str(), form.training), ("https://js.stripe.com/v3/", "pk_test_51Hclinic", false));
        c.s.set_setting(&c.manager, "gateway", "nmi").await.unwrap();
        c.s.set_setting(&c.it, "nmi.tokenization-key", "5mN8N7-jhr55W-N22pxX-uAW2s9").await.unwrap();
        let form = c.s.card_form(&c.desk).await.unwrap();
        assert_eq!((form.gateway, form.script_url.as_str()), (Gateway::Nmi, "https://secure.nmi.com/token/Collect.js"));

        // Training mode: the app's own simulator, whatever the settings say.
        let training = c.s.store().clone();
        let mut tx = training.begin().await.unwrap();
        let mut settings = clinicpay_store::organization::load(&mut tx).await.unwrap().unwrap();
        settings.training_mode = true;
        clinicpay_store::organization::save(&mut tx, &settings, now()).await.unwrap();
        tx.commit().await.unwrap();
        let in_app = clinicpay_services::Services::new(training, std::sync::Arc::new(FixedClock(now())))
            .with_training_simulator("http://127.0.0.1:40111");
        let form = in_app.card_form(&c.desk).await.unwrap();
        assert_eq!((form.script_url.as_str(), form.training), ("http://127.0.0.1:40111/token/Collect.js", true));
    }
}
