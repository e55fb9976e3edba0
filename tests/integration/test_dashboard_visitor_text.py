"""No visitor text is ever read as Markdown or HTML on a dashboard page: the payloads below, put in
a visitor's question, messages, contact, rating comment, a note and a ticket, must never reach a
Markdown element (markdown, caption, alerts, expander and tab labels, buttons) as written."""

from __future__ import annotations

import pytest

from sportello.faces.dashboard import ui
from testkit.dashboard import make_operators
from tests.integration.test_dashboard_pages import rt, sign_in  # noqa: F401  (the fixture)

PAYLOADS = [
    "![x](http://127.0.0.1:9/x.png)",
    "[text](http://evil.example)",
    "<img src=x onerror=alert(1)>",
    "**bold**",
    "http://127.0.0.1:9/bare www.evil.example anna@evil.example",  # GFM autolinks bare addresses
]
EVIL = " ".join(PAYLOADS)


def markdown_values(at) -> list[str]:
    """Every string Streamlit renders as Markdown on the page as it stands."""
    values = []
    for kind in ("markdown", "caption", "info", "success", "warning", "error", "title", "subheader", "header"):
        values += [str(e.value) for e in getattr(at, kind)]
    values += [str(e.label) for e in at.expander]
    values += [str(e.label) for e in at.tabs]
    values += [str(getattr(e, "label", "")) for e in at.button]
    return values


def assert_escaped(at) -> None:
    assert not at.exception, at.exception
    shown = markdown_values(at)
    for payload in PAYLOADS:
        assert not [v for v in shown if payload in v], (payload, [v for v in shown if payload in v])


def seed_evil(rt, ids) -> None:  # noqa: F811
    """A live chat taken by mario, a waiting visitor, an unanswered question and a ticket, all hostile."""
    rt.operators.set_status(ids["mario"], "online")  # someone is available: the visitors queue
    live = rt.chat.start_session("it", "pytest")
    rt.chat.visitor_message(live["session_id"], live["token"], EVIL)
    assert rt.chat.answer_offer(live["session_id"], live["token"], True)["status"] == "waiting"
    waiting = rt.chat.start_session("it", "pytest")
    rt.chat.visitor_message(waiting["session_id"], waiting["token"], "Domanda " + EVIL)
    rt.chat.answer_offer(waiting["session_id"], waiting["token"], True)
    rt.chat.take_chat(ids["mario"], live["session_id"])
    rt.chat.visitor_message(live["session_id"], live["token"], "Messaggio " + EVIL)
    rt.notes.add(ids["mario"], "Nota " + EVIL, session_id=live["session_id"])
    # A ticket: the chat released, with a note; another chat rated with a hostile comment.
    gone = rt.chat.start_session("it", "pytest")
    rt.chat.visitor_message(gone["session_id"], gone["token"], "Ticket " + EVIL)
    rt.chat.answer_offer(gone["session_id"], gone["token"], True)
    rt.chat.take_chat(ids["mario"], gone["session_id"])
    rt.chat.visitor_message(gone["session_id"], gone["token"], "Contatto: mario@example.org " + EVIL)
    out = rt.chat.release_chat(ids["mario"], gone["session_id"], "Risolto " + EVIL)
    rt.tickets.update(out["ticket"]["id"], append_note="Nota ticket " + EVIL, author="Mario")
    rt.notes.add(ids["mario"], "Nota chat " + EVIL, ticket_id=out["ticket"]["id"])
    try:
        rt.feedback.rate(gone["session_id"], gone["token"], 1, "Commento " + EVIL)
    except Exception:  # noqa: BLE001  (a rating is one more place, not the point of the test)
        pass


@pytest.mark.parametrize(
    "page",
    [None, "pages/tickets.py", "pages/conversations.py", "pages/analytics.py", "pages/operators.py"],
)
def test_visitor_text_never_renders_as_markdown(rt, page):  # noqa: F811
    ids = make_operators(rt.operators)
    seed_evil(rt, ids)
    rt.operators.add("evil", "Eva " + EVIL, "password123")  # a name shown in pickers and messages
    at = sign_in("mario")
    if page:
        at.switch_page(page).run()
    assert_escaped(at)
    if page == "pages/analytics.py":  # the unanswered questions are labelled in expanders
        assert [e for e in at.expander if "Domanda" in str(e.label) or "Ticket" in str(e.label)]


def test_plain_shows_text_as_written():
    for payload in PAYLOADS:
        escaped = ui.plain(payload)
        assert payload not in escaped
        assert escaped.replace("\\", "").replace("\u2060", "") == payload
    bare = ui.plain(PAYLOADS[-1])
    # What GFM's autolink literal needs is broken: no scheme right before "://", no "www.", no "x@y".
    for autolink in ("http\\:", "www\\.", "e\\@"):
        assert autolink not in bare
