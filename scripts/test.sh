#!/usr/bin/env bash
# Sluice's test command: what CI runs (through .ci/run) and what a developer runs.
#
#   scripts/test.sh [ARGS…]        ARGS go to `swift test`, e.g. --filter SluiceLogTests
#
# 1. scripts/install-deps.sh (installs only what is missing)
# 2. scripts/servers.sh start: a throwaway PostgreSQL 15 and MariaDB in a temp dir
# 3. exports SLUICE_TEST_PG_URL, SLUICE_TEST_MYSQL_URL, SLUICE_PYTHON, SLUICE_DUCKDB15_PYTHON, and
#    SLUICE_REQUIRE_SERVERS=1 when CI is set (tests that need a server fail instead of skipping)
# 4. swift build, then swift test ARGS…
# 5. stops the servers and removes the temp dir, whatever happened (trap EXIT)
# Exits with swift test's exit code (or the first failing step's).
#
# Knobs: SLUICE_SKIP_DEPS=1 skips step 1; SLUICE_NO_SERVERS=1 skips step 2 (server tests skip);
# SLUICE_TEST_PARALLEL=1 runs the tests in parallel (by default one at a time: see below);
# SLUICE_KEEP_SERVERS_DIR=1 keeps the servers' dir (logs, data) after stopping them.
# shellcheck disable=SC2317  # cleanup/on_signal run from traps
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$REPO"
# The toolchain lives in /opt/swift on these machines; don't depend on PATH having it.
if ! command -v swift >/dev/null 2>&1 && [[ -x /opt/swift/usr/bin/swift ]]; then
    export PATH=/opt/swift/usr/bin:$PATH
fi

section() { printf '\n==== %s ====\n' "$*"; }
started=$(date +%s)

SERVERS_DIR=""
cleanup() {
    local rc=$?
    trap - EXIT INT TERM HUP
    if [[ -n $SERVERS_DIR ]]; then
        section "Stopping servers"
        if [[ $rc -ne 0 ]]; then
            # Server-side view of a failure: the last lines of each server's log.
            for f in "$SERVERS_DIR/pg/server.log" "$SERVERS_DIR/my/error.log"; do
                if [[ -s $f ]]; then echo "--- last lines of $f"; tail -n 20 "$f" || true; fi
            done
        fi
        bash "$REPO/scripts/servers.sh" stop "$SERVERS_DIR" || echo "warning: stopping the servers failed" >&2
    fi
    section "Done in $(($(date +%s) - started))s, exit code $rc"
    exit "$rc"
}
trap cleanup EXIT
# Turn signals into an exit so that the EXIT trap (and so the cleanup) runs. The long steps run
# as a background child that we wait for, so a signal is handled at once and passed on to it.
CHILD=""
on_signal() {
    if [[ -n $CHILD ]] && kill -0 "$CHILD" 2>/dev/null; then
        # The child leads its own process group (setsid): end it with everything it started.
        kill -TERM -- "-$CHILD" 2>/dev/null || kill -TERM "$CHILD" 2>/dev/null || true
        wait "$CHILD" 2>/dev/null || true
    fi
    exit "$1"
}
trap 'on_signal 130' INT
trap 'on_signal 143' TERM
trap 'on_signal 129' HUP

# run_child CMD…: run CMD as a waited-for child in its own process group; returns its exit code.
run_child() {
    setsid "$@" &
    CHILD=$!
    local rc=0
    wait "$CHILD" || rc=$?
    CHILD=""
    return "$rc"
}

section "Dependencies"
if [[ -n ${SLUICE_SKIP_DEPS:-} ]]; then
    echo "skipped (SLUICE_SKIP_DEPS is set)"
else
    bash "$REPO/scripts/install-deps.sh"
fi
venv=${SLUICE_VENV:-$REPO/.venv}
if [[ -x $venv/bin/python ]]; then
    export SLUICE_PYTHON=$venv/bin/python
fi
# DuckDB 1.5.5 with its iceberg and delta extensions (install-deps.sh's second venv).
venv_duckdb15=${SLUICE_DUCKDB15_VENV:-$REPO/.venv-duckdb15}
if [[ -x $venv_duckdb15/bin/python ]]; then
    export SLUICE_DUCKDB15_PYTHON=$venv_duckdb15/bin/python
fi

if [[ -n ${SLUICE_NO_SERVERS:-} ]]; then
    section "Servers"
    echo "skipped (SLUICE_NO_SERVERS is set)"
else
    section "Starting PostgreSQL and MariaDB"
    SERVERS_DIR=$(mktemp -d /tmp/sluice-test.XXXXXX)
    bash "$REPO/scripts/servers.sh" start "$SERVERS_DIR" >/dev/null
    eval "$(bash "$REPO/scripts/servers.sh" env "$SERVERS_DIR")"
fi

if [[ -n ${CI:-} ]]; then
    export SLUICE_REQUIRE_SERVERS=1
fi

section "Environment"
for v in SLUICE_TEST_PG_URL SLUICE_TEST_MYSQL_URL SLUICE_PYTHON SLUICE_DUCKDB15_PYTHON SLUICE_REQUIRE_SERVERS; do
    value=${!v:-<unset>}
    # Don't print the MariaDB password.
    [[ $v == SLUICE_TEST_MYSQL_URL ]] && value=$(sed -E 's#(://[^:/]*:)[^@]*@#\1***@#' <<<"$value")
    printf '%-24s %s\n' "$v" "$value"
done
swift --version 2>&1 | head -n 1

section "swift build"
run_child swift build

# Tests run one at a time: the server tests share one PostgreSQL and one MariaDB, and in parallel a dozen
# logical-decoding walsenders each decode every other test's WAL on two cores, so sources time out.
# SLUICE_TEST_PARALLEL=1 runs them in parallel (fine for suites without servers).
order=--no-parallel
[[ -n ${SLUICE_TEST_PARALLEL:-} ]] && order=--parallel
section "swift test $order $*"
rc=0
run_child swift test "$order" "$@" || rc=$?
if [[ $rc -eq 0 ]]; then
    section "Tests passed"
else
    section "Tests FAILED (swift test exit code $rc)"
fi
exit "$rc"
