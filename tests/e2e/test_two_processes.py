"""Two app processes share one database (PostgreSQL for real deployments)."""

from __future__ import annotations

import json
import threading
from collections import Counter

import pytest
from sqlalchemy import create_engine, select

from sportello.store.tables import outbox
from testkit.support import AppServer, Operator, Visitor, add_operator, read_sheet, wait_until

pytestmark = pytest.mark.both_databases

HARD = "Posso prenotare una visita privata notturna con il direttore per il mio matrimonio?"


def wait_for_sheet(engine, data_dir) -> list:
    """The outbox's Conversazioni rows, once the local sheet has at least as many."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(outbox.c.event_id, outbox.c.payload)
            .where(outbox.c.worksheet == "Conversazioni")
            .order_by(outbox.c.id)
        ).all()
    wait_until(lambda: len(read_sheet(data_dir, "Conversazioni")) >= len(rows), timeout=20)
    return rows


def test_visitor_on_one_process_operator_on_the_other(data_dir, db_env, settings):
    add_operator(data_dir, "mario", "Mario Rossi", env=db_env)
    add_operator(data_dir, "lucia", "Lucia Bianchi", env=db_env)
    a = AppServer(data_dir, env=db_env).start()
    b = AppServer(data_dir, env=db_env).start()
    try:
        mario = Operator(b.url, "mario")
        lucia = Operator(a.url, "lucia")
        mario.online()
        lucia.online()
        session_ids = []
        for round_ in range(4):
            v = Visitor(a.url)
            session_ids.append(v.session_id)
            v.say(HARD)
            assert v.accept()["status"] == "waiting"
            # The take_chat race across the two processes: exactly one winner.
            results = []
            barrier = threading.Barrier(2)

            def take(op, sid=v.session_id, barrier=barrier, results=results):
                barrier.wait()
                r = op.http.post("/api/operators", params={"action": "take_chat"}, json={"session_id": sid})
                results.append((r.status_code, r.json()))

            threads = [threading.Thread(target=take, args=(op,)) for op in (mario, lucia)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert Counter(code for code, _ in results) == {200: 1, 409: 1}, results
            winner = mario if any(body.get("operator_name") == "Mario" for _, body in results) else lucia
            winner.send(v.session_id, f"Salve, giro {round_}")
            assert v.poll()["messages"][-1]["text"] == f"Salve, giro {round_}"  # served by process a
            v.say("Grazie, a che ora?")
            seen = winner.get("chat_messages", session_id=v.session_id)["messages"]
            assert seen[-1]["text"] == "Grazie, a che ora?"
            winner.release(v.session_id)

        # Both processes run a worker; only the leader drains: every row exactly once, in order.
        engine = create_engine(settings.database_url)
        rows = wait_for_sheet(engine, data_dir)

        # The leader dies: the other process takes over the outbox.
        a.kill()
        v = Visitor(b.url)
        v.say("Quanto costa il biglietto?")
        rows = wait_for_sheet(engine, data_dir)
        sheet = read_sheet(data_dir, "Conversazioni")
        ids = [r["event_id"] for r in sheet]
        assert len(ids) == len(set(ids)) == len(rows)
        for sid in session_ids:
            expected = [r.event_id for r in rows if json.loads(r.payload)[1] == sid]
            assert [r["event_id"] for r in sheet if r["session_id"] == sid] == expected
        tickets = mario.http.get("/api/tickets", params={"status": "resolved"}).json()["tickets"]
        assert len(tickets) == 4
        engine.dispose()
    finally:
        a.stop()
        b.stop()
