#!/usr/bin/env bash
# The installed app updating itself. Builds ClinicPay's .deb twice with `tauri build` (the version to
# install and the update) around a throwaway release key, installs the first with dpkg, and drives the
# real window through WebDriver while an update server on this computer offers the second: tampered
# first (refused), then genuine (installed, app restarts). Then a new desk of the installed app sets a
# live clinic up in its first-run screen and bills it by itself. Prints the sizes; removes the package after.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
ensure_keychain_tools
# The installed app keeps the live gateway key its first-run setup is given in a real Secret Service: a
# private one, with its own XDG_DATA_HOME (the desk's files of this run).
if [ "${CLINICPAY_KEYCHAIN_SESSION:-}" != 1 ]; then
    exec "$ROOT/scripts/with-keychain.sh" "$ROOT/scripts/update-e2e.sh" "$@"
fi

ensure_rust
ensure_desktop_build_deps
ensure_e2e_tools
ensure_gateway_tls
# The updater installs a .deb through pkexec, or else sudo (as root sudo asks nothing).
apt_install sudo
ensure_tauri_cli
build_ui

say "building the release tool and the CLI"
cargo build --locked -p clinicpay-release -p clinicpay-cli --bin clinicpay-release --bin clinicpay
REL="$CARGO_TARGET_DIR/debug/clinicpay-release"
CLI="$CARGO_TARGET_DIR/debug/clinicpay"

WORK="$(mktemp -d /tmp/clinicpay-update.XXXXXX)"
SHOTS="$CARGO_TARGET_DIR/e2e-screenshots"
mkdir -p "$SHOTS" "$WORK/site"
# A release key needs a real password; this run's is thrown away with the key.
export CLINICPAY_RELEASE_KEY_PASSWORD="update-e2e-$$-$(date +%s)"
"$REL" keygen --out "$WORK/key" >/dev/null
PUB="$(cat "$WORK/key/clinicpay-release.pub")"
OLD="$(node -p 'require("./src-tauri/tauri.conf.json").version')"
NEW="$(node -p 'const [a,b,c]=require("./src-tauri/tauri.conf.json").version.split("."); `${a}.${b}.${Number(c)+1}`')"

# build_deb VERSION: the .deb tauri build makes for VERSION, trusting this run's release key.
build_deb() {
    say "tauri build --bundles deb (ClinicPay $1)"
    (cd src-tauri && "$TAURI" build --ci --bundles deb --config tauri.packaging.conf.json \
        --config "{\"version\":\"$1\",\"plugins\":{\"updater\":{\"pubkey\":\"$PUB\"}}}" >"$WORK/build-$1.log" 2>&1) \
        || { tail -n 40 "$WORK/build-$1.log"; return 1; }
    cp "$CARGO_TARGET_DIR/release/bundle/deb/ClinicPay_$1_amd64.deb" "$WORK/"
}
stage_packaged_cli
build_deb "$NEW"
build_deb "$OLD"
PACKAGE="$(dpkg-deb -f "$WORK/ClinicPay_${OLD}_amd64.deb" Package)"

cleanup() {
    stop_window_driver
    # The app the update restarted runs on its own, outside WebDriver.
    [ -n "${APP:-}" ] && pkill -f "^$APP" 2>/dev/null || true
    dpkg -r "$PACKAGE" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

say "installing ClinicPay $OLD from its .deb"
dpkg -i "$WORK/ClinicPay_${OLD}_amd64.deb" >/dev/null
APP="$(dpkg -L "$PACKAGE" | grep '^/usr/bin/' | grep -vx '/usr/bin/clinicpay' | head -1)"
DB="$WORK/clinic.db"
# The clinicpay command comes with the package, on PATH, as a shipped build (not a test build), and
# sets up the demo clinic the test then opens.
say "the packaged clinicpay command"
dpkg -L "$PACKAGE" | grep -qx '/usr/bin/clinicpay' || { echo "the package has no /usr/bin/clinicpay" >&2; exit 1; }
VERSION_LINE="$(/usr/bin/clinicpay --version)"
echo "$VERSION_LINE"
case "$VERSION_LINE" in *"test build"*) echo "the packaged clinicpay is a test build" >&2; exit 1 ;; esac
/usr/bin/clinicpay --db "$DB" --json demo seed --patients 20 --seed 5 >/dev/null
# The worker's systemd unit comes with it, disabled, and is one systemd accepts.
UNIT=/usr/lib/systemd/system/clinicpay-worker.service
dpkg -L "$PACKAGE" | grep -qx "$UNIT" || { echo "the package has no $UNIT" >&2; exit 1; }
apt_install systemd
systemd-analyze verify "$UNIT" || { echo "systemd-analyze verify refused $UNIT" >&2; exit 1; }
echo "systemd-analyze verify $UNIT: accepted"

# IT's managed configuration for this test desk (the test points it at one server folder or another).
export CLINICPAY_MANAGED_CONFIG="$WORK/managed.toml"
export CLINICPAY_LOG_DIR="$WORK/logs" CLINICPAY_REPORTS_DIR="$WORK/reports"
: >"$CLINICPAY_MANAGED_CONFIG"
say "starting tauri-driver"
start_window_driver "$WORK/driver.log"

say "auto-update of the installed app"
status=0
(cd ui && CLINICPAY_E2E_APP="$APP" CLINICPAY_E2E_DB="$DB" CLINICPAY_E2E_CLI="$CLI" CLINICPAY_E2E_SCREENSHOTS="$SHOTS" \
    CLINICPAY_UPDATE_SITE="$WORK/site" CLINICPAY_UPDATE_PACKAGE="$PACKAGE" CLINICPAY_UPDATE_OLD="$OLD" \
    CLINICPAY_UPDATE_NEW="$NEW" CLINICPAY_UPDATE_NEW_DEB="$WORK/ClinicPay_${NEW}_amd64.deb" \
    CLINICPAY_RELEASE_BIN="$REL" CLINICPAY_RELEASE_KEY="$WORK/key/clinicpay-release.key" \
    node --test --test-concurrency=1 e2e-install/) || status=$?
ls -l "$WORK"/*.deb | awk '{printf "installer %s: %.1f MiB\n", $9, $5/1048576}'
if [ $status -ne 0 ]; then
    echo "--- tauri-driver log"
    tail -n 50 "$WORK/driver.log" || true
    echo "--- app log"
    tail -n 50 "$WORK"/logs/* || true
fi
exit $status
