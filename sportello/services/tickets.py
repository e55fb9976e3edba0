"""Tickets: creation inside the flow's transactions, listing and follow-up,
and the views the dashboard's "Ticket" page shows (filtered lists, the AI
history decoded, the CSV export).

Every change to a ticket also upserts its row in the "Ticket" worksheet
(laid out by `sportello.sinks.layout.ticket_row`) through the outbox, in the
same transaction.

`TicketService` is what the faces call; it holds the store. `create`,
`transcript` and `history` are used by `ChatService` inside its transactions.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.engine import Connection

from sportello.domain import NotFound, Role, TicketStatus, ValidationError, iso
from sportello.domain.hours import zone
from sportello.domain.validation import check_characters
from sportello.services import alerts, ticket_lifecycle
from sportello.services.conversation_log import EXCEL_DELIMITER, csv_bytes
from sportello.sinks.layout import TICKETS, ticket_row
from sportello.store import tickets as ticket_table
from sportello.store.database import Store
from sportello.store.outbox import enqueue

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


def upsert_sheet_row(conn: Connection, t: dict, now: float) -> None:
    """Put the ticket's "Ticket" row in the outbox, in `conn`'s transaction (upserted by id)."""
    enqueue(conn, TICKETS, ticket_row(t), op="upsert", row_key=str(t["id"]), session_id=t["session_id"], now=now)


def local_stamp(value: float | str | None, tz: str, fmt: str = "%d/%m/%Y %H:%M:%S") -> str:
    """Epoch seconds or ISO text as the venue's local time (TIMEZONE); "" when missing."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return value
    return datetime.fromtimestamp(value, tz=zone(tz, or_utc=True)).strftime(fmt)


def _clock_label(ts: float, tz: str) -> str:
    return datetime.fromtimestamp(ts, tz=zone(tz, or_utc=True)).strftime("%H:%M")


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
    # A ticket born resolved (a released live chat) has its service levels; a visitor's
    # contact (an open ticket) alerts the staff, in this transaction (services/alerts.py).
    if values.get("status") == TicketStatus.RESOLVED:
        values.update(first_response_at=values["started_at"] or now, resolved_at=now)
    t = ticket_table.insert(conn, values)
    if t["status"] == TicketStatus.OPEN:
        alerts.ticket_created(conn, t, now)
    upsert_sheet_row(conn, t, now)
    return t


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
    if value.startswith("+"):
        # "0039*******567", never "+39…": a cell starting with + is a formula to a spreadsheet, and safe_cell's
        # guard (a leading ') would show in Excel. 00 is the same international prefix, written safely.
        return "00" + value[1:3] + "*" * (len(value) - 6) + value[-3:]
    return value[:3] + "*" * (len(value) - 6) + value[-3:]


def mask_in(text: str, contact: str) -> str:
    """`text` with every occurrence of `contact` masked (a transcript, a message quoting it)."""
    contact = (contact or "").strip()
    return text.replace(contact, mask_contact(contact)) if contact and text else text


def masked(rows: list[dict]) -> list[dict]:
    """Copies of ticket rows with the contact masked, also where a text quotes it (for non-admins)."""
    out = []
    for r in rows:
        contact = r.get("contact_info") or ""
        row = {**r, "contact_info": mask_contact(contact)}
        for name in ("conversation_transcript", "conversation_history", "notes", "original_question"):
            if isinstance(row.get(name), str):
                row[name] = mask_in(row[name], contact)
        out.append(row)
    return out


def sees_contacts(viewer: dict | None) -> bool:
    """Whether `viewer` (an operator; None: a trusted caller such as the CLI) reads contacts in full."""
    return viewer is None or bool(viewer.get("is_admin"))


def _check_status(statuses) -> None:
    if not set(statuses) <= set(TicketStatus):
        raise ValidationError("status must be open, pending, resolved or closed", code="invalid_status")


class TicketService:
    """Tickets for the faces (the API, the dashboard): the store stays inside."""

    def __init__(self, store: Store, *, clock=time.time, tz: str = "UTC"):
        self._store = store
        self.clock = clock
        self.tz = tz  # TIMEZONE: notes are stamped in the venue's time, as everything the operators read

    @staticmethod
    def for_viewer(rows: list[dict], operator: dict | None) -> list[dict]:
        """Ticket rows as `operator` may see them, everywhere (a list, an export, one ticket): contacts
        in full for admins, masked (a***@example.org) for the others, also where a text quotes them."""
        return rows if sees_contacts(operator) else masked(rows)

    def get(self, ticket_id: int, *, viewer: dict | None = None) -> dict:
        """One ticket, as `viewer` may see it (for_viewer)."""
        with self._store.read() as conn:
            t = ticket_table.get(conn, ticket_id)
        if t is None:
            raise NotFound(f"ticket {ticket_id} not found", code="unknown_ticket")
        return self.for_viewer([t], viewer)[0]

    def search(
        self,
        *,
        status: str | None = None,
        session_id: str | None = None,
        q: str | None = None,
        assigned_to: int | None = None,
        limit: int = 100,
        offset: int = 0,
        statuses: list[str] | tuple[str, ...] | None = None,
        viewer: dict | None = None,
        unassigned: bool = False,
    ) -> list[dict]:
        """Newest first, `status` (or any of `statuses`: the dashboard's filter), the other filters;
        as `viewer` may see them (for_viewer), and `q` matches a contact only for a viewer who reads it."""
        wanted = {status} if status else set(statuses or ())
        _check_status(wanted)
        with self._store.read() as conn:
            found = ticket_table.search(
                conn,
                statuses=wanted,
                session_id=session_id,
                q=q,
                assigned_to=assigned_to,
                limit=min(max(limit, 1), 5000),
                offset=max(offset, 0),
                contact=sees_contacts(viewer),
                unassigned=unassigned,
            )
        return self.for_viewer(found, viewer)

    def list(
        self,
        *,
        statuses: list[str] | tuple[str, ...] | None = None,
        q: str | None = None,
        assigned_to: int | None = None,
        limit: int = 5000,
        viewer: dict | None = None,
        unassigned: bool = False,
    ) -> list[dict]:
        """Newest first, any of `statuses` (all when empty), matching `q`, assigned to `assigned_to` (or to
        nobody: `unassigned`), with `assigned_to_name` (the dashboard's list)."""
        q = (q or "").strip() or None
        found = self.search(
            statuses=statuses, q=q, assigned_to=assigned_to, limit=limit, viewer=viewer, unassigned=unassigned
        )
        names = self.operator_names()
        for t in found:
            t["assigned_to_name"] = names.get(t["assigned_to"], "") if t["assigned_to"] is not None else ""
        return found

    def of_same_contact(self, session_id: str, *, exclude: int | None = None, viewer: dict | None = None) -> list[dict]:
        """The visitor's tickets, newest first: those of the same session and those sharing a contact one of
        them left (not `exclude`, the ticket being read), as `viewer` may see them (for_viewer)."""
        with self._store.read() as conn:
            found = ticket_table.of_same_contact(conn, session_id)
        return self.for_viewer([t for t in found if t["id"] != exclude], viewer)

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
        values: dict = {}
        if status is not None:
            _check_status({status})
        for name, text in (("notes", notes), ("note", append_note)):
            if text is not None:
                check_characters(text, name)  # a NUL would be a 500 on PostgreSQL
        if notes is not None:
            values["notes"] = notes
        now = self.clock()
        with self._store.write() as conn:
            row = ticket_table.get(conn, ticket_id, for_update=True)
            if row is None:
                raise NotFound(f"ticket {ticket_id} not found", code="unknown_ticket")
            if status is not None:  # the life cycle's rule (domain/tickets.py), its event and service levels
                values.update(ticket_lifecycle.status_change(conn, row, status, now, author))
            if append_note:
                prefix = f"{row['notes']}\n" if row["notes"] else ""
                stamp = local_stamp(now, self.tz, "%d/%m/%Y %H:%M")
                values["notes"] = f"{prefix}[{stamp}] {author}: {append_note.strip()}"
            if assigned_to is not None:
                if not ticket_table.operator_exists(conn, assigned_to):
                    raise ValidationError("unknown operator", code="unknown_operator")
                values["assigned_to"] = assigned_to
            if unassign:
                values["assigned_to"] = None
            if not values:
                if status is not None:  # already in that status, nothing else asked: nothing to write
                    return row
                raise ValidationError("nothing to update", code="empty_update")
            values["updated_at"] = now
            t = ticket_table.set_values(conn, ticket_id, values)
            upsert_sheet_row(conn, t, now)
        return t

    def operator_names(self) -> dict[int, str]:
        """{operator id: display name}, for assignee pickers."""
        with self._store.read() as conn:
            return ticket_table.operator_names(conn)

    @staticmethod
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

    @staticmethod
    def export_csv(rows: list[dict]) -> bytes:
        """The rows of `list` as CSV (EXPORT_COLUMNS)."""
        return csv_bytes(EXPORT_COLUMNS, rows)

    @staticmethod
    def export_excel(rows: list[dict], tz: str, status_label: Callable[[str], str]) -> bytes:
        """The rows of `list` for Excel with Italian settings: ';' between columns, UTF-8 with a BOM, the
        times in TIMEZONE ("05/03/2025 14:30:00"), the status as the dashboard names it (`status_label`)."""
        out = [
            {
                **r,
                "status": status_label(r["status"]),
                "created_at": local_stamp(r["created_at"], tz),
                "updated_at": local_stamp(r["updated_at"], tz),
            }
            for r in rows
        ]
        return csv_bytes(EXPORT_COLUMNS, out, delimiter=EXCEL_DELIMITER)
