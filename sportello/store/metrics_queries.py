"""The figures /metrics reads from the database at scrape time (sportello/services/metrics.py).

Every process reports the same truth: the queue, the live chats, the operators online and the outbox are
read here, not counted in memory (the outbox backlog: store/outbox.py `pending_summary`). Each query is an
index range (sessions: ix_sessions_status_waiting; outbox: ix_outbox_status_id) or a scan of the small operators table, so a scrape stays fast on a big store.
"""

from __future__ import annotations

from sqlalchemy import and_, func, select
from sqlalchemy.engine import Connection

from sportello.domain import State
from sportello.store.tables import operators, sessions


def queue(conn: Connection, cutoff: float) -> tuple[int, float | None]:
    """The chats in the queue (waiting since after `cutoff`: a timed-out chat is in no queue) and the
    oldest `waiting_since` among them (None when the queue is empty)."""
    return tuple(
        conn.execute(
            select(func.count(), func.min(sessions.c.waiting_since)).where(
                sessions.c.status == State.WAITING.value, sessions.c.waiting_since > cutoff
            )
        ).one()
    )


def live_chats(conn: Connection) -> int:
    return conn.execute(select(func.count()).where(sessions.c.status == State.LIVE.value)).scalar_one()


def operators_online(conn: Connection, heard_since: float) -> int:
    """Active accounts online with a heartbeat at `heard_since` or later (domain/capacity.py `is_present`)."""
    return conn.execute(
        select(func.count()).where(
            and_(
                operators.c.active.is_(True),
                operators.c.status == "online",
                operators.c.last_heartbeat >= heard_since,
            )
        )
    ).scalar_one()
