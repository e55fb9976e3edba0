"""Request bodies at the edge: a size limit and a read timeout enforced while the body is read, and uploads refused.

`BodyLimit` is a pure ASGI middleware for the paths under a prefix (`/`: the API and the visitor page's
Gradio routes mounted on it): a request whose `Content-Length` is over the limit is answered 413 before a
byte of its body is read; a body sent without a length (chunked) is counted as it streams in, and the
request is stopped with 413 as soon as the count passes the limit. The application never holds more than
the limit (plus one chunk). A body not received whole within the read timeout (`BODY_READ_TIMEOUT_S`,
counted from the request's start) is answered 408: a client that sends one byte now and then holds a
connection for that long at most. The answer is the API's JSON error, `{"error": {"code": ...}}`, and it
asks the client to close the connection (the rest of the body is not read).

`BodyReader` is the counting, timed `receive` of one request; the dashboard proxy reads with it too.

`RefuseUploads` is the visitor page's: the page takes no files, so Gradio's upload endpoints (open to anyone,
50 MB and more into its cache) are answered 403 before a byte of the body is read.
"""

from __future__ import annotations

import asyncio
import json


class BodyTooLarge(Exception):
    """Raised inside the app by the counting `receive`; turned into a 413 here."""


class BodyTimeout(Exception):
    """Raised inside the app by the timed `receive`; turned into a 408 here."""


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


def declared_length(scope) -> int | None:
    """The request's Content-Length (None when absent); ValueError when it is not an integer."""
    for name, value in scope.get("headers") or ():
        if name == b"content-length":
            return int(value)
    return None


class BodyReader:
    """The `receive` of one request, counting its body (BodyTooLarge past `max_bytes`, 0 = no limit) and
    timing it (BodyTimeout when it is not whole `timeout_s` after the reader was made, 0 = no timeout).
    Once the body is whole, `receive` is passed through untimed (a streaming answer waits for the disconnect)."""

    def __init__(self, receive, max_bytes: int, timeout_s: float):
        self.receive = receive
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s
        self.deadline = asyncio.get_running_loop().time() + timeout_s if timeout_s > 0 else None
        self.received = 0
        self.whole = False
        self.gone = False  # the client went away before the body was whole
        self.failure: type[Exception] | None = None

    def _fail(self, error: type[Exception]):
        self.failure = error
        return error()

    async def __call__(self) -> dict:
        if self.whole:
            return await self.receive()
        if self.failure is not None:
            raise self.failure()
        if self.deadline is None:
            message = await self.receive()
        else:
            try:
                message = await asyncio.wait_for(self.receive(), self.deadline - asyncio.get_running_loop().time())
            except TimeoutError:
                raise self._fail(BodyTimeout) from None
        if message["type"] == "http.request":
            self.received += len(message.get("body") or b"")
            if 0 < self.max_bytes < self.received:
                raise self._fail(BodyTooLarge)
            self.whole = not message.get("more_body")
        else:  # http.disconnect
            self.whole = self.gone = True
        return message

    async def read(self) -> bytes:
        """The whole body (see `gone`: a client that went away sent only part of it)."""
        chunks = []
        while not self.whole:
            message = await self()
            chunks.append(message.get("body") or b"")
        return b"".join(chunks)


class BodyLimit:
    def __init__(self, app, max_bytes: int, prefix: str = "/api/", read_timeout_s: float = 0.0):
        self.app = app
        self.max_bytes = max_bytes
        self.prefix = prefix
        self.read_timeout_s = read_timeout_s

    async def _reject(self, send, status: int = 413, code: str = "body_too_large", message: str = "") -> None:
        message = message or f"request body too large (limit {self.max_bytes} bytes)"
        for part in _error(status, code, message):
            await send(part)

    async def _refuse(self, send, failure: type[Exception]) -> None:
        if failure is BodyTimeout:
            seconds = f"{self.read_timeout_s:g}"
            await self._reject(send, 408, "body_timeout", f"request body not received within {seconds} s")
        else:
            await self._reject(send)

    async def __call__(self, scope, receive, send):
        limited = self.max_bytes > 0 or self.read_timeout_s > 0
        if scope["type"] != "http" or not limited or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        try:
            declared = declared_length(scope)
        except ValueError:
            await self._reject(send, 400, "invalid_content_length", "Content-Length must be an integer")
            return
        if declared is not None and 0 < self.max_bytes < declared:
            await self._reject(send)
            return
        reader = BodyReader(receive, self.max_bytes, self.read_timeout_s)
        started = False

        async def tracking_send(message):
            nonlocal started
            if reader.failure is not None and not started:
                return  # the app's own answer to the failure (e.g. a mounted app's 500): ours is sent instead
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, reader, tracking_send)
        except Exception:
            if reader.failure is None:
                raise
        if reader.failure is not None and not started:
            await self._refuse(send, reader.failure)


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
