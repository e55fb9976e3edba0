"""The operator console's long poll, `GET /api/operators/console` (faces/console_stream.py), over the REST
API (in-process): an operator's token or sign-in cookie only; the answer comes at once when the version
differs, when something the console shows changes (a chat queued, a visitor's message in my chat, a take
written by another process), and not for what is not mine to watch (a colleague's chat's messages)."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from sportello.config import Settings
from sportello.runtime import dashboard_runtime
from sportello.services.operators import SESSION_COOKIE
from testkit.support import Operator, Visitor, wait_until

pytestmark = pytest.mark.both_databases

URL = "/api/operators/console"
HARD = "Posso prenotare una visita privata notturna per il mio matrimonio?"


def version(op: Operator, after: str = "", wait: float = 0) -> dict:
    r = op.http.get(URL, params={"after": after, "wait": wait})
    assert r.status_code == 200, r.text
    assert set(r.json()) == {"version", "waiting"}  # a digest and a count: no id, no text
    return r.json()


def queued(url: str) -> Visitor:
    v = Visitor(url)
    assert v.say(HARD)["status"] == "offered"
    assert v.accept(True)["status"] == "waiting"
    return v


class Waiter:
    """A long poll in a thread: how long it took and what it answered."""

    def __init__(self, op: Operator, after: str, wait: float):
        self.out: dict = {}
        self.took: float | None = None
        self.thread = threading.Thread(target=self._run, args=(op, after, wait), daemon=True)
        self.thread.start()
        time.sleep(0.3)  # it is waiting now

    def _run(self, op, after, wait):
        t0 = time.monotonic()
        self.out = version(op, after, wait)
        self.took = time.monotonic() - t0

    def join(self) -> dict:
        self.thread.join(timeout=30)
        assert not self.thread.is_alive()
        return self.out


def test_only_an_operator_may_ask_and_a_cookie_is_enough(server, mario):
    with httpx.Client(base_url=server.url, timeout=10) as anon:
        assert anon.get(URL).status_code == 401
        assert anon.get(URL, headers={"Authorization": "Bearer nope"}).status_code == 401
        v = Visitor(server.url)  # a visitor's token is not an operator's
        assert anon.get(URL, headers={"Authorization": f"Bearer {v.token}"}).status_code == 401
        v.close()
        anon.cookies.set(SESSION_COOKIE, "nope")
        assert anon.get(URL).status_code == 401
        anon.cookies.set(SESSION_COOKIE, mario.token)
        by_cookie = anon.get(URL, params={"wait": 0})
        assert by_cookie.status_code == 200, by_cookie.text
        assert by_cookie.headers["cache-control"] == "no-store"
        assert by_cookie.json() == version(mario)
    mario.http.post("/api/auth/logout")
    assert mario.http.get(URL).status_code == 401  # a revoked token


def test_a_queued_chat_and_a_visitors_message_wake_the_wait_at_once(server, mario):
    mario.online()
    first = version(mario)
    assert first["waiting"] == 0
    assert version(mario, after="other")["version"] == first["version"]  # a different version: at once
    t0 = time.monotonic()
    assert version(mario, after=first["version"], wait=0.5) == first  # nothing new: after the wait
    assert time.monotonic() - t0 >= 0.45

    w = Waiter(mario, first["version"], 20)
    v = queued(server.url)
    out = w.join()
    assert out["waiting"] == 1 and out["version"] != first["version"]
    assert w.took < 0.3 + 1.0, w.took  # woken by the write, not by the 20 s timeout

    mario.take(v.session_id)
    taken = version(mario)
    assert taken["waiting"] == 0
    w = Waiter(mario, taken["version"], 20)
    v.say("Sabato sera va bene?")
    assert w.join()["version"] != taken["version"]
    assert w.took < 0.3 + 1.0, w.took
    v.close()


def test_a_colleagues_chat_messages_are_not_mine_to_watch(server, mario, lucia):
    lucia.online()
    v = queued(server.url)
    lucia.take(v.session_id)
    mine = version(mario)
    v.say("Una domanda per Lucia")  # a message in lucia's chat: her console changes, mine does not
    lucias = version(lucia)
    assert version(mario, after=mine["version"], wait=0.6) == mine
    lucia.send(v.session_id, "Eccomi.")
    assert version(lucia, after=lucias["version"])["version"] != lucias["version"]
    assert version(mario, after=mine["version"], wait=0.6) == mine
    v.close()


def test_a_write_of_another_process_wakes_the_wait(server, mario):
    """The dashboard (a process of its own) takes a chat: the app's change feed finds it at its next look."""
    mario.online()
    v = queued(server.url)
    before = version(mario)
    other = dashboard_runtime(Settings.from_env(server.env))
    try:
        me = other.operators.by_username("mario")["id"]
        w = Waiter(mario, before["version"], 20)
        other.chat.take_chat(me, v.session_id)
        out = w.join()
        assert out["waiting"] == 0 and out["version"] != before["version"]
        assert w.took < 0.3 + 1.5, w.took
        assert wait_until(lambda: version(mario)["version"] == out["version"])
    finally:
        other.store.dispose()
        v.close()


def test_beat_is_the_consoles_heartbeat_and_only_then(server, mario):
    """The dashboard's page beats with its long poll (`beat=1`); the poll alone is no heartbeat."""
    other = dashboard_runtime(Settings.from_env(server.env))
    try:

        def last() -> float:
            return other.operators.by_username("mario")["last_heartbeat"]

        mario.online()
        t0 = last()
        time.sleep(0.05)
        mario.http.get(URL, params={"wait": 0})
        assert last() == t0
        r = mario.http.get(URL, params={"wait": 0, "beat": 1})
        assert r.status_code == 200 and last() > t0
    finally:
        other.store.dispose()
