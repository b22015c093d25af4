#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what is missing, checks formatting, lints and strict
# TypeScript, runs every test on SQLite and on PostgreSQL, the Stripe client against localstripe and the
# keychain against a private gnome-keyring (including the check that ui/src/bindings.ts
# matches the commands), then the end-to-end tests of the real window and of the installed app's auto-update.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

ensure_rust
ensure_desktop_build_deps
ensure_postgres
ensure_postgres_tls
ensure_keychain_tools
ensure_localstripe
ensure_smtp_server
export CLINICPAY_TEST_PG="${CLINICPAY_TEST_PG:-postgres://postgres:postgres@127.0.0.1:5432/postgres}"

# Test schemas left by an interrupted earlier run.
if command -v psql >/dev/null 2>&1; then
    psql "$CLINICPAY_TEST_PG" -Atqc "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'cp\_t\_%' OR nspname LIKE 'cp\_e2e\_%' OR nspname LIKE 'cp\_bench\_%'" 2>/dev/null |
        while read -r schema; do psql "$CLINICPAY_TEST_PG" -qc "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true; done
fi

# The window: strict TypeScript and the Vite build (the desktop crate embeds ui/dist).
build_ui

say "cargo fmt --check"
cargo fmt --all -- --check

say "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

say "tests (SQLite and PostgreSQL, localstripe, the Secret Service keychain)"
if cargo nextest --version >/dev/null 2>&1; then
    "$ROOT/scripts/with-keychain.sh" cargo nextest run --workspace --locked --no-fail-fast
else
    "$ROOT/scripts/with-keychain.sh" cargo test --workspace --locked --no-fail-fast
fi
# The real window, driven through WebDriver under Xvfb (screenshots in $CARGO_TARGET_DIR/e2e-screenshots).
"$ROOT/scripts/e2e.sh"
# The installed .deb updating itself from a local update server (a tampered update refused, a signed one installed).
"$ROOT/scripts/update-e2e.sh"
say "all tests passed"
