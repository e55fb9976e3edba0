"""The operator console's service side over the REST API (in-process): transferring a
live chat to a colleague, and internal notes that the visitor never sees."""

from __future__ import annotations

import pytest

from testkit.support import Operator, Visitor, read_sheet, wait_until

pytestmark = pytest.mark.both_databases

HARD = "Posso prenotare una visita privata notturna per il mio matrimonio?"


def live_with(mario: Operator, url: str) -> Visitor:
    mario.online()
    v = Visitor(url)
    assert v.say(HARD)["status"] == "offered"
    assert v.accept(True)["status"] == "waiting"
    mario.take(v.session_id)
    return v


def op_id(op: Operator) -> int:
    return op.get("me")["operator"]["id"]


def test_transfer_hands_the_live_chat_to_a_present_colleague(server, data_dir, mario, lucia):
    v = live_with(mario, server.url)
    mario.send(v.session_id, "Un attimo, la passo alla collega.")
    # lucia offline: refused, the chat stays mario's.
    lucia_id = op_id(lucia)
    lucia.post("set_status", {"status": "offline"})
    err = mario.post("transfer_chat", {"session_id": v.session_id, "to_operator_id": lucia_id}, expect=409)
    assert err["error"]["code"] == "target_offline"
    lucia.online()
    # Only the owner may transfer; to oneself is refused; an unknown colleague is a 404.
    assert (
        lucia.post("transfer_chat", {"session_id": v.session_id, "to_operator_id": lucia_id}, 409)["error"]["code"]
        == "not_your_chat"
    )
    assert mario.post("transfer_chat", {"session_id": v.session_id, "to_operator_id": op_id(mario)}, 409)
    assert mario.post("transfer_chat", {"session_id": v.session_id, "to_operator_id": 9999}, 404)
    assert mario.post("transfer_chat", {"session_id": v.session_id, "to_operator_id": "x"}, 422)

    out = mario.post("transfer_chat", {"session_id": v.session_id, "to_operator_id": lucia_id})
    assert out == {"session_id": v.session_id, "status": "live", "operator_id": lucia_id, "operator_name": "Lucia"}
    snap = v.poll()
    assert snap["status"] == "live" and snap["operator_name"] == "Lucia"
    assert snap["messages"][-1]["role"] == "system" and snap["messages"][-1]["text"] == "Ora l'assiste Lucia."
    assert [c["session_id"] for c in lucia.get("my_chats")["chats"]] == [v.session_id]
    assert mario.get("my_chats")["chats"] == []
    # The chat is lucia's now: mario can no longer write, lucia can, and releases it.
    assert mario.send(v.session_id, "ancora io", expect=409)["error"]["code"] == "not_your_chat"
    lucia.send(v.session_id, "Buongiorno, sono Lucia.")
    v.say("Grazie Lucia")
    ticket = lucia.release(v.session_id)["ticket"]
    assert ticket["operator_name"] == "Lucia" and ticket["status"] == "resolved"
    transcript = ticket["conversation_transcript"]
    assert "Mario: Un attimo" in transcript and "Lucia: Buongiorno" in transcript and "Grazie Lucia" in transcript
    rows = wait_until(
        lambda: [r for r in read_sheet(data_dir, "Conversazioni") if r["intent_detected"] == "chat_transfer"]
    )
    assert rows[0]["session_id"] == v.session_id
    assert rows[0]["bot_reply"] == "🔄 Ora l'assiste Lucia." and rows[0]["user_agent"] == "Transfer Mario -> Lucia"
    v.close()


def test_transfer_to_a_colleague_at_capacity_is_refused(server, mario, lucia):
    v1 = live_with(mario, server.url)
    lucia.online()
    lucia_id = op_id(lucia)
    # lucia takes chats up to her maximum (3 by default).
    others = []
    for _ in range(3):
        w = Visitor(server.url)
        w.say(HARD)
        w.accept(True)
        lucia.take(w.session_id)
        others.append(w)
    err = mario.post("transfer_chat", {"session_id": v1.session_id, "to_operator_id": lucia_id}, expect=409)
    assert err["error"]["code"] == "target_at_capacity"
    assert v1.poll()["operator_name"] == "Mario"
    for w in [v1, *others]:
        w.close()


def test_an_operator_who_is_not_online_cannot_take_a_chat_through_the_api(server, mario, lucia):
    """The API takes the rule a transfer takes (domain/capacity.py): away is not at the desk."""
    mario.online()  # someone is available, so the visitor is queued
    v = Visitor(server.url)
    v.say(HARD)
    assert v.accept(True)["status"] == "waiting"
    assert lucia.post("set_status", {"status": "away"})["operator"]["status"] == "away"
    err = lucia.take(v.session_id, expect=409)
    assert err["error"]["code"] == "operator_unavailable"
    assert v.poll()["status"] == "waiting"
    lucia.online()
    assert lucia.take(v.session_id)["operator_name"] == "Lucia"
    v.close()


def test_internal_notes_are_for_operators_only(server, data_dir, mario, lucia):
    v = live_with(mario, server.url)
    secret = "Visitatore già sentito ieri: <b>non</b> offrire rimborso"
    note = mario.post("add_note", {"session_id": v.session_id, "text": secret})["note"]
    assert note["operator_name"] == "Mario Rossi" and note["text"] == secret and note["session_id"] == v.session_id
    # Any operator reads them; the visitor never does (poll), nor does the sheet or the transcript.
    assert [n["text"] for n in lucia.get("notes", session_id=v.session_id)["notes"]] == [secret]
    assert all(secret not in m["text"] for m in v.poll()["messages"])
    ticket = mario.release(v.session_id)["ticket"]
    assert secret not in ticket["conversation_transcript"] and secret not in ticket["notes"]
    # A note on the ticket; the ticket's notes include the chat's, and the chat's the ticket's.
    lucia.post("add_note", {"ticket_id": ticket["id"], "text": "Richiamato, tutto ok."})
    by_ticket = mario.get("notes", ticket_id=ticket["id"])["notes"]
    assert [n["text"] for n in by_ticket] == [secret, "Richiamato, tutto ok."]
    assert [n["text"] for n in mario.get("notes", session_id=v.session_id)["notes"]] == [n["text"] for n in by_ticket]
    wait_until(lambda: [r for r in read_sheet(data_dir, "Conversazioni") if r["session_id"] == v.session_id])
    assert all(secret not in str(r) for r in read_sheet(data_dir, "Conversazioni"))
    # Bad input: empty text, no target, unknown targets, a visitor token is not an operator's.
    assert mario.post("add_note", {"session_id": v.session_id, "text": "  "}, 422)["error"]["code"] == "empty_message"
    assert mario.post("add_note", {"text": "x"}, 422)["error"]["code"] == "missing_target"
    assert mario.post("add_note", {"session_id": "nope", "text": "x"}, 404)
    assert mario.post("add_note", {"ticket_id": 999999, "text": "x"}, 404)
    assert mario.get("notes", expect=422)
    v.close()


def test_erasing_a_visitor_deletes_the_notes(runtime):
    op = runtime.operators.add("mario", "Mario Rossi", "password123")
    s = runtime.chat.start_session("it", "pytest")
    runtime.notes.add(op["id"], "Chiede di anna@example.org", session_id=s["session_id"])
    assert runtime.notes.list(session_id=s["session_id"])
    runtime.privacy.erase_session(s["session_id"])
    assert runtime.notes.list(session_id=s["session_id"]) == []
