"""The events table: every step of the flow records one event and its sheet row in
the same transaction; the log and the analytics read the events; migration 0003
backfills the events of an older database from its outbox."""

from __future__ import annotations

import dataclasses
import json
import re
import uuid

import pytest
from alembic import command
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from sportello.domain.events import EventKind
from sportello.runtime import Runtime
from sportello.services.alerts import AlertService
from sportello.services.callbacks import CallbackService
from sportello.services.chat import ChatService
from sportello.services.conversation_log import ConversationLog
from sportello.services.feedback import FeedbackService
from sportello.services.reports import Reports, report
from sportello.services.ticket_replies import TicketReplies
from sportello.services.tickets import TicketService
from sportello.sinks.layout import CONVERSATION_HEADER, CONVERSATIONS, conversation_row
from sportello.sinks.mail import MailError
from sportello.store import events as store_events
from sportello.store import migrate
from sportello.store.database import Store
from sportello.store.tables import alerts, events, messages, outbox, sessions
from testkit.dashboard import D0, D1, D3, DOG, PARKING, Clock, FakeAnswerer, online, seed

pytestmark = pytest.mark.both_databases

EMAIL = "anna@example.org"


@pytest.fixture
def rt(settings):
    runtime = Runtime(settings, answerer=FakeAnswerer())
    yield runtime
    runtime.store.dispose()


def more_flows(rt, lucia: int, mario: int) -> dict:
    """The steps the dashboard seed does not take: queue and live messages, a transfer, queue timeout,
    contact prompt, a rating; a ticket's status change, a call back and an alert."""
    clock = Clock(0)
    svc = ChatService(rt.store, FakeAnswerer(), rt.settings, clock=clock)
    out = {}

    clock.at("2025-03-11T15:00:00")
    s = svc.start_session("it", "pytest/2.0")
    svc.visitor_message(s["session_id"], s["token"], DOG)
    online(rt.operators, lucia, clock.now)
    svc.answer_offer(s["session_id"], s["token"], True)
    clock.advance(5)
    svc.visitor_message(s["session_id"], s["token"], "ci siete?")
    clock.advance(5)
    svc.take_chat(lucia, s["session_id"])
    clock.advance(5)
    svc.visitor_message(s["session_id"], s["token"], "=1+1 grazie")
    clock.advance(5)
    online(rt.operators, mario, clock.now)
    svc.transfer_chat(lucia, s["session_id"], mario)  # chat transfer
    clock.advance(5)
    svc.release_chat(mario, s["session_id"], "")
    # the satisfaction rating
    FeedbackService(rt.store, rt.settings, clock=clock).rate(s["session_id"], s["token"], 4, "=1+1")
    out["live"] = s["session_id"]

    clock.at("2025-03-11T16:00:00")
    s = svc.start_session("it", "pytest/2.0")
    svc.visitor_message(s["session_id"], s["token"], "Posso portare la bici?")
    online(rt.operators, lucia, clock.now)
    svc.answer_offer(s["session_id"], s["token"], True)
    clock.advance(rt.settings.queue_timeout_s + 1)
    assert svc.expire_waiting() == 2  # this one and the dashboard seed's #7, never taken
    clock.advance(5)
    svc.visitor_message(s["session_id"], s["token"], "boh")  # not a contact: asked again
    clock.advance(5)
    svc.visitor_message(s["session_id"], s["token"], EMAIL)  # a contact: ticket
    out["timeout"] = s["session_id"]

    # A phone ticket followed up: a status change, a call back, the staff alert delivered.
    clock.at("2025-03-25T10:00:00")  # after the reports' period; lucia's heartbeat is stale: nobody is available
    s = svc.start_session("it", "pytest/2.0")
    svc.visitor_message(s["session_id"], s["token"], PARKING)
    svc.answer_offer(s["session_id"], s["token"], True)
    ticket = svc.submit_contact(s["session_id"], s["token"], "phone", "+39 06 1234567")["ticket"]
    TicketService(rt.store, clock=clock).update(ticket["id"], status="pending", author="Mario")
    CallbackService(rt.store, clock=clock).log_call(ticket["id"], {"display_name": "Mario"}, "no_answer", "=1")

    class Accepting:
        def send(self, delivery_id, payload):
            return 200

    with rt.store.write() as conn:  # only this ticket's alert is delivered (the other sessions' steps stay as they are)
        conn.execute(update(alerts).where(alerts.c.session_id != s["session_id"]).values(status="skipped"))
    assert AlertService(rt.store, rt.settings, clock=clock, webhook=Accepting()).drain_once() == 1
    out["followed"] = s["session_id"]

    # An email ticket answered by mail: one reply sent, one refused by the server, the visitor's answer.
    clock.at("2025-03-26T10:00:00")
    s = svc.start_session("it", "pytest/2.0")
    svc.visitor_message(s["session_id"], s["token"], PARKING)
    svc.answer_offer(s["session_id"], s["token"], True)
    ticket = svc.submit_contact(s["session_id"], s["token"], "email", EMAIL)["ticket"]
    mail = TicketReplies(rt.store, dataclasses.replace(rt.settings, smtp_url="smtp://127.0.0.1:25"), clock=clock)
    sent = []

    class Accepted:
        def send(self, msg):
            sent.append(msg)

    class Refused:
        def send(self, msg):
            raise MailError("550 no such user", permanent=True)

    mario_op = {"id": mario, "display_name": "Mario"}
    assert mail.send_one(mail.reply(ticket["id"], mario_op, "Buongiorno")["reply_id"], Accepted()) == "sent"
    assert mail.send_one(mail.reply(ticket["id"], mario_op, "Di nuovo")["reply_id"], Refused()) == "failed"
    token = re.search(r"/ticket/([A-Za-z0-9_-]+)", sent[0].get_body(("plain",)).get_content()).group(1)
    mail.visitor_reply(token, "Grazie!")
    out["mailed"] = s["session_id"]
    return out


@pytest.fixture
def seeded(rt):
    ids = seed(rt)
    ids.update(more_flows(rt, ids["operators"]["lucia"], ids["operators"]["mario"]))
    return ids


def test_each_step_records_one_event_and_its_sheet_row_together(rt, seeded):
    with rt.store.read() as conn:
        rows = conn.execute(
            select(events, outbox.c.payload, outbox.c.worksheet, outbox.c.session_id.label("outbox_session"))
            .select_from(events.join(outbox, outbox.c.event_id == events.c.id))
            .order_by(outbox.c.id)
        ).all()
        n_events = conn.execute(select(func.count()).select_from(events)).scalar_one()
        n_rows = conn.execute(
            select(func.count()).select_from(outbox).where(outbox.c.worksheet == CONVERSATIONS)
        ).scalar_one()
        timeout_kinds = [e.kind for e in store_events.of_session(conn, seeded["timeout"])]
    assert n_events == n_rows == len(rows) > 0
    for r in rows:
        assert r.worksheet == CONVERSATIONS and r.outbox_session == r.session_id
        assert json.loads(r.payload) == conversation_row(store_events.to_event(r))
    assert {r.kind for r in rows} == set(EventKind) - {EventKind.ERASED}  # the flows take every step
    assert timeout_kinds == [
        EventKind.AI_NO_ANSWER,
        EventKind.QUEUED,
        EventKind.QUEUE_TIMEOUT,
        EventKind.CONTACT_PROMPT,
        EventKind.TICKET_CREATED,
    ]
    # The typed columns are what the flow knew.
    with rt.store.read() as conn:
        ticket = conn.execute(
            select(events).where(events.c.session_id == seeded["timeout"], events.c.kind == "ticket_created")
        ).one()
        live = conn.execute(
            select(events).where(events.c.session_id == seeded["live"], events.c.kind == "live_visitor_message")
        ).one()
    assert (ticket.intent, ticket.question, ticket.contact_method, ticket.user_agent) == (
        "ticket_created",
        "Posso portare la bici?",
        "email",
        "pytest/2.0",
    )
    assert ticket.ticket_id is not None
    assert (live.text, live.operator, live.intent) == ("=1+1 grazie", "Lucia", "live_chat_user_message")


def test_an_event_that_cannot_be_written_rolls_back_the_whole_step(rt, monkeypatch):
    svc = ChatService(rt.store, FakeAnswerer(), rt.settings)
    s = svc.start_session("it", "ua")

    def counts():
        with rt.store.read() as conn:
            return (
                conn.execute(select(func.count()).select_from(outbox)).scalar_one(),
                conn.execute(select(func.count()).select_from(events)).scalar_one(),
                conn.execute(select(func.count()).select_from(messages)).scalar_one(),
                conn.execute(select(sessions.c.status).where(sessions.c.id == s["session_id"])).scalar_one(),
            )

    before = counts()
    taken = uuid.UUID(int=42)
    with rt.store.write() as conn:  # an event already holds the id the outbox row will get
        conn.execute(events.insert().values(id=taken.hex, session_id="x", kind="queued", intent="operator_queue", at=0))
    monkeypatch.setattr(uuid, "uuid4", lambda: taken)
    with pytest.raises(IntegrityError):
        svc.visitor_message(s["session_id"], s["token"], DOG)
    monkeypatch.undo()
    after = counts()
    assert after == (before[0], before[1] + 1, before[2], "bot")  # no outbox row, message or state change
    assert svc.visitor_message(s["session_id"], s["token"], DOG)["status"] == "offered"
    assert counts() == (before[0] + 1, before[1] + 2, before[2] + 2, "offered")


def test_log_and_reports_read_the_events(rt, seeded):
    log = ConversationLog(rt.store)
    reports = Reports(rt.store)
    rows = log.rows()
    with rt.store.read() as conn:
        payloads = conn.execute(
            select(outbox.c.payload).where(outbox.c.worksheet == CONVERSATIONS).order_by(outbox.c.id.desc())
        ).scalars()
        sheet = [json.loads(p) for p in payloads]
    # Exactly the sheet's rows, newest first in commit order (the extra flows came after the seed's
    # last chat but happened before it).
    assert [[row[k] for k in CONVERSATION_HEADER] for row in rows] == sheet
    assert log.rows(limit=4) == rows[:4]
    assert log.rows(intents=["queue_user_message"])[0]["user_message"] == "[IN CODA] ci siete?"
    assert log.rows(intents=["live_chat_user_message"])[0]["user_message"] == "[CHAT LIVE] =1+1 grazie"
    assert {row["sync"] for row in rows} == {"pending"} and log.sync_status()["backlog"] > len(rows)  # + tickets
    r = reports.report(D1, D3, "Europe/Rome")
    assert r == report(rt.store, D1, D3, "Europe/Rome")
    assert r.top_intents[0] == {"intent": "no_answer", "count": 6}  # the dashboard seed's 4, the dog, the bike
    assert [(u["count"], u["question"]) for u in r.unanswered] == [
        (4, DOG),
        (1, "Posso portare la bici?"),
        (1, PARKING),
    ]

    # Without the messages and the outbox, the log and the AI's numbers do not change...
    with rt.store.write() as conn:
        conn.execute(delete(messages))
        conn.execute(delete(outbox))

    def key(row):
        return (row["timestamp"], row["session_id"], row["user_message"])

    # (Without the outbox the log cannot be in commit order: it is in time order.)
    assert sorted(({**row, "sync": ""} for row in rows), key=key) == sorted(log.rows(), key=key)
    again = reports.report(D1, D3, "Europe/Rome")
    assert (again.top_intents, again.unanswered) == (r.top_intents, r.unanswered)
    # ...without the events, they are gone.
    with rt.store.write() as conn:
        conn.execute(delete(events))
    assert log.rows() == [] and log.intents() == []
    gone = reports.report(D1, D3, "Europe/Rome")
    assert gone.top_intents == [] and gone.unanswered == [] and gone.conversations == r.conversations


def test_upgrade_backfills_the_events_from_the_outbox(rt, seeded, settings):
    rt.worker.drain()  # some rows sent, some pending
    svc = ChatService(rt.store, FakeAnswerer(), rt.settings, clock=lambda: 1741780800.0)  # 2025-03-12 12:00Z
    s = svc.start_session("it", "ua")
    svc.visitor_message(s["session_id"], s["token"], "Quanto costa?")
    log = ConversationLog(rt.store)
    before = (log.rows(), log.intents(), report(rt.store, D0, D3, "Europe/Rome"))
    assert {row["sync"] for row in before[0]} == {"sent", "pending"}
    assert len(before[0]) > 30

    # The database as revision 0002 left it: no events table (nor the later tables, columns, indexes).
    with rt.store.engine.connect() as conn:
        if conn.dialect.name == "sqlite":  # downgrades recreate tables other tables refer to
            conn.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
        with conn.begin():
            command.downgrade(migrate.config(conn), "0002")
    rt.store.dispose()
    assert migrate.current(rt.store.engine) == "0002"

    store = Store(settings.database_url)  # opening the store upgrades it
    try:
        assert migrate.current(store.engine) == migrate.head()
        log = ConversationLog(store)
        assert (log.rows(), log.intents(), report(store, D0, D3, "Europe/Rome")) == before
        with store.read() as conn:
            kinds = set(conn.execute(select(events.c.kind)).scalars())
        assert kinds == {str(k) for k in EventKind} - {str(EventKind.ERASED)}  # no old row can be a tombstone
    finally:
        store.dispose()
