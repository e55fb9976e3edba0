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

from sportello.domain import NotFound, ValidationError, iso, validate_text
from sportello.store import note_queries as nq
from sportello.store import operator_queries as oq
from sportello.store.database import Store

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
            found, sid = nq.session_of_ticket(conn, ticket_id)
            if not found:
                raise NotFound(f"ticket {ticket_id} not found", code="unknown_ticket")
            return sid, ticket_id
        if not nq.session_exists(conn, session_id):
            raise NotFound("unknown session", code="unknown_session")
        return session_id, None

    def add(
        self, operator_id: int, text: object, *, session_id: str | None = None, ticket_id: int | None = None
    ) -> dict:
        """A new note by `operator_id` on a chat or a ticket."""
        text = validate_text(text, MAX_NOTE_LEN)
        with self._store.write() as conn:
            sid, tid = self._target(conn, session_id, ticket_id)
            name = oq.display_name(conn, operator_id)
            if name is None:
                raise NotFound("unknown operator", code="unknown_operator")
            return _note(
                nq.add(
                    conn,
                    session_id=sid,
                    ticket_id=tid,
                    operator_id=operator_id,
                    operator_name=name,
                    text=text,
                    created_at=self.clock(),
                )
            )

    def list(self, *, session_id: str | None = None, ticket_id: int | None = None) -> list[dict]:
        """The notes of a chat and its tickets (or of a ticket and its chat), oldest first."""
        with self._store.read() as conn:
            sid, tid = self._target(conn, session_id, ticket_id)
            return [_note(r) for r in nq.about(conn, sid, tid)]
