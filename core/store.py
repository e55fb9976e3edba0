"""The database: tables (SQLAlchemy 2 Core) and transactions.

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

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    select,
    update,
)
from sqlalchemy.engine import Engine, make_url

metadata = MetaData()

operators = Table(
    "operators",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("display_name", String(128), nullable=False),
    Column("password_hash", String(256), nullable=False),
    Column("is_admin", Boolean, nullable=False, default=False),
    Column("active", Boolean, nullable=False, default=True),
    Column("status", String(16), nullable=False, default="offline"),
    Column("last_heartbeat", Float, nullable=True),
    Column("max_chats", Integer, nullable=False, default=3),
    Column("created_at", Float, nullable=False),
)

operator_tokens = Table(
    "operator_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("operator_id", Integer, ForeignKey("operators.id"), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("token_hash", String(64), nullable=False),
    Column("status", String(24), nullable=False),
    Column("language", String(2), nullable=False),
    Column("user_agent", String(512), nullable=False, default=""),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("last_seq", Integer, nullable=False, default=0),
    Column("original_question", Text, nullable=False, default=""),
    Column("escalation_reason", String(64), nullable=False, default=""),
    Column("offered_at", Float, nullable=True),
    Column("waiting_since", Float, nullable=True),
    Column("taken_at", Float, nullable=True),
    Column("closed_at", Float, nullable=True),
    Column("operator_id", Integer, ForeignKey("operators.id"), nullable=True),
    Column("ticket_id", Integer, nullable=True),
    Index("ix_sessions_status_waiting", "status", "waiting_since"),
    Index("ix_sessions_operator", "operator_id", "status"),
)

messages = Table(
    "messages",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("session_id", String(32), ForeignKey("sessions.id"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("role", String(16), nullable=False),
    Column("author", String(128), nullable=False, default=""),
    Column("text", Text, nullable=False),
    Column("intent", String(64), nullable=False, default=""),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("session_id", "seq", name="uq_messages_session_seq"),
)

tickets = Table(
    "tickets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("session_id", String(32), ForeignKey("sessions.id"), nullable=False),
    Column("original_question", Text, nullable=False, default=""),
    Column("conversation_transcript", Text, nullable=False, default=""),
    Column("operator_name", String(128), nullable=False, default=""),
    Column("started_at", Float, nullable=True),
    Column("ended_at", Float, nullable=True),
    Column("resolution_reason", Text, nullable=False, default=""),
    Column("status", String(16), nullable=False),
    Column("contact_method", String(16), nullable=False),
    Column("contact_info", String(256), nullable=False, default=""),
    Column("conversation_history", Text, nullable=False, default="[]"),
    Column("language", String(2), nullable=False, default="it"),
    Column("assigned_to", Integer, ForeignKey("operators.id"), nullable=True),
    Column("notes", Text, nullable=False, default=""),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Index("ix_tickets_status", "status"),
    Index("ix_tickets_session", "session_id"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(32), nullable=False, unique=True),
    Column("worksheet", String(64), nullable=False),
    Column("op", String(16), nullable=False, default="append"),  # append | upsert
    Column("row_key", String(64), nullable=False, default=""),
    Column("session_id", String(32), nullable=True),
    Column("payload", Text, nullable=False),  # JSON list of cell values
    Column("created_at", Float, nullable=False),
    Column("status", String(16), nullable=False, default="pending"),  # pending|sent|failed
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text, nullable=False, default=""),
    Column("sent_at", Float, nullable=True),
    Index("ix_outbox_status_id", "status", "id"),
)


# Small runtime facts shared between processes (e.g. the outbox worker's
# status, which the dashboard shows): key -> JSON text.
kv = Table(
    "kv",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", Float, nullable=False),
)


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
            from core.migrate import upgrade  # the migrations import this module

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
