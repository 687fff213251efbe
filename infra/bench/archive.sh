#!/usr/bin/env bash
# Benchmark (not a test): resume and archive of a sequence with 100,000 active enrollments on a
# release build of ritmo-local (memory store, manual clock); prints each answer's time and its
# job's. Usage: infra/bench/archive.sh [CONTACTS]
set -euo pipefail
cd "$(dirname "$0")/../.."
source infra/bench/local.sh
start_local --manual-clock
python3 -u infra/bench/archive.py "$base" "$token" "${1:-100000}"
