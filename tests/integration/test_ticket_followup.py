"""Tickets followed to closure: the life cycle, the phone call-backs, the service levels and
the staff alerts through their outbox to a local webhook receiver that checks the HMAC and dedupes."""

from __future__ import annotations

import json
import secrets
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from sportello.config import Settings
from sportello.domain import Conflict, ValidationError
from sportello.domain.events import EventKind
from sportello.domain.tickets import TICKET_TRANSITIONS, next_ticket_status
from sportello.runtime import Runtime
from sportello.services import alerts
from sportello.services.callbacks import by_due
from sportello.services.reports import local_day
from sportello.services.ticket_replies import token_hash
from sportello.sinks.webhook import DELIVERY_HEADER, SIGNATURE_HEADER, verify
from sportello.store import alerts as alert_table
from sportello.store import events as event_table
from sportello.store import ticket_replies as reply_table
from testkit.fakes import FakeAnswerer, FakeClock
from testkit.smtp import SmtpServer

pytestmark = pytest.mark.both_databases

SECRET = "s3cret-for-tests"
HARD = "Posso prenotare una visita privata notturna?"
MARIO = {"id": None, "display_name": "Mario Rossi", "is_admin": True}


class Receiver:
    """A webhook receiver on 127.0.0.1: answers the queued statuses (then 200), checks the signature,
    and accepts each delivery id once (a second delivery of an accepted id is a 200 it drops)."""

    def __init__(self):
        self.statuses: list[int] = []
        self.seen: list[tuple[str, bool]] = []  # (delivery id, signature valid), every request
        self.accepted: dict[str, dict] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                delivery = self.headers.get(DELIVERY_HEADER, "")
                valid = verify(SECRET, body, self.headers.get(SIGNATURE_HEADER))
                receiver.seen.append((delivery, valid))
                status = receiver.statuses.pop(0) if receiver.statuses else (200 if valid else 401)
                if status == 200 and delivery not in receiver.accepted:
                    receiver.accepted[delivery] = json.loads(body)
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def hooked(receiver: Receiver, **env) -> dict:
    """The settings that send the alerts to `receiver`, signed, plus `env`."""
    return {"ALERT_WEBHOOK_URL": receiver.url, "ALERT_WEBHOOK_SECRET": SECRET, **env}


def make_runtime(data_dir, db_env, clock, **env) -> Runtime:
    settings = Settings.from_env({"DATA_DIR": str(data_dir), **db_env, **env})
    return Runtime(settings, answerer=FakeAnswerer(), clock=clock)


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def rt(data_dir, db_env, clock, receiver):
    runtime = make_runtime(data_dir, db_env, clock, **hooked(receiver))
    yield runtime
    runtime.store.dispose()


def new_ticket(rt: Runtime, method: str = "phone", value: str = "+39 06 1234567", question: str = HARD) -> dict:
    s = rt.chat.start_session("it")
    rt.chat.visitor_message(s["session_id"], s["token"], question)
    rt.chat.answer_offer(s["session_id"], s["token"], True)  # nobody online: the contact form
    return rt.chat.submit_contact(s["session_id"], s["token"], method, value)["ticket"]


def kinds(rt: Runtime, session_id: str) -> list[str]:
    with rt.store.read() as conn:
        return [str(e.kind) for e in event_table.of_session(conn, session_id)]


# ------------------------------------------------------------------ life cycle
def test_the_life_cycle_rule():
    assert next_ticket_status("open", "pending") == "pending"
    assert next_ticket_status("pending", "open") == "open"  # the visitor answered
    assert next_ticket_status("resolved", "open") == "open"  # reopened
    assert next_ticket_status("open", "open") is None  # no move
    assert TICKET_TRANSITIONS["closed"] == frozenset()
    for current, wanted in [("closed", "open"), ("resolved", "pending"), ("closed", "resolved")]:
        with pytest.raises(Conflict) as e:
            next_ticket_status(current, wanted)
        assert e.value.code == "invalid_transition"
        assert f"from '{current}' to '{wanted}'" in e.value.message
    with pytest.raises(ValidationError):
        next_ticket_status("open", "done")


def test_status_changes_are_events_and_set_the_service_levels(rt, clock):
    t = new_ticket(rt, "email", "anna@example.org")
    assert t["first_response_at"] is None and t["resolved_at"] is None
    clock.advance(600)
    t = rt.tickets.update(t["id"], status="pending", author="Mario")
    assert t["status"] == "pending" and t["first_response_at"] is not None and t["resolved_at"] is None
    first = t["first_response_at"]
    clock.advance(600)
    t = rt.tickets.update(t["id"], status="open", author="Mario")  # the visitor answered
    clock.advance(600)
    t = rt.tickets.update(t["id"], status="resolved", author="Mario")
    assert t["first_response_at"] == first and t["resolved_at"] is not None
    resolved = t["resolved_at"]
    clock.advance(60)
    t = rt.tickets.update(t["id"], status="closed", author="Mario")
    assert t["resolved_at"] == resolved  # resolved once, closed later
    with pytest.raises(Conflict) as e:
        rt.tickets.update(t["id"], status="open", author="Mario")
    assert e.value.code == "invalid_transition"
    assert rt.tickets.update(t["id"], status="closed") == t  # the same status: nothing written
    assert kinds(rt, t["session_id"]).count(EventKind.TICKET_STATUS_CHANGED) == 4


# ------------------------------------------------------------------ call-backs
def test_call_backs_count_attempts_default_the_next_one_and_sort_the_list(rt, clock):
    first = new_ticket(rt, value="+39 06 1111111")
    clock.advance(60)
    second = new_ticket(rt, value="+39 06 2222222")
    clock.advance(60)
    email = new_ticket(rt, "email", "anna@example.org")
    # Nobody called yet: the oldest phone ticket is due first, the email ticket comes after.
    assert [t["id"] for t in by_due(rt.tickets.list())] == [first["id"], second["id"], email["id"]]

    out = rt.callbacks.log_call(first["id"], MARIO, "no_answer", "squilla a vuoto")
    assert out["call"]["attempt"] == 1 and out["ticket"]["call_attempts"] == 1
    delay = rt.settings.callback_delay_min * 60
    assert out["call"]["next_attempt_at"] == out["ticket"]["next_call_at"]
    assert out["ticket"]["first_response_at"] is not None  # a call is a response
    # The first ticket is due again in an hour: the second (due since it was opened) comes first now.
    assert [t["id"] for t in by_due(rt.tickets.list())][:2] == [second["id"], first["id"]]

    soon = clock() + 600
    out = rt.callbacks.log_call(second["id"], MARIO, "left_message", next_attempt_at=soon)
    assert out["call"]["attempt"] == 1 and out["ticket"]["call_attempts"] == 1
    assert [t["id"] for t in by_due(rt.tickets.list())][:2] == [second["id"], first["id"]]
    clock.advance(delay)
    out = rt.callbacks.log_call(first["id"], MARIO, "reached", "richiamato, tutto chiaro")
    assert out["call"]["attempt"] == 2 and out["ticket"]["next_call_at"] is None
    assert [c["outcome"] for c in rt.callbacks.calls(first["id"])] == ["no_answer", "reached"]
    assert kinds(rt, first["session_id"]).count(EventKind.CALL_LOGGED) == 2

    with pytest.raises(Conflict) as e:
        rt.callbacks.log_call(email["id"], MARIO, "reached")
    assert e.value.code == "not_a_phone_ticket"
    with pytest.raises(ValidationError) as e:
        rt.callbacks.log_call(first["id"], MARIO, "busy")
    assert e.value.code == "invalid_outcome"
    with pytest.raises(ValidationError) as e:
        rt.callbacks.log_call(first["id"], MARIO, "no_answer", next_attempt_at=clock() - 1)
    assert e.value.code == "invalid_next_attempt_at"


# ------------------------------------------------------------------ alerts
def delivered(rt: Runtime) -> int:
    return rt.alerts.drain_once()


def test_a_new_ticket_is_a_signed_webhook_delivered_once_with_its_event(rt, receiver):
    t = new_ticket(rt)
    assert delivered(rt) == 1
    assert len(receiver.seen) == 1 and receiver.seen[0][1] is True  # the HMAC checked out
    (body,) = receiver.accepted.values()
    assert body["kind"] == "new_ticket" and body["ticket_id"] == t["id"]
    assert body["delivery_id"] == receiver.seen[0][0]
    assert "+39" not in json.dumps(body)  # no contact in an alert
    assert delivered(rt) == 0  # sent: never again
    assert kinds(rt, t["session_id"])[-1] == EventKind.ALERT_SENT
    # The email-reply code's hook: a visitor's reply on the ticket.
    with rt.store.write() as conn:
        alerts.visitor_replied(conn, t, rt.clock())
    assert delivered(rt) == 1
    assert [b["kind"] for b in receiver.accepted.values()] == ["new_ticket", "visitor_replied"]


def test_a_failing_receiver_is_retried_with_backoff_and_never_duplicated(rt, receiver, clock):
    new_ticket(rt)
    receiver.statuses = [500, 503]
    assert delivered(rt) == 0
    assert delivered(rt) == 0  # not due yet: backing off
    assert len(receiver.seen) == 1
    clock.advance(10)  # past the first backoff (5 s at most)
    assert delivered(rt) == 0
    clock.advance(5)
    assert delivered(rt) == 0  # the second backoff is 5..10 s
    clock.advance(10)
    assert delivered(rt) == 1
    assert len({d for d, _ in receiver.seen}) == 1 and len(receiver.seen) == 3
    assert len(receiver.accepted) == 1
    clock.advance(3600)
    assert delivered(rt) == 0 and len(receiver.seen) == 3


def test_a_crash_after_the_receiver_accepted_resends_the_same_delivery_id(rt, receiver, data_dir, db_env, clock):
    new_ticket(rt)

    def killed(*args):
        raise SystemExit("killed before marking the alert sent")

    rt.alerts._delivered = killed
    with pytest.raises(SystemExit):
        rt.alerts.drain_once()
    assert len(receiver.accepted) == 1
    restarted = make_runtime(data_dir, db_env, clock, **hooked(receiver))
    try:
        assert restarted.alerts.drain_once() == 1
        assert restarted.alerts.drain_once() == 0
    finally:
        restarted.store.dispose()
    (first, _), (again, _) = receiver.seen
    assert first == again and len(receiver.accepted) == 1  # the same id: the receiver dropped it


def test_a_chat_waiting_too_long_alerts_once_and_slack_gets_text(data_dir, db_env, clock, receiver):
    rt = make_runtime(data_dir, db_env, clock, **hooked(receiver, ALERT_WEBHOOK_FORMAT="slack", ALERT_WAITING_S="30"))
    try:
        rt.operators.add("lucia", "Lucia Bianchi", "password123")
        _, op = rt.operators.login("lucia", "password123")
        rt.operators.set_status(op["id"], "online")
        s = rt.chat.start_session("it")
        rt.chat.visitor_message(s["session_id"], s["token"], HARD)
        assert rt.chat.answer_offer(s["session_id"], s["token"], True)["status"] == "waiting"
        assert rt.alerts.check_waiting() == 0
        clock.advance(31)
        rt.operators.heartbeat(op["id"])
        assert rt.alerts.check_waiting() == 1
        assert rt.alerts.check_waiting() == 0  # once per chat
        assert rt.alerts.drain_once() == 1
        (body,) = receiver.accepted.values()
        assert list(body) == ["text"] and "31 s" in body["text"] and receiver.seen[0][1] is True
    finally:
        rt.store.dispose()


def test_without_a_channel_alerts_are_skipped(data_dir, db_env, clock):
    rt = make_runtime(data_dir, db_env, clock)
    try:
        new_ticket(rt)
        assert rt.alerts.channels() == [] and rt.alerts.drain_once() == 1
        with rt.store.read() as conn:
            assert [a["status"] for a in alert_table.all_of_kind(conn, "new_ticket")] == ["skipped"]
    finally:
        rt.store.dispose()


# ------------------------------------------------------------------ service levels, erasure
def test_service_levels_median_p90_and_the_tickets_over_the_limits(rt, clock):
    start = clock()
    answered = []
    for minutes in (10, 20, 30, 40, 600):  # first responses, phone
        t = new_ticket(rt)
        clock.advance(minutes * 60)
        rt.callbacks.log_call(t["id"], MARIO, "reached")
        answered.append(t)
        clock.advance(1)
    e = new_ticket(rt, "email", "anna@example.org")
    clock.advance(3600)
    rt.tickets.update(e["id"], status="resolved")
    waiting = new_ticket(rt, "email", "bruno@example.org")
    clock.advance(25 * 3600)  # nobody answered it for a day: over TICKET_FIRST_RESPONSE_LIMIT_H
    day = local_day(start, "Europe/Rome")
    sla = rt.reports.service_levels(day, day + timedelta(days=1), first_limit_h=5, resolution_limit_h=24)
    by = {c["channel"]: c for c in sla["by_channel"]}
    # 600, 1200, 1800, 2400, 36000 s: the median, and p90 interpolated between the last two
    assert by["phone"]["first_response"] == {"count": 5, "p50": 1800.0, "p90": 22560.0}
    assert by["phone"]["resolution"]["count"] == 0
    assert by["email"]["first_response"] == {"count": 1, "p50": 3600.0, "p90": 3600.0}
    assert by["email"]["resolution"] == {"count": 1, "p50": 3600.0, "p90": 3600.0}
    over = {t["id"]: t["over"] for t in sla["over_limit"]}
    assert over[answered[-1]["id"]] == ["first_response", "resolution"]  # 10 h; and never resolved
    assert over[waiting["id"]] == ["first_response", "resolution"]
    assert e["id"] not in over
    assert "live_chat" not in by


def test_erasure_blanks_call_notes_and_alert_payloads(rt):
    t = new_ticket(rt, question="Sono Anna Verdi, posso venire col cane?")
    rt.callbacks.log_call(t["id"], MARIO, "no_answer", "Anna dice di richiamare dopo le 18")
    rt.privacy.erase_session(t["session_id"])
    assert [c["note"] for c in rt.callbacks.calls(t["id"])] == [""]
    with rt.store.read() as conn:
        (alert,) = alert_table.all_of_kind(conn, "new_ticket")
    assert "Anna" not in json.dumps(alert["payload"])


# ------------------------------------------------------------------ REST
def test_calls_over_the_api(server, mario, lucia):
    from testkit.support import Visitor

    v = Visitor(server.url)
    v.say(HARD)
    v.accept(True)
    ticket = v.contact("phone", "+39 06 1234567")["ticket"]
    calls = f"/api/tickets/{ticket['id']}/calls"
    r = mario.http.post(calls, json={"outcome": "left_message", "note": f"richiamare al {ticket['contact_info']}"})
    assert r.status_code == 201, r.text
    assert r.json()["call"]["attempt"] == 1 and r.json()["ticket"]["next_call_at"]
    r = mario.http.post(calls, json={"outcome": "reached", "next_attempt_at": "2099-01-01T09:00:00Z"})
    assert r.status_code == 201 and r.json()["ticket"]["next_call_at"] == "2099-01-01T09:00:00Z"
    assert mario.http.post(calls, json={"outcome": "maybe"}).status_code == 422
    assert mario.http.post("/api/tickets/99999/calls", json={"outcome": "reached"}).status_code == 404
    got = mario.http.get(calls).json()["calls"]
    assert [c["outcome"] for c in got] == ["left_message", "reached"] and "1234567" in got[0]["note"]
    assert "1234567" not in lucia.http.get(calls).json()["calls"][0]["note"]  # masked for a non-admin
    assert mario.http.patch(f"/api/tickets/{ticket['id']}", json={"status": "closed"}).status_code == 200
    r = mario.http.patch(f"/api/tickets/{ticket['id']}", json={"status": "open"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "invalid_transition"
    assert mario.http.post(calls, json={"outcome": "reached"}).json()["error"]["code"] == "ticket_closed"


# ------------------------------------------------------------------ alerts by email, the visitor's reply
def test_alerts_are_mailed_to_the_staff_address_too(data_dir, db_env, clock, receiver, tmp_path):
    with SmtpServer(tmp_path / "smtp") as smtp:
        by_mail = {"ALERT_EMAIL": "staff@museo.example", "SMTP_URL": smtp.url, "MAIL_FROM": "sportello@museo.example"}
        rt = make_runtime(data_dir, db_env, clock, **hooked(receiver, **by_mail))
        try:
            t = new_ticket(rt)
            assert rt.alerts.channels() == ["webhook", "email"]
            assert rt.alerts.drain_once() == 1
            (mail,) = smtp.wait_for(1)
            (delivery,) = receiver.accepted
            assert str(mail["To"]) == "staff@museo.example" and f"#{t['id']}" in str(mail["Subject"])
            assert str(mail["Message-ID"]) == f"<alert-{delivery}@museo.example>"
            assert kinds(rt, t["session_id"])[-1] == EventKind.ALERT_SENT
        finally:
            rt.store.dispose()


def test_a_visitor_reply_on_the_ticket_page_reopens_a_pending_ticket_and_alerts(rt, receiver):
    t = new_ticket(rt, "email", "anna@example.org")
    rt.tickets.update(t["id"], status="pending", author="Mario")
    token = secrets.token_urlsafe(32)  # the visitor's link, as a reply mail carries it
    with rt.store.write() as conn:
        reply_table.add_token(conn, token_hash(token), t["id"], rt.clock() + 86400)
    assert rt.ticket_replies.visitor_reply(token, "Sì, sabato va bene", client="127.0.0.1")["status"] == "open"
    assert rt.alerts.drain_once() == 2  # the new ticket, the visitor's reply
    assert [b["kind"] for b in receiver.accepted.values()] == ["new_ticket", "visitor_replied"]
