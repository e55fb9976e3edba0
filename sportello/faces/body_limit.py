"""Request bodies at the edge: a size limit enforced while the body is read, and uploads refused.

`BodyLimit` is a pure ASGI middleware for the paths under a prefix (`/api/`):
a request whose `Content-Length` is over the limit is answered 413 before a
byte of its body is read; a body sent without a length (chunked) is counted as
it streams in, and the request is stopped with 413 as soon as the count passes
the limit. The application never holds more than the limit (plus one chunk).
The answer is the API's JSON error, `{"error": {"code": "body_too_large", ...}}`,
and it asks the client to close the connection (the rest of the body is not read).

`RefuseUploads` is the visitor page's: the page takes no files, so Gradio's upload endpoints (open to anyone,
50 MB and more into its cache) are answered 403 before a byte of the body is read.
"""

from __future__ import annotations

import json


class BodyTooLarge(Exception):
    """Raised inside the app by the counting `receive`; turned into a 413 here."""


def _error(status: int, code: str, message: str) -> tuple[dict, dict]:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    start = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ],
    }
    return start, {"type": "http.response.body", "body": body}


class BodyLimit:
    def __init__(self, app, max_bytes: int, prefix: str = "/api/"):
        self.app = app
        self.max_bytes = max_bytes
        self.prefix = prefix

    async def _reject(self, send, status: int = 413, code: str = "body_too_large", message: str = "") -> None:
        message = message or f"request body too large (limit {self.max_bytes} bytes)"
        for part in _error(status, code, message):
            await send(part)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or self.max_bytes <= 0 or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers") or ():
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await self._reject(send, 400, "invalid_content_length", "Content-Length must be an integer")
                    return
                if declared > self.max_bytes:
                    await self._reject(send)
                    return
        received = 0
        started = False

        async def counting_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body") or b"")
                if received > self.max_bytes:
                    raise BodyTooLarge
            return message

        async def tracking_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if started:  # the app answered before reading it all: nothing more to say
                return
            await self._reject(send)


UPLOAD_PATHS = ("/gradio_api/upload", "/gradio_api/process_recording", "/upload")
UPLOADS_REFUSED = "Caricamento di file non consentito. / File uploads are not allowed."


class RefuseUploads:
    """ASGI middleware of the mounted visitor page: 403 to any request but GET on an upload endpoint."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["method"] != "GET" and scope["path"].rstrip("/").endswith(UPLOAD_PATHS):
            for part in _error(403, "uploads_disabled", UPLOADS_REFUSED):  # fresh messages: middleware may edit them
                await send(part)
            return
        await self.app(scope, receive, send)
