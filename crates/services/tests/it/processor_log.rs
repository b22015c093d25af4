//! Gateway calls land in the processor log of either database, redacted, and can be read back by
//! payment and by patient.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use clinicpay_domain::*;
use clinicpay_gateways::nmi::NmiClient;
use clinicpay_gateways::{
    CardHolder, ChargeOutcome, ChargeRequest, PaymentGateway, Secret, DEFAULT_TIMEOUT,
};
use clinicpay_services::Services;
use clinicpay_sim::{SimConfig, Simulator};
use clinicpay_testkit::{on_both_databases, raw_scalar};

const KEY: &str = "nmi-secret-key-for-the-log-test";

on_both_databases! {
    async fn every_gateway_call_is_logged_without_secrets_or_card_numbers(db: &TestDb) {
        let s = Services::new(db.store.clone(), Arc::new(FixedClock(Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).unwrap())));
        s.seed_demo(None, 3, 5).await.unwrap();
        let desk = s.actor_by_username("frontdesk").await.unwrap();
        let sim = Simulator::start(SimConfig { nmi_security_key: Some(KEY.into()), ..SimConfig::default() }).await.unwrap();
        let patient = PatientId(1);
        let client = NmiClient::new(Some(&sim.base_url()), Secret::new(KEY), Arc::new(s.processor_log_sink(Some(patient))), DEFAULT_TIMEOUT);

        let token = sim.payment_token("4111111111111111", "1230");
        let card = client.save_card(&CardHolder { name: "John Smith".into(), email: "j@example.com".into(), patient_ref: "1".into(), customer: None, country: Some("US".into()) }, &token).await.unwrap();
        let outcome = client
            .charge(&ChargeRequest { payment_key: "log-test-1".into(), card_token: card.token.clone(), customer: None, amount: Money::from_minor(2500, Currency::USD), check_duplicates: true })
            .await;
        assert!(matches!(outcome, ChargeOutcome::Succeeded { .. }), "{outcome:?}");

        let entries = s.processor_log(&desk, None, Some(patient)).await.unwrap();
        let ops: Vec<&str> = entries.iter().rev().map(|e| e.call.operation.as_str()).collect();
        assert_eq!(ops, ["vault.add_customer", "vault.report", "sale"]);
        // Searchable: by our payment key, by the gateway's words, and nothing for what is not there.
        let found = s.search_processor_log(&desk, "LOG-TEST-1").await.unwrap();
        assert_eq!(found.iter().map(|e| e.call.operation.as_str()).collect::<Vec<_>>(), ["sale"]);
        assert_eq!(s.search_processor_log(&desk, "vault.add").await.unwrap().len(), 1);
        assert!(s.search_processor_log(&desk, "no-such-thing-anywhere").await.unwrap().is_empty());
        assert!(s.search_processor_log(&desk, KEY).await.unwrap().is_empty(), "the secret is not stored, so not found");
        let sale = &entries[0].call;
        assert_eq!((sale.payment_key.as_deref(), sale.http_status, sale.outcome.as_str()), (Some("log-test-1"), Some(200), "approved"));
        assert!(sale.request.contains("amount=25.00") && sale.request.contains("security_key=%5Bredacted%5D"), "{}", sale.request);

        // Nothing secret anywhere in the stored log, whatever the column.
        let mut tx = db.store.begin().await.unwrap();
        let everything: String = raw_scalar(&mut tx, "SELECT COALESCE(STRING_AGG(request || response || outcome, ' '), '') FROM processor_log").await;
        tx.rollback().await.unwrap();
        for secret in [KEY, "4111111111111111", &token] {
            assert!(!everything.contains(secret), "{secret} is in the processor log");
        }
    }
}
