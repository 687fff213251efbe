#!/usr/bin/env bash
# Capacity report (SPEC §8): starts a local AWS emulator, runs tests/tests/metering.rs (the
# metering proxy against hand-computed charges) and tests/tests/capacity.rs (each operation
# driven through ritmo-local behind the metering proxy), prints the table of DynamoDB request
# units per operation, writes target/capacity.json, and fails when an operation exceeds its
# ceiling in infra/capacity-budgets.json. A debug build: the units do not depend on it.
#
# usage: infra/bench/capacity.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

jobs="${CARGO_BUILD_JOBS:-2}"

if ! .venv/bin/python -c 'import moto.server' 2>/dev/null; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --upgrade pip
  .venv/bin/pip install --quiet 'moto[server]'
fi

cargo test -p ritmo-e2e --test metering --test capacity -j "$jobs" --no-run --quiet

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
RITMO_E2E_DYNAMODB_ENDPOINT="$endpoint" \
  cargo test -p ritmo-e2e --test metering --test capacity -j "$jobs" --quiet -- --include-ignored --nocapture
