"""The conversation state machine (ChatService), in-process: fake answerer, fake clock, temporary SQLite."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from sqlalchemy import func, select

from sportello.domain import Conflict, Forbidden, NotFound, ValidationError
from sportello.services.tickets import TicketService
from sportello.store.tables import outbox, tickets
from testkit.fakes import PRICE_A, PRICE_Q

HARD = "Posso prenotare una visita privata notturna con il direttore per il mio matrimonio?"


def start(desk, lang="it"):
    s = desk.chat.start_session(lang, "pytest-ua")
    return s["session_id"], s["token"]


def status(desk, sid, tok) -> str:
    return desk.chat.view.visitor_poll(sid, tok)["status"]


def outbox_rows(desk) -> int:
    with desk.store.read() as conn:
        return conn.execute(select(func.count()).select_from(outbox)).scalar_one()


def queued(desk, question=HARD):
    sid, tok = start(desk)
    assert desk.chat.visitor_message(sid, tok, question)["status"] == "offered"
    accepted = desk.chat.answer_offer(sid, tok, True)
    assert accepted["status"] == "waiting" and "opening" not in accepted  # only with the contact form
    return sid, tok


# ------------------------------------------------------------------ the AI part
def test_start_greets_and_an_answered_question_stays_with_the_bot(desk):
    s = desk.chat.start_session("en", "ua")
    assert s["status"] == "bot" and s["language"] == "en" and [m["seq"] for m in s["messages"]] == [1]
    out = desk.chat.visitor_message(s["session_id"], s["token"], PRICE_Q)
    assert out["status"] == "bot" and out["intent"] == "richiesta_prezzi" and out["offer_operator"] is False
    assert [(m["role"], m["text"]) for m in out["messages"]] == [("user", PRICE_Q), ("bot", PRICE_A)]
    assert desk.answerer.calls == [(PRICE_Q, "en")]
    assert outbox_rows(desk) == 1  # the sheet row committed with the messages


def test_a_message_to_the_ai_opens_one_write_transaction_and_one_to_a_person_one_too(desk, monkeypatch):
    """The writes of a process queue on one lock: whether the AI answers first is read, not tried in a write
    that is rolled back; a change's quota joins the change's own transaction (when the quotas are in SQLite)."""
    sid, tok = start(desk)
    original, writes = desk.store.write, []

    def counted(*args, **kwargs):
        writes.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(desk.store, "write", counted)
    assert desk.chat.visitor_message(sid, tok, PRICE_Q)["status"] == "bot"
    assert desk.chat.visitor_message(sid, tok, HARD)["status"] == "offered"
    assert len(writes) == 2  # one per message (no client address here: no per-address quota to take)
    writes.clear()
    assert desk.chat.answer_offer(sid, tok, False)["status"] == "bot"
    assert len(writes) == 1, (desk.chat.quotas.joins_transactions, desk.settings.change_rate_per_session)


def test_no_answer_offers_then_decline_returns_to_bot(desk):
    sid, tok = start(desk)
    out = desk.chat.visitor_message(sid, tok, HARD)
    assert out["status"] == "offered" and out["intent"] == "no_answer" and out["offer_operator"] is True
    declined = desk.chat.answer_offer(sid, tok, False)
    assert declined["status"] == "bot" and declined["messages"][-1]["role"] == "bot"
    assert desk.chat.visitor_message(sid, tok, PRICE_Q)["status"] == "bot"


def test_a_kb_answer_while_offered_goes_back_to_bot_and_suggestions_pass_through(desk):
    desk.answerer.suggestions["orari domenica?"] = "Quali sono gli orari?"
    sid, tok = start(desk)
    out = desk.chat.visitor_message(sid, tok, "orari domenica?")
    assert out["status"] == "offered" and out["suggestion"] == "Quali sono gli orari?"
    assert desk.chat.visitor_message(sid, tok, PRICE_Q)["status"] == "bot"


def test_asking_for_a_person_keeps_the_real_question(desk):
    desk.add_operator("mario", "Mario Rossi")
    sid, tok = start(desk)
    desk.chat.visitor_message(sid, tok, HARD)
    out = desk.chat.visitor_message(sid, tok, "voglio parlare con un operatore")
    assert out["intent"] == "operator_request" and out["suggestion"] is None
    desk.chat.answer_offer(sid, tok, True)
    assert desk.chat.view.pending_sessions()[0]["original_question"] == HARD


def test_answerer_failure_escalates(desk):
    def broken(text, lang=None):
        raise RuntimeError("model down")

    desk.answerer.answer = broken
    sid, tok = start(desk)
    assert desk.chat.visitor_message(sid, tok, PRICE_Q)["status"] == "offered"


# ------------------------------------------------------------------ accept
def test_accept_with_an_operator_available_queues_in_order(desk):
    desk.add_operator("mario", "Mario Rossi")
    first, _ = queued(desk)
    desk.clock.advance(1)  # the queue is ordered by waiting time (then by id)
    sid, tok = start(desk)
    desk.chat.visitor_message(sid, tok, HARD)
    out = desk.chat.answer_offer(sid, tok, True)
    assert out["status"] == "waiting" and out["queue_position"] == 2
    assert desk.chat.answer_offer(sid, tok, True)["status"] == "waiting"  # idempotent
    assert [p["session_id"] for p in desk.chat.view.pending_sessions()] == [first, sid]


def test_accept_with_nobody_available_asks_for_a_contact(desk):
    desk.add_operator("off", "Offline Op", online=False)
    sid, tok = start(desk)
    desk.chat.visitor_message(sid, tok, HARD)
    out = desk.chat.answer_offer(sid, tok, True)
    assert out["status"] == "collecting_contact" and out["queue_position"] is None


def test_talk_to_a_person_at_any_time_from_bot(desk):
    sid, tok = start(desk)
    desk.chat.visitor_message(sid, tok, PRICE_Q)
    assert desk.chat.answer_offer(sid, tok, True)["status"] == "collecting_contact"
    ticket = desk.chat.submit_contact(sid, tok, "email", "anna@example.org")["ticket"]
    assert ticket["original_question"] == PRICE_Q


def test_stale_heartbeat_means_not_available(desk):
    desk.add_operator("mario", "Mario Rossi")
    assert desk.chat.view.operator_status()["available"] is True
    desk.clock.advance(desk.settings.heartbeat_timeout_s + 1)
    assert desk.chat.view.operator_status()["available"] is False
    sid, tok = start(desk)
    desk.chat.visitor_message(sid, tok, HARD)
    assert desk.chat.answer_offer(sid, tok, True)["status"] == "collecting_contact"


def test_invalid_accept_value(desk):
    sid, tok = start(desk)
    with pytest.raises(ValidationError) as e:
        desk.chat.answer_offer(sid, tok, "yes")
    assert e.value.code == "invalid_accept"


# ------------------------------------------------------------------ live chat
def test_waiting_live_closed_with_a_resolved_ticket(desk):
    mario = desk.add_operator("mario", "Mario Rossi")
    sid, tok = queued(desk)
    taken = desk.chat.take_chat(mario, sid)
    assert taken == {"session_id": sid, "status": "live", "operator_name": "Mario"}
    snap = desk.chat.view.visitor_poll(sid, tok)
    assert snap["status"] == "live" and snap["operator_name"] == "Mario"
    assert desk.chat.view.operator_chats(mario)[0]["session_id"] == sid
    desk.clock.advance(30)
    desk.operators.heartbeat(mario)  # his console beats (every HEARTBEAT_TIMEOUT_S / 3)
    desk.chat.operator_send(mario, sid, "Buongiorno, mi dica.")
    out = desk.chat.visitor_message(sid, tok, "Vorrei venire sabato.")
    assert out["status"] == "live" and out["intent"] == ""
    seen = desk.chat.view.operator_messages(sid, after=snap["last_seq"])["messages"]
    assert [(m["role"], m["text"]) for m in seen] == [
        ("operator", "Buongiorno, mi dica."),
        ("user", "Vorrei venire sabato."),
    ]
    released = desk.chat.release_chat(mario, sid, "  informazioni fornite  ")
    ticket = released["ticket"]
    assert released["status"] == "closed"
    assert ticket["status"] == "resolved" and ticket["contact_method"] == "live_chat"
    assert ticket["operator_name"] == "Mario" and ticket["resolution_reason"] == "informazioni fornite"
    assert ticket["original_question"] == HARD
    lines = ticket["conversation_transcript"].split("\n")
    assert lines[0].endswith("] Mario: Buongiorno, mi dica.") and lines[1].endswith("] Utente: Vorrei venire sabato.")
    assert HARD in ticket["conversation_history"]
    assert status(desk, sid, tok) == "closed"
    assert desk.chat.view.operator_chats(mario) == []
    with pytest.raises(Conflict) as e:
        desk.chat.visitor_message(sid, tok, "ancora qui?")
    assert e.value.code == "chat_closed"
    sid2, tok2 = queued(desk)  # a finished wait now feeds the estimate
    assert desk.chat.view.visitor_poll(sid2, tok2)["estimated_wait_s"] is not None


def test_visitor_messages_while_waiting_are_kept(desk):
    desk.add_operator("mario", "Mario Rossi")
    sid, tok = queued(desk)
    calls = len(desk.answerer.calls)
    out = desk.chat.visitor_message(sid, tok, "sono ancora qui")
    assert out["status"] == "waiting" and [m["role"] for m in out["messages"]] == ["user"]
    assert len(desk.answerer.calls) == calls  # the bot stays silent


def test_take_chat_race_from_threads_has_exactly_one_winner(desk):
    ops = [desk.add_operator(f"op{i}", f"Operatore {i}") for i in range(4)]
    for _ in range(3):
        sid, tok = queued(desk)
        barrier = threading.Barrier(8)
        results: list[str] = []

        def attempt(i, sid=sid, barrier=barrier, results=results):
            barrier.wait()
            try:
                desk.chat.take_chat(ops[i % 4], sid)
                results.append("won")
            except Conflict as exc:
                results.append(exc.code)

        threads = [threading.Thread(target=attempt, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert Counter(results) == {"won": 1, "not_waiting": 7}, results
        snap = desk.chat.view.visitor_poll(sid, tok)
        assert snap["status"] == "live"
        assert sum(1 for m in snap["messages"] if m["role"] == "system" and "Ora l'assiste" in m["text"]) == 1


def test_operator_at_capacity(desk):
    solo = desk.add_operator("solo", "Solo Uno", max_chats=1)
    first, _ = queued(desk)
    desk.chat.take_chat(solo, first)
    assert desk.chat.view.operator_status()["available"] is False
    sid, tok = start(desk)
    desk.chat.visitor_message(sid, tok, HARD)
    assert desk.chat.answer_offer(sid, tok, True)["status"] == "collecting_contact"
    # Even a chat already waiting cannot be taken beyond the maximum.
    other = desk.add_operator("other", "Altro Operatore")
    second, _ = queued(desk)
    with pytest.raises(Conflict) as e:
        desk.chat.take_chat(solo, second)
    assert e.value.code == "at_capacity"
    assert desk.chat.take_chat(other, second)["status"] == "live"


def test_an_operator_who_is_not_present_takes_no_chat(desk):
    """One rule (domain/capacity.py) for take and transfer: away, offline or a stale heartbeat
    means no new chat, even a chat already waiting, whichever face asks."""
    mario = desk.add_operator("mario", "Mario Rossi")
    lucia = desk.add_operator("lucia", "Lucia Bianchi")
    sid, tok = queued(desk)
    for presence in ("away", "offline"):
        desk.operators.set_status(lucia, presence)
        with pytest.raises(Conflict) as e:
            desk.chat.take_chat(lucia, sid)
        assert e.value.code == "operator_unavailable"
    desk.operators.set_status(lucia, "online")
    desk.clock.advance(desk.settings.heartbeat_timeout_s + 1)  # lucia's tab closed: no heartbeat since
    desk.operators.heartbeat(mario)
    with pytest.raises(Conflict) as e:
        desk.chat.take_chat(lucia, sid)
    assert e.value.code == "operator_unavailable"
    assert status(desk, sid, tok) == "waiting"
    assert [o["id"] for o in desk.chat.view.transfer_targets(lucia)] == [mario]  # the same rule
    assert desk.chat.take_chat(mario, sid)["status"] == "live"
    assert desk.chat.view.transfer_targets(mario) == []
    with pytest.raises(Conflict) as e:
        desk.chat.transfer_chat(mario, sid, lucia)
    assert e.value.code == "target_offline"


def test_send_or_release_on_someone_elses_chat(desk):
    mario = desk.add_operator("mario", "Mario Rossi")
    lucia = desk.add_operator("lucia", "Lucia Bianchi")
    sid, tok = start(desk)
    with pytest.raises(Conflict):
        desk.chat.operator_send(mario, sid, "ciao")  # not live
    with pytest.raises(Conflict) as e:
        desk.chat.take_chat(mario, sid)
    assert e.value.code == "not_waiting"
    desk.chat.visitor_message(sid, tok, HARD)
    desk.chat.answer_offer(sid, tok, True)
    desk.chat.take_chat(mario, sid)
    for action in (
        lambda: desk.chat.operator_send(lucia, sid, "sono Lucia"),
        lambda: desk.chat.release_chat(lucia, sid),
    ):
        with pytest.raises(Conflict) as e:
            action()
        assert e.value.code == "not_your_chat"
    with pytest.raises(ValidationError) as e:
        desk.chat.operator_send(mario, sid, "")
    assert e.value.code == "empty_message"
    with pytest.raises(NotFound):
        desk.chat.take_chat(mario, "f" * 32)
    assert status(desk, sid, tok) == "live"


# ------------------------------------------------------------------ queue timeout
def test_timeout_through_the_sweeper_moves_to_contact(desk):
    mario = desk.add_operator("mario", "Mario Rossi")
    sid, tok = queued(desk)
    desk.clock.advance(desk.settings.queue_timeout_s - 1)
    desk.operators.heartbeat(mario)  # his console beats: he is there, just busy elsewhere
    assert desk.chat.expire_waiting() == 0
    assert status(desk, sid, tok) == "waiting"
    desk.clock.advance(1)
    assert desk.chat.expire_waiting() == 1
    snap = desk.chat.view.visitor_poll(sid, tok)
    assert snap["status"] == "collecting_contact" and snap["messages"][-1]["text"].startswith(
        "Purtroppo nessun operatore"
    )
    assert desk.chat.expire_waiting() == 0
    assert desk.chat.view.pending_sessions() == []
    with pytest.raises(Conflict):
        desk.chat.take_chat(mario, sid)
    assert desk.chat.submit_contact(sid, tok, "phone", "06 1234 5678")["ticket"]["status"] == "open"


def test_a_timed_out_chat_still_waiting_counts_in_no_queue_position(desk):
    """Visitor and operators read one queue: a chat that waited QUEUE_TIMEOUT_S (or more) is out
    of it at once, before the sweeper moves it, so the positions they see agree."""
    mario = desk.add_operator("mario", "Mario Rossi")
    old, old_tok = queued(desk)
    desk.clock.advance(desk.settings.queue_timeout_s - 10)
    desk.operators.heartbeat(mario)
    sid, tok = queued(desk)
    assert desk.chat.view.visitor_poll(sid, tok)["queue_position"] == 2
    assert [p["session_id"] for p in desk.chat.view.pending_sessions()] == [old, sid]
    desk.clock.advance(10)  # `old` has waited exactly QUEUE_TIMEOUT_S: timed out (>=), not yet swept
    assert status(desk, old, old_tok) == "waiting"
    assert desk.chat.view.visitor_poll(old, old_tok)["queue_position"] is None
    snap = desk.chat.view.visitor_poll(sid, tok)
    queue = desk.chat.view.pending_sessions()
    assert [(p["session_id"], p["queue_position"]) for p in queue] == [(sid, 1)]
    assert snap["queue_position"] == 1
    assert desk.chat.expire_waiting() == 1  # the sweeper agrees on which chat timed out
    assert desk.chat.view.visitor_poll(sid, tok)["queue_position"] == 1


def test_only_the_sweeper_expires_an_overdue_wait_polls_and_the_queue_only_read(desk):
    desk.add_operator("mario", "Mario Rossi")
    sid, tok = queued(desk)
    desk.clock.advance(desk.settings.queue_timeout_s + 5)
    assert status(desk, sid, tok) == "waiting"  # the visitor's poll writes nothing
    assert desk.chat.view.pending_sessions() == []  # an overdue chat is no longer offered to operators...
    assert status(desk, sid, tok) == "waiting"  # ...and listing the queue writes nothing either
    assert desk.chat.expire_waiting() == 1  # the sweeper's pass moves it
    assert status(desk, sid, tok) == "collecting_contact"


# ------------------------------------------------------------------ contact and tickets
def test_contact_opens_a_ticket_and_closes_the_chat(desk):
    sid, tok = start(desk)
    desk.chat.visitor_message(sid, tok, HARD)
    desk.chat.answer_offer(sid, tok, True)
    out = desk.chat.submit_contact(sid, tok, "email", "anna@example.org")
    ticket = out["ticket"]
    assert out["status"] == "closed"
    assert ticket["status"] == "open" and ticket["contact_method"] == "email"
    assert ticket["contact_info"] == "anna@example.org" and ticket["original_question"] == HARD
    assert str(ticket["id"]) in out["messages"][-1]["text"]
    assert desk.chat.view.visitor_poll(sid, tok)["ticket_id"] == ticket["id"]
    with pytest.raises(Conflict) as e:
        desk.chat.submit_contact(sid, tok, "email", "anna@example.org")
    assert e.value.code == "wrong_state"


def test_contact_typed_in_the_chat(desk):
    sid, tok = start(desk)
    desk.chat.visitor_message(sid, tok, "voglio parlare con un operatore")
    desk.chat.answer_offer(sid, tok, True)
    assert desk.chat.visitor_message(sid, tok, "non so")["intent"] == "contact_prompt"
    out = desk.chat.visitor_message(sid, tok, "+39 333 123 4567")
    assert out["status"] == "closed" and out["intent"] == "ticket_created"
    with desk.store.read() as conn:
        row = conn.execute(select(tickets).where(tickets.c.session_id == sid)).one()
    assert row.contact_method == "phone" and row.contact_info == "+393331234567"


def test_invalid_contacts_are_refused_and_nothing_changes(desk):
    sid, tok = start(desk)
    with pytest.raises(Conflict) as e:
        desk.chat.submit_contact(sid, tok, "email", "a@b.it")
    assert e.value.code == "wrong_state"
    desk.chat.visitor_message(sid, tok, HARD)
    desk.chat.answer_offer(sid, tok, True)
    before = desk.chat.view.visitor_poll(sid, tok)["last_seq"]
    for method, value, code in [
        ("email", "anna@", "invalid_email"),
        ("email", "anna example.org", "invalid_email"),
        ("email", '=HYPERLINK("x")@x.it', "invalid_email"),
        ("phone", "12", "invalid_phone"),
        ("phone", "chiamami", "invalid_phone"),
        ("fax", "0612345678", "invalid_method"),
    ]:
        with pytest.raises(ValidationError) as e:
            desk.chat.submit_contact(sid, tok, method, value)
        assert e.value.code == code, (method, value)
    snap = desk.chat.view.visitor_poll(sid, tok)
    assert snap["status"] == "collecting_contact" and snap["last_seq"] == before


# ------------------------------------------------------------------ bad input
def test_empty_too_long_or_not_text_is_refused_and_nothing_stored(desk):
    sid, tok = start(desk)
    rows = outbox_rows(desk)
    for text, code in [
        ("", "empty_message"),
        ("  \n ", "empty_message"),
        ("x" * 2001, "message_too_long"),
        (42, "invalid_text"),
        (None, "invalid_text"),
    ]:
        with pytest.raises(ValidationError) as e:
            desk.chat.visitor_message(sid, tok, text)
        assert e.value.code == code
    assert desk.chat.view.visitor_poll(sid, tok)["last_seq"] == 1 and outbox_rows(desk) == rows
    assert desk.answerer.calls == []
    assert desk.chat.visitor_message(sid, tok, "x" * 2000)["messages"][0]["text"] == "x" * 2000


def test_unknown_session_wrong_token_and_language(desk):
    sid, tok = start(desk)
    with pytest.raises(NotFound) as e:
        desk.chat.visitor_message("0" * 32, tok, "ciao")
    assert e.value.code == "unknown_session"
    for call in (
        lambda: desk.chat.visitor_message(sid, "wrong", "ciao"),
        lambda: desk.chat.view.visitor_poll(sid, ""),
        lambda: desk.chat.answer_offer(sid, "wrong", True),
        lambda: desk.chat.submit_contact(sid, "wrong", "email", "a@b.it"),
    ):
        with pytest.raises(Forbidden) as e:
            call()
        assert e.value.code == "bad_session_token"
    with pytest.raises(ValidationError) as e:
        desk.chat.start_session("fr")
    assert e.value.code == "invalid_language"
    assert status(desk, sid, tok) == "bot"


def test_text_typed_in_the_dashboard_with_a_nul_is_refused_not_stored(desk):
    """The dashboard calls the services directly (no JSON body check): a NUL in a resolution reason
    or a ticket note is a clear error, not a 500 from PostgreSQL, and nothing changes."""
    mario = desk.add_operator("mario", "Mario Rossi")
    sid, tok = queued(desk)
    desk.chat.take_chat(mario, sid)
    with pytest.raises(ValidationError) as bad:
        desk.chat.release_chat(mario, sid, "risolto\x00")
    assert bad.value.code == "invalid_characters"
    assert status(desk, sid, tok) == "live"
    ticket = desk.chat.release_chat(mario, sid, "risolto")["ticket"]
    tickets = TicketService(desk.store)
    for field in ("notes", "append_note"):
        with pytest.raises(ValidationError):
            tickets.update(ticket["id"], **{field: "nota\x00"})
    assert tickets.get(ticket["id"])["notes"] == ""


# ------------------------------------------------------------------ issue 15: topic first, business hours, typing
def test_talk_to_a_person_before_any_question_asks_the_topic_first(desk):
    desk.add_operator("mario", "Mario Rossi")
    sid, tok = start(desk)
    out = desk.chat.answer_offer(sid, tok, True)
    assert out["status"] == "asking_topic" and out["queue_position"] is None
    assert out["messages"][-1]["role"] == "bot" and "di che cosa si tratta" in out["messages"][-1]["text"]
    assert desk.chat.view.pending_sessions() == []  # not queued yet
    assert desk.chat.answer_offer(sid, tok, True)["status"] == "asking_topic"  # idempotent
    calls = len(desk.answerer.calls)
    sent = desk.chat.visitor_message(sid, tok, "Ho perso un ombrello in guardaroba")
    assert sent["status"] == "waiting" and len(desk.answerer.calls) == calls  # the AI is not asked
    assert [m["role"] for m in sent["messages"]] == ["user", "system"]
    assert desk.chat.view.pending_sessions()[0]["original_question"] == "Ho perso un ombrello in guardaroba"


def test_the_topic_can_be_declined_and_goes_to_contact_when_nobody_is_online(desk):
    sid, tok = start(desk)
    assert desk.chat.answer_offer(sid, tok, True)["status"] == "asking_topic"
    assert desk.chat.answer_offer(sid, tok, False)["status"] == "bot"
    assert desk.chat.answer_offer(sid, tok, True)["status"] == "asking_topic"
    out = desk.chat.visitor_message(sid, tok, "Vorrei un rimborso")
    assert out["status"] == "collecting_contact"
    ticket = desk.chat.submit_contact(sid, tok, "email", "anna@example.org")["ticket"]
    assert ticket["original_question"] == "Vorrei un rimborso"


def test_outside_business_hours_the_offer_goes_straight_to_the_contact_form(desk):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from sportello.domain.hours import BusinessHours

    desk.add_operator("mario", "Mario Rossi")  # online, but the desk is closed
    desk.chat.hours = BusinessHours.parse("mon-fri 09:00-18:00", "2025-06-09", "Europe/Rome")
    desk.clock.now = datetime(2025, 6, 7, 20, 0, tzinfo=ZoneInfo("Europe/Rome")).timestamp()  # Saturday evening
    assert desk.chat.opening_status("it") == {"open": False, "back": "martedì alle 9:00"}  # Monday is a holiday
    assert desk.chat.opening_status("en")["back"] == "on Tuesday at 9:00"
    sid, tok = start(desk)
    assert desk.chat.visitor_message(sid, tok, HARD)["status"] == "offered"
    out = desk.chat.answer_offer(sid, tok, True)
    assert out["status"] == "collecting_contact"
    assert "torniamo martedì alle 9:00" in out["messages"][-1]["text"]
    assert out["opening"] == {"open": False, "back": "martedì alle 9:00"}  # the page's status line says it too
    # "talk to a person" before any question, while closed: what it is about first, then the form
    sid2, tok2 = start(desk, "en")
    assert desk.chat.answer_offer(sid2, tok2, True)["status"] == "asking_topic"
    out = desk.chat.visitor_message(sid2, tok2, "A lost umbrella")
    assert out["status"] == "collecting_contact" and "we are back on Tuesday at 9:00" in out["messages"][-1]["text"]
    ticket = desk.chat.submit_contact(sid2, tok2, "email", "anna@example.org")["ticket"]
    assert ticket["original_question"] == "A lost umbrella"
    desk.clock.now = datetime(2025, 6, 10, 9, 30, tzinfo=ZoneInfo("Europe/Rome")).timestamp()
    assert desk.chat.opening_status("it") == {"open": True, "back": None}


def test_ticket_text_follows_the_contact_method(desk):
    sid, tok = start(desk)
    desk.chat.visitor_message(sid, tok, HARD)
    desk.chat.answer_offer(sid, tok, True)
    msgs = desk.chat.submit_contact(sid, tok, "phone", "+39 333 123 4567")["messages"]
    assert "la richiameremo al numero +393331234567" in msgs[-1]["text"]
    sid, tok = start(desk)
    desk.chat.visitor_message(sid, tok, HARD)
    desk.chat.answer_offer(sid, tok, True)
    text = desk.chat.submit_contact(sid, tok, "email", "anna@example.org")["messages"][-1]["text"]
    assert "le scriveremo all'indirizzo anna@example.org" in text and "richiameremo" not in text


def test_operator_typing_shows_for_a_few_seconds_and_only_to_the_chat_it_belongs_to(desk):
    mario = desk.add_operator("mario", "Mario Rossi")
    lucia = desk.add_operator("lucia", "Lucia Bianchi")
    sid, tok = queued(desk)
    with pytest.raises(Conflict):
        desk.chat.operator_typing(mario, sid)  # not live yet
    desk.chat.take_chat(mario, sid)
    assert desk.chat.view.visitor_poll(sid, tok)["operator_typing"] is False
    desk.chat.operator_typing(mario, sid)
    assert desk.chat.view.visitor_poll(sid, tok)["operator_typing"] is True
    desk.clock.advance(6)
    assert desk.chat.view.visitor_poll(sid, tok)["operator_typing"] is False
    desk.chat.operator_typing(mario, sid)
    desk.chat.operator_send(mario, sid, "Eccomi")
    assert desk.chat.view.visitor_poll(sid, tok)["operator_typing"] is False  # the message arrived
    with pytest.raises(Conflict):
        desk.chat.operator_typing(lucia, sid)  # not her chat
