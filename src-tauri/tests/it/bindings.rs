//! `ui/src/bindings.ts` is generated from the commands; a stale copy fails the test command.
//! Regenerate with `CLINICPAY_UPDATE_BINDINGS=1 cargo test -p clinicpay-desktop --test it bindings`.

use std::path::Path;

#[test]
fn the_committed_typescript_bindings_match_the_commands() {
    let committed = Path::new(clinicpay_desktop::BINDINGS_PATH);
    if std::env::var_os("CLINICPAY_UPDATE_BINDINGS").is_some() {
        clinicpay_desktop::export_bindings(committed).expect("write bindings");
        return;
    }
    let fresh = std::env::temp_dir().join(format!("clinicpay-bindings-{}.ts", std::process::id()));
    clinicpay_desktop::export_bindings(&fresh).expect("export bindings");
    let want = std::fs::read_to_string(&fresh).unwrap();
    std::fs::remove_file(&fresh).ok();
    let have = std::fs::read_to_string(committed).unwrap_or_default();
    assert!(
        have == want,
        "ui/src/bindings.ts is stale: run `CLINICPAY_UPDATE_BINDINGS=1 cargo test -p clinicpay-desktop --test it bindings` and commit it"
    );
}
