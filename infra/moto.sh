# Sourced: `start_moto [PORT]` starts the AWS emulator (infra/moto_server.py in .venv) on PORT,
# or on a free local port, waits until it answers, and leaves its URL in `$endpoint`, its process
# in `$moto_pid` and its log in `$moto_log` (a temporary file). The caller stops the process and
# removes the log.
start_moto() {
  local port="${1:-}"
  if [ -z "$port" ]; then
    port="$(.venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  fi
  moto_log="$(mktemp)"
  .venv/bin/python infra/moto_server.py "$port" >"$moto_log" 2>&1 &
  moto_pid=$!
  endpoint="http://127.0.0.1:$port"
  for _ in $(seq 1 100); do
    curl -fsS -o /dev/null "$endpoint/moto-api/" 2>/dev/null && return 0
    sleep 0.1
  done
  curl -fsS -o /dev/null "$endpoint/moto-api/" || { echo "the emulator did not start"; cat "$moto_log"; return 1; }
}
