#!/usr/bin/env bash
# Benchmark (not a test): RUNTIMES ritmo-local runtimes (default 4) on one DynamoDB table of a
# local AWS emulator send one step to CONTACTS contacts (default 400) on a number paced at RATE
# messages/s (default 10), plus a tenth as many on a second number, through a stand-in Graph API
# that enforces the rate; prints the elapsed time against the ideal, sends/s, the busiest second,
# the 130429 answers and the DynamoDB requests per send (tests/tests/bench_sends.rs).
#
# usage: infra/bench/sends.sh [CONTACTS] [RATE] [RUNTIMES]
set -euo pipefail
cd "$(dirname "$0")/../.."

contacts="${1:-400}"
rate="${2:-10}"
runtimes="${3:-4}"
jobs="${CARGO_BUILD_JOBS:-2}"

if ! .venv/bin/python -c 'import moto.server' 2>/dev/null; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --upgrade pip
  .venv/bin/pip install --quiet 'moto[server]'
fi

cargo test --release -p ritmo-e2e --test bench_sends -j "$jobs" --no-run --quiet

moto_port="$(.venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
moto_log="$(mktemp)"
.venv/bin/python infra/moto_server.py "$moto_port" >"$moto_log" 2>&1 &
moto_pid=$!
trap 'kill "$moto_pid" 2>/dev/null || true; rm -f "$moto_log"' EXIT
endpoint="http://127.0.0.1:$moto_port"
for _ in $(seq 1 100); do
  curl -fsS -o /dev/null "$endpoint/moto-api/" 2>/dev/null && break
  sleep 0.1
done
curl -fsS -o /dev/null "$endpoint/moto-api/" || { echo "the emulator did not start"; cat "$moto_log"; exit 1; }

export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
RITMO_E2E_DYNAMODB_ENDPOINT="$endpoint" RITMO_BENCH_CONTACTS="$contacts" RITMO_BENCH_RATE="$rate" \
  RITMO_BENCH_RUNTIMES="$runtimes" \
  cargo test --release -p ritmo-e2e --test bench_sends -j "$jobs" --quiet -- --ignored --nocapture
