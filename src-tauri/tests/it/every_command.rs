//! Issue 19, item 11: every command the window can call, as no one, the front desk, a billing
//! manager, IT and the worker, checked against the one permission matrix (`Role::allows`). The
//! commands go through Tauri's own IPC (its mock runtime), exactly as the page sends them, and the
//! list of commands is read from the generated bindings: a command added without a line here fails.
//!
//! Ids that do not exist keep the permitted runs from changing the demo clinic: a permitted person
//! gets past the permission check and is then told "not found" (or what is wrong with the input).

use std::collections::BTreeSet;

use clinicpay_desktop::commands;
use clinicpay_desktop::state::AppState;
use clinicpay_desktop::updates::Updates;
use clinicpay_domain::{Permission, Role};
use clinicpay_services::managed::Managed;
use clinicpay_testkit::{Backend, TestDb};
use serde_json::{json, Value};
use tauri::test::{mock_builder, mock_context, noop_assets, MockRuntime, INVOKE_KEY};
use tauri::{Manager, WebviewWindow, WebviewWindowBuilder};

/// What a command needs of the person at the desk.
#[derive(Clone, Copy, Debug)]
enum Needs {
    /// Nothing: the sign-in screen's own calls, and ending a session that may not exist.
    Nothing,
    /// Anyone signed in.
    SignedIn,
    Permission(Permission),
    /// Anyone signed in; without the permission the answer is empty (the top bar's verdict).
    ShownOnlyWith(Permission),
    /// First-run setup: refused to everybody once the database holds a clinic.
    NoClinicYet,
}

/// Each command with arguments that reach its permission check, and what it needs.
fn matrix() -> Vec<(&'static str, Value, Needs)> {
    use clinicpay_domain::Permission as P;
    use Needs::*;
    let no = 999_999;
    let attempt = "0b9d3c1e-2f7a-4a51-9c55-000000000019";
    let draft = serde_json::to_value(clinicpay_services::setup::SetupDraft {
        clinic_name: "Elsewhere".into(),
        it_username: "it2".into(),
        ..Default::default()
    })
    .unwrap();
    vec![
        ("clinic_info", json!({}), Nothing),
        ("setup_draft", json!({}), NoClinicYet),
        ("keep_setup_draft", json!({ "draft": draft }), NoClinicYet),
        (
            "check_setup_account",
            json!({"draft": draft, "password": "a-long-enough-password"}),
            NoClinicYet,
        ),
        (
            "check_setup_gateway",
            json!({"draft": draft, "gateway": "stripe", "secret": "sk_live_nobody"}),
            NoClinicYet,
        ),
        (
            "send_setup_test_email",
            json!({"draft": draft, "password": null, "to": "it@example.com"}),
            NoClinicYet,
        ),
        (
            "finish_setup",
            json!({"draft": draft, "password": "a-long-enough-password"}),
            NoClinicYet,
        ),
        ("open_demo_clinic", json!({}), NoClinicYet),
        ("setup_database", json!({}), NoClinicYet),
        (
            "use_clinic_database",
            json!({"address": "postgres://nobody@127.0.0.1:9/none", "password": null}),
            NoClinicYet,
        ),
        ("desk_activity", json!({}), Nothing),
        ("current_session", json!({}), Nothing),
        ("sign_out", json!({}), Nothing),
        ("lock_desk", json!({}), Nothing),
        ("update_status", json!({}), Nothing),
        ("postpone_update", json!({}), Nothing),
        (
            "search_patients",
            json!({"query": "zz-nobody"}),
            Permission(P::ViewPatients),
        ),
        (
            "patient_profile",
            json!({"patientId": no}),
            Permission(P::ViewPatients),
        ),
        (
            "patient_account",
            json!({"patientId": no}),
            Permission(P::ViewPatients),
        ),
        ("card_form", json!({}), Permission(P::ManageCards)),
        // Checked before any card window opens: a permitted person is told the patient is not found.
        (
            "add_card_through_form",
            json!({"patientId": no, "details": {"cardholder_name": null, "country": null, "nickname": null}}),
            Permission(P::ManageCards),
        ),
        // The card window's own: nothing is being entered, so there is nothing to read or hand over.
        ("card_form_config", json!({}), Nothing),
        (
            "hand_over_card_token",
            json!({"token": "tok-nobody-0019"}),
            Nothing,
        ),
        ("cancel_card_entry", json!({}), Nothing),
        (
            "set_default_card",
            json!({"cardId": no}),
            Permission(P::ManageCards),
        ),
        (
            "verify_card",
            json!({"cardId": no}),
            Permission(P::ManageCards),
        ),
        (
            "send_card_link",
            json!({"patientId": no, "orderId": null, "send": false}),
            Permission(P::ManageCards),
        ),
        (
            "card_dependents",
            json!({"cardId": no}),
            Permission(P::ViewPatients),
        ),
        (
            "delete_card",
            json!({"cardId": no, "confirmLast": false}),
            Permission(P::ManageCards),
        ),
        (
            "create_invoice",
            json!({"patientId": no, "amount": "1.00", "description": "every command"}),
            Permission(P::TakePayments),
        ),
        (
            "pay_invoice",
            json!({"invoiceId": no, "cardId": null}),
            Permission(P::TakePayments),
        ),
        (
            "checkout",
            json!({"patientId": no, "amount": "1.00", "cardId": no, "attempt": attempt}),
            Permission(P::TakePayments),
        ),
        (
            "checkout_with_new_card",
            json!({"patientId": no, "amount": "1.00", "details": {"cardholder_name": "Ann Lee", "country": "US", "nickname": null}, "save": false, "attempt": attempt}),
            Permission(P::TakePayments),
        ),
        (
            "checkout_status",
            json!({"attempt": attempt}),
            Permission(P::TakePayments),
        ),
        (
            "retry_order",
            json!({"orderId": no, "gateway": "stripe"}),
            Permission(P::RetryRecovery),
        ),
        (
            "refund_payment",
            json!({"paymentId": no, "amount": "1.00"}),
            Permission(P::RefundWithinLimit),
        ),
        ("recent_payments", json!({}), Permission(P::ViewPatients)),
        (
            "recovery_orders",
            json!({"status": null}),
            Permission(P::ViewPatients),
        ),
        (
            "what_to_check",
            json!({"patientId": no, "orderId": null}),
            Permission(P::ViewPatients),
        ),
        (
            "escalation_report",
            json!({"patientId": no, "orderId": null}),
            Permission(P::ViewPatients),
        ),
        (
            "processor_log",
            json!({"patientId": null, "search": null}),
            Permission(P::ViewActivity),
        ),
        ("settings", json!({}), Permission(P::ViewPatients)),
        (
            "set_setting",
            json!({"key": "refunds.front-desk-limit", "value": "not an amount"}),
            Permission(P::ChangeSettings),
        ),
        (
            "set_setting",
            json!({"key": "stripe.api-base", "value": "not an address"}),
            Permission(P::ChangeSecuritySettings),
        ),
        ("notice_templates", json!({}), Permission(P::ViewPatients)),
        (
            "set_notice_template",
            json!({"stage": "warning", "subject": "Your {amonut}", "body": "Hello"}),
            Permission(P::ChangeSettings),
        ),
        (
            "preview_notice_template",
            json!({"stage": "warning", "subject": "Your {amount}", "body": "Hello {patient_name}"}),
            Permission(P::ViewPatients),
        ),
        // The sweep retries every due order of the clinic: billing's, not one order's retry at the desk.
        (
            "recovery_sweep",
            json!({"progress": "__CHANNEL__:7"}),
            Permission(P::RunBilling),
        ),
        ("cancel_recovery_sweep", json!({}), SignedIn),
        (
            "expiring_cards",
            json!({"withinDays": 30, "expired": false, "patientType": null}),
            Permission(P::ViewPatients),
        ),
        (
            "notify_cards",
            json!({"cardIds": [no]}),
            Permission(P::SendReminders),
        ),
        (
            "gateway_report",
            json!({"from": null, "to": null}),
            Permission(P::ViewReports),
        ),
        (
            "export_gateway_report",
            json!({"from": null, "to": null, "format": "no-such-format"}),
            Permission(P::ViewReports),
        ),
        (
            "failed_payments",
            json!({"search": null}),
            Permission(P::ViewPatients),
        ),
        (
            "charged_twice",
            json!({"patient": null}),
            Permission(P::ViewPatients),
        ),
        (
            "reconcile",
            json!({"from": "2026-11-02", "to": "2026-11-01", "gateway": null}),
            Permission(P::ViewReports),
        ),
        ("reconciliations", json!({}), Permission(P::ViewReports)),
        (
            "reconciliation_verdict",
            json!({}),
            ShownOnlyWith(P::ViewReports),
        ),
        (
            "gateway_readiness",
            json!({"to": "stripe"}),
            Permission(P::ViewReports),
        ),
        (
            "request_card_resave",
            json!({"to": "stripe"}),
            Permission(P::SendReminders),
        ),
        ("desks", json!({}), Permission(P::ManageUpdates)),
        ("billing_engine", json!({}), Permission(P::RunBilling)),
        (
            "write_diagnostics",
            json!({}),
            Permission(P::WriteDiagnostics),
        ),
        ("staff_accounts", json!({}), Permission(P::ViewPatients)),
        (
            "add_staff_account",
            json!({"username": "nobody-made", "displayName": "", "role": "front_desk", "password": "short"}),
            Permission(P::ManageStaff),
        ),
        (
            "set_staff_active",
            json!({"username": "nobody-here", "active": false}),
            Permission(P::ManageStaff),
        ),
        (
            "set_staff_role",
            json!({"username": "nobody-here", "role": "front_desk"}),
            Permission(P::ManageStaff),
        ),
        (
            "reset_staff_password",
            json!({"username": "nobody-here", "password": "short"}),
            Permission(P::ManageStaff),
        ),
        // A too-short new password is refused before the current one is checked (no attempt spent).
        (
            "change_own_password",
            json!({"current": "not-the-password", "newPassword": "short"}),
            SignedIn,
        ),
        ("check_for_updates", json!({}), SignedIn),
        ("install_update", json!({}), SignedIn),
    ]
}

const WORKER_PASSWORD: &str = "worker-password-0019";

/// The app as Tauri runs it, on its mock runtime: ClinicPay's own command handler and state.
fn app(state: AppState) -> (tauri::App<MockRuntime>, WebviewWindow<MockRuntime>) {
    let builder = tauri_specta::Builder::<MockRuntime>::new().commands(
        clinicpay_desktop::window_commands!(tauri::test::MockRuntime),
    );
    let app = mock_builder()
        .invoke_handler(builder.invoke_handler())
        .build(mock_context(noop_assets()))
        .expect("the mock app");
    app.manage(state);
    app.manage(Updates::new("0.0.0-test".into()));
    app.manage(clinicpay_desktop::card_window::CardEntry::default());
    app.manage(clinicpay_desktop::engine::DeskEngine::default());
    let window = WebviewWindowBuilder::new(&app, "main", Default::default())
        .build()
        .expect("the window");
    (app, window)
}

/// Sends `cmd` with `args` as the page would; the error's code, or None when it succeeded.
fn invoke(window: &WebviewWindow<MockRuntime>, cmd: &str, args: &Value) -> Result<Value, String> {
    let response = tauri::test::get_ipc_response(
        window,
        tauri::webview::InvokeRequest {
            cmd: cmd.into(),
            callback: tauri::ipc::CallbackFn(0),
            error: tauri::ipc::CallbackFn(1),
            url: "tauri://localhost".parse().unwrap(),
            body: tauri::ipc::InvokeBody::Json(args.clone()),
            headers: Default::default(),
            invoke_key: INVOKE_KEY.to_string(),
        },
    );
    match response {
        Ok(body) => Ok(body.deserialize::<Value>().unwrap_or(Value::Null)),
        Err(e) => Err(e["code"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| format!("not a UiError: {e}"))),
    }
}

#[test]
fn every_window_command_answers_every_role_as_the_permission_matrix_says() {
    let reports =
        std::env::temp_dir().join(format!("clinicpay-every-command-{}", std::process::id()));
    std::env::set_var("CLINICPAY_REPORTS_DIR", &reports);
    let db = tauri::async_runtime::block_on(TestDb::new(Backend::Sqlite));
    let state = tauri::async_runtime::block_on(async {
        let state = AppState::open(&db.url, Managed::default()).await;
        let s = state.services().expect("services");
        s.seed_demo(None, 3, 19).await.expect("demo clinic");
        let it = s.sign_in("it", "demo").await.expect("IT signs in");
        s.add_staff(
            Some(&it),
            "billing-worker",
            "Billing worker",
            Role::Worker,
            WORKER_PASSWORD,
        )
        .await
        .expect("the worker's account");
        state
    });
    let (_app, window) = app(state);

    // Every command the page can call has its line, and no line names a command that is gone.
    let listed: BTreeSet<String> = matrix().iter().map(|(c, _, _)| c.to_string()).collect();
    let mut in_bindings = crate::commands_in_bindings();
    assert!(
        in_bindings.remove("sign_in"),
        "sign_in is how each run below starts"
    );
    assert_eq!(
        listed, in_bindings,
        "the matrix and the window's commands differ"
    );

    let people = [
        (Some(("frontdesk", "demo")), Some(Role::FrontDesk)),
        (Some(("manager", "demo")), Some(Role::BillingManager)),
        (Some(("it", "demo")), Some(Role::ItAdmin)),
        (
            Some(("billing-worker", WORKER_PASSWORD)),
            Some(Role::Worker),
        ),
        (None, None),
    ];
    let mut wrong = Vec::new();
    for (who, role) in people {
        for (cmd, args, needs) in matrix() {
            // Each command from a fresh sign-in: sign_out and lock_desk end the session they run in.
            invoke(&window, "sign_out", &json!({})).unwrap();
            let signed_in = match who {
                Some((name, password)) => {
                    let answer = invoke(
                        &window,
                        "sign_in",
                        &json!({"username": name, "password": password}),
                    );
                    // The worker's account runs billing on a server; it never signs in at a desk.
                    if role == Some(Role::Worker) {
                        assert_eq!(
                            answer.as_ref().err().map(String::as_str),
                            Some("not_signed_in")
                        );
                        false
                    } else {
                        answer.unwrap_or_else(|e| panic!("{name} signs in: {e}"));
                        true
                    }
                }
                None => false,
            };
            let answer = invoke(&window, cmd, &args);
            let code = answer.as_ref().err().cloned().unwrap_or_default();
            let expected = match (needs, role.filter(|_| signed_in)) {
                (Needs::Nothing, _) => None,
                (Needs::NoClinicYet, _) => Some("conflict"),
                (_, None) => Some("not_signed_in"),
                (Needs::SignedIn, Some(_)) => None,
                (Needs::Permission(p), Some(r)) => (!r.allows(p)).then_some("permission_denied"),
                (Needs::ShownOnlyWith(p), Some(r)) => (!r.allows(p)).then_some("nothing"),
            };
            let refused_for_who = code == "permission_denied" || code == "not_signed_in";
            let ok = match expected {
                Some("nothing") => answer == Ok(Value::Null),
                Some(want) => code == want,
                None => !refused_for_who && !code.starts_with("not a UiError"),
            };
            if !ok {
                wrong.push(format!(
                    "{cmd} {args} as {}: {answer:?}, expected {}",
                    who.map(|w| w.0).unwrap_or("no one"),
                    expected.unwrap_or("to get past the permission check")
                ));
            }
        }
    }
    tauri::async_runtime::block_on(db.drop_db());
    std::fs::remove_dir_all(&reports).ok();
    assert!(
        wrong.is_empty(),
        "{} answers disagree with the matrix:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}
