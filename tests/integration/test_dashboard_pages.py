"""Every dashboard page driven with streamlit.testing.v1.AppTest against a
real store (its own DATA_DIR): login, take/send/release, tickets, log,
analytics and operator administration."""

from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from sportello.answering.bot import Answer
from sportello.config import Settings
from sportello.faces.dashboard.texts import CANNED
from sportello.runtime import Runtime
from sportello.store.tables import sessions
from testkit.dashboard import (
    D1,
    D3,
    DOG,
    PASSWORD,
    FakeAnswerer,
    make_operators,
    online,
    operator_id,
    seed,
    ticket_rows,
)

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = str(ROOT / "dashboard.py")


@pytest.fixture
def rt(data_dir, monkeypatch):
    """The store the dashboard under test uses (DATA_DIR set for its Settings.from_env())."""
    monkeypatch.setenv("DATA_DIR", str(data_dir))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    runtime = Runtime(Settings.from_env(), answerer=FakeAnswerer())
    yield runtime
    st.cache_resource.clear()
    runtime.store.dispose()


def texts(at) -> list[str]:
    return [e.value for e in at.text]


def submit(at, form: str):
    button = next(b for b in at.button if b.key.startswith(f"FormSubmitter:{form}-"))
    return button.click().run()


def sign_in(username: str, password: str = PASSWORD) -> AppTest:
    at = AppTest.from_file(DASHBOARD, default_timeout=30).run()
    at.text_input(key="login_username").input(username)
    at.text_input(key="login_password").input(password)
    submit(at, "login")
    assert not at.exception, at.exception
    return at


def waiting_visitor(rt, question: str = DOG) -> dict:
    v = rt.chat.start_session("it", "pytest")
    rt.chat.visitor_message(v["session_id"], v["token"], question)
    assert rt.chat.answer_offer(v["session_id"], v["token"], True)["status"] == "waiting"
    return v


def session_row(rt, session_id: str):
    with rt.store.read() as conn:
        return conn.execute(select(sessions).where(sessions.c.id == session_id)).one()


def test_nothing_is_reachable_without_signing_in(rt):
    make_operators(rt.operators)
    at = AppTest.from_file(DASHBOARD, default_timeout=30).run()
    assert not at.exception
    assert at.text_input(key="login_username") and at.text_input(key="login_password")
    assert not [b for b in at.button if b.key and b.key.startswith("take_")]
    for page in ("pages/live_chat.py", "pages/tickets.py", "pages/analytics.py", "pages/operators.py"):
        with pytest.raises(ValueError):
            at.switch_page(page)  # not registered while signed out
        # Run directly (as Streamlit's pages-directory mode would), a page stops at its own check.
        direct = AppTest.from_file(str(ROOT / page), default_timeout=30).run()
        assert not direct.exception
        assert [w.value for w in direct.warning] == ["Accesso richiesto."]
        assert not direct.title and not direct.dataframe

    at.text_input(key="login_username").input("mario")
    at.text_input(key="login_password").input("wrong-password")
    submit(at, "login")
    assert [e.value for e in at.error] == ["Nome utente o password errati."]
    assert "op_token" not in at.session_state


def test_sign_in_sets_presence_and_heartbeat_and_sign_out(rt):
    ids = make_operators(rt.operators)
    at = sign_in("mario")
    assert at.title[0].value == "Live: coda e chat"
    mario = next(o for o in rt.operators.list_operators() if o["id"] == ids["mario"])
    assert mario["status"] == "online" and mario["last_heartbeat"] is not None
    assert rt.chat.view.operator_status()["available"] is True

    at.button_group(key="presence").set_value("away").run()
    assert rt.chat.view.operator_status()["available"] is False
    at.button_group(key="presence").set_value("online").run()
    assert rt.chat.view.operator_status()["available"] is True

    at.button_group(key="ui_lang").set_value("en").run()
    assert at.title[0].value == "Live: queue and chats"
    assert "Waiting: 0" in texts(at.sidebar)

    at.button(key="logout").click().run()
    assert at.text_input(key="login_username")
    assert rt.chat.view.operator_status()["online"] == 0


class UrgentAnswerer(FakeAnswerer):
    """The dashboard's fake answerer, with one emergency."""

    def answer(self, question: str, lang: str | None = None) -> Answer:
        if "fumo" in question:
            return Answer(True, "Chiami il 112.", "emergency", None, 1.0, lang or "it", urgent=True)
        return super().answer(question, lang)


def test_an_urgent_chat_is_first_in_the_queue_and_marked(rt):
    ids = make_operators(rt.operators)
    at = sign_in("mario")
    older = waiting_visitor(rt)
    rt.chat.answerer = UrgentAnswerer()
    v = rt.chat.start_session("it", "pytest")
    fire = "C'è fumo in sala 2 **subito**"
    assert rt.chat.visitor_message(v["session_id"], v["token"], fire)["status"] == "waiting"
    at.run()
    assert not at.exception
    shown = texts(at)
    assert shown.index(fire) < shown.index(DOG)  # first, and as plain text (never Markdown)
    badges = [m.value for m in at.markdown if "URGENTE" in m.value]
    assert len(badges) == 1 and "red-badge" in badges[0]
    assert [c.value for c in at.caption if "Emergenza" in c.value]
    takes = [b.key for b in at.button if b.key and b.key.startswith("take_")]
    assert takes == [f"take_{v['session_id']}", f"take_{older['session_id']}"]
    at.button(key=f"take_{v['session_id']}").click().run()
    online(rt.operators, ids["mario"], rt.chat.clock())
    at.button(key=f"take_{older['session_id']}").click().run()
    assert not at.exception
    assert [c["urgent"] for c in rt.chat.view.operator_chats(ids["mario"])] == [True, False]
    assert [b.label for b in at.button if b.key and b.key.startswith("open_")] == ["🚨 URGENTE · Chat 1", "Chat 2"]
    at.button(key=f"open_{v['session_id']}").click().run()  # the urgent chat open: marked in the thread too
    assert [m.value for m in at.markdown if "URGENTE" in m.value]
    at.button_group(key="ui_lang").set_value("en").run()
    assert [m.value for m in at.markdown if "URGENT" in m.value]
    assert at.button(key=f"open_{v['session_id']}").label == "🚨 URGENT · Chat 1"


def test_take_send_release_move_the_real_store(rt):
    ids = make_operators(rt.operators)
    at = sign_in("mario")
    mine = waiting_visitor(rt)
    theirs = waiting_visitor(rt, "Domanda per Lucia")
    at.run()
    assert DOG in texts(at) and "Domanda per Lucia" in texts(at)
    assert "In coda: 2" in texts(at.sidebar)

    # A colleague is faster: a clear message, not an error trace.
    online(rt.operators, ids["lucia"], rt.chat.clock())  # only a present operator takes a chat
    rt.chat.take_chat(ids["lucia"], theirs["session_id"])
    at.button(key=f"take_{theirs['session_id']}").click().run()
    assert not at.exception
    assert [w.value for w in at.warning] == ["Questa chat non è più in attesa: l'ha già presa un collega."]
    assert [c.value for c in at.caption if c.value.startswith("Lucia Bianchi · IT · ")]  # the colleagues' chats

    sid = mine["session_id"]
    at.button(key=f"take_{sid}").click().run()
    assert [s.value for s in at.success] == ["Chat presa."]
    row = session_row(rt, sid)
    assert row.status == "live" and row.operator_id == ids["mario"]
    assert "Ora l'assiste Mario." in texts(at)

    at.chat_input(key=f"reply_text_{sid}").set_value("Buongiorno, sono Mario.").run()  # Enter
    assert not at.exception
    seen = rt.chat.view.visitor_poll(sid, mine["token"])["messages"]
    assert [(m["role"], m["author"], m["text"]) for m in seen[-1:]] == [
        ("operator", "Mario", "Buongiorno, sono Mario.")
    ]

    # A visitor message shows up on the next refresh, as plain text (never Markdown/HTML).
    raw = "<b>grassetto</b> **ciao** ![x](http://example.org/t.png) <script>alert(1)</script>"
    rt.chat.visitor_message(sid, mine["token"], raw)
    at.run()
    assert raw in texts(at)
    assert not any("grassetto" in m.value for m in at.markdown)

    at.selectbox(key=f"canned_{sid}").select(CANNED["it"][1])
    at.button(key=f"send_canned_{sid}").click().run()
    assert rt.chat.view.visitor_poll(sid, mine["token"])["messages"][-1]["text"] == CANNED["it"][1]

    at.selectbox(key=f"reason_{sid}").select("Problema risolto")
    at.text_input(key=f"reason_note_{sid}").input("orari del sabato")
    at.button(key=f"release_{sid}").click().run()
    assert not at.exception
    row = session_row(rt, sid)
    assert row.status == "closed"
    ticket = rt.tickets.get(row.ticket_id)
    assert ticket["status"] == "resolved" and ticket["resolution_reason"] == "Problema risolto: orari del sabato"
    assert ticket["operator_name"] == "Mario" and "Buongiorno, sono Mario." in ticket["conversation_transcript"]
    assert [s.value for s in at.success] == [f"Chat chiusa: ticket #{row.ticket_id} risolto."]
    assert "Nessuna chat aperta. Prendi un visitatore dalla coda." in [i.value for i in at.info]


def test_console_holds_several_chats_up_to_the_maximum(rt):
    make_operators(rt.operators)
    mario = operator_id(rt.operators, "mario")
    rt.operators.update(mario, max_chats=2)
    at = sign_in("mario")
    visitors = [waiting_visitor(rt, f"Domanda {i}") for i in range(3)]
    at.run()
    for v in visitors[:2]:
        at.button(key=f"take_{v['session_id']}").click().run()
    first, second = (v["session_id"] for v in visitors[:2])
    # The list has both; the one just taken is open in the thread pane, with its reply box.
    assert [b.label for b in at.button if b.key and b.key.startswith("open_")] == ["Chat 1", "Chat 2"]
    assert at.chat_input(key=f"reply_text_{second}")
    assert at.button(key=f"take_{visitors[2]['session_id']}").disabled
    assert "Hai raggiunto il massimo di chat contemporanee (2)." in [w.value for w in at.warning]
    rt.chat.visitor_message(second, visitors[1]["token"], "Nuovo messaggio nella seconda chat")
    at.run()
    assert "Nuovo messaggio nella seconda chat" in texts(at)
    rt.chat.visitor_message(first, visitors[0]["token"], "Ci sono anche io")
    at.run()
    assert at.button(key=f"open_{first}").label == "Chat 1 · nuovo messaggio"  # not open: marked
    at.button(key=f"open_{first}").click().run()
    assert at.chat_input(key=f"reply_text_{first}") and "Ci sono anche io" in texts(at)
    assert at.button(key=f"open_{first}").label == "Chat 1"


def test_ticket_page_filters_status_notes_and_assignment(rt):
    seeded = seed(rt)
    at = sign_in("mario")
    at.switch_page("pages/tickets.py").run()
    assert not at.exception
    # default: open, pending and resolved (a chat just released is a resolved ticket), not closed
    assert at.multiselect(key="tk_status").value == ["open", "pending", "resolved"]
    assert at.multiselect(key="tk_status").placeholder == "Scegli uno o più…"
    assert len(ticket_rows(at)) == 3
    shown = texts(at)
    assert [c for c in shown if c.startswith("Chat dal vivo")] and [c for c in shown if c.startswith("Email")]
    assert not [c for c in shown if "live_chat" in c]  # never the raw channel
    at.multiselect(key="tk_status").set_value(["resolved"]).run()
    assert len(ticket_rows(at)) == 2
    at.multiselect(key="tk_status").set_value([]).run()
    assert len(ticket_rows(at)) == 3
    at.text_input(key="tk_q").input("anna@").run()
    (ticket_id,) = ticket_rows(at)
    assert any(c.startswith("Email · anna@example.org · ") for c in texts(at))

    assert at.session_state["tk_pick"] == ticket_id  # the first of the list is open
    shown = "\n".join(texts(at))
    assert "Domanda originale: Do you have coach parking?" in shown and "Contatto: anna@example.org" in shown
    at.selectbox(key=f"tk_edit_status_{ticket_id}").select("pending")
    lucia = seeded["operators"]["lucia"]
    at.selectbox(key=f"tk_edit_assignee_{ticket_id}").select(lucia)
    at.text_area(key=f"tk_edit_note_{ticket_id}").input("Richiamare lunedì")
    submit(at, f"tk_edit_{ticket_id}")
    assert not at.exception and [s.value for s in at.success] == ["Salvato."]
    t = rt.tickets.get(ticket_id)
    assert t["status"] == "pending" and t["assigned_to"] == lucia
    assert t["notes"].endswith("Mario Rossi: Richiamare lunedì")
    assert t["notes"] in texts(at)

    at.text_input(key="tk_q").input("").run()
    at.multiselect(key="tk_status").set_value(["open"]).run()
    assert not ticket_rows(at) and [i.value for i in at.info] == ["Nessun ticket con questi filtri."]
    at.multiselect(key="tk_status").set_value([]).run()
    assert any(c.endswith("· Lucia Bianchi") for c in texts(at))
    at.selectbox(key="tk_assignee").select("me").run()
    assert not ticket_rows(at)  # nothing is assigned to mario
    at.selectbox(key="tk_assignee").select(lucia).run()
    assert ticket_rows(at) == [ticket_id]
    at.selectbox(key="tk_assignee").select(0).run()  # nobody
    assert len(ticket_rows(at)) == 2 and ticket_id not in ticket_rows(at)
    # Clicking a row opens it.
    other = ticket_rows(at)[1]
    at.button(key=f"tk_row_{other}").click().run()
    assert at.session_state["tk_pick"] == other and at.subheader[0].value == f"Ticket #{other}"


def test_conversations_page_filters_and_sync_state(rt):
    seeded = seed(rt)
    at = sign_in("mario")
    at.switch_page("pages/conversations.py").run()
    assert not at.exception
    assert at.warning[0].value.startswith("Stato del foglio sconosciuto")
    at.date_input(key="log_days").set_value((D1, D3)).run()
    assert len(at.dataframe[0].value) == 20
    at.text_input(key="log_session").input(seeded[4][:10]).run()
    table = at.dataframe[0].value
    assert len(table) == 5 and set(table["session_id"]) == {seeded[4]}
    at.text_input(key="log_session").input("").run()
    at.multiselect(key="log_intents").set_value(["no_answer"]).run()
    table = at.dataframe[0].value
    assert len(table) == 4 and set(table["intent_detected"]) == {"no_answer"}
    assert set(table["sync"]) == {"pending"}
    assert set(table["intent_shown"]) == {"l'AI non sa rispondere"} and set(table["sync_shown"]) == {"da inviare"}
    assert at.multiselect(key="log_intents").format_func("no_answer") == "l'AI non sa rispondere"

    rt.worker.drain()
    rt.worker.save_status()
    at.run()
    assert [s.value for s in at.success] == ["Foglio aggiornato (destinazione: csv)."]
    assert set(at.dataframe[0].value["sync"]) == {"sent"}


def test_analytics_page_numbers(rt):
    seed(rt)
    at = sign_in("mario")
    at.switch_page("pages/analytics.py").run()
    assert not at.exception
    at.date_input(key="an_days").set_value((D1, D3)).run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Conversazioni"] == "7"
    assert metrics["Risolte dall'AI"] == "42.9%"
    assert metrics["Passate a un operatore"] == "2 (28.6%)"
    assert metrics["Diventate ticket"] == "1 (14.3%)"
    assert metrics["Senza esito"] == "1 (14.3%)"
    unanswered = at.dataframe[0].value
    assert list(unanswered["Volte"]) == [3, 1]
    assert list(unanswered["Domanda"]) == ["POSSO PORTARE IL CANE??", "Do you have coach parking?"]


def test_operators_page_is_for_admins(rt):
    ids = make_operators(rt.operators)
    lucia = sign_in("lucia")
    with pytest.raises(ValueError):
        lucia.switch_page("pages/operators.py")  # not in her navigation
    direct = AppTest.from_file(str(ROOT / "pages/operators.py"), default_timeout=30)
    direct.session_state["op_token"] = lucia.session_state["op_token"]
    direct.run()
    assert [e.value for e in direct.error] == ["Solo gli amministratori gestiscono gli operatori."]

    at = sign_in("mario")
    at.switch_page("pages/operators.py").run()
    assert not at.exception and len(at.dataframe[0].value) == 2
    at.text_input(key="op_add_username").input("paolo")
    at.text_input(key="op_add_name").input("Paolo Verdi")
    at.text_input(key="op_add_password").input("password456")
    at.number_input(key="op_add_max").set_value(2)
    submit(at, "op_add")
    assert [s.value for s in at.success] == ["Operatore «paolo» creato."]
    paolo = operator_id(rt.operators, "paolo")
    assert rt.operators.login("paolo", "password456")[1]["max_chats"] == 2

    at.selectbox(key="op_pick").select(paolo).run()
    at.checkbox(key=f"op_edit_active_{paolo}").uncheck()
    at.number_input(key=f"op_edit_max_{paolo}").set_value(4)
    submit(at, f"op_edit_{paolo}")
    p = next(o for o in rt.operators.list_operators() if o["id"] == paolo)
    assert p["active"] is False and p["max_chats"] == 4

    at.selectbox(key="op_pick").select(ids["mario"]).run()
    at.checkbox(key=f"op_edit_active_{ids['mario']}").uncheck()
    submit(at, f"op_edit_{ids['mario']}")
    assert [e.value for e in at.error] == [
        "Non puoi disattivare te stesso né togliere i tuoi permessi di amministratore."
    ]
    assert rt.operators.authenticate(at.session_state["op_token"])["active"] is True
