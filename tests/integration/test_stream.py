"""The visitor stream (GET /api/chat/sessions/{id}/stream, Server-Sent Events): push, auth, resume, limits."""

from __future__ import annotations

import json
import time

import pytest

from testkit.inprocess import InProcessServer
from testkit.sse import Stream
from testkit.support import Operator, Visitor, add_operator

HARD = "Posso prenotare una visita privata notturna con il direttore per il mio matrimonio?"


@pytest.fixture
def live_server(data_dir):
    add_operator(data_dir, "mario", "Mario Rossi", "password123", "--admin")
    env = {"QUEUE_TIMEOUT_S": "120", "STREAM_MAX_PER_CLIENT": "4", "STREAM_MAX_PER_SESSION": "2"}
    with InProcessServer(data_dir, env=env) as srv:
        yield srv


def live_chat(server) -> tuple[Visitor, Operator]:
    op = Operator(server.url, "mario")
    op.online()
    v = Visitor(server.url)
    v.say(HARD)
    v.accept(True)
    op.take(v.session_id)
    return v, op


def test_operator_message_is_pushed_and_resume_gets_exactly_what_was_missed(live_server):
    v, op = live_chat(live_server)
    s = Stream(live_server.url, v.session_id, v.token)
    assert s.status == 200
    first = s.messages(0.5)
    state = s.state
    assert state["status"] == "live" and state["operator_name"]
    last = state["last_seq"]
    assert [m["seq"] for m in first] == list(range(1, last + 1))  # everything from after=0, in order
    t0 = time.monotonic()
    op.send(v.session_id, "<b>Salve</b>")
    seq, msg = s.next("message")
    assert time.monotonic() - t0 < 1.0
    assert msg["text"] == "<b>Salve</b>" and msg["role"] == "operator" and seq == msg["seq"] == last + 1
    s.close()
    # The connection drops; meanwhile two more messages; a reconnect with the last id gets exactly those.
    op.send(v.session_id, "uno")
    op.send(v.session_id, "due")
    again = Stream(live_server.url, v.session_id, v.token, **{"Last-Event-ID": str(seq)})
    got = again.messages(0.5)
    assert [m["text"] for m in got] == ["uno", "due"]
    assert [m["seq"] for m in got] == [seq + 1, seq + 2]
    # Typing and release are pushed as state changes.
    op.post("typing", {"session_id": v.session_id})
    again.next("state", where=lambda d: d["operator_typing"] is True)
    op.release(v.session_id)
    again.next("state", where=lambda d: d["status"] == "closed")
    again.close()
    op.close()


def test_the_queue_moving_pushes_each_new_place_from_one_read_of_the_queue(live_server):
    """A chat leaving the queue moves everyone behind: each waiting stream gets its new place (and wait), read
    for all of them in one query of the queue, asked for once (ChatView.read_places, faces/stream.py `places`), not
    one full read of its chat each."""
    op = Operator(live_server.url, "mario")
    op.online()
    visitors = []
    for _ in range(3):
        v = Visitor(live_server.url)
        v.say(HARD)
        v.accept(True)
        visitors.append(v)
    streams = [Stream(live_server.url, v.session_id, v.token) for v in visitors[1:]]
    for s, place in zip(streams, (2, 3), strict=True):
        s.messages(0.3)
        assert s.state["status"] == "waiting" and s.state["queue_position"] == place
    view = live_server.runtime.chat.view
    from sportello.services import chat_view

    polls, reads, asked = [], [], []
    original_poll, original_ids, original_places = view.visitor_poll, chat_view.cq.queue_ids, view.read_places
    view.visitor_poll = lambda *a, **k: polls.append(a[0]) or original_poll(*a, **k)
    chat_view.cq.queue_ids = lambda *a, **k: reads.append(1) or original_ids(*a, **k)
    view.read_places = lambda *a, **k: asked.append(a) or original_places(*a, **k)
    try:
        op.take(visitors[0].session_id)
        for s, place in zip(streams, (1, 2), strict=True):
            _, state = s.next("state", where=lambda d, p=place: d["queue_position"] == p)
            assert state["status"] == "waiting" and state["estimated_wait_s"] is not None
    finally:
        view.visitor_poll, chat_view.cq.queue_ids, view.read_places = original_poll, original_ids, original_places
    assert len(reads) == 1 and polls == [], (reads, polls)  # one read of the queue for both, no full read
    # ... asked for once: the second stream waited for the first one's read on the event loop, not in a thread
    assert len(asked) == 1, asked
    for s in streams:
        s.close()
    op.close()


def test_unknown_or_foreign_session_is_404_and_says_nothing(live_server):
    a, b = Visitor(live_server.url), Visitor(live_server.url)
    for sid, token, via in (
        ("nope", a.token, "header"),
        (a.session_id, b.token, "header"),
        (a.session_id, None, "header"),
        (a.session_id, b.token, "query"),
    ):
        s = Stream(live_server.url, sid, token, via=via)
        assert s.status == 404
        assert json.loads(s.body) == {"error": {"code": "not_found", "message": "Not found"}}
    ok = Stream(live_server.url, a.session_id, a.token, via="query")  # EventSource: the token as a parameter
    assert ok.status == 200
    ok.next("state")
    ok.close()


def test_limits_per_client_and_per_session(live_server):
    v = Visitor(live_server.url)
    first = Stream(live_server.url, v.session_id, v.token)
    second = Stream(live_server.url, v.session_id, v.token)
    third = Stream(live_server.url, v.session_id, v.token)  # STREAM_MAX_PER_SESSION=2: the oldest is closed
    assert first.done.wait(5) and not second.done.is_set()
    others = [Visitor(live_server.url) for _ in range(3)]
    fourth, fifth, sixth = (Stream(live_server.url, o.session_id, o.token) for o in others)
    # STREAM_MAX_PER_CLIENT=4: second, third, fourth and fifth are open, the sixth is refused
    assert fourth.status == fifth.status == 200 and sixth.status == 429
    assert json.loads(sixth.body)["error"]["code"] == "too_many_streams"
    for s in (second, third, fourth, fifth):
        s.close()


def test_idle_stream_is_closed_and_shutdown_ends_streams(data_dir):
    with InProcessServer(data_dir, env={"STREAM_IDLE_S": "0.5", "STREAM_KEEPALIVE_S": "0.2"}) as srv:
        v = Visitor(srv.url)
        s = Stream(srv.url, v.session_id, v.token)
        s.next("state")
        assert s.done.wait(3)  # closed after STREAM_IDLE_S without news
        busy = Stream(srv.url, v.session_id, v.token)
        t0 = time.monotonic()
    assert busy.done.wait(5)
    assert time.monotonic() - t0 < 2.5  # the shutdown did not wait for the stream (graceful timeout: 3 s)
