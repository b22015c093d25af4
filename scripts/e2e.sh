#!/usr/bin/env bash
# End-to-end tests of the real desktop window: builds the UI and the app, creates a demo clinic in a
# temporary database, starts Xvfb, tauri-driver and WebKitWebDriver, and runs ui/e2e with WebdriverIO.
# Screenshots land in $CARGO_TARGET_DIR/e2e-screenshots. CLINICPAY_E2E_ONLY=PATTERN runs only the tests
# whose names match (node --test-name-pattern), for working on one.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
ensure_keychain_tools
# The app under test keeps live gateway keys (first-run setup) in a real Secret Service: a private one,
# with its own XDG_DATA_HOME, so this run's desk files and keys are its own.
if [ "${CLINICPAY_KEYCHAIN_SESSION:-}" != 1 ]; then
    exec "$ROOT/scripts/with-keychain.sh" "$ROOT/scripts/e2e.sh" "$@"
fi

ensure_rust
ensure_desktop_build_deps
ensure_e2e_tools
ensure_postgres
ensure_smtp_server
ensure_gateway_tls
build_ui
say "building the desktop app"
cargo build --locked -p clinicpay-desktop --features custom-protocol
cargo build --locked -p clinicpay-cli --bin clinicpay

WORK="$(mktemp -d /tmp/clinicpay-e2e.XXXXXX)"
SHOTS="$CARGO_TARGET_DIR/e2e-screenshots"
rm -rf "$SHOTS"
mkdir -p "$SHOTS"
DB="$WORK/clinic.db"
"$CARGO_TARGET_DIR/debug/clinicpay" --db "$DB" demo seed --patients 300 --seed 11 >/dev/null

# A second clinic on PostgreSQL, for the several-desks test (its own schema, dropped at the end).
PG_ADMIN="${CLINICPAY_TEST_PG:-postgres://postgres:postgres@127.0.0.1:5432/postgres}"
PG_SCHEMA="cp_e2e_$$"
psql "$PG_ADMIN" -qc "CREATE SCHEMA $PG_SCHEMA" >/dev/null
PG_DB="$PG_ADMIN?options=-c%20search_path%3D$PG_SCHEMA"
"$CARGO_TARGET_DIR/debug/clinicpay" --db "$PG_DB" demo seed --patients 40 --seed 12 >/dev/null

trap 'stop_window_driver; [ -n "${SMTP_PID:-}" ] && kill "$SMTP_PID" 2>/dev/null; psql "$PG_ADMIN" -qc "DROP SCHEMA IF EXISTS $PG_SCHEMA CASCADE" >/dev/null 2>&1; rm -rf "$WORK"' EXIT
# Escalation PDFs saved by the window (the app inherits this through tauri-driver).
export CLINICPAY_REPORTS_DIR="$SHOTS/reports"
# The app log of the windows under test stays with the test run.
export CLINICPAY_LOG_DIR="$WORK/logs"
# A real mail server for the reminder emails the window sends (aiosmtpd into a Maildir the tests read).
SMTP_PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$CLINICPAY_SMTP_PYTHON" -m aiosmtpd -n -l "127.0.0.1:$SMTP_PORT" -c aiosmtpd.handlers.Mailbox "$WORK/maildir" &
SMTP_PID=$!
export CLINICPAY_E2E_SMTP_PORT="$SMTP_PORT" CLINICPAY_E2E_MAILDIR="$WORK/maildir"
# IT's managed configuration for the app under test: none until a test writes one (as root, as a
# deployed file is), e.g. to keep Stripe Elements on this Linux desk with the training clinic's test key.
export CLINICPAY_MANAGED_CONFIG="$WORK/managed.toml"

say "starting tauri-driver"
start_window_driver "$WORK/driver.log"

say "end-to-end tests of the window"
status=0
(cd ui && CLINICPAY_E2E_APP="$CARGO_TARGET_DIR/debug/clinicpay-desktop" CLINICPAY_E2E_DB="$DB" \
    CLINICPAY_E2E_CLI="$CARGO_TARGET_DIR/debug/clinicpay" CLINICPAY_E2E_SCREENSHOTS="$SHOTS" CLINICPAY_E2E_PG_DB="$PG_DB" \
    node --test --test-concurrency=1 ${CLINICPAY_E2E_ONLY:+--test-name-pattern="$CLINICPAY_E2E_ONLY"} e2e/) || status=$?
if [ $status -ne 0 ]; then
    echo "--- tauri-driver log"
    tail -n 50 "$WORK/driver.log" || true
    echo "--- app log"
    tail -n 40 "$WORK"/logs/* 2>/dev/null || true
fi
echo "screenshots: $SHOTS"
exit $status
