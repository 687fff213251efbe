#!/usr/bin/env bash
# The one test command: formatting, lints, every test of the workspace, and a smoke run of the
# local server binary. It installs what it needs itself.
set -euo pipefail
cd "$(dirname "$0")/.."

jobs="${CARGO_BUILD_JOBS:-2}"
step() { printf '\n==> %s\n' "$*"; }

step "toolchain components"
rustup component add rustfmt clippy >/dev/null 2>&1 || true

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -j "$jobs" -- -D warnings

step "the domain crate depends on no AWS, Lambda or HTTP crate"
forbidden="$(cargo tree -p ritmo-core -e normal --prefix none | grep -iE '^(aws-|aws_|lambda|axum|hyper|reqwest|tower)' || true)"
[ -z "$forbidden" ] || { echo "ritmo-core depends on: $forbidden"; exit 1; }
echo "ritmo-core: clean"

step "cargo test --workspace"
cargo test --workspace -j "$jobs"

step "smoke: ritmo-local starts, answers /health, guards /v1 with its printed token"
cargo build -p ritmo-local -j "$jobs" --quiet
out="$(mktemp)"
start_ns=$(date +%s%N)
./target/debug/ritmo-local --port 0 >"$out" 2>/dev/null &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; rm -f "$out"' EXIT
base=""
for _ in $(seq 1 100); do
  base="$(sed -n 's/^Ritmo local server listening on \(http[^ ]*\)$/\1/p' "$out")"
  [ -n "$base" ] && grep -q '^export RITMO_TOKEN=' "$out" && break
  sleep 0.05
done
[ -n "$base" ] || { echo "ritmo-local did not start"; cat "$out"; exit 1; }
curl -fsS "$base/health" >/dev/null
ready_ms=$(( ($(date +%s%N) - start_ns) / 1000000 ))
token="$(sed -n 's/^export RITMO_TOKEN=//p' "$out")"
code=$(curl -s -o /dev/null -w '%{http_code}' "$base/v1/channels")
[ "$code" = 401 ] || { echo "expected 401 without a token, got $code"; exit 1; }
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "$base/v1/channels")
[ "$code" = 200 ] || { echo "expected 200 with the printed token, got $code"; exit 1; }
echo "ritmo-local ready in ${ready_ms} ms; /health 200, /v1 401 without token, 200 with it"

echo
echo "all checks passed"
