"""The dashboard's side of issue 23 (Streamlit AppTest): the Ticket page lists the phone tickets to call
back first and logs a call; Analisi shows the tickets' service levels."""

from __future__ import annotations

from testkit.dashboard import seed, ticket_rows
from tests.integration.test_dashboard_pages import rt, sign_in, submit  # noqa: F401 (rt: the fixture)


def phone_ticket(rt) -> dict:  # noqa: F811 (the fixture's name)
    v = rt.chat.start_session("it", "pytest")
    rt.chat.visitor_message(v["session_id"], v["token"], "Posso prenotare una visita notturna?")
    assert rt.chat.answer_offer(v["session_id"], v["token"], True)["status"] == "collecting_contact"
    return rt.chat.submit_contact(v["session_id"], v["token"], "phone", "+39 06 1234567")["ticket"]


def test_the_ticket_page_puts_phone_call_backs_first_and_logs_a_call(rt):  # noqa: F811
    seed(rt)
    ticket = phone_ticket(rt)
    at = sign_in("mario")
    at.switch_page("pages/tickets.py").run()
    assert not at.exception
    assert ticket_rows(at)[0] == ticket["id"]  # due since it was opened: first
    assert at.session_state["tk_pick"] == ticket["id"]
    at.radio(key=f"tk_call_outcome_{ticket['id']}").set_value("no_answer")
    at.text_area(key=f"tk_call_note_{ticket['id']}").input("squilla a vuoto")
    submit(at, f"tk_call_{ticket['id']}")
    assert not at.exception and [s.value for s in at.success] == ["Chiamata registrata."]
    (call,) = rt.callbacks.calls(ticket["id"])
    assert (call["outcome"], call["note"], call["operator_name"]) == ("no_answer", "squilla a vuoto", "Mario Rossi")
    assert rt.tickets.get(ticket["id"])["next_call_at"] == call["next_attempt_at"] is not None


def test_analytics_shows_the_service_levels(rt):  # noqa: F811
    seed(rt)
    ticket = phone_ticket(rt)
    rt.callbacks.log_call(ticket["id"], {"display_name": "Mario"}, "reached")
    at = sign_in("mario")
    at.switch_page("pages/analytics.py").run()
    assert not at.exception
    assert "Livelli di servizio dei ticket" in [h.value for h in at.subheader]
    (sla,) = [d.value for d in at.dataframe if "Prima risposta · mediana" in d.value.columns]
    assert "Telefono" in list(sla["Canale"]) and list(sla["Prima risposta · mediana"]) != ["–"]
