# Sourced by the benchmark scripts: builds ritmo-local in release; `start_local FLAGS...` starts it
# on a free port and sets `base` and `token`. On exit every pid in `stop_pids` (the server, and
# whatever else a script adds) is killed.
cargo build --release -p ritmo-local -j "${CARGO_BUILD_JOBS:-2}" --quiet
stop_pids=()
local_out="$(mktemp)"
trap 'kill "${stop_pids[@]}" 2>/dev/null || true; rm -f "$local_out"' EXIT
start_local() {
  RITMO_LOG=warn ./target/release/ritmo-local --port 0 "$@" >"$local_out" 2>/dev/null &
  stop_pids+=($!)
  for _ in $(seq 1 200); do grep -q '^export RITMO_TOKEN=' "$local_out" && break; sleep 0.05; done
  base="$(sed -n 's/^Ritmo local server listening on \(http[^ ]*\)$/\1/p' "$local_out")"
  token="$(sed -n 's/^export RITMO_TOKEN=//p' "$local_out")"
}
