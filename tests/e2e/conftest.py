"""End to end: here `server` is a real `python app.py --no-dashboard` process."""

from __future__ import annotations

import pytest

from testkit.browser import chromium_browser
from testkit.support import AppServer, add_operator


@pytest.fixture
def server(data_dir, db_env):
    """A real `python app.py` process with two operators, mario (admin) and lucia."""
    add_operator(data_dir, "mario", "Mario Rossi", "password123", "--admin", env=db_env)
    add_operator(data_dir, "lucia", "Lucia Bianchi", env=db_env)
    with AppServer(data_dir, env={"QUEUE_TIMEOUT_S": "120", **db_env}) as srv:
        yield srv


@pytest.fixture(scope="module")
def shared_chromium():
    """One chromium for the module's tests; each opens `testkit.browser.fresh_context(shared_chromium)`."""
    with chromium_browser() as browser:
        yield browser
