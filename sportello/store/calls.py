"""The calls back to phone tickets (`ticket_calls`): the statements `sportello.services.callbacks`
composes. Rows come back as dicts, times as ISO text."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from sportello.domain import iso
from sportello.store.tables import ticket_calls

_TIMES = ("next_attempt_at", "created_at")


def _dict(row) -> dict:
    d = dict(row._mapping)
    for key in _TIMES:
        d[key] = iso(d[key])
    return d


def insert(conn: Connection, values: dict) -> dict:
    """Insert one call; return it as stored."""
    call_id = conn.execute(ticket_calls.insert().values(**values)).inserted_primary_key[0]
    return _dict(conn.execute(select(ticket_calls).where(ticket_calls.c.id == call_id)).one())


def of_ticket(conn: Connection, ticket_id: int) -> list[dict]:
    """The ticket's calls, first first."""
    stmt = select(ticket_calls).where(ticket_calls.c.ticket_id == ticket_id).order_by(ticket_calls.c.id)
    return [_dict(r) for r in conn.execute(stmt)]


def erase_sessions(conn: Connection, session_ids: Collection[str]) -> int:
    """Blank the operators' notes on the calls of those sessions (privacy: a note may quote the
    visitor); outcome, attempt and times stay. Return how many calls."""
    stmt = update(ticket_calls).where(ticket_calls.c.session_id.in_(session_ids), ticket_calls.c.note != "")
    return conn.execute(stmt.values(note="")).rowcount
