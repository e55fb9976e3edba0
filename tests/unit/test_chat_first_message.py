"""A new chat started by its first message (issue 21): `ChatService.start_with_message_stream` writes the
session, its greeting, the message and the answer in one write, once the AI has answered; meanwhile the
chat is "starting" (`ChatService.starting`), which the visitor page's look and a reload rely on."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, select

from sportello.answering.bot import Answer
from sportello.domain import RateLimited, ValidationError
from sportello.faces.visitor.actions import VisitorActions
from sportello.faces.visitor.view import new_view
from sportello.services.chat import ChatService, Started
from sportello.store.tables import outbox, sessions
from testkit.fakes import PRICE_A, PRICE_Q

HARD = "Posso prenotare una visita privata notturna con il direttore per il mio matrimonio?"


def count(desk, table) -> int:
    with desk.store.read() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_the_first_message_starts_the_chat_in_one_write(desk, monkeypatch):
    original, writes = desk.store.write, []

    def counted(*args, **kwargs):
        writes.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(desk.store, "write", counted)
    out = desk.chat.start_with_message("en", "pytest-ua", PRICE_Q)
    assert len(writes) == 1  # (two before: start_session, then visitor_message)
    assert out["language"] == "en" and out["status"] == "bot" and out["intent"] == "richiesta_prezzi"
    assert [(m["seq"], m["role"]) for m in out["messages"]] == [(1, "bot"), (2, "user"), (3, "bot")]
    assert out["messages"][2]["text"] == PRICE_A
    assert desk.answerer.calls == [(PRICE_Q, "en")]
    # The same chat as start_session then visitor_message: the poll, the sheet row.
    snap = desk.chat.view.visitor_poll(out["session_id"], out["token"])
    assert [m["text"] for m in snap["messages"]] == [m["text"] for m in out["messages"]]
    assert count(desk, outbox) == 1
    # A question the KB cannot answer: a person offered, and the chat goes on with its token.
    other = desk.chat.start_with_message("it", "", HARD)
    assert other["status"] == "offered" and other["offer_operator"] is True
    assert desk.chat.answer_offer(other["session_id"], other["token"], False)["status"] == "bot"


def test_a_refused_first_message_writes_nothing(desk):
    with pytest.raises(ValidationError):
        desk.chat.start_with_message("it", "", "   ")
    with pytest.raises(ValidationError):
        desk.chat.start_with_message("xx", "", PRICE_Q)
    with pytest.raises(ValidationError):
        desk.chat.start_with_message("it", "", "x" * (desk.settings.max_message_len + 1))
    assert count(desk, sessions) == 0 and desk.answerer.calls == []


def test_both_per_client_rates_refuse_before_the_answerer(desk):
    settings = desk.settings.__class__.from_env(
        {"DATA_DIR": str(desk.settings.data_dir), "SESSION_RATE_PER_IP": "1", "MESSAGE_RATE_PER_IP": "1"}
    )
    chat = ChatService(desk.store, desk.answerer, settings, clock=desk.clock)
    chat.start_with_message("it", "", PRICE_Q, client="10.0.0.1")
    with pytest.raises(RateLimited) as refused:
        chat.start_with_message("it", "", PRICE_Q, client="10.0.0.1")
    assert refused.value.code == "too_many_sessions"
    s = chat.start_session("it", "")
    chat.visitor_message(s["session_id"], s["token"], PRICE_Q, client="10.0.0.2")  # 10.0.0.2's one message
    with pytest.raises(RateLimited) as refused:
        chat.start_with_message("it", "", PRICE_Q, client="10.0.0.2")
    assert refused.value.code == "too_many_messages"
    assert count(desk, sessions) == 2 and len(desk.answerer.calls) == 2


def test_the_chat_is_starting_until_its_write_and_a_waiter_is_woken_by_it(desk):
    items = desk.chat.start_with_message_stream("it", "ua", PRICE_Q)
    started = next(items)
    assert isinstance(started, Started) and started.language == "it"
    sid, token = started.session_id, started.token
    assert desk.chat.starting(sid, token) is True
    assert desk.chat.starting(sid, "wrong") is False and desk.chat.starting("other", token) is False
    assert count(desk, sessions) == 0  # nothing written yet: the answer comes first
    woke: list[tuple[bool, float]] = []

    def wait() -> None:
        t0 = time.monotonic()
        woke.append((desk.chat.starting(sid, token, wait_s=10), time.monotonic() - t0))

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(0.2)
    rest = list(items)  # the answer, then the write
    waiter.join(5)
    assert rest[-1]["session_id"] == sid and rest[-1]["token"] == token
    assert woke and woke[0][0] is False and 0.1 < woke[0][1] < 5  # woken by the write, not by its timeout
    assert desk.chat.starting(sid, token) is False
    assert desk.chat.view.visitor_poll(sid, token)["status"] == "bot"


def test_an_answerer_that_fails_offers_a_person_and_the_chat_is_no_longer_starting(desk):
    def broken(text, lang=None):
        raise RuntimeError("the model is down")

    desk.answerer.answer = broken
    items = desk.chat.start_with_message_stream("it", "", "boom")
    started = next(items)
    out = list(items)[-1]
    assert out["status"] == "offered" and out["intent"] == Answer.none("it").intent
    assert desk.chat.starting(started.session_id, started.token) is False


def test_the_page_keeps_a_starting_chat_and_a_reload_meanwhile_shows_it_once_written(desk):
    actions = VisitorActions(desk.chat)
    items = desk.chat.start_with_message_stream("it", "ua", PRICE_Q)
    started = next(items)
    sid, token = started.session_id, started.token
    # The look the page's script asks on the `session` event: the view keeps the chat, not yet written.
    adopted = actions.adopt(new_view("it"), sid, token)
    assert adopted is not None and adopted["sid"] == sid and adopted["token"] == token
    assert actions.adopt(new_view("it"), sid, "wrong") is None
    # A reload meanwhile: the page's load waits for the first message, then shows the whole chat.
    resumed: list[dict] = []
    loader = threading.Thread(target=lambda: resumed.append(actions.resume({"sid": sid, "token": token}, "it")))
    loader.start()
    time.sleep(0.2)
    assert not resumed  # still waiting for the write
    list(items)
    loader.join(5)
    assert resumed and resumed[0]["sid"] == sid
    assert [m["text"] for m in resumed[0]["msgs"]][1:] == [PRICE_Q, PRICE_A]


def test_the_gradio_send_starts_a_chat_with_its_first_message_in_one_write(desk, monkeypatch):
    actions = VisitorActions(desk.chat)
    original, writes = desk.store.write, []

    def counted(*args, **kwargs):
        writes.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(desk.store, "write", counted)
    chunks: list[str] = []
    view = actions.send(new_view("it"), PRICE_Q, "ua", on_chunk=chunks.append)
    assert len(writes) == 1 and view["sid"] and view["status"] == "bot"
    assert [(m["seq"], m["text"]) for m in view["msgs"]][1:] == [(2, PRICE_Q), (3, PRICE_A)]
    assert "".join(chunks) == PRICE_A
    assert not view["notice"]


def test_only_a_streamed_first_message_asks_the_answerer_to_stream(desk):
    """As `visitor_message` and its streamed twin: without streaming the answerer answers at once (an LLM is not
    asked to stream), through the API's JSON route and Gradio's send without `on_chunk`."""
    streamed: list[str] = []

    def answer_stream(text, lang=None):
        streamed.append(text)
        answer = desk.answerer.answer(text, lang)
        yield answer.answer
        return answer

    desk.answerer.answer_stream = answer_stream
    actions = VisitorActions(desk.chat)
    assert desk.chat.start_with_message("it", "", PRICE_Q)["intent"] == "richiesta_prezzi"
    view = actions.send(new_view("it"), PRICE_Q, "ua")
    view = actions.send(view, PRICE_Q, "ua")
    assert streamed == [] and [m["text"] for m in view["msgs"]][1:] == [PRICE_Q, PRICE_A, PRICE_Q, PRICE_A]
    items = list(desk.chat.start_with_message_stream("it", "", PRICE_Q))
    assert streamed == [PRICE_Q] and PRICE_A in items
    chunks: list[str] = []
    actions.send(new_view("it"), PRICE_Q, "ua", on_chunk=chunks.append)
    assert streamed == [PRICE_Q, PRICE_Q] and chunks == [PRICE_A]
