"""Versioned schema changes (Alembic), applied when the store opens.

Revisions live in `sportello/store/migrations/versions/`. Opening a store upgrades its
database to the newest revision, under a lock (a PostgreSQL advisory lock,
or SQLite's write lock) so that several app processes starting together do
not race. A new revision: `alembic -c sportello/store/migrations/alembic.ini revision -m "..."`
then write its upgrade() by hand; never edit a released revision.
"""

from __future__ import annotations

import functools
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
LOCK_ID = 7_270_001  # any constant shared by every process of the app


def config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


@functools.lru_cache(maxsize=1)
def head() -> str:
    """The newest revision (read once per process: the revisions ship with the code)."""
    return ScriptDirectory.from_config(config()).get_current_head()


def current(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    if revision == "head" and current(engine) == head():
        return  # nothing to do: Alembic (its scripts loaded, a lock taken) only when there is
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            conn.execution_options(sqlite_begin="IMMEDIATE")
        with conn.begin():
            if engine.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": LOCK_ID})
            cfg = config(conn)
            _adopt_unversioned(conn, cfg)
            command.upgrade(cfg, revision)


def _adopt_unversioned(conn: Connection, cfg: Config) -> None:
    """A database made before versioning (tables, no alembic_version): stamp it."""
    tables = set(inspect(conn).get_table_names())
    if "sessions" in tables and "alembic_version" not in tables:
        command.stamp(cfg, "0002" if "kv" in tables else "0001")
