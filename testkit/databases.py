"""Run a test module on SQLite and on PostgreSQL.

PostgreSQL tests need `SPORTELLO_TEST_POSTGRES_URL` (e.g.
`postgresql://postgres@127.0.0.1:5432/test`, which `.ci/run` sets). Each
test gets a database of its own holding nothing but the current schema: one
made and migrated for an earlier test of the same worker and emptied since
(its rows deleted, its sequences restarted, its connections ended), or a new one.
Creating, migrating and dropping a database per test cost ~0.8 s, emptying one ~10 ms.
A test that needs a database with no schema at all is marked
`@pytest.mark.empty_database`. Every database of the run (its name carries
the run's mark) is dropped when the run ends (`drop_run`). Without
the variable the PostgreSQL variants are reported as skipped with that
reason (`pytest -ra` lists them), never silently.

In a test module, `pytestmark = pytest.mark.both_databases` makes every test
that uses the `db_env` fixture (directly or through `server`/`settings`) run
on both; `@pytest.mark.database("sqlite")` (or "postgresql") on one test of such a module runs it on that
backend only, for a check that has nothing to do with the other.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import tempfile
import threading
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

PG_ENV = "SPORTELLO_TEST_POSTGRES_URL"
# This run's mark in its databases' names (set by the first process, inherited by pytest-xdist's workers):
# drop_run() drops whatever a worker could not.
RUN = os.environ.setdefault("SPORTELLO_TEST_RUN", uuid.uuid4().hex[:8])


def _admin_url() -> str:
    url = os.environ.get(PG_ENV, "")
    return url.replace("postgresql://", "postgresql+psycopg://", 1) if url.startswith("postgresql://") else url


def postgres_url_for_test(empty: bool = False):
    admin = _admin_url()
    if not admin:
        pytest.skip(f"PostgreSQL variant not run: set {PG_ENV} (e.g. postgresql://postgres@127.0.0.1:5432/test)")
    yield from (postgres_database(admin) if empty else migrated_postgres_database(admin))


_POOL: list[str] = []  # migrated databases of this process, emptied, waiting for the next test (drop_run ends them)


def migrated_postgres_database(admin: str):
    """Yield the URL of a database holding the current schema and no rows; emptied and kept for the next
    test when resumed (dropped instead if it cannot be emptied or its schema is no longer the head)."""
    from sportello.store.database import Store

    name = _POOL.pop() if _POOL else _create(admin)
    url = make_url(admin).set(database=name).render_as_string(hide_password=False)
    Store(url).dispose()  # migrates a new one; on a pooled one, finds it at the head
    try:
        yield url
    finally:
        if _empty(admin, name):
            _POOL.append(name)
        else:
            _drop(admin, [name])


def _empty(admin: str, name: str) -> bool:
    from sportello.store import migrate

    engine = create_engine(make_url(admin).set(database=name), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :d AND pid <> pg_backend_pid()"
                ),
                {"d": name},
            )
            if conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() != [migrate.head()]:
                return False
            tables = (
                conn.execute(
                    text(
                        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
                    )
                )
                .scalars()
                .all()
            )
            sequences = (
                conn.execute(text("SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'")).scalars().all()
            )
            if tables:
                # DELETE, not TRUNCATE: a test leaves a few rows, and TRUNCATE gives every table new files (~50 ms,
                # 0.1-0.3 s on a busy machine; this takes ~5 ms). As TRUNCATE, the lock waits for any transaction
                # still writing; the replica role skips the foreign keys' triggers (every table is emptied: the
                # order does not matter); the sequences start again as RESTART IDENTITY made them. One
                # transaction: all of it or none.
                names = ", ".join(f'"{t}"' for t in tables)
                statements = [
                    "BEGIN",
                    f"LOCK TABLE {names} IN ACCESS EXCLUSIVE MODE",
                    "SET LOCAL session_replication_role = replica",
                    *(f'DELETE FROM "{t}"' for t in tables),
                    *(f'ALTER SEQUENCE "{q}" RESTART' for q in sequences),
                    "COMMIT",
                ]
                conn.execute(text("; ".join(statements)))
        return True
    except Exception:
        return False
    finally:
        engine.dispose()


def _create(admin: str) -> str:
    """A new, empty database of this run; its name."""
    name = f"sportello_{RUN}_{uuid.uuid4().hex[:12]}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return name


def _drop(admin: str, names) -> None:
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            for name in names:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        engine.dispose()


def postgres_database(admin: str):
    """Yield the URL of a new database on the server of `admin`; drop it when resumed."""
    if admin.startswith("postgresql://"):
        admin = admin.replace("postgresql://", "postgresql+psycopg://", 1)
    name = _create(admin)
    try:
        yield make_url(admin).set(database=name).render_as_string(hide_password=False)
    finally:
        _drop(admin, [name])


def db_env_for(request) -> dict:
    backend = getattr(request, "param", "sqlite")
    if backend == "sqlite":
        return {"DATABASE_URL": ""}
    if request.node.get_closest_marker("empty_database"):
        return {"DATABASE_URL": request.getfixturevalue("empty_postgres_url")}
    return {"DATABASE_URL": request.getfixturevalue("postgres_url")}


def parametrize_databases(metafunc) -> None:
    """Tests marked `both_databases` that use db_env run once per backend (or on the one a `database`
    marker names)."""
    if "db_env" not in metafunc.fixturenames:
        return
    only = metafunc.definition.get_closest_marker("database")
    if only is not None:
        metafunc.parametrize("db_env", list(only.args), indirect=True)
    elif metafunc.definition.get_closest_marker("both_databases"):
        metafunc.parametrize("db_env", ["sqlite", "postgresql"], indirect=True)


def drop_run() -> None:
    """Drop every database of this run still on the server, the workers' pools included (the controlling
    process, once the workers ended)."""
    admin = _admin_url()
    if not admin:
        return
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            names = (
                conn.execute(text("SELECT datname FROM pg_database WHERE datname LIKE :p"), {"p": f"sportello_{RUN}_%"})
                .scalars()
                .all()
            )
        _drop(admin, names)
    except Exception:  # pragma: no cover - the server went away: nothing left to drop
        pass
    finally:
        engine.dispose()


# ---------------------------------------------------------------------------- new SQLite files
_TEMPLATE: Path | None = None
_TEMPLATE_LOCK = threading.Lock()


def new_sqlite_files_from_a_template() -> None:
    """A Store opening a SQLite file that does not exist yet gets a copy of one this process migrated from
    nothing (13 revisions, ~60-100 ms of CPU each time; the copy ~1 ms), then opens it as the app opens an
    existing database: found at the head revision, nothing to run. Every test with a new DATA_DIR opened
    one (~300 a run); the migrations still run from nothing once per process, to make the template, and
    tests/integration/test_migrations.py runs them from each older schema. PostgreSQL databases are pooled
    instead (above); a file that exists, a directory that does not, `create=False`, ":memory:" and
    engines made without a Store are left as they were."""
    from sportello.store.database import Store

    if getattr(Store.__init__, "from_template", False):
        return
    real_init = Store.__init__

    @functools.wraps(real_init)
    def init(self, url: str, *, create: bool = True, start_busy_timeout_s: float | None = None):
        if create:
            _copy_template(url, real_init)
        real_init(self, url, create=create, start_busy_timeout_s=start_busy_timeout_s)

    init.from_template = True
    Store.__init__ = init


def _copy_template(url: str, real_init) -> None:
    u = make_url(url)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        return
    path = Path(u.database)
    if path.exists() or not path.parent.is_dir():
        return
    template = _template(real_init)
    if template is None:
        return
    tmp = path.parent / f".{path.name}.{os.getpid()}.{threading.get_ident()}.new"
    try:
        shutil.copyfile(template, tmp)
        os.link(tmp, path)  # only if the file is still not there (another thread or process may open it too)
    except OSError:
        pass  # made meanwhile: opened as it is
    finally:
        tmp.unlink(missing_ok=True)


def _template(real_init) -> Path | None:
    """This process's migrated, empty SQLite database (made on first use; None if it could not be)."""
    global _TEMPLATE
    with _TEMPLATE_LOCK:
        if _TEMPLATE is None:
            from sportello.store.database import Store

            folder = Path(tempfile.mkdtemp(prefix="sportello-schema-"))
            path = folder / "template.db"
            store = Store.__new__(Store)
            real_init(store, f"sqlite:///{path}")  # the migrations, from nothing
            store.dispose()  # the last connection: the WAL is checkpointed into the file and removed
            atexit.register(shutil.rmtree, folder, ignore_errors=True)
            if any(p != path for p in folder.iterdir()):
                return None
            _TEMPLATE = path
        return _TEMPLATE
