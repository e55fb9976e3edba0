"""Two app processes on one database hold a client to one quota, and the dashboard's sign-in (another
process) counts failures together with the API's: the counters are in the database, or in Redis with
REDIS_URL (that variant runs when SPORTELLO_TEST_REDIS_URL is set)."""

from __future__ import annotations

import os
import random
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from sportello.config import Settings
from sportello.domain import RateLimited, Unauthorized
from sportello.runtime import dashboard_runtime
from testkit.support import AppServer, add_operator

pytestmark = pytest.mark.both_databases


@pytest.fixture(params=["database", "redis"])
def limits_env(request) -> dict:
    if request.param == "database":
        return {}
    url = os.environ.get("SPORTELLO_TEST_REDIS_URL", "")
    if not url:
        pytest.skip("Redis variant not run: set SPORTELLO_TEST_REDIS_URL (e.g. redis://127.0.0.1:6379/15)")
    return {"REDIS_URL": url}


def test_two_processes_share_the_quota_and_the_sign_in_lockout(data_dir, db_env, limits_env):
    env = {**db_env, **limits_env, "SESSION_RATE_PER_IP": "10", "RATE_WINDOW_S": "60"}
    # A name of its own too: Redis outlives the test, and a name's failures of earlier runs would slow its sign-in.
    name = f"mario_{uuid.uuid4().hex[:8]}"
    add_operator(data_dir, name, "Mario Rossi", env=env)
    # An address of its own (Redis is shared by the tests that run at the same time).
    client = f"198.18.{random.randrange(256)}.{random.randrange(1, 255)}"
    forwarded = {"X-Forwarded-For": client}  # the test talks through 127.0.0.1, a trusted proxy
    a, b = AppServer(data_dir, env=env), AppServer(data_dir, env=env)
    with ThreadPoolExecutor(2) as pool:  # the two start side by side (the store is made: add_operator above)
        starting = [pool.submit(a.start), pool.submit(b.start)]
    try:
        for started in starting:
            started.result()
        with httpx.Client(base_url=a.url, timeout=15) as ha, httpx.Client(base_url=b.url, timeout=15) as hb:
            codes = [
                (ha if i % 2 else hb).post("/api/chat/sessions", json={"language": "it"}, headers=forwarded).status_code
                for i in range(20)
            ]
            # One token every 6 s: the 20 requests take well under that, but allow one refill.
            assert codes.count(200) in (10, 11) and set(codes) == {200, 429}, codes
            assert codes[:10] == [200] * 10, codes
            # Another address has its own quota.
            assert ha.post("/api/chat/sessions", json={}, headers={"X-Forwarded-For": "198.19.0.1"}).status_code == 200

            # Sign-in: 3 wrong passwords through the API (process a), 2 through the dashboard (this process).
            wrong = {"username": name, "password": f"wrong-{uuid.uuid4().hex}"}
            assert [ha.post("/api/auth/login", json=wrong, headers=forwarded).status_code for _ in range(3)] == [
                401
            ] * 3
            dashboard = dashboard_runtime(Settings.from_env({"DATA_DIR": str(data_dir), **env}))
            try:
                with pytest.raises(Unauthorized):
                    dashboard.operators.login(name, "nope", client=client)  # the 4th failure: not locked yet
                with pytest.raises(RateLimited):
                    dashboard.operators.login(name, "nope", client=client)  # the 5th locks the pair
            finally:
                dashboard.store.dispose()
            # The lock holds on both API processes, even with the right password.
            right = {"username": name, "password": "password123"}
            assert hb.post("/api/auth/login", json=right, headers=forwarded).status_code == 429
            assert ha.post("/api/auth/login", json=right, headers=forwarded).status_code == 429
            assert hb.post("/api/auth/login", json=right, headers={"X-Forwarded-For": "198.19.0.2"}).status_code == 200
    finally:
        a.stop()
        b.stop()
