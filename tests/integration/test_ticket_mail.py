"""Replies by email from a ticket, and the visitor's ticket link: a real SMTP server (aiosmtpd,
STARTTLS with a self-signed certificate, AUTH), the API in-process."""

from __future__ import annotations

import time

import httpx
import pytest
from sqlalchemy import create_engine, select, update

from sportello.store.tables import ticket_tokens
from testkit.inprocess import InProcessServer
from testkit.smtp import PASSWORD, SmtpServer
from testkit.support import Operator, Visitor, add_operator, read_sheet, wait_until

pytestmark = pytest.mark.both_databases  # SQLite and PostgreSQL

FAST = {"MAIL_RETRY_BASE_S": "0.1", "MAIL_RETRY_MAX_S": "0.3", "OUTBOX_INTERVAL_S": "0.1"}


@pytest.fixture
def smtp(tmp_path):
    with SmtpServer(tmp_path / "smtp") as server:
        yield server


@pytest.fixture
def desk(data_dir, smtp, db_env):
    add_operator(data_dir, "mario", "Mario Rossi", "password123", "--admin", env=db_env)
    env = {
        "SMTP_URL": smtp.url,
        "MAIL_FROM": "help@museo.example",
        "MAIL_REPLY_TO": "info@museo.example",
        "PUBLIC_URL": "https://help.museo.example/",
        "VENUE_NAME": "Museo Civico",
        **FAST,
        **db_env,
    }
    with InProcessServer(data_dir, env=env) as srv:
        op = Operator(srv.url, "mario")
        yield srv, op
        op.close()


def open_ticket(url: str, email: str = "anna@example.org", language: str = "en") -> dict:
    v = Visitor(url, language=language)
    v.say("Can I talk to a human please?" if language == "en" else "Voglio parlare con un operatore")
    v.accept(True)
    ticket = v.contact("email", email)["ticket"]
    v.close()
    return ticket


def link_of(msg) -> str:
    body = msg.get_content()
    return next(w for w in body.split() if w.startswith("https://help.museo.example/ticket/"))


def local(url: str, link: str) -> str:
    return url + link.removeprefix("https://help.museo.example")


def test_reply_is_mailed_once_over_starttls_with_auth_and_the_visitor_answers_by_the_link(desk, smtp, data_dir):
    srv, op = desk
    ticket = open_ticket(srv.url)
    r = op.http.post(f"/api/tickets/{ticket['id']}/replies", json={"text": "Yes, <b>we open</b> at 9.\nSee you!"})
    assert r.status_code == 201, r.text
    assert r.json()["state"] == "queued" and r.json()["reply_id"] > 0
    [msg] = smtp.wait_for(1)
    assert smtp.logins  # AUTH happened (only allowed after STARTTLS: auth_require_tls)
    assert smtp.envelopes[0] == ("help@museo.example", ["anna@example.org"])
    assert msg["Subject"] == f"Museo Civico: reply to ticket #{ticket['id']}"
    assert msg["From"].addresses[0].display_name == "Mario Rossi - Museo Civico"
    assert str(msg["Reply-To"]) == "info@museo.example"
    assert msg["Message-ID"].startswith(f"<ticket-{ticket['id']}.reply-") and "@museo.example>" in msg["Message-ID"]
    assert msg.get_content_type() == "text/plain" and not msg.is_multipart()
    body = msg.get_content()
    assert "Yes, <b>we open</b> at 9." in body and "Mario Rossi" in body and "Museo Civico" in body
    replies = wait_until(
        lambda: [
            x for x in op.http.get(f"/api/tickets/{ticket['id']}/replies").json()["replies"] if x["state"] == "sent"
        ]
    )
    assert replies[0]["error"] == "" and replies[0]["attempts"] == 1
    sent_rows = wait_until(
        lambda: [x for x in read_sheet(data_dir, "Conversazioni") if x["intent_detected"] == "ticket_reply_sent"]
    )
    assert len(sent_rows) == 1

    # The visitor's link: the thread as JSON, then a reply that reopens a resolved ticket.
    link = local(srv.url, link_of(msg))
    token = link.rsplit("/", 1)[1]
    with httpx.Client(base_url=srv.url) as http:
        page = http.get(f"/ticket/{token}")
        assert page.status_code == 200 and "&lt;b&gt;we open&lt;/b&gt;" in page.text and "<b>we open" not in page.text
        assert page.headers["referrer-policy"] == "no-referrer" and "anna@example.org" not in page.text
        thread = http.get(f"/api/ticket/{token}").json()
        assert [x["author"] for x in thread["replies"]] == ["operator"] and thread["ticket"]["language"] == "en"
        op.http.patch(f"/api/tickets/{ticket['id']}", json={"status": "resolved"}).raise_for_status()
        r = http.post(f"/api/ticket/{token}/replies", json={"text": "Thanks! And on Sunday?"})
        assert r.status_code == 201, r.text
        assert r.json()["status"] == "open"
    assert op.http.get(f"/api/tickets/{ticket['id']}").json()["ticket"]["status"] == "open"
    assert srv.runtime.ticket_replies.awaiting_answer() == {ticket["id"]}
    wait_until(
        lambda: [x for x in read_sheet(data_dir, "Conversazioni") if x["intent_detected"] == "ticket_visitor_reply"]
    )
    # The operator answers: the badge goes.
    assert op.http.post(f"/api/tickets/{ticket['id']}/replies", json={"text": "Sunday too."}).status_code == 201
    assert srv.runtime.ticket_replies.awaiting_answer() == set()
    smtp.wait_for(2)


def test_wrong_expired_and_erased_links_are_a_bare_404(desk, smtp, settings):
    srv, op = desk
    ticket = open_ticket(srv.url, language="it")
    op.http.post(f"/api/tickets/{ticket['id']}/replies", json={"text": "Ciao"}).raise_for_status()
    [msg] = smtp.wait_for(1)
    assert "risposta al ticket" in msg["Subject"] and "Buongiorno" in msg.get_content()
    token = link_of(msg).rsplit("/", 1)[1]
    with httpx.Client(base_url=srv.url) as http:
        assert http.get(f"/api/ticket/{token}").status_code == 200
        wrong = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
        for bad in (wrong, "x", "a" * 300):
            r = http.get(f"/api/ticket/{bad}")
            assert r.status_code == 404 and r.json() == {"error": {"code": "not_found", "message": "not found"}}
            page = http.get(f"/ticket/{bad}")
            assert page.status_code == 404 and "Ciao" not in page.text and str(ticket["id"]) not in page.text
        assert http.post(f"/api/ticket/{wrong}/replies", json={"text": "hi"}).status_code == 404
        # Expired: the same 404.
        engine = create_engine(srv.settings.database_url)
        with engine.begin() as conn:
            conn.execute(update(ticket_tokens).values(expires_at=1.0))
        assert http.get(f"/api/ticket/{token}").status_code == 404
        with engine.begin() as conn:
            conn.execute(update(ticket_tokens).values(expires_at=4e9))
        assert http.get(f"/api/ticket/{token}").status_code == 200
        # Erased: the links and replies are gone.
        srv.runtime.privacy.erase_session(ticket["session_id"])
        assert http.get(f"/api/ticket/{token}").status_code == 404
        with engine.connect() as conn:
            assert conn.execute(select(ticket_tokens)).all() == []
        engine.dispose()
        assert op.http.get(f"/api/tickets/{ticket['id']}/replies").json()["replies"] == []


def test_too_many_wrong_links_from_one_address_are_refused(data_dir, db_env):
    with InProcessServer(data_dir, env={"TICKET_LINK_MISSES_PER_IP": "3", **db_env}) as srv:
        with httpx.Client(base_url=srv.url) as http:
            codes = [http.get(f"/api/ticket/{'x' * 43}{i}").status_code for i in range(5)]
    assert codes[:3] == [404, 404, 404] and codes[-1] == 429


def test_bad_input_is_refused_at_queue_time(desk, smtp):
    srv, op = desk
    ticket = open_ticket(srv.url)
    url = f"/api/tickets/{ticket['id']}/replies"
    big = op.http.post(url, json={"text": "x" * 1_000_000})
    assert big.status_code == 413 and "too large" in big.json()["error"]["message"]
    long = op.http.post(url, json={"text": "x" * 2001})
    assert long.status_code == 422 and long.json()["error"]["code"] == "message_too_long"
    assert op.http.post(url, json={"text": "  "}).json()["error"]["code"] == "empty_message"
    assert op.http.post("/api/tickets/99999/replies", json={"text": "hi"}).status_code == 404
    # A ticket with a phone number: no address to write to.
    v = Visitor(srv.url)
    v.say("Voglio parlare con un operatore")
    v.accept(True)
    phone_ticket = v.contact("phone", "+39 333 1234567")["ticket"]
    r = op.http.post(f"/api/tickets/{phone_ticket['id']}/replies", json={"text": "hi"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_email"
    assert op.http.post(url, json={"text": "hi"}, headers={"Authorization": "Bearer nope"}).status_code == 401
    assert smtp.messages == []


def test_refused_address_fails_with_the_reason_and_never_loops(desk, smtp, data_dir):
    srv, op = desk
    smtp.refuse.add("nobody@example.org")
    ticket = open_ticket(srv.url, email="nobody@example.org")
    op.http.post(f"/api/tickets/{ticket['id']}/replies", json={"text": "hi"}).raise_for_status()

    def failed():
        replies = op.http.get(f"/api/tickets/{ticket['id']}/replies").json()["replies"]
        return [x for x in replies if x["state"] == "failed"]

    [reply] = wait_until(failed)
    assert reply["error"].startswith("550") and reply["attempts"] == 1
    wait_until(
        lambda: [x for x in read_sheet(data_dir, "Conversazioni") if x["intent_detected"] == "ticket_reply_failed"]
    )
    time.sleep(0.5)  # several retry periods: still one attempt
    assert op.http.get(f"/api/tickets/{ticket['id']}/replies").json()["replies"][0]["attempts"] == 1


def test_smtp_down_replies_queue_then_go_when_it_is_back(desk, smtp):
    srv, op = desk
    smtp.stop()
    ticket = open_ticket(srv.url)
    for i in range(3):
        op.http.post(f"/api/tickets/{ticket['id']}/replies", json={"text": f"reply {i}"}).raise_for_status()

    def retried():
        replies = op.http.get(f"/api/tickets/{ticket['id']}/replies").json()["replies"]
        return all(x["state"] == "queued" and x["attempts"] >= 2 and x["error"] for x in replies) and replies

    replies = wait_until(retried)
    assert "Connection" in replies[0]["error"] or "refused" in replies[0]["error"].lower()
    assert PASSWORD not in replies[0]["error"]
    smtp.start()
    msgs = smtp.wait_for(3)
    wait_until(
        lambda: all(x["state"] == "sent" for x in op.http.get(f"/api/tickets/{ticket['id']}/replies").json()["replies"])
    )
    assert sorted(next(w for w in m.get_content().splitlines() if w.startswith("reply ")) for m in msgs) == [
        "reply 0",
        "reply 1",
        "reply 2",
    ]
    assert len(set(smtp.message_ids())) == 3


def test_mail_not_configured_is_a_clear_refusal(server, mario):
    ticket = open_ticket(server.url)
    r = mario.http.post(f"/api/tickets/{ticket['id']}/replies", json={"text": "hi"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "mail_not_configured"
