"""Over the visitor REST API: an emergency typed while waiting or live gets the instructions at once, the chat
goes to the front of the queue marked urgent (urgent in the console when live), the sheet row says emergency."""

from __future__ import annotations

import pytest

from testkit.support import Visitor, read_sheet, wait_until

pytestmark = pytest.mark.both_databases  # SQLite and PostgreSQL

HARD = "Posso prenotare una visita privata notturna con il direttore per il mio matrimonio?"


def rows_for(data_dir, session_id):
    return [r for r in read_sheet(data_dir, "Conversazioni") if r["session_id"] == session_id]


def test_an_emergency_typed_while_waiting_and_while_live(server, data_dir, mario):
    mario.online()
    first = Visitor(server.url)
    first.say(HARD)
    assert first.accept(True)["status"] == "waiting"
    v = Visitor(server.url)
    v.say(HARD)
    assert v.accept(True)["status"] == "waiting"
    assert [q["session_id"] for q in mario.get("pending_sessions")["sessions"]] == [first.session_id, v.session_id]

    out = v.say("mio figlio si è perso")
    assert out["status"] == "waiting" and out["urgent"] is True and out["intent"] == "emergency"
    assert "112" in out["messages"][1]["text"]  # the default instructions: data/faq.csv has no emergency entry
    queue = mario.get("pending_sessions")["sessions"]
    assert [(q["session_id"], q["urgent"]) for q in queue] == [(v.session_id, True), (first.session_id, False)]
    assert v.poll()["queue_position"] == 1
    rows = wait_until(lambda: [r for r in rows_for(data_dir, v.session_id) if r["intent_detected"] == "emergency"])
    assert rows[0]["user_message"] == "mio figlio si è perso"

    # live with the other visitor: an emergency marks the chat urgent in the operator's console
    mario.take(first.session_id)
    assert first.say("va bene, aspetto")["urgent"] is False
    out = first.say("aiuto, un signore è svenuto nella sala 2")
    assert out["status"] == "live" and out["urgent"] is True and out["intent"] == "emergency"
    chats = {c["session_id"]: c for c in mario.get("my_chats")["chats"]}
    assert chats[first.session_id]["urgent"] is True
    wait_until(lambda: any(r["intent_detected"] == "emergency" for r in rows_for(data_dir, first.session_id)))
