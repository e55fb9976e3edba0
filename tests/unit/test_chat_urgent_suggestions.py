"""Issue 25 in the chat: emergencies go to the front of the queue marked urgent; suggestions become buttons;
a hedged answer is shown with a person offered."""

from __future__ import annotations

import json

from sqlalchemy import select

from sportello.answering.bot import NO_ANSWER, Answer
from sportello.domain.queue import QUEUE_ORDER
from sportello.store import chat_queries as cq
from sportello.store.tables import outbox, tickets

HARD = "Posso prenotare una visita privata notturna con il direttore per il mio matrimonio?"
FIRE = "c'è fumo nella sala 3!"
INSTRUCTIONS = "Chiami il 112 e segua il personale verso l'uscita."


def start(desk, lang="it"):
    s = desk.chat.start_session(lang, "pytest-ua")
    return s["session_id"], s["token"]


def queued(desk):
    sid, tok = start(desk)
    desk.chat.visitor_message(sid, tok, HARD)
    assert desk.chat.answer_offer(sid, tok, True)["status"] == "waiting"
    return sid


def emergency(desk):
    desk.answerer.scripted[FIRE] = Answer(
        True, INSTRUCTIONS, "emergency", "it-99", 1.0, "it", urgent=True, topic="emergenza"
    )


def sheet_rows(desk, sid) -> list[list]:
    with desk.store.read() as conn:
        rows = conn.execute(select(outbox.c.payload).where(outbox.c.session_id == sid).order_by(outbox.c.id)).all()
    return [json.loads(r.payload) for r in rows]


def test_the_queue_order_is_one_rule():
    assert tuple(col.key for col, _ in cq.QUEUE_KEYS) == QUEUE_ORDER


def test_an_emergency_reads_the_instructions_and_goes_first_in_the_queue(desk):
    mario = desk.add_operator("mario", "Mario Rossi")
    emergency(desk)
    older = queued(desk)
    desk.clock.advance(5)
    also_older = queued(desk)
    desk.clock.advance(5)
    sid, tok = start(desk)
    out = desk.chat.visitor_message(sid, tok, FIRE)
    # the instructions first, then straight into the queue: no question asked
    assert out["status"] == "waiting" and out["urgent"] is True and out["intent"] == "emergency"
    texts = [m["text"] for m in out["messages"]]
    assert texts[0] == FIRE and texts[1] == INSTRUCTIONS and len(texts) == 3
    pending = desk.chat.view.pending_sessions()
    assert [p["session_id"] for p in pending] == [sid, older, also_older]
    assert [p["urgent"] for p in pending] == [True, False, False]
    poll = desk.chat.view.visitor_poll(sid, tok)
    assert poll["queue_position"] == 1 and poll["urgent"] is True
    assert poll["messages"][-1]["text"].endswith("1.")  # "position 1."
    # the others moved back one place
    with desk.store.read() as conn:
        row = cq.read_session(conn, older, None, visitor=False)._mapping
        assert cq.ahead_in_queue(conn, row, 0.0) == 1
    # the sheet: the AI's row says emergency, with the instructions
    ai_row = sheet_rows(desk, sid)[0]
    assert ai_row[2] == FIRE and ai_row[3] == INSTRUCTIONS and ai_row[4] == "emergency"
    # taken and released: the ticket is marked urgent
    desk.chat.take_chat(mario, sid)
    ticket = desk.chat.release_chat(mario, sid, "ok")["ticket"]
    assert ticket["urgent"] is True


def test_two_urgent_chats_keep_their_own_order(desk):
    desk.add_operator("mario", "Mario Rossi")
    emergency(desk)
    first, tok1 = start(desk)
    desk.chat.visitor_message(first, tok1, FIRE)
    desk.clock.advance(1)
    second, tok2 = start(desk)
    desk.chat.visitor_message(second, tok2, FIRE)
    assert [p["session_id"] for p in desk.chat.view.pending_sessions()] == [first, second]
    assert desk.chat.view.visitor_poll(second, tok2)["queue_position"] == 2


def test_an_emergency_with_nobody_available_goes_to_the_contact_form_and_the_ticket_is_urgent(desk):
    emergency(desk)
    sid, tok = start(desk)
    out = desk.chat.visitor_message(sid, tok, FIRE)
    assert out["status"] == "collecting_contact" and out["urgent"] is True
    assert out["messages"][1]["text"] == INSTRUCTIONS  # the instructions stay shown, before the contact prompt
    ticket = desk.chat.submit_contact(sid, tok, "phone", "+39 333 1234567")["ticket"]
    assert ticket["urgent"] is True
    with desk.store.read() as conn:
        assert conn.execute(select(tickets.c.urgent).where(tickets.c.session_id == sid)).scalar_one() is True
    assert sheet_rows(desk, sid)[0][4] == "emergency"


def test_an_emergency_after_an_offer_is_urgent_too(desk):
    desk.add_operator("mario", "Mario Rossi")
    emergency(desk)
    older = queued(desk)
    sid, tok = start(desk)
    assert desk.chat.visitor_message(sid, tok, HARD)["status"] == "offered"
    assert desk.chat.visitor_message(sid, tok, FIRE)["status"] == "waiting"
    assert [p["session_id"] for p in desk.chat.view.pending_sessions()] == [sid, older]


def test_suggestions_are_offered_as_questions_until_the_next_turn(desk):
    desk.answerer.questions.update({"orari": "Quali sono gli orari?", "prezzi": "Quanto costa?", "x": None})
    desk.answerer.scripted["domenica?"] = Answer(
        False, "", NO_ANSWER, None, 0.4, "it", "Quali sono gli orari?", suggestions=["orari", "x", "prezzi"]
    )
    sid, tok = start(desk)
    out = desk.chat.visitor_message(sid, tok, "domenica?")
    expected = [
        {"intent": "orari", "question": "Quali sono gli orari?"},
        {"intent": "prezzi", "question": "Quanto costa?"},
    ]
    assert out["status"] == "offered" and out["suggestions"] == expected and out["urgent"] is False
    assert "«Quali sono gli orari?» o «Quanto costa?»" in out["messages"][-1]["text"]
    assert desk.chat.view.visitor_poll(sid, tok)["suggestions"] == expected
    # one click asks the question: the buttons go
    desk.answerer.answers["Quali sono gli orari?"] = ("orari", "Aperto 9-19.")
    after = desk.chat.visitor_message(sid, tok, "Quali sono gli orari?")
    assert after["status"] == "bot" and after["suggestions"] == []
    assert desk.chat.view.visitor_poll(sid, tok)["suggestions"] == []


def test_talk_to_a_person_clears_the_suggestions(desk):
    desk.answerer.questions["orari"] = "Quali sono gli orari?"
    desk.answerer.scripted["domenica?"] = Answer(False, "", NO_ANSWER, None, 0.4, "it", None, suggestions=["orari"])
    sid, tok = start(desk)
    assert desk.chat.visitor_message(sid, tok, "domenica?")["suggestions"] == [
        {"intent": "orari", "question": "Quali sono gli orari?"}
    ]
    desk.chat.answer_offer(sid, tok, False)
    assert desk.chat.view.visitor_poll(sid, tok)["suggestions"] == []


def test_a_hedged_answer_is_shown_and_a_person_offered(desk):
    text = "Il parcheggio è gratuito.\n\nNon ho informazioni su: ricarica."
    desk.answerer.scripted["ricarica auto al parcheggio?"] = Answer(
        False, text, "parcheggio", "it-7", 0.9, "it", "Dove parcheggio?", hedged=True, suggestions=["parcheggio"]
    )
    desk.answerer.questions["parcheggio"] = "Dove parcheggio?"
    sid, tok = start(desk)
    out = desk.chat.visitor_message(sid, tok, "ricarica auto al parcheggio?")
    assert out["status"] == "offered" and out["offer_operator"] is True
    assert out["messages"][-1]["text"] == text
    assert out["suggestions"] == [] and out["suggestion"] is None  # the answer is shown: no button repeats it
