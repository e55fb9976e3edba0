"""A ticket's life cycle, phone call-backs and staff alerts: the rules, in one place.

`TICKET_TRANSITIONS` says which status may follow which, as `TRANSITIONS` (domain/states.py) does for a
chat: open -> pending (waiting for the visitor) -> resolved -> closed, with the moves back a desk needs
(the visitor answered: pending -> open; reopened: resolved -> open). Closed is final. Moving to the
status a ticket already has is no move (`next_ticket_status` returns None).
"""

from __future__ import annotations

from enum import StrEnum

from sportello.domain.errors import Conflict, ValidationError
from sportello.domain.states import TicketStatus

OPEN, PENDING, RESOLVED, CLOSED = TicketStatus.OPEN, TicketStatus.PENDING, TicketStatus.RESOLVED, TicketStatus.CLOSED

TICKET_TRANSITIONS: dict[TicketStatus, frozenset[TicketStatus]] = {
    OPEN: frozenset({PENDING, RESOLVED, CLOSED}),
    PENDING: frozenset({OPEN, RESOLVED, CLOSED}),  # open again: the visitor answered
    RESOLVED: frozenset({CLOSED, OPEN}),  # open again: reopened
    CLOSED: frozenset(),  # final
}
# The statuses in which a ticket is done (its time to resolution is measured up to the first of them).
DONE = frozenset({RESOLVED, CLOSED})


def check_status(status: str) -> TicketStatus:
    try:
        return TicketStatus(status)
    except ValueError:
        raise ValidationError("status must be open, pending, resolved or closed", code="invalid_status") from None


def next_ticket_status(current: str, wanted: str) -> TicketStatus | None:
    """The status `wanted` if a ticket in `current` may move to it; None when it is `current` already
    (nothing to do); a Conflict (`invalid_transition`) naming both when the move is not allowed."""
    new = check_status(wanted)
    now = check_status(current)
    if new == now:
        return None
    if new not in TICKET_TRANSITIONS[now]:
        allowed = ", ".join(sorted(TICKET_TRANSITIONS[now])) or "none: it is final"
        raise Conflict(
            f"a ticket cannot go from '{now}' to '{new}' (from '{now}': {allowed})", code="invalid_transition"
        )
    return new


class CallOutcome(StrEnum):
    """How a call back to a phone ticket went."""

    REACHED = "reached"
    NO_ANSWER = "no_answer"
    LEFT_MESSAGE = "left_message"


def check_outcome(outcome: object) -> CallOutcome:
    try:
        return CallOutcome(str(outcome))
    except ValueError:
        raise ValidationError("outcome must be reached, no_answer or left_message", code="invalid_outcome") from None


def next_attempt(outcome: CallOutcome, now: float, delay_s: float, wanted: float | None = None) -> float | None:
    """When to call again: what the operator set (`wanted`, which must be in the future), else `delay_s`
    from now; never after the visitor was reached unless the operator set a time."""
    if wanted is not None:
        if wanted <= now:
            raise ValidationError("next_attempt_at must be in the future", code="invalid_next_attempt_at")
        return wanted
    return None if outcome == CallOutcome.REACHED else now + delay_s


def due_key(ticket: dict) -> tuple:
    """Sort key of the ticket list: the phone tickets still to call back first, the most overdue
    first (never called: due since they were opened), then every other ticket newest first.
    Times are the tickets' ISO-8601 UTC text, which sorts as the times do."""
    due = ticket.get("next_call_at")
    if due is None and not ticket.get("call_attempts"):
        due = ticket.get("created_at")
    to_call = ticket.get("contact_method") == "phone" and ticket.get("status") in (OPEN, PENDING) and due is not None
    return (0, due, ticket["id"]) if to_call else (1, "", -ticket["id"])


class AlertKind(StrEnum):
    """What a staff alert is about."""

    CHAT_WAITING = "chat_waiting"  # a visitor waits in the queue longer than ALERT_WAITING_S
    NEW_TICKET = "new_ticket"  # a visitor left a contact: a ticket was opened
    VISITOR_REPLIED = "visitor_replied"  # a visitor answered on a ticket


class AlertChannel(StrEnum):
    """Where an alert goes: the webhook (ALERT_WEBHOOK_URL) and/or the staff address (ALERT_EMAIL)."""

    WEBHOOK = "webhook"
    EMAIL = "email"
