"""GET /api/health checks what a help desk needs to work, and says 503 naming the check that fails:
the database takes a write, the disk has room, the outbox is draining, the knowledge base loaded (and
the dashboard runs, when the app supervises one: tests/e2e/test_supervision.py). Anonymous callers
get the verdict and figures, never the configuration (SHEET_ID, sink target, error texts)."""

from __future__ import annotations

import sqlite3
import sys
import time

import httpx
import pytest

from sportello.faces.dashboard.supervisor import DashboardSupervisor
from testkit.inprocess import InProcessServer
from testkit.support import TLS, Operator, Visitor, add_operator, free_port, wait_until


def _health(srv, **kw) -> httpx.Response:
    return httpx.get(srv.url + "/api/health", timeout=15, verify=TLS, **kw)


def test_healthy_app_reports_its_checks_and_no_configuration(data_dir):
    add_operator(data_dir, "mario", "Mario Rossi")
    env = {"SHEET_ID": "1SecretSheetIdAbCdEfGhIjKlMnOpQrStUvWxYz0123", "SHEETS_API_URL": "http://127.0.0.1:9"}
    with InProcessServer(data_dir, env=env) as srv:
        r = _health(srv)
        assert "1SecretSheetId" not in r.text and "127.0.0.1:9" not in r.text, r.text
        body = r.json()
        assert {"database", "disk", "outbox", "knowledge_base"} <= set(body["checks"]), body
        assert body["checks"]["database"]["ok"] is True
        assert body["checks"]["knowledge_base"]["ok"] is True
        # an operator sees the details (sink, target, last error)
        op = Operator(srv.url, "mario")
        detail = _health(srv, headers={"Authorization": f"Bearer {op.token}"}).json()
        assert "1SecretSheetId" in detail["outbox"]["target"], detail
        op.close()


@pytest.mark.both_databases
def test_ok_on_a_healthy_app(server):
    r = _health(server)
    assert r.status_code == 200, r.text
    assert r.json()["ok"] is True and r.json()["failing"] == []


def test_a_locked_database_is_503_naming_the_database(data_dir):
    with InProcessServer(data_dir, env={"HEALTH_DB_TIMEOUT_S": "1", "HEALTH_CACHE_S": "0"}) as srv:
        assert _health(srv).status_code == 200
        locker = sqlite3.connect(data_dir / "sportello.db", isolation_level=None)
        try:
            locker.execute("BEGIN EXCLUSIVE")
            t0 = time.monotonic()
            r = _health(srv)
            elapsed = time.monotonic() - t0
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        assert r.status_code == 503, r.text
        assert "database" in r.json()["failing"], r.text
        assert elapsed < 5, elapsed
        assert _health(srv).status_code == 200


def test_a_full_disk_is_503_naming_the_disk(data_dir):
    # "full" = less free space in DATA_DIR than HEALTH_MIN_FREE_MB
    with InProcessServer(data_dir, env={"HEALTH_MIN_FREE_MB": str(10**12)}) as srv:
        r = _health(srv)
        assert r.status_code == 503, r.text
        assert r.json()["failing"] == ["disk"], r.text
        assert r.json()["checks"]["disk"]["free_mb"] >= 0


def test_an_outbox_that_does_not_drain_is_503_with_count_and_age(data_dir):
    with InProcessServer(data_dir, env={"HEALTH_OUTBOX_MAX_AGE_S": "1", "HEALTH_CACHE_S": "0"}) as srv:
        # The elected leader starts a new worker: wait for it, or it would replace the one stopped here.
        wait_until(lambda: srv.runtime.leadership.is_leader, timeout=10, interval=0.05)
        srv.runtime.worker.stop()  # the sheet stops taking rows
        v = Visitor(srv.url)
        v.say("Quanto costa il biglietto?")
        wait_until(lambda: _health(srv).status_code == 503, timeout=10, interval=0.2)
        body = _health(srv).json()
        assert body["failing"] == ["outbox"], body
        assert body["checks"]["outbox"]["backlog"] >= 1
        assert body["checks"]["outbox"]["oldest_age_s"] >= 1  # over HEALTH_OUTBOX_MAX_AGE_S, shown to 0.1 s
        v.close()


def test_a_dashboard_that_keeps_dying_is_503_naming_the_dashboard(server):
    # what app.py does when it supervises the dashboard; this one exits as soon as it starts
    dashboard = DashboardSupervisor(lambda port: [sys.executable, "-c", "raise SystemExit(1)"], free_port())
    server.runtime.attach_dashboard(dashboard.start())
    try:
        wait_until(lambda: _health(server).status_code == 503, timeout=10, interval=0.1)
        body = _health(server).json()
        assert body["failing"] == ["dashboard"], body
        wait_until(lambda: dashboard.restarts >= 1, timeout=10)  # restarted, with backoff
    finally:
        dashboard.stop()
        server.runtime.attach_dashboard(None)
    wait_until(lambda: _health(server).status_code == 200, timeout=5, interval=0.2)  # after HEALTH_CACHE_S


def test_a_flood_of_health_checks_is_not_a_flood_of_writes(server):
    probes = []
    store = server.runtime.store
    original = store.probe_write
    store.probe_write = lambda timeout_s: (probes.append(1), original(timeout_s))[1]
    t0 = time.monotonic()
    try:
        for _ in range(50):
            assert _health(server).status_code == 200
    finally:
        store.probe_write = original
    elapsed = time.monotonic() - t0
    print(f"\n50 health checks in {elapsed:.1f} s: {len(probes)} database writes")
    assert len(probes) <= elapsed / 1.0 + 2, (len(probes), elapsed)  # at most one write per HEALTH_CACHE_S (1 s)
