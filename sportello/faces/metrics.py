"""GET /metrics (Prometheus text format) and the HTTP middleware that times every request.

/metrics is closed unless METRICS_TOKEN or METRICS_ALLOW is set: with neither it is a 404 (as if it did
not exist); with either, a caller that has neither the `Authorization: Bearer <METRICS_TOKEN>` nor an address
in METRICS_ALLOW (IPs or networks; the address is the one of faces/client_address.py) gets a 403.

`RequestContext`, around the whole app: a request id per request (a sane incoming `X-Request-ID`, else a new
one), in the logs (sportello/logs.py) and returned in `X-Request-ID`; and the request counted by route
template, method and status, with its latency (sportello/services/metrics.py).
"""

from __future__ import annotations

import hmac
import ipaddress
import itertools
import os
import re
import time
from collections.abc import Iterable

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.datastructures import MutableHeaders

from sportello.faces.client_address import client_address
from sportello.logs import REQUEST_ID
from sportello.runtime import Runtime
from sportello.services.metrics import CONTENT_TYPE, observe_request

REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}


_ids: tuple[int, str, itertools.count] = (-1, "", itertools.count())


def request_id(incoming: str | None) -> str:
    """The caller's request id when it is sane (1-64 of letters, digits, `._:-`), else a new one: 32 hex digits,
    a random half drawn once per process and a counter. Not `uuid4()` per request: its `os.urandom` lets go of the
    GIL on the event loop, which then queues behind every busy thread to get it back (a stall of the whole loop
    under load)."""
    global _ids
    if incoming and REQUEST_ID_RE.match(incoming):
        return incoming
    pid, prefix, counter = _ids
    if pid != os.getpid():  # first use in this process (a forked worker must not repeat its parent's ids)
        pid, prefix, counter = _ids = (os.getpid(), os.urandom(8).hex(), itertools.count())
    return f"{prefix}{next(counter) & 0xFFFFFFFFFFFFFFFF:016x}"


def route_label(scope: dict) -> str:
    """The route template that served the request (`/api/tickets/{ticket_id}`), never the path itself."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if path is None:
        return "unmatched"
    if not hasattr(route, "endpoint"):  # a mount (the visitor page at /): the prefix only
        return f"{path}/*"
    return path


class RequestContext:
    """Pure ASGI: sets the request id, adds `X-Request-ID` to the response, records the request."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        incoming = next((v.decode("latin-1") for k, v in scope.get("headers", ()) if k == b"x-request-id"), None)
        rid = request_id(incoming)
        token = REQUEST_ID.set(rid)
        status = 500
        started = time.perf_counter()

        async def send_with_id(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)["X-Request-ID"] = rid
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            method = scope.get("method", "")
            observe_request(
                route_label(scope), method if method in METHODS else "other", status, time.perf_counter() - started
            )
            REQUEST_ID.reset(token)


def _networks(allowed: Iterable[str]) -> list:
    return [ipaddress.ip_network(a, strict=False) for a in allowed]


def allowed(request: Request, token: str, networks: list) -> bool:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if token and scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
        return True
    address = client_address(request)
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    return any(ip in net for net in networks)


def install_metrics(app: FastAPI, runtime: Runtime) -> None:
    """GET /metrics on `app`, and `RequestContext` around it."""
    settings = runtime.settings
    networks = _networks(settings.metrics_allow)

    @app.get("/metrics", include_in_schema=False)
    def metrics(request: Request):
        if not settings.metrics_token and not networks:
            return Response("Not Found", status_code=404, media_type="text/plain")
        if not allowed(request, settings.metrics_token, networks):
            return Response("Forbidden", status_code=403, media_type="text/plain")
        return Response(runtime.metrics.exposition(), media_type=CONTENT_TYPE)

    app.add_middleware(RequestContext)
