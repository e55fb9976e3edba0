"""`python app.py` served by another ASGI server, for comparing servers (bench/servers.py).

    python bench/serve_with.py granian [app.py's arguments]
    python bench/serve_with.py uvicorn [app.py's arguments]     # = python app.py

The app is exactly app.py's (`app.main`: the runtime, the dashboard supervisor and its proxy, the
visitor page, the API); only the final `uvicorn.run(app, ...)` is replaced by Granian's embedded server
(ASGI interface with lifespan, one Rust runtime thread, websockets on, HTTP/1.1 and 2 auto).
"""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import app as sportello_app  # noqa: E402


def granian_run(asgi, *, host: str, port: int, **_uvicorn_options) -> None:
    """What app.py asks of `uvicorn.run`, by Granian. uvicorn's options have no Granian twin here:
    ws_max_size (the proxy's own BodyLimit still cuts bodies), timeout_graceful_shutdown, proxy_headers
    (Granian does not read X-Forwarded-* either)."""
    from granian.constants import Interfaces
    from granian.log import LogLevels
    from granian.server.embed import Server

    logging.getLogger("_granian").setLevel(logging.WARNING)
    server = Server(asgi, address=host, port=port, interface=Interfaces.ASGI, log_level=LogLevels.warning)
    asyncio.run(server.serve())


def main(argv: list[str]) -> int:
    server, *args = argv or ["uvicorn"]
    if server == "granian":
        sportello_app.uvicorn.run = granian_run
    elif server != "uvicorn":
        print(f"unknown server {server!r}: granian or uvicorn", file=sys.stderr)
        return 2
    return sportello_app.main(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
