"""Calls back to the visitors of phone tickets: log each attempt, say when the next one is due.

An operator logs a call (reached, no answer, left a message) with an optional note and an optional
time for the next attempt; without one, the next attempt is due `CALLBACK_DELAY_MIN` minutes later
(none after the visitor was reached). In ONE transaction: the `ticket_calls` row, the ticket's
attempt count, next call and first response (`sportello.services.ticket_lifecycle.responded`), the
`call_logged` event ("Conversazioni") and the ticket's "Ticket" row through the outbox.
The ticket list puts the tickets to call back first, the most overdue first (`by_due`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from sportello.domain import Conflict, ContactMethod, NotFound, TicketStatus, ValidationError, iso
from sportello.domain.events import Event, EventKind
from sportello.domain.tickets import check_outcome, due_key, next_attempt
from sportello.domain.validation import check_characters
from sportello.services.events import record
from sportello.services.ticket_lifecycle import responded
from sportello.services.tickets import mask_in, sees_contacts, upsert_sheet_row
from sportello.store import calls as call_table
from sportello.store import tickets as ticket_table
from sportello.store.database import Store

MAX_NOTE = 2000


def parse_when(value: object) -> float | None:
    """`next_attempt_at` as epoch seconds: a number, or ISO-8601 text (UTC when it names no zone)."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            when = datetime.fromisoformat(value.strip())
        except ValueError:
            pass
        else:
            return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()
    raise ValidationError("next_attempt_at must be an ISO-8601 time or epoch seconds", code="invalid_next_attempt_at")


def by_due(rows: list[dict]) -> list[dict]:
    """The tickets in call-back order: the phone tickets to call first, the most overdue first, then
    the others newest first (`sportello.domain.tickets.due_key`)."""
    return sorted(rows, key=due_key)


class CallbackService:
    """The phone call-backs, for the faces (the API, the dashboard's Ticket page)."""

    def __init__(self, store: Store, *, delay_s: float = 3600.0, clock: Callable[[], float] = time.time):
        self._store = store
        self.delay_s = delay_s
        self.clock = clock

    def log_call(
        self,
        ticket_id: int,
        operator: dict,
        outcome: object,
        note: object = None,
        next_attempt_at: object = None,
    ) -> dict:
        """Log one call back; return {"call": the call, "ticket": the ticket as stored}."""
        result = check_outcome(outcome)
        if note is not None and not isinstance(note, str):
            raise ValidationError("note must be text", code="invalid_note")
        note = (note or "").strip()
        check_characters(note, "note")
        if len(note) > MAX_NOTE:
            raise ValidationError(f"note is longer than {MAX_NOTE} characters", code="note_too_long")
        wanted = parse_when(next_attempt_at)
        now = self.clock()
        due = next_attempt(result, now, self.delay_s, wanted)
        with self._store.write() as conn:
            ticket = ticket_table.get(conn, ticket_id, for_update=True)
            if ticket is None:
                raise NotFound(f"ticket {ticket_id} not found", code="unknown_ticket")
            if ticket["contact_method"] != ContactMethod.PHONE:
                raise Conflict("calls are logged on phone tickets only", code="not_a_phone_ticket")
            if ticket["status"] == TicketStatus.CLOSED:
                raise Conflict("the ticket is closed", code="ticket_closed")
            attempt = (ticket["call_attempts"] or 0) + 1
            call = call_table.insert(
                conn,
                {
                    "ticket_id": ticket_id,
                    "session_id": ticket["session_id"],
                    "attempt": attempt,
                    "outcome": result.value,
                    "note": note,
                    "next_attempt_at": due,
                    "operator_id": operator.get("id"),
                    "operator_name": operator.get("display_name", ""),
                    "created_at": now,
                },
            )
            record(
                conn,
                Event(
                    EventKind.CALL_LOGGED,
                    ticket["session_id"],
                    now,
                    text=note,
                    reply=f"{result.value} ({attempt})",
                    question=iso(due) or "",
                    operator=operator.get("display_name", ""),
                    ticket_id=ticket_id,
                ),
            )
            values = {"call_attempts": attempt, "next_call_at": due, "updated_at": now, **responded(ticket, now)}
            t = ticket_table.set_values(conn, ticket_id, values)
            upsert_sheet_row(conn, t, now)
        return {"call": call, "ticket": t}

    def calls(self, ticket_id: int, *, viewer: dict | None = None) -> list[dict]:
        """The ticket's calls, first first; a note quoting the contact masked for a viewer who may not read it."""
        with self._store.read() as conn:
            ticket = ticket_table.get(conn, ticket_id)
            if ticket is None:
                raise NotFound(f"ticket {ticket_id} not found", code="unknown_ticket")
            found = call_table.of_ticket(conn, ticket_id)
        if not sees_contacts(viewer):
            found = [{**c, "note": mask_in(c["note"], ticket["contact_info"])} for c in found]
        return found
