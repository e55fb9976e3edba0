"""One leader among the app processes sharing a database.

The outbox must be drained by one worker at a time, or two processes could
send rows of the same session out of order (or twice, with a sink that
cannot de-duplicate). Every app process runs a `Leadership`; the one that
holds the lock runs the worker, the others wait to take over.

- PostgreSQL: a session-level advisory lock held on a dedicated connection.
  If the process dies, its connection closes and the lock is released.
- SQLite: an exclusive `flock` on a file beside the database; the kernel
  releases it when the process dies.
"""

from __future__ import annotations

import fcntl
import logging
import threading
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Engine

log = logging.getLogger("sportello.leader")
OUTBOX_LOCK_ID = 7_270_002


class _PgLock:
    def __init__(self, engine: Engine, lock_id: int):
        self.engine = engine
        self.lock_id = lock_id
        self.conn = None

    def try_acquire(self) -> bool:
        if self.conn is None:
            self.conn = self.engine.connect()
        got = self.conn.execute(text("SELECT pg_try_advisory_lock(:id)"), {"id": self.lock_id}).scalar()
        self.conn.commit()
        return bool(got)

    def alive(self) -> bool:
        try:
            self.conn.execute(text("SELECT 1"))
            self.conn.commit()
            return True
        except Exception:
            return False

    def release(self) -> None:
        if self.conn is not None:
            try:
                self.conn.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": self.lock_id})
                self.conn.commit()
            except Exception:
                pass
            self.conn.close()
            self.conn = None


class _FileLock:
    def __init__(self, path: Path):
        self.path = path
        self.fh = None

    def try_acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+")  # noqa: SIM115 (kept open while we hold the lock)
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            return False
        self.fh = fh
        return True

    def alive(self) -> bool:
        return self.fh is not None

    def release(self) -> None:
        if self.fh is not None:
            fcntl.flock(self.fh, fcntl.LOCK_UN)
            self.fh.close()
            self.fh = None


def make_lock(engine: Engine, lock_id: int = OUTBOX_LOCK_ID):
    if engine.dialect.name == "postgresql":
        return _PgLock(engine, lock_id)
    database = engine.url.database
    if not database or database == ":memory:":
        return _FileLock(Path("/tmp") / f"sportello-{lock_id}.lock")
    return _FileLock(Path(f"{database}.outbox.lock"))


class Leadership:
    """Runs `on_elected` once this process holds the lock, `on_deposed` if it loses it."""

    def __init__(
        self, engine: Engine, on_elected: Callable[[], None], on_deposed: Callable[[], None], interval_s: float = 1.0
    ):
        self.lock = make_lock(engine)
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
                    log.info("this process now drains the outbox")
                    self.on_elected()
                    self.is_leader = True  # only once the worker runs (tests and stop() rely on it)
                elif self.is_leader and not self.lock.alive():
                    log.warning("lost the outbox lock; stopping the worker")
                    self.is_leader = False
                    self.on_deposed()
                    self.lock.release()
            except Exception:
                log.exception("leader election step failed")
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
