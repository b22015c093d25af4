//! The desktop shell's tests that need no window: the generated bindings, the Content Security Policy,
//! and every command through Tauri's IPC on its mock runtime.

mod bindings;
mod capabilities;
mod csp;
mod every_command;
