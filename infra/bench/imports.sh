#!/usr/bin/env bash
# Benchmark (not a test): import a CSV of ROWS rows into a release build of ritmo-local and
# report rows/s. `infra/bench/imports.sh [ROWS]` uses the memory store (default 100,000 rows);
# `infra/bench/imports.sh ROWS --dynamodb` stores on the emulator (started here; it serves about
# 16 enrollments/s, so 10,000 rows take minutes). `RITMO_BENCH_UPLOAD=1` sends the file through an
# upload link instead of as the request body.
set -euo pipefail
cd "$(dirname "$0")/../.."
rows="${1:-100000}"
source infra/bench/local.sh
flags=()
if [[ "${2:-}" == "--dynamodb" ]]; then
  [[ -x .venv/bin/python ]] || { python3 -m venv .venv && .venv/bin/pip install --quiet 'moto[server]'; }
  port="$(.venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  .venv/bin/python infra/moto_server.py "$port" >/dev/null 2>&1 &
  stop_pids+=($!)
  for _ in $(seq 1 100); do curl -s "http://127.0.0.1:$port" >/dev/null && break; sleep 0.1; done
  export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
  flags+=(--dynamodb-endpoint "http://127.0.0.1:$port" --dynamodb-table "bench-imports-$$")
fi
start_local "${flags[@]}"
python3 infra/bench/imports.py "$base" "$token" "$rows" "$([[ -n "${RITMO_BENCH_UPLOAD:-}" ]] && echo upload || echo body)"
