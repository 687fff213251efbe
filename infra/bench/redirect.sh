#!/usr/bin/env bash
# Load-tests the public redirect (`GET /{slug}` of a rotator) of ritmo-local with wrk (or oha),
# and, when nginx is available, the same load against nginx answering `return 302` on another
# port, as a ceiling for "a redirect on this machine". Prints requests/s, p99 and the ratio.
# ritmo-local runs with `--http-per-cpu`: pinned per-CPU event loops, clicks answered ahead of
# the router.
#
# Not a timed test: run it by hand. Everything listens on 127.0.0.1 only.
#
#   infra/bench/redirect.sh                 # at 8 and at 32 connections: 3 rounds of 10 s each
#                                           # against ritmo-local then nginx, medians compared
#   DURATION=30 CONNECTIONS="16 64" ROUNDS=5 THREADS=2 infra/bench/redirect.sh
#   NO_NGINX=1 infra/bench/redirect.sh      # skip the nginx comparison
#   RITMO_LOCAL_BIN=path infra/bench/redirect.sh   # a ritmo-local already built (no build)
set -euo pipefail

DURATION="${DURATION:-10}"
CONNECTIONS="${CONNECTIONS:-8 32}"
THREADS="${THREADS:-2}"
ROUNDS="${ROUNDS:-3}"
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

# Runs the load against $1 over $2 connections; prints "<requests/s> <p99>".
load() {
    local url="$1" connections="$2" out="$WORK/load.txt"
    if [ "$TOOL" = wrk ]; then
        wrk -t "$THREADS" -c "$connections" -d "${DURATION}s" --latency -H "User-Agent: $UA" "$url" >"$out"
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
        oha -z "${DURATION}s" -c "$connections" --no-tui --redirect 0 -H "User-Agent: $UA" "$url" >"$out"
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

if [ -n "${RITMO_LOCAL_BIN:-}" ]; then
    cp "$RITMO_LOCAL_BIN" "$WORK/ritmo-local"
else
    echo "==> building ritmo-local (release)"
    (cd "$ROOT" && cargo build --release -p ritmo-local -q)
    # Run a private copy, so another build in a shared target directory cannot swap it mid-run.
    cp "${CARGO_TARGET_DIR:-$ROOT/target}/release/ritmo-local" "$WORK/ritmo-local"
fi

echo "==> starting ritmo-local on 127.0.0.1:$RITMO_PORT (per-CPU event loops)"
SECRET="bench-$(date +%s%N)"
RITMO_LOG=warn "$WORK/ritmo-local" --port "$RITMO_PORT" --jwt-secret "$SECRET" --http-per-cpu >"$WORK/ritmo.out" 2>"$WORK/ritmo.err" &
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

NGINX=""
if [ -z "${NO_NGINX:-}" ] && { command -v nginx >/dev/null || apt_install nginx-light || apt_install nginx; }; then
    NGINX=1
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
else
    echo "(nginx not available: no comparison)"
fi

# A latency as wrk or oha prints it (334.00us, 4.08ms, 1.2s) in microseconds.
micros() {
    awk -v t="$1" 'BEGIN {
        n = t + 0; u = t; sub(/^[0-9.]+/, "", u)
        if (u == "ms") n *= 1000; else if (u == "s" || u == "secs") n *= 1000000
        printf "%.0f\n", n
    }'
}

# The median of the numbers given (microseconds or requests/s).
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# Each connection count in turn, in the same run: ROUNDS rounds of ritmo-local then nginx, so
# that both see the same machine; the medians are compared.
for connections in $CONNECTIONS; do
    echo "==> $TOOL: ${DURATION}s per load, $connections connections, $ROUNDS rounds"
    r_rps=(); r_p99=(); n_rps=(); n_p99=()
    for round in $(seq 1 "$ROUNDS"); do
        read -r rps p99 < <(load "http://127.0.0.1:$RITMO_PORT/bench" "$connections")
        printf '  round %d  %-24s %12s req/s   p99 %s\n' "$round" "ritmo-local (rotator)" "$rps" "$p99"
        r_rps+=("$rps"); r_p99+=("$(micros "$p99")")
        [ -n "$NGINX" ] || continue
        read -r rps p99 < <(load "http://127.0.0.1:$NGINX_PORT/bench" "$connections")
        printf '  round %d  %-24s %12s req/s   p99 %s\n' "$round" "nginx (return 302)" "$rps" "$p99"
        n_rps+=("$rps"); n_p99+=("$(micros "$p99")")
    done
    printf '%-28s %12s req/s   p99 %s us (medians)\n' "ritmo-local (rotator)" "$(median "${r_rps[@]}")" "$(median "${r_p99[@]}")"
    [ -n "$NGINX" ] || continue
    printf '%-28s %12s req/s   p99 %s us (medians)\n' "nginx (return 302)" "$(median "${n_rps[@]}")" "$(median "${n_p99[@]}")"
    awk -v r="$(median "${r_rps[@]}")" -v n="$(median "${n_rps[@]}")" -v rp="$(median "${r_p99[@]}")" -v np="$(median "${n_p99[@]}")" -v c="$connections" \
        'BEGIN { printf "at %d connections: ritmo-local / nginx %.2f requests/s, p99 %s\n", c, r / n, (rp <= np ? "no worse" : "worse") }'
done
echo "cores: $(nproc); load tool and server share them"
