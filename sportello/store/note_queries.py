"""The SQL of operators' internal notes (`sportello.services.notes`), beside the tables."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.engine import Connection, Row

from sportello.store.tables import notes, sessions, tickets


def session_exists(conn: Connection, session_id: str) -> bool:
    return conn.execute(select(sessions.c.id).where(sessions.c.id == session_id)).first() is not None


def session_of_ticket(conn: Connection, ticket_id: int) -> tuple[bool, str | None]:
    """(whether the ticket exists, the session it came from)."""
    row = conn.execute(select(tickets.c.session_id).where(tickets.c.id == ticket_id)).first()
    return (False, None) if row is None else (True, row[0])


def add(conn: Connection, **values) -> Row:
    new_id = conn.execute(notes.insert().values(**values)).inserted_primary_key[0]
    return conn.execute(select(notes).where(notes.c.id == new_id)).one()


def about(conn: Connection, session_id: str | None, ticket_id: int | None) -> list[Row]:
    """The notes on a chat and its tickets, and on a ticket: oldest first."""
    where = []
    if session_id is not None:
        where.append(notes.c.session_id == session_id)
        ticket_ids = conn.execute(select(tickets.c.id).where(tickets.c.session_id == session_id)).scalars().all()
        if ticket_ids:
            where.append(notes.c.ticket_id.in_(ticket_ids))
    if ticket_id is not None:
        where.append(notes.c.ticket_id == ticket_id)
    return conn.execute(select(notes).where(or_(*where)).order_by(notes.c.created_at, notes.c.id)).all()
