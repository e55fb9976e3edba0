"""The operator console's cheap check: "has anything changed since I last drew?"

One indexed statement, read once per change for every console of a process (`ChatView.console_snapshot`): the ids
of the chats in the queue (waiting, not timed out: `ix_sessions_status_waiting`) and of every live chat
(the same index), with the live chats' `last_seq`, language and operator. SQLite answers the OR with
the index (its multi-index OR), PostgreSQL with a BitmapOr; no message row is read.
"""

from __future__ import annotations

from sqlalchemy import and_, bindparam, or_, select
from sqlalchemy.engine import Connection

from sportello.domain import State
from sportello.store.tables import sessions

CONSOLE_MARKER = select(
    sessions.c.id,
    sessions.c.status,
    sessions.c.last_seq,
    sessions.c.waiting_since,
    sessions.c.operator_id,
    sessions.c.language,
).where(
    or_(
        sessions.c.status == State.LIVE,
        and_(sessions.c.status == State.WAITING, sessions.c.waiting_since > bindparam("cutoff")),
    )
)


def console_rows(conn: Connection, cutoff: float) -> list:
    """The rows every console's marker is made of (services/console_versions.py, `ConsoleSnapshot`): the chats
    in the queue (waiting since after `cutoff`) and the live ones."""
    return conn.execute(CONSOLE_MARKER, {"cutoff": cutoff}).all()
