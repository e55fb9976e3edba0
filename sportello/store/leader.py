"""The lock that makes one app process, among those sharing a database, the leader.

The outbox must be drained by one worker at a time, or two processes could
send rows of the same session out of order (or twice, with a sink that
cannot de-duplicate). Every app process runs a `Leadership`
(`sportello.services.delivery`) over this lock; the one that holds it runs
the worker, the others wait to take over.

- PostgreSQL: a session-level advisory lock held on a dedicated connection.
  If the process dies, its connection closes and the lock is released.
- SQLite: an exclusive `flock` on a file beside the database; the kernel
  releases it when the process dies.
"""

from __future__ import annotations

import fcntl
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Engine

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
