"""The operator console's cheap check: "has anything changed since I last drew?"

One indexed statement, run by an idle console every half second (`ChatView.console_marker`): the ids
of the chats in the queue (waiting, not timed out: `ix_sessions_status_waiting`) and the `last_seq` of
the operator's live chats (`ix_sessions_operator`). SQLite answers the OR with both indexes (its
multi-index OR), PostgreSQL with a BitmapOr; no message row is read.
"""

from __future__ import annotations

from sqlalchemy import and_, bindparam, or_, select
from sqlalchemy.engine import Connection

from sportello.domain import State
from sportello.store.tables import sessions

CONSOLE_MARKER = select(sessions.c.id, sessions.c.status, sessions.c.last_seq, sessions.c.waiting_since).where(
    or_(
        and_(sessions.c.operator_id == bindparam("operator_id"), sessions.c.status == State.LIVE),
        and_(sessions.c.status == State.WAITING, sessions.c.waiting_since > bindparam("cutoff")),
    )
)


def console_marker(conn: Connection, operator_id: int | None, cutoff: float) -> tuple[list[str], dict[str, int]]:
    """(the queue's session ids, oldest first; {live chat id of `operator_id`: its last_seq})."""
    waiting: list[tuple[float, str]] = []
    live: dict[str, int] = {}
    for row in conn.execute(CONSOLE_MARKER, {"operator_id": operator_id, "cutoff": cutoff}):
        if row.status == State.LIVE:
            live[row.id] = row.last_seq
        else:
            waiting.append((row.waiting_since, row.id))
    return [sid for _, sid in sorted(waiting)], live
