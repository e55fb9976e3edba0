"""The visitor stream: `GET /api/chat/sessions/{id}/stream?after=SEQ`, Server-Sent Events.

What the visitor's poll says, pushed as it happens (the change feed, sportello/services/feed.py, wakes
the stream; the stream then reads the chat once):

    id: 7                      event: message   data: {"seq": 7, "role": "operator", "author", "text", "created_at"}
    id: 7                      event: state     data: {"status", "queue_position", "estimated_wait_s",
                                                      "operator_name", "ticket_id", "operator_typing",
                                                      "language", "last_seq"}
    : keepalive                (every STREAM_KEEPALIVE_S)

The first answer carries every message after `after` and the state. `id` is the last message sequence
sent: a client that reconnects with `after=<id>` (or EventSource's own `Last-Event-ID` header) gets exactly
what it missed, nothing twice.

Authorisation: the chat's visitor token, in the `X-Session-Token` header (as every visitor endpoint; the
visitor page sends it with fetch) or, for EventSource which cannot set headers, in the `token` query
parameter. A chat that does not exist or a wrong token: 404 and nothing more.

Limits: STREAM_MAX_PER_CLIENT streams per client address (429 `too_many_streams`), STREAM_MAX_PER_SESSION
per chat (a new one closes the chat's oldest: a reloaded tab is never locked out by its own dead
connection), STREAM_IDLE_S without news closes a stream (clients reconnect). At shutdown the feed closes and
every stream ends at once (`serve`).
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import sys
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import uvicorn
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse

from sportello.domain import DomainError, State
from sportello.faces.client_address import client_address
from sportello.runtime import Runtime
from sportello.services.chat_view import TYPING_S

STATE_KEYS = (
    "status",
    "queue_position",
    "estimated_wait_s",
    "operator_name",
    "ticket_id",
    "operator_typing",
    "language",
)
MAX_PAGES = 50  # POLL_MAX_MESSAGES each: a long chat's catch-up is read in pages
READ_WORKERS = 8  # the stream's reads: their own threads, never behind slow answers
GC_THRESHOLDS = (10_000, 20, 100)  # gc.set_threshold for the serving process (CPython's default: 700, 10, 10)
NOT_FOUND = {"error": {"code": "not_found", "message": "Not found"}}
log = logging.getLogger("sportello.stream")


def _frame(event: str, data: Any, seq: int | None = None) -> str:
    head = f"id: {seq}\n" if seq is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n"


class _Slot:
    """One open stream."""

    def __init__(self, client: str, session_id: str):
        self.client = client
        self.session_id = session_id
        self.evicted = False
        self.sub = None


class StreamLimits:
    """Open streams per client and per chat. Touched only from the event loop: no lock."""

    def __init__(self, per_client: int, per_session: int):
        self.per_client = per_client
        self.per_session = per_session
        self.clients: dict[str, int] = defaultdict(int)
        self.sessions: dict[str, list[_Slot]] = defaultdict(list)

    def open(self, client: str, session_id: str) -> _Slot | None:
        """A slot, or None when the client holds its maximum already. Past the chat's maximum the
        chat's oldest stream is told to end."""
        if self.per_client > 0 and self.clients[client] >= self.per_client:
            return None
        slot = _Slot(client, session_id)
        self.clients[client] += 1
        held = self.sessions[session_id]
        held.append(slot)
        if self.per_session > 0:
            for old in held[: max(0, len(held) - self.per_session)]:
                if not old.evicted:
                    old.evicted = True
                    if old.sub is not None:
                        old.sub.wake()
        return slot

    def close(self, slot: _Slot) -> None:
        self.clients[slot.client] -= 1
        if self.clients[slot.client] <= 0:
            del self.clients[slot.client]
        held = self.sessions.get(slot.session_id, [])
        if slot in held:
            held.remove(slot)
        if not held:
            self.sessions.pop(slot.session_id, None)

    def count(self) -> int:
        return sum(self.clients.values())


def stream_router(runtime: Runtime) -> APIRouter:
    router = APIRouter(prefix="/api")
    settings = runtime.settings
    view = runtime.chat.view
    feed = runtime.feed
    limits = StreamLimits(settings.stream_max_per_client, settings.stream_max_per_session)
    pool = ThreadPoolExecutor(max_workers=READ_WORKERS, thread_name_prefix="visitor-stream")
    router.limits = limits  # read by tests and the benchmark

    reading: dict[int, asyncio.Future] = {}  # queue move -> the one read of every waiting chat's place for it

    async def places(move: int) -> None:
        """The queue's places read for `move`, once for every stream it woke: the first asks a thread to read them,
        the others wait for that read on the event loop, holding no thread (a move wakes every chat behind it: at
        1,000 tabs each of them waiting in a thread for the one read kept the pool from the chats' own reads, and
        an operator's message waited behind them)."""
        job = reading.get(move)
        if job is None:
            job = reading[move] = asyncio.get_running_loop().run_in_executor(pool, view.read_places, move)
            job.add_done_callback(lambda _job: reading.pop(move, None))
        try:
            await asyncio.shield(job)
        except Exception:  # the read failed: each stream reads its own chat instead
            log.exception("could not read the queue's places")

    def read(session_id: str, token: str, after: int) -> tuple[dict, list[dict]]:
        """The chat's state and every message after `after` (paged by POLL_MAX_MESSAGES)."""
        msgs: list[dict] = []
        for _ in range(MAX_PAGES):
            snap = view.visitor_poll(session_id, token, after)
            msgs.extend(snap["messages"])
            after = max(after, int(snap.get("last_seq") or 0))
            if not snap.get("more"):
                break
        return snap, msgs

    async def events(slot: _Slot, session_id: str, token: str, after: int, first) -> Any:
        loop = asyncio.get_running_loop()
        sub = slot.sub
        shown: dict | None = None
        quiet_since = loop.time()
        snap, msgs = first
        try:
            yield "retry: 1000\n\n"  # EventSource: reconnect after a second
            while True:
                out = []
                for m in msgs:
                    if m["seq"] > after:
                        after = m["seq"]
                        out.append(_frame("message", m, after))
                state = {k: snap.get(k) for k in STATE_KEYS}
                state["last_seq"] = after
                if state != shown:
                    shown = state
                    out.append(_frame("state", state, after))
                if out:
                    quiet_since = loop.time()
                    yield "".join(out)
                sub.queued = state["status"] == "waiting"  # a chat ahead leaving the queue wakes it
                while True:  # wait for news
                    if sub.closed or slot.evicted:
                        return
                    wait_s = settings.stream_keepalive_s
                    if state["operator_typing"]:
                        wait_s = min(wait_s, TYPING_S)  # the mark fades: read again then
                    if settings.stream_idle_s > 0:
                        wait_s = min(wait_s, max(0.05, settings.stream_idle_s - (loop.time() - quiet_since)))
                    if await sub.wait(wait_s) or state["operator_typing"]:
                        break
                    if settings.stream_idle_s > 0 and loop.time() - quiet_since >= settings.stream_idle_s:
                        return
                    yield ": keepalive\n\n"
                if sub.closed or slot.evicted:
                    return
                if not sub.take_own() and state["status"] == State.WAITING and not state["operator_typing"]:
                    # Only the queue ahead moved: the new place, from one read of the queue for every chat behind
                    # (`places`: the first of them asks a thread to read it, the others wait for it on the loop).
                    # None (not in the queue any more, or the read failed): the chat's own, read in full.
                    move = feed.queue_moves
                    known, figures = view.known_queue_figures(session_id, move)
                    if not known:
                        await places(move)
                        figures = view.known_queue_figures(session_id, move)[1]
                    if figures is not None:
                        snap, msgs = {**snap, **figures}, []
                        continue
                try:
                    snap, msgs = await loop.run_in_executor(pool, read, session_id, token, after)
                except DomainError:  # the chat was erased meanwhile: the stream ends
                    return
        finally:
            sub.close()
            limits.close(slot)

    @router.get("/chat/sessions/{session_id}/stream", include_in_schema=True)
    async def chat_stream(session_id: str, request: Request, after: str = "0", token: str = ""):
        token = request.headers.get("x-session-token") or token
        try:
            start = max(int(after or 0), int(request.headers.get("last-event-id") or 0), 0)
        except ValueError:
            start = 0
        if not token or len(session_id) > 64:
            return JSONResponse(NOT_FOUND, status_code=404)
        loop = asyncio.get_running_loop()
        # Subscribed before the first read: a change committed meanwhile wakes the stream, never lost.
        sub = feed.subscribe(session_id)
        try:
            first = await loop.run_in_executor(pool, read, session_id, token, start)
        except DomainError:
            sub.close()
            return JSONResponse(NOT_FOUND, status_code=404)
        except BaseException:
            sub.close()
            raise
        slot = limits.open(client_address(request) or "", session_id)
        if slot is None:
            sub.close()
            message = "Troppe connessioni aperte. / Too many open streams."
            return JSONResponse({"error": {"code": "too_many_streams", "message": message}}, status_code=429)
        slot.sub = sub
        headers = {"Cache-Control": "no-cache, no-store", "X-Accel-Buffering": "no"}
        return StreamingResponse(
            events(slot, session_id, token, start, first), media_type="text/event-stream", headers=headers
        )

    return router


class ClosingServer(uvicorn.Server):
    """uvicorn's server that, when asked to stop, first ends the open visitor streams (the change feed
    closes): the graceful shutdown then finds no stream holding a connection open."""

    def __init__(self, config: uvicorn.Config, on_exit):
        super().__init__(config)
        self.on_exit = on_exit

    def handle_exit(self, sig, frame) -> None:
        self.on_exit()
        super().handle_exit(sig, frame)


def serve(app, runtime: Runtime, **kwargs) -> None:
    """`uvicorn.run(app, **kwargs)`, with the streams ended at the start of the shutdown.

    What the app built at start-up (Gradio's blocks, the knowledge base, the models' Python objects: hundreds of
    thousands of objects that live as long as the process) is frozen out of the garbage collector first: each
    full collection walked them all and held the GIL 220-300 ms, every 4 s at 1,000 tabs, stalling every
    request and stream at once (issue 21). The young generation is collected every GC_THRESHOLDS[0] net
    allocations instead of 700: at 1,000 tabs the collector ran 79 times in 45 s instead of 2,700, and no full
    collection came (they still took 60-140 ms each after the freeze)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    server = ClosingServer(uvicorn.Config(app, **kwargs), runtime.feed.close)
    server.run()
    if not server.started:
        sys.exit(3)  # as uvicorn.run: the server could not start
