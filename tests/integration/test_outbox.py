"""The durable outbox worker: order, batching, backoff, exactly once, restart.

These tests drive `sportello.services.delivery` (over `sportello.store.outbox`) with small in-process sinks (and the CSV
sink) against a real SQLite store; the Google sink has its own tests in
test_google_sheets.py.
"""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import select

from sportello.services.delivery import OutboxWorker, claim_batch, pending_rows
from sportello.sinks.google_sheets import WriteLimiter
from sportello.sinks.layout import CONVERSATIONS
from sportello.sinks.sheets import CsvSink, SinkError
from sportello.store.database import Store
from sportello.store.outbox import backlog, enqueue, saved_status
from sportello.store.tables import outbox


@pytest.fixture
def store(tmp_path):
    s = Store(f"sqlite:///{tmp_path / 'outbox.db'}")
    yield s
    s.dispose()


def add_rows(store: Store, n: int, sessions: int = 3, start: int = 0) -> list[str]:
    """n Conversazioni rows, sessions interleaved; returns the event ids in commit order."""
    ids = []
    with store.write() as conn:
        for i in range(start, start + n):
            sid = f"s{i % sessions}"
            ids.append(enqueue(conn, CONVERSATIONS, ["t", sid, f"msg {i}", "r", "i", "ua"], session_id=sid))
    return ids


class ListSink:
    """Records every batch; fails on demand."""

    name = "list"

    def __init__(self):
        self.batches: list[list] = []
        self.fail: list[SinkError | Exception] = []
        self.lock = threading.Lock()
        self.active = 0
        self.overlaps = 0
        self.delay_s = 0.0

    def write(self, rows):
        with self.lock:
            self.active += 1
            if self.active > 1:
                self.overlaps += 1
        try:
            if self.delay_s:
                time.sleep(self.delay_s)
            if self.fail:
                raise self.fail.pop(0)
            self.batches.append(list(rows))
        finally:
            with self.lock:
                self.active -= 1

    def event_ids(self) -> list[str]:
        return [r.event_id for b in self.batches for r in b]


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rows_go_in_commit_order_in_batches(store):
    ids = add_rows(store, 25, sessions=4)
    sink = ListSink()
    worker = OutboxWorker(store, sink, batch_size=10)
    assert worker.drain() == 25
    assert [len(b) for b in sink.batches] == [10, 10, 5]
    assert sink.event_ids() == ids
    # per session, the messages keep their order
    for s in range(4):
        texts = [r.values[2] for b in sink.batches for r in b if r.values[1] == f"s{s}"]
        assert texts == [f"msg {i}" for i in range(25) if i % 4 == s]
    assert backlog(store) == 0
    assert worker.drain() == 0 and len(sink.batches) == 3


def test_retryable_failure_backs_off_exponentially_with_jitter_and_keeps_rows(store):
    ids = add_rows(store, 5)
    sink = ListSink()
    sink.fail = [SinkError("quota (429)", retryable=True) for _ in range(4)]
    clock = Clock()
    worker = OutboxWorker(store, sink, base_backoff_s=1.0, max_backoff_s=6.0, clock=clock)
    delays = []
    for _ in range(4):
        assert worker.drain_once() == 0
        delays.append(worker._next_attempt - clock.now)
        assert worker.drain_once() == 0  # still backing off: nothing is claimed
        clock.now = worker._next_attempt
    for delay, full in zip(delays, [1, 2, 4, 6], strict=True):  # capped at max_backoff_s
        assert full / 2 <= delay <= full
    assert backlog(store) == 5
    status = saved_status(store)
    assert status["failures"] == 4 and "429" in status["last_error"] and status["next_retry_at"]
    assert worker.drain() == 5
    assert sink.event_ids() == ids
    assert saved_status(store)["failures"] == 0
    with store.read() as conn:
        assert set(conn.execute(select(outbox.c.attempts)).scalars()) == {5}  # 4 failed + 1 good


def test_each_attempt_is_counted_before_the_rows_leave(store):
    add_rows(store, 3)
    first = claim_batch(store, 10)
    assert [r.attempts for r in first] == [0, 0, 0]
    # The process "dies" here, with the request maybe sent: the rows are still pending...
    assert [r.event_id for r in pending_rows(store, 10)] == [r.event_id for r in first]
    # ...and the next claim tells the sink they may already be in the sheet.
    assert [r.attempts for r in claim_batch(store, 10)] == [1, 1, 1]


def test_permanent_failure_stops_and_is_published_for_the_dashboard(store):
    add_rows(store, 4)
    sink = ListSink()
    sink.fail = [SinkError("Il foglio non è condiviso — The spreadsheet is not shared", retryable=False)]
    worker = OutboxWorker(store, sink)
    assert worker.drain() == 0
    status = saved_status(store)
    assert status["stopped_on_error"] is True
    assert "not shared" in status["last_error"] and "condiviso" in status["last_error"]
    assert status["backlog"] == 4
    assert worker.drain_once() == 0 and sink.batches == []  # no more retries
    worker.resume()  # e.g. once the sheet has been shared
    assert worker.drain() == 4
    assert saved_status(store)["stopped_on_error"] is False


def test_unexpected_sink_exception_is_retried(store):
    add_rows(store, 2)
    sink = ListSink()
    sink.fail = [RuntimeError("boom")]
    clock = Clock()
    worker = OutboxWorker(store, sink, clock=clock)
    assert worker.drain_once() == 0
    assert worker.last_error == "RuntimeError: boom" and not worker.stopped_on_error
    clock.now += 100
    assert worker.drain() == 2


class PreparedSink(ListSink):
    def __init__(self, error: SinkError | None):
        super().__init__()
        self.error = error
        self.prepared = 0

    def prepare(self):
        self.prepared += 1
        if self.error:
            raise self.error


def test_sink_is_prepared_once_and_a_misconfiguration_shows_before_any_row(store):
    bad = PreparedSink(SinkError("SHEET_ID mancante — SHEET_ID is missing", retryable=False))
    worker = OutboxWorker(store, bad, interval_s=0.05).start()
    try:
        wait = time.monotonic() + 5
        while not saved_status(store).get("stopped_on_error") and time.monotonic() < wait:
            time.sleep(0.02)
    finally:
        worker.stop()
    status = saved_status(store)
    assert status["stopped_on_error"] and "SHEET_ID is missing" in status["last_error"]
    assert status["ready"] is False and status["backlog"] == 0

    good = PreparedSink(None)
    add_rows(store, 3)
    worker = OutboxWorker(store, good)
    assert worker.drain() == 3 and worker.drain() == 0
    assert good.prepared == 1 and worker.status()["ready"] is True


class ThrottledSink(ListSink):
    def __init__(self):
        super().__init__()
        self.delay = 0.0

    def write_delay(self):
        return self.delay


def test_rate_limited_sink_waits_without_claiming_and_rows_pile_into_one_batch(store):
    sink = ThrottledSink()
    clock = Clock()
    worker = OutboxWorker(store, sink, clock=clock)
    add_rows(store, 1)
    sink.delay = 2.0
    assert worker.drain_once() == 0
    add_rows(store, 9, start=1)
    assert worker.drain_once() == 0  # still waiting
    with store.read() as conn:
        assert set(conn.execute(select(outbox.c.attempts)).scalars()) == {0}  # nothing claimed
    assert worker.failures == 0 and worker.last_error == ""  # waiting is not an error
    sink.delay = 0.0
    clock.now += 2.0
    assert worker.drain_once() == 10
    assert [len(b) for b in sink.batches] == [10]


def test_restart_sends_only_what_is_pending_and_nothing_twice(store, tmp_path):
    ids = add_rows(store, 30)
    sheets = tmp_path / "sheets"
    first = OutboxWorker(store, CsvSink(sheets), batch_size=12)
    assert first.drain_once() == 12
    # A crash right after the sink wrote the second batch but before it was marked sent:
    rows = claim_batch(store, 12)
    CsvSink(sheets).write(rows)
    # A new process: a new store object, a new sink, a new worker.
    again = Store(store.url)
    try:
        second = OutboxWorker(again, CsvSink(sheets), batch_size=12)
        assert second.drain() == 18
        assert backlog(again) == 0
    finally:
        again.dispose()
    written = [r["event_id"] for r in CsvSink(sheets).read(CONVERSATIONS)]
    assert written == ids


def test_the_thread_and_direct_drains_never_send_at_the_same_time(store):
    sink = ListSink()
    sink.delay_s = 0.02
    worker = OutboxWorker(store, sink, batch_size=5, interval_s=0.01).start()
    ids = []
    try:
        drainers = []
        for k in range(6):
            ids += add_rows(store, 10, start=k * 10)
            worker.wake()
            t = threading.Thread(target=worker.drain)
            t.start()
            drainers.append(t)
        for t in drainers:
            t.join(10)
        wait = time.monotonic() + 10
        while backlog(store) and time.monotonic() < wait:
            time.sleep(0.02)
    finally:
        worker.stop()
    assert sink.overlaps == 0
    assert sink.event_ids() == ids  # once each, in order


def test_a_commit_wakes_the_worker_at_once(store):
    sink = ListSink()
    worker = OutboxWorker(store, sink, interval_s=30).start()
    try:
        time.sleep(0.1)  # the thread is now asleep for up to 30 s
        add_rows(store, 1)
        worker.wake()
        t0 = time.monotonic()
        while not sink.batches and time.monotonic() - t0 < 5:
            time.sleep(0.01)
        assert sink.batches and time.monotonic() - t0 < 2
    finally:
        worker.stop()


def test_write_limiter_never_exceeds_the_quota_in_any_window():
    clock = Clock()
    limiter = WriteLimiter(per_window=60, window_s=60, burst=10, clock=clock)
    stamps = []

    def sleep(s):
        clock.now += s

    for _ in range(300):
        limiter.acquire(sleep=sleep)
        stamps.append(clock.now)
    for i, t in enumerate(stamps):
        in_window = sum(1 for u in stamps[i:] if u < t + 60)
        assert in_window <= 60
    assert stamps[9] == stamps[0]  # a burst of 10 goes at once
    assert limiter.delay() > 0
