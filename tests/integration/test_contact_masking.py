"""A non-admin operator never reads a visitor's contact in full through the REST API: not in one
ticket, not in a chat's messages, and a search cannot confirm a guessed contact."""

from __future__ import annotations

from testkit.inprocess import InProcessServer
from testkit.support import Operator, Visitor, add_operator

EMAIL = "anna.verdi@example.org"


def ticket_with_contact(url: str) -> Visitor:
    v = Visitor(url)
    v.say("Posso portare il cane?")
    v.accept(True)  # nobody online: the contact form
    v.contact("email", EMAIL)
    return v


def test_a_non_admin_never_reads_or_confirms_a_contact(data_dir):
    add_operator(data_dir, "mario", "Mario Rossi", "password123", "--admin")
    add_operator(data_dir, "lucia", "Lucia Bianchi")
    with InProcessServer(data_dir) as srv:
        v = ticket_with_contact(srv.url)
        admin, lucia = Operator(srv.url, "mario"), Operator(srv.url, "lucia")
        tid = admin.http.get("/api/tickets").json()["tickets"][0]["id"]

        assert admin.http.get(f"/api/tickets/{tid}").json()["ticket"]["contact_info"] == EMAIL
        seen = lucia.http.get(f"/api/tickets/{tid}").json()["ticket"]
        assert seen["contact_info"] == "a***@example.org"
        assert EMAIL not in str(seen)

        admin_msgs = admin.get("chat_messages", session_id=v.session_id)["messages"]
        assert EMAIL in str(admin_msgs)  # the confirmation quotes it
        assert EMAIL not in str(lucia.get("chat_messages", session_id=v.session_id))

        assert len(admin.http.get("/api/tickets", params={"q": "anna.verdi"}).json()["tickets"]) == 1
        assert lucia.http.get("/api/tickets", params={"q": "anna.verdi"}).json()["tickets"] == []
        assert lucia.http.get("/api/tickets", params={"q": "cane"}).json()["tickets"]  # other fields still match
