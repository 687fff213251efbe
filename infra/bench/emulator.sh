# Sourced by the benchmarks that need the AWS emulator: makes sure .venv has moto, starts
# infra/moto_server.py on a free port, waits for it, and leaves its URL in `$endpoint` and the
# emulator's credentials in the environment. The emulator stops when the sourcing script exits.
if ! .venv/bin/python -c 'import moto.server' 2>/dev/null; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --upgrade pip
  .venv/bin/pip install --quiet 'moto[server]'
fi
moto_port="$(.venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
moto_log="$(mktemp)"
.venv/bin/python infra/moto_server.py "$moto_port" >"$moto_log" 2>&1 &
moto_pid=$!
trap 'kill "$moto_pid" 2>/dev/null || true; rm -f "$moto_log"' EXIT
endpoint="http://127.0.0.1:$moto_port"
for _ in $(seq 1 100); do
  curl -fsS -o /dev/null "$endpoint/moto-api/" 2>/dev/null && break
  sleep 0.1
done
curl -fsS -o /dev/null "$endpoint/moto-api/" || { echo "the emulator did not start"; cat "$moto_log"; exit 1; }
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
