#!/usr/bin/env bash
# Benchmark (not a test): enroll 10,000 contacts through a release build of ritmo-local and fire
# all their first steps; prints enrollments/s and sends/s.
set -euo pipefail
cd "$(dirname "$0")/../.."
source infra/bench/local.sh
start_local
python3 infra/bench/sequences.py "$base" "$token" "${1:-10000}"
