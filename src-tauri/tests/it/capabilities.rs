//! Issue 19, item 8: which window may call what. Tauri checks every command against the capability of
//! the window it comes from (the app manifest in build.rs turns the check on); these lists must agree,
//! or a screen loses a command it needs, or the card window gains one.

use std::collections::BTreeSet;

use clinicpay_desktop::APP_COMMANDS;
use serde_json::Value;

/// The commands only the card window may call.
const CARD_WINDOW_ONLY: [&str; 2] = ["card_form_config", "hand_over_card_token"];
/// Everything the card window may call.
const CARD_WINDOW: [&str; 3] = [
    "card_form_config",
    "hand_over_card_token",
    "cancel_card_entry",
];

fn capability(name: &str) -> Value {
    let path = format!("{}/capabilities/{name}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// The app commands a capability grants (`allow-card-form-config` → `card_form_config`).
fn granted(c: &Value) -> BTreeSet<String> {
    c["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p.as_str())
        .filter_map(|p| p.strip_prefix("allow-"))
        .map(|p| p.replace('-', "_"))
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[test]
fn the_app_manifest_lists_every_command_the_app_registers() {
    assert_eq!(set(APP_COMMANDS), crate::commands_in_bindings());
}

#[test]
fn the_card_window_may_only_read_its_gateway_and_hand_back_a_token() {
    let card = capability("card-form");
    assert_eq!(granted(&card), set(&CARD_WINDOW));
    assert_eq!(card["windows"], serde_json::json!(["card-form-*"]));
    assert!(card.get("webviews").is_none() && card.get("remote").is_none());
    // Nothing of Tauri's own either: no events, no windows, no files.
    assert!(card["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p.as_str().is_some_and(|p| p.starts_with("allow-"))));
}

#[test]
fn the_desk_window_keeps_every_command_but_the_card_windows_own() {
    let main = capability("default");
    let want: BTreeSet<String> = APP_COMMANDS
        .iter()
        .filter(|c| !CARD_WINDOW_ONLY.contains(c))
        .map(|c| c.to_string())
        .collect();
    assert_eq!(granted(&main), want);
    assert_eq!(main["windows"], serde_json::json!(["main"]));
    assert!(main.get("webviews").is_none() && main.get("remote").is_none());
}
