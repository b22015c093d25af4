#!/usr/bin/env bash
# Opens ClinicPay in training mode on the demo clinic (created in the OS app-data folder if absent).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

ensure_rust
ensure_build_tools
say "building clinicpay"
cargo build --release --locked -p clinicpay-cli
CLINICPAY="$CARGO_TARGET_DIR/release/clinicpay"

# The demo clinic goes into an empty database only; an existing one is opened as it is.
if ! "$CLINICPAY" --as frontdesk --json overview >/dev/null 2>&1; then
    say "creating the demo clinic"
    "$CLINICPAY" demo seed
fi
say "training mode: the demo clinic (sign in as frontdesk, manager or it; password demo)"
"$CLINICPAY" --as frontdesk overview
echo
echo "Try: $CLINICPAY --as frontdesk patients search smith"
