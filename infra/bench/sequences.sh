#!/usr/bin/env bash
# Benchmark (not a test): enroll 10,000 contacts through a release build of ritmo-local and fire
# all their first steps; prints enrollments/s and sends/s.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release -p ritmo-local -j "${CARGO_BUILD_JOBS:-2}" --quiet
out="$(mktemp)"
RITMO_LOG=warn ./target/release/ritmo-local --port 0 >"$out" 2>/dev/null &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; rm -f "$out"' EXIT
for _ in $(seq 1 100); do grep -q '^export RITMO_TOKEN=' "$out" && break; sleep 0.05; done
base="$(sed -n 's/^Ritmo local server listening on \(http[^ ]*\)$/\1/p' "$out")"
token="$(sed -n 's/^export RITMO_TOKEN=//p' "$out")"
python3 infra/bench/sequences.py "$base" "$token" "${1:-10000}"
