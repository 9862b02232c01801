#!/usr/bin/env bash
# Sluice's main job, end to end, on this machine:
#
#   scripts/demo.sh
#
#  1. installs what is missing (scripts/install-deps.sh)
#  2. starts a throwaway PostgreSQL 15 (scripts/servers.sh start --postgres-only)
#  3. creates a demo table `public.orders` with rows
#  4. writes the pipeline from connectors/examples/demo-postgres.yaml into a temp dir
#  5. builds sluice in release mode
#  6. sluice run PIPELINE --until-caught-up while changes keep coming (twice: the second run resumes and picks up the
#     changes made meanwhile)
#  7. sluice log streams / sluice log read     (the change events as JSON lines)
#  8. an agent's view: an MCP query through the Python MCP client (sluice mcp on stdio)
#  9. stops the server and removes the temp dir (trap EXIT)
#
# The pipeline file takes its settings from the environment (the runtime substitutes ${VAR}):
#   SLUICE_PG_URL    the PostgreSQL to capture (here: the throwaway server)
#   SLUICE_DATA_DIR  where the core log and sink output go (here: a temp dir)
# Steps whose command does not exist yet say "not yet available" and are skipped.
# Knobs: SLUICE_KEEP_DEMO=1 keeps the demo dir (log, output); SLUICE_BIN=PATH uses that sluice
# instead of building one; SLUICE_DEMO_PIPELINE=FILE uses another pipeline file;
# SLUICE_DEMO_ROWS (1000) and SLUICE_DEMO_CHANGE_ROUNDS (20) size the data.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$REPO"
# The toolchain lives in /opt/swift on these machines; don't depend on PATH having it.
if ! command -v swift >/dev/null 2>&1 && [[ -x /opt/swift/usr/bin/swift ]]; then
    export PATH=/opt/swift/usr/bin:$PATH
fi

EXAMPLE=${SLUICE_DEMO_PIPELINE:-$REPO/connectors/examples/demo-postgres.yaml}
ROWS=${SLUICE_DEMO_ROWS:-1000}
CHANGE_ROUNDS=${SLUICE_DEMO_CHANGE_ROUNDS:-20}

section() { printf '\n==== %s ====\n' "$*"; }
note() { printf '  %s\n' "$*"; }
not_yet() { printf '  (not yet available: %s — step skipped)\n' "$*"; }

SERVERS_DIR=""
WORK=""
CHANGER_PID=""
cleanup() {
    local rc=$?
    trap - EXIT INT TERM HUP
    if [[ -n $CHANGER_PID ]] && kill -0 "$CHANGER_PID" 2>/dev/null; then
        kill -TERM "$CHANGER_PID" 2>/dev/null || true
        wait "$CHANGER_PID" 2>/dev/null || true
    fi
    if [[ -n $SERVERS_DIR ]]; then
        section "Stopping PostgreSQL"
        bash "$REPO/scripts/servers.sh" stop "$SERVERS_DIR" || true
    fi
    if [[ -n $WORK && -d $WORK ]]; then
        if [[ -n ${SLUICE_KEEP_DEMO:-} ]]; then
            note "kept the demo dir: $WORK"
        else
            rm -rf -- "$WORK"
        fi
    fi
    if [[ $rc -eq 0 ]]; then section "Demo finished"; else section "Demo FAILED (exit code $rc)"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# ------------------------------------------------------------------------------------------------
section "1. Dependencies"
bash "$REPO/scripts/install-deps.sh"
PYTHON=${SLUICE_PYTHON:-${SLUICE_VENV:-$REPO/.venv}/bin/python}

# ------------------------------------------------------------------------------------------------
section "2. A throwaway PostgreSQL 15 (wal_level=logical)"
SERVERS_DIR=$(mktemp -d /tmp/sluice-demo-pg.XXXXXX)
bash "$REPO/scripts/servers.sh" start --postgres-only "$SERVERS_DIR" >/dev/null
eval "$(bash "$REPO/scripts/servers.sh" env "$SERVERS_DIR")"
export SLUICE_PG_URL=$SLUICE_TEST_PG_URL
note "SLUICE_PG_URL=$SLUICE_PG_URL"

WORK=$(mktemp -d /tmp/sluice-demo.XXXXXX)
export SLUICE_DATA_DIR=$WORK/data
mkdir -p "$SLUICE_DATA_DIR"
note "SLUICE_DATA_DIR=$SLUICE_DATA_DIR"

pg() { psql "$SLUICE_PG_URL" -X -q -v ON_ERROR_STOP=1 "$@"; }

# ------------------------------------------------------------------------------------------------
section "3. Demo table public.orders ($ROWS rows)"
pg <<SQL
CREATE TABLE public.orders (
    id          bigserial PRIMARY KEY,
    customer    text          NOT NULL,
    amount      numeric(12,2) NOT NULL,
    status      text          NOT NULL DEFAULT 'new',
    tags        text[],
    details     jsonb,
    created_at  timestamptz   NOT NULL DEFAULT now(),
    updated_at  timestamptz
);
INSERT INTO public.orders (customer, amount, status, tags, details)
SELECT 'customer-' || (i % 97),
       round((i * 7.31)::numeric % 1000, 2),
       (ARRAY['new','paid','shipped'])[1 + i % 3],
       ARRAY['demo', 'batch-' || (i % 5)],
       jsonb_build_object('items', i % 7 + 1, 'note', 'order ' || i)
FROM generate_series(1, $ROWS) AS i;
-- Full before-images for updates and deletes.
ALTER TABLE public.orders REPLICA IDENTITY FULL;
SQL
pg -Atc "SELECT count(*) || ' rows, ' || pg_size_pretty(pg_total_relation_size('public.orders'))
         FROM public.orders"

# Ongoing changes: a bounded background loop of inserts, updates and deletes (started with the first run,
# so that they arrive during and after its snapshot, whatever the build took).
changer() {
    local r
    for ((r = 1; r <= CHANGE_ROUNDS; r++)); do
        pg <<SQL >/dev/null
BEGIN;
INSERT INTO public.orders (customer, amount, tags, details)
  VALUES ('live-$r', $r.50, ARRAY['live'], '{"round": $r}');
UPDATE public.orders SET status = 'paid', updated_at = now() WHERE id = $((r * 3));
DELETE FROM public.orders WHERE id = $((r * 5 + 1));
COMMIT;
SQL
        sleep 0.5
    done
}

# ------------------------------------------------------------------------------------------------
section "4. Pipeline file"
PIPELINE=$WORK/pipeline.yaml
if [[ -f $EXAMPLE ]]; then
    cp "$EXAMPLE" "$PIPELINE"
    note "from ${EXAMPLE#"$REPO"/} -> $PIPELINE"
    sed 's/^/    /' "$PIPELINE"
else
    PIPELINE=""
    not_yet "${EXAMPLE#"$REPO"/} (the demo pipeline example)"
fi

# ------------------------------------------------------------------------------------------------
section "5. Build sluice (release)"
if [[ -n ${SLUICE_BIN:-} ]]; then
    SLUICE=$SLUICE_BIN
    note "using SLUICE_BIN=$SLUICE (no build)"
else
    swift build -c release --product sluice
    SLUICE=$REPO/.build/release/sluice
fi
"$SLUICE" --version 2>/dev/null || true

# has_command SUB…: does this sluice have the subcommand? (ArgumentParser rejects unknown ones)
has_command() { "$SLUICE" "$@" --help >/dev/null 2>&1; }

# ------------------------------------------------------------------------------------------------
section "6. sluice run --until-caught-up"
if [[ -z $PIPELINE ]]; then
    not_yet "a pipeline file to run"
elif ! has_command run; then
    not_yet "sluice run"
else
    if has_command validate; then "$SLUICE" validate "$PIPELINE" && note "pipeline is valid"; fi
    changer &
    CHANGER_PID=$!
    note "background changes: $CHANGE_ROUNDS transactions, one every 0.5 s (pid $CHANGER_PID)"
    time "$SLUICE" run "$PIPELINE" --until-caught-up
    note "waiting for the background changes to finish, then running again (resumes)"
    wait "$CHANGER_PID" || true
    CHANGER_PID=""
    time "$SLUICE" run "$PIPELINE" --until-caught-up
fi
if [[ -n $CHANGER_PID ]]; then wait "$CHANGER_PID" || true; CHANGER_PID=""; fi
pg -Atc "SELECT 'source now has ' || count(*) || ' rows' FROM public.orders"

# ------------------------------------------------------------------------------------------------
section "7. The core log: sluice log streams / sluice log read"
STREAM=""
if [[ -z $PIPELINE ]]; then
    not_yet "a pipeline file to read"
elif ! has_command log streams; then
    not_yet "sluice log streams"
else
    streams=$("$SLUICE" log streams "$PIPELINE")
    printf '%s\n' "$streams"
    # The orders table's stream: <pipeline>.public.orders
    STREAM=$(grep -oE '[A-Za-z0-9_.-]+\.public\.orders' <<<"$streams" | head -n 1 || true)
    if [[ -z $STREAM ]]; then
        note "no stream for public.orders in the list above"
    elif ! has_command log read; then
        not_yet "sluice log read"
    else
        note "first 5 events of $STREAM:"
        "$SLUICE" log read "$PIPELINE" "$STREAM" --limit 5
        note "the live changes (from offset $ROWS):"
        "$SLUICE" log read "$PIPELINE" "$STREAM" --from "$ROWS" --limit 10
    fi
fi

# ------------------------------------------------------------------------------------------------
section "8. An agent's view: MCP (sluice mcp on stdio, Python MCP client)"
if [[ -z $PIPELINE ]]; then
    not_yet "a pipeline file to serve"
elif ! has_command mcp; then
    not_yet "sluice mcp"
elif ! "$PYTHON" -c 'import mcp' 2>/dev/null; then
    not_yet "the Python mcp package in $PYTHON"
else
    export SLUICE_TOKEN=${SLUICE_TOKEN:-demo-agent-token}
    cat >"$WORK/mcp_demo.py" <<'PY'
"""List the MCP tools sluice offers and read a few changes through them."""
import asyncio, json, os, sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

sluice, pipeline, stream = sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else ""


async def main() -> None:
    params = StdioServerParameters(command=sluice, args=["mcp", pipeline], env=dict(os.environ))
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            tools = (await session.list_tools()).tools
            print("tools:", ", ".join(t.name for t in tools))
            # The read tool: the one named by SLUICE_DEMO_MCP_TOOL, else the first "read…" tool.
            wanted = os.environ.get("SLUICE_DEMO_MCP_TOOL")
            tool = next((t for t in tools if t.name == wanted), None) or next(
                (t for t in tools if "read" in t.name), None)
            if tool is None or not stream:
                print("(no read tool or stream to query)")
                return
            result = await session.call_tool(tool.name, {"stream": stream, "limit": 3})
            for item in result.content:
                text = getattr(item, "text", None)
                print(text if text is not None else item)


asyncio.run(main())
PY
    "$PYTHON" "$WORK/mcp_demo.py" "$SLUICE" "$PIPELINE" "$STREAM"
fi
