"""The Ticket page's "Reply by email" panel, driven with AppTest against a real store."""

from __future__ import annotations

import pytest
import streamlit as st
from sqlalchemy import update

from sportello.config import Settings
from sportello.runtime import Runtime
from sportello.store.tables import ticket_replies
from testkit.dashboard import FakeAnswerer, seed
from tests.integration.test_dashboard_pages import sign_in, submit


@pytest.fixture
def rt(data_dir, monkeypatch):
    monkeypatch.setenv("DATA_DIR", str(data_dir))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("SMTP_URL", "smtp://127.0.0.1:1")  # nothing sends here: the panel only queues
    runtime = Runtime(Settings.from_env(), answerer=FakeAnswerer())
    yield runtime
    st.cache_resource.clear()
    runtime.store.dispose()


def test_reply_by_email_from_the_ticket_page_shows_state_error_and_the_visitor_badge(rt):
    seed(rt)
    at = sign_in("mario")
    at.switch_page("pages/tickets.py").run()
    at.text_input(key="tk_q").input("anna@").run()
    ticket_id = at.session_state["tk_pick"]
    at.text_area(key=f"tk_reply_text_{ticket_id}").input("Sì, <b>c'è</b> il parcheggio.\nBcc: x@evil.example")
    submit(at, f"tk_reply_{ticket_id}")
    assert not at.exception
    [reply] = rt.ticket_replies.list(ticket_id)
    assert reply["state"] == "queued" and reply["operator_name"] == "Mario Rossi"
    assert "Sì, <b>c'è</b> il parcheggio.\nBcc: x@evil.example" in [t.value for t in at.text]  # text, not HTML

    with rt.store.write() as conn:
        conn.execute(update(ticket_replies).values(state="failed", error="550 5.1.1 mailbox unavailable"))
    at.run()
    assert any("mailbox unavailable" in e.value for e in at.error), [e.value for e in at.error]
    assert any("NON inviata" in c.value for c in at.caption)


def test_the_chats_canned_replies_answer_a_ticket_by_email(rt):
    from sportello.faces.dashboard.texts import CANNED

    seed(rt)
    at = sign_in("mario")
    at.switch_page("pages/tickets.py").run()
    at.text_input(key="tk_q").input("anna@").run()
    ticket_id = at.session_state["tk_pick"]
    lang = rt.tickets.get(ticket_id)["language"]
    choice = CANNED[lang][1]
    at.selectbox(key=f"tk_canned_{ticket_id}").select(choice).run()
    at.button(key=f"tk_send_canned_{ticket_id}").click().run()
    assert not at.exception
    assert [r["text"] for r in rt.ticket_replies.list(ticket_id)] == [choice]
