"""A small reverse proxy (ASGI middleware) for the operator dashboard.

Hosts such as Hugging Face Spaces expose one port. The app serves the
visitor page at `/`, the API at `/api/` and, through this proxy, the
Streamlit dashboard (started with `--server.baseUrlPath dashboard` on a
local port) at `/dashboard/`, HTTP and websocket alike.

Request bodies are read whole before the upstream request is opened, capped at DASHBOARD_MAX_BODY_BYTES
(413 above it: the dashboard uploads no files) and within BODY_READ_TIMEOUT_S (408 after it): a client
sending its body a byte at a time holds no connection of the pool to Streamlit. Every /dashboard/ response says it may not be framed (X-Frame-Options: DENY,
CSP frame-ancestors 'none'); the visitor page at `/` stays embeddable.

The dashboard learns who is signing in from X-Forwarded-For, which this proxy sets to the client's address
(the TCP peer, or what a proxy in TRUSTED_PROXIES forwarded: the rule of faces/client_address.py) after
dropping any the client sent; the dashboard believes it only from 127.0.0.1 (faces/dashboard/ui.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

import httpx
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from sportello.faces.body_limit import BodyReader, BodyTimeout, BodyTooLarge
from sportello.faces.client_address import trust_proxies

log = logging.getLogger("sportello.proxy")

HOP_BY_HOP = {
    b"connection",
    b"keep-alive",
    b"proxy-authenticate",
    b"proxy-authorization",
    b"te",
    b"trailers",
    b"transfer-encoding",
    b"upgrade",
    b"host",
}
WS_SKIP = HOP_BY_HOP | {
    b"sec-websocket-key",
    b"sec-websocket-version",
    b"sec-websocket-extensions",
    b"sec-websocket-protocol",
    b"origin",
}
NO_FRAMING = [
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
]
TOO_LARGE = (
    b"<!doctype html><meta charset=utf-8><title>Sportello</title><p>Richiesta troppo grande. / Request too large.</p>"
)
TOO_SLOW = (
    b"<!doctype html><meta charset=utf-8><title>Sportello</title>"
    b"<p>Richiesta troppo lenta. / Request body too slow.</p>"
)
UNAVAILABLE = (
    "<!doctype html><meta charset=utf-8><title>Sportello</title>"
    "<p>La dashboard degli operatori non è attiva. / The operator dashboard is not running.</p>"
).encode()


class _ClientResolved:
    """`app` with scope["client"] rewritten from X-Forwarded-For when the peer is a trusted proxy."""

    def __init__(self, app, trusted: Iterable[str]):
        self.app = app
        trust_proxies(self, trusted)  # the one rule (faces/client_address.py): it calls add_middleware

    def add_middleware(self, middleware, **options) -> None:
        self.app = middleware(self.app, **options)

    async def __call__(self, scope, receive, send):
        return await self.app(scope, receive, send)


def forwarded_for(scope, skip: set[bytes]) -> list[tuple[bytes, bytes]]:
    """The request's headers minus `skip` and any X-Forwarded-For, plus ours: the client's address."""
    headers = [(k, v) for k, v in scope["headers"] if k.lower() not in skip and k.lower() != b"x-forwarded-for"]
    client = scope.get("client")
    if client and client[0]:
        headers.append((b"x-forwarded-for", str(client[0]).encode("latin-1")))
    return headers


class DashboardProxy:
    """`upstream_port` is a port or a callable giving it (the supervisor may move the dashboard)."""

    def __init__(
        self,
        app,
        upstream_port: int | Callable[[], int],
        prefix: str = "/dashboard",
        upstream_host: str = "127.0.0.1",
        max_body_bytes: int = 1024 * 1024,
        trusted_proxies: Iterable[str] = ("127.0.0.1",),
        read_timeout_s: float = 30.0,
    ):
        self.app = app
        self._resolved = _ClientResolved(self._dispatch, trusted_proxies)
        self.prefix = prefix.rstrip("/")
        self.upstream_host = upstream_host
        self._port = upstream_port if callable(upstream_port) else (lambda: upstream_port)
        self.max_body_bytes = max_body_bytes
        self.read_timeout_s = read_timeout_s
        self.client = httpx.AsyncClient(timeout=httpx.Timeout(60, connect=5))

    @property
    def upstream(self) -> str:
        return f"{self.upstream_host}:{self._port()}"

    async def _reply(self, send, status: int, body: bytes, headers: list | None = None) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"text/html; charset=utf-8"), *(headers or []), *NO_FRAMING],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def _mine(self, path: str) -> bool:
        return path == self.prefix or path.startswith(self.prefix + "/")

    async def __call__(self, scope, receive, send):
        if scope["type"] in ("http", "websocket") and self._mine(scope["path"]):
            return await self._resolved(scope, receive, send)
        return await self.app(scope, receive, send)

    async def _dispatch(self, scope, receive, send):
        if scope["type"] == "http":
            if scope["path"] == self.prefix:  # /dashboard -> /dashboard/
                await self._reply(send, 307, b"", [(b"location", (self.prefix + "/").encode())])
                return
            return await self._http(scope, receive, send)
        return await self._websocket(scope, receive, send)

    async def _http(self, scope, receive, send):
        limit = self.max_body_bytes
        declared = dict(scope["headers"]).get(b"content-length")
        try:
            too_large = declared is not None and int(declared) > limit
        except ValueError:
            too_large = True
        if too_large:  # refused before a byte of the body is read
            await self._reply(send, 413, TOO_LARGE, [(b"connection", b"close")])
            return
        reader = BodyReader(receive, limit, self.read_timeout_s)
        try:  # read whole (capped, timed) before a connection of the pool is taken
            content = await reader.read()
        except BodyTooLarge:
            await self._reply(send, 413, TOO_LARGE, [(b"connection", b"close")])
            return
        except BodyTimeout:
            await self._reply(send, 408, TOO_SLOW, [(b"connection", b"close")])
            return
        if reader.gone:  # nobody to answer
            return
        query = scope.get("query_string", b"").decode("latin-1")
        url = f"http://{self.upstream}" + scope["path"] + (f"?{query}" if query else "")
        headers = forwarded_for(scope, HOP_BY_HOP)
        try:
            request = self.client.build_request(scope["method"], url, headers=headers, content=content)
            response = await self.client.send(request, stream=True)
        except httpx.HTTPError:
            await self._reply(send, 502, UNAVAILABLE)
            return
        try:
            skip = HOP_BY_HOP | {b"x-frame-options", b"x-content-type-options"}
            out_headers = [(k, v) for k, v in response.headers.raw if k.lower() not in skip] + NO_FRAMING
            await send({"type": "http.response.start", "status": response.status_code, "headers": out_headers})
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            await response.aclose()

    async def _websocket(self, scope, receive, send):
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        headers = dict(scope["headers"])
        origin = headers.get(b"origin", b"").decode("latin-1")
        host = headers.get(b"host", b"").decode("latin-1")
        # Same-origin only, as Streamlit itself checks; the upstream then sees
        # its own origin (it compares Origin with its Host, 127.0.0.1:port).
        if origin and urlsplit(origin).netloc != host:
            await send({"type": "websocket.close", "code": 1008})
            return
        query = scope.get("query_string", b"").decode("latin-1")
        url = f"ws://{self.upstream}{scope['path']}" + (f"?{query}" if query else "")
        forward = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in forwarded_for(scope, WS_SKIP)]
        try:
            upstream = await ws_connect(
                url,
                subprotocols=[Subprotocol(p) for p in scope.get("subprotocols", [])] or None,
                additional_headers=forward,
                origin=f"http://{self.upstream}",
                max_size=None,
                compression=None,
                proxy=None,
                open_timeout=10,
            )
        except Exception as exc:  # upstream down or refused
            log.warning("dashboard websocket refused: %s", exc)
            await send({"type": "websocket.close", "code": 1011})
            return
        await send({"type": "websocket.accept", "subprotocol": upstream.subprotocol})

        async def client_to_upstream():
            while True:
                msg = await receive()
                if msg["type"] == "websocket.disconnect":
                    await upstream.close()
                    return
                frame = msg.get("bytes") if msg.get("bytes") is not None else msg.get("text")
                if frame is None:
                    continue
                # The server reads at most DASHBOARD_MAX_BODY_BYTES per message (app.py: ws_max_size);
                # this is the backstop for a server run without it. 1009: message too big.
                if self.max_body_bytes > 0 and len(frame) > self.max_body_bytes:
                    await send({"type": "websocket.close", "code": 1009})
                    await upstream.close()
                    return
                await upstream.send(frame)

        async def upstream_to_client():
            try:
                async for data in upstream:
                    if isinstance(data, bytes):
                        await send({"type": "websocket.send", "bytes": data})
                    else:
                        await send({"type": "websocket.send", "text": data})
            except ConnectionClosed:
                pass
            await send({"type": "websocket.close", "code": 1000})

        tasks = [asyncio.create_task(client_to_upstream()), asyncio.create_task(upstream_to_client())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in tasks:
                t.cancel()
            await upstream.close()
