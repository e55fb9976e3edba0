"""The operator console's cheap check: "has anything changed since I last drew?"

One indexed statement, run by an idle console every half second (`ChatView.console_marker`): the ids
of the chats in the queue (waiting, not timed out: `ix_sessions_status_waiting`) and of every live chat
(the same index), with the `last_seq` and language of the operator's own. SQLite answers the OR with
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


def console_marker(conn: Connection, operator_id: int | None, cutoff: float) -> dict:
    """{"queue": the queue's session ids, oldest first; "chats": {live chat id of `operator_id`: its last_seq};
    "langs": {the same ids: the visitor's language now}; "others": the ids of the other live chats, sorted}."""
    waiting: list[tuple[float, str]] = []
    live: dict[str, int] = {}
    langs: dict[str, str] = {}
    others: list[str] = []
    for row in conn.execute(CONSOLE_MARKER, {"cutoff": cutoff}):
        if row.status != State.LIVE:
            waiting.append((row.waiting_since, row.id))
        elif operator_id is not None and row.operator_id == operator_id:
            live[row.id] = row.last_seq
            langs[row.id] = row.language
        else:
            others.append(row.id)
    return {"queue": [sid for _, sid in sorted(waiting)], "chats": live, "langs": langs, "others": sorted(others)}
