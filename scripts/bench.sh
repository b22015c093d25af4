#!/usr/bin/env bash
# Every performance measure of docs/performance.md in one run, each figure next to its reference
# measured in the same run (these machines are noisy), ending with the summary table. Programs that
# print figures, not tests: nothing here fails because something was slow.
#
#   ./scripts/bench.sh                      everything (about two hours on 2 cores the first time: the
#                                           clinics are seeded once and reused)
#   ./scripts/bench.sh clinic month-end     only some parts: clinic report-pg month-end sweep reconcile
#                                           refresh propagation desktop window deb
#
# The clinic group's data is made by `clinicpay demo seed --patients 1000000 --clinic-group` (deterministic:
# seed 1; about 2 million cards and 10 million payments) into $CARGO_TARGET_DIR/bench/ and reused by later
# runs; CLINICPAY_BENCH_PATIENTS changes the size (CLINICPAY_BENCH_PG_PATIENTS on PostgreSQL).
# PostgreSQL is $CLINICPAY_TEST_PG (default the local server), in schemas cp_bench_*.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

PARTS=("$@")
[ ${#PARTS[@]} -gt 0 ] || PARTS=(clinic report-pg month-end sweep reconcile refresh propagation desktop window deb)
wants() { [[ " ${PARTS[*]} " == *" $1 "* ]]; }

ensure_rust
ensure_build_tools
ensure_postgres
command -v psql >/dev/null || apt_install postgresql-client
say "building clinicpay and clinicpay-bench (release)"
cargo build --release --locked -p clinicpay-cli
BIN="$CARGO_TARGET_DIR/release"
OUT="$CARGO_TARGET_DIR/bench"
mkdir -p "$OUT"
LOG="$OUT/bench-$(date +%Y%m%d-%H%M%S).log"
PATIENTS="${CLINICPAY_BENCH_PATIENTS:-1000000}"
PG="${CLINICPAY_TEST_PG:-postgres://postgres:postgres@127.0.0.1:5432/postgres}"
# with_schema URL SCHEMA: the address whose tables live in SCHEMA.
with_schema() { local sep='?'; [[ "$1" == *\?* ]] && sep='&'; echo "$1${sep}options=-c%20search_path%3D$2"; }

{
    echo "machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(free -g | awk '/Mem:/{print $2}') GiB, $(. /etc/os-release && echo "$PRETTY_NAME"), kernel $(uname -r)"
    echo "commit: $(git rev-parse --short HEAD)$(git diff --quiet || echo ' (with uncommitted changes)') · $(date -u '+%Y-%m-%d %H:%M UTC')"
} | tee "$LOG"

if wants clinic; then
    say "patient search, patient profile, expiring cards, gateway report (SQLite, $PATIENTS patients)"
    DB="$OUT/clinic-group-$PATIENTS.db"
    if [ ! -f "$DB" ]; then
        start=$(date +%s)
        "$BIN/clinicpay" --db "$DB" demo seed --patients "$PATIENTS" --clinic-group | tee -a "$LOG"
        echo "seeded in $(( $(date +%s) - start )) s" | tee -a "$LOG"
    fi
    "$BIN/clinicpay-bench" clinic --db "$DB" 2>&1 | tee -a "$LOG"
fi

if wants report-pg; then
    # A million patients of a clinic group hold about ten million payments.
    PG_PATIENTS="${CLINICPAY_BENCH_PG_PATIENTS:-1000000}"
    say "gateway report (PostgreSQL, $PG_PATIENTS patients)"
    SCHEMA="cp_bench_report_$PG_PATIENTS"
    URL="$(with_schema "$PG" "$SCHEMA")"
    psql -q "$PG" -c "CREATE SCHEMA IF NOT EXISTS $SCHEMA"
    if [ "$(psql -tA "$PG" -c "SELECT count(*) FROM $SCHEMA.patients" 2>/dev/null || echo 0)" = 0 ]; then
        start=$(date +%s)
        "$BIN/clinicpay" --db "$URL" demo seed --patients "$PG_PATIENTS" --clinic-group | tee -a "$LOG"
        echo "seeded in $(( $(date +%s) - start )) s" | tee -a "$LOG"
        # The planner's statistics, as autovacuum would gather them on a clinic's server after a while.
        psql -q "$PG" -c "ANALYZE $SCHEMA.patients, $SCHEMA.payment_methods, $SCHEMA.invoices, $SCHEMA.payments"
    fi
    "$BIN/clinicpay-bench" report --db "$URL" 2>&1 | tee -a "$LOG"
fi

if wants month-end; then
    say "month-end: 50,000 cycles due, the billing engine (clinicpay worker) against a gateway at its rate limit"
    "$BIN/clinicpay-bench" month-end --cycles 50000 --rate 100 2>&1 | tee -a "$LOG"
fi

if wants sweep; then
    say "recovery sweep (simulator limited to 100 requests a second)"
    "$BIN/clinicpay-bench" sweep --orders 10000 --rate 100 --latency-ms 100 2>&1 | tee -a "$LOG"
fi

if wants reconcile; then
    say "reconciliation of 1,000,000 NMI transactions, and of 100,000 for the memory (SQLite, then PostgreSQL)"
    "$BIN/clinicpay-bench" reconcile --transactions 1000000 2>&1 | tee -a "$LOG"
    "$BIN/clinicpay-bench" reconcile --transactions 1000000 --db "$PG" 2>&1 | tee -a "$LOG"
fi

if wants refresh; then
    say "refresh from the card networks' updates, simulator at each gateway's rate limit"
    "$BIN/clinicpay-bench" refresh --cards 2000 2>&1 | tee -a "$LOG"
fi

if wants propagation; then
    say "twenty desks on one PostgreSQL, 50 changes a second"
    "$BIN/clinicpay-bench" propagation --desks 20 --changes 3000 --rate 50 --db "$PG" 2>&1 | tee -a "$LOG"
fi

if wants desktop; then
    say "cold start and idle memory, next to a hello-world Tauri 2 app"
    ./scripts/measure-desktop.sh 2>&1 | tee -a "$LOG"
fi

if wants window; then
    say "the window while work arrives: live updates from another desk, and typing during a 10,000-order sweep"
    ./scripts/measure-window.sh 2>&1 | tee -a "$LOG"
fi

if wants deb; then
    say "the .deb installer"
    ensure_desktop_build_deps
    build_ui
    ensure_tauri_cli
    stage_packaged_cli
    (cd src-tauri && "$TAURI" build --ci --bundles deb --config tauri.packaging.conf.json >"$OUT/deb-build.log" 2>&1) \
        || { tail -n 40 "$OUT/deb-build.log"; exit 1; }
    VERSION="$(node -p 'require("./src-tauri/tauri.conf.json").version')"
    DEB="$CARGO_TARGET_DIR/release/bundle/deb/ClinicPay_${VERSION}_amd64.deb"
    bytes=$(stat -c %s "$DEB")
    awk -v b="$bytes" 'BEGIN { mb = b / 1e6; printf "RESULT | .deb installer | %.1f MB (%.1f MiB) | — | — | ≤ 15 MB | %s |\n", mb, b / 1048576, (mb <= 15 ? "met" : "MISSED") }' | tee -a "$LOG"
fi

say "summary (full log: $LOG)"
{
    echo "| measure | figure | reference, same run | ratio | target | |"
    echo "| --- | --- | --- | --- | --- | --- |"
    grep '^RESULT |' "$LOG" | sed 's/^RESULT //'
} | tee "$OUT/summary.md"
