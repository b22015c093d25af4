// The app manifest turns on Tauri's permission check for ClinicPay's own commands: a window calls only
// what its capability (capabilities/*.json) grants, so the card window, where the gateways' scripts run,
// can do nothing but hand back a token (issue 19, item 8).
const APP_COMMANDS: &[&str] = &include!("app_commands.in");

fn main() {
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .app_manifest(tauri_build::AppManifest::new().commands(APP_COMMANDS)),
    )
    .expect("tauri-build");
}
