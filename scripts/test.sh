#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what is missing, checks formatting and lints, then runs
# every test on SQLite and on PostgreSQL.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

ensure_rust
ensure_build_tools
ensure_postgres
export CLINICPAY_TEST_PG="${CLINICPAY_TEST_PG:-postgres://postgres:postgres@127.0.0.1:5432/postgres}"

# Test schemas left by an interrupted earlier run.
if command -v psql >/dev/null 2>&1; then
    psql "$CLINICPAY_TEST_PG" -Atqc "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'cp\_t\_%'" 2>/dev/null |
        while read -r schema; do psql "$CLINICPAY_TEST_PG" -qc "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true; done
fi

say "cargo fmt --check"
cargo fmt --all -- --check

say "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

say "tests (SQLite and PostgreSQL)"
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --locked --no-fail-fast
else
    cargo test --workspace --locked --no-fail-fast
fi
say "all tests passed"
