#!/usr/bin/env bash
# What the multi-machine tests (tests/multi/) need: PostgreSQL's server binaries (Debian package), the
# `chroma` command (chromadb, a main dependency), psycopg, and llama-cpp-python[server]'s extra packages.
# Idempotent: installs only what is missing, then proves PostgreSQL and a Chroma server start on loopback
# and stop again (tests/servers.py, the code the tests use). Fails loudly (non-zero, one line saying what
# to do) otherwise.
#   scripts/servers_setup.sh            # from the project root; uses .venv/bin/python
# llama-cpp-python itself is never installed here: scripts/build_llama.py builds it with this CPU's flags.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
# the same pins as pyproject.toml (checked below, so the two cannot drift)
PY_PINS=("psycopg[binary]==3.3.9" "sse-starlette==3.7.1" "starlette-context==0.3.6")

fail() { echo "servers_setup: $*" >&2; exit 1; }

[ -x "$PYTHON" ] || fail "no Python at $PYTHON; run 'make setup' first (or set PYTHON=)"
for pin in "${PY_PINS[@]}"; do
    grep -qF "\"$pin\"" "$ROOT/pyproject.toml" || fail "$pin is not in pyproject.toml; make the pins in $0 agree"
done

pg_bindir() {
    if [ -n "${MMCREW_PG_BINDIR:-}" ]; then echo "$MMCREW_PG_BINDIR"; return; fi
    local d
    d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
    if [ -z "$d" ] && command -v initdb >/dev/null; then d="$(dirname "$(readlink -f "$(command -v initdb)")")"; fi
    echo "$d"
}

# PostgreSQL: the Debian package, without the system cluster it would otherwise create and start on 5432
BINDIR="$(pg_bindir)"
if [ -n "${MMCREW_PG_BINDIR:-}" ] && [ ! -x "$BINDIR/initdb" ]; then
    fail "MMCREW_PG_BINDIR=$MMCREW_PG_BINDIR holds no initdb; point it at PostgreSQL's bin folder or unset it"
fi
if [ -z "$BINDIR" ] || [ ! -x "$BINDIR/initdb" ] || [ ! -x "$BINDIR/pg_ctl" ] || [ ! -x "$BINDIR/postgres" ]; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    command -v apt-get >/dev/null || fail "PostgreSQL's initdb/pg_ctl are missing and there is no apt-get; install PostgreSQL (or set MMCREW_PG_BINDIR)"
    echo "servers_setup: installing postgresql (Debian package; no main cluster is created)"
    $SUDO mkdir -p /etc/postgresql-common/createcluster.d
    echo "create_main_cluster = false" | $SUDO tee /etc/postgresql-common/createcluster.d/mmcrew-tests.conf >/dev/null
    $SUDO apt-get update -qq || fail "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends postgresql \
        || fail "apt-get install postgresql failed"
    BINDIR="$(pg_bindir)"
    [ -x "$BINDIR/initdb" ] || fail "postgresql was installed but no initdb is in /usr/lib/postgresql/*/bin; set MMCREW_PG_BINDIR"
fi
if [ "$(id -u)" -eq 0 ]; then
    id -u "${MMCREW_PG_OS_USER:-postgres}" >/dev/null 2>&1 \
        || fail "running as root (initdb refuses root) and there is no '${MMCREW_PG_OS_USER:-postgres}' user; reinstall postgresql-common"
    command -v runuser >/dev/null || command -v setpriv >/dev/null || fail "neither runuser nor setpriv is installed (util-linux)"
fi

# Python packages: psycopg, the server extras of llama-cpp-python (never llama-cpp-python itself)
missing=()
"$PYTHON" -c "import psycopg" 2>/dev/null || missing+=("${PY_PINS[0]}")
"$PYTHON" -c "import sse_starlette" 2>/dev/null || missing+=("${PY_PINS[1]}")
"$PYTHON" -c "import starlette_context" 2>/dev/null || missing+=("${PY_PINS[2]}")
if [ "${#missing[@]}" -gt 0 ]; then
    echo "servers_setup: installing ${missing[*]}"
    "$PYTHON" -m pip install -q "${missing[@]}" || fail "pip install ${missing[*]} failed"
fi
"$PYTHON" -c "import llama_cpp, uvicorn, fastapi, pydantic_settings" 2>/dev/null \
    || fail "llama_cpp / uvicorn / fastapi / pydantic-settings do not import; run 'make setup'"
CHROMA="$(dirname "$PYTHON")/chroma"
[ -x "$CHROMA" ] || fail "no chroma command at $CHROMA (chromadb is a dependency); run 'make setup'"

# self-test: PostgreSQL (initdb, start, a query, stop, start, stop) and a Chroma server come up on loopback
cd "$ROOT"
"$PYTHON" - <<'EOF' || fail "a server did not start (see above; its log's last lines are printed)"
import importlib.metadata as m
import subprocess

import psycopg

from tests.servers import ChromaServer, PostgresServer, http_get, pg_bindir

with PostgresServer() as pg:
    first = pg.started_in
    with psycopg.connect(pg.url, connect_timeout=10) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
    pg.restart()
with ChromaServer() as chroma:
    status, _ = http_get(chroma.url + "/api/v2/heartbeat")
    assert status == 200, status
    chroma_in = chroma.started_in
initdb = subprocess.run([str(pg_bindir() / "initdb"), "--version"], capture_output=True, text=True).stdout.strip()
print(
    f"servers_setup: ok (PostgreSQL {version} from {pg_bindir()}, up in {first:.1f} s; {initdb}; "
    f"chroma server (chromadb {m.version('chromadb')}) up in {chroma_in:.1f} s; psycopg {m.version('psycopg')}; "
    f"llama-cpp-python {m.version('llama-cpp-python')} with sse-starlette {m.version('sse-starlette')}, "
    f"starlette-context {m.version('starlette-context')})"
)
EOF
