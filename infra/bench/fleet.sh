#!/usr/bin/env bash
# Benchmark (not a test): the fleet test (tests/tests/fleet.rs) with its drain time bounded:
# four ritmo-local runtimes on one emulator table send one step to CONTACTS contacts (default
# 400) due at the same opening, on a number paced at RATE messages/s (default 10); the run fails
# unless the backlog drains within BOUND × the ideal CONTACTS ÷ RATE (default 1.5), on top of
# the test's own checks (each contact once, no second above the rate, nothing stuck). Run it on
# an otherwise idle machine: the bound is a measure of the senders' pacing, which a second
# CPU-bound process slows. Prints the sends per second and the `fleet:` summary line.
#
# usage: infra/bench/fleet.sh [CONTACTS] [RATE] [BOUND]
set -euo pipefail
cd "$(dirname "$0")/../.."

contacts="${1:-400}"
rate="${2:-10}"
bound="${3:-1.5}"
jobs="${CARGO_BUILD_JOBS:-2}"

cargo test -p ritmo-e2e --test fleet -j "$jobs" --no-run --quiet
source infra/bench/emulator.sh
RITMO_E2E_DYNAMODB_ENDPOINT="$endpoint" RITMO_FLEET_CONTACTS="$contacts" RITMO_FLEET_RATE="$rate" \
  RITMO_FLEET_DRAIN_BOUND="$bound" \
  cargo test -p ritmo-e2e --test fleet -j "$jobs" --quiet -- --include-ignored --nocapture
