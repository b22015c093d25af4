#!/usr/bin/env bash
# Runs a command inside a private D-Bus session with an unlocked gnome-keyring: the real Secret Service,
# as on a Linux desk, for the keychain tests. The keyring and its password live only for this command.
set -euo pipefail
if [ "${CLINICPAY_KEYCHAIN_SESSION:-}" = 1 ]; then
    exec "$@"
fi
export CLINICPAY_KEYCHAIN_SESSION=1
home="$(mktemp -d)"
trap 'rm -rf "$home"' EXIT
mkdir -m 700 "$home/data" "$home/run"
# gnome-keyring keeps its files under XDG_DATA_HOME and its control socket under XDG_RUNTIME_DIR:
# throwaway ones, so no test touches a real keyring and two test runs never share (or replace) a daemon.
XDG_DATA_HOME="$home/data" XDG_RUNTIME_DIR="$home/run" dbus-run-session -- bash -c '
    set -e
    eval "$(printf %s "clinicpay-test-keyring" | gnome-keyring-daemon --unlock --components=secrets)" >/dev/null
    export GNOME_KEYRING_CONTROL
    # Ready only once the unlocked daemon owns the Secret Service name and stores and reads a secret:
    # a call that came earlier would make D-Bus start a second, locked daemon.
    for _ in $(seq 100); do
        dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
            org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null | grep -q "boolean true" || { sleep 0.1; continue; }
        if printf probe | secret-tool store --label=probe clinicpay-probe ready 2>/dev/null &&
            [ "$(secret-tool lookup clinicpay-probe ready 2>/dev/null)" = probe ]; then
            secret-tool clear clinicpay-probe ready
            exec "$@"
        fi
        sleep 0.1
    done
    echo "The private keychain (gnome-keyring) did not start: the keychain tests cannot run." >&2
    exit 1' bash "$@"
