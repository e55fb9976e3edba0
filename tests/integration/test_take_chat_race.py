"""The take_chat race over HTTP: eight concurrent requests, exactly one winner."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from testkit.support import Visitor

pytestmark = pytest.mark.both_databases  # every test runs on SQLite and on PostgreSQL

HARD = "Posso prenotare una visita privata notturna con il direttore per il mio matrimonio?"


def test_take_chat_race_has_exactly_one_winner(server, mario, lucia):
    mario.online()
    lucia.online()
    for _ in range(5):
        v = Visitor(server.url)
        v.say(HARD)
        assert v.accept()["status"] == "waiting"
        barrier = threading.Barrier(8)

        def attempt(i, sid=v.session_id, barrier=barrier):
            op = (mario, lucia)[i % 2]
            barrier.wait()
            r = op.http.post("/api/operators", params={"action": "take_chat"}, json={"session_id": sid})
            return r.status_code, r.json()

        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(attempt, range(8)))
        codes = Counter(code for code, _ in results)
        assert codes == {200: 1, 409: 7}, results
        assert {body["error"]["code"] for code, body in results if code == 409} <= {"not_waiting", "at_capacity"}
        winner = next(body["operator_name"] for code, body in results if code == 200)
        snap = v.poll()
        assert snap["status"] == "live" and snap["operator_name"] == winner
        assert sum(1 for m in snap["messages"] if m["role"] == "system" and "Ora l'assiste" in m["text"]) == 1
        (mario if winner == "Mario" else lucia).release(v.session_id)
