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

cargo test -p ritmo-e2e --test metering --test capacity -j "$jobs" --no-run --quiet
source infra/bench/emulator.sh
RITMO_E2E_DYNAMODB_ENDPOINT="$endpoint" \
  cargo test -p ritmo-e2e --test metering --test capacity -j "$jobs" --quiet -- --include-ignored --nocapture
