"""The database: engine, transactions and a small key-value table.

SQLite in WAL mode is the embedded default; any `DATABASE_URL` SQLAlchemy
understands works, PostgreSQL being the one tested for several replicas.
Write transactions on SQLite start with BEGIN IMMEDIATE so that concurrent
writers queue on the busy timeout instead of failing on a lock upgrade.
SQLite connections run with `secure_delete` on (deleted and overwritten
content is zeroed, not left in free space), and `checkpoint()` empties the WAL
into the database file after an erasure, so erased data lingers in neither.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, create_engine, event, select, update
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import SQLAlchemyError

from sportello.store.group_commit import GroupCommitter
from sportello.store.tables import kv

log = logging.getLogger("sportello.store")
PROBE_KEY = "health_probe"


def _is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


BUSY_TIMEOUT_S = 30.0


def make_engine(url: str, busy_timeout_s: float = BUSY_TIMEOUT_S) -> Engine:
    if _is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": busy_timeout_s},
            pool_size=20,
            max_overflow=20,
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn, _record):
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA secure_delete=ON")  # erased data is zeroed, not left in free pages (privacy)
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn):
            mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
            conn.exec_driver_sql(f"BEGIN {mode}")

        return engine
    # No pool_pre_ping: a round trip on every checkout. A connection the server
    # dropped fails one statement; SQLAlchemy then recycles the whole pool.
    return create_engine(url, pool_size=20, max_overflow=20, pool_recycle=1800)


class Store:
    """Owns the engine; hands out read and write transactions."""

    def __init__(self, url: str, *, create: bool = True, start_busy_timeout_s: float | None = None):
        """`start_busy_timeout_s`: how long the schema upgrade may wait for a locked SQLite file
        (default: the usual 30 s busy timeout); the engine then waits the usual 30 s."""
        self.url = url
        self.is_sqlite = _is_sqlite(url)
        quick = start_busy_timeout_s is not None and self.is_sqlite
        self.engine = make_engine(url, start_busy_timeout_s) if quick else make_engine(url)
        self._writer = GroupCommitter(self.engine) if self.is_sqlite else None
        if create:
            from sportello.store.migrate import upgrade  # alembic is loaded only by a store that upgrades its schema

            try:
                upgrade(self.engine)
            except BaseException:
                self.engine.dispose()
                raise
        if quick:
            self.engine.dispose()
            self.engine = make_engine(url)
            self._writer = GroupCommitter(self.engine)

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One transaction: everything inside commits together or not at all."""
        if not self.is_sqlite:
            with self.engine.connect() as conn, conn.begin():
                yield conn
            return
        # SQLite has one writer at a time. This process's writers queue on a
        # FIFO lock (fair, no sleeping) rather than on SQLite's busy handler,
        # whose growing sleeps make latency spiky under load, and those that
        # queue together commit together (sportello.store.group_commit); other
        # processes still wait on the busy timeout.
        with self._writer.write() as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def dispose(self) -> None:
        self.engine.dispose()

    def checkpoint(self, timeout_s: float = 5.0) -> bool:
        """SQLite: copy the WAL into the database file and truncate it to zero bytes
        (`PRAGMA wal_checkpoint(TRUNCATE)`), waiting at most about `timeout_s` for the writers
        and readers of older snapshots; returns whether it completed. Other databases: True."""
        if not self.is_sqlite:
            return True
        with self.engine.connect() as conn:
            raw = conn.connection.dbapi_connection  # outside any transaction (autocommit)
            raw.execute(f"PRAGMA busy_timeout={max(1, int(timeout_s * 1000))}")
            try:
                busy, _, _ = raw.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            finally:
                raw.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
        return not busy

    def probe_write(self, timeout_s: float) -> None:
        """One tiny committed write (the `health_probe` kv row), waiting at most about
        `timeout_s` for a lock. Raises SQLAlchemyError when the database takes no write
        (locked, read-only, disk full, server down)."""
        now = time.time()
        text = json.dumps(now)
        if self.is_sqlite:
            # Not through write(): it waits on this process's writers and on a 30 s busy timeout.
            with self.engine.connect() as conn:
                raw = conn.connection.dbapi_connection  # outside any transaction (autocommit)
                raw.execute(f"PRAGMA busy_timeout={max(1, int(timeout_s * 1000))}")
                try:
                    conn.execution_options(sqlite_begin="IMMEDIATE")
                    with conn.begin():
                        self._upsert_probe(conn, text, now)
                finally:
                    raw.execute("PRAGMA busy_timeout=30000")
            return
        with self.engine.connect() as conn, conn.begin():
            ms = max(1, int(timeout_s * 1000))
            conn.exec_driver_sql(f"SET LOCAL lock_timeout = {ms}")
            conn.exec_driver_sql(f"SET LOCAL statement_timeout = {ms}")
            self._upsert_probe(conn, text, now)

    @staticmethod
    def _upsert_probe(conn: Connection, text: str, now: float) -> None:
        if conn.execute(update(kv).where(kv.c.key == PROBE_KEY).values(value=text, updated_at=now)).rowcount == 0:
            conn.execute(kv.insert().values(key=PROBE_KEY, value=text, updated_at=now))


class DatabaseUnavailable(RuntimeError):
    """The database could not be opened within DB_START_TIMEOUT_S; the message is one line."""


def describe_db_error(exc: BaseException) -> str:
    """One line saying what is wrong, without the SQL or a traceback."""
    orig = getattr(exc, "orig", None) or exc
    text = " ".join(str(orig).split())
    return f"{type(orig).__name__}: {text[:300]}"


def safe_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def open_store(url: str, timeout_s: float, *, sleep=time.sleep, clock=time.monotonic) -> Store:
    """`Store(url)`, retried with backoff (0.5 s doubling to 10 s) for up to `timeout_s`
    while the database cannot be opened (corrupt or locked SQLite file, PostgreSQL down).
    Each failure is one log line; at the end DatabaseUnavailable says why."""
    deadline = clock() + max(0.0, timeout_s)
    delay = 0.5
    attempt = 0
    while True:
        attempt += 1
        try:
            # a locked SQLite file: wait a part of the time left on the lock, so that the attempts are retried
            return Store(url, start_busy_timeout_s=max(0.5, min(BUSY_TIMEOUT_S, (deadline - clock()) / 4)))
        except (SQLAlchemyError, OSError) as exc:
            reason = describe_db_error(exc)
        left = deadline - clock()
        if left <= 0:
            raise DatabaseUnavailable(
                f"giving up: the database {safe_url(url)} could not be opened in {timeout_s:g} s "
                f"({attempt} attempts): {reason}"
            )
        wait = min(delay, left)
        log.error(
            "database %s cannot be opened (%s); retrying in %.1f s (%.0f s left, DB_START_TIMEOUT_S)",
            safe_url(url),
            reason,
            wait,
            left,
        )
        sleep(wait)
        delay = min(delay * 2, 10.0)


def kv_put(conn: Connection, key: str, value) -> None:
    """Upsert a JSON value in `conn`'s transaction (portable: update, then insert if absent)."""
    text = json.dumps(value, ensure_ascii=False)
    now = time.time()
    if conn.execute(update(kv).where(kv.c.key == key).values(value=text, updated_at=now)).rowcount == 0:
        if conn.execute(select(kv.c.key).where(kv.c.key == key)).first() is None:
            conn.execute(kv.insert().values(key=key, value=text, updated_at=now))


def kv_read(conn: Connection, key: str, default=None):
    value = conn.execute(select(kv.c.value).where(kv.c.key == key)).scalar_one_or_none()
    return default if value is None else json.loads(value)


def kv_set(store: Store, key: str, value) -> None:
    """Upsert a JSON value, in a transaction of its own."""
    with store.write() as conn:
        kv_put(conn, key, value)


def kv_get(store: Store, key: str, default=None):
    with store.read() as conn:
        return kv_read(conn, key, default)
