"""The durable outbox: rows for the sheets, committed with the change they
describe, then drained to a sink by a background worker.

`enqueue` is called inside the flow's transaction. The worker sends pending
rows in id order, in batches, and marks them sent only after the sink
succeeded; on a retryable failure it backs off (exponential, with jitter)
and the rows stay pending. A permanent failure (e.g. a sheet that is not
shared) stops the worker from retrying until it is restarted; the error is
kept for the dashboard.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable

from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection

from core.sheets import SheetRow, Sink, SinkError
from core.store import Store, kv_get, kv_set, outbox

log = logging.getLogger("sportello.outbox")
STATUS_KEY = "outbox_status"


def enqueue(
    conn: Connection,
    worksheet: str,
    values: list,
    *,
    session_id: str | None = None,
    op: str = "append",
    row_key: str = "",
    now: float | None = None,
) -> str:
    event_id = uuid.uuid4().hex
    conn.execute(
        outbox.insert().values(
            event_id=event_id,
            worksheet=worksheet,
            op=op,
            row_key=row_key,
            session_id=session_id,
            payload=json.dumps(values, ensure_ascii=False),
            created_at=now if now is not None else time.time(),
            status="pending",
            attempts=0,
            last_error="",
        )
    )
    return event_id


def pending_rows(store: Store, limit: int) -> list[SheetRow]:
    with store.read() as conn:
        result = conn.execute(
            select(outbox.c.id, outbox.c.event_id, outbox.c.worksheet, outbox.c.op, outbox.c.row_key, outbox.c.payload)
            .where(outbox.c.status == "pending")
            .order_by(outbox.c.id)
            .limit(limit)
        )
        return [
            SheetRow(
                id=r.id,
                event_id=r.event_id,
                worksheet=r.worksheet,
                op=r.op,
                row_key=r.row_key,
                values=json.loads(r.payload),
            )
            for r in result
        ]


def backlog(store: Store) -> int:
    with store.read() as conn:
        return conn.execute(select(func.count()).select_from(outbox).where(outbox.c.status == "pending")).scalar_one()


class OutboxWorker:
    """Drains the outbox to one sink, in a daemon thread."""

    def __init__(
        self,
        store: Store,
        sink: Sink,
        *,
        interval_s: float = 0.5,
        batch_size: int = 500,
        base_backoff_s: float = 1.0,
        max_backoff_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.store = store
        self.sink = sink
        self.interval_s = interval_s
        self.batch_size = batch_size
        self.base_backoff_s = base_backoff_s
        self.max_backoff_s = max_backoff_s
        self.clock = clock
        self.failures = 0
        self.last_error = ""
        self.last_error_at: float | None = None
        self.last_sent_at: float | None = None
        self.sent_total = 0
        self.stopped_on_error = False
        self._next_attempt = 0.0
        self._status_saved_at = 0.0
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    # -- one step, callable directly by tests and benchmarks -----------------
    def drain_once(self) -> int:
        """Send one batch; return how many rows were sent (0 if none/failed)."""
        if self.stopped_on_error or self.clock() < self._next_attempt:
            return 0
        rows = pending_rows(self.store, self.batch_size)
        if not rows:
            return 0
        try:
            self.sink.write(rows)
        except SinkError as exc:
            self._record_failure(rows, str(exc), exc.retryable)
            return 0
        except Exception as exc:  # a bug or an unexpected library error: retry later
            log.exception("outbox sink %s failed unexpectedly", self.sink.name)
            self._record_failure(rows, f"{type(exc).__name__}: {exc}", True)
            return 0
        now = time.time()
        with self.store.write() as conn:
            conn.execute(
                update(outbox)
                .where(outbox.c.id.in_([r.id for r in rows]))
                .values(status="sent", sent_at=now, last_error="")
            )
        recovered = self.failures > 0
        self.failures = 0
        self.last_sent_at = now
        self.sent_total += len(rows)
        if recovered or now - self._status_saved_at > 5:
            self.save_status()
        return len(rows)

    def drain(self, max_batches: int = 1000) -> int:
        total = 0
        for _ in range(max_batches):
            n = self.drain_once()
            if n == 0:
                break
            total += n
        return total

    def _record_failure(self, rows: list[SheetRow], message: str, retryable: bool) -> None:
        self.failures += 1
        self.last_error = message
        self.last_error_at = time.time()
        with self.store.write() as conn:
            conn.execute(
                update(outbox)
                .where(outbox.c.id.in_([r.id for r in rows]))
                .values(attempts=outbox.c.attempts + 1, last_error=message[:2000])
            )
        if not retryable:
            self.stopped_on_error = True
            self.save_status()
            log.error("outbox sink %s failed permanently: %s", self.sink.name, message)
            return
        delay = min(self.max_backoff_s, self.base_backoff_s * 2 ** (self.failures - 1))
        delay = delay / 2 + random.uniform(0, delay / 2)  # jitter
        self._next_attempt = self.clock() + delay
        self.save_status()
        log.warning("outbox sink %s failed (%s); retrying in %.1fs", self.sink.name, message, delay)

    # -- the thread ----------------------------------------------------------
    def start(self) -> OutboxWorker:
        if self._thread is None:
            self.save_status()
            self._thread = threading.Thread(target=self._run, name="outbox-worker", daemon=True)
            self._thread.start()
        return self

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                sent = self.drain_once()
            except Exception:
                log.exception("outbox worker step failed")
                sent = 0
            if sent == 0:
                self._wake.wait(self.interval_s)
                self._wake.clear()

    def save_status(self) -> None:
        """Publish the worker's status in the store, for other processes (dashboard)."""
        self._status_saved_at = time.time()
        try:
            kv_set(self.store, STATUS_KEY, self.status(with_backlog=False))
        except Exception:
            log.exception("could not save the outbox status")

    def status(self, with_backlog: bool = True) -> dict:
        return {
            "sink": self.sink.name,
            **({"backlog": backlog(self.store)} if with_backlog else {}),
            "failures": self.failures,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
            "last_sent_at": self.last_sent_at,
            "stopped_on_error": self.stopped_on_error,
            "sent_total": self.sent_total,
        }


def saved_status(store: Store) -> dict:
    """The status the app's worker last published, plus the current backlog."""
    status = kv_get(store, STATUS_KEY, {}) or {}
    status["backlog"] = backlog(store)
    return status
