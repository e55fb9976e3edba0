"""The durable outbox: rows for the sheets, committed with the change they
describe, then drained to a sink by a background worker.

`enqueue` is called inside the flow's transaction. The worker sends pending
rows in id order, in batches, and marks them sent only after the sink
succeeded; on a retryable failure it backs off (exponential, with jitter)
and the rows stay pending. A permanent failure (e.g. a sheet that is not
shared) stops the worker from retrying until it is restarted; the error is
kept for the dashboard.

Exactly once: every send attempt is counted in the row (`attempts`) before
the request leaves, so after a lost answer or a crash the sink knows which
rows may already be in the sheet and checks them (by event id) first. The
chat never waits for any of this: the flow only inserts outbox rows.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable

from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import Connection

from sportello.sinks.sheets import SheetRow, Sink, SinkError
from sportello.store.database import Store, kv_get, kv_put, kv_read, kv_set
from sportello.store.tables import outbox

log = logging.getLogger("sportello.outbox")
STATUS_KEY = "outbox_status"


_INSERT = outbox.insert()  # built once: executed with a dict, its compiled form is cached


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
    """Put a sheet row in the outbox, in `conn`'s transaction; return its event id."""
    return enqueue_row(conn, worksheet, values, session_id=session_id, op=op, row_key=row_key, now=now)[1]


def enqueue_row(
    conn: Connection,
    worksheet: str,
    values: list,
    *,
    session_id: str | None = None,
    op: str = "append",
    row_key: str = "",
    now: float | None = None,
) -> tuple[int, str]:
    """`enqueue`, returning (the row's id, i.e. its place in the commit order, event id)."""
    event_id = uuid.uuid4().hex
    result = conn.execute(
        _INSERT,
        {
            "event_id": event_id,
            "worksheet": worksheet,
            "op": op,
            "row_key": row_key,
            "session_id": session_id,
            "payload": json.dumps(values, ensure_ascii=False),
            "created_at": now if now is not None else time.time(),
            "status": "pending",
            "attempts": 0,
            "last_error": "",
        },
    )
    return result.inserted_primary_key[0], event_id


def _row(r, attempts: int | None = None) -> SheetRow:
    return SheetRow(
        id=r.id,
        event_id=r.event_id,
        worksheet=r.worksheet,
        op=r.op,
        row_key=r.row_key,
        values=json.loads(r.payload),
        attempts=r.attempts if attempts is None else attempts,
    )


_COLUMNS = (
    outbox.c.id,
    outbox.c.event_id,
    outbox.c.worksheet,
    outbox.c.op,
    outbox.c.row_key,
    outbox.c.payload,
    outbox.c.attempts,
)


def pending_rows(store: Store, limit: int) -> list[SheetRow]:
    """The oldest pending rows, in commit order (read only: nothing is claimed)."""
    with store.read() as conn:
        result = conn.execute(select(*_COLUMNS).where(outbox.c.status == "pending").order_by(outbox.c.id).limit(limit))
        return [_row(r) for r in result]


# The three steps of sending a batch, kept apart so that a multi-process
# worker can replace `claim_batch` (e.g. SELECT ... FOR UPDATE SKIP LOCKED
# with a lease) without touching the rest.
def claim_batch(store: Store, limit: int) -> list[SheetRow]:
    """Claim the oldest pending rows, in commit order, for one send attempt.

    The attempt is counted BEFORE the rows are handed to the sink, in its own
    committed transaction: if the process dies while the request is in
    flight, the rows come back with `attempts` > 0 and the sink checks the
    sheet before writing them again. Each returned row carries the number of
    attempts made before this one.
    """
    with store.write() as conn:
        rows = conn.execute(
            select(*_COLUMNS).where(outbox.c.status == "pending").order_by(outbox.c.id).limit(limit)
        ).all()
        if rows:
            conn.execute(
                update(outbox)
                .where(outbox.c.id.in_([r.id for r in rows]), outbox.c.status == "pending")
                .values(attempts=outbox.c.attempts + 1)
            )
    return [_row(r) for r in rows]


def send_batch(sink: Sink, rows: list[SheetRow]) -> None:
    """Hand the rows to the sink; any failure comes out as a SinkError."""
    try:
        sink.write(rows)
    except SinkError:
        raise
    except Exception as exc:  # a bug or an unexpected library error: retry later
        log.exception("outbox sink %s failed unexpectedly", getattr(sink, "name", "?"))
        raise SinkError(f"{type(exc).__name__}: {exc}", retryable=True) from exc


def mark_sent(store: Store, ids: list[int], now: float | None = None) -> None:
    with store.write() as conn:
        conn.execute(
            update(outbox)
            .where(outbox.c.id.in_(ids))
            .values(status="sent", sent_at=time.time() if now is None else now, last_error="")
        )


def note_failure(store: Store, ids: list[int], message: str) -> None:
    with store.write() as conn:
        conn.execute(update(outbox).where(outbox.c.id.in_(ids)).values(last_error=message[:2000]))


def pending_summary(store: Store) -> tuple[int, float | None]:
    """How many rows wait to be sent, and when the oldest of them was written (None when none wait)."""
    with store.read() as conn:
        count, oldest = conn.execute(
            select(func.count(), func.min(outbox.c.created_at)).where(outbox.c.status == "pending")
        ).one()
    return count, oldest


def backlog(store: Store) -> int:
    return pending_summary(store)[0]


# -- pruning: sent rows are kept KEEP_SENT_DAYS, then deleted ---------------------------------
# The events table keeps everything the dashboard shows; an outbox row is only needed until the
# sheet has it (and for a while after, to look at). Unsent rows (pending, whatever their age or
# error) are never deleted. The highest id deleted so far is remembered (kv PRUNED_KEY), so the
# log can still say "sent" for an event whose row is gone.
PRUNED_KEY = "outbox_pruned_through"


def pruned_through(conn: Connection) -> int:
    """The highest outbox id a prune has deleted (0 when none): every row up to it that is gone was sent."""
    return int(kv_read(conn, PRUNED_KEY, 0))


def prune_sent(store: Store, older_than_s: float, *, now: float | None = None, batch: int = 5000) -> int:
    """Delete the rows sent more than `older_than_s` ago, in batches (short write transactions);
    return how many. Never a pending row, and never the newest row of the table (SQLite would
    reuse its id, which the events keep as their commit order)."""
    cutoff = (time.time() if now is None else now) - older_than_s
    total = 0
    while True:
        with store.write() as conn:
            newest = conn.execute(select(func.max(outbox.c.id))).scalar()
            if newest is None:
                return total
            ids = (
                conn.execute(
                    select(outbox.c.id)
                    .where(
                        outbox.c.status == "sent",
                        outbox.c.sent_at < cutoff,
                        outbox.c.id < newest,
                    )
                    .order_by(outbox.c.id)
                    .limit(batch)
                )
                .scalars()
                .all()
            )
            if not ids:
                return total
            conn.execute(delete(outbox).where(outbox.c.id.in_(ids), outbox.c.status == "sent"))
            if ids[-1] > pruned_through(conn):
                kv_put(conn, PRUNED_KEY, ids[-1])
        total += len(ids)
        if len(ids) < batch:
            return total


class OutboxWorker:
    """Drains the outbox to one sink, in a daemon thread.

    One batch at a time (a lock serialises the thread and direct `drain()`
    calls, so a row is never in two requests at once). A sink may offer
    `prepare()` (connect, create worksheets: run once before the first batch,
    so a misconfiguration shows at start-up even with nothing to send),
    `write_delay()` (seconds before its rate limiter allows a write: the
    worker waits without claiming anything) and `target` (shown in the status).
    """

    def __init__(
        self,
        store: Store,
        sink: Sink,
        *,
        interval_s: float = 0.5,
        coalesce_s: float = 0.1,
        batch_size: int = 500,
        base_backoff_s: float = 1.0,
        max_backoff_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.store = store
        self.sink = sink
        self.interval_s = interval_s
        self.coalesce_s = coalesce_s
        self.batch_size = batch_size
        self.base_backoff_s = base_backoff_s
        self.max_backoff_s = max_backoff_s
        self.clock = clock
        self.failures = 0
        self.last_error = ""
        self.last_error_at: float | None = None
        self.last_sent_at: float | None = None
        self.sent_total = 0
        self.batches_total = 0
        self.stopped_on_error = False
        self.ready = not hasattr(sink, "prepare")
        self._next_attempt = 0.0
        self._retry_at: float | None = None  # wall clock, for the status
        self._status_saved_at = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    # -- one step, callable directly by tests and benchmarks -----------------
    def drain_once(self) -> int:
        """Send one batch; return how many rows were sent (0 if none/failed/waiting)."""
        with self._lock:
            return self._drain_once()

    def _drain_once(self) -> int:
        if self.stopped_on_error or self.clock() < self._next_attempt:
            return 0
        if not self.ready:
            try:
                self.sink.prepare()
            except Exception as exc:
                err = exc if isinstance(exc, SinkError) else SinkError(f"{type(exc).__name__}: {exc}")
                self._record_failure([], str(err), err.retryable)
                return 0
            self.ready = True
            self.save_status()
        delay = self._write_delay()
        if delay > 0:  # the sink's rate limiter: wait, rows accumulate into a bigger batch
            self._next_attempt = self.clock() + delay
            return 0
        rows = claim_batch(self.store, self.batch_size)
        if not rows:
            return 0
        try:
            send_batch(self.sink, rows)
        except SinkError as exc:
            self._record_failure(rows, str(exc), exc.retryable)
            return 0
        now = time.time()
        mark_sent(self.store, [r.id for r in rows], now)
        recovered = self.failures > 0
        self.failures = 0
        self._retry_at = None
        self.last_sent_at = now
        self.sent_total += len(rows)
        self.batches_total += 1
        if recovered or now - self._status_saved_at > 5:
            self.save_status()
        return len(rows)

    def _write_delay(self) -> float:
        probe = getattr(self.sink, "write_delay", None)
        if probe is None:
            return 0.0
        try:
            return float(probe())
        except Exception:
            return 0.0

    def drain(self, max_batches: int = 1000) -> int:
        """Send batches until the outbox is empty, a send fails or the sink must wait."""
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
        if rows:
            try:
                note_failure(self.store, [r.id for r in rows], message)
            except Exception:
                log.exception("could not record the outbox failure")
        if not retryable:
            self.stopped_on_error = True
            self._retry_at = None
            self.save_status()
            log.error(
                "outbox sink %s failed permanently, rows wait in the outbox until the app restarts: %s",
                self.sink.name,
                message,
            )
            return
        delay = min(self.max_backoff_s, self.base_backoff_s * 2 ** min(self.failures - 1, 30))
        delay = delay / 2 + random.uniform(0, delay / 2)  # jitter
        self._next_attempt = self.clock() + delay
        self._retry_at = time.time() + delay
        self.save_status()
        log.warning("outbox sink %s failed (%s); retrying in %.1fs", self.sink.name, message, delay)

    def resume(self) -> None:
        """Try again after a permanent error (e.g. once the sheet has been shared)."""
        with self._lock:
            self.stopped_on_error = False
            self.failures = 0
            self._next_attempt = 0.0
            self.ready = not hasattr(self.sink, "prepare")
            self._retry_at = None
        self.save_status()
        self.wake()

    # -- the thread ----------------------------------------------------------
    def start(self) -> OutboxWorker:
        if self._thread is None:
            self._stop.clear()
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
            if sent >= self.batch_size:
                continue  # a backlog: the next batch at once
            wait = self.interval_s
            ahead = self._next_attempt - self.clock()
            if 0 < ahead < wait:
                wait = ahead
            woken = self._wake.wait(wait)
            self._wake.clear()
            if woken and self.coalesce_s > 0:
                # A commit woke us: let the commits of the next moment join the same batch
                # rather than claim, send and mark one row at a time under load.
                self._stop.wait(self.coalesce_s)

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
            "target": getattr(self.sink, "target", ""),
            **({"backlog": backlog(self.store)} if with_backlog else {}),
            "ready": self.ready,
            "failures": self.failures,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
            "next_retry_at": self._retry_at,
            "last_sent_at": self.last_sent_at,
            "stopped_on_error": self.stopped_on_error,
            "sent_total": self.sent_total,
            "batches_total": self.batches_total,
        }


def saved_status(store: Store) -> dict:
    """The status the app's worker last published, plus the current backlog and when its oldest row was written."""
    status = kv_get(store, STATUS_KEY, {}) or {}
    status["backlog"], status["oldest_pending_at"] = pending_summary(store)
    return status
