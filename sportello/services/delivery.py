"""Delivery: the worker that drains the outbox to a sink, in a daemon thread.

The rows were put in the outbox (`sportello.store.outbox`) in the transaction of
the change they describe. The worker sends pending rows in id order, in
batches, and marks them sent only after the sink succeeded; on a retryable
failure it backs off (exponential, with jitter) and the rows stay pending. A
permanent failure (e.g. a sheet that is not shared) stops the worker from
retrying until it is restarted; the error is kept for the dashboard.

Exactly once: `claim_batch` counts the attempt in each row before the request
leaves, so after a lost answer or a crash the sink knows which rows may
already be in the sheet and checks them (by event id) first. Of several app
processes, only the elected leader (`Leadership`, over the lock of
`sportello.store.leader`) runs a worker.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable

from sportello.services.scheduler import Worker
from sportello.sinks.sheets import SheetRow, Sink, SinkError
from sportello.store import outbox
from sportello.store.database import Store

log = logging.getLogger("sportello.outbox")
leader_log = logging.getLogger("sportello.leader")


def pending_rows(store: Store, limit: int) -> list[SheetRow]:
    """The oldest pending rows, in commit order (read only: nothing is claimed)."""
    return [SheetRow(**r) for r in outbox.pending(store, limit)]


# The three steps of sending a batch, kept apart so that a multi-process
# worker can replace `claim_batch` without touching the rest.
def claim_batch(store: Store, limit: int) -> list[SheetRow]:
    """Claim the oldest pending rows for one send attempt (`sportello.store.outbox.claim`): each
    returned row carries the number of attempts made before this one."""
    return [SheetRow(**r) for r in outbox.claim(store, limit)]


def send_batch(sink: Sink, rows: list[SheetRow]) -> None:
    """Hand the rows to the sink; any failure comes out as a SinkError."""
    try:
        sink.write(rows)
    except SinkError:
        raise
    except Exception as exc:  # a bug or an unexpected library error: retry later
        log.exception("outbox sink %s failed unexpectedly", getattr(sink, "name", "?"))
        raise SinkError(f"{type(exc).__name__}: {exc}", retryable=True) from exc


class OutboxWorker(Worker):
    """Drains the outbox to one sink, in a daemon thread.

    One batch at a time (`batch_lock` serialises the thread and direct `drain()`
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
        # Held while a batch is claimed and sent: `drain_once` from the thread or a direct call, and
        # whoever must see no batch in flight (privacy rewrites the local sheets under it).
        self.batch_lock = threading.Lock()
        super().__init__(batch=batch_size, interval_s=interval_s)

    # -- one step, callable directly by tests and benchmarks -----------------
    def drain_once(self) -> int:
        """Send one batch; return how many rows were sent (0 if none/failed/waiting)."""
        with self.batch_lock:
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
        outbox.mark_sent(self.store, [r.id for r in rows], now)
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
                outbox.note_failure(self.store, [r.id for r in rows], message)
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
        with self.batch_lock:
            self.stopped_on_error = False
            self.failures = 0
            self._next_attempt = 0.0
            self.ready = not hasattr(self.sink, "prepare")
            self._retry_at = None
        self.save_status()
        self.wake()

    # -- the thread ----------------------------------------------------------
    thread_name = "outbox-worker"

    def start(self) -> OutboxWorker:
        if self._thread is None:
            self.save_status()
        return super().start()

    def step(self) -> int:
        return self.drain_once()

    def wait_s(self) -> float:
        ahead = self._next_attempt - self.clock()
        return ahead if 0 < ahead < self.interval_s else self.interval_s

    def woken(self) -> None:
        # A commit woke us: let the commits of the next moment join the same batch
        # rather than claim, send and mark one row at a time under load.
        if self.coalesce_s > 0:
            self._stop.wait(self.coalesce_s)

    def save_status(self) -> None:
        """Publish the worker's status in the store, for other processes (dashboard)."""
        self._status_saved_at = time.time()
        try:
            outbox.save_status(self.store, self.status(with_backlog=False))
        except Exception:
            log.exception("could not save the outbox status")

    def status(self, with_backlog: bool = True) -> dict:
        return {
            "sink": self.sink.name,
            "target": getattr(self.sink, "target", ""),
            **({"backlog": outbox.backlog(self.store)} if with_backlog else {}),
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


class Leadership:
    """Runs `on_elected` once this process holds the lock, `on_deposed` if it loses it."""

    def __init__(self, lock, on_elected: Callable[[], None], on_deposed: Callable[[], None], interval_s: float = 1.0):
        """`lock`: a `sportello.store.leader.make_lock` (try_acquire, alive, release)."""
        self.lock = lock
        self.on_elected = on_elected
        self.on_deposed = on_deposed
        self.interval_s = interval_s
        self.is_leader = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Leadership:
        self._thread = threading.Thread(target=self._run, name="outbox-leader", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if not self.is_leader and self.lock.try_acquire():
                    leader_log.info("this process now drains the outbox")
                    self.on_elected()
                    self.is_leader = True  # only once the worker runs (tests and stop() rely on it)
                elif self.is_leader and not self.lock.alive():
                    leader_log.warning("lost the outbox lock; stopping the worker")
                    self.is_leader = False
                    self.on_deposed()
                    self.lock.release()
            except Exception:
                leader_log.exception("leader election step failed")
                if self.is_leader:
                    self.is_leader = False
                    self.on_deposed()
                self.lock.release()
            self._stop.wait(self.interval_s)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        if self.is_leader:
            self.is_leader = False
            self.on_deposed()
        self.lock.release()
