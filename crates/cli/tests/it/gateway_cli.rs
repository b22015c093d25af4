//! The CLI contract of the card and gateway commands (`cards add/default/delete`, `gateway credentials
//! set`, `gateway check`, `sim token`): names, JSON, exit codes, on both databases, against the simulator
//! and the real OS keychain. Everything the runs print and store is then searched for card numbers and
//! secrets.

use std::process::Command;
use std::sync::Mutex;

use clinicpay_sim::{SimConfig, Simulator};
use clinicpay_testkit::{dump_text, fingerprint, on_both_databases, TestDb};
use serde_json::Value;

use crate::support::{self, run_with_stdin};
const NMI_KEY: &str = "h8Kq2ZcliCliPay0NmiLiveKey00000X";
const STRIPE_KEY: &str = "sk_test_51HcliCliPayCliStripeKey000";
const CARDS: [&str; 3] = ["4111111111111111", "4242424242424242", "4000000000009995"];

/// Runs `clinicpay` and keeps everything it printed, to search it afterwards.
struct Cli<'a> {
    db: &'a TestDb,
    keychain: String,
    printed: Mutex<String>,
}

impl Cli<'_> {
    fn run(&self, args: &[&str], stdin: &str) -> (i32, Value) {
        self.run_with(support::clinicpay(&self.db.url), args, stdin)
    }

    /// At the real time ten minutes from now (what the simulator saw happen just now is then judged).
    fn run_later(&self, args: &[&str]) -> (i32, Value) {
        let later = (chrono::Utc::now() + chrono::Duration::minutes(10)).to_rfc3339();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_clinicpay"));
        cmd.args(["--db", &self.db.url, "--now", &later])
            .env("CLINICPAY_PASSWORD", support::PASSWORD)
            .env_remove("CLINICPAY_STAFF")
            .env_remove("CLINICPAY_DB")
            .env(
                "CLINICPAY_MANAGED_CONFIG",
                "/nonexistent/clinicpay-managed.toml",
            );
        self.run_with(cmd, args, "")
    }

    fn run_with(&self, mut cmd: Command, args: &[&str], stdin: &str) -> (i32, Value) {
        let out = run_with_stdin(
            cmd.arg("--json")
                .args(args)
                .env("CLINICPAY_KEYCHAIN_SERVICE", &self.keychain),
            stdin,
        );
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        self.printed
            .lock()
            .unwrap()
            .push_str(&format!("{stdout}\n{stderr}\n"));
        let value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
            panic!("{args:?}: stdout is not one JSON value ({e}): {stdout:?}; stderr: {stderr}")
        });
        (out.status.code().unwrap(), value)
    }

    fn ok(&self, args: &[&str]) -> Value {
        let (code, v) = self.run(args, "");
        assert_eq!(code, 0, "{args:?}: {v}");
        v
    }

    /// Nothing printed and nothing stored holds a test card number or a secret.
    async fn assert_nothing_secret_leaked(&self) {
        let printed = self.printed.lock().unwrap().clone();
        let stored = dump_text(self.db).await;
        for never in CARDS.iter().chain(&[NMI_KEY, STRIPE_KEY]) {
            assert!(!printed.contains(never), "{never} was printed:\n{printed}");
            assert!(!stored.contains(never), "{never} is in the database");
        }
    }
}

impl Drop for Cli<'_> {
    fn drop(&mut self) {
        use clinicpay_services::credentials::{CredentialStore, Keychain};
        let k = Keychain::named(&self.keychain);
        let _ = k.delete(clinicpay_domain::Gateway::Nmi.into());
        let _ = k.delete(clinicpay_domain::Gateway::Stripe.into());
    }
}

fn cli(db: &TestDb) -> Cli<'_> {
    Cli {
        db,
        keychain: format!(
            "ClinicPay-cli-test-{}-{}",
            std::process::id(),
            chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
        ),
        printed: Mutex::new(String::new()),
    }
}

async fn simulator() -> Simulator {
    Simulator::start(SimConfig {
        nmi_security_key: Some(NMI_KEY.into()),
        stripe_secret_key: Some(STRIPE_KEY.into()),
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

on_both_databases! {
    async fn cards_are_added_defaulted_and_deleted_through_the_cli_in_training_mode(db: &TestDb) {
        let c = cli(db);
        // The demo clinic is in training mode and takes cards through NMI: the simulator's keys serve.
        let sim = Simulator::start(SimConfig::default()).await.unwrap();
        c.ok(&["demo", "seed", "--patients", "3"]);
        c.ok(&["--as", "it", "settings", "set", "nmi.api-base", &sim.base_url()]);
        let patient = c.ok(&["--as", "frontdesk", "patients", "add", "--name", "Ada Lovelace", "--email", "ada@example.com"]);
        let patient = patient["id"].to_string();

        let token = |gateway: &str, card: &str| {
            c.ok(&["sim", "token", "--sim", &sim.base_url(), "--gateway", gateway, "--card", card, "--exp", "12/30"])["token"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        let first = c.ok(&["--as", "frontdesk", "cards", "add", &patient, "--gateway", "nmi", "--token", &token("nmi", "4111111111111111"), "--nickname", "HSA card"]);
        assert_eq!(first["card"]["is_default"], true);
        assert_eq!(first["card"]["description"], "Visa ending in 1111");
        assert_eq!(first["card"]["nickname"], "HSA card");
        assert_eq!(first["message"], "Your Visa ending in 1111 has been added to your account.");
        let second = c.ok(&["--as", "frontdesk", "cards", "add", &patient, "--gateway", "nmi", "--token", &token("nmi", "5555555555554444")]);
        assert_eq!(second["card"]["is_default"], false);

        // A Stripe token while the clinic takes cards through NMI: refused, nothing changed.
        let before = fingerprint(db).await;
        let (code, v) = c.run(&["--as", "frontdesk", "cards", "add", &patient, "--gateway", "stripe", "--token", &token("stripe", "4242424242424242")], "");
        assert_eq!((code, v["error"]["code"].as_str()), (3, Some("gateway_mismatch")), "{v}");
        assert_eq!(v["error"]["message"], "This card was entered for Stripe, but the clinic now takes cards through NMI: enter the card again.");
        assert_eq!(fingerprint(db).await, before);

        let first_id = first["card"]["id"].to_string();
        let second_id = second["card"]["id"].to_string();
        let (code, v) = c.run(&["--as", "frontdesk", "cards", "delete", &first_id], "");
        assert_eq!((code, v["error"]["code"].as_str()), (3, Some("card_rule")), "{v}");
        assert_eq!(fingerprint(db).await, before);

        let v = c.ok(&["--as", "frontdesk", "cards", "default", &second_id]);
        assert_eq!(v["message"], "Mastercard ending in 4444 is now your default payment method.");
        c.ok(&["--as", "frontdesk", "cards", "delete", &first_id]);
        let (code, v) = c.run(&["--as", "frontdesk", "cards", "delete", &second_id], "");
        assert_eq!((code, v["error"]["code"].as_str()), (3, Some("card_rule")), "{v}");
        c.ok(&["--as", "frontdesk", "cards", "delete", &second_id, "--confirm-last"]);
        assert_eq!(sim.vault_size(), 0, "both cards were deleted at NMI");
        assert_eq!(c.ok(&["--as", "frontdesk", "cards", "list", &patient]), Value::Array(vec![]));

        // A card the bank declines: exit 4, the bank's reason in staff's words.
        c.ok(&["--as", "manager", "settings", "set", "fallback-gateway", "none"]);
        c.ok(&["--as", "manager", "settings", "set", "gateway", "stripe"]);
        c.ok(&["--as", "it", "settings", "set", "stripe.api-base", &format!("{}/stripe", sim.base_url())]);
        let (code, v) = c.run(&["--as", "frontdesk", "cards", "add", &patient, "--gateway", "stripe", "--token", &token("stripe", "4000000000009995")], "");
        assert_eq!((code, v["error"]["code"].as_str()), (4, Some("declined")), "{v}");
        assert!(v["error"]["message"].as_str().unwrap().contains("insufficient funds"), "{v}");
        let v = c.ok(&["--as", "frontdesk", "cards", "add", &patient, "--gateway", "stripe", "--token", &token("stripe", "4242424242424242")]);
        assert_eq!(v["card"]["gateway"], "stripe");

        let log = c.ok(&["--as", "manager", "processor-log", "--patient", &patient]);
        assert!(log.as_array().unwrap().len() >= 4, "{log}");
        c.assert_nothing_secret_leaked().await;
    }

    async fn a_secure_card_link_is_made_completed_as_the_patient_would_and_saved_by_the_worker(db: &TestDb) {
        let c = cli(db);
        let sim = Simulator::start(SimConfig::default()).await.unwrap();
        c.ok(&["demo", "seed", "--patients", "3"]);
        c.ok(&["--as", "manager", "settings", "set", "fallback-gateway", "none"]);
        c.ok(&["--as", "manager", "settings", "set", "gateway", "stripe"]);
        c.ok(&["--as", "it", "settings", "set", "stripe.api-base", &format!("{}/stripe", sim.base_url())]);
        let patient = c.ok(&["--as", "frontdesk", "patients", "add", "--name", "Ada Link", "--email", "ada.link@example.com"])["id"].to_string();

        // The link, its session and its expiry (Stripe's 24 hours, by Stripe's clock: this CLI's is --now).
        let link = c.ok(&["--as", "frontdesk", "cards", "link", &patient]);
        let (url, session) = (link["url"].as_str().unwrap().to_owned(), link["session"].as_str().unwrap().to_owned());
        assert!(session.starts_with("cs_test_") && url.ends_with(&format!("/stripe/checkout/{session}")), "{link}");
        assert_eq!((link["status"].as_str(), link["sent_to"].as_str()), (Some("open"), None));
        let expires: chrono::DateTime<chrono::Utc> = link["expires_at"].as_str().unwrap().parse().unwrap();
        let hours = (expires - chrono::Utc::now()).num_minutes() as f64 / 60.0;
        assert!((23.9..=24.0).contains(&hours), "{hours}");

        // The patient's bank declines the first card on the page (exit 4, the page's words); then a good one.
        let complete = |card: &str| c.run(&["sim", "complete-setup", "--sim", &sim.base_url(), "--session", &session, "--card", card], "");
        let (code, v) = complete("4000000000000002");
        assert_eq!((code, v["error"]["code"].as_str()), (4, Some("declined")), "{v}");
        assert!(v["error"]["message"].as_str().unwrap().contains("Your card was declined."), "{v}");
        let (code, v) = complete("4242424242424242");
        assert_eq!((code, v["status"].as_str()), (0, Some("complete")), "{v}");
        let (code, v) = complete("4242424242424242");
        assert_eq!(code, 3, "a page takes one card: {v}");

        // The worker's pass saves it; the profile shows the link completed.
        let pass = c.ok(&["--as", "it", "worker", "--once"]);
        assert_eq!(pass["card_links"]["saved"], 1, "{pass}");
        let cards = c.ok(&["--as", "frontdesk", "cards", "list", &patient]);
        assert_eq!((cards[0]["last4"].as_str(), cards[0]["is_default"].as_bool()), (Some("4242"), Some(true)), "{cards}");
        let links = c.ok(&["--as", "frontdesk", "cards", "links", &patient]);
        assert_eq!((links[0]["status"].as_str(), links[0]["card_id"].clone()), (Some("completed"), cards[0]["id"].clone()), "{links}");

        // --send with no mail server: refused before any link exists (exit 3); NMI has no such page.
        let (code, v) = c.run(&["--as", "frontdesk", "cards", "link", &patient, "--send"], "");
        assert_eq!((code, v["error"]["code"].as_str()), (3, Some("invalid_input")), "{v}");
        assert_eq!(c.ok(&["--as", "frontdesk", "cards", "links", &patient]).as_array().unwrap().len(), 1);
        c.ok(&["--as", "manager", "settings", "set", "gateway", "nmi"]);
        let (code, v) = c.run(&["--as", "frontdesk", "cards", "link", &patient], "");
        assert_eq!(code, 3, "{v}");
        assert!(v["error"]["message"].as_str().unwrap().contains("Stripe"), "{v}");
        c.assert_nothing_secret_leaked().await;
    }

    async fn cards_refresh_takes_what_the_card_network_renewed_at_the_gateway(db: &TestDb) {
        let c = cli(db);
        let sim = Simulator::start(SimConfig::default()).await.unwrap();
        c.ok(&["demo", "seed", "--patients", "3"]);
        c.ok(&["--as", "it", "settings", "set", "nmi.api-base", &sim.base_url()]);
        let patient = c.ok(&["--as", "frontdesk", "patients", "add", "--name", "Rene Renewal", "--email", "rene@example.com"])["id"].to_string();
        let token = c.ok(&["sim", "token", "--sim", &sim.base_url(), "--gateway", "nmi", "--card", "4111111111111111", "--exp", "12/26"])["token"].as_str().unwrap().to_owned();
        c.ok(&["--as", "frontdesk", "cards", "add", &patient, "--gateway", "nmi", "--token", &token]);

        // Nothing renewed yet: checked, unchanged.
        let r = c.ok(&["--as", "frontdesk", "cards", "refresh", &patient]);
        assert_eq!((r["checked"].as_u64(), r["renewed"].as_u64(), r["unchanged"].as_u64(), r["could_not_check"].as_u64()), (Some(1), Some(0), Some(1), Some(0)), "{r}");
        // The network renews it (as NMI's Account Updater would), as the patient's bank reports.
        let renewed = c.ok(&["sim", "renew-card", "--sim", &sim.base_url(), "--gateway", "nmi", "--card", "1111", "--exp", "08/30"]);
        assert_eq!(renewed["renewed"], 1);
        let r = c.ok(&["--as", "frontdesk", "cards", "refresh", &patient]);
        assert_eq!((r["checked"].as_u64(), r["renewed"].as_u64()), (Some(1), Some(1)), "{r}");
        assert_eq!(r["renewals"][0], "Visa ••1111: the card network renewed it to 08/2030");
        let cards = c.ok(&["--as", "frontdesk", "cards", "list", &patient]);
        assert_eq!(cards[0]["expiry"], "08/2030");
        assert!(cards[0]["renewed_by_network_at"].is_string(), "{cards}");
        // A gateway that does not answer: exit 0 with what it could not check (nothing changed).
        c.ok(&["--as", "it", "settings", "set", "nmi.api-base", "http://127.0.0.1:9"]);
        let r = c.ok(&["--as", "frontdesk", "cards", "refresh", &patient]);
        assert_eq!((r["checked"].as_u64(), r["could_not_check"].as_u64()), (Some(0), Some(1)), "{r}");
        c.assert_nothing_secret_leaked().await;
    }

    async fn it_stores_secrets_from_stdin_in_the_keychain_and_gateway_check_says_whether_they_work(db: &TestDb) {
        let c = cli(db);
        let sim = simulator().await;
        c.ok(&["demo", "seed", "--patients", "3"]);
        // The demo clinic trains on the simulator; this desk goes live.
        clinicpay_testkit::raw_execute(db, "UPDATE organizations SET settings = REPLACE(settings, '\"training_mode\":true', '\"training_mode\":false')").await;
        c.ok(&["--as", "it", "settings", "set", "nmi.api-base", &sim.base_url()]);
        c.ok(&["--as", "it", "settings", "set", "stripe.api-base", &format!("{}/stripe", sim.base_url())]);

        // Nothing stored yet: the check names what is missing and who can add it.
        let (code, v) = c.run(&["--as", "it", "gateway", "check"], "");
        assert_eq!((code, v["error"]["code"].as_str()), (3, Some("credentials_missing")), "{v}");
        assert!(v["error"]["message"].as_str().unwrap().contains("clinicpay gateway credentials set nmi"), "{v}");

        // Front desk may not store secrets; a secret never travels as an argument.
        let (code, v) = c.run(&["--as", "frontdesk", "gateway", "credentials", "set", "nmi"], NMI_KEY);
        assert_eq!((code, v["error"]["code"].as_str()), (3, Some("permission_denied")), "{v}");
        let out = Command::new(env!("CARGO_BIN_EXE_clinicpay"))
            .args(["--db", &db.url, "--as", "it", "gateway", "credentials", "set", "nmi", NMI_KEY])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "a secret as an argument is a usage error");

        let v = c.run(&["--as", "it", "gateway", "credentials", "set", "nmi"], &format!("{NMI_KEY}\n"));
        assert_eq!(v.0, 0, "{}", v.1);
        assert_eq!(v.1["gateway"], "nmi");
        let (code, _) = c.run(&["--as", "it", "gateway", "credentials", "set", "stripe"], STRIPE_KEY);
        assert_eq!(code, 0);
        let v = c.ok(&["--as", "it", "gateway", "check"]);
        let works: Vec<(String, bool)> = v.as_array().unwrap().iter()
            .map(|g| (g["gateway"].as_str().unwrap().to_owned(), g["works"].as_bool().unwrap()))
            .collect();
        assert_eq!(works, vec![("nmi".into(), true), ("stripe".into(), true)]);

        // A wrong key: the check fails with the gateway's refusal, exit 3.
        c.run(&["--as", "it", "gateway", "credentials", "set", "nmi"], "not-the-right-key");
        let (code, v) = c.run(&["--as", "it", "gateway", "check"], "");
        assert_eq!((code, v["error"]["code"].as_str()), (3, Some("credentials_refused")), "{v}");
        // And an unreachable gateway is exit 5.
        c.run(&["--as", "it", "gateway", "credentials", "set", "nmi"], NMI_KEY);
        c.ok(&["--as", "it", "settings", "set", "nmi.api-base", "http://127.0.0.1:9"]);
        // The key was given for the simulator's address, so the desk will not send it to the new one.
        let (code, v) = c.run(&["--as", "it", "gateway", "check"], "");
        assert_eq!((code, v["error"]["code"].as_str()), (3, Some("credentials_missing")), "{v}");
        c.run(&["--as", "it", "gateway", "credentials", "set", "nmi"], NMI_KEY);
        let (code, v) = c.run(&["--as", "it", "gateway", "check"], "");
        assert_eq!((code, v["error"]["code"].as_str()), (5, Some("gateway_unavailable")), "{v}");

        c.assert_nothing_secret_leaked().await;
    }

    async fn invoices_checkout_payments_refunds_and_the_worker_through_the_cli(db: &TestDb) {
        let c = cli(db);
        let sim = Simulator::start(SimConfig::default()).await.unwrap();
        c.ok(&["demo", "seed", "--patients", "3"]);
        c.ok(&["--as", "it", "settings", "set", "nmi.api-base", &sim.base_url()]);
        let patient = c.ok(&["--as", "frontdesk", "patients", "add", "--name", "Grace Hopper", "--email", "grace@example.com"])["id"].to_string();
        let token = |card: &str| {
            c.ok(&["sim", "token", "--sim", &sim.base_url(), "--gateway", "nmi", "--card", card])["token"].as_str().unwrap().to_owned()
        };
        let card = c.ok(&["--as", "frontdesk", "cards", "add", &patient, "--gateway", "nmi", "--token", &token("4111111111111111")])["card"]["id"].to_string();

        // Verify: NMI's zero-amount check. Exit 0 verified; 4 refused by the bank, in its words; 5 no answer.
        let verified = c.ok(&["--as", "frontdesk", "cards", "verify", &card]);
        assert!(verified["message"].as_str().unwrap().contains("was verified with NMI"), "{verified}");
        assert_eq!(verified["card"]["last_verification"]["outcome"], "verified");
        let expired = c.ok(&["--as", "frontdesk", "cards", "add", &patient, "--gateway", "nmi", "--token", &token("4000000000000069")])["card"]["id"].to_string();
        let (code, v) = c.run(&["--as", "frontdesk", "cards", "verify", &expired], "");
        assert_eq!((code, v["error"]["code"].as_str()), (4, Some("declined")), "{v}");
        assert!(v["error"]["message"].as_str().unwrap().contains("Nothing was charged"), "{v}");
        sim.inject("/api/transact.php", 1, clinicpay_sim::Fault::Status(500));
        let (code, v) = c.run(&["--as", "frontdesk", "cards", "verify", &card], "");
        assert_eq!((code, v["error"]["code"].as_str()), (5, Some("gateway_unavailable")), "{v}");
        let listed = c.ok(&["--as", "frontdesk", "cards", "list", &patient]);
        let outcomes: Vec<_> = listed.as_array().unwrap().iter().map(|x| x["last_verification"]["outcome"].as_str().unwrap_or("none").to_owned()).collect();
        assert_eq!(outcomes, vec!["unknown", "refused"], "the latest check of each card is on it");
        c.ok(&["--as", "frontdesk", "cards", "delete", &expired]);

        let invoice = c.ok(&["--as", "frontdesk", "invoices", "create", &patient, "--amount", "123.45", "--description", "Consultation"]);
        assert_eq!(invoice["amount"], serde_json::json!({"minor": 12345, "currency": "USD"}));
        assert_eq!(invoice["status"], "OPEN");
        let invoice_id = invoice["id"].to_string();
        let paid = c.ok(&["--as", "frontdesk", "invoices", "pay", &invoice_id, "--card", &card]);
        assert_eq!(paid["invoice"]["status"], "PAID");
        assert_eq!(paid["payment"]["status"], "SUCCEEDED");
        assert_eq!(paid["message"], "Payment of $123.45 with Visa ending in 1111 succeeded.");
        let (code, v) = c.run(&["--as", "frontdesk", "invoices", "pay", &invoice_id], "");
        assert_eq!((code, v["error"]["code"].as_str()), (3, Some("conflict")), "{v}");

        // A checkout with a new card that the bank declines: exit 4, a failed payment on record.
        let (code, v) = c.run(&["--as", "frontdesk", "checkout", &patient, "--amount", "20", "--token", &token("4000000000009995"), "--gateway", "nmi"], "");
        assert_eq!((code, v["error"]["code"].as_str()), (4, Some("declined")), "{v}");
        let paid_again = c.ok(&["--as", "frontdesk", "checkout", &patient, "--amount", "20", "--card", &card]);
        assert_eq!(paid_again["payment"]["amount"]["minor"], 2000);

        let payments = c.ok(&["--as", "frontdesk", "payments", "list", &patient]);
        let statuses: Vec<&str> = payments.as_array().unwrap().iter().map(|p| p["status"].as_str().unwrap()).collect();
        assert_eq!(statuses, vec!["SUCCEEDED", "FAILED", "SUCCEEDED"]);

        let payment_id = paid["payment"]["id"].to_string();
        let refund = c.ok(&["--as", "frontdesk", "refunds", "create", &payment_id, "--amount", "3.45"]);
        assert_eq!(refund["left_to_refund"]["minor"], 12000);
        let (code, v) = c.run(&["--as", "frontdesk", "refunds", "create", &payment_id], "");
        assert_eq!((code, v["error"]["code"].as_str()), (3, Some("permission_denied")), "a $120 refund is above the front-desk limit of $100: {v}");
        c.ok(&["--as", "manager", "refunds", "create", &payment_id]);
        let (code, v) = c.run(&["--as", "manager", "refunds", "create", &payment_id], "");
        assert_eq!((code, v["error"]["code"].as_str()), (3, Some("conflict")), "{v}");

        let order = c.ok(&["--as", "frontdesk", "orders", "show", &paid["invoice"]["order_id"].to_string()]);
        assert_eq!(order["order"]["status"], "REFUNDED");
        assert_eq!(order["payments"].as_array().unwrap().len(), 1);
        let orders = c.ok(&["--as", "frontdesk", "orders", "list", &patient]);
        assert_eq!(orders.as_array().unwrap().len(), 3);
        assert_eq!(c.ok(&["--as", "frontdesk", "orders", "list", "--recovery", "needs_payment_method"]), Value::Array(vec![]));

        // Manual retry is for subscription orders only.
        let (code, v) = c.run(&["--as", "frontdesk", "orders", "retry", &paid["invoice"]["order_id"].to_string()], "");
        assert_eq!((code, v["error"]["code"].as_str()), (3, Some("card_rule")), "{v}");

        // A subscription is billed by the worker's next pass.
        let sub = c.ok(&["--as", "frontdesk", "subscriptions", "create", &patient, "--plan", "Wellness", "--amount", "49", "--every", "month"]);
        assert_eq!(sub["status"], "ACTIVE");
        let pass = c.ok(&["--as", "it", "worker", "--once"]);
        assert_eq!((pass["cycles_billed"].as_i64(), pass["cycles_paid"].as_i64()), (Some(1), Some(1)), "{pass}");
        assert_eq!(pass["janitor"]["looked_at"], 0);
        let subs = c.ok(&["--as", "frontdesk", "subscriptions", "list", &patient]);
        assert_eq!(subs[0]["locked_gateway"], "nmi");
        let switched = c.ok(&["--as", "frontdesk", "subscriptions", "switch", &subs[0]["id"].to_string(), "--plan", "Wellness plus", "--amount", "79"]);
        assert_eq!(switched["subscription"]["plan"], "Wellness plus");

        // Reconciliation: the JSON and the contract's exit codes (0 clean, 3 differences, 5 unavailable).
        let today = chrono::Utc::now().date_naive().to_string();
        let reconcile = ["--as", "manager", "reconcile", "--from", &today, "--to", &today, "--gateway", "nmi"];
        let (code, before) = c.run_later(&reconcile);
        let ours = |v: &Value, payment: &Value| v["gateways"][0]["mismatches"].as_array().unwrap().iter().any(|m| m["payment_id"] == *payment);
        assert_eq!(code, if before["clean"] == true { 0 } else { 3 }, "{before}");
         assert!(!ours(&before, &paid["payment"]["id"]), "what the CLI paid and refunded matches NMI: {before}");
        // A payment record lost behind the app: NMI took money ClinicPay has no payment for.
        clinicpay_testkit::raw_execute(db, &format!("DELETE FROM payments WHERE id = {}", paid_again["payment"]["id"])).await;
        let (code, after) = c.run_later(&reconcile);
        assert_eq!(code, 3, "{after}");
        let lost = after["gateways"][0]["mismatches"].as_array().unwrap().iter().find(|m| m["kind"] == "taken_not_recorded" && m["gateway_amount"]["minor"] == 2000);
        assert!(lost.is_some_and(|m| m["what_to_do"].as_str().unwrap().contains("dashboard")), "{after}");
        let (code, down) = { sim.inject("/api/query.php", 5, clinicpay_sim::Fault::Status(503)); c.run_later(&reconcile) };
        assert_eq!((code, down["clean"].as_bool()), (5, Some(false)), "{down}");
        let (code, v) = c.run(&["--as", "frontdesk", "reconcile"], "");
        assert_eq!((code, v["error"]["code"].as_str()), (3, Some("permission_denied")), "{v}");
        c.assert_nothing_secret_leaked().await;
    }
}
