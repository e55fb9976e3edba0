"""The seed's scenarios, driven over HTTP against the app's API (in-process: testkit.inprocess)."""

from __future__ import annotations

import httpx
import pytest

from testkit.inprocess import InProcessServer
from testkit.support import Operator, Visitor, add_operator, read_sheet, wait_until

pytestmark = pytest.mark.both_databases  # every test runs on SQLite and on PostgreSQL

HARD = "Posso prenotare una visita privata notturna con il direttore per il mio matrimonio?"


def rows_for(data_dir, session_id, worksheet="Conversazioni"):
    # (.get: the file is read while the outbox may be appending to it; a row read short is read whole next time)
    return [r for r in read_sheet(data_dir, worksheet) if r.get("session_id") == session_id]


def test_answered_question_is_logged_with_intent_and_user_agent(server, data_dir):
    v = Visitor(server.url, user_agent="Mozilla/5.0 (test)")
    out = v.say("Quanto costa il biglietto?")
    assert out["status"] == "bot"
    assert out["offer_operator"] is False
    assert out["intent"] == "richiesta_prezzi"
    assert [m["role"] for m in out["messages"]] == ["user", "bot"]
    assert "€" in out["messages"][1]["text"]
    rows = wait_until(lambda: rows_for(data_dir, v.session_id))
    assert rows[0]["user_message"] == "Quanto costa il biglietto?"
    assert rows[0]["intent_detected"] == "richiesta_prezzi"
    assert rows[0]["user_agent"] == "Mozilla/5.0 (test)"
    assert rows[0]["bot_reply"] == out["messages"][1]["text"]
    assert rows[0]["timestamp"].endswith("Z")


def test_unsure_answer_suggests_a_kb_question_that_then_answers(server, data_dir):
    v = Visitor(server.url, language="en")
    out = v.say("sunday closing time?")
    assert out["status"] == "offered" and out["offer_operator"] is True and out["intent"] == "no_answer"
    assert out["suggestion"] == "What are your opening hours?"
    assert "“What are your opening hours?”" in out["messages"][-1]["text"]
    answered = v.say(out["suggestion"])  # asking it is one click on the page
    assert answered["status"] == "bot" and answered["intent"] == "orari_apertura" and answered["suggestion"] is None
    rows = wait_until(lambda: len(rows_for(data_dir, v.session_id)) >= 2 and rows_for(data_dir, v.session_id))
    assert [r["intent_detected"] for r in rows] == ["no_answer", "orari_apertura"]
    assert "Perhaps you meant" in rows[0]["bot_reply"]
    # A request for a person, or a question nothing in the KB is close to, carries no suggestion.
    assert v.say("I want to talk to a human")["suggestion"] is None
    assert Visitor(server.url).say(HARD)["suggestion"] is None


def test_suggestions_come_as_questions_in_the_message_and_the_poll(server):
    """Issue 25: up to 3 [{intent, question}] beside "talk to a person", so an embedder can show buttons."""
    v = Visitor(server.url, language="en")
    out = v.say("sunday closing time?")
    suggestions = out["suggestions"]
    assert 1 <= len(suggestions) <= 3 and all(set(s) == {"intent", "question"} for s in suggestions)
    assert suggestions[0] == {"intent": "orari_apertura", "question": "What are your opening hours?"}
    assert v.poll()["suggestions"] == suggestions
    answered = v.say(suggestions[0]["question"])  # one click
    assert answered["intent"] == "orari_apertura" and answered["suggestions"] == []
    assert v.poll()["suggestions"] == []


def test_an_emergency_goes_to_the_front_of_the_queue_marked_urgent(server, data_dir, mario):
    mario.online()
    waiting = Visitor(server.url)
    waiting.say(HARD)
    assert waiting.accept(True)["status"] == "waiting"
    v = Visitor(server.url, language="en")
    out = v.say("help! a man fainted in room 2")
    assert out["status"] == "waiting" and out["urgent"] is True and out["intent"] == "emergency"
    assert "112" in out["messages"][1]["text"]  # the instructions, before the queue
    queue = mario.get("pending_sessions")["sessions"]
    assert [(q["session_id"], q["urgent"]) for q in queue] == [(v.session_id, True), (waiting.session_id, False)]
    assert v.poll()["queue_position"] == 1 and waiting.poll()["queue_position"] == 2
    rows = wait_until(lambda: rows_for(data_dir, v.session_id))
    assert rows[0]["intent_detected"] == "emergency"
    mario.take(v.session_id)
    assert mario.release(v.session_id)["ticket"]["urgent"] is True


def test_seed_final_scenario_live_chat_to_resolved_ticket(server, data_dir, mario):
    mario.online()
    status = mario.get("status")
    assert status["available"] is True and status["online"] == 1

    v = Visitor(server.url)
    out = v.say(HARD)
    assert out["status"] == "offered" and out["offer_operator"] is True
    queued = v.accept(True)
    assert queued["status"] == "waiting" and queued["queue_position"] == 1

    pending = mario.get("pending_sessions")["sessions"]
    assert [s["session_id"] for s in pending] == [v.session_id]
    assert pending[0]["original_question"] == HARD
    assert pending[0]["language"] == "it" and pending[0]["queue_position"] == 1

    taken = mario.take(v.session_id)
    assert taken["status"] == "live" and taken["operator_name"] == "Mario"
    polled = v.poll()
    assert polled["status"] == "live" and polled["operator_name"] == "Mario"
    assert any(m["role"] == "system" and "Ora l'assiste Mario" in m["text"] for m in polled["messages"])
    last = polled["messages"][-1]["seq"]

    mario.send(v.session_id, "Buongiorno, sono Mario. Mi dica pure.")
    new = v.poll(after=last)["messages"]
    assert [(m["role"], m["author"], m["text"]) for m in new] == [
        ("operator", "Mario", "Buongiorno, sono Mario. Mi dica pure.")
    ]
    v.say("Vorrei sapere se è possibile per sabato.")
    seen = mario.get("chat_messages", session_id=v.session_id, after=new[-1]["seq"])["messages"]
    assert [m["text"] for m in seen] == ["Vorrei sapere se è possibile per sabato."]
    mario.send(v.session_id, "Sì, le scrivo i dettagli via email.")

    released = mario.release(v.session_id, "informazioni fornite")
    ticket = released["ticket"]
    assert ticket["status"] == "resolved"
    assert ticket["contact_method"] == "live_chat"
    assert ticket["operator_name"] == "Mario"
    assert ticket["original_question"] == HARD
    assert ticket["resolution_reason"] == "informazioni fornite"
    lines = ticket["conversation_transcript"].split("\n")
    assert len(lines) == 3
    assert lines[0].endswith("] Mario: Buongiorno, sono Mario. Mi dica pure.") and lines[0].startswith("[")
    assert lines[1].endswith("] Utente: Vorrei sapere se è possibile per sabato.")
    assert HARD in ticket["conversation_history"]  # the earlier AI part

    assert v.poll()["status"] == "closed"
    v.say("ancora qui?", expect=409)

    rows = wait_until(lambda: (r := rows_for(data_dir, v.session_id)) and len(r) >= 7 and r)
    intents = [r["intent_detected"] for r in rows]
    assert intents == [
        "no_answer",
        "operator_queue",
        "chat_handover",
        "live_chat_operator_message",
        "live_chat_user_message",
        "live_chat_operator_message",
        "live_chat_operator",
    ]
    handover = rows[2]
    assert handover["user_message"] == f"[HANDOVER] {HARD}"
    assert handover["bot_reply"] == "🔄 Chat presa da Mario"
    assert handover["user_agent"] == "Handover to Mario"
    assert rows[3]["user_message"] == "[OPERATORE]"
    assert rows[3]["bot_reply"] == "👨‍💼 Mario: Buongiorno, sono Mario. Mi dica pure."
    assert rows[3]["user_agent"] == "Chat Live - Mario"
    assert rows[4]["user_message"] == "[CHAT LIVE] Vorrei sapere se è possibile per sabato."
    assert rows[4]["bot_reply"] == "[Attesa operatore]"
    assert rows[4]["user_agent"] == "Chat Live con Mario"
    assert rows[6]["user_message"] == "[CONVERSAZIONE COMPLETA]"
    assert rows[6]["bot_reply"].startswith("[CHAT LIVE COMPLETATA] [")
    assert rows[6]["user_agent"] == "Operatore: Mario"

    tickets = mario.http.get("/api/tickets", params={"session_id": v.session_id}).json()["tickets"]
    assert len(tickets) == 1 and tickets[0]["status"] == "resolved"
    sheet_tickets = wait_until(lambda: rows_for(data_dir, v.session_id, "Ticket"))
    assert len(sheet_tickets) == 1 and sheet_tickets[0]["status"] == "resolved"


def test_nobody_online_contact_opens_ticket(server, data_dir, mario):
    v = Visitor(server.url, language="en")
    out = v.say("Can I talk to a human please?")
    assert out["status"] == "offered" and out["intent"] == "operator_request"
    res = v.accept(True)
    assert res["status"] == "collecting_contact"
    assert "email" in res["messages"][-1]["text"].lower()
    v.contact("email", "not-an-email", expect=422)
    assert v.poll()["status"] == "collecting_contact"  # nothing lost, still waiting for a contact
    out = v.contact("email", "anna@example.org")
    ticket = out["ticket"]
    assert ticket["status"] == "open"
    assert ticket["contact_method"] == "email" and ticket["contact_info"] == "anna@example.org"
    assert out["status"] == "closed"
    assert str(ticket["id"]) in out["messages"][-1]["text"]
    tickets = mario.http.get("/api/tickets", params={"status": "open"}).json()["tickets"]
    assert [t["session_id"] for t in tickets] == [v.session_id]
    rows = wait_until(lambda: (r := rows_for(data_dir, v.session_id)) and len(r) >= 3 and r)
    assert rows[-1]["intent_detected"] == "ticket_created"
    assert f"#{ticket['id']}" in rows[-1]["user_message"] and "email" in rows[-1]["bot_reply"]
    assert wait_until(lambda: rows_for(data_dir, v.session_id, "Ticket"))[0]["status"] == "open"


def test_ticket_list_shows_contacts_in_full_to_admins_only(server, mario, lucia):
    v = Visitor(server.url)
    v.say("Vorrei parlare con una persona")
    v.accept(True)  # nobody online: a contact
    v.contact("email", "anna.rossi@example.org")
    full = mario.http.get("/api/tickets", params={"session_id": v.session_id}).json()["tickets"][0]
    seen = lucia.http.get("/api/tickets", params={"session_id": v.session_id}).json()["tickets"][0]
    assert full["contact_info"] == "anna.rossi@example.org"  # mario is an admin
    assert seen["contact_info"] == "a***@example.org" and seen["id"] == full["id"]
    # the one ticket opened is masked too for a non-admin (issue "Hardening, second round": masking bypass)
    assert lucia.http.get(f"/api/tickets/{full['id']}").json()["ticket"]["contact_info"] == "a***@example.org"
    assert mario.http.get(f"/api/tickets/{full['id']}").json()["ticket"]["contact_info"] == "anna.rossi@example.org"


def test_contact_typed_in_the_chat_is_recognised(server, mario):
    v = Visitor(server.url)
    v.say("voglio parlare con un operatore")
    v.accept(True)
    assert v.say("non so")["intent"] == "contact_prompt"
    out = v.say("+39 333 123 4567")
    assert out["status"] == "closed" and out["intent"] == "ticket_created"
    t = mario.http.get("/api/tickets", params={"session_id": v.session_id}).json()["tickets"][0]
    assert t["contact_method"] == "phone" and t["contact_info"] == "+393331234567"


def test_decline_returns_to_bot(server):
    v = Visitor(server.url)
    assert v.say(HARD)["status"] == "offered"
    assert v.accept(False)["status"] == "bot"
    assert v.say("Quanto costa il biglietto?")["status"] == "bot"


def test_away_or_stale_operator_is_not_available(server, mario):
    mario.post("set_status", {"status": "away"})
    assert mario.get("status")["available"] is False
    v = Visitor(server.url)
    v.say(HARD)
    assert v.accept(True)["status"] == "collecting_contact"


def test_operator_at_capacity_is_not_available(data_dir, db_env):
    add_operator(data_dir, "solo", "Solo Uno", "password123", "--max-chats", "1", env=db_env)
    with InProcessServer(data_dir, env=db_env) as srv:
        op = Operator(srv.url, "solo")
        op.online()
        first = Visitor(srv.url)
        first.say(HARD)
        assert first.accept()["status"] == "waiting"
        op.take(first.session_id)
        assert op.get("status")["available"] is False
        second = Visitor(srv.url)
        second.say(HARD)
        assert second.accept()["status"] == "collecting_contact"


def test_queue_timeout_moves_to_contact(data_dir, db_env):
    add_operator(data_dir, "mario", "Mario Rossi", env=db_env)
    # A short timeout: the sweeper (one look a second) moves the chat at its first look after it.
    with InProcessServer(data_dir, env={"QUEUE_TIMEOUT_S": "0.5", **db_env}) as srv:
        op = Operator(srv.url, "mario")
        op.online()
        v = Visitor(srv.url)
        v.say(HARD)
        assert v.accept()["status"] == "waiting"
        # The background sweeper moves it without anyone polling the session.
        wait_until(lambda: v.poll()["status"] != "waiting", timeout=6)
        assert not op.get("pending_sessions")["sessions"]
        snap = v.poll()
        assert snap["status"] == "collecting_contact"
        assert snap["messages"][-1]["text"].startswith("Purtroppo nessun operatore")
        op.take(v.session_id, expect=409)
        assert v.contact("phone", "06 1234 5678")["ticket"]["status"] == "open"
        rows = wait_until(
            lambda: [r for r in read_sheet(data_dir, "Conversazioni") if r["intent_detected"] == "queue_timeout"]
        )
        assert rows[0]["session_id"] == v.session_id


def test_cors_for_a_venue_site_embedding_the_visitor_api(data_dir, db_env):
    with InProcessServer(data_dir, env={"CORS_ORIGINS": "https://museo.example", **db_env}) as srv:
        pre = httpx.options(
            srv.url + "/api/chat/sessions",
            headers={
                "Origin": "https://museo.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type,x-session-token",
            },
        )
        assert pre.status_code == 200
        assert pre.headers["access-control-allow-origin"] == "https://museo.example"
        r = httpx.post(srv.url + "/api/chat/sessions", json={}, headers={"Origin": "https://evil.example"})
        assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
