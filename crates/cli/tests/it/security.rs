//! Issue 19 on the command line: `--as` needs the person's password, five wrong ones lock the name,
//! accounts have a life cycle, `--now` is for training, and IT's pinned database is the only one.

use std::process::Output;

use clinicpay_testkit::{on_both_databases, TestDb};
use serde_json::Value;

use crate::support::{self, run_with_stdin};

/// `clinicpay --json ARGS` with CLINICPAY_PASSWORD set to `password` (None: unset), stdin typed in.
fn run(db: &TestDb, password: Option<&str>, args: &[&str], stdin: &str) -> (i32, Value) {
    let mut cmd = support::clinicpay(&db.url);
    cmd.arg("--json").args(args);
    match password {
        Some(p) => cmd.env("CLINICPAY_PASSWORD", p),
        None => cmd.env_remove("CLINICPAY_PASSWORD"),
    };
    parse(args, run_with_stdin(&mut cmd, stdin))
}

fn parse(args: &[&str], out: Output) -> (i32, Value) {
    let text = String::from_utf8_lossy(&out.stdout);
    let v = serde_json::from_str(text.trim())
        .unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {text:?}"));
    (out.status.code().unwrap(), v)
}

fn refused(got: (i32, Value), code: &str, says: &str) {
    let (exit, v) = got;
    assert_eq!((exit, v["error"]["code"].as_str()), (3, Some(code)), "{v}");
    let message = v["error"]["message"].as_str().unwrap();
    assert!(message.contains(says), "{message}");
}

fn clinic_name(db: &TestDb) -> String {
    let (_, v) = run(
        db,
        Some("demo"),
        &["--as", "frontdesk", "settings", "show"],
        "",
    );
    v.as_array()
        .unwrap()
        .iter()
        .find(|s| s["key"] == "clinic-name")
        .unwrap()["value"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// How many activity-log entries have this action (the chain itself is checked by `audit verify`).
async fn logged(db: &TestDb, action: &str) -> i64 {
    let (code, v) = run(db, Some("demo"), &["--as", "it", "audit", "verify"], "");
    assert_eq!(code, 0, "{v}");
    let mut tx = db.store.begin().await.unwrap();
    clinicpay_testkit::raw_scalar::<i64>(
        &mut tx,
        &format!("SELECT COUNT(*) FROM activity_log WHERE action = '{action}'"),
    )
    .await
}

on_both_databases! {
    async fn acting_as_someone_needs_their_password_and_a_wrong_one_changes_nothing(db: &TestDb) {
        assert_eq!(run(db, None, &["demo", "seed", "--patients", "3"], "").0, 0);
        let name = clinic_name(db);
        refused(run(db, Some("not-it"), &["--as", "manager", "settings", "set", "clinic-name", "Mallory"], ""), "not_signed_in", "password for manager is not right");
        refused(run(db, None, &["--as", "manager", "settings", "set", "clinic-name", "Mallory"], ""), "not_signed_in", "CLINICPAY_PASSWORD");
        refused(run(db, Some("demo"), &["--as", "nobody", "settings", "show"], ""), "not_signed_in", "not right");
        assert_eq!(clinic_name(db), name, "nothing changed");
        let (code, v) = run(db, Some("demo"), &["--as", "manager", "settings", "set", "clinic-name", "Riverside"], "");
        assert_eq!(code, 0, "{v}");
    }

    async fn five_wrong_passwords_lock_the_name_for_fifteen_minutes_until_it_resets_it(db: &TestDb) {
        assert_eq!(run(db, None, &["demo", "seed", "--patients", "3"], "").0, 0);
        for _ in 0..4 {
            refused(run(db, Some("guess"), &["--as", "frontdesk", "overview"], ""), "not_signed_in", "not right");
        }
        refused(run(db, Some("guess"), &["--as", "frontdesk", "overview"], ""), "not_signed_in", "locked for 15 more minutes");
        // The right password does not open a locked name.
        refused(run(db, Some("demo"), &["--as", "frontdesk", "overview"], ""), "not_signed_in", "locked");
        // Other names are not locked with it.
        assert_eq!(run(db, Some("demo"), &["--as", "manager", "overview"], "").0, 0);
        // IT resets the password, which ends the lock.
        let (code, v) = run(db, Some("demo"), &["--as", "it", "staff", "reset-password", "frontdesk"], "front-desk-new-1\n");
        assert_eq!(code, 0, "{v}");
        assert_eq!(run(db, Some("front-desk-new-1"), &["--as", "frontdesk", "overview"], "").0, 0);
        for a in ["staff.locked_out", "staff.password_reset"] {
            assert!(logged(db, a).await > 0, "{a} is not in the activity log");
        }
    }

    async fn it_switches_accounts_off_changes_roles_and_keeps_one_it_account(db: &TestDb) {
        assert_eq!(run(db, None, &["demo", "seed", "--patients", "3"], "").0, 0);
        // A billing manager cannot manage staff.
        refused(run(db, Some("demo"), &["--as", "manager", "staff", "disable", "frontdesk"], ""), "permission_denied", "manage staff");
        let (code, v) = run(db, Some("demo"), &["--as", "it", "staff", "disable", "frontdesk"], "");
        assert_eq!((code, v["active"].as_bool()), (0, Some(false)), "{v}");
        refused(run(db, Some("demo"), &["--as", "frontdesk", "overview"], ""), "not_signed_in", "switched off");
        assert_eq!(run(db, Some("demo"), &["--as", "it", "staff", "enable", "frontdesk"], "").0, 0);
        assert_eq!(run(db, Some("demo"), &["--as", "frontdesk", "overview"], "").0, 0);

        // A role change applies to the next command.
        refused(run(db, Some("demo"), &["--as", "frontdesk", "audit", "verify"], ""), "permission_denied", "verify the activity log");
        assert_eq!(run(db, Some("demo"), &["--as", "it", "staff", "role", "frontdesk", "billing_manager"], "").0, 0);
        assert_eq!(run(db, Some("demo"), &["--as", "frontdesk", "audit", "verify"], "").0, 0);

        // The clinic's only IT account cannot be switched off or demoted.
        refused(run(db, Some("demo"), &["--as", "it", "staff", "disable", "it"], ""), "conflict", "only IT account");
        refused(run(db, Some("demo"), &["--as", "it", "staff", "role", "it", "front_desk"], ""), "conflict", "only IT account");

        // Anyone changes their own password, giving the current one; short ones are refused.
        refused(run(db, Some("demo"), &["--as", "manager", "staff", "password"], "short\n"), "invalid_input", "at least 12 characters");
        refused(run(db, Some("wrong"), &["--as", "manager", "staff", "password"], "manager-new-pass\n"), "not_signed_in", "not right");
        assert_eq!(run(db, Some("demo"), &["--as", "manager", "staff", "password"], "manager-new-pass\n").0, 0);
        refused(run(db, Some("demo"), &["--as", "manager", "overview"], ""), "not_signed_in", "not right");
        assert_eq!(run(db, Some("manager-new-pass"), &["--as", "manager", "overview"], "").0, 0);
        for a in ["staff.disabled", "staff.enabled", "staff.role_changed", "staff.password_changed"] {
            assert!(logged(db, a).await > 0, "{a} is not in the activity log");
        }
    }

    async fn the_worker_signs_in_as_a_worker_account_that_can_only_bill(db: &TestDb) {
        assert_eq!(run(db, None, &["demo", "seed", "--patients", "3"], "").0, 0);
        let keychain = format!("ClinicPay-cli-worker-{}-{:?}", std::process::id(), db.backend());
        let worker = |password: Option<&str>, args: &[&str], stdin: &str| {
            let mut cmd = support::clinicpay(&db.url);
            cmd.arg("--json").args(args).env("CLINICPAY_KEYCHAIN_SERVICE", &keychain);
            match password {
                Some(p) => cmd.env("CLINICPAY_PASSWORD", p),
                None => cmd.env_remove("CLINICPAY_PASSWORD"),
            };
            parse(args, run_with_stdin(&mut cmd, stdin))
        };
        refused(worker(None, &["worker", "--once"], ""), "not_signed_in", "worker credentials set");
        refused(worker(Some("demo"), &["--as", "frontdesk", "worker", "--once"], ""), "permission_denied", "run billing");
        let (code, v) = run(db, Some("demo"), &["--as", "it", "staff", "add", "billing-worker", "--role", "worker"], "worker-password-1\n");
        assert_eq!(code, 0, "{v}");
        // A person's password does not go into a server's keychain.
        refused(worker(None, &["--as", "manager", "worker", "credentials", "set"], "demo\n"), "invalid_input", "not a worker's");
        let (code, v) = worker(None, &["--as", "billing-worker", "worker", "credentials", "set"], "worker-password-1\n");
        assert_eq!(code, 0, "{v}");
        let (code, v) = worker(None, &["worker", "--once"], "");
        assert_eq!(code, 0, "{v}");
        // The worker account can do nothing else.
        refused(run(db, Some("worker-password-1"), &["--as", "billing-worker", "patients", "search", "a"], ""), "permission_denied", "view patients");
        use clinicpay_services::credentials::{CredentialStore, Keychain, SecretKind};
        let _ = Keychain::named(&keychain).delete(SecretKind::WorkerSignIn);
    }

    async fn now_is_for_the_training_clinic_in_a_shipped_build(db: &TestDb) {
        let shipped = |args: &[&str], stdin: &str| {
            let mut cmd = support::clinicpay(&db.url);
            cmd.arg("--json").args(args).env("CLINICPAY_AS_SHIPPED", "1");
            parse(args, run_with_stdin(&mut cmd, stdin))
        };
        // A new, live clinic: its money moves on the database's time.
        let (code, v) = shipped(&["staff", "add", "alex", "--role", "it_admin"], "alex-password-1\n");
        refused((code, v), "invalid_input", "--now");
        // The training clinic may fix its clock.
        assert_eq!(run(db, None, &["demo", "seed", "--patients", "3"], "").0, 0);
        let (code, v) = shipped(&["--as", "frontdesk", "overview"], "");
        assert_eq!(code, 0, "{v}");
    }

    async fn searches_take_any_text_and_a_password_never_rides_on_the_command_line(db: &TestDb) {
        assert_eq!(run(db, None, &["demo", "seed", "--patients", "3"], "").0, 0);
        // A backslash ends a LIKE pattern badly on PostgreSQL unless escaped; % and _ are literal.
        for q in ["insufficient", "50%", "a_b", "back\\", "\\"] {
            let (code, v) = run(db, Some("demo"), &["--as", "manager", "reports", "failed-payments", q], "");
            assert_eq!(code, 0, "{q}: {v}");
        }
        let (_, found) = run(db, Some("demo"), &["--as", "manager", "reports", "failed-payments", "insufficient"], "");
        assert!(!found.as_array().unwrap().is_empty(), "a plain word still finds");
        let (_, none) = run(db, Some("demo"), &["--as", "manager", "reports", "failed-payments", "%"], "");
        assert!(none.as_array().unwrap().is_empty(), "% is a character, not a wildcard: {none}");
        // A card number pasted where a token belongs is refused, and not repeated back.
        for pasted in ["4111111111111111", "4111 1111 1111 1111"] {
            let (code, v) = run(db, Some("demo"), &["--as", "frontdesk", "cards", "add", "1", "--gateway", "nmi", "--token", pasted], "");
            assert_eq!((code, v["error"]["code"].as_str()), (3, Some("invalid_input")), "{v}");
            assert!(!v.to_string().contains("1111"), "the number is not echoed: {v}");
            assert!(v.to_string().contains("card number"), "{v}");
        }
        // db copy: the target's password comes from PGPASSWORD or stdin, never from --to.
        refused(
            run(db, Some("demo"), &["--as", "it", "db", "copy", "--to", "postgres://clinicpay:hunter2-secret@127.0.0.1/clinic"], ""),
            "invalid_input",
            "Leave the password out of --to",
        );
    }

    async fn an_anchor_kept_outside_the_database_shows_a_log_cut_back_behind_the_apps_back(db: &TestDb) {
        assert_eq!(run(db, None, &["demo", "seed", "--patients", "3"], "").0, 0);
        let (code, anchor) = run(db, Some("demo"), &["--as", "it", "audit", "anchor"], "");
        assert_eq!(code, 0, "{anchor}");
        let seq = anchor["seq"].as_i64().unwrap();
        let file = std::env::temp_dir().join(format!("clinicpay-anchors-{}-{:?}.txt", std::process::id(), db.backend()));
        // IT keeps it elsewhere (here: a file), among other lines.
        std::fs::write(&file, format!("# anchors\n{}\n", anchor["line"].as_str().unwrap())).unwrap();
        assert_eq!(run(db, Some("demo"), &["--as", "manager", "settings", "set", "clinic-name", "Riverside"], "").0, 0);
        let (code, v) = run(db, Some("demo"), &["--as", "it", "audit", "verify", "--anchor", file.to_str().unwrap()], "");
        assert_eq!((code, v["anchors_checked"].as_i64()), (0, Some(1)), "{v}");

        // Someone with the database's password cuts the log back to before the anchor and mends the head:
        // the chain alone looks whole…
        clinicpay_testkit::raw_execute(db, &format!("DELETE FROM activity_log WHERE seq >= {seq}")).await;
        clinicpay_testkit::raw_execute(
            db,
            "UPDATE activity_head SET seq = (SELECT MAX(seq) FROM activity_log),
                 hash = (SELECT hash FROM activity_log WHERE seq = (SELECT MAX(seq) FROM activity_log)) WHERE id = 1",
        )
        .await;
        let (code, v) = run(db, Some("demo"), &["--as", "it", "audit", "verify"], "");
        assert_eq!((code, v["intact"].as_bool()), (0, Some(true)), "{v}");
        // …and the anchor shows it.
        refused(
            run(db, Some("demo"), &["--as", "it", "audit", "verify", "--anchor", file.to_str().unwrap()], ""),
            "activity_log_tampered",
            &format!("entry {seq} is gone"),
        );
        std::fs::remove_file(file).ok();
    }
}

/// Item 6 as a desk meets it: IT pins the clinic's PostgreSQL with `sslmode=verify-full`; until the
/// managed configuration names the clinic's CA (`database-ca-file`) the desk refuses the server and
/// says what IT can do; with it, the desk works over TLS.
#[test]
fn a_desk_reaches_the_clinics_database_through_the_ca_it_pins() {
    use sqlx::Connection;
    let ca = std::env::var("CLINICPAY_TEST_PG_CA").expect(
        "CLINICPAY_TEST_PG_CA is not set: run the tests with scripts/test.sh, which gives the test PostgreSQL a certificate from a test CA",
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let schema = format!("cp_t_tls{}", std::process::id());
    let admin_sql = |sql: String| {
        runtime.block_on(async {
            let mut admin = sqlx::PgConnection::connect(&clinicpay_testkit::pg_admin_url())
                .await
                .expect("PostgreSQL on 127.0.0.1:5432");
            sqlx::query(&sql).execute(&mut admin).await.unwrap();
        })
    };
    admin_sql(format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
    admin_sql(format!("CREATE SCHEMA {schema}"));
    let dir = std::env::temp_dir().join(format!("clinicpay-cli-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("managed.toml");
    let url = format!(
        "postgres://postgres:postgres@localhost:5432/postgres?sslmode=verify-full&options=-c%20search_path%3D{schema}"
    );
    let migrate = || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_clinicpay"))
            .args(["--json", "db", "migrate"])
            .env_remove("CLINICPAY_DB")
            .env("CLINICPAY_MANAGED_CONFIG", &file)
            .output()
            .unwrap();
        parse(&["db", "migrate"], out)
    };

    std::fs::write(&file, format!("database-url = {url:?}\n")).unwrap();
    let (exit, v) = migrate();
    assert_eq!(
        (exit, v["error"]["code"].as_str()),
        (5, Some("database_unavailable")),
        "{v}"
    );
    let message = v["error"]["message"].as_str().unwrap();
    assert!(message.contains("database-ca-file"), "{message}");
    assert!(!message.contains("postgres:postgres@"), "{message}");

    std::fs::write(
        &file,
        format!("database-url = {url:?}\ndatabase-ca-file = {ca:?}\n"),
    )
    .unwrap();
    let (exit, v) = migrate();
    assert_eq!(exit, 0, "{v}");
    admin_sql(format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
    std::fs::remove_dir_all(&dir).ok();
}

on_both_databases! {
    async fn a_service_gives_the_worker_its_password_in_a_file(db: &TestDb) {
        let (code, _) = run(db, None, &["demo", "seed", "--patients", "3"], "");
        assert_eq!(code, 0);
        let (code, v) = run(db, Some("demo"), &["--as", "it", "staff", "add", "billing-worker", "--role", "worker"], "worker-password-long-1\n");
        assert_eq!(code, 0, "{v}");
        let dir = std::env::temp_dir().join(format!("clinicpay-credential-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("worker-password");
        std::fs::write(&file, "worker-password-long-1\n").unwrap();
        // As systemd's LoadCredential= hands it over: the file, not the environment.
        let pass = |file: &std::path::Path| {
            let mut cmd = support::clinicpay(&db.url);
            cmd.args(["--json", "--as", "billing-worker", "worker", "--once"])
                .env_remove("CLINICPAY_PASSWORD")
                .env("CLINICPAY_PASSWORD_FILE", file);
            parse(&["worker"], run_with_stdin(&mut cmd, ""))
        };
        let (code, v) = pass(&file);
        assert_eq!(code, 0, "{v}");
        assert!(v["cycles_billed"].is_number(), "{v}");
        let (code, v) = pass(&dir.join("missing"));
        assert_eq!((code, v["error"]["code"].as_str()), (3, Some("not_signed_in")), "{v}");
        assert!(v["error"]["message"].as_str().unwrap().contains("CLINICPAY_PASSWORD_FILE"), "{v}");
        std::fs::remove_dir_all(&dir).ok();
    }
}

on_both_databases! {
    async fn the_worker_service_holds_the_billing_engine_and_gives_it_up_when_stopped(db: &TestDb) {
        let (code, _) = run(db, None, &["demo", "seed", "--patients", "3"], "");
        assert_eq!(code, 0);
        let (code, v) = run(db, Some("demo"), &["--as", "it", "staff", "add", "billing-worker", "--role", "worker"], "worker-password-long-1\n");
        assert_eq!(code, 0, "{v}");
        let status = || run(db, Some("demo"), &["--as", "it", "worker", "status"], "");
        let (code, before) = status();
        assert_eq!(code, 0, "{before}");
        assert!(before["runner"].is_null(), "{before}");
        assert!(before["warning"].as_str().unwrap().contains("No billing pass has ever run"), "{before}");
        refused(run(db, Some("demo"), &["--as", "frontdesk", "worker", "status"], ""), "permission_denied", "run billing");

        let service = |out: &std::path::Path| {
            let mut cmd = support::clinicpay(&db.url);
            cmd.args(["--as", "billing-worker", "worker"])
                .env("CLINICPAY_PASSWORD", "worker-password-long-1")
                .stdout(std::process::Stdio::null())
                .stderr(std::fs::File::create(out).unwrap())
                .spawn()
                .unwrap()
        };
        let dir = std::env::temp_dir().join(format!("clinicpay-engine-{}-{}", std::process::id(), db.url.len()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut first = service(&dir.join("first.log"));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let running = loop {
            let (_, v) = status();
            if v["runner"]["kind"] == "service" && v["last_pass_at"].is_string() {
                break v;
            }
            assert!(std::time::Instant::now() < deadline, "the worker did not take the engine: {v}");
            std::thread::sleep(std::time::Duration::from_millis(200));
        };
        assert!(running["warning"].is_null(), "{running}");
        assert!(running["last_pass"].is_string(), "{running}");

        // A second service on the same database waits: one engine per clinic.
        let mut second = service(&dir.join("second.log"));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !std::fs::read_to_string(dir.join("second.log")).unwrap().contains("takes over if it stops") {
            assert!(std::time::Instant::now() < deadline, "the second worker did not say it waits");
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        second.kill().ok();
        second.wait().ok();

        // SIGTERM (systemd's stop): the pass finishes, the engine is given up at once.
        let stopped = std::process::Command::new("kill").args(["-TERM", &first.id().to_string()]).status().unwrap();
        assert!(stopped.success());
        assert_eq!(first.wait().unwrap().code(), Some(0));
        let log = std::fs::read_to_string(dir.join("first.log")).unwrap();
        assert!(log.contains("now runs the clinic's billing engine") && log.contains("pass done:"), "{log}");
        let (_, after) = status();
        assert!(after["runner"].is_null(), "given up on stop: {after}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
