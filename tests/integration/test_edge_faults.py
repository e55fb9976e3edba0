"""The edge, second round: a full disk is a bilingual 507 (nothing acknowledged that was not stored),
every write a visitor can cause is metered, and start-up faults are one clear line."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import contextmanager

import httpx
import pytest
from sqlalchemy.exc import OperationalError

from sportello.faces.dashboard.supervisor import DashboardSupervisor
from sportello.faces.visitor.actions import VisitorActions
from sportello.faces.visitor.view import new_view
from testkit.inprocess import InProcessServer
from testkit.support import ROOT, Visitor, free_port


@contextmanager
def disk_full(store, monkeypatch):
    """Every write of `store` fails as SQLite does when the disk is full."""

    @contextmanager
    def failing_write(*args, **kwargs):
        raise OperationalError("INSERT ...", {}, sqlite3.OperationalError("database or disk is full"))
        yield  # pragma: no cover

    with monkeypatch.context() as m:
        m.setattr(store, "write", failing_write)
        yield


def assert_disk_full(r: httpx.Response) -> None:
    assert r.status_code == 507, (r.status_code, r.text[:300])
    err = r.json()["error"]
    assert err["code"] == "storage_full"
    assert "disco" in err["message"] and "disk" in err["message"], err["message"]


def post(v: Visitor, what: str, body: dict) -> httpx.Response:
    return v.http.post(f"/api/chat/sessions/{v.session_id}/{what}", json=body, headers=v.headers)


# ---------------------------------------------------------------- (5) disk full
def test_a_full_disk_is_a_bilingual_507_and_the_message_is_not_acknowledged(server, monkeypatch):
    v = Visitor(server.url)
    v.say("ciao")
    before = v.poll()["messages"]
    store = server.runtime.store
    with disk_full(store, monkeypatch):
        r = post(v, "messages", {"text": "orari di apertura?"})
        assert_disk_full(r)
        assert_disk_full(v.http.post("/api/chat/sessions", json={"language": "en"}))
        assert_disk_full(post(v, "language", {"language": "en"}))
    after = v.poll()["messages"]
    assert [m["text"] for m in after] == [m["text"] for m in before]  # nothing half-stored
    v.say("orari di apertura?")  # the client retries once there is room: it goes through
    assert any(m["text"] == "orari di apertura?" for m in v.poll()["messages"])


def test_the_visitor_page_shows_the_same_message_when_the_disk_is_full(server, monkeypatch):
    actions = VisitorActions(server.runtime.chat, server.runtime.feedback)
    view = actions.send(new_view("it"), "ciao", "ua")
    assert view["sid"] and not view["notice"]
    with disk_full(server.runtime.store, monkeypatch):
        failed = actions.send(view, "orari di apertura?", "ua")
    assert "disco" in failed["notice"] and "disk" in failed["notice"], failed["notice"]
    assert not any(m["text"] == "orari di apertura?" for m in failed["msgs"])


# ---------------------------------------------------------------- (6) metered writes
@pytest.fixture
def metered(data_dir):
    with InProcessServer(data_dir, env={"CHANGE_RATE_PER_SESSION": "20", "RATE_WINDOW_S": "600"}) as srv:
        yield srv


def count_writes(store, monkeypatch) -> list[int]:
    """The writes of the requests' data (the API's worker threads; not the outbox worker's nor the schedulers',
    nor the quota's own counter, which the shared limits keep in the database: one small UPSERT per check, counted
    apart in [1])."""
    original = store.write
    calls = [0, 0]  # the requests' own write transactions, the quota's counter's own ones

    def counted(*args, **kwargs):
        caller = sys._getframe(1).f_globals.get("__name__")
        if threading.current_thread().name.startswith("AnyIO"):
            calls[caller == "sportello.store.limits"] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(store, "write", counted)
    return calls


def test_language_switches_are_metered_and_an_unchanged_language_writes_nothing(metered, monkeypatch):
    v = Visitor(metered.url)
    v.say("ciao")
    writes = count_writes(metered.runtime.store, monkeypatch)
    same = [post(v, "language", {"language": "it"}) for _ in range(5)]
    assert [r.status_code for r in same] == [200] * 5
    assert writes[0] == 0
    codes = []
    for i in range(300):
        r = post(v, "language", {"language": "en" if i % 2 else "it"})
        codes.append(r.status_code)
    assert set(codes) <= {200, 429}, set(codes)
    assert codes.count(429) >= 300 - 20, codes.count(429)
    assert r.json()["error"]["code"] == "too_many_changes" and int(r.headers["Retry-After"]) >= 1
    assert writes[0] <= 20, writes[0]


def test_offer_contact_and_rating_are_metered_too(metered, monkeypatch):
    v = Visitor(metered.url)
    v.say("ciao")
    writes = count_writes(metered.runtime.store, monkeypatch)
    codes = []
    for i in range(60):
        which = i % 3
        if which == 0:
            r = post(v, "operator", {"accept": False})
        elif which == 1:
            r = post(v, "contact", {"method": "email", "value": "a@example.com"})
        else:
            r = post(v, "rating", {"score": 5})
        codes.append(r.status_code)
    assert codes.count(429) >= 60 - 2 * 20 - 1, codes
    # At most one short transaction per request, and a second one only for the 20 allowed per kind: the quota's
    # token is taken in the change's own transaction (a refused offer or contact opens one, rolled back with
    # nothing in it), or on its own (the rating; a change that failed for another reason still counts).
    assert writes[0] <= 60, writes  # never two of its own per request
    assert sum(writes) <= 60 + 2 * 20, writes  # and quota writes only for what was allowed (20 a kind at most)


# ---------------------------------------------------------------- (7) start-up
def test_unreadable_business_hours_is_one_clear_line_and_a_non_zero_exit(tmp_path):
    env = {"DATA_DIR": str(tmp_path), "BUSINESS_HOURS": "mon-fri 25:00-18:00", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        [sys.executable, "-c", "import sys, app; sys.exit(app.main(['--no-dashboard', '--port', '1']))"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    out = (proc.stderr + proc.stdout).strip()
    assert "Traceback" not in out, out
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1, out
    assert "BUSINESS_HOURS" in lines[0] and "25:00" in lines[0], out


def test_a_dashboard_that_never_answered_is_not_healthy_after_a_short_grace():
    port = free_port()
    frozen = DashboardSupervisor(
        lambda p: [sys.executable, "-c", "import time; time.sleep(60)"],  # never listens: frozen from the start
        port,
        health_url=lambda p: f"http://127.0.0.1:{p}/health",
        hung_s=30,
    ).start()
    try:
        assert frozen.status()["running"]  # just started: within the grace
        frozen._started_at = time.monotonic() - 20  # 20 s later, and still no answer to any probe
        assert not frozen.status()["running"]
    finally:
        frozen.stop()
