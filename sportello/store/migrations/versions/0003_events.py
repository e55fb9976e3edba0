"""Events: one row per step of a conversation, read by the analytics and the dashboard log.

Backfills the events of an existing database from its outbox "Conversazioni"
rows (best effort): the kind comes from the intent column, the fields from
the cells, undoing the seed's layout, so that the log and the reports of an
upgraded database keep their history. The layout is copied here on purpose:
a released revision must not change when the application's code does.

Revision ID: 0003
Revises: 0002
"""

import json
import re

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BATCH = 1000

# intent_detected -> kind, for the steps whose intent is fixed.
FIXED = {
    "operator_request": "operator_requested",
    "operator_declined": "offer_declined",
    "operator_queue": "queued",
    "operator_unavailable": "no_operator",
    "queue_user_message": "queue_message",
    "queue_timeout": "queue_timeout",
    "contact_prompt": "contact_prompt",
    "ticket_created": "ticket_created",
    "chat_handover": "handover",
    "live_chat_user_message": "live_visitor_message",
    "live_chat_operator_message": "operator_message",
    "live_chat_operator": "chat_completed",
    "satisfaction_rating": "satisfaction_rating",  # rows of a later schema, backfilled again
    "chat_transfer": "transferred",  # likewise
    "call_logged": "call_logged",  # likewise
    "ticket_status_changed": "ticket_status_changed",  # likewise
    "alert_sent": "alert_sent",  # likewise
    "ticket_reply_sent": "ticket_reply_sent",  # likewise
    "ticket_reply_failed": "ticket_reply_failed",  # likewise
    "ticket_visitor_reply": "ticket_visitor_reply",  # likewise
}
# Intents of the AI's turns that offer a person (the answerer's escalations).
NO_ANSWER = {"no_answer", "emergency", "complaint", "personal_case"}

outbox = sa.table(
    "outbox",
    sa.column("id", sa.Integer),
    sa.column("event_id", sa.String),
    sa.column("worksheet", sa.String),
    sa.column("session_id", sa.String),
    sa.column("payload", sa.Text),
    sa.column("created_at", sa.Float),
)
sessions = sa.table("sessions", sa.column("id", sa.String), sa.column("user_agent", sa.String))


def upgrade() -> None:
    events = op.create_table(
        "events",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("session_id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("intent", sa.String(64), nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("reply", sa.Text, nullable=False),
        sa.Column("question", sa.Text, nullable=False),
        sa.Column("operator", sa.String(128), nullable=False),
        sa.Column("user_agent", sa.String(512), nullable=False),
        sa.Column("ticket_id", sa.Integer, nullable=True),
        sa.Column("contact_method", sa.String(16), nullable=False),
        sa.Column("transcript", sa.Text, nullable=False),
    )
    op.create_index("ix_events_kind_at", "events", ["kind", "at"])
    op.create_index("ix_events_intent_at", "events", ["intent", "at"])
    op.create_index("ix_events_session_at", "events", ["session_id", "at"])
    op.create_index("ix_events_at", "events", ["at"])
    backfill(op.get_bind(), events)


def downgrade() -> None:
    op.drop_table("events")


def backfill(conn, events) -> None:
    """Insert the events of the outbox's "Conversazioni" rows, BATCH rows at a time."""
    last = 0
    while True:
        rows = conn.execute(
            sa.select(
                outbox.c.id,
                outbox.c.event_id,
                outbox.c.session_id,
                outbox.c.payload,
                outbox.c.created_at,
                sessions.c.user_agent,
            )
            .select_from(outbox.outerjoin(sessions, sessions.c.id == outbox.c.session_id))
            .where(outbox.c.worksheet == "Conversazioni", outbox.c.id > last)
            .order_by(outbox.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        last = rows[-1].id
        batch = [from_row(r.event_id, r.session_id, r.payload, r.created_at, r.user_agent) for r in rows]
        batch = [e for e in batch if e is not None]
        if batch:
            conn.execute(events.insert(), batch)


def _after(prefix: str, cell: str) -> str:
    """The cell without the layout's prefix (the whole cell if it does not have it)."""
    return cell[len(prefix) :] if cell.startswith(prefix) else cell


def _ticket_step(e: dict, kind: str, user: str, reply: str, ua: str) -> None:
    """The fields of a call back, a ticket status change or an alert from their cells."""
    e.update(operator=_after("Operatore: ", ua) if ua.startswith("Operatore: ") else "")
    if kind == "call_logged":
        m = re.match(r"\[CHIAMATA TICKET #(\d+)\] (.*)\Z", user, re.DOTALL)
        r = re.match(r"📞 (.*?)(?: - prossimo tentativo (\S+))?\Z", reply, re.DOTALL)
        e.update(ticket_id=int(m.group(1)) if m else None, text=m.group(2) if m else user)
        e.update(reply=r.group(1) if r else reply, question=(r.group(2) or "") if r else "")
    elif kind == "ticket_status_changed":
        m = re.match(r"\[TICKET #(\d+)\] (.*) -> (.*)\Z", user, re.DOTALL)
        e.update(ticket_id=int(m.group(1)) if m else None, text=m.group(2) if m else "")
        e.update(reply=m.group(3) if m else _after("🎫 Stato: ", reply))
    else:
        m = re.match(r"\[AVVISO\] (?:#(\d+) )?(.*)\Z", user, re.DOTALL)
        e.update(ticket_id=int(m.group(1)) if m and m.group(1) else None, text=m.group(2) if m else user)
        e.update(reply=_after("🔔 Avviso inviato: ", reply))


def from_row(event_id, session_id, payload, created_at, session_user_agent) -> dict | None:
    """The event an outbox "Conversazioni" row was laid out from (None if the row is unreadable)."""
    try:
        values = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(values, list):
        return None
    cells = ["" if v is None else str(v) for v in values] + [""] * 6
    _, row_session, user, reply, intent, ua = cells[:6]
    session_id = session_id or row_session
    if not session_id:
        return None
    kind = FIXED.get(intent) or ("ai_no_answer" if intent in NO_ANSWER else "ai_answered")
    e = {
        "id": event_id,
        "session_id": session_id[:32],
        "kind": kind,
        "intent": intent[:64],
        "at": float(created_at),
        "text": "",
        "reply": "",
        "question": "",
        "operator": "",
        "user_agent": ua,
        "ticket_id": None,
        "contact_method": "",
        "transcript": "",
    }
    if kind in ("ai_answered", "ai_no_answer", "operator_requested", "contact_prompt"):
        e.update(text=user, reply=reply)
    elif kind in ("queued", "no_operator"):
        e.update(question=_after("[RICHIESTA OPERATORE] ", user), reply=reply)
    elif kind == "offer_declined":
        e.update(reply=reply)
    elif kind == "queue_message":
        e.update(text=_after("[IN CODA] ", user))
    elif kind == "queue_timeout":
        e.update(question=_after("[TIMEOUT CODA] ", user), reply=reply)
    elif kind == "ticket_created":
        m = re.match(r"\[TICKET #(\d+)\] (.*)\Z", user, re.DOTALL)
        if m:
            e.update(ticket_id=int(m.group(1)), question=m.group(2))
        else:
            e.update(question=user)
        e.update(contact_method=reply.rpartition("contatto: ")[2][:16])
    elif kind == "satisfaction_rating":
        m = re.match(r"rating (\d/5)(?:: (.*))?\Z", reply, re.DOTALL)
        e.update(reply=m.group(1) if m else reply, text=(m.group(2) or "") if m else "")
        e.update(operator=_after("Operatore: ", ua) if ua.startswith("Operatore: ") else "")
        e["user_agent"] = session_user_agent or ""
    elif kind == "transferred":
        m = re.match(r"Transfer (.*) -> (.*)\Z", ua, re.DOTALL)
        e.update(question=_after("[TRASFERIMENTO] ", user), reply=_after("🔄 ", reply))
        e.update(text=m.group(1) if m else "", operator=m.group(2) if m else "")
        e["user_agent"] = session_user_agent or ""
    elif kind in ("call_logged", "ticket_status_changed", "alert_sent"):  # no user agent of their own
        _ticket_step(e, kind, user, reply, ua)
        e["user_agent"] = session_user_agent or ""
    elif kind in ("ticket_reply_sent", "ticket_reply_failed"):  # [RISPOSTA EMAIL #7] / ✉️ Mario: text / Email - Mario
        m = re.match(r"\[[A-Z ]+ #(\d+)\]\Z", user)
        operator = _after("Email - ", ua)
        said = reply.partition(f"{operator}: ")[2] if operator else reply
        e.update(ticket_id=int(m.group(1)) if m else None, operator=operator)
        e.update(text=said) if kind == "ticket_reply_sent" else e.update(reply=said)
        e["user_agent"] = session_user_agent or ""
    elif kind == "ticket_visitor_reply":  # [RISPOSTA TICKET #7] text
        m = re.match(r"\[RISPOSTA TICKET #(\d+)\] (.*)\Z", user, re.DOTALL)
        e.update(ticket_id=int(m.group(1)) if m else None, text=m.group(2) if m else user)
        e["user_agent"] = session_user_agent or ""
    else:  # the live chat: the user agent cell names the operator
        e["user_agent"] = session_user_agent or ""
        if kind == "handover":
            e.update(question=_after("[HANDOVER] ", user), operator=_after("Handover to ", ua))
        elif kind == "live_visitor_message":
            e.update(text=_after("[CHAT LIVE] ", user), operator=_after("Chat Live con ", ua))
        elif kind == "operator_message":
            name = _after("Chat Live - ", ua)
            e.update(operator=name, text=_after(f"👨‍💼 {name}: ", reply))
        elif kind == "chat_completed":
            e.update(operator=_after("Operatore: ", ua), transcript=_after("[CHAT LIVE COMPLETATA] ", reply))
    e["user_agent"] = e["user_agent"][:512]
    e["operator"] = e["operator"][:128]
    return e
