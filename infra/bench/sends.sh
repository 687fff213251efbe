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

cargo test --release -p ritmo-e2e --test bench_sends -j "$jobs" --no-run --quiet
source infra/bench/emulator.sh
RITMO_E2E_DYNAMODB_ENDPOINT="$endpoint" RITMO_BENCH_CONTACTS="$contacts" RITMO_BENCH_RATE="$rate" \
  RITMO_BENCH_RUNTIMES="$runtimes" \
  cargo test --release -p ritmo-e2e --test bench_sends -j "$jobs" --quiet -- --ignored --nocapture
