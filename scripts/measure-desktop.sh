#!/usr/bin/env bash
# Prints the desktop figures: launch to a usable window, and idle memory, for ClinicPay (release build,
# demo clinic) next to a hello-world Tauri 2 app scaffolded and built here in the same run.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

ensure_rust
ensure_desktop_build_deps
ensure_e2e_tools
build_ui
say "building ClinicPay (release)"
cargo build --release --locked -p clinicpay-cli -p clinicpay-desktop --features clinicpay-desktop/custom-protocol

HELLO="${CLINICPAY_CACHE:-$HOME/.cache/clinicpay}/hello-tauri"
if [ ! -d "$HELLO/src-tauri" ]; then
    say "scaffolding a hello-world Tauri 2 app"
    rm -rf "$HELLO"
    mkdir -p "$(dirname "$HELLO")"
    (cd "$(dirname "$HELLO")" && npx --yes create-tauri-app@4.7.4 hello-tauri --template vanilla-ts --manager npm --identifier com.example.hello --yes >/dev/null)
fi
# The floor opens the same size of window as ClinicPay (the scaffold's is 800x600): WebKit's tiles and the
# window's buffers grow with its area, and that is the window's size, not the app's weight.
node -e '
const fs = require("fs");
const [ours, theirs] = process.argv.slice(1);
const size = JSON.parse(fs.readFileSync(ours, "utf8")).app.windows[0];
const conf = JSON.parse(fs.readFileSync(theirs, "utf8"));
Object.assign(conf.app.windows[0], { width: size.width, height: size.height });
fs.writeFileSync(theirs, JSON.stringify(conf, null, 2));
console.log(`hello-world window: ${size.width}x${size.height}, as ClinicPay'"'"'s`);
' "$ROOT/src-tauri/tauri.conf.json" "$HELLO/src-tauri/tauri.conf.json"
say "building the hello-world app (release)"
(cd "$HELLO" && npm install --no-audit --no-fund --loglevel=error >/dev/null && npm run --silent build >/dev/null)
(cd "$HELLO/src-tauri" && cargo build --release --features tauri/custom-protocol --quiet)

WORK="$(mktemp -d /tmp/clinicpay-measure.XXXXXX)"
DB="$WORK/clinic.db"
"$CARGO_TARGET_DIR/release/clinicpay" --db "$DB" demo seed --patients 2000 >/dev/null
trap 'stop_window_driver; rm -rf "$WORK"' EXIT
start_window_driver "$WORK/driver.log"

say "figures"
HELLO_BIN="$(find "$CARGO_TARGET_DIR/release" -maxdepth 1 -type f -executable -name 'hello-tauri*' | head -1)"
(cd ui && node bench/startup.mjs "hello-world" "$HELLO_BIN" "#greet-input") | tee "$WORK/hello.txt"
(cd ui && node bench/startup.mjs "ClinicPay" "$CARGO_TARGET_DIR/release/clinicpay-desktop" 'input[name="username"]' --db "$DB") | tee "$WORK/clinicpay.txt"
# The floor under the window benchmarks' "key to next frame" on this display: the same typing in the
# hello-world's field and in ClinicPay's sign-in form.
(cd ui && node bench/typing.mjs "hello-world" "$HELLO_BIN" "#greet-input") | tee "$WORK/hello-typing.txt"
(cd ui && node bench/typing.mjs "ClinicPay" "$CARGO_TARGET_DIR/release/clinicpay-desktop" 'input[name="username"]' --db "$DB") | tee "$WORK/clinicpay-typing.txt"
# The same desk without its billing engine (IT's managed engine = "service"), for what the engine costs.
stop_window_driver
printf 'engine = "service"\n' >"$WORK/managed.toml"
chmod 644 "$WORK/managed.toml"
CLINICPAY_MANAGED_CONFIG="$WORK/managed.toml" start_window_driver "$WORK/driver-no-engine.log"
(cd ui && RUNS=1 node bench/startup.mjs "no engine" "$CARGO_TARGET_DIR/release/clinicpay-desktop" 'input[name="username"]' --db "$DB") | tee "$WORK/no-engine.txt"
ls -l "$CARGO_TARGET_DIR/release/clinicpay-desktop" "$HELLO_BIN" | awk '{printf "binary %s: %.1f MiB\n", $9, $5/1048576}'
# The two summary lines (RESULT | measure | figure | reference | ratio | target | met |).
node -e '
const fs = require("fs");
const read = (f) => JSON.parse(fs.readFileSync(f, "utf8").split("\n").find((l) => l.startsWith("FIGURES ")).slice(8));
const [h, c, n] = [read(process.argv[1]), read(process.argv[2]), read(process.argv[3])];
const line = (m, fig, ref, r, t) => console.log(`RESULT | ${m} | ${fig} | ${ref} | ${r.toFixed(2)}x | ≤ ${t.toFixed(2)}x | ${r <= t ? "met" : "MISSED"} |`);
line("cold start to a usable window", `median ${c.medianMs.toFixed(0)} ms`, `hello-world Tauri ${h.medianMs.toFixed(0)} ms`, c.medianMs / h.medianMs, 1.10);
line("idle memory, app + WebKit (PSS), billing engine running", `${c.pssMiB.toFixed(1)} MiB`, `hello-world Tauri ${h.pssMiB.toFixed(1)} MiB`, c.pssMiB / h.pssMiB, 1.15);
console.log(`RESULT | idle CPU, billing engine running (a pass every 30 s) | ${c.cpuPercent.toFixed(2)} % of a core | without the engine ${n.cpuPercent.toFixed(2)} %, hello-world ${h.cpuPercent.toFixed(2)} % | — | — | — |`);
const [ht, ct] = [read(process.argv[4]), read(process.argv[5])];
console.log(`RESULT | typing, key to next frame (the floor under the sweep row) | ClinicPay sign-in p95 ${ct.p95.toFixed(1)} ms | hello-world p95 ${ht.p95.toFixed(1)} ms | ${(ct.p95 / ht.p95).toFixed(2)}x | — | — |`);
console.log(`RESULT | idle memory, billing engine off (engine = service) | ${n.pssMiB.toFixed(1)} MiB | with it ${c.pssMiB.toFixed(1)} MiB | ${(c.pssMiB / n.pssMiB).toFixed(2)}x | — | — |`);
 ' "$WORK/hello.txt" "$WORK/clinicpay.txt" "$WORK/no-engine.txt" "$WORK/hello-typing.txt" "$WORK/clinicpay-typing.txt"
