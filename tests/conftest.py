"""Shared fixtures: each test gets its own DATA_DIR, database and servers.

`server` is the app in this process (testkit.inprocess.InProcessServer); the
tests under tests/e2e/ get a real `python app.py` process instead (see
tests/e2e/conftest.py). Every test is marked `unit`, `integration` or `e2e`
after its folder: `pytest -m "not e2e"` is the quick loop. The `python app.py`
processes of tests/e2e are forked from a process that imported `app` once
(testkit/forkserver.py); `SPORTELLO_TEST_FORK=0` starts each from scratch.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sportello.config import Settings
from sportello.runtime import Runtime
from testkit.databases import (
    db_env_for,
    new_sqlite_files_from_a_template,
    parametrize_databases,
    postgres_url_for_test,
)
from testkit.inprocess import InProcessServer
from testkit.support import AppServer, Operator, add_operator

LAYERS = ("unit", "integration", "e2e")
# Passwords hashed at scrypt N=2^11 in tests (~5 ms a hash; every seeded operator and sign-in pays it). The
# product's default, OWASP's 2^17, costs ~0.4 s and 128 MiB per hash; tests/integration/test_abuse.py checks it.
os.environ.setdefault("PASSWORD_SCRYPT_N", str(2**11))
_from_env = Settings.from_env.__func__


def _test_settings(cls, env: dict | None = None, **overrides) -> Settings:
    """`Settings.from_env(dict)` reads only the dict: tests that build settings from their own dict get the
    tests' scrypt cost too (a hash at 2^17 costs ~0.4 s: two operators per seeded store, every sign-in),
    unless the dict names PASSWORD_SCRYPT_N itself (test_abuse checks the product's default that way)."""
    if env is not None and "PASSWORD_SCRYPT_N" not in env:
        env = {**env, "PASSWORD_SCRYPT_N": os.environ["PASSWORD_SCRYPT_N"]}
    return _from_env(cls, env, **overrides)


Settings._product_from_env = classmethod(_from_env)  # the unpatched one (test_abuse checks the default)
Settings.from_env = classmethod(_test_settings)
# A new SQLite file is a copy of one this process migrated from nothing (testkit/databases.py): ~30 ms of
# migrations per test with a new DATA_DIR (~300 a run) become ~1 ms.
new_sqlite_files_from_a_template()


def _scan_installed_components_once() -> None:
    """Streamlit's AppTest scans every installed distribution's metadata for v2 components at each new AppTest
    (~0.25 s; ~40 in a run). The installed packages do not change during a run: the scan runs once a process."""
    import functools

    from streamlit.components.v2 import manifest_scanner

    manifest_scanner.scan_component_manifests = functools.cache(manifest_scanner.scan_component_manifests)


_scan_installed_components_once()


@pytest.fixture
def data_dir(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    return d


def pytest_configure(config):
    config.addinivalue_line("markers", "both_databases: run the test on SQLite and on PostgreSQL")
    config.addinivalue_line("markers", "database(name): in a both_databases module, run this test on that one only")
    config.addinivalue_line("markers", "empty_database: on PostgreSQL, a new database without the schema")
    config.addinivalue_line("markers", "unit: in-process, no server, no network (tests/unit)")
    config.addinivalue_line("markers", "integration: store, sinks, stand-ins, the API in-process (tests/integration)")
    config.addinivalue_line("markers", "e2e: real app.py processes, browsers (tests/e2e)")


def pytest_sessionstart(session):
    # `python app.py` processes are forked from one that imported `app` once (testkit/forkserver.py).
    AppServer.fork = os.environ.get("SPORTELLO_TEST_FORK", "1") != "0"
    if not hasattr(session.config, "workerinput"):  # this run's only process, or xdist's controller
        _embed_the_knowledge_base()
        if AppServer.fork and _may_run_e2e(session.config):
            # One fork server for the run, importing `app` while the workers start and collect (~8 s each):
            # they inherit its name (testkit/forkserver.py). Measured with -n 2: the first app test of each
            # worker set up in ~1 s instead of 7-9 s, and one import of Gradio instead of two.
            from testkit import forkserver

            forkserver.launch_shared()


def _may_run_e2e(config) -> bool:
    """Whether the run may hold tests of tests/e2e (the ones that start `python app.py`): a path asked for
    is tests/e2e, inside it or above it, and the marks asked for do not leave e2e out."""
    if "not e2e" in (config.option.markexpr or ""):
        return False
    e2e = (Path(__file__).parent / "e2e").resolve()
    for arg in config.args:
        path = (config.invocation_params.dir / arg.split("::", 1)[0]).resolve()
        if path == e2e or e2e in path.parents or path in e2e.parents:
            return True
    return False


def _embed_the_knowledge_base() -> None:
    """The fused answerer's vectors of data/faq.csv and data/examples.csv, computed once into data/cache
    before any worker starts (as the Dockerfile does at build time). On a fresh checkout every app and
    runtime would otherwise embed them (~35 s of CPU), each pytest-xdist worker at once, inside server
    start-up timeouts; with the cache there this takes a third of a second."""
    import tempfile

    from sportello.answering.bot import build_retrieval

    with tempfile.TemporaryDirectory(prefix="sportello-embed-") as data_dir:
        build_retrieval(Settings.from_env({"DATA_DIR": data_dir}))


def pytest_unconfigure(config):
    from testkit import databases, forkserver

    forkserver.shutdown()
    if not hasattr(config, "workerinput"):  # this run's only process, or xdist's controller: the workers ended
        databases.drop_run()


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's, which reads the xdist_group marks
def pytest_collection_modifyitems(config, items):
    for item in items:
        parts = item.path.parts
        for layer in LAYERS:
            if layer in parts:
                item.add_marker(layer)
                break
        if _uses_a_module_fixture(item):
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::", 1)[0]))


def _uses_a_module_fixture(item) -> bool:
    """Whether the test uses a fixture set up once for its module (or class): such a module is one group of
    `--dist loadgroup` (pytest.ini), run by one worker, so that the fixture (an app process, a browser, the
    e5 model) is set up once and not once per worker. Split between the two workers, as plain `load` did,
    each of them set it up: ~3 s for each app of tests/e2e/test_visitor_*.py."""
    infos = getattr(item, "_fixtureinfo", None)
    if infos is None:
        return False
    return any(d.scope in ("module", "class", "package") for defs in infos.name2fixturedefs.values() for d in defs)


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
    """The app's API in this process (uvicorn in a thread), with two operators, mario (admin) and lucia."""
    add_operator(data_dir, "mario", "Mario Rossi", "password123", "--admin", env=db_env)
    add_operator(data_dir, "lucia", "Lucia Bianchi", env=db_env)
    with InProcessServer(data_dir, env={"QUEUE_TIMEOUT_S": "120", **db_env}) as srv:
        yield srv


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
    """A PostgreSQL database of this test's own, with the current schema and no rows (testkit/databases.py)."""
    yield from postgres_url_for_test()


@pytest.fixture
def empty_postgres_url():
    """A new PostgreSQL database with nothing in it, not even the schema (`@pytest.mark.empty_database`)."""
    yield from postgres_url_for_test(empty=True)
