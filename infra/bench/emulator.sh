# Sourced by the benchmarks that need the AWS emulator: makes sure .venv has moto, starts
# infra/moto_server.py on a free port, waits for it, and leaves its URL in `$endpoint` and the
# emulator's credentials in the environment. The emulator stops when the sourcing script exits.
if ! .venv/bin/python -c 'import moto.server' 2>/dev/null; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --upgrade pip
  .venv/bin/pip install --quiet 'moto[server]'
fi
source infra/moto.sh
start_moto || exit 1
trap 'kill "$moto_pid" 2>/dev/null || true; rm -f "$moto_log"' EXIT
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
