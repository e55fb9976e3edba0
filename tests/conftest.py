"""Shared fixtures: each test gets its own DATA_DIR, database and servers."""

from __future__ import annotations

import pytest

from sportello.config import Settings
from sportello.runtime import Runtime
from testkit.databases import db_env_for, parametrize_databases, postgres_url_for_test
from testkit.support import AppServer, Operator, add_operator


@pytest.fixture
def data_dir(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    return d


def pytest_configure(config):
    config.addinivalue_line("markers", "both_databases: run the test on SQLite and on PostgreSQL")


def pytest_generate_tests(metafunc):
    parametrize_databases(metafunc)


@pytest.fixture
def db_env(request) -> dict:
    """Extra environment selecting the database; SQLite in DATA_DIR by default."""
    return db_env_for(request)


@pytest.fixture
def settings(data_dir, db_env) -> Settings:
    return Settings.from_env({"DATA_DIR": str(data_dir), **db_env})


@pytest.fixture
def runtime(settings):
    """An in-process runtime (no background threads): call the service directly."""
    rt = Runtime(settings)
    yield rt
    rt.store.dispose()


@pytest.fixture
def server(data_dir, db_env):
    """A real `python app.py` process with two operators, mario and lucia."""
    add_operator(data_dir, "mario", "Mario Rossi", env=db_env)
    add_operator(data_dir, "lucia", "Lucia Bianchi", env=db_env)
    srv = AppServer(data_dir, env={"QUEUE_TIMEOUT_S": "120", **db_env})
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def mario(server):
    op = Operator(server.url, "mario")
    yield op
    op.close()


@pytest.fixture
def lucia(server):
    op = Operator(server.url, "lucia")
    yield op
    op.close()


@pytest.fixture
def postgres_url():
    """A fresh, empty PostgreSQL database for one test (see testkit/databases.py)."""
    yield from postgres_url_for_test()
