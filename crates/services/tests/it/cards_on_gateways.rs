//! Saved cards on the real gateway clients (product documents 000 and 003), per gateway, on both
//! databases: the simulator stands in for NMI and Stripe, and the secrets sit in the real OS keychain
//! (a private gnome-keyring when run by ./scripts/test.sh).

use crate::support::*;
use clinicpay_domain::*;
use clinicpay_gateways::Secret;
use clinicpay_services::cards::AddCard;
use clinicpay_services::credentials::{CredentialStore, Keychain};
use clinicpay_services::ErrorCode;
use clinicpay_sim::Fault;
use clinicpay_testkit::{dump_text, fingerprint, on_both_databases, TestDb};

async fn first_card_default_and_gateway_metadata(db: &TestDb, gateway: Gateway) {
    let c = clinic(db, gateway).await;
    let first = c.add(gateway, "4111111111111111").await.unwrap();
    assert!(first.card.is_default, "the first card becomes the default");
    assert_eq!(first.card.description, "Visa ending in 1111");
    assert_eq!(first.card.expiry, "12/2030");
    assert_eq!(first.card.gateway, gateway);
    assert_eq!(
        first.message,
        "Your Visa ending in 1111 has been added to your account."
    );
    let second = c.add(gateway, "5555555555554444").await.unwrap();
    assert!(!second.card.is_default, "a later card does not take over");
    assert_eq!(c.at_gateway(gateway), 2);
    let cards = c.s.list_cards(&c.desk, c.patient).await.unwrap();
    assert_eq!(
        cards.iter().map(|x| x.last4.as_str()).collect::<Vec<_>>(),
        vec!["1111", "4444"]
    );
    // Who added it is in the activity log; the gateway calls are in the patient's processor log.
    let profile = c.s.patient_profile(&c.desk, c.patient).await.unwrap();
    assert!(profile
        .activity
        .iter()
        .any(|a| a.action == "card.added" && a.actor == "frontdesk"));
    let log =
        c.s.processor_log(&c.manager, None, Some(c.patient))
            .await
            .unwrap();
    assert!(!log.is_empty());
}

on_both_databases! {
    async fn nmi_the_first_card_becomes_default_with_the_vaults_brand_last4_and_expiry(db: &TestDb) {
        first_card_default_and_gateway_metadata(db, Gateway::Nmi).await;
    }

    async fn stripe_the_first_card_becomes_default_with_the_vaults_brand_last4_and_expiry(db: &TestDb) {
        first_card_default_and_gateway_metadata(db, Gateway::Stripe).await;
    }

    async fn stripe_cards_of_one_patient_share_one_stripe_customer(db: &TestDb) {
        let c = clinic(db, Gateway::Stripe).await;
        c.add(Gateway::Stripe, "4242424242424242").await.unwrap();
        c.add(Gateway::Stripe, "5555555555554444").await.unwrap();
        assert_eq!(c.sim.stripe_customers(), 1);
    }

    async fn a_token_of_the_other_gateway_is_refused_before_any_gateway_call(db: &TestDb) {
        let c = clinic(db, Gateway::Nmi).await;
        let before = fingerprint(db).await;
        let calls = c.sim.requests();
        let stripe_token = c.token(Gateway::Stripe, "4242424242424242");
        for gateway in [Gateway::Stripe, Gateway::Nmi] {
            let err = c
                .s
                .add_card(
                    &c.desk,
                    c.patient,
                    AddCard {
                        gateway,
                        token: stripe_token.clone(),
                        cardholder_name: None,
                        country: None,
                        nickname: None,
                    },
                )
                .await
                .unwrap_err();
            assert_eq!(err.code(), ErrorCode::GatewayMismatch);
            assert_eq!(
                err.to_string(),
                "This card was entered for Stripe, but the clinic now takes cards through NMI: enter the card again."
            );
        }
        assert_eq!(fingerprint(db).await, before);
        assert_eq!(c.sim.requests(), calls, "no gateway was called");
    }

    async fn an_nmi_token_is_refused_while_the_clinic_takes_cards_through_stripe(db: &TestDb) {
        let c = clinic(db, Gateway::Stripe).await;
        let before = fingerprint(db).await;
        let err = c.add(Gateway::Nmi, "4111111111111111").await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::GatewayMismatch);
        assert_eq!(
            err.to_string(),
            "This card was entered for NMI, but the clinic now takes cards through Stripe: enter the card again."
        );
        assert_eq!(fingerprint(db).await, before);
        assert_eq!(c.sim.vault_size() + c.sim.stripe_attached_cards(), 0);
    }

    async fn stripe_a_card_the_bank_declines_is_not_saved_and_staff_read_why(db: &TestDb) {
        let c = clinic(db, Gateway::Stripe).await;
        let before = fingerprint(db).await;
        let err = c.add(Gateway::Stripe, "4000000000009995").await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::Declined);
        assert_eq!(c.sim.stripe_attached_cards(), 0);
        assert_eq!(
            err.to_string(),
            "Stripe declined this card, so it was not saved. The bank declined: insufficient funds. Ask the patient for another card, or try this one again later. (Stripe insufficient_funds: Your card has insufficient funds.)"
        );
        assert_eq!(without_calls(&fingerprint(db).await), without_calls(&before));
    }
}

/// A fingerprint without the processor log's row count: calls that were made are logged, and only that.
fn without_calls(f: &str) -> String {
    f.split(' ')
        .filter(|p| !p.starts_with("processor_log="))
        .collect::<Vec<_>>()
        .join(" ")
}

async fn deletion_rules(db: &TestDb, gateway: Gateway) {
    let c = clinic(db, gateway).await;
    let first = c.add(gateway, "4111111111111111").await.unwrap().card;
    let second = c.add(gateway, "5555555555554444").await.unwrap().card;

    // The default cannot go while another card exists: refused before the gateway is asked.
    let before = fingerprint(db).await;
    let err = c.s.delete_card(&c.desk, first.id, false).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::CardRule);
    assert_eq!(fingerprint(db).await, before);
    assert_eq!(c.at_gateway(gateway), 2);

    c.s.set_default_card(&c.desk, second.id).await.unwrap();
    let gone = c.s.delete_card(&c.desk, first.id, false).await.unwrap();
    assert_eq!(gone.message, "Visa ending in 1111 has been deleted.");
    assert_eq!(c.at_gateway(gateway), 1, "deleted at the gateway too");

    // The last card needs the explicit confirmation.
    let err =
        c.s.delete_card(&c.desk, second.id, false)
            .await
            .unwrap_err();
    assert_eq!(err.code(), ErrorCode::CardRule);
    assert_eq!(c.at_gateway(gateway), 1);
    c.s.delete_card(&c.desk, second.id, true).await.unwrap();
    assert_eq!(c.at_gateway(gateway), 0);
    assert!(c.s.list_cards(&c.desk, c.patient).await.unwrap().is_empty());
}

async fn gateway_failure_keeps_the_card(db: &TestDb, gateway: Gateway) {
    let c = clinic(db, gateway).await;
    let card = c.add(gateway, "4111111111111111").await.unwrap().card;
    let path = match gateway {
        Gateway::Nmi => "/api/transact.php",
        Gateway::Stripe => "/stripe/v1/payment_methods",
    };
    c.sim.inject(path, 5, Fault::Status(503));
    let before = fingerprint(db).await;
    let err = c.s.delete_card(&c.desk, card.id, true).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::GatewayUnavailable);
    assert!(
        err.to_string().starts_with("The card was not deleted:"),
        "{err}"
    );
    // The processor log gained the failed calls; nothing else changed.
    assert_eq!(
        without_calls(&fingerprint(db).await),
        without_calls(&before)
    );
    assert_eq!(c.at_gateway(gateway), 1);
    assert_eq!(c.s.list_cards(&c.desk, c.patient).await.unwrap().len(), 1);
}

on_both_databases! {

    async fn nmi_verify_a_card_is_a_zero_amount_validate_and_its_answer_goes_on_the_card(db: &TestDb) {
        let c = clinic(db, Gateway::Nmi).await;
        let good = c.add(Gateway::Nmi, "4111111111111111").await.unwrap().card;
        let verified = c.s.verify_card(&c.desk, good.id).await.unwrap();
        assert_eq!(verified.message, "Visa ending in 1111 was verified with NMI: the bank accepted it, and nothing was charged.");
        // At NMI: one validate for no money, under the card's vault id; no sale.
        let at_nmi: Vec<_> = c.sim.transactions().iter().map(|t| (t.kind.clone(), t.amount_minor, t.success)).collect();
        assert_eq!(at_nmi, vec![("validate".to_owned(), 0, true)]);
        // The bank refuses an expired card: exit 4's error, its words, and the card says so.
        let expired = c.add(Gateway::Nmi, "4000000000000069").await.unwrap().card;
        let e = c.s.verify_card(&c.desk, expired.id).await.unwrap_err();
        assert_eq!(e.code(), ErrorCode::Declined, "{e}");
        assert!(e.to_string().starts_with("NMI refused Visa ending in 0069 when it was checked:"), "{e}");
        let cards = c.s.list_cards(&c.desk, c.patient).await.unwrap();
        let shown = |id| cards.iter().find(|x| x.id == id).unwrap().last_verification.clone().unwrap();
        assert_eq!(shown(good.id).outcome, "verified");
        assert!(shown(good.id).summary.starts_with("Verified on "), "{}", shown(good.id).summary);
        assert_eq!(shown(expired.id).outcome, "refused");
        assert!(shown(expired.id).summary.contains("(223)"), "{}", shown(expired.id).summary);
        // No answer: exit 5's error, recorded as not checked.
        c.sim.inject("/api/transact.php", 1, Fault::Status(500));
        let e = c.s.verify_card(&c.desk, good.id).await.unwrap_err();
        assert_eq!(e.code(), ErrorCode::GatewayUnavailable, "{e}");
        // Who asked, in the activity log; and only those allowed to manage cards may ask.
        let log = c.s.patient_profile(&c.desk, c.patient).await.unwrap().activity;
        assert_eq!(log.iter().filter(|a| a.action == "card.verified" && a.actor == "frontdesk").count(), 3);
        assert!(c.charged_at(Gateway::Nmi).is_empty(), "nothing was ever charged");
    }

    async fn stripe_verify_a_card_is_an_off_session_setup_intent_that_charges_nothing(db: &TestDb) {
        let c = clinic(db, Gateway::Stripe).await;
        let card = c.add(Gateway::Stripe, "4242424242424242").await.unwrap().card;
        let verified = c.s.verify_card(&c.desk, card.id).await.unwrap();
        assert_eq!(verified.verification.outcome, "verified");
        assert!(c.sim.stripe_payment_intents().is_empty(), "no PaymentIntent: nothing charged");
        // A Stripe card is verified at Stripe even after the clinic moved to NMI (its own gateway).
        c.s.set_setting(&c.manager, "gateway", "nmi").await.unwrap();
        assert!(c.s.verify_card(&c.desk, card.id).await.is_ok());
    }

    async fn deleting_a_card_names_the_subscriptions_and_unpaid_invoices_it_pays_before_it_goes(db: &TestDb) {
        use clinicpay_services::card_dependents::DependentKind;
        let c = clinic(db, Gateway::Nmi).await;
        let visa = c.add(Gateway::Nmi, "4111111111111111").await.unwrap().card;
        let mc = c.add(Gateway::Nmi, "5555555555554444").await.unwrap().card;
        let sub = c.s.create_subscription(&c.desk, c.patient, "Wellness", Clinic::usd(4_900), "month").await.unwrap();
        let invoice = c.s.create_invoice(&c.desk, c.patient, Clinic::usd(8_000), "Visit").await.unwrap();

        // The default pays both; the other card pays nothing, and says so.
        let d = c.s.card_dependents(&c.desk, visa.id).await.unwrap();
        let named: Vec<_> = d.dependents.iter().map(|x| (x.kind, x.id, x.what.as_str(), x.then_paid_by.as_deref())).collect();
        assert_eq!(named, vec![
            (DependentKind::Subscription, sub.id.0, "Wellness ($49.00 a month)", Some("Mastercard ending in 4444 on NMI")),
            (DependentKind::Invoice, invoice.id.0, &*format!("invoice {} ($80.00, Visit)", invoice.id), Some("Mastercard ending in 4444 on NMI")),
        ]);
        let other = c.s.card_dependents(&c.desk, mc.id).await.unwrap();
        assert!(other.dependents.is_empty());
        assert!(other.summary.starts_with("Nothing depends on Mastercard ending in 4444"), "{}", other.summary);
        let gone = c.s.delete_card(&c.desk, mc.id, false).await.unwrap();
        assert_eq!(gone.message, "Mastercard ending in 4444 has been deleted.");

        // Now the Visa is the last card: the refusal names what it pays, and so does the deletion.
        let refused = c.s.delete_card(&c.desk, visa.id, false).await.unwrap_err();
        assert_eq!(refused.code(), ErrorCode::CardRule);
        let said = refused.to_string();
        assert!(said.contains("only payment method") && said.contains("pays Wellness ($49.00 a month)") && said.contains("would have no card to charge"), "{said}");
        let deleted = c.s.delete_card(&c.desk, visa.id, true).await.unwrap();
        assert!(deleted.message.contains("What it paid: Wellness ($49.00 a month) has no card to charge now"), "{}", deleted.message);
    }
    async fn nmi_deleting_follows_the_default_and_last_card_rules_and_deletes_at_nmi(db: &TestDb) {
        deletion_rules(db, Gateway::Nmi).await;
    }

    async fn stripe_deleting_follows_the_default_and_last_card_rules_and_detaches_at_stripe(db: &TestDb) {
        deletion_rules(db, Gateway::Stripe).await;
    }

    async fn nmi_a_gateway_failure_while_deleting_leaves_the_card_in_place(db: &TestDb) {
        gateway_failure_keeps_the_card(db, Gateway::Nmi).await;
    }

    async fn stripe_a_gateway_failure_while_deleting_leaves_the_card_in_place(db: &TestDb) {
        gateway_failure_keeps_the_card(db, Gateway::Stripe).await;
    }

    async fn an_old_stripe_card_is_deleted_at_stripe_after_the_clinic_moved_to_nmi(db: &TestDb) {
        let c = clinic(db, Gateway::Stripe).await;
        let old = c.add(Gateway::Stripe, "4242424242424242").await.unwrap().card;
        c.s.set_setting(&c.manager, "gateway", "nmi").await.unwrap();
        c.s.delete_card(&c.desk, old.id, true).await.unwrap();
        assert_eq!(c.sim.stripe_attached_cards(), 0);
    }

    async fn every_card_change_is_in_the_activity_log_with_who_did_it(db: &TestDb) {
        let c = clinic(db, Gateway::Nmi).await;
        let a = c.add(Gateway::Nmi, "4111111111111111").await.unwrap().card;
        let b = c.add(Gateway::Nmi, "5555555555554444").await.unwrap().card;
        c.s.set_default_card(&c.desk, b.id).await.unwrap();
        c.s.delete_card(&c.desk, a.id, false).await.unwrap();
        let profile = c.s.patient_profile(&c.desk, c.patient).await.unwrap();
        let actions: Vec<_> = profile.activity.iter().map(|e| (e.action.as_str(), e.actor.as_str())).collect();
        assert_eq!(actions, [
            ("card.deleted", "frontdesk"),
            ("card.default_changed", "frontdesk"),
            ("card.added", "frontdesk"),
            ("card.added", "frontdesk"),
            ("patient.added", "frontdesk"),
        ]);
        assert_eq!(profile.activity[0].summary, "Card deleted: Visa ending in 1111");
        assert_eq!(profile.activity[2].summary, "Card added: Mastercard ending in 4444");
        // No gateway reference (the vault id that charges the card) is written to the activity log.
        let tokens: Vec<String> = c.sim.vault_ids();
        let mut r = db.store.reader().await.unwrap();
        for e in clinicpay_store::activity::recent(&mut r, 100).await.unwrap() {
            let text = format!("{:?}{:?}", e.before_state, e.after_state);
            for t in &tokens {
                assert!(!text.contains(&format!("\"{t}\"")), "token leaked into the log: {text}");
            }
        }
        let it = c.s.actor_by_username("it").await.unwrap();
        assert!(c.s.verify_activity_log(&it).await.unwrap().is_intact());
    }

    async fn an_imported_nmi_card_without_details_is_filled_in_from_the_vault_when_loaded(db: &TestDb) {
        let c = clinic(db, Gateway::Nmi).await;
        let vault_id = c.sim.vault_card("5555555555554444", "0829");
        let imported = c.s.import_card(&c.manager, c.patient, Gateway::Nmi, &vault_id).await.unwrap().card;
        assert!(imported.details_missing);
        assert_eq!(imported.description, "NMI card (brand and last four not yet loaded)");

        // While NMI cannot answer, the card is listed as it is, and listing does not fail.
        c.sim.inject("/api/query.php", 1, Fault::Status(503));
        let cards = c.s.list_cards(&c.desk, c.patient).await.unwrap();
        assert!(cards[0].details_missing);

        let cards = c.s.list_cards(&c.desk, c.patient).await.unwrap();
        assert!(!cards[0].details_missing);
        assert_eq!(cards[0].description, "Mastercard ending in 4444");
        assert_eq!(cards[0].expiry, "08/2029");
        assert!(cards[0].is_default, "the patient's only card is the default");
        let profile = c.s.patient_profile(&c.desk, c.patient).await.unwrap();
        assert_eq!(profile.activity[0].summary, "Card details loaded from the gateway: Mastercard ending in 4444");
        assert_eq!(profile.activity[0].actor, "ClinicPay (from the gateway)");
        // Loaded once: the next listing asks NMI nothing.
        let calls = c.sim.requests();
        c.s.list_cards(&c.desk, c.patient).await.unwrap();
        assert_eq!(c.sim.requests(), calls);
    }

    async fn saving_a_card_announces_it_for_recovery(db: &TestDb) {
        let c = clinic(db, Gateway::Nmi).await;
        let mut events = c.s.card_saved_events();
        let card = c.add(Gateway::Nmi, "4111111111111111").await.unwrap().card;
        let e = events.recv().await.unwrap();
        assert_eq!((e.patient_id, e.card_id, e.gateway), (c.patient, card.id, Gateway::Nmi));
    }

    async fn without_keychain_credentials_staff_are_told_who_can_add_them(db: &TestDb) {
        let c = clinic(db, Gateway::Nmi).await;
        Keychain::named(&c.keychain).delete(Gateway::Nmi.into()).unwrap();
        let err = c.add(Gateway::Nmi, "4111111111111111").await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::CredentialsMissing);
        assert!(err.to_string().contains("clinicpay gateway credentials set nmi"), "{err}");
    }

    async fn secrets_live_in_the_keychain_and_the_check_says_whether_they_work(db: &TestDb) {
        let c = clinic(db, Gateway::Nmi).await;
        let it = c.s.actor_by_username("it").await.unwrap();
        // Stored where IT put them: the OS keychain, under ClinicPay's entries, bound to the address
        // they were given for.
        let stored = Keychain::named(&c.keychain).get(Gateway::Stripe.into()).unwrap().unwrap();
        assert_eq!(stored.expose(), format!("for:{}/stripe {STRIPE_KEY}", c.sim.base_url()));
        let report = c.s.check_gateways(&it).await.unwrap();
        assert!(report.iter().all(|r| r.works), "{report:?}");

        c.s.set_gateway_credentials(&it, Gateway::Nmi, Secret::new("wrong-key-for-nmi")).await.unwrap();
        let report = c.s.check_gateways(&it).await.unwrap();
        let nmi = report.iter().find(|r| r.gateway == Gateway::Nmi).unwrap();
        assert!(nmi.active && !nmi.works);
        assert_eq!(nmi.status, "credentials_refused");
        assert!(clinicpay_services::gateways::check_failure(&report).is_some());

        // A publishable key pasted by mistake is refused with what to do instead.
        let err = c.s.set_gateway_credentials(&it, Gateway::Stripe, Secret::new("pk_test_123")).await.unwrap_err();
        assert!(err.to_string().contains("publishable key"), "{err}");
        // Only IT manages secrets.
        let err = c.s.set_gateway_credentials(&c.desk, Gateway::Nmi, Secret::new(NMI_KEY)).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::PermissionDenied);

        // The database never holds a secret, a card number or a CVC, only the fact that IT set one.
        c.add(Gateway::Nmi, "4111111111111111").await.unwrap_err();
        c.s.set_gateway_credentials(&it, Gateway::Nmi, Secret::new(NMI_KEY)).await.unwrap();
        c.add(Gateway::Nmi, "4111111111111111").await.unwrap();
        let everything = dump_text(db).await;
        for never in [NMI_KEY, STRIPE_KEY, "wrong-key-for-nmi", "4111111111111111"] {
            assert!(!everything.contains(never), "{never} is stored in the database");
        }
        assert!(everything.contains("gateway.credentials_set"));
    }
}

#[test]
fn the_card_forms_name_and_country_are_both_required_and_nothing_fills_them() {
    use clinicpay_services::Services;
    let ok = Services::required_card_details(Some("  Ana Ruiz "), Some("ca")).unwrap();
    assert_eq!(ok, ("Ana Ruiz".to_owned(), "CA".to_owned()));
    for (name, country, says) in [
        (None, Some("US"), "cardholder's name"),
        (Some("   "), Some("US"), "cardholder's name"),
        (Some("Ana Ruiz"), None, "billing country"),
        (Some("Ana Ruiz"), Some(""), "billing country"),
        (Some("Ana Ruiz"), Some("USA"), "billing country"),
        (Some("4111 1111 1111 1111"), Some("US"), "card number"),
    ] {
        let e = Services::required_card_details(name, country).unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidInput);
        assert!(e.to_string().contains(says), "{name:?} {country:?}: {e}");
        assert!(
            !e.to_string().contains("4111"),
            "a card number is never repeated"
        );
    }
}
