"""Measures a function's cold start on this machine: it plays the Lambda Runtime API, starts the
bootstrap, and reports the time from process start to its first `GET .../invocation/next` (init:
configuration, AWS config, clients) and to the response of one invocation with EVENT.

Usage: python infra/measure_init.py BOOTSTRAP EVENT_JSON [RUNS]
The function's own configuration comes from the environment (see infra/local-aws.sh). LAUNCHER,
when set, runs the bootstrap through it (e.g. `qemu-aarch64 -L /usr/aarch64-linux-gnu` for an
arm64 bootstrap on an x86_64 machine; emulation makes the times an upper bound).
"""

import json
import os
import shlex
import statistics
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def measure(bootstrap: str, event: bytes) -> tuple[float, float]:
    marks: dict[str, float] = {}
    done = threading.Event()

    class Api(BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet
            pass

        def do_GET(self):
            if not self.path.endswith("/invocation/next"):
                self.send_error(404)
                return
            if "next" in marks:
                done.wait(5)
                self.send_error(500)
                return
            marks["next"] = time.perf_counter()
            self.send_response(200)
            self.send_header("Lambda-Runtime-Aws-Request-Id", "measure-1")
            self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30000))
            self.send_header(
                "Lambda-Runtime-Invoked-Function-Arn",
                "arn:aws:lambda:us-east-1:123456789012:function:measure",
            )
            self.send_header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(event)))
            self.end_headers()
            self.wfile.write(event)

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            marks["response"] = time.perf_counter()
            marks["kind"] = self.path.rsplit("/", 1)[-1]
            self.send_response(202)
            self.end_headers()
            done.set()

    class Server(ThreadingHTTPServer):
        def handle_error(self, request, client_address):  # the killed process's next poll
            pass

    server = Server(("127.0.0.1", 0), Api)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = dict(os.environ)
    env.update(
        AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{server.server_address[1]}",
        AWS_LAMBDA_FUNCTION_NAME="measure",
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE="256",
        AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
        AWS_LAMBDA_LOG_STREAM_NAME="measure",
        AWS_LAMBDA_LOG_GROUP_NAME="measure",
    )
    start = time.perf_counter()
    command = shlex.split(os.environ.get("LAUNCHER", "")) + [bootstrap]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not done.wait(30):
            raise SystemExit(f"{bootstrap}: no response within 30 s")
    finally:
        process.kill()
        process.wait()
        server.shutdown()
    if marks.get("kind") != "response":
        raise SystemExit(f"{bootstrap}: the invocation failed ({marks.get('kind')})")
    return (marks["next"] - start) * 1000, (marks["response"] - start) * 1000


def main() -> None:
    bootstrap, event_file = sys.argv[1], sys.argv[2]
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    event = json.dumps(json.load(open(event_file))).encode()
    results = [measure(bootstrap, event) for _ in range(runs)]
    init = statistics.median(r[0] for r in results)
    first = statistics.median(r[1] for r in results)
    base = os.path.basename(bootstrap)
    name = os.path.basename(os.path.dirname(bootstrap)) if base == "bootstrap" else base
    print(f"{name}: init {init:.1f} ms, init + first invocation {first:.1f} ms (median of {runs})")


if __name__ == "__main__":
    main()
