# Shared by scripts/*.sh: installs what a fresh Debian machine lacks, quietly, and only once.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${CLINICPAY_CACHE:-$HOME/.cache/clinicpay}/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

say() { printf '\n== %s\n' "$*"; }

sudo_if_needed() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

APT_UPDATED=""
# apt_install PKG...: installs the Debian packages that are missing. A private archive folder avoids the
# "cannot access archive" failures some images' docker-clean hooks cause.
apt_install() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    say "installing ${missing[*]}"
    if [ -z "$APT_UPDATED" ]; then
        sudo_if_needed apt-get update -qq
        APT_UPDATED=1
    fi
    mkdir -p /tmp/clinicpay-apt/partial
    sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get -o Dir::Cache::Archives=/tmp/clinicpay-apt/ \
        install -y -qq --no-install-recommends "${missing[@]}"
}

ensure_rust() {
    if ! command -v cargo >/dev/null 2>&1; then
        [ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
    fi
    command -v cargo >/dev/null 2>&1 || {
        echo "Rust (cargo) is not installed: install it with rustup (https://rustup.rs) and run this again." >&2
        exit 1
    }
    rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt
}

ensure_build_tools() {
    apt_install build-essential pkg-config
}

# ensure_postgres: a PostgreSQL answering on 127.0.0.1:5432; the machine's own if it runs one,
# otherwise Debian's, installed and started here.
ensure_postgres() {
    if command -v pg_isready >/dev/null 2>&1 && pg_isready -h 127.0.0.1 -p 5432 -q; then
        return 0
    fi
    apt_install postgresql postgresql-client
    local version
    version="$(ls /etc/postgresql | sort -n | tail -1)"
    say "starting PostgreSQL $version"
    sudo_if_needed pg_ctlcluster --skip-systemctl-redirect "$version" main start || sudo_if_needed pg_ctlcluster "$version" main start
    for _ in $(seq 1 30); do
        pg_isready -h 127.0.0.1 -p 5432 -q && break
        sleep 1
    done
    pg_isready -h 127.0.0.1 -p 5432 -q || { echo "PostgreSQL did not start on 127.0.0.1:5432." >&2; exit 1; }
    # The tests sign in as postgres/postgres; a server that trusts local connections ignores the password.
    sudo_if_needed su postgres -c "psql -qc \"ALTER USER postgres PASSWORD 'postgres'\""
}

# ensure_postgres_tls: the test PostgreSQL presents a certificate for "localhost" signed by a CA of
# our own (not one the OS trusts), so the tests can check that ClinicPay verifies the database server:
# accepted with the CA (database-ca-file), refused without it or under another name. Exports
# CLINICPAY_TEST_PG_CA, the CA's certificate. Kept between runs; made again when missing or expiring.
# make_localhost_certificate DIR CA_NAME: a throwaway CA (DIR/ca.pem) and a certificate for "localhost"
# it signed (DIR/server.pem, DIR/server.key), for the test servers that speak TLS.
make_localhost_certificate() {
    local work="$1"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=$2" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -keyout "$work/ca.key" -out "$work/ca.pem" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout "$work/server.key" -out "$work/server.csr" 2>/dev/null
    printf 'subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$work/ext"
    openssl x509 -req -in "$work/server.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial \
        -days 3650 -extfile "$work/ext" -out "$work/server.pem" 2>/dev/null
}

# ensure_gateway_tls: a certificate for "localhost" from a test CA that this computer's trust store
# (update-ca-certificates) accepts, and socat, so an end-to-end test can put the gateway simulator behind
# https as a live clinic's gateway is (a shipped build sends a live key over https only). The CA's key is
# thrown away once the certificate is signed: nothing else can be made to pass as this CA. Exports
# CLINICPAY_TEST_GATEWAY_TLS (the folder with server.pem and server.key).
ensure_gateway_tls() {
    local dir="${CLINICPAY_CACHE:-$HOME/.cache/clinicpay}/gateway-tls"
    local trusted=/usr/local/share/ca-certificates/clinicpay-test-gateway-ca.crt
    export CLINICPAY_TEST_GATEWAY_TLS="$dir"
    apt_install openssl socat ca-certificates
    if [ -s "$dir/server.pem" ] && [ -s "$dir/server.key" ] && [ -s "$trusted" ] && cmp -s "$dir/ca.pem" "$trusted" &&
        openssl x509 -checkend 604800 -noout -in "$dir/server.pem" >/dev/null; then
        return 0
    fi
    say "a test CA for the gateway simulator's https, trusted by this computer"
    mkdir -p "$dir"
    local work
    work="$(mktemp -d)"
    make_localhost_certificate "$work" "ClinicPay test gateway CA"
    cp "$work/server.pem" "$work/server.key" "$work/ca.pem" "$dir/"
    chmod 600 "$dir/server.key"
    rm -rf "$work"
    sudo_if_needed cp "$dir/ca.pem" "$trusted"
    sudo_if_needed update-ca-certificates >/dev/null
}

ensure_postgres_tls() {
    local server_dir=/var/lib/postgresql/clinicpay-test-tls
    local ca_dir="${CLINICPAY_CACHE:-$HOME/.cache/clinicpay}/pg-tls"
    export CLINICPAY_TEST_PG_CA="$ca_dir/ca.pem"
    local admin="postgresql://postgres:postgres@127.0.0.1:5432/postgres?sslmode=disable"
    if [ -s "$CLINICPAY_TEST_PG_CA" ] && sudo_if_needed test -s "$server_dir/server.key" &&
        openssl x509 -checkend 604800 -noout -in "$CLINICPAY_TEST_PG_CA" >/dev/null &&
        [ "$(psql "$admin" -Atqc 'SHOW ssl_cert_file')" = "$server_dir/server.pem" ] &&
        [ "$(psql "$admin" -Atqc 'SHOW ssl')" = on ]; then
        return 0
    fi
    say "giving the test PostgreSQL a certificate from a test CA"
    apt_install openssl
    mkdir -p "$ca_dir"
    local work
    work="$(mktemp -d)"
    make_localhost_certificate "$work" "ClinicPay test CA"
    sudo_if_needed mkdir -p "$server_dir"
    sudo_if_needed cp "$work/server.pem" "$work/server.key" "$server_dir/"
    sudo_if_needed chown -R postgres:postgres "$server_dir"
    sudo_if_needed chmod 600 "$server_dir/server.key"
    cp "$work/ca.pem" "$CLINICPAY_TEST_PG_CA"
    rm -rf "$work"
    psql "$admin" -qc "ALTER SYSTEM SET ssl_cert_file = '$server_dir/server.pem'" \
        -c "ALTER SYSTEM SET ssl_key_file = '$server_dir/server.key'" -c "ALTER SYSTEM SET ssl = on" \
        -c "SELECT pg_reload_conf()" >/dev/null
    for _ in $(seq 1 20); do
        [ "$(psql "$admin" -Atqc 'SHOW ssl_cert_file')" = "$server_dir/server.pem" ] && break
        sleep 0.5
    done
    [ "$(psql "postgresql://postgres:postgres@localhost:5432/postgres?sslmode=verify-full&sslrootcert=$CLINICPAY_TEST_PG_CA" -Atqc 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()')" = t ] || {
        echo "PostgreSQL on 127.0.0.1:5432 does not present the test certificate; see its log." >&2
        exit 1
    }
}

TOOLS="${CLINICPAY_CACHE:-$HOME/.cache/clinicpay}/tools"

# What Tauri 2 needs to compile and link on Linux (reference/machine.md).
ensure_desktop_build_deps() {
    apt_install build-essential pkg-config libssl-dev libwebkit2gtk-4.1-dev libayatana-appindicator3-dev librsvg2-dev
}

# A private D-Bus session with an unlocked gnome-keyring: the real Secret Service the keychain tests use.
ensure_keychain_tools() {
    apt_install dbus dbus-x11 gnome-keyring libsecret-tools libdbus-1-dev pkg-config
}

# localstripe (PyPI) in a private virtualenv: the Stripe client's tests run against it.
LOCALSTRIPE_VERSION=1.15.10
ensure_localstripe() {
    local venv="$HOME/.cache/clinicpay/venv"
    if [ "$("$venv/bin/pip" show localstripe 2>/dev/null | sed -n 's/^Version: //p')" != "$LOCALSTRIPE_VERSION" ]; then
        say "installing localstripe $LOCALSTRIPE_VERSION"
        python3 -m venv "$venv" 2>/dev/null || { apt_install python3-venv; rm -rf "$venv"; python3 -m venv "$venv"; }
        "$venv/bin/pip" install --quiet --disable-pip-version-check "localstripe==$LOCALSTRIPE_VERSION"
    fi
    export CLINICPAY_LOCALSTRIPE="$venv/bin/localstripe"
}

# aiosmtpd (PyPI): a real SMTP server the reminder tests start and read the delivered mail from.
AIOSMTPD_VERSION=1.4.6
ensure_smtp_server() {
    local venv="$HOME/.cache/clinicpay/venv"
    [ -x "$venv/bin/pip" ] || { python3 -m venv "$venv" 2>/dev/null || { apt_install python3-venv; python3 -m venv "$venv"; }; }
    if [ "$("$venv/bin/pip" show aiosmtpd 2>/dev/null | sed -n 's/^Version: //p')" != "$AIOSMTPD_VERSION" ]; then
        say "installing aiosmtpd $AIOSMTPD_VERSION"
        "$venv/bin/pip" install --quiet --disable-pip-version-check "aiosmtpd==$AIOSMTPD_VERSION"
    fi
    export CLINICPAY_SMTP_PYTHON="$venv/bin/python"
}

ensure_node() {
    local major
    major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
    if [ "$major" -lt 20 ]; then
        apt_install nodejs npm
        major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
        [ "$major" -ge 20 ] || { echo "ClinicPay's window needs Node.js 20 or newer to build; this machine has $(node --version 2>/dev/null || echo none)." >&2; exit 1; }
    fi
}

# ui/node_modules, installed from the lock file, again only when the lock file changed.
ensure_ui_packages() {
    ensure_node
    local stamp="$ROOT/ui/node_modules/.clinicpay-lock"
    local want
    want="$(sha256sum "$ROOT/ui/package-lock.json" | cut -d' ' -f1)"
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        say "installing the window's npm packages"
        (cd "$ROOT/ui" && npm ci --no-audit --no-fund --loglevel=error)
        echo "$want" >"$stamp"
    fi
}

build_ui() {
    ensure_ui_packages
    say "building the window (TypeScript strict, Vite)"
    (cd "$ROOT/ui" && npm run --silent build)
}

# Xvfb, WebKitWebDriver and tauri-driver for the end-to-end tests.
ensure_e2e_tools() {
    apt_install xvfb x11-utils webkit2gtk-driver xauth imagemagick
    ensure_ui_packages
    if [ ! -x "$TOOLS/bin/tauri-driver" ]; then
        say "installing tauri-driver 2.1.0"
        CARGO_TARGET_DIR="$TOOLS/build" cargo install tauri-driver --locked --version 2.1.0 --root "$TOOLS" --quiet
    fi
}

# A virtual display for the window when the machine has none (or always, for tests: CLINICPAY_XVFB=1).
start_xvfb() {
    local display="${CLINICPAY_XVFB_DISPLAY:-:99}"
    if [ -z "${DISPLAY:-}" ] || [ "${CLINICPAY_XVFB:-}" = 1 ]; then
        if ! xdpyinfo -display "$display" >/dev/null 2>&1; then
            Xvfb "$display" -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
            XVFB_PID=$!
            for _ in $(seq 1 50); do
                xdpyinfo -display "$display" >/dev/null 2>&1 && break
                sleep 0.1
            done
        fi
        export DISPLAY="$display"
    fi
}

# start_window_driver LOGFILE: a virtual display, then tauri-driver (over WebKitWebDriver) on port 4444,
# ready for WebDriver sessions. stop_window_driver ends both.
start_window_driver() {
    CLINICPAY_XVFB=1 start_xvfb
    "$TOOLS/bin/tauri-driver" --port 4444 --native-driver /usr/bin/WebKitWebDriver >"$1" 2>&1 &
    DRIVER_PID=$!
    for _ in $(seq 1 50); do
        (exec 3<>/dev/tcp/127.0.0.1/4444) 2>/dev/null && return 0
        sleep 0.2
    done
    echo "tauri-driver did not start; its log:" >&2
    cat "$1" >&2
    return 1
}

stop_window_driver() {
    [ -n "${DRIVER_PID:-}" ] && kill "$DRIVER_PID" 2>/dev/null || true
    [ -n "${XVFB_PID:-}" ] && kill "$XVFB_PID" 2>/dev/null || true
}

# The Tauri CLI (npm's prebuilt @tauri-apps/cli, same minor as the tauri crate) in the tools folder, so
# ui/package-lock.json stays free of its platform packages. Sets TAURI.
TAURI_CLI_VERSION=2.12.5
# stage_packaged_cli: the release `clinicpay` command, where tauri.conf.json's bundle takes it from
# (src-tauri/packaged/clinicpay-TRIPLE, Tauri's externalBin: /usr/bin/clinicpay in the .deb, beside the app
# in the MSI and the .app). Run before `tauri build --config tauri.packaging.conf.json`.
stage_packaged_cli() {
    say "building the clinicpay command for the package"
    cargo build --release --locked -p clinicpay-cli --bin clinicpay
    mkdir -p "$ROOT/src-tauri/packaged"
    # Tauri's externalBin (src-tauri/tauri.packaging.conf.json) takes it by the build's target triple.
    local triple
    triple="$(rustc -vV | sed -n 's/^host: //p')"
    install -m 0755 "$CARGO_TARGET_DIR/release/clinicpay" "$ROOT/src-tauri/packaged/clinicpay-$triple"
}

ensure_tauri_cli() {
    ensure_node
    local dir="$TOOLS/tauri-cli"
    if [ "$("$dir/node_modules/.bin/tauri" --version 2>/dev/null)" != "tauri-cli $TAURI_CLI_VERSION" ]; then
        say "installing the Tauri CLI $TAURI_CLI_VERSION"
        mkdir -p "$dir"
        [ -f "$dir/package.json" ] || echo '{"private": true}' >"$dir/package.json"
        (cd "$dir" && npm install --no-audit --no-fund --loglevel=error "@tauri-apps/cli@$TAURI_CLI_VERSION")
    fi
    TAURI="$dir/node_modules/.bin/tauri"
}
