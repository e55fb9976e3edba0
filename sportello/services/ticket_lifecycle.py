"""A ticket's status changes and its service levels, inside the caller's transaction.

The rule (which status may follow which) is `sportello.domain.tickets.TICKET_TRANSITIONS`; this
module applies it to a ticket row: it returns the columns to write and records the
`ticket_status_changed` event (a "Conversazioni" row). The caller (`TicketService.update`, a
call back, an email reply) writes the columns and upserts the "Ticket" row in the same transaction.

Service levels, stored on the ticket:

- `first_response_at`: the first time staff answered the visitor: a call back logged, a move out of
  "open" (to pending, resolved or closed), an email reply (`responded`);
- `resolved_at`: when the ticket last became resolved or closed; cleared when it is opened again.
"""

from __future__ import annotations

from sqlalchemy.engine import Connection

from sportello.domain.events import Event, EventKind
from sportello.domain.tickets import DONE, OPEN, next_ticket_status
from sportello.services.events import record


def responded(ticket: dict, now: float) -> dict:
    """The columns that mark the ticket answered now (nothing if it was answered before)."""
    return {"first_response_at": now} if ticket.get("first_response_at") is None else {}


def status_change(conn: Connection, ticket: dict, wanted: str, now: float, author: str = "") -> dict:
    """The columns that move `ticket` to `wanted` ({} when it is there already), after recording the
    event; a ValidationError for an unknown status, a Conflict (`invalid_transition`) for a move the
    life cycle does not allow."""
    new = next_ticket_status(ticket["status"], wanted)
    if new is None:
        return {}
    values: dict = {"status": new.value}
    if new in DONE and (ticket.get("resolved_at") is None or ticket["status"] not in DONE):
        values["resolved_at"] = now
    if new == OPEN:
        values["resolved_at"] = None
    else:
        values |= responded(ticket, now)
    record(
        conn,
        Event(
            EventKind.TICKET_STATUS_CHANGED,
            ticket["session_id"],
            now,
            text=ticket["status"],
            reply=new.value,
            operator=author,
            ticket_id=ticket["id"],
        ),
    )
    return values
