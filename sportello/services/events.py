"""Recording a step of the flow: the event and its sheet row, in the caller's transaction.

The one place that lays out an event for the sheet (`sportello.sinks.layout`) and stores it
(`sportello.store.events.insert`: the `events` row and the outbox row, which commit together,
so the row reaches the sheet exactly once). The services call `record` inside their
transactions.
"""

from __future__ import annotations

from sqlalchemy.engine import Connection

from sportello.domain.events import Event
from sportello.sinks.layout import CONVERSATIONS, conversation_row
from sportello.store import events as event_table


def record(conn: Connection, event: Event) -> str:
    """Write the event and its "Conversazioni" row in `conn`'s transaction; return the event id."""
    return event_table.insert(conn, event, CONVERSATIONS, conversation_row(event))
