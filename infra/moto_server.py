"""A local AWS emulator (moto) for the tests and for running the real functions locally.

Same application as `moto_server`, with one difference: requests are handled one at a time.
moto does not lock its backends, so two concurrent conditional writes could both pass their
condition; serving requests in turn gives DynamoDB's per-item atomicity, which the exactly-once
and counter tests rely on.

Usage: python infra/moto_server.py PORT
"""

import sys
import threading

from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)


def main() -> None:
    port = int(sys.argv[1])
    inner = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def app(environ, start_response):
        with lock:
            return list(inner(environ, start_response))

    run_simple(
        "127.0.0.1",
        port,
        app,
        threaded=True,
        request_handler=MotoRequestHandler,
    )


if __name__ == "__main__":
    main()
