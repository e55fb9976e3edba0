"""The reads the operator inbox adds (on SQLite and PostgreSQL): a visitor's tickets, of the same session or
sharing a contact one of them left (`TicketService.of_same_contact`), masked for a non-admin; the ticket
list's "assigned to nobody" filter."""

from __future__ import annotations

import pytest

from sportello.services.chat import ChatService
from testkit.dashboard import Clock, FakeAnswerer, make_operators

pytestmark = pytest.mark.both_databases


def test_earlier_tickets_of_the_same_contact_and_the_unassigned_filter(runtime):
    clock = Clock(1_000_000.0)
    svc = ChatService(runtime.store, FakeAnswerer(), runtime.settings, clock=clock)
    ops = make_operators(runtime.operators)

    def ticket(question: str, contact: str, session: dict | None = None) -> tuple[dict, dict]:
        v = session or svc.start_session("it", "pytest")
        svc.visitor_message(v["session_id"], v["token"], question)
        svc.answer_offer(v["session_id"], v["token"], True)  # nobody online: the contact form
        clock.advance(60)
        return v, svc.submit_contact(v["session_id"], v["token"], "email", contact)["ticket"]

    first_visit, first = ticket("Domanda uno", "anna@example.org")
    _, second = ticket("Domanda due", "anna@example.org")  # another session, the same email
    _, other = ticket("Domanda tre", "bruno@example.org")
    tickets = runtime.tickets

    assert [t["id"] for t in tickets.of_same_contact(first_visit["session_id"])] == [second["id"], first["id"]]
    assert [t["id"] for t in tickets.of_same_contact(first_visit["session_id"], exclude=first["id"])] == [second["id"]]
    lucia = runtime.operators.by_username("lucia")
    seen = tickets.of_same_contact(first_visit["session_id"], viewer=lucia)
    assert {t["contact_info"] for t in seen} == {"a***@example.org"}  # masked for a non-admin
    assert tickets.of_same_contact("0" * 32) == []

    tickets.update(other["id"], assigned_to=ops["lucia"], author="Mario")
    assert {t["id"] for t in tickets.list(unassigned=True)} == {first["id"], second["id"]}
    assert [t["id"] for t in tickets.list(assigned_to=ops["lucia"])] == [other["id"]]
