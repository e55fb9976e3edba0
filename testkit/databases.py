"""Run a test module on SQLite and on PostgreSQL.

PostgreSQL tests need `SPORTELLO_TEST_POSTGRES_URL` (e.g.
`postgresql://postgres@127.0.0.1:5432/test`, which `.ci/run` sets). Each
test gets a fresh database created from it and dropped afterwards. Without
the variable the PostgreSQL variants are reported as skipped with that
reason (`pytest -ra` lists them), never silently.

In a test module, `pytestmark = pytest.mark.both_databases` makes every test
that uses the `db_env` fixture (directly or through `server`/`settings`) run
on both; `@pytest.mark.database("sqlite")` (or "postgresql") on one test of such a module runs it on that
backend only, for a check that has nothing to do with the other.
"""

from __future__ import annotations

import os
import uuid

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

PG_ENV = "SPORTELLO_TEST_POSTGRES_URL"


def _admin_url() -> str:
    url = os.environ.get(PG_ENV, "")
    return url.replace("postgresql://", "postgresql+psycopg://", 1) if url.startswith("postgresql://") else url


def postgres_url_for_test():
    admin = _admin_url()
    if not admin:
        pytest.skip(f"PostgreSQL variant not run: set {PG_ENV} (e.g. postgresql://postgres@127.0.0.1:5432/test)")
    yield from postgres_database(admin)


def postgres_database(admin: str):
    """Yield the URL of a new database on the server of `admin`; drop it when resumed."""
    if admin.startswith("postgresql://"):
        admin = admin.replace("postgresql://", "postgresql+psycopg://", 1)
    name = f"sportello_{uuid.uuid4().hex[:12]}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


def db_env_for(request) -> dict:
    backend = getattr(request, "param", "sqlite")
    if backend == "sqlite":
        return {"DATABASE_URL": ""}
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
