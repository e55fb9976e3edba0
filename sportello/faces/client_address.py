"""The caller's address: the key of the per-client limits (sportello.services.throttle).

One rule for both faces on the app's port, the REST API and the visitor page: the address is the TCP peer,
or the one a trusted proxy forwarded. `trust_proxies` installs uvicorn's ProxyHeadersMiddleware around the
whole app (the page is mounted inside it), which rewrites the peer from X-Forwarded-For only when the peer is
one of TRUSTED_PROXIES (default 127.0.0.1); the server itself runs with proxy_headers off, so this is the one
place. Behind a proxy not listed every client shares the proxy's address, and the limits count per proxy.
"""

from __future__ import annotations

from collections.abc import Iterable

from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware


def trust_proxies(app, trusted: Iterable[str]) -> None:
    """Believe X-Forwarded-For / X-Forwarded-Proto from `trusted` (IPs or networks, "*" for any) on `app`."""
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=list(trusted))


def client_address(request) -> str | None:
    """The caller's address from a Starlette request or a `gr.Request` (None when unknown)."""
    try:
        return request.client.host if request is not None and request.client else None
    except AttributeError:  # a gr.Request built without a request (Gradio's own API calls)
        return None
