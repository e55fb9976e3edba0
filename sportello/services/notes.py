"""Internal notes: what operators write to each other on a live chat or a ticket.

A note belongs to a session (written in the live console) or to a ticket
(written in the ticket detail); a ticket's notes include those written on its
chat, and a chat's notes those on its tickets. Notes are for operators only:
they are not messages, so they never reach the visitor's poll, the ticket
transcript or the sheets.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import or_, select

from sportello.domain import NotFound, ValidationError, iso, validate_text
from sportello.store.database import Store
from sportello.store.tables import notes, operators, sessions, tickets

MAX_NOTE_LEN = 4000


def _note(row) -> dict:
    return {
        "id": row.id,
        "session_id": row.session_id,
        "ticket_id": row.ticket_id,
        "operator_id": row.operator_id,
        "operator_name": row.operator_name,
        "text": row.text,
        "created_at": iso(row.created_at),
    }


class NotesService:
    def __init__(self, store: Store, *, clock: Callable[[], float] = time.time):
        self._store = store
        self.clock = clock

    def _target(self, conn, session_id: str | None, ticket_id: int | None) -> tuple[str | None, int | None]:
        """The (session, ticket) a note is about; a ticket brings its session."""
        if (session_id is None) == (ticket_id is None):
            raise ValidationError("give session_id or ticket_id", code="missing_target")
        if ticket_id is not None:
            sid = conn.execute(select(tickets.c.session_id).where(tickets.c.id == ticket_id)).first()
            if sid is None:
                raise NotFound(f"ticket {ticket_id} not found", code="unknown_ticket")
            return sid[0], ticket_id
        if conn.execute(select(sessions.c.id).where(sessions.c.id == session_id)).first() is None:
            raise NotFound("unknown session", code="unknown_session")
        return session_id, None

    def add(
        self, operator_id: int, text: object, *, session_id: str | None = None, ticket_id: int | None = None
    ) -> dict:
        """A new note by `operator_id` on a chat or a ticket."""
        text = validate_text(text, MAX_NOTE_LEN)
        with self._store.write() as conn:
            sid, tid = self._target(conn, session_id, ticket_id)
            name = conn.execute(select(operators.c.display_name).where(operators.c.id == operator_id)).scalar()
            if name is None:
                raise NotFound("unknown operator", code="unknown_operator")
            values = {
                "session_id": sid,
                "ticket_id": tid,
                "operator_id": operator_id,
                "operator_name": name,
                "text": text,
                "created_at": self.clock(),
            }
            new_id = conn.execute(notes.insert().values(**values)).inserted_primary_key[0]
            return _note(conn.execute(select(notes).where(notes.c.id == new_id)).one())

    def list(self, *, session_id: str | None = None, ticket_id: int | None = None) -> list[dict]:
        """The notes of a chat and its tickets (or of a ticket and its chat), oldest first."""
        with self._store.read() as conn:
            sid, tid = self._target(conn, session_id, ticket_id)
            where = []
            if sid is not None:
                where.append(notes.c.session_id == sid)
                ticket_ids = conn.execute(select(tickets.c.id).where(tickets.c.session_id == sid)).scalars().all()
                if ticket_ids:
                    where.append(notes.c.ticket_id.in_(ticket_ids))
            if tid is not None:
                where.append(notes.c.ticket_id == tid)
            rows = conn.execute(select(notes).where(or_(*where)).order_by(notes.c.created_at, notes.c.id))
            return [_note(r) for r in rows]
