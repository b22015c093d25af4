#!/usr/bin/env bash
# Prints the window's figures while work arrives (ui/bench/window.mjs): the release app on a clinic's
# PostgreSQL while another desk changes the open patient 50 times a second, and on a SQLite clinic while
# the billing manager's sweep of 10,000 recovery orders runs and someone types.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

ensure_rust
ensure_desktop_build_deps
ensure_e2e_tools
ensure_postgres
command -v psql >/dev/null || apt_install postgresql-client
build_ui
say "building ClinicPay (release)"
cargo build --release --locked -p clinicpay-cli -p clinicpay-desktop --features clinicpay-desktop/custom-protocol
BIN="$CARGO_TARGET_DIR/release"
PG="${CLINICPAY_TEST_PG:-postgres://postgres:postgres@127.0.0.1:5432/postgres}"

WORK="$(mktemp -d /tmp/clinicpay-window.XXXXXX)"
SCHEMA="cp_bench_window_$$"
trap 'stop_window_driver; psql -q "$PG" -c "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" 2>/dev/null; rm -rf "$WORK"' EXIT
say "the clinics: the demo clinic on PostgreSQL, and one with 10,000 orders in recovery on SQLite"
psql -q "$PG" -c "CREATE SCHEMA $SCHEMA"
sep='?'; [[ "$PG" == *\?* ]] && sep='&'
LIVE="$PG${sep}options=-c%20search_path%3D$SCHEMA"
"$BIN/clinicpay" --db "$LIVE" demo seed --patients 2000 >/dev/null
EMAIL="$(psql -tA "$PG" -c "SELECT email FROM $SCHEMA.patients ORDER BY id LIMIT 1")"
"$BIN/clinicpay-bench" sweep-clinic --db "$WORK/sweep.db" --orders 10000

start_window_driver "$WORK/driver.log"
say "figures"
(cd ui && node bench/window.mjs "$BIN/clinicpay-desktop" "$BIN/clinicpay-bench" --live "$LIVE" "$EMAIL" --sweep "$WORK/sweep.db")
