//! Every `clinicpay` subcommand, as no one, the front desk, a billing manager, IT and the worker, checked
//! against the one permission matrix (`Role::allows`). The list of subcommands is read from the
//! binary's own help, so a command added without a line here fails this test.
//!
//! Ids and names that do not exist keep the permitted runs from changing the demo clinic: a permitted
//! role gets past the permission check and is then told "not found" (or what is wrong with the input).

use std::collections::BTreeSet;
use std::process::Command;

use clinicpay_domain::{Permission, Role};
use clinicpay_testkit::{on_both_databases, TestDb};
use serde_json::Value;

use crate::support::{self, run_with_stdin};

/// What a command needs of the person running it.
#[derive(Clone, Copy, Debug)]
enum Needs {
    /// No sign-in at all (the database itself, the simulator).
    Nothing,
    /// Anyone signed in.
    SignedIn,
    Permission(Permission),
    /// The worker's own account (`worker credentials set`).
    WorkerAccount,
    /// This permission, or nobody at all while the database is empty (a new clinic's first step).
    FirstSetupOr(Permission),
}

/// Each subcommand (its path in the help) with arguments that reach its permission check, and what
/// it needs. Stdin is given where a command reads a secret or password.
fn matrix() -> Vec<(&'static str, Vec<&'static str>, &'static str, Needs)> {
    use clinicpay_domain::Permission as P;
    use Needs::*;
    let no = "999999";
    vec![
        ("db migrate", vec!["db", "migrate"], "", Nothing),
        (
            "db copy",
            vec!["db", "copy", "--to", "/tmp/clinicpay-not-a-server.db"],
            "",
            Nothing,
        ),
        (
            "demo seed",
            vec!["demo", "seed"],
            "",
            FirstSetupOr(P::SeedDemo),
        ),
        (
            "staff add",
            vec!["staff", "add", "nobody-made", "--role", "front_desk"],
            "x\n",
            Permission(P::ManageStaff),
        ),
        (
            "staff list",
            vec!["staff", "list"],
            "",
            Permission(P::ViewPatients),
        ),
        (
            "staff disable",
            vec!["staff", "disable", "nobody-here"],
            "",
            Permission(P::ManageStaff),
        ),
        (
            "staff enable",
            vec!["staff", "enable", "nobody-here"],
            "",
            Permission(P::ManageStaff),
        ),
        (
            "staff role",
            vec!["staff", "role", "nobody-here", "front_desk"],
            "",
            Permission(P::ManageStaff),
        ),
        (
            "staff reset-password",
            vec!["staff", "reset-password", "nobody-here"],
            "long-enough-password\n",
            Permission(P::ManageStaff),
        ),
        (
            "staff password",
            vec!["staff", "password"],
            "short\n",
            SignedIn,
        ),
        (
            "settings show",
            vec!["settings", "show"],
            "",
            Permission(P::ViewPatients),
        ),
        (
            "settings set",
            vec!["settings", "set", "recovery.max-attempts", "999"],
            "",
            Permission(P::ChangeSettings),
        ),
        (
            "patients add",
            vec!["patients", "add", "--name", "", "--email", "x"],
            "",
            Permission(P::EditPatients),
        ),
        (
            "patients search",
            vec!["patients", "search", "zzz"],
            "",
            Permission(P::ViewPatients),
        ),
        (
            "patients show",
            vec!["patients", "show", no],
            "",
            Permission(P::ViewPatients),
        ),
        (
            "cards list",
            vec!["cards", "list", no],
            "",
            Permission(P::ViewPatients),
        ),
        (
            "cards add",
            vec![
                "cards",
                "add",
                no,
                "--gateway",
                "nmi",
                "--token",
                "tok-not-real",
            ],
            "",
            Permission(P::ManageCards),
        ),
        (
            "cards default",
            vec!["cards", "default", no],
            "",
            Permission(P::ManageCards),
        ),
        (
            "cards verify",
            vec!["cards", "verify", no],
            "",
            Permission(P::ManageCards),
        ),
        (
            "cards link",
            vec!["cards", "link", no],
            "",
            Permission(P::ManageCards),
        ),
        (
            "cards refresh",
            vec!["cards", "refresh"],
            "",
            Permission(P::ManageCards),
        ),
        (
            "cards links",
            vec!["cards", "links", no],
            "",
            Permission(P::ViewPatients),
        ),
        (
            "cards dependents",
            vec!["cards", "dependents", no],
            "",
            Permission(P::ViewPatients),
        ),
        (
            "cards delete",
            vec!["cards", "delete", no],
            "",
            Permission(P::ManageCards),
        ),
        (
            "gateway credentials set",
            vec!["gateway", "credentials", "set", "nmi"],
            "",
            Permission(P::ManageCredentials),
        ),
        (
            "gateway check",
            vec!["gateway", "check"],
            "",
            Permission(P::ManageCredentials),
        ),
        (
            "gateway readiness",
            vec!["gateway", "readiness", "--to", "stripe"],
            "",
            Permission(P::ViewReports),
        ),
        (
            "checkout",
            vec!["checkout", no, "--amount", "1.00", "--card", no],
            "",
            Permission(P::TakePayments),
        ),
        (
            "invoices create",
            vec!["invoices", "create", no, "--amount", "1.00"],
            "",
            Permission(P::TakePayments),
        ),
        (
            "invoices pay",
            vec!["invoices", "pay", no],
            "",
            Permission(P::TakePayments),
        ),
        (
            "invoices list",
            vec!["invoices", "list"],
            "",
            Permission(P::ViewPatients),
        ),
        (
            "subscriptions create",
            vec![
                "subscriptions",
                "create",
                no,
                "--plan",
                "P",
                "--amount",
                "1.00",
                "--every",
                "month",
            ],
            "",
            Permission(P::TakePayments),
        ),
        (
            "subscriptions list",
            vec!["subscriptions", "list"],
            "",
            Permission(P::ViewPatients),
        ),
        (
            "subscriptions switch",
            vec![
                "subscriptions",
                "switch",
                no,
                "--plan",
                "P",
                "--amount",
                "1.00",
            ],
            "",
            Permission(P::TakePayments),
        ),
        (
            "orders list",
            vec!["orders", "list"],
            "",
            Permission(P::ViewPatients),
        ),
        (
            "orders show",
            vec!["orders", "show", no],
            "",
            Permission(P::ViewPatients),
        ),
        (
            "orders retry",
            vec!["orders", "retry", no],
            "",
            Permission(P::RetryRecovery),
        ),
        (
            "payments list",
            vec!["payments", "list"],
            "",
            Permission(P::ViewPatients),
        ),
        (
            "refunds create",
            vec!["refunds", "create", no],
            "",
            Permission(P::RefundWithinLimit),
        ),
        (
            "worker",
            vec!["worker", "--once"],
            "",
            Permission(P::RunBilling),
        ),
        (
            "worker status",
            vec!["worker", "status"],
            "",
            Permission(P::RunBilling),
        ),
        (
            "worker credentials set",
            vec!["worker", "credentials", "set"],
            "$PASSWORD\n",
            WorkerAccount,
        ),
        (
            "audit verify",
            vec!["audit", "verify"],
            "",
            Permission(P::VerifyAudit),
        ),
        (
            "audit anchor",
            vec!["audit", "anchor"],
            "",
            Permission(P::VerifyAudit),
        ),
        (
            "overview",
            vec!["overview"],
            "",
            Permission(P::ViewPatients),
        ),
        (
            "reconcile",
            vec!["reconcile", "--from", "2026-11-01", "--to", "2026-11-01"],
            "",
            Permission(P::ViewReports),
        ),
        (
            "expiring",
            vec!["expiring"],
            "",
            Permission(P::ViewPatients),
        ),
        (
            "reminders run",
            vec!["reminders", "run"],
            "",
            Permission(P::SendReminders),
        ),
        (
            "reminders notify",
            vec!["reminders", "notify", no],
            "",
            Permission(P::SendReminders),
        ),
        (
            "reminders list",
            vec!["reminders", "list"],
            "",
            Permission(P::ViewPatients),
        ),
        (
            "reports gateway",
            vec![
                "reports",
                "gateway",
                "--from",
                "2026-11-01",
                "--to",
                "2026-11-01",
            ],
            "",
            Permission(P::ViewReports),
        ),
        (
            "reports failed-payments",
            vec!["reports", "failed-payments"],
            "",
            Permission(P::ViewPatients),
        ),
        (
            "smtp password set",
            vec!["smtp", "password", "set"],
            "",
            Permission(P::ManageCredentials),
        ),
        (
            "checks",
            vec!["checks", no],
            "",
            Permission(P::ViewPatients),
        ),
        (
            "escalation",
            vec!["escalation", no],
            "",
            Permission(P::ViewPatients),
        ),
        (
            "processor-log",
            vec!["processor-log", "--patient", no],
            "",
            Permission(P::ViewActivity),
        ),
        ("desks", vec!["desks"], "", Permission(P::ManageUpdates)),
        (
            "diagnostics",
            vec!["diagnostics", "--out", "/proc/no-such-folder/x.zip"],
            "",
            Permission(P::WriteDiagnostics),
        ),
    ]
}

/// The subcommands that do not touch a clinic (`sim`: the simulator) are walked by its own tests.
const NOT_A_CLINIC_COMMAND: &[&str] = &["sim"];

/// Every leaf subcommand, from the binary's help.
fn subcommands(path: &[String]) -> Vec<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_clinicpay"))
        .args(path)
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout).into_owned();
    let Some(listed) = help.split("Commands:").nth(1) else {
        return vec![path.join(" ")];
    };
    let children: Vec<String> = listed
        .lines()
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| {
            l.strip_prefix("  ")?
                .split_whitespace()
                .next()
                .map(str::to_owned)
        })
        .filter(|c| c != "help")
        .collect();
    let mut leaves = Vec::new();
    // A command that runs by itself and also has subcommands (`worker`): one of its usage lines
    // takes no <COMMAND>.
    let usage = help.split("Usage:").nth(1).unwrap_or("");
    let runs_itself = usage
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .any(|l| !l.contains("<COMMAND>"));
    if !path.is_empty() && runs_itself {
        leaves.push(path.join(" "));
    }
    for c in children {
        let mut p = path.to_vec();
        p.push(c);
        if NOT_A_CLINIC_COMMAND.contains(&p[0].as_str()) {
            continue;
        }
        leaves.extend(subcommands(&p));
    }
    leaves
}

#[test]
fn every_subcommand_of_the_cli_is_in_the_permission_matrix() {
    let listed: BTreeSet<String> = subcommands(&[]).into_iter().collect();
    let covered: BTreeSet<String> = matrix()
        .into_iter()
        .map(|(name, ..)| name.to_owned())
        .collect();
    let missing: Vec<_> = listed.difference(&covered).collect();
    assert!(
        missing.is_empty(),
        "add these to the permission matrix: {missing:?}"
    );
    let stale: Vec<_> = covered.difference(&listed).collect();
    assert!(stale.is_empty(), "no longer commands: {stale:?}");
}

fn answer(db: &TestDb, who: Option<&str>, args: &[&str], stdin: &str) -> (i32, String) {
    let mut cmd = support::clinicpay(&db.url);
    cmd.arg("--json");
    if let Some(who) = who {
        cmd.args(["--as", who]);
    }
    cmd.args(args);
    let password = if who == Some("billing-worker") {
        WORKER_PASSWORD
    } else {
        "demo"
    };
    let stdin = stdin.replace("$PASSWORD", password);
    let stdin = stdin.as_str();
    cmd.env("CLINICPAY_PASSWORD", password).env(
        "CLINICPAY_KEYCHAIN_SERVICE",
        format!("ClinicPay-permissions-{}", std::process::id()),
    );
    let out = run_with_stdin(&mut cmd, stdin);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    let code = v["error"]["code"].as_str().unwrap_or("").to_owned();
    (out.status.code().unwrap_or(-1), code)
}

const WORKER_PASSWORD: &str = "worker-password-long-1";

on_both_databases! {
    async fn every_command_answers_every_role_as_the_permission_matrix_says(db: &TestDb) {
        let (code, _) = answer(db, None, &["demo", "seed", "--patients", "3"], "");
        assert_eq!(code, 0);
        let (code, e) = answer(db, Some("it"), &["staff", "add", "billing-worker", "--role", "worker"], &format!("{WORKER_PASSWORD}\n"));
        assert_eq!(code, 0, "{e}");
        let people = [
            (Some("frontdesk"), Some(Role::FrontDesk)),
            (Some("manager"), Some(Role::BillingManager)),
            (Some("it"), Some(Role::ItAdmin)),
            (Some("billing-worker"), Some(Role::Worker)),
            (None, None),
        ];
        let mut wrong = Vec::new();
        for (name, args, stdin, needs) in matrix() {
            for (who, role) in people {
                let (exit, code) = answer(db, who, &args, stdin);
                let refused_for_who = code == "permission_denied" || code == "not_signed_in";
                let expected_refusal = match (needs, role) {
                    (Needs::Nothing, _) | (Needs::FirstSetupOr(_), None) => None,
                    (_, None) => Some("not_signed_in"),
                    (Needs::FirstSetupOr(p), Some(r)) => (!r.allows(p)).then_some("permission_denied"),
                    (Needs::SignedIn, Some(_)) => None,
                    (Needs::Permission(p), Some(r)) => (!r.allows(p)).then_some("permission_denied"),
                    (Needs::WorkerAccount, Some(r)) => (r != Role::Worker).then_some("invalid_input"),
                };
                let ok = match expected_refusal {
                    Some(want) => code == want && exit == 3,
                    None => !refused_for_who,
                };
                if !ok {
                    wrong.push(format!("{name} as {}: exit {exit} {code:?}, expected {}", who.unwrap_or("no one"), expected_refusal.unwrap_or("to get past the permission check")));
                }
            }
        }
        assert!(wrong.is_empty(), "{} answers disagree with the matrix:\n{}", wrong.len(), wrong.join("\n"));
    }
}
