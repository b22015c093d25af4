#!/usr/bin/env bash
# Opens the ClinicPay window in training mode: builds the window and the app, creates the demo clinic
# in the OS app-data folder if it is not there, and starts ClinicPay on it.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

ensure_rust
ensure_desktop_build_deps
build_ui
say "building ClinicPay"
cargo build --release --locked -p clinicpay-cli -p clinicpay-desktop --features clinicpay-desktop/custom-protocol
BIN="$CARGO_TARGET_DIR/release"

# The demo clinic goes into an empty database only; an existing clinic is opened as it is.
if ! CLINICPAY_PASSWORD=demo "$BIN/clinicpay" --as frontdesk --json overview >/dev/null 2>&1; then
    say "creating the demo clinic"
    "$BIN/clinicpay" demo seed
fi

if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
    apt_install xvfb x11-utils
    start_xvfb
    say "no display on this machine: ClinicPay runs on the virtual display $DISPLAY"
fi
say "starting ClinicPay (training mode: sign in as frontdesk, manager or it; password demo)"
exec "$BIN/clinicpay-desktop"
