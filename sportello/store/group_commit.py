"""Group commit for SQLite: many short write transactions, one durable COMMIT.

SQLite takes one writer at a time and each COMMIT in WAL mode with
`synchronous=FULL` costs an fsync. Under load, the writers of this process
queue on a FIFO lock; instead of committing after each of them, the writer
that finds others waiting behind it hands them the open transaction, and the
last one of the group commits for all. Each writer's work after the first runs
inside its own SAVEPOINT, so a writer that fails is rolled back alone; the others
commit. The first has none (nothing before it to keep: it rolls back the root).

A writer's `with store.write()` returns only when the COMMIT of its group
is durable: an acknowledged write is on disk, as before. When no one else is
waiting, a writer commits alone at once (no timer, no added latency).

The lock is FIFO (a queue of hand-offs), so no writer starves; a group holds
at most `max_group` transactions, so the first of a group waits for at most
that many others.

While the lock is held the interpreter switches threads more often
(`HOLD_SWITCH_S` instead of Python's 5 ms, `GilTurns`). Each statement of a
write lets go of the GIL while SQLite works and must then get it back from
whichever thread took it meanwhile: at 5 ms a turn, at 1,000 visitor tabs a
write held the lock p95 22-28 ms and p99 58-70 ms, mostly waiting, not
working, while every other writer of the process queued behind it (with 0.2 ms
turns: p95 13-14 ms, p99 23-25 ms; the queue's wait p95 331-351 -> 57-76 ms).
"""

from __future__ import annotations

import sys
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection
from sqlalchemy.engine import Engine

# How often the interpreter switches threads while a write lock is held (Python's own: 5 ms).
HOLD_SWITCH_S = 0.0002


class GilTurns:
    """The process's thread switch interval: HOLD_SWITCH_S while any write lock of the process is held, the
    interval it had before once none is (counted across locks: a process may hold several stores)."""

    _mutex = threading.Lock()
    _held = 0
    _before = 0.0

    @classmethod
    def held(cls) -> None:
        with cls._mutex:
            cls._held += 1
            if cls._held == 1:
                cls._before = sys.getswitchinterval()
                sys.setswitchinterval(min(HOLD_SWITCH_S, cls._before))

    @classmethod
    def freed(cls) -> None:
        with cls._mutex:
            cls._held -= 1
            if cls._held == 0:
                sys.setswitchinterval(cls._before)


class FifoLock:
    """A mutex granted in arrival order; `waiting()` says whether anyone queues behind the holder. While it is
    held, threads take turns at the GIL every HOLD_SWITCH_S (`GilTurns`)."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._busy = False
        self._queue: deque[threading.Lock] = deque()

    def acquire(self) -> None:
        with self._mutex:
            if not self._busy:
                self._busy = True
                GilTurns.held()
                return
            gate = threading.Lock()
            gate.acquire()
            self._queue.append(gate)
        gate.acquire()  # released by release(): ownership is handed over, _busy stays True

    def release(self) -> None:
        with self._mutex:
            if self._queue:
                self._queue.popleft().release()
            else:
                self._busy = False
                GilTurns.freed()

    def waiting(self) -> int:
        with self._mutex:
            return len(self._queue)


class _Group:
    """The writers sharing one transaction; they learn together how its COMMIT went."""

    __slots__ = ("conn", "root", "size", "done", "error")

    def __init__(self, conn: Connection, root) -> None:
        self.conn = conn
        self.root = root
        self.size = 0
        self.done = threading.Event()
        self.error: BaseException | None = None


class GroupCommitter:
    """Hands out write transactions on one SQLite connection, committed in groups."""

    def __init__(self, engine: Engine, max_group: int = 64) -> None:
        self.engine = engine
        self.max_group = max(1, max_group)
        self._lock = FifoLock()
        self._group: _Group | None = None
        # counters, for benchmarks and tests
        self.commits = 0
        self.transactions = 0

    @contextmanager
    def write(self) -> Iterator[Connection]:
        self._lock.acquire()
        try:
            group = self._group
            if group is None:
                conn = self.engine.connect()
                try:
                    conn.execution_options(sqlite_begin="IMMEDIATE")
                    root = conn.begin()
                except BaseException:
                    conn.close()
                    raise
                group = self._group = _Group(conn, root)
            group.size += 1
            self.transactions += 1
        except BaseException:
            self._lock.release()
            raise
        # The group's first writer has no savepoint: nothing before it to keep, and its failure rolls back the
        # root transaction (no one joined yet: the lock is held). Two statements fewer in most writes, each of
        # which lets go of the GIL and must wait to get it back while every other writer waits on the lock.
        first = group.size == 1
        try:
            savepoint = None if first else group.conn.begin_nested()
        except BaseException as exc:  # the connection is broken: the whole group fails
            self._fail(group, exc)
            raise
        try:
            yield group.conn
        except BaseException as error:
            if savepoint is None:
                self._fail(group, error)
                raise
            try:
                savepoint.rollback()
            except BaseException as exc:  # the connection is broken: the whole group fails
                self._fail(group, exc)
                raise
            self._close_turn(group)
            raise
        else:
            try:
                if savepoint is not None:
                    savepoint.commit()
            except BaseException as exc:
                self._fail(group, exc)
                raise
            self._close_turn(group)
        # Outside the lock: wait until the group's COMMIT is durable.
        group.done.wait()
        if group.error is not None:
            raise group.error

    def _close_turn(self, group: _Group) -> None:
        """The holder's work is done: pass the open transaction on, or commit the group."""
        if self._lock.waiting() and group.size < self.max_group:
            self._lock.release()  # the next writer joins this group
            return
        try:
            group.root.commit()
            self.commits += 1
        except BaseException as exc:
            group.error = exc
        self._finish(group)

    def _fail(self, group: _Group, exc: BaseException) -> None:
        group.error = exc
        try:
            group.root.rollback()
        except BaseException:
            pass
        self._finish(group)

    def _finish(self, group: _Group | None) -> None:
        if group is not None:
            try:
                group.conn.close()
            finally:
                self._group = None
                group.done.set()
        self._lock.release()
