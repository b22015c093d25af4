//! Issue 20, item 5: the CLI behaves as IT's scripts expect of a Unix command.

use std::io::Read;
use std::process::{Command, Stdio};

use clinicpay_testkit::on_both_databases;
use serde_json::Value;

use crate::support;

on_both_databases! {
    async fn a_reader_that_stops_early_ends_the_command_quietly(db: &TestDb) {
        let seeded = support::clinicpay(&db.url).args(["demo", "seed", "--patients", "400"]).output().unwrap();
        assert!(seeded.status.success(), "{}", String::from_utf8_lossy(&seeded.stderr));
        // `clinicpay payments list | head -c 1`: the reader takes one byte and goes.
        let mut child = support::clinicpay(&db.url)
            .args(["--as", "manager", "payments", "list"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = [0u8; 1];
        child.stdout.take().unwrap().read_exact(&mut first).unwrap();
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked") && !stderr.contains("Broken pipe"), "{stderr}");
        #[cfg(unix)]
        {
            use std::os::unix::process::ExitStatusExt;
            assert!(
                out.status.success() || out.status.signal() == Some(13),
                "ended as a Unix tool does on a closed pipe (SIGPIPE), not {:?}",
                out.status
            );
        }
    }
}

#[test]
fn with_json_a_command_line_mistake_is_a_json_error_with_exit_2() {
    for args in [
        &["--json", "patients", "frobnicate"][..],
        &["--json", "--bogus-flag", "patients", "search", "x"][..],
        &["patients", "add", "--json", "--name", "Ada"][..],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_clinicpay"))
            .args(args)
            .env_remove("CLINICPAY_DB")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{args:?}: not JSON ({e}): {:?}",
                String::from_utf8_lossy(&out.stdout)
            )
        });
        assert_eq!(v["error"]["code"], "usage", "{v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("clinicpay --help"),
            "{v}"
        );
    }
    // Without --json, clap's own words for a person at a terminal.
    let out = Command::new(env!("CARGO_BIN_EXE_clinicpay"))
        .args(["patients", "frobnicate"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Usage:"));
}
