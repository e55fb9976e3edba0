"""End to end: here `server` is a real `python app.py --no-dashboard` process.

The browser tests share one chromium per pytest process (`shared_chromium`, launched by the first test that
asks for it) and open their pages in a context of their own (`testkit.browser.fresh_context`): cookies,
storage and cache of their own, as with a new profile, without a launch (~0.8 s and ~0.9 s of CPU each, once
a module or a test before). Playwright's sync API marks its event loop as running in this thread between its
calls (playwright/_impl/_greenlets.py), which a test calling `asyncio.run()` afterwards would trip on: the
loop is marked running only around the tests that use the browser (`pytest_runtest_setup` ... teardown).
"""

from __future__ import annotations

import asyncio

import pytest

from testkit.browser import chromium_browser
from testkit.support import AppServer, add_operator

_BROWSER: dict = {}  # this process's chromium, while it runs: {"browser", "loop"}


@pytest.fixture
def server(data_dir, db_env):
    """A real `python app.py` process with two operators, mario (admin) and lucia."""
    add_operator(data_dir, "mario", "Mario Rossi", "password123", "--admin", env=db_env)
    add_operator(data_dir, "lucia", "Lucia Bianchi", env=db_env)
    with AppServer(data_dir, env={"QUEUE_TIMEOUT_S": "120", **db_env}) as srv:
        yield srv


@pytest.fixture(scope="session")
def shared_chromium():
    """One chromium for the process's browser tests; each opens `testkit.browser.fresh_context(shared_chromium)`
    (a module's tests may share one context, as a module-scoped fixture of their own)."""
    with chromium_browser() as browser:
        _BROWSER.update(browser=browser, loop=asyncio._get_running_loop())
        try:
            yield browser
        finally:
            _resume_playwright()  # its loop marked running again for Playwright's own stop
            _BROWSER.clear()


def _uses_the_browser(item) -> bool:
    return "shared_chromium" in getattr(item, "fixturenames", ())


def _resume_playwright() -> None:
    if _BROWSER:
        asyncio._set_running_loop(_BROWSER["loop"])


def _pause_playwright() -> None:
    if _BROWSER and asyncio._get_running_loop() is _BROWSER["loop"]:
        asyncio._set_running_loop(None)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    if _uses_the_browser(item):
        _resume_playwright()
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item, nextitem):
    if _uses_the_browser(item):
        _resume_playwright()  # a test's context (or a module's, in its last test's) is closed in teardown
    yield
    _pause_playwright()
