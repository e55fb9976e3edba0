"""Tickets: creation inside the flow's transactions, listing and follow-up,
and the views the dashboard's "Ticket" page shows (filtered lists, the AI
history decoded, the CSV export).

Every change to a ticket also upserts its row in the "Ticket" worksheet
through the outbox, in the same transaction.

`TicketService` is what the faces call; it holds the store. `create`,
`transcript` and `history` are used by `ChatService` inside its transactions.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select, update
from sqlalchemy.engine import Connection

from sportello.domain import NotFound, Role, TicketStatus, ValidationError, iso
from sportello.domain.validation import check_characters
from sportello.services.conversation_log import csv_bytes
from sportello.sinks.sheets import TICKETS
from sportello.store.database import Store
from sportello.store.outbox import enqueue
from sportello.store.tables import operators, tickets

FIELDS = [c.name for c in tickets.columns]
EXPORT_COLUMNS = [
    "id",
    "status",
    "created_at",
    "updated_at",
    "language",
    "contact_method",
    "contact_info",
    "operator_name",
    "assigned_to_name",
    "original_question",
    "resolution_reason",
    "conversation_transcript",
    "notes",
    "session_id",
]
LIST_COLUMNS = [
    "id",
    "status",
    "created_at",
    "contact_method",
    "contact_info",
    "original_question",
    "operator_name",
    "assigned_to_name",
]


_TIMES = ("started_at", "ended_at", "created_at", "updated_at")


def as_dict(row, keys: tuple[str, ...] | None = None) -> dict:
    """A ticket row as a dict, the times as ISO text; `keys`: the result's column names (once per result)."""
    d = dict(zip(keys or row._fields, row, strict=True))
    for key in _TIMES:
        d[key] = iso(d[key])
    return d


def sheet_values(t: dict) -> list:
    """A ticket as a row of the "Ticket" worksheet (see sportello.sinks.sheets.TICKET_HEADER)."""
    return [
        str(t["id"]),
        t["session_id"],
        t["status"],
        t["contact_method"],
        t["contact_info"],
        t["operator_name"],
        t["original_question"],
        t["conversation_transcript"],
        t["resolution_reason"],
        t["started_at"] or "",
        t["ended_at"] or "",
        t["conversation_history"],
        t["created_at"],
        t["updated_at"],
    ]


def _clock_label(ts: float, tz: str) -> str:
    try:
        zone = ZoneInfo(tz)
    except Exception:
        zone = UTC
    return datetime.fromtimestamp(ts, tz=zone).strftime("%H:%M")


def transcript(msgs: list[dict], tz: str, *, roles=(Role.USER, Role.OPERATOR, Role.BOT)) -> str:
    """`[HH:MM] Utente: …\\n[HH:MM] Mario: …` for the given messages."""
    lines = []
    for m in msgs:
        if m["role"] not in roles:
            continue
        who = "Utente" if m["role"] == Role.USER else m["author"]
        lines.append(f"[{_clock_label(m['created_at'], tz)}] {who}: {m['text']}")
    return "\n".join(lines)


def history(msgs: list[dict]) -> str:
    return json.dumps(
        [{"role": m["role"], "author": m["author"], "text": m["text"], "at": iso(m["created_at"])} for m in msgs],
        ensure_ascii=False,
    )


def create(conn: Connection, now: float, **fields) -> dict:
    values = {
        "original_question": "",
        "conversation_transcript": "",
        "operator_name": "",
        "started_at": None,
        "ended_at": None,
        "resolution_reason": "",
        "contact_info": "",
        "conversation_history": "[]",
        "language": "it",
        "notes": "",
        **fields,
        "created_at": now,
        "updated_at": now,
    }
    ticket_id = conn.execute(tickets.insert().values(**values)).inserted_primary_key[0]
    t = as_dict(conn.execute(select(tickets).where(tickets.c.id == ticket_id)).one())
    enqueue(conn, TICKETS, sheet_values(t), op="upsert", row_key=str(ticket_id), session_id=t["session_id"], now=now)
    return t


def get(store: Store, ticket_id: int) -> dict:
    with store.read() as conn:
        row = conn.execute(select(tickets).where(tickets.c.id == ticket_id)).first()
    if row is None:
        raise NotFound(f"ticket {ticket_id} not found", code="unknown_ticket")
    return as_dict(row)


def search(
    store: Store,
    *,
    status: str | None = None,
    session_id: str | None = None,
    q: str | None = None,
    assigned_to: int | None = None,
    limit: int = 100,
    offset: int = 0,
    statuses: list[str] | tuple[str, ...] | None = None,
) -> list[dict]:
    """Newest first, `status` (or any of `statuses`), the other filters; the LIMIT in SQL."""
    stmt = select(tickets).order_by(tickets.c.id.desc()).limit(min(max(limit, 1), 5000)).offset(max(offset, 0))
    wanted = sorted({status} if status else set(statuses or ()))
    if wanted:
        if not set(wanted) <= set(TicketStatus):
            raise ValidationError("status must be open, pending, resolved or closed", code="invalid_status")
        stmt = stmt.where(tickets.c.status == wanted[0] if len(wanted) == 1 else tickets.c.status.in_(wanted))
    if session_id:
        stmt = stmt.where(tickets.c.session_id == session_id)
    if assigned_to is not None:
        stmt = stmt.where(tickets.c.assigned_to == assigned_to)
    if q:
        like = f"%{q}%"
        stmt = stmt.where(
            or_(
                tickets.c.original_question.ilike(like),
                tickets.c.contact_info.ilike(like),
                tickets.c.conversation_transcript.ilike(like),
                tickets.c.operator_name.ilike(like),
                tickets.c.notes.ilike(like),
            )
        )
    with store.read() as conn:
        result = conn.execute(stmt)
        keys = tuple(result.keys())
        return [as_dict(r, keys) for r in result]


def update_ticket(
    store: Store,
    ticket_id: int,
    *,
    status: str | None = None,
    notes: str | None = None,
    append_note: str | None = None,
    assigned_to: int | None = None,
    unassign: bool = False,
    author: str = "",
) -> dict:
    values: dict = {}
    if status is not None:
        if status not in set(TicketStatus):
            raise ValidationError("status must be open, pending, resolved or closed", code="invalid_status")
        values["status"] = status
    for name, text in (("notes", notes), ("note", append_note)):
        if text is not None:
            check_characters(text, name)  # a NUL would be a 500 on PostgreSQL
    if notes is not None:
        values["notes"] = notes
    now = time.time()
    with store.write() as conn:
        row = conn.execute(select(tickets).where(tickets.c.id == ticket_id).with_for_update()).first()
        if row is None:
            raise NotFound(f"ticket {ticket_id} not found", code="unknown_ticket")
        if append_note:
            stamp = iso(now)
            prefix = f"{row.notes}\n" if row.notes else ""
            values["notes"] = f"{prefix}[{stamp}] {author}: {append_note.strip()}"
        if assigned_to is not None:
            if conn.execute(select(operators.c.id).where(operators.c.id == assigned_to)).first() is None:
                raise ValidationError("unknown operator", code="unknown_operator")
            values["assigned_to"] = assigned_to
        if unassign:
            values["assigned_to"] = None
        if not values:
            raise ValidationError("nothing to update", code="empty_update")
        values["updated_at"] = now
        conn.execute(update(tickets).where(tickets.c.id == ticket_id).values(**values))
        t = as_dict(conn.execute(select(tickets).where(tickets.c.id == ticket_id)).one())
        enqueue(
            conn, TICKETS, sheet_values(t), op="upsert", row_key=str(ticket_id), session_id=t["session_id"], now=now
        )
    return t


# ---------------------------------------------------------------------------
# The dashboard's views: filtered lists with the assignee's name, the AI
# history, the CSV export.


def operator_names(store: Store) -> dict[int, str]:
    with store.read() as conn:
        return {r.id: r.display_name for r in conn.execute(select(operators.c.id, operators.c.display_name))}


def list_tickets(
    store: Store,
    *,
    statuses: list[str] | tuple[str, ...] | None = None,
    q: str | None = None,
    assigned_to: int | None = None,
    limit: int = 5000,
) -> list[dict]:
    """Tickets newest first, with any of `statuses` (all when empty), matching `q`."""
    q = (q or "").strip() or None
    found = search(store, statuses=statuses, q=q, assigned_to=assigned_to, limit=limit)
    names = operator_names(store)
    for t in found:
        t["assigned_to_name"] = names.get(t["assigned_to"], "") if t["assigned_to"] is not None else ""
    return found


def history_messages(ticket: dict) -> list[dict]:
    """The conversation before the hand-off ("AI history") as a list of messages."""
    try:
        items = json.loads(ticket.get("conversation_history") or "[]")
    except ValueError:
        return []
    return [
        {
            "role": str(m.get("role", "")),
            "author": str(m.get("author", "")),
            "text": str(m.get("text", "")),
            "at": str(m.get("at", "")),
        }
        for m in items
        if isinstance(m, dict)
    ]


def export_csv(rows: list[dict]) -> bytes:
    """The rows of `list_tickets` as CSV (EXPORT_COLUMNS)."""
    return csv_bytes(EXPORT_COLUMNS, rows)


def mask_contact(value: str) -> str:
    """`a***@example.org`, `+39*******567`: enough to recognise a contact, not to use it."""
    value = (value or "").strip()
    if not value:
        return ""
    if "@" in value:
        local, _, domain = value.rpartition("@")
        return f"{local[:1]}***@{domain}"
    if len(value) <= 6:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 6) + value[-3:]


def masked(rows: list[dict]) -> list[dict]:
    """Copies of ticket rows with the contact masked (lists and exports for non-admins)."""
    return [{**r, "contact_info": mask_contact(r.get("contact_info") or "")} for r in rows]


class TicketService:
    """Tickets for the faces (the API, the dashboard): the store stays inside."""

    def __init__(self, store: Store):
        self._store = store

    @staticmethod
    def for_viewer(rows: list[dict], operator: dict) -> list[dict]:
        """Ticket rows as `operator` may see them in a list or an export: contacts in full for
        admins, masked (a***@example.org) for the others; one ticket opened shows its own."""
        return rows if operator.get("is_admin") else masked(rows)

    def get(self, ticket_id: int) -> dict:
        return get(self._store, ticket_id)

    def search(
        self,
        *,
        status: str | None = None,
        session_id: str | None = None,
        q: str | None = None,
        assigned_to: int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[dict]:
        """Newest first; one status at most (the API's filter)."""
        return search(
            self._store,
            status=status,
            session_id=session_id,
            q=q,
            assigned_to=assigned_to,
            limit=limit,
            offset=offset,
        )

    def list(
        self,
        *,
        statuses: list[str] | tuple[str, ...] | None = None,
        q: str | None = None,
        assigned_to: int | None = None,
        limit: int = 5000,
    ) -> list[dict]:
        """Newest first, any of `statuses`, with `assigned_to_name` (the dashboard's list)."""
        return list_tickets(self._store, statuses=statuses, q=q, assigned_to=assigned_to, limit=limit)

    def update(
        self,
        ticket_id: int,
        *,
        status: str | None = None,
        notes: str | None = None,
        append_note: str | None = None,
        assigned_to: int | None = None,
        unassign: bool = False,
        author: str = "",
    ) -> dict:
        return update_ticket(
            self._store,
            ticket_id,
            status=status,
            notes=notes,
            append_note=append_note,
            assigned_to=assigned_to,
            unassign=unassign,
            author=author,
        )

    def operator_names(self) -> dict[int, str]:
        """{operator id: display name}, for assignee pickers."""
        return operator_names(self._store)

    @staticmethod
    def history_messages(ticket: dict) -> list[dict]:
        return history_messages(ticket)

    @staticmethod
    def export_csv(rows: list[dict]) -> bytes:
        return export_csv(rows)
