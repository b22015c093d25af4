//! What the CLI tests share: `clinicpay` run on a test database at the contract's fixed time, with
//! nothing of this computer's signed-in staff, database or managed configuration leaking in.

use std::io::Write;
use std::process::{Command, Output, Stdio};

/// The time every contract test runs at (`--now`).
pub const NOW: &str = "2026-11-23T10:00:00Z";

/// The password of every account in the tests' clinics (the demo clinic's own).
pub const PASSWORD: &str = "demo";

/// `clinicpay --db URL --now NOW`, to which a test adds its arguments; `--as` signs in with
/// [`PASSWORD`].
pub fn clinicpay(db_url: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_clinicpay"));
    cmd.args(["--db", db_url, "--now", NOW])
        .env("CLINICPAY_PASSWORD", PASSWORD)
        .env_remove("CLINICPAY_STAFF")
        .env_remove("CLINICPAY_DB")
        // Whatever IT deployed on this computer stays out of the tests.
        .env(
            "CLINICPAY_MANAGED_CONFIG",
            "/nonexistent/clinicpay-managed.toml",
        );
    cmd
}

/// Runs the command with `stdin` typed in, and waits for it.
pub fn run_with_stdin(cmd: &mut Command, stdin: &str) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run clinicpay");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}
