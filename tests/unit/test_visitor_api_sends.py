"""The visitor page sends its messages through the visitor API (page.py LIVE_JS): the tab's view then adopts the
chat the script started (and only with its token), its looks read what the API wrote in any state, and the bench's
tabs follow the page's rules (which messages go through the API, which state changes need no look)."""

from __future__ import annotations

from sportello.faces.visitor.actions import VisitorActions
from sportello.faces.visitor.client import draws
from sportello.faces.visitor.page import _adopted
from sportello.faces.visitor.view import new_view, session_of
from testkit.fakes import PRICE_A, PRICE_Q


def test_a_chat_started_through_the_api_is_adopted_then_read_by_the_next_look(desk):
    actions = VisitorActions(desk.chat)
    start = desk.chat.start_session("en", "pytest")
    sid, token = start["session_id"], start["token"]
    view = new_view("it")
    assert actions.adopt(view, sid, "wrong-token") is None  # someone else's chat: nothing
    adopted = actions.adopt(view, sid, token)
    assert session_of(adopted) == {"sid": sid, "token": token}  # kept in the browser from now on
    assert adopted["lang"] == "en"
    assert [m["seq"] for m in adopted["msgs"]] == [1]  # read whole: the server's greeting replaced the page's own
    assert actions.adopt(adopted, sid, token) is None  # a view with a chat adopts no other

    desk.chat.visitor_message(sid, token, PRICE_Q)  # the page's script, through the API
    looked = actions.poll(adopted)  # in the assistant's hands too (not only waiting or live)
    assert [m["text"] for m in looked["msgs"]][-2:] == [PRICE_Q, PRICE_A]
    assert all(m["seq"] > 0 for m in looked["msgs"])  # the server's greeting replaced the page's own


def test_the_look_adopts_only_what_the_script_asked():
    assert _adopted('{"sid": "s", "token": "t", "adopt": true}') == ("s", "t")
    assert _adopted('{"sid": "s", "token": "t", "on": true}') is None
    assert _adopted('{"sid": 1, "token": "t", "adopt": true}') is None
    assert _adopted("not json") is None
    assert _adopted("") is None and _adopted(None) is None


def test_the_script_draws_every_phase_but_a_new_language_and_a_contact_form_of_unknown_hours():
    waiting = ["waiting", 3, 120, None, None, "it"]
    assert draws(waiting, ["waiting", 2, 60, None, None, "it"])  # a new place in the queue
    assert draws(waiting, ["live", None, None, "Mario", None, "it"])  # an operator joins
    assert draws(["live", None, None, "Mario", None, "it"], ["live", None, None, "Anna", None, "it"])  # transfer
    assert draws(["live", None, None, "Mario", None, "it"], ["closed", None, None, "Mario", 7, "it"])  # release
    assert not draws(waiting, ["waiting", 2, 60, None, None, "en"])  # the language: a look (the labels)
    assert not draws(None, waiting)
    assert not draws(waiting, ["collecting_contact", None, None, None, None, "it"])  # the hours: the look knows
    assert draws(waiting, ["collecting_contact", None, None, None, None, "it"], {"open": True, "back": None})
    assert not draws(waiting, ["bot", None, None, None, None, "it"])  # back to the assistant: a look
