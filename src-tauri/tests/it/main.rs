//! The desktop shell's tests that need no window: the generated bindings, the Content Security Policy,
//! and every command through Tauri's IPC on its mock runtime.

mod bindings;
mod capabilities;
mod csp;
mod every_command;

/// The commands the page can call: every `__TAURI_INVOKE("name"` in the generated bindings.
pub fn commands_in_bindings() -> std::collections::BTreeSet<String> {
    let text = std::fs::read_to_string(clinicpay_desktop::BINDINGS_PATH).unwrap();
    text.split("__TAURI_INVOKE(\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next().map(str::to_owned))
        .collect()
}
