#!/usr/bin/env bash
# Throwaway PostgreSQL 15 and MariaDB servers for Sluice's tests and demo.
#
#   scripts/servers.sh start [--postgres-only|--mysql-only] [DIR]
#       Start the servers in DIR (default: a new temp dir under /tmp), each on a free loopback
#       port, and write DIR/servers.env. Prints DIR on the last line of stdout.
#   scripts/servers.sh env DIR      Print `export …` lines for DIR/servers.env (use with eval).
#   scripts/servers.sh status DIR   Say whether each server of DIR is up.
#   scripts/servers.sh stop DIR     Stop the servers of DIR by their pids and remove DIR.
#
# Environment written to DIR/servers.env:
#   SLUICE_TEST_PG_URL=postgresql://postgres@127.0.0.1:PORT/postgres   (trust auth, superuser)
#   SLUICE_TEST_MYSQL_URL=mysql://sluice:PASSWORD@127.0.0.1:PORT/      (replication-capable user)
#   plus SLUICE_TEST_PG_PORT, SLUICE_TEST_PG_SOCKET_DIR, SLUICE_TEST_MYSQL_PORT,
#   SLUICE_TEST_MYSQL_SOCKET and the data dirs / pid files used by `stop`.
#
# PostgreSQL refuses to run as root, so when run as root the servers run as the `postgres` and
# `mysql` system users (created by the Debian packages); otherwise as the calling user.
# Servers are only ever stopped by the pids they recorded, never by process name.
set -euo pipefail

PG_BIN=${SLUICE_PG_BIN:-/usr/lib/postgresql/15/bin}
ENV_FILE_NAME=servers.env
MARKER_NAME=.sluice-servers
# Unix socket paths are limited to 107 bytes; our longest is DIR/pg/.s.PGSQL.NNNNN (~20 + DIR).
MAX_DIR_LEN=80
START_TIMEOUT=${SLUICE_SERVERS_START_TIMEOUT:-90}

log() { printf '[servers] %s\n' "$*" >&2; }
die() { printf '[servers] error: %s\n' "$*" >&2; exit 1; }

usage() {
    sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

is_root() { [[ $(id -u) -eq 0 ]]; }

# Run a command as USER when we are root, else as ourselves.
as_user() {
    local user=$1; shift
    if is_root; then
        if command -v runuser >/dev/null 2>&1; then
            runuser -u "$user" -- "$@"
        else
            su -s /bin/sh "$user" -c "$(printf '%q ' "$@")"
        fi
    else
        "$@"
    fi
}

own_dir() { # own_dir USER DIR
    if is_root; then chown "$1": "$2"; fi
}

# A free TCP port on 127.0.0.1. The kernel picks it; a race with another process is possible,
# so callers retry on "address in use".
free_port() {
    if command -v python3 >/dev/null 2>&1 &&
        python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()' 2>/dev/null; then
        return 0
    fi
    local p i
    for i in $(seq 1 200); do
        p=$(( 20000 + RANDOM % 40000 ))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
    done
    die "could not find a free port"
}

random_password() {
    od -An -N12 -tx1 /dev/urandom | tr -d ' \n'
}

# env-file helpers -------------------------------------------------------------------------------

env_put() { # env_put DIR KEY VALUE   (values are restricted to shell-safe characters)
    [[ $3 =~ ^[A-Za-z0-9_./:@%+=,-]*$ ]] || die "unsafe value for $2: $3"
    printf '%s=%s\n' "$2" "$3" >>"$1/$ENV_FILE_NAME"
}

env_get() { # env_get DIR KEY -> value or empty
    local f=$1/$ENV_FILE_NAME
    [[ -f $f ]] || return 0
    sed -n "s/^$2=//p" "$f" | tail -n 1
}

# Process helpers --------------------------------------------------------------------------------

pid_alive() { [[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null; }

# True if pid $1 is alive and its command line mentions $2 (guards against pid reuse).
pid_matches() {
    pid_alive "$1" || return 1
    [[ -r /proc/$1/cmdline ]] || return 0
    tr '\0' ' ' <"/proc/$1/cmdline" | grep -qF -- "$2"
}

wait_gone() { # wait_gone PID SECONDS
    local i
    for ((i = 0; i < $2 * 10; i++)); do
        pid_alive "$1" || return 0
        sleep 0.1
    done
    return 1
}

kill_pid() { # kill_pid PID NAME: TERM, wait, then KILL
    local pid=$1 name=$2
    pid_alive "$pid" || return 0
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait_gone "$pid" 60; then
        log "$name (pid $pid) did not stop after SIGTERM; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        wait_gone "$pid" 10 || log "$name (pid $pid) is still alive"
    fi
}

# PostgreSQL -------------------------------------------------------------------------------------

start_postgres() {
    local dir=$1
    [[ -x $PG_BIN/initdb && -x $PG_BIN/pg_ctl ]] ||
        die "PostgreSQL 15 binaries not found in $PG_BIN (run scripts/install-deps.sh)"
    if is_root; then id postgres >/dev/null 2>&1 || die "system user 'postgres' does not exist"; fi

    local pgdir=$dir/pg data=$dir/pg/data logf=$dir/pg/server.log
    mkdir -p "$pgdir"
    chmod 700 "$pgdir"
    own_dir postgres "$pgdir"

    log "PostgreSQL: initdb in $data"
    as_user postgres "$PG_BIN/initdb" -D "$data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 \
        >"$pgdir/initdb.log" 2>&1 ||
        { cat "$pgdir/initdb.log" >&2; die "initdb failed"; }

    local attempt port=""
    for attempt in 1 2 3 4 5; do
        port=$(free_port)
        # Settings go into postgresql.auto.conf so that a manual `pg_ctl restart` keeps them.
        as_user postgres tee "$data/postgresql.auto.conf" >/dev/null <<EOF
# Written by scripts/servers.sh
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$pgdir'
wal_level = logical
max_wal_senders = 20
max_replication_slots = 20
max_connections = 200
fsync = on
synchronous_commit = on
full_page_writes = on
logging_collector = off
log_min_messages = warning
EOF
        log "PostgreSQL: starting on 127.0.0.1:$port"
        if as_user postgres "$PG_BIN/pg_ctl" -D "$data" -l "$logf" -w -t "$START_TIMEOUT" start \
            >"$pgdir/pg_ctl.log" 2>&1; then
            break
        fi
        if grep -q "already in use" "$logf" 2>/dev/null && [[ $attempt -lt 5 ]]; then
            log "PostgreSQL: port $port was taken, retrying"
            continue
        fi
        tail -n 30 "$logf" >&2 2>/dev/null || true
        die "PostgreSQL did not start (log: $logf)"
    done

    local pid
    pid=$(head -n 1 "$data/postmaster.pid")
    # Check it answers over TCP as the tests will connect.
    if command -v psql >/dev/null 2>&1; then
        psql "postgresql://postgres@127.0.0.1:$port/postgres" -XAtqc "select 1" >/dev/null ||
            die "PostgreSQL started but does not answer on 127.0.0.1:$port"
    fi

    env_put "$dir" SLUICE_TEST_PG_URL "postgresql://postgres@127.0.0.1:$port/postgres"
    env_put "$dir" SLUICE_TEST_PG_PORT "$port"
    env_put "$dir" SLUICE_TEST_PG_SOCKET_DIR "$pgdir"
    env_put "$dir" SLUICE_TEST_PG_DATA "$data"
    env_put "$dir" SLUICE_TEST_PG_LOG "$logf"
    env_put "$dir" SLUICE_TEST_PG_PID "$pid"
    log "PostgreSQL: up (pid $pid, port $port)"
}

stop_postgres() {
    local dir=$1 data pid
    data=$(env_get "$dir" SLUICE_TEST_PG_DATA)
    [[ -z $data && -d $dir/pg/data ]] && data=$dir/pg/data
    [[ -n $data && -d $data ]] || return 0
    if [[ -f $data/postmaster.pid ]]; then
        pid=$(head -n 1 "$data/postmaster.pid" 2>/dev/null || true)
        if pid_alive "$pid"; then
            log "PostgreSQL: stopping (pid $pid)"
            as_user postgres "$PG_BIN/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null 2>&1 ||
                log "PostgreSQL: pg_ctl stop failed; signalling pid $pid"
            if pid_matches "$pid" "$data" || pid_matches "$pid" postgres; then
                kill_pid "$pid" postgres
            fi
        fi
    fi
    # A postmaster recorded at start but without a pid file any more.
    pid=$(env_get "$dir" SLUICE_TEST_PG_PID)
    if pid_matches "$pid" "$data"; then kill_pid "$pid" postgres; fi
}

# MariaDB ----------------------------------------------------------------------------------------

mariadb_server_bin() {
    local b
    for b in mariadbd /usr/sbin/mariadbd mysqld /usr/sbin/mysqld; do
        if command -v "$b" >/dev/null 2>&1; then command -v "$b"; return 0; fi
    done
    return 1
}

mariadb_client_bin() {
    local b
    for b in mariadb mysql; do
        if command -v "$b" >/dev/null 2>&1; then command -v "$b"; return 0; fi
    done
    return 1
}

start_mariadb() {
    local dir=$1 server client installdb
    server=$(mariadb_server_bin) || die "mariadbd not found (run scripts/install-deps.sh)"
    client=$(mariadb_client_bin) || die "mariadb client not found (run scripts/install-deps.sh)"
    installdb=$(command -v mariadb-install-db || command -v mysql_install_db) ||
        die "mariadb-install-db not found (run scripts/install-deps.sh)"
    if is_root; then id mysql >/dev/null 2>&1 || die "system user 'mysql' does not exist"; fi

    # Short paths: the socket must stay well under the unix socket path limit.
    local mydir=$dir/my data=$dir/my/data sock=$dir/my/sock pidf=$dir/my/pid logf=$dir/my/error.log
    mkdir -p "$mydir"
    chmod 700 "$mydir"
    own_dir mysql "$mydir"
    local userargs=()
    if is_root; then userargs=(--user=mysql); fi

    log "MariaDB: mariadb-install-db in $data"
    # --no-defaults: ignore /etc/mysql/*.cnf so the server is fully described by this script.
    # As root it runs as root and hands the files to mysql (--user), as the packages do.
    "$installdb" --no-defaults "${userargs[@]}" --datadir="$data" \
        --auth-root-authentication-method=normal --skip-test-db --skip-name-resolve >"$mydir/install.log" 2>&1 ||
        { tail -n 30 "$mydir/install.log" >&2; die "mariadb-install-db failed"; }

    local attempt port="" pid="" up=0 i
    for attempt in 1 2 3 4 5; do
        port=$(free_port)
        rm -f "$pidf" "$sock"
        : >"$logf"; own_dir mysql "$logf"
        log "MariaDB: starting on 127.0.0.1:$port"
        # setsid: own session, so it is not hit by the terminal's signals; stopped by pid only.
        setsid "$server" --no-defaults "${userargs[@]}" --datadir="$data" \
            --port="$port" --bind-address=127.0.0.1 --socket="$sock" --pid-file="$pidf" \
            --log-error="$logf" --skip-name-resolve \
            --log-bin="$mydir/binlog" --server-id=1 --binlog-format=ROW \
            --binlog-row-image=FULL --binlog-row-metadata=FULL \
            --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci \
            --max-connections=300 --innodb-flush-log-at-trx-commit=1 --sync-binlog=1 \
            </dev/null >>"$mydir/stdout.log" 2>&1 &
        local spid=$!
        up=0
        for ((i = 0; i < START_TIMEOUT * 5; i++)); do
            if "$client" --no-defaults -S "$sock" -uroot -e "SELECT 1" >/dev/null 2>&1; then
                up=1; break
            fi
            if ! pid_alive "$spid"; then break; fi
            sleep 0.2
        done
        if [[ $up -eq 1 ]]; then break; fi
        if pid_alive "$spid"; then kill_pid "$spid" mariadbd; fi
        if grep -qi "already in use\|Can't start server: Bind" "$logf" 2>/dev/null && [[ $attempt -lt 5 ]]; then
            log "MariaDB: port $port was taken, retrying"
            continue
        fi
        tail -n 30 "$logf" >&2 2>/dev/null || true
        die "MariaDB did not start (log: $logf)"
    done

    for ((i = 0; i < 50; i++)); do [[ -s $pidf ]] && break; sleep 0.1; done
    pid=$(cat "$pidf" 2>/dev/null || echo "$spid")

    local password
    password=$(random_password)
    # MariaDB 10.11: REPLICATION SLAVE (read the binlog), BINLOG MONITOR (SHOW BINARY LOGS /
    # SHOW MASTER STATUS; REPLICATION CLIENT is its old alias), plus everything else for tests.
    # Anonymous users (if this version creates them) would shadow sluice@localhost, and root@HOSTNAME
    # only draws warnings under --skip-name-resolve: drop them.
    "$client" --no-defaults -S "$sock" -uroot <<EOF || die "could not create the sluice user"
DELETE FROM mysql.global_priv WHERE User = '';
DELETE FROM mysql.global_priv WHERE Host NOT IN ('localhost', '127.0.0.1', '::1', '%');
DELETE FROM mysql.proxies_priv WHERE Host NOT IN ('localhost', '127.0.0.1', '::1', '%');
FLUSH PRIVILEGES;
CREATE USER 'sluice'@'%' IDENTIFIED BY '$password';
GRANT ALL PRIVILEGES ON *.* TO 'sluice'@'%' WITH GRANT OPTION;
GRANT REPLICATION SLAVE, REPLICATION CLIENT, BINLOG MONITOR, REPLICATION MASTER ADMIN,
      REPLICATION SLAVE ADMIN, BINLOG ADMIN ON *.* TO 'sluice'@'%';
CREATE USER 'sluice'@'localhost' IDENTIFIED BY '$password';
GRANT ALL PRIVILEGES ON *.* TO 'sluice'@'localhost' WITH GRANT OPTION;
FLUSH PRIVILEGES;
EOF
    "$client" --no-defaults -h 127.0.0.1 -P "$port" -usluice -p"$password" -e "SHOW BINARY LOGS" \
        >/dev/null || die "MariaDB started but the sluice user cannot SHOW BINARY LOGS over TCP"

    env_put "$dir" SLUICE_TEST_MYSQL_URL "mysql://sluice:$password@127.0.0.1:$port/"
    env_put "$dir" SLUICE_TEST_MYSQL_PORT "$port"
    env_put "$dir" SLUICE_TEST_MYSQL_SOCKET "$sock"
    env_put "$dir" SLUICE_TEST_MYSQL_DATA "$data"
    env_put "$dir" SLUICE_TEST_MYSQL_LOG "$logf"
    env_put "$dir" SLUICE_TEST_MYSQL_PIDFILE "$pidf"
    env_put "$dir" SLUICE_TEST_MYSQL_PID "$pid"
    log "MariaDB: up (pid $pid, port $port)"
}

stop_mariadb() {
    local dir=$1 data pidf pid p
    data=$(env_get "$dir" SLUICE_TEST_MYSQL_DATA)
    [[ -z $data ]] && data=$dir/my/data
    pidf=$(env_get "$dir" SLUICE_TEST_MYSQL_PIDFILE)
    [[ -z $pidf ]] && pidf=$dir/my/pid
    # The pid file first, then the pid recorded at start (in case the file is gone).
    for p in "$(cat "$pidf" 2>/dev/null || true)" "$(env_get "$dir" SLUICE_TEST_MYSQL_PID)"; do
        [[ -n $p ]] || continue
        if pid_matches "$p" "$data"; then
            log "MariaDB: stopping (pid $p)"
            kill_pid "$p" mariadbd
        fi
    done
}

# Commands ---------------------------------------------------------------------------------------

cmd_start() {
    local want_pg=1 want_my=1 dir=""
    while [[ $# -gt 0 ]]; do
        case $1 in
            --postgres-only) want_my=0 ;;
            --mysql-only | --mariadb-only) want_pg=0 ;;
            -h | --help) usage ;;
            -*) die "unknown option $1" ;;
            *) [[ -z $dir ]] || die "only one DIR"; dir=$1 ;;
        esac
        shift
    done

    if [[ -z $dir ]]; then
        dir=$(mktemp -d /tmp/sluice-srv.XXXXXX)
    else
        mkdir -p "$dir"
        dir=$(cd "$dir" && pwd -P)
        [[ -z $(ls -A "$dir") ]] || die "$dir is not empty"
    fi
    [[ ${#dir} -le $MAX_DIR_LEN ]] ||
        die "$dir is too long for unix socket paths (max $MAX_DIR_LEN chars); use a shorter DIR"
    # The server users must be able to reach their sub-directories.
    chmod 755 "$dir"
    if is_root && id nobody >/dev/null 2>&1 && command -v runuser >/dev/null 2>&1; then
        local d=$dir
        while [[ $d != / ]]; do
            d=$(dirname "$d")
            if ! runuser -u nobody -- test -x "$d" 2>/dev/null; then
                die "$d is not searchable by other users; the postgres/mysql users cannot reach $dir"
            fi
        done
    fi
    : >"$dir/$MARKER_NAME"
    : >"$dir/$ENV_FILE_NAME"
    env_put "$dir" SLUICE_SERVERS_DIR "$dir"

    # On any failure, stop whatever already started and remove the dir.
    trap 'rc=$?; if [[ $rc -ne 0 ]]; then log "start failed; cleaning up $dir"; cmd_stop "$dir" || true; fi' EXIT

    if [[ $want_pg -eq 1 ]]; then start_postgres "$dir"; fi
    if [[ $want_my -eq 1 ]]; then start_mariadb "$dir"; fi

    trap - EXIT
    log "servers are up; env file: $dir/$ENV_FILE_NAME"
    log "use:  eval \"\$($0 env $dir)\"   and stop with:  $0 stop $dir"
    echo "$dir"
}

cmd_env() {
    local dir=${1:-}
    [[ -n $dir ]] || usage
    [[ -f $dir/$ENV_FILE_NAME ]] || die "no $ENV_FILE_NAME in $dir"
    local key value
    while IFS='=' read -r key value; do
        [[ $key =~ ^[A-Z_][A-Z0-9_]*$ ]] || continue
        printf 'export %s=%q\n' "$key" "$value"
    done <"$dir/$ENV_FILE_NAME"
}

cmd_status() {
    local dir=${1:-} rc=0 pid data
    [[ -n $dir && -f $dir/$ENV_FILE_NAME ]] || die "no $ENV_FILE_NAME in ${dir:-<none>}"
    data=$(env_get "$dir" SLUICE_TEST_PG_DATA)
    if [[ -n $data ]]; then
        pid=$(head -n 1 "$data/postmaster.pid" 2>/dev/null || true)
        if pid_alive "$pid"; then echo "postgres: up (pid $pid, port $(env_get "$dir" SLUICE_TEST_PG_PORT))"
        else echo "postgres: down"; rc=1; fi
    fi
    data=$(env_get "$dir" SLUICE_TEST_MYSQL_DATA)
    if [[ -n $data ]]; then
        pid=$(cat "$(env_get "$dir" SLUICE_TEST_MYSQL_PIDFILE)" 2>/dev/null || true)
        if pid_matches "$pid" "$data"; then echo "mariadb: up (pid $pid, port $(env_get "$dir" SLUICE_TEST_MYSQL_PORT))"
        else echo "mariadb: down"; rc=1; fi
    fi
    return $rc
}

cmd_stop() {
    local dir=${1:-}
    [[ -n $dir ]] || usage
    if [[ ! -d $dir ]]; then log "$dir does not exist; nothing to stop"; return 0; fi
    [[ -f $dir/$MARKER_NAME ]] || die "$dir was not made by servers.sh (no $MARKER_NAME); not touching it"
    stop_postgres "$dir"
    stop_mariadb "$dir"
    if [[ -n ${SLUICE_KEEP_SERVERS_DIR:-} ]]; then
        log "keeping $dir (SLUICE_KEEP_SERVERS_DIR is set)"
    else
        rm -rf -- "$dir"
        log "removed $dir"
    fi
}

[[ $# -ge 1 ]] || usage
command=$1; shift
case $command in
    start) cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    env) cmd_env "$@" ;;
    status) cmd_status "$@" ;;
    -h | --help | help) usage ;;
    *) usage ;;
esac
