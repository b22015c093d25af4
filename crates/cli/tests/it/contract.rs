//! The `clinicpay` CLI contract of DESIGN.md: names, JSON shapes and exit codes, on both databases.
//! Bad input prints one clear sentence, exits with the contract's code, and changes nothing.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use clinicpay_testkit::{fingerprint, on_both_databases, raw_execute, TestDb};
use serde_json::Value;

use crate::support::{self, run_with_stdin, NOW};

fn clinicpay(db: &TestDb, args: &[&str]) -> Output {
    clinicpay_with_stdin(db, args, "")
}

fn clinicpay_with_stdin(db: &TestDb, args: &[&str], stdin: &str) -> Output {
    run_with_stdin(support::clinicpay(&db.url).args(args), stdin)
}

/// Runs with --json and answers (exit code, parsed stdout).
fn json(db: &TestDb, args: &[&str]) -> (i32, Value) {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = clinicpay(db, &all);
    let text = String::from_utf8_lossy(&out.stdout);
    let value = serde_json::from_str(text.trim()).unwrap_or_else(|e| {
        panic!(
            "{args:?}: stdout is not one JSON value ({e}): {text:?}; stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap(), value)
}

/// The password of the accounts a test makes itself (a live clinic's are at least 12 characters).
const LONG: &str = "correct-horse-battery";

/// `json` signing in with `password`.
fn json_with(db: &TestDb, password: &str, args: &[&str]) -> (i32, Value) {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = run_with_stdin(
        support::clinicpay(&db.url)
            .args(&all)
            .env("CLINICPAY_PASSWORD", password),
        "",
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let value = serde_json::from_str(text.trim())
        .unwrap_or_else(|e| panic!("{args:?}: stdout is not one JSON value ({e}): {text:?}"));
    (out.status.code().unwrap(), value)
}

async fn demo(db: &TestDb) {
    let (code, v) = json(db, &["demo", "seed", "--patients", "30", "--seed", "3"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["patients"], 30);
}

on_both_databases! {
    async fn bad_input_is_refused_with_a_clear_sentence_and_changes_nothing(db: &TestDb) {
        demo(db).await;
        let before = fingerprint(db).await;
        let cases: &[(&[&str], i32, &str)] = &[
            (&["--as", "frontdesk", "patients", "show", "999999"], 3, "not_found"),
            (&["--as", "frontdesk", "cards", "list", "999999"], 3, "not_found"),
            (&["--as", "frontdesk", "settings", "set", "gateway", "stripe"], 3, "permission_denied"),
            (&["--as", "manager", "settings", "set", "gateway", "paypal"], 3, "invalid_input"),
            (&["--as", "manager", "settings", "set", "refunds.front-desk-limit", "12.345"], 3, "invalid_input"),
            (&["--as", "manager", "settings", "set", "refunds.front-desk-limit", "ten dollars"], 3, "invalid_input"),
            (&["--as", "manager", "settings", "set", "recovery.final-day", "5"], 3, "invalid_input"),
            (&["--as", "manager", "settings", "set", "no.such.setting", "1"], 3, "invalid_input"),
            (&["--as", "frontdesk", "patients", "add", "--name", "Jane Roe", "--email", "not-an-email"], 3, "invalid_input"),
            (&["--as", "it", "patients", "add", "--name", "Jane Roe", "--email", "jane@example.com"], 3, "permission_denied"),
            (&["--as", "nobody", "patients", "search", "smith"], 3, "not_signed_in"),
            (&["patients", "search", "smith"], 3, "not_signed_in"),
            (&["--as", "frontdesk", "audit", "verify"], 3, "permission_denied"),
            (&["--as", "it", "demo", "seed"], 3, "conflict"),
            (&["db", "copy", "--to", "/tmp/not-a-server.db"], 3, "invalid_input"),
        ];
        for (args, want_exit, want_code) in cases {
            let (code, v) = json(db, args);
            assert_eq!(code, *want_exit, "{args:?} -> {v}");
            assert_eq!(v["error"]["code"], *want_code, "{args:?} -> {v}");
            let message = v["error"]["message"].as_str().unwrap();
            assert!(message.ends_with('.') && message.len() > 20, "{args:?}: not a clear sentence: {message}");
        }
        // Without --json the sentence goes to stderr, nothing to stdout.
        let out = clinicpay(db, &["--as", "frontdesk", "settings", "set", "gateway", "stripe"]);
        assert_eq!(out.status.code(), Some(3));
        assert!(out.stdout.is_empty());
        assert_eq!(
            String::from_utf8_lossy(&out.stderr).trim(),
            "You cannot change the clinic's payment settings: ask a billing manager or IT."
        );
        assert_eq!(fingerprint(db).await, before, "a refused command changed the database");
    }

    async fn checks_and_escalation_answer_document_003_as_data_and_as_a_pdf(db: &TestDb) {
        demo(db).await;
        let (code, checks) = json(db, &["--as", "frontdesk", "checks", "1"]);
        assert_eq!(code, 0, "{checks}");
        let checks = checks.as_array().unwrap();
        assert_eq!(checks.len(), 14, "document 003's list, with its expiry-reminder check");
        assert_eq!(checks[0]["name"], "Active organization gateway");
        for c in checks {
            assert!(["ok", "attention", "action_needed"].contains(&c["level"].as_str().unwrap()), "{c}");
            assert!(c["finding"].as_str().unwrap().ends_with('.'), "{c}");
        }
        let pdf = std::env::temp_dir().join(format!("clinicpay-escalation-{}-{:?}.pdf", std::process::id(), db.backend()));
        let (code, report) = json(db, &["--as", "frontdesk", "escalation", "1", "--pdf", pdf.to_str().unwrap()]);
        assert_eq!(code, 0, "{report}");
        assert!(report["text"].as_str().unwrap().contains("Active organization gateway: NMI"), "{report}");
        assert_eq!(report["pdf"], pdf.display().to_string());
        assert!(std::fs::read(&pdf).unwrap().starts_with(b"%PDF-"));
        std::fs::remove_file(&pdf).ok();
        let (code, missing) = json(db, &["--as", "frontdesk", "checks", "999999"]);
        assert_eq!((code, missing["error"]["code"].as_str()), (3, Some("not_found")), "{missing}");
    }

    async fn expiring_cards_and_reminders_follow_the_contract(db: &TestDb) {
        demo(db).await;
        for (args, within) in [(&["--as", "frontdesk", "expiring"][..], 60), (&["--as", "frontdesk", "expiring", "--within", "90"], 90)] {
            let (code, all) = json(db, args);
            assert_eq!(code, 0, "{all}");
            let cards = all["cards"].as_array().unwrap();
            for c in cards {
                let days = c["days_until_expiry"].as_i64().unwrap();
                assert!((0..=within).contains(&days) && c["expired"] == false, "{c}");
                assert!(c["has_other_valid_card"].is_boolean() && c["plans"].is_array(), "{c}");
            }
            if within == 90 {
                assert!(!cards.is_empty(), "the demo clinic has cards expiring within 90 days");
            }
        }
        let (_, business) = json(db, &["--as", "frontdesk", "expiring", "--within", "90", "--type", "business"]);
        assert!(business["cards"].as_array().unwrap().iter().all(|c| c["patient_type"] == "business"), "{business}");
        let (_, expired) = json(db, &["--as", "frontdesk", "expiring", "--expired"]);
        assert!(expired["cards"].as_array().unwrap().iter().all(|c| c["expired"] == true && c["days_until_expiry"].as_i64().unwrap() < 0));
        // Reminders: the front desk may not send them; with reminders off the run says so and sends nothing.
        let (code, refused) = json(db, &["--as", "frontdesk", "reminders", "run"]);
        assert_eq!((code, refused["error"]["code"].as_str()), (3, Some("permission_denied")), "{refused}");
        let (code, run) = json(db, &["--as", "manager", "reminders", "run"]);
        assert_eq!(code, 0, "{run}");
        assert_eq!(run["sent"], 0);
        assert!(run["note"].as_str().unwrap().contains("disabled"), "{run}");
        let (code, list) = json(db, &["--as", "manager", "reminders", "list"]);
        assert_eq!((code, list.as_array().map(Vec::len)), (0, Some(0)));
    }

    async fn usage_errors_exit_with_2(db: &TestDb) {
        for args in [&["staff", "add", "x", "--role", "admin"][..], &["patients", "show", "abc"], &["no-such-command"], &["--now", "yesterday", "overview"]] {
            let out = clinicpay(db, args);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
    }

    async fn audit_verify_reports_a_row_edited_behind_the_apps_back(db: &TestDb) {
        demo(db).await;
        let (code, v) = json(db, &["--as", "it", "audit", "verify"]);
        assert_eq!(code, 0, "{v}");
        assert_eq!(v["intact"], true);
        let entries = v["entries"].as_i64().unwrap();
        assert!(entries >= 5);

        raw_execute(db, "UPDATE activity_log SET after_state = '{\"role\":\"it_admin\"}' WHERE seq = 3").await;
        let (code, v) = json(db, &["--as", "it", "audit", "verify"]);
        assert_eq!(code, 3, "{v}");
        assert_eq!(v["error"]["code"], "activity_log_tampered");
        assert!(v["error"]["message"].as_str().unwrap().contains("entry 3 was changed after it was written"), "{v}");

        let out = clinicpay(db, &["--as", "manager", "audit", "verify"]);
        assert_eq!(out.status.code(), Some(3));
        assert!(String::from_utf8_lossy(&out.stderr).contains("entry 3"));
    }

    async fn staff_settings_patients_and_cards_speak_the_contracts_json(db: &TestDb) {
        // A new clinic: the first account is IT's, its password read from stdin.
        // A new clinic's passwords have at least 12 characters; everyone here has LONG.
        let out = clinicpay_with_stdin(db, &["--json", "staff", "add", "alex", "--role", "it_admin"], "s3cret\n");
        assert_eq!(out.status.code(), Some(3), "a six-letter password is refused");
        assert!(String::from_utf8_lossy(&out.stdout).contains("at least 12 characters"));
        for (who, args) in [
            (None, vec!["staff", "add", "alex", "--role", "it_admin"]),
            (Some("alex"), vec!["staff", "add", "bea", "--role", "billing_manager"]),
            (Some("alex"), vec!["staff", "add", "cy", "--role", "front_desk"]),
        ] {
            let mut all = vec!["--json"];
            if let Some(who) = who {
                all.extend(["--as", who]);
            }
            all.extend(args);
            let out = run_with_stdin(support::clinicpay(&db.url).args(&all).env("CLINICPAY_PASSWORD", LONG), &format!("{LONG}\n"));
            assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
            // The account made, as one object (a list is for `staff list`).
            let made: Value = serde_json::from_slice(&out.stdout).unwrap();
            assert!(made.is_object() && made["username"].is_string(), "{made}");
        }
        let (_, staff) = json_with(db, LONG, &["--as", "cy", "staff", "list"]);
        assert_eq!(staff.as_array().unwrap().len(), 3);
        assert!(!staff.to_string().contains("argon2"), "password hashes must not be printed");

        let (code, v) = json_with(db, LONG, &["--as", "bea", "settings", "set", "gateway", "nmi"]);
        assert_eq!(code, 0, "{v}");
        assert_eq!(v["after"], "nmi");
        let (_, shown) = json_with(db, LONG, &["--as", "cy", "settings", "show"]);
        let gateway = shown.as_array().unwrap().iter().find(|s| s["key"] == "gateway").unwrap();
        assert_eq!(gateway["value"], "nmi");

        let (code, p) = json_with(db, LONG, &["--as", "cy", "patients", "add", "--name", "Acme Dental Group", "--email", "ap@acme.test", "--phone", "+1 555 777 1234", "--type", "business"]);
        assert_eq!(code, 0, "{p}");
        // A command that makes one thing prints one object.
        let id = p["id"].as_i64().unwrap();
        assert_eq!(p["patient_type"], "business");
        let (_, found) = json_with(db, LONG, &["--as", "cy", "patients", "search", "acme", "den"]);
        assert_eq!(found[0]["id"], id);
        let (_, found) = json_with(db, LONG, &["--as", "cy", "patients", "search", "555777"]);
        assert_eq!(found[0]["id"], id);
        let (code, profile) = json_with(db, LONG, &["--as", "cy", "patients", "show", &id.to_string()]);
        assert_eq!(code, 0);
        assert_eq!(profile["patient"]["name"], "Acme Dental Group");
        assert_eq!(profile["activity"][0]["action"], "patient.added");
        assert_eq!(profile["activity"][0]["actor"], "cy");
        let (code, cards) = json_with(db, LONG, &["--as", "cy", "cards", "list", &id.to_string()]);
        assert_eq!((code, cards), (0, serde_json::json!([])));
        let (code, log) = json_with(db, LONG, &["--as", "cy", "processor-log", "--patient", &id.to_string()]);
        assert_eq!((code, log), (0, serde_json::json!([])));
    }

    async fn it_lists_desks_and_writes_a_diagnostics_bundle_from_the_command_line(db: &TestDb) {
        demo(db).await;
        let (code, desks) = json(db, &["--as", "it", "desks"]);
        assert_eq!((code, desks), (0, serde_json::json!([])), "the CLI is not a desk");
        let (code, v) = json(db, &["--as", "frontdesk", "desks"]);
        assert_eq!((code, v["error"]["code"].as_str()), (3, Some("permission_denied")));

        let dir = std::env::temp_dir().join(format!("clinicpay-cli-diag-{}-{:?}", std::process::id(), db.backend()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("support.zip");
        // Support's bundle is IT's to write.
        let (code, v) = json(db, &["diagnostics", "--out", out.to_str().unwrap()]);
        assert_eq!((code, v["error"]["code"].as_str()), (3, Some("not_signed_in")), "{v}");
        let (code, v) = json(db, &["--as", "manager", "diagnostics", "--out", out.to_str().unwrap()]);
        assert_eq!((code, v["error"]["code"].as_str()), (3, Some("permission_denied")), "{v}");
        let (code, v) = json(db, &["--as", "it", "diagnostics", "--out", out.to_str().unwrap()]);
        assert_eq!(code, 0, "{v}");
        assert_eq!(v["path"], out.to_str().unwrap());
        assert!(v["files"].as_array().unwrap().iter().any(|f| f == "about.json"), "{v}");
        assert!(std::fs::metadata(&out).unwrap().len() as u64 == v["bytes"].as_u64().unwrap());
        // A folder that cannot take the file: a clear sentence, exit 3.
        let (code, v) = json(db, &["--as", "it", "diagnostics", "--out", "/proc/no-such-folder/x.zip"]);
        assert_eq!((code, v["error"]["code"].as_str()), (3, Some("invalid_input")), "{v}");
        std::fs::remove_dir_all(dir).ok();
    }

    async fn the_overview_prints_amounts_as_minor_units_and_currency(db: &TestDb) {
        demo(db).await;
        let (code, v) = json(db, &["--as", "frontdesk", "overview"]);
        assert_eq!(code, 0, "{v}");
        assert_eq!(v["counts"]["patients"], 30);
        assert_eq!(v["active_gateway"], "nmi");
        for line in v["needs_attention"].as_array().unwrap() {
            assert!(line["amount"]["minor"].as_i64().unwrap() > 0, "{line}");
            assert_eq!(line["amount"]["currency"], "USD");
        }
        // Cards print their display metadata, never the gateway token.
        let (_, patients) = json(db, &["--as", "frontdesk", "patients", "search", ""]);
        for p in patients.as_array().unwrap().iter().take(10) {
            let (_, cards) = json(db, &["--as", "frontdesk", "cards", "list", &p["id"].to_string()]);
            let text = cards.to_string();
            assert!(!text.contains("pm_demo") && !text.contains("\"token\""), "{text}");
            if let Some(first) = cards.as_array().unwrap().first() {
                assert_eq!(first["is_default"], true, "the default card is listed first: {text}");
                assert!(first["expiry"].as_str().unwrap().len() == 7, "MM/YYYY: {text}");
            }
        }
    }
}

/// IT's managed configuration names the database when nothing else does; a mistake in it is reported
/// with the file's name, never ignored.
#[test]
fn the_managed_configuration_names_the_database_and_its_mistakes_are_reported() {
    let dir = std::env::temp_dir().join(format!("clinicpay-cli-managed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("managed-clinic.db");
    let file = dir.join("managed.toml");
    std::fs::write(
        &file,
        format!("database-url = \"sqlite://{}\"\n", db.display()),
    )
    .unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_clinicpay"))
            .args(["--json", "--now", NOW])
            .args(args)
            .env_remove("CLINICPAY_DB")
            .env("CLINICPAY_MANAGED_CONFIG", &file)
            .output()
            .unwrap()
    };
    let out = run(&["db", "migrate"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(db.exists(), "the managed database was the one opened");

    // A desk user cannot open another database on a computer where IT pinned one…
    let other = dir.join("elsewhere.db");
    let other_url = format!("sqlite://{}", other.display());
    let out = run(&["--db", &other_url, "db", "migrate"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (out.status.code(), v["error"]["code"].as_str()),
        (Some(3), Some("managed_by_it")),
        "{v}"
    );
    assert!(!other.exists(), "nothing was opened");
    // …unless IT allows it.
    std::fs::write(
        &file,
        format!(
            "database-url = \"sqlite://{}\"\nallow-other-database = true\n",
            db.display()
        ),
    )
    .unwrap();
    assert_eq!(
        run(&["--db", &other_url, "db", "migrate"]).status.code(),
        Some(0)
    );

    std::fs::write(&file, "databse-url = \"x\"\n").unwrap();
    let out = run(&["db", "migrate"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(3), "{v}");
    let message = v["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("managed.toml") && message.contains("databse-url"),
        "{message}"
    );
    std::fs::remove_dir_all(dir).ok();
}

/// `clinicpay sim serve` prints its base URL and serves; `sim token` turns a test card into a single-use
/// Collect.js token through it, and refuses what the hosted fields would refuse.
#[test]
fn the_simulator_serves_and_makes_hosted_field_tokens() {
    use std::io::{BufRead, BufReader};
    let mut server = Command::new(env!("CARGO_BIN_EXE_clinicpay"))
        .args(["sim", "serve"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the simulator");
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line.trim().to_owned();
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");

    let token = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_clinicpay"))
            .args(["--json", "sim", "token", "--sim", &base])
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code().unwrap(),
            serde_json::from_slice::<Value>(&out.stdout).unwrap(),
        )
    };
    let (code, v) = token(&[
        "--gateway",
        "nmi",
        "--card",
        "4111111111111111",
        "--exp",
        "12/30",
    ]);
    assert_eq!(code, 0, "{v}");
    let t = v["token"].as_str().unwrap();
    assert!(t.len() >= 30 && !t.contains("4111"), "{t}");
    let (code, v) = token(&["--gateway", "nmi", "--card", "4111111111111112"]);
    assert_eq!(
        (code, v["error"]["code"].as_str()),
        (3, Some("invalid_input")),
        "{v}"
    );
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Card number is invalid"));
    server.kill().ok();
    server.wait().ok();
}

/// A plain HTTP/1.1 form POST, to talk to the simulator as a gateway client would.
fn post_form(base: &str, path: &str, body: &str) -> String {
    use std::io::Read;
    let addr = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    reply
}

/// `sim serve --nmi-key K` accepts only that key, as a real NMI account accepts only its own.
#[test]
fn the_simulator_accepts_only_the_key_it_was_given() {
    use std::io::{BufRead, BufReader};
    let mut server = Command::new(env!("CARGO_BIN_EXE_clinicpay"))
        .args(["sim", "serve", "--nmi-key", "the-right-sim-key"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the simulator");
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line.trim().to_owned();
    let wrong = post_form(
        &base,
        "/api/query.php",
        "security_key=another-key&order_id=x",
    );
    assert!(wrong.contains("Authentication Failed"), "{wrong}");
    let right = post_form(
        &base,
        "/api/query.php",
        "security_key=the-right-sim-key&order_id=x",
    );
    assert!(
        right.contains("<nm_response>") && !right.contains("Authentication Failed"),
        "{right}"
    );
    server.kill().ok();
    server.wait().ok();
}
