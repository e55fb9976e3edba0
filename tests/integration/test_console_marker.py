"""The console's cheap check (issue 21), on SQLite and PostgreSQL: `ChatView.console_marker` gives the
queue (the same as `pending_sessions`) and the last seq of each of an operator's live chats, changing
exactly when the Live page has something new to show."""

from __future__ import annotations

import pytest

from sportello.domain import State
from sportello.services.chat import ChatService
from testkit.dashboard import Clock, FakeAnswerer, make_operators, online

pytestmark = pytest.mark.both_databases


def test_the_marker_follows_the_queue_and_my_chats(runtime):
    clock = Clock(1_000_000.0)
    svc = ChatService(runtime.store, FakeAnswerer(), runtime.settings, clock=clock)
    ops = make_operators(runtime.operators)
    mario, lucia = ops["mario"], ops["lucia"]
    online(runtime.operators, mario, clock.now)
    online(runtime.operators, lucia, clock.now)
    view = svc.view
    assert view.console_marker(mario) == {"queue": [], "chats": {}, "langs": {}, "others": []}

    def queued(question: str) -> dict:
        v = svc.start_session("it", "pytest")
        svc.visitor_message(v["session_id"], v["token"], question)
        assert svc.answer_offer(v["session_id"], v["token"], True)["status"] == State.WAITING
        clock.advance(1)
        return v

    a, b = queued("Domanda uno"), queued("Domanda due")
    marker = view.console_marker(mario)
    assert marker["queue"] == [a["session_id"], b["session_id"]]
    assert marker["queue"] == [s["session_id"] for s in view.pending_sessions()]
    assert view.console_marker(None) == {"queue": marker["queue"], "chats": {}, "langs": {}, "others": []}

    svc.take_chat(mario, a["session_id"])
    svc.take_chat(lucia, b["session_id"])
    marker = view.console_marker(mario)
    assert marker["queue"] == []
    seq = marker["chats"][a["session_id"]]
    assert list(marker["chats"]) == [a["session_id"]]  # lucia's chat is not mario's news...
    assert marker["others"] == [b["session_id"]]  # ...but it is in his colleagues' list
    assert marker["langs"] == {a["session_id"]: "it"}
    assert [(c["session_id"], c["operator_name"]) for c in view.colleague_chats(mario)] == [
        (b["session_id"], "Lucia Bianchi")
    ]
    assert view.console_marker(mario) == marker  # nothing new: the same marker

    svc.set_language(a["session_id"], a["token"], "en")  # the visitor switched: the panel redraws
    assert view.console_marker(mario)["langs"] == {a["session_id"]: "en"}
    svc.visitor_message(a["session_id"], a["token"], "Eccomi")
    assert view.console_marker(mario)["chats"][a["session_id"]] == seq + 1
    svc.visitor_message(b["session_id"], b["token"], "Per lucia")
    assert view.console_marker(mario)["chats"][a["session_id"]] == seq + 1

    # A chat that waited QUEUE_TIMEOUT_S is out of the queue, for the marker as for the list.
    c = queued("Domanda tre")
    assert view.console_marker(mario)["queue"] == [c["session_id"]]
    clock.advance(runtime.settings.queue_timeout_s + 1)
    assert view.console_marker(mario)["queue"] == [] == view.pending_sessions()

    svc.release_chat(mario, a["session_id"], "fatto")
    assert view.console_marker(mario)["chats"] == {}
    svc.release_chat(lucia, b["session_id"], "fatto")
    assert view.console_marker(mario)["others"] == [] == view.colleague_chats(mario)
