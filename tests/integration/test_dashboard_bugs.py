"""Issue 22's bug list, on the dashboard pages (Streamlit AppTest against a real store): the ticket form
reflects the saved ticket and a note never writes a status; the Operatori list shows who is really there;
the small texts (out of hours, the login help)."""

from __future__ import annotations

import streamlit as st
from streamlit.testing.v1 import AppTest

from testkit.dashboard import make_operators, seed, ticket_rows
from tests.integration.test_dashboard_pages import DASHBOARD, rt, sign_in, submit, texts  # noqa: F401


def test_ticket_form_follows_the_saved_ticket_and_a_note_keeps_the_status(rt):  # noqa: F811
    seed(rt)
    at = sign_in("mario")
    at.switch_page("pages/tickets.py").run()
    at.text_input(key="tk_q").input("anna@").run()
    (ticket_id,) = ticket_rows(at)
    assignee = at.selectbox(key=f"tk_edit_assignee_{ticket_id}")
    # Nobody assigned: the choice says so in the UI language (never Streamlit's "Choose an option").
    assert assignee.value is not None and assignee.format_func(assignee.value) == "— nessuno —"
    assert assignee.placeholder == "Scegli…"

    at.selectbox(key=f"tk_edit_status_{ticket_id}").select("resolved")
    submit(at, f"tk_edit_{ticket_id}")
    assert not at.exception and rt.tickets.get(ticket_id)["status"] == "resolved"
    # The form shows the saved ticket...
    assert at.selectbox(key=f"tk_edit_status_{ticket_id}").value == "resolved"
    assert at.text_area(key=f"tk_edit_note_{ticket_id}").value == ""
    # ...and a note alone writes no status, even one changed elsewhere meanwhile.
    rt.tickets.update(ticket_id, status="open", author="Lucia")
    at.text_area(key=f"tk_edit_note_{ticket_id}").input("Chiamata fatta")
    submit(at, f"tk_edit_{ticket_id}")
    t = rt.tickets.get(ticket_id)
    assert t["status"] == "open" and t["notes"].endswith("Mario Rossi: Chiamata fatta")


def test_out_of_hours_the_live_page_says_closed_and_the_login_names_a_real_command(rt, monkeypatch):  # noqa: F811
    from datetime import datetime
    from zoneinfo import ZoneInfo

    make_operators(rt.operators)
    at = AppTest.from_file(DASHBOARD, default_timeout=30).run()
    assert [c.value for c in at.caption if "add-operator" in c.value][0].startswith(
        "Gli account si creano con `python -m sportello admin add-operator"
    )
    today = datetime.now(ZoneInfo("Europe/Rome")).date().isoformat()
    monkeypatch.setenv("BUSINESS_HOURS", "mon-sun 09:00-18:00")
    monkeypatch.setenv("HOLIDAYS", today)  # closed all day, while mario is online
    st.cache_resource.clear()
    at = sign_in("mario")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Chat accettate"] == "no, chiuso"
    assert [w.value for w in at.warning if w.value.startswith("Chiuso ora")], [w.value for w in at.warning]
    at.run()  # (AppTest: the run after the sign-in form takes the language switch)
    at.button_group(key="ui_lang").set_value("en").run()
    assert [w.value for w in at.warning if w.value.startswith("Closed now")], [w.value for w in at.warning]


def test_the_operators_list_shows_who_is_really_there(rt):  # noqa: F811
    import time

    ids = make_operators(rt.operators)
    rt.operators.set_status(ids["lucia"], "online")
    rt.operators.heartbeat(ids["lucia"], now=time.time() - rt.settings.heartbeat_timeout_s - 5)  # tab closed
    at = sign_in("mario")
    at.switch_page("pages/operators.py").run()
    table = at.dataframe[0].value
    shown = dict(zip(table["Nome utente"], table["Presenza"], strict=True))
    assert shown == {"lucia": "Non connesso (console chiusa)", "mario": "Online"}
