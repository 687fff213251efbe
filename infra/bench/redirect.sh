#!/usr/bin/env bash
# Load-tests the public redirect (`GET /{slug}` of a rotator) of ritmo-local with wrk (or oha),
# and, when nginx is available, the same load against nginx answering `return 302` on another
# port, as a ceiling for "a redirect on this machine". Prints requests/s, p99 and the ratio.
#
# Not a timed test: run it by hand. Everything listens on 127.0.0.1 only.
#
#   infra/bench/redirect.sh                 # 10 s, 8 connections, 2 threads
#   DURATION=30 CONNECTIONS=16 infra/bench/redirect.sh
#   NO_NGINX=1 infra/bench/redirect.sh      # skip the nginx comparison
set -euo pipefail

DURATION="${DURATION:-10}"
CONNECTIONS="${CONNECTIONS:-8}"
THREADS="${THREADS:-2}"
RITMO_PORT="${RITMO_PORT:-3900}"
NGINX_PORT="${NGINX_PORT:-3901}"
UA='Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36'

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
WORK="$(mktemp -d)"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_install() {
    command -v apt-get >/dev/null || return 1
    as_root apt-get update -qq >/dev/null && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null 2>&1
}

# The load tool: oha if present, else wrk (installed from Debian when missing).
if command -v oha >/dev/null; then
    TOOL=oha
elif command -v wrk >/dev/null || apt_install wrk; then
    TOOL=wrk
else
    echo "need wrk or oha" >&2
    exit 1
fi
command -v curl >/dev/null || apt_install curl

# Runs the load against $1; prints "<requests/s> <p99>".
load() {
    local url="$1" out="$WORK/load.txt"
    if [ "$TOOL" = wrk ]; then
        wrk -t "$THREADS" -c "$CONNECTIONS" -d "${DURATION}s" --latency -H "User-Agent: $UA" "$url" >"$out"
        local rps p99
        rps="$(awk '/^Requests\/sec:/ {print $2}' "$out")"
        p99="$(awk '$1 == "99%" {print $2}' "$out")"
        if grep -q "Non-2xx or 3xx" "$out"; then
            echo "unexpected status codes:" >&2
            cat "$out" >&2
            exit 1
        fi
        echo "$rps $p99"
    else
        oha -z "${DURATION}s" -c "$CONNECTIONS" --no-tui --redirect 0 -H "User-Agent: $UA" "$url" >"$out"
        local rps p99
        rps="$(awk '/Requests\/sec:/ {print $2}' "$out")"
        p99="$(awk '/99.00%/ {print $3 $4; exit}' "$out")"
        echo "$rps $p99"
    fi
}

wait_for() {
    for _ in $(seq 1 100); do
        curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "nothing answers at $1" >&2
    exit 1
}

echo "==> building ritmo-local (release)"
(cd "$ROOT" && cargo build --release -p ritmo-local -q)
# Run a private copy, so another build in a shared target directory cannot swap it mid-run.
cp "${CARGO_TARGET_DIR:-$ROOT/target}/release/ritmo-local" "$WORK/ritmo-local"

echo "==> starting ritmo-local on 127.0.0.1:$RITMO_PORT"
SECRET="bench-$(date +%s%N)"
RITMO_LOG=warn "$WORK/ritmo-local" --port "$RITMO_PORT" --jwt-secret "$SECRET" >"$WORK/ritmo.out" 2>"$WORK/ritmo.err" &
PIDS+=($!)
wait_for "http://127.0.0.1:$RITMO_PORT/health"
TOKEN="$(sed -n 's/^export RITMO_TOKEN=//p' "$WORK/ritmo.out")"

api() {
    curl -fsS -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
        -X POST "http://127.0.0.1:$RITMO_PORT/v1/links" -d "$1" >/dev/null
}
api '{"slug": "bench-ana", "type": "whatsapp", "phone": "+5511987654301", "text": "Olá! Vim pelo link"}'
api '{"slug": "bench-bia", "type": "whatsapp", "phone": "+5511987654302", "text": "Olá! Vim pelo link"}'
api '{"slug": "bench-cai", "type": "whatsapp", "phone": "+5511987654303", "text": "Olá! Vim pelo link"}'
api '{"slug": "bench", "type": "rotator", "members": [{"link": "bench-ana"}, {"link": "bench-bia", "weight": 2}, {"link": "bench-cai"}]}'
status="$(curl -s -o /dev/null -w '%{http_code}' -A "$UA" "http://127.0.0.1:$RITMO_PORT/bench")"
[ "$status" = 302 ] || { echo "the rotator answered $status, not 302" >&2; exit 1; }

echo "==> $TOOL: ${DURATION}s, $CONNECTIONS connections against ritmo-local GET /bench"
read -r RITMO_RPS RITMO_P99 < <(load "http://127.0.0.1:$RITMO_PORT/bench")
printf '%-28s %12s req/s   p99 %s\n' "ritmo-local (rotator)" "$RITMO_RPS" "$RITMO_P99"

if [ -z "${NO_NGINX:-}" ] && { command -v nginx >/dev/null || apt_install nginx-light || apt_install nginx; }; then
    mkdir -p "$WORK/nginx/logs"
    cat >"$WORK/nginx/nginx.conf" <<EOF
worker_processes auto;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/logs/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $WORK/nginx/body;
    proxy_temp_path $WORK/nginx/proxy;
    fastcgi_temp_path $WORK/nginx/fastcgi;
    uwsgi_temp_path $WORK/nginx/uwsgi;
    scgi_temp_path $WORK/nginx/scgi;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location / {
            add_header Cache-Control "private, no-store" always;
            return 302 https://wa.me/5511987654301?text=Ol%C3%A1%21%20Vim%20pelo%20link;
        }
    }
}
EOF
    nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" &
    PIDS+=($!)
    sleep 0.3
    status="$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$NGINX_PORT/bench")"
    [ "$status" = 302 ] || { echo "nginx answered $status, not 302" >&2; exit 1; }
    echo "==> $TOOL: ${DURATION}s, $CONNECTIONS connections against nginx return 302"
    read -r NGINX_RPS NGINX_P99 < <(load "http://127.0.0.1:$NGINX_PORT/bench")
    printf '%-28s %12s req/s   p99 %s\n' "nginx (return 302)" "$NGINX_RPS" "$NGINX_P99"
    awk -v r="$RITMO_RPS" -v n="$NGINX_RPS" 'BEGIN { printf "ritmo-local / nginx: %.2f\n", r / n }'
else
    echo "(nginx not available: no comparison)"
fi
echo "cores: $(nproc); load tool and server share them"
