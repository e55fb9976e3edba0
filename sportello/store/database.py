"""The database: engine, transactions and a small key-value table.

SQLite in WAL mode is the embedded default; any `DATABASE_URL` SQLAlchemy
understands works, PostgreSQL being the one tested for several replicas.
Write transactions on SQLite start with BEGIN IMMEDIATE so that concurrent
writers queue on the busy timeout instead of failing on a lock upgrade.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, create_engine, event, select, update
from sqlalchemy.engine import Engine, make_url

from sportello.store.tables import kv


def _is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def make_engine(url: str) -> Engine:
    if _is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=20,
            max_overflow=20,
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn, _record):
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn):
            mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
            conn.exec_driver_sql(f"BEGIN {mode}")

        return engine
    return create_engine(url, pool_size=20, max_overflow=20, pool_pre_ping=True)


class Store:
    """Owns the engine; hands out read and write transactions."""

    def __init__(self, url: str, *, create: bool = True):
        self.url = url
        self.engine = make_engine(url)
        self.is_sqlite = _is_sqlite(url)
        self._write_lock = threading.Lock()
        if create:
            from sportello.store.migrate import upgrade  # the migrations import this module

            upgrade(self.engine)

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One transaction: everything inside commits together or not at all."""
        if not self.is_sqlite:
            with self.engine.connect() as conn, conn.begin():
                yield conn
            return
        # SQLite has one writer at a time. Queue this process's writers on a
        # lock (fair, no sleeping) rather than on SQLite's busy handler, whose
        # growing sleeps make latency spiky under load; other processes still
        # wait on the busy timeout.
        with self._write_lock, self.engine.connect() as conn:
            conn.execution_options(sqlite_begin="IMMEDIATE")
            with conn.begin():
                yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def dispose(self) -> None:
        self.engine.dispose()


def kv_set(store: Store, key: str, value) -> None:
    """Upsert a JSON value (portable: update, then insert if absent)."""
    text = json.dumps(value, ensure_ascii=False)
    now = time.time()
    with store.write() as conn:
        if conn.execute(update(kv).where(kv.c.key == key).values(value=text, updated_at=now)).rowcount == 0:
            if conn.execute(select(kv.c.key).where(kv.c.key == key)).first() is None:
                conn.execute(kv.insert().values(key=key, value=text, updated_at=now))


def kv_get(store: Store, key: str, default=None):
    with store.read() as conn:
        value = conn.execute(select(kv.c.value).where(kv.c.key == key)).scalar_one_or_none()
    return default if value is None else json.loads(value)
