#!/usr/bin/env bash
# Runs a command inside a private D-Bus session with an unlocked gnome-keyring: the real Secret Service,
# as on a Linux desk, for the keychain tests. The keyring and its password live only for this command.
#
# gnome-keyring-daemon now and then aborts (a GLib error, seen in dmesg as "trap int3 … libglib") under
# the many short-lived clients a test run makes. D-Bus would then start a fresh daemon on the next call,
# locked, and every later keychain test would fail. So this session has no service activation (its own
# bus configuration) and a watchdog starts the daemon again, unlocked with the same password over the same
# keyring files; the keychain tests retry (.config/nextest.toml) across the moment it is away.
set -euo pipefail
if [ "${CLINICPAY_KEYCHAIN_SESSION:-}" = 1 ]; then
    exec "$@"
fi
export CLINICPAY_KEYCHAIN_SESSION=1
home="$(mktemp -d)"
trap 'rm -rf "$home"' EXIT
mkdir -m 700 "$home/data" "$home/run"
# A session bus like the desktop's, but starting no service on demand.
cat >"$home/bus.conf" <<'EOF'
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <keep_umask/>
  <listen>unix:tmpdir=/tmp</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
EOF
# gnome-keyring keeps its files under XDG_DATA_HOME and its control socket under XDG_RUNTIME_DIR:
# throwaway ones, so no test touches a real keyring and two test runs never share (or replace) a daemon.
XDG_DATA_HOME="$home/data" XDG_RUNTIME_DIR="$home/run" dbus-run-session --config-file="$home/bus.conf" -- bash -c '
    set -e
    owned() {
        dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
            org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null | grep -q "boolean true"
    }
    start_daemon() {
        eval "$(printf %s "clinicpay-test-keyring" | gnome-keyring-daemon "$@" --unlock --components=secrets)" >/dev/null
        export GNOME_KEYRING_CONTROL
    }
    start_daemon
    # Ready only once the unlocked daemon owns the Secret Service name and stores and reads a secret.
    ready=0
    for _ in $(seq 100); do
        owned || { sleep 0.1; continue; }
        if printf probe | secret-tool store --label=probe clinicpay-probe ready 2>/dev/null &&
            [ "$(secret-tool lookup clinicpay-probe ready 2>/dev/null)" = probe ]; then
            secret-tool clear clinicpay-probe ready
            ready=1
            break
        fi
        sleep 0.1
    done
    if [ "$ready" != 1 ]; then
        echo "The private keychain (gnome-keyring) did not start: the keychain tests cannot run." >&2
        exit 1
    fi
    ( while sleep 0.2; do
        if ! owned; then
            echo "with-keychain: gnome-keyring-daemon went away; starting it again, unlocked" >&2
            start_daemon --replace || true
        fi
    done ) &
    watchdog=$!
    status=0
    "$@" || status=$?
    kill "$watchdog" 2>/dev/null || true
    exit "$status"' bash "$@"
