"""An emergency typed while the visitor waits for a person or talks with one: the instructions at once, the chat
marked urgent (the front of the queue; urgent in the operator's console), the sheet row's intent `emergency`."""

from __future__ import annotations

import json

from sqlalchemy import select

from sportello.answering import bot
from sportello.answering.emergency import DEFAULT_TEXT
from sportello.answering.kb import KBEntry
from sportello.answering.retrieval import RetrievalAnswerer
from sportello.store.tables import outbox

HARD = "Posso prenotare una visita privata notturna con il direttore per il mio matrimonio?"
LOST = "mio figlio si è perso!"


def start(desk):
    s = desk.chat.start_session("it", "pytest-ua")
    return s["session_id"], s["token"]


def queued(desk, question=HARD):
    sid, tok = start(desk)
    desk.chat.visitor_message(sid, tok, question)
    assert desk.chat.answer_offer(sid, tok, True)["status"] == "waiting"
    return sid, tok


def sheet_intents(desk, sid) -> list[str]:
    with desk.store.read() as conn:
        rows = conn.execute(select(outbox.c.payload).where(outbox.c.session_id == sid).order_by(outbox.c.id)).all()
    return [json.loads(r.payload)[4] for r in rows]


def test_an_emergency_while_waiting_gets_the_instructions_and_the_front_of_the_queue(desk):
    desk.add_operator("mario", "Mario Rossi")
    older, _ = queued(desk)
    desk.clock.advance(5)
    sid, tok = queued(desk)
    calls = len(desk.answerer.calls)
    out = desk.chat.visitor_message(sid, tok, LOST)
    assert out["status"] == "waiting" and out["urgent"] is True and out["intent"] == "emergency"
    assert [m["text"] for m in out["messages"]] == [LOST, DEFAULT_TEXT["it"]]
    assert len(desk.answerer.calls) == calls  # the detector only: no answer asked of the AI
    pending = desk.chat.view.pending_sessions()
    assert [(p["session_id"], p["urgent"]) for p in pending] == [(sid, True), (older, False)]
    assert pending[0]["original_question"] == LOST  # what the operator reads in the queue
    assert desk.chat.view.visitor_poll(sid, tok)["queue_position"] == 1
    assert sheet_intents(desk, sid)[-1] == "emergency"


def test_an_emergency_while_live_is_marked_urgent_in_the_console(desk):
    mario = desk.add_operator("mario", "Mario Rossi")
    sid, tok = queued(desk)
    desk.chat.take_chat(mario, sid)
    out = desk.chat.visitor_message(sid, tok, "help, my daughter is missing")
    assert out["status"] == "live" and out["urgent"] is True and out["intent"] == "emergency"
    # in the message's language (English on an Italian page), as in the bot phase
    assert out["messages"][1]["text"] == DEFAULT_TEXT["en"] and out["messages"][1]["role"] == "bot"
    assert [c["urgent"] for c in desk.chat.view.operator_chats(mario) if c["session_id"] == sid] == [True]
    assert sheet_intents(desk, sid)[-1] == "emergency"
    assert desk.chat.release_chat(mario, sid, "ok")["ticket"]["urgent"] is True


def test_ordinary_messages_while_waiting_or_live_stay_ordinary(desk):
    mario = desk.add_operator("mario", "Mario Rossi")
    sid, tok = queued(desk)
    out = desk.chat.visitor_message(sid, tok, "cosa succede se un bambino si perde?")  # a question, not an emergency
    assert out["urgent"] is False and out["intent"] == "" and len(out["messages"]) == 1
    desk.chat.take_chat(mario, sid)
    out = desk.chat.visitor_message(sid, tok, "ok grazie, aspetto")
    assert out["urgent"] is False and out["intent"] == ""
    assert sheet_intents(desk, sid)[-2:] == ["chat_handover", "live_chat_user_message"]


def test_the_streamed_message_path_detects_it_too(desk):
    desk.add_operator("mario", "Mario Rossi")
    sid, tok = queued(desk)
    *pieces, last = list(desk.chat.visitor_message_stream(sid, tok, "c'è fumo nella sala 3!"))
    assert pieces == [] and last["urgent"] is True and last["intent"] == "emergency"


def test_the_kb_instructions_and_the_escalating_answerer():
    kb = [KBEntry("it-1", "emergenza", "it", ("emergenza",), "Chiami la sicurezza: interno 555.")]
    retrieval = RetrievalAnswerer(kb)
    assert bot.emergency_reply(retrieval, LOST, "it").answer == "Chiami la sicurezza: interno 555."
    assert bot.emergency_reply(retrieval, "quanto costa il biglietto?", "it") is None

    class WithOffline:  # the LLM answerer's shape: the offline answerer under it
        offline = retrieval

    assert bot.emergency_reply(WithOffline(), LOST, "it").urgent is True
    fallback = RetrievalAnswerer(emergency_text="Call the desk on 555.")
    broken = bot.EscalatingAnswerer("empty KB", fallback=fallback)
    assert bot.emergency_reply(broken, "a man collapsed in room 2", "en").answer == "Call the desk on 555."
    # the bot phase of a KB that does not load answers emergencies too
    assert broken.answer("a man collapsed in room 2", "en").urgent is True
    assert broken.answer("quanto costa?", "it").found is False
