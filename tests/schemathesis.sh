#!/usr/bin/env bash
# Runs schemathesis (PyPI) against each service's /openapi.json with a valid admin token:
# every documented operation, generated inputs (positive and negative), all checks — no 5xx,
# no response that breaks the schema.
#
#   tests/schemathesis.sh                 # both services, on a fresh SQLite file
#   DATABASE_URL=postgres://… tests/schemathesis.sh
#   GABARITO_BIN=target/release tests/schemathesis.sh      (default: target/debug)
#   ST_MAX_EXAMPLES=50 ST_ARGS="--phases examples,coverage" tests/schemathesis.sh
#
# Needs `schemathesis` on PATH (or SCHEMATHESIS=/path/to/schemathesis): `pip install
# schemathesis` (in a venv: `python3 -m venv .venv && .venv/bin/pip install schemathesis`).
# Written for schemathesis 4.x (`schemathesis run URL -H … --checks all`).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin=${GABARITO_BIN:-$root/target/debug}
st=${SCHEMATHESIS:-schemathesis}
max_examples=${ST_MAX_EXAMPLES:-30}
work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

cd "$work"
export GABARITO_STORAGE=$work/objects
db_args=()
if [[ -n "${DATABASE_URL:-}" ]]; then db_args=(--db "$DATABASE_URL"); fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start() { # NAME → prints the port once /readyz answers
    local name=$1 port
    port=$(free_port)
    "$bin/$name" serve --listen 127.0.0.1 --port "$port" >"$work/$name.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 1 600); do
        if curl -sf "http://127.0.0.1:$port/readyz" >/dev/null; then echo "$port"; return; fi
        sleep 0.1
    done
    echo "$name did not become ready:" >&2; tail -20 "$work/$name.log" >&2; exit 1
}

render_port=$(start render-service)
grader_port=$(start grader)
token=$("$bin/grader" token create --tenant schemathesis --scope admin "${db_args[@]}" | tail -n 1)

status=0
for svc in "render-service:$render_port" "grader:$grader_port"; do
    name=${svc%%:*} port=${svc##*:}
    echo "=== $name (http://127.0.0.1:$port/openapi.json)"
    "$st" run "http://127.0.0.1:$port/openapi.json" \
        -H "Authorization: Bearer $token" \
        --checks all \
        --max-examples "$max_examples" \
        --seed 9 \
        --no-color \
        --report junit --report-dir "$root/target/schemathesis/$name" \
        ${ST_ARGS:-} || status=1
    errors=$(grep -c '"level":"ERROR"\|panicked' "$work/$name.log" || true)
    if [[ "$errors" -gt 0 ]]; then
        echo "--- $name logged $errors errors or panics; the first:"
        grep -m 10 '"level":"ERROR"\|panicked' "$work/$name.log" || true
    fi
done
exit $status
