#!/usr/bin/env bash
# End-to-end tests of the real desktop window: builds the UI and the app, creates a demo clinic in a
# temporary database, starts Xvfb, tauri-driver and WebKitWebDriver, and runs ui/e2e with WebdriverIO.
# Screenshots land in $CARGO_TARGET_DIR/e2e-screenshots.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

ensure_rust
ensure_desktop_build_deps
ensure_e2e_tools
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

cleanup() {
    [ -n "${DRIVER_PID:-}" ] && kill "$DRIVER_PID" 2>/dev/null || true
    [ -n "${XVFB_PID:-}" ] && kill "$XVFB_PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

CLINICPAY_XVFB=1 start_xvfb
say "starting tauri-driver"
CLINICPAY_DB="$DB" "$TOOLS/bin/tauri-driver" --port 4444 --native-driver /usr/bin/WebKitWebDriver >"$WORK/driver.log" 2>&1 &
DRIVER_PID=$!
for _ in $(seq 1 50); do
    (exec 3<>/dev/tcp/127.0.0.1/4444) 2>/dev/null && break
    sleep 0.2
done

say "end-to-end tests of the window"
status=0
(cd ui && CLINICPAY_E2E_APP="$CARGO_TARGET_DIR/debug/clinicpay-desktop" CLINICPAY_E2E_DB="$DB" \
    CLINICPAY_E2E_CLI="$CARGO_TARGET_DIR/debug/clinicpay" CLINICPAY_E2E_SCREENSHOTS="$SHOTS" \
    node --test --test-concurrency=1 e2e/) || status=$?
if [ $status -ne 0 ]; then
    echo "--- tauri-driver log"
    tail -n 50 "$WORK/driver.log" || true
fi
echo "screenshots: $SHOTS"
exit $status
