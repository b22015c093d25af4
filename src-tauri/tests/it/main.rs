//! The desktop shell's tests that need no window: the generated bindings and the Content Security Policy.

mod bindings;
mod csp;
