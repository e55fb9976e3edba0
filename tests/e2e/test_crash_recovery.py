"""Durability: SIGKILL mid-conversation (the take_chat race over HTTP is in tests/integration/test_take_chat_race.py)."""

from __future__ import annotations

import json
import threading

import httpx
import pytest
from sqlalchemy import create_engine, select

from sportello.store.tables import messages, outbox
from testkit.support import AppServer, Operator, Visitor, add_operator, read_sheet, wait_until

pytestmark = pytest.mark.both_databases  # every test runs on SQLite and on PostgreSQL

HARD = "Posso prenotare una visita privata notturna con il direttore per il mio matrimonio?"


def _sheet_event_ids(data_dir) -> list[str]:
    return [r["event_id"] for r in read_sheet(data_dir, "Conversazioni")]


def test_sigkill_mid_conversation_loses_nothing_and_sends_each_row_once(data_dir, db_env, settings):
    add_operator(data_dir, "mario", "Mario Rossi", "password123", "--max-chats", "20", env=db_env)
    acked: list[tuple[str, int, str]] = []  # (session, seq, text) the server acknowledged
    lock = threading.Lock()

    def chatter(url: str, n_sessions: int, n_msgs: int, op: Operator, stop: threading.Event):
        for _ in range(n_sessions):
            if stop.is_set():
                return
            try:
                v = Visitor(url)
                v.say(HARD)
                v.accept()
                op.take(v.session_id)
                for i in range(n_msgs):
                    text = f"messaggio {i} di {v.session_id[:6]}"
                    out = v.say(text)
                    with lock:
                        acked.append((v.session_id, out["messages"][0]["seq"], text))
                    r = op.http.post(
                        "/api/operators",
                        params={"action": "send_message"},
                        json={"session_id": v.session_id, "text": f"risposta {i}"},
                    )
                    if r.status_code == 200:
                        with lock:
                            acked.append((v.session_id, r.json()["message"]["seq"], f"risposta {i}"))
            except (httpx.HTTPError, AssertionError):
                return  # the server died under us: expected

    def run_app_with_chatters(n_threads: int, n_sessions: int, n_msgs: int):
        srv = AppServer(data_dir, env=db_env).start()
        op = Operator(srv.url, "mario")
        op.online()
        stop = threading.Event()
        threads = [
            threading.Thread(target=chatter, args=(srv.url, n_sessions, n_msgs, op, stop)) for _ in range(n_threads)
        ]
        for t in threads:
            t.start()
        return srv, stop, threads

    # Phase 1: the sheet cannot be written (sheets/ is a file), a backlog builds up.
    (data_dir / "sheets").write_text("not a directory")
    srv, stop, threads = run_app_with_chatters(3, 2, 5)
    for t in threads:
        t.join(60)
    srv.kill()
    engine = create_engine(settings.database_url)
    with engine.connect() as conn:
        pending = conn.execute(select(outbox.c.id).where(outbox.c.status == "pending")).all()
    assert len(pending) > 30  # a real backlog was left behind by the crash

    # Phase 2: the sheet works again; kill the app while it drains and while visitors chat.
    (data_dir / "sheets").unlink()
    srv, stop, threads = run_app_with_chatters(4, 20, 20)
    wait_until(lambda: len(acked) > 150, timeout=60)
    srv.kill()  # SIGKILL in the middle of the conversations
    stop.set()
    for t in threads:
        t.join(30)

    # Phase 3: restart; every acknowledged message is there, every row reaches the sheet exactly once.
    with AppServer(data_dir, env=db_env) as srv:
        with engine.connect() as conn:
            stored = {(r.session_id, r.seq): r.text for r in conn.execute(select(messages))}
            rows = conn.execute(
                select(outbox.c.event_id, outbox.c.payload)
                .where(outbox.c.worksheet == "Conversazioni")
                .order_by(outbox.c.id)
            ).all()
        for session_id, seq, text in acked:
            assert stored.get((session_id, seq)) == text
        wait_until(lambda: len(_sheet_event_ids(data_dir)) >= len(rows), timeout=30)
        sheet_ids = _sheet_event_ids(data_dir)
        assert len(sheet_ids) == len(set(sheet_ids)) == len(rows)
        # ... and each session's rows in the order they were committed.
        sheet = read_sheet(data_dir, "Conversazioni")
        by_session: dict[str, list[str]] = {}
        for r in rows:
            by_session.setdefault(json.loads(r.payload)[1], []).append(r.event_id)
        for session_id, ids in by_session.items():
            assert [x["event_id"] for x in sheet if x["session_id"] == session_id] == ids
        with engine.connect() as conn:
            assert conn.execute(select(outbox.c.id).where(outbox.c.status == "pending")).all() == []
    engine.dispose()
