"""Issue 22's bug list, on the dashboard pages (Streamlit AppTest against a real store): the ticket form
reflects the saved ticket and a note never writes a status; the Operatori list shows who is really there;
the small texts (out of hours, the login help)."""

from __future__ import annotations

from testkit.dashboard import seed
from tests.integration.test_dashboard_pages import DASHBOARD, rt, sign_in, submit, texts  # noqa: F401


def test_ticket_form_follows_the_saved_ticket_and_a_note_keeps_the_status(rt):  # noqa: F811
    seed(rt)
    at = sign_in("mario")
    at.switch_page("pages/tickets.py").run()
    at.text_input(key="tk_q").input("anna@").run()
    ticket_id = int(at.dataframe[0].value.iloc[0]["#"])
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
