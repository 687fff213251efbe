#!/usr/bin/env bash
# Builds the eight Lambda functions for arm64 (provided.al2023) with cargo-lambda and prints the
# size of each bootstrap. Installs what it needs itself: a Python venv in .venv with cargo-lambda
# and ziglang (zig cross-links to aarch64), and the aarch64 Rust standard library.
#
# Output: target/lambda/<function>/bootstrap (release, stripped by the release profile).
set -euo pipefail
cd "$(dirname "$0")/.."

FUNCTIONS=(sequences-api enrollments-api links-api redirect sender webhook webhook-worker job-worker)

if [ ! -x .venv/bin/cargo-lambda ] || [ ! -d .venv/lib/python3*/site-packages/ziglang ]; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --upgrade pip
  .venv/bin/pip install --quiet cargo-lambda ziglang
fi
export PATH="$PWD/.venv/bin:$PATH"
rustup target add aarch64-unknown-linux-gnu >/dev/null

packages=()
for f in "${FUNCTIONS[@]}"; do packages+=(--package "$f"); done
start=$(date +%s)
cargo lambda build --release --arm64 "${packages[@]}" -j "${CARGO_BUILD_JOBS:-2}"
echo "built in $(( $(date +%s) - start )) s"

printf '\n%-16s %10s\n' function "bootstrap (bytes)"
for f in "${FUNCTIONS[@]}"; do
  printf '%-16s %10s\n' "$f" "$(stat -c %s "${CARGO_TARGET_DIR:-target}/lambda/$f/bootstrap")"
done
