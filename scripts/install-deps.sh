#!/usr/bin/env bash
# Install what Sluice's build, tests and demo need, and only what is missing. Safe to re-run:
# a second run does no network work and takes about a second.
#
#   scripts/install-deps.sh [--no-python]
#
# 1. Debian packages (apt-get update runs once, and only if something is missing):
#    build: libsqlite3-dev libzstd-dev libsnappy-dev zlib1g-dev libpq-dev libmariadb-dev
#    servers: postgresql-15 mariadb-server mariadb-client; tools: bc
#    Spark's JVM: openjdk-17-jre-headless, only when no Java 17 is there
# 2. A Python venv (default REPO/.venv, or $SLUICE_VENV) with the independent readers listed in
#    scripts/requirements-readers.txt (pyspark included). Tests use it through SLUICE_PYTHON=<venv>/bin/python.
# 3. A second venv (default REPO/.venv-duckdb15, or $SLUICE_DUCKDB15_VENV) with DuckDB 1.5.5 and its
#    iceberg and delta extensions (scripts/requirements-duckdb15.txt; the extension wheels exist only for
#    1.5.5). Tests use it through SLUICE_DUCKDB15_PYTHON=<venv>/bin/python.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
VENV=${SLUICE_VENV:-$REPO/.venv}
REQUIREMENTS=$REPO/scripts/requirements-readers.txt
# Modules that must import for the venv to count as complete.
PY_IMPORT="import pyarrow, duckdb, pyiceberg, sqlalchemy, fastavro, deltalake, mcp, yaml, pyspark"
VENV_DUCKDB15=${SLUICE_DUCKDB15_VENV:-$REPO/.venv-duckdb15}
REQUIREMENTS_DUCKDB15=$REPO/scripts/requirements-duckdb15.txt
PY_IMPORT_DUCKDB15="import duckdb, pytz, duckdb_extension_iceberg, duckdb_extension_delta; \
assert duckdb.__version__ == '1.5.5', duckdb.__version__"

log() { printf '[deps] %s\n' "$*" >&2; }
die() { printf '[deps] error: %s\n' "$*" >&2; exit 1; }

want_python=1
for arg in "$@"; do
    case $arg in
        --no-python) want_python=0 ;;
        -h | --help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument: $arg" ;;
    esac
done

installed=()

# Debian packages --------------------------------------------------------------------------------

APT_PACKAGES=(
    libsqlite3-dev libzstd-dev libsnappy-dev zlib1g-dev libpq-dev libmariadb-dev
    mariadb-server mariadb-client
    bc
)

pkg_installed() {
    [[ $(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true) == installed ]]
}

# A Java 17 for Spark (the `java` on PATH, or Debian's in /usr/lib/jvm).
java17_present() {
    local java
    for java in java /usr/lib/jvm/java-17-openjdk-*/bin/java; do
        command -v "$java" >/dev/null 2>&1 || continue
        "$java" -version 2>&1 | grep -q 'version "17[."]' && return 0
    done
    return 1
}

missing=()
for p in "${APT_PACKAGES[@]}"; do
    pkg_installed "$p" || missing+=("$p")
done
java17_present || missing+=(openjdk-17-jre-headless)
# PostgreSQL 15 server: whatever package provides /usr/lib/postgresql/15 (postgresql-15 on
# Debian 12). psql comes with it (postgresql-client-15).
if [[ ! -x /usr/lib/postgresql/15/bin/postgres || ! -x /usr/lib/postgresql/15/bin/initdb ]]; then
    missing+=(postgresql-15)
fi
command -v psql >/dev/null 2>&1 || missing+=(postgresql-client-15)

if [[ ${#missing[@]} -gt 0 ]]; then
    log "missing Debian packages: ${missing[*]}"
    SUDO=()
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null 2>&1 || die "not root and no sudo: install ${missing[*]} by hand"
        SUDO=(sudo -n)
    fi
    export DEBIAN_FRONTEND=noninteractive
    # Wait for another apt/dpkg run (e.g. unattended upgrades) instead of failing on its lock.
    APT_OPTS=(-o DPkg::Lock::Timeout=600 -o Acquire::Retries=3)
    log "apt-get update"
    "${SUDO[@]}" apt-get "${APT_OPTS[@]}" update -qq </dev/null
    log "apt-get install ${missing[*]}"
    # Package scripts must not start the system's own database services: we run our own.
    # (policy-rc.d is only added for this install when none exists, and removed after.)
    policy_added=0
    if [[ ! -e /usr/sbin/policy-rc.d && $(id -u) -eq 0 ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        policy_added=1
    fi
    # The JRE's postinst links its man pages into /usr/share/man/man1, which slim images lack.
    if [[ " ${missing[*]} " == *" openjdk-17-jre-headless "* ]]; then
        "${SUDO[@]}" mkdir -p /usr/share/man/man1
    fi
    rc=0
    "${SUDO[@]}" apt-get "${APT_OPTS[@]}" install -y -qq --no-install-recommends "${missing[@]}" \
        </dev/null || rc=$?
    if [[ $policy_added -eq 1 ]]; then rm -f /usr/sbin/policy-rc.d; fi
    [[ $rc -eq 0 ]] || die "apt-get install failed ($rc)"
    installed+=("${missing[@]}")
else
    log "Debian packages: all present"
fi

# Python readers ---------------------------------------------------------------------------------

venv_complete() { # venv_complete VENV REQUIREMENTS IMPORT
    [[ -x $1/bin/python ]] || return 1
    # Re-install when the requirements file changed since the last successful install.
    [[ -f $1/.sluice-requirements ]] && cmp -s "$2" "$1/.sluice-requirements" || return 1
    "$1/bin/python" -c "$3" >/dev/null 2>&1
}

make_venv() { # make_venv VENV
    # pyenv's CPython ships ensurepip; Debian's python3 needs python3-venv for it.
    local venv=$1 py
    for py in python3 /usr/bin/python3; do
        command -v "$py" >/dev/null 2>&1 || continue
        rm -rf "$venv"
        if "$py" -m venv "$venv" >/dev/null 2>&1 && [[ -x $venv/bin/pip ]]; then
            log "created venv $venv with $("$venv/bin/python" --version 2>&1)"
            return 0
        fi
    done
    # Last resort: Debian's python3-venv, then try again with the system python.
    if [[ $(id -u) -eq 0 ]] && ! pkg_installed python3-venv; then
        log "python3 -m venv does not work; installing python3-venv"
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
            --no-install-recommends python3-venv </dev/null ||
            { apt-get update -qq </dev/null &&
                DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
                    python3-venv </dev/null; }
        installed+=(python3-venv)
        rm -rf "$venv"
        /usr/bin/python3 -m venv "$venv" && [[ -x $venv/bin/pip ]] && return 0
    fi
    return 1
}

fill_venv() { # fill_venv VENV REQUIREMENTS IMPORT WHAT
    local venv=$1 requirements=$2 import=$3 what=$4
    if venv_complete "$venv" "$requirements" "$import"; then
        log "$what: all present in $venv"
        return 0
    fi
    if [[ ! -x $venv/bin/pip ]] || ! "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; then
        make_venv "$venv" || die "could not create a Python venv at $venv"
    fi
    log "pip install -r $(basename "$requirements") into $venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        --progress-bar off -r "$requirements" </dev/null ||
        die "pip install failed"
    "$venv/bin/python" -c "$import" || die "$what installed but do not import"
    cp "$requirements" "$venv/.sluice-requirements"
    installed+=("python ($(basename "$venv")): $(tr '\n' ' ' < <(grep -v '^#' "$requirements" | grep .))")
}

if [[ $want_python -eq 1 ]]; then
    fill_venv "$VENV" "$REQUIREMENTS" "$PY_IMPORT" "Python readers"
    fill_venv "$VENV_DUCKDB15" "$REQUIREMENTS_DUCKDB15" "$PY_IMPORT_DUCKDB15" \
        "DuckDB 1.5.5 with its iceberg and delta extensions"
fi

if [[ ${#installed[@]} -gt 0 ]]; then
    log "installed: ${installed[*]}"
else
    log "nothing to install"
fi
