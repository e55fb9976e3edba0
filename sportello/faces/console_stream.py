"""The operator console's long poll: `GET /api/operators/console?after=VERSION`, "anything new for me?".

The Live page's watcher (faces/dashboard/console_watch.py, a script in the dashboard's page) asks it in a
loop: the answer `{"version", "waiting"}` comes at once when the console's version (`ChatView.console_version`,
a digest of `ChatView.console_marker`: the queue, my chats' last messages and languages, my colleagues'
chats; read through services/console_versions.py, once per change for all the consoles) differs from `after`,
else as soon as it changes, else after `wait` seconds (at most WAIT_S) with the same version. The page reruns
only the fragment whose part changed, and only then: an idle console costs one request per WAIT_S and nothing
of Streamlit's.

It waits on the process's change feed (services/feed.py, `subscribe_any`): a write of this process (a
visitor's message, a chat queued) wakes it at once, one of another process (the dashboard's take, send,
release) at the feed watcher's next look (FEED_INTERVAL_S); a wake-up costs one indexed query, shared by every
console the same change woke.

With `beat=1` the request is also the console's heartbeat (the page's script asks so every
HEARTBEAT_TIMEOUT_S / 3, and waits no longer than that): an open console keeps its operator present without
any Streamlit run; a closed one stops beating.

Authorisation: the operator's token, as `Authorization: Bearer <token>` or the dashboard's sign-in cookie
(HttpOnly, SameSite=Strict: the page's script never sees the token). No token, a wrong or expired one: 401.
Only a digest and the queue's length go out: nothing an operator could not see on the Live page.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from sportello.domain import DomainError
from sportello.faces.bearer import bearer_of
from sportello.runtime import Runtime
from sportello.services.operators import SESSION_COOKIE

WAIT_S = 25.0  # the longest wait for news before answering "nothing new" (the browser asks again at once)
READ_WORKERS = 4  # the console's reads (a token check, one indexed query): their own threads
UNAUTHORIZED = {"error": {"code": "unauthorized", "message": "Operator token required"}}
NO_CACHE = {"Cache-Control": "no-store"}


def _token(request: Request) -> str:
    return bearer_of(request.headers.get("authorization", "")) or request.cookies.get(SESSION_COOKIE) or ""


def console_router(runtime: Runtime) -> APIRouter:
    router = APIRouter(prefix="/api")
    versions = runtime.console_versions
    operators = runtime.operators
    feed = runtime.feed
    pool = ThreadPoolExecutor(max_workers=READ_WORKERS, thread_name_prefix="console-poll")

    @router.get("/operators/console")
    async def console(request: Request, after: str = "", wait: str = "", beat: str = ""):
        """The console's version and the queue's length; waits up to `wait` s (≤ WAIT_S) for a version
        other than `after`. `beat=1`: the operator's heartbeat too (the open console's, every
        HEARTBEAT_TIMEOUT_S / 3)."""
        loop = asyncio.get_running_loop()
        token = _token(request)
        try:
            op = await loop.run_in_executor(pool, lambda: operators.authenticate(token, touch=False))
        except DomainError:
            return JSONResponse(UNAUTHORIZED, status_code=401, headers=NO_CACHE)
        if beat == "1":
            await loop.run_in_executor(pool, operators.heartbeat, op["id"])
        try:
            wait_s = min(WAIT_S, max(0.0, float(wait))) if wait else WAIT_S
        except ValueError:
            wait_s = WAIT_S
        deadline = loop.time() + wait_s
        # Subscribed before the first read: a change committed meanwhile wakes the wait, never lost.
        with feed.subscribe_any() as sub:
            unlike = after  # the first look: a version the page drew that the shared read may not have seen yet
            while True:
                version, waiting = await loop.run_in_executor(pool, versions.version, op["id"], unlike)
                unlike = None
                left = deadline - loop.time()
                if version != after or left <= 0 or sub.closed or await request.is_disconnected():
                    return JSONResponse({"version": version, "waiting": waiting}, headers=NO_CACHE)
                await sub.wait(left)

    return router
