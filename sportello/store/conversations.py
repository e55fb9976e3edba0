"""Conversations as the reports count them: the sessions of a period with their tickets.

The "Analisi" report (`sportello.services.reports`) composes these: how each conversation
ended, per day, and the queue waits and handle times of those an operator took.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Integer, and_, case, cast, func, or_, select
from sqlalchemy.engine import Connection

from sportello.domain import ContactMethod, State
from sportello.store.tables import sessions, tickets


def floor(conn: Connection):
    """SQL floor() for the connection's dialect (positive numbers)."""
    if conn.dialect.name == "postgresql":
        return func.floor
    return lambda x: cast(x, Integer)  # SQLite: CAST truncates, the same as floor for the positive offsets here


def outcome_sql():
    """How a conversation ended (`services.reports.outcome`) as a SQL expression over sessions LEFT JOIN tickets."""
    return case(
        (sessions.c.taken_at.is_not(None), "operator"),
        (
            and_(
                sessions.c.ticket_id.is_not(None),
                func.coalesce(tickets.c.contact_method, "") != str(ContactMethod.LIVE_CHAT),
            ),
            "ticket",
        ),
        (
            or_(
                sessions.c.waiting_since.is_not(None),
                sessions.c.status.in_([str(State.WAITING), str(State.COLLECTING_CONTACT), str(State.CLOSED)]),
            ),
            "no_outcome",
        ),
        else_="ai",
    )


def _in_period(lo: float, hi: float):
    """The conversations created in [lo, hi): sessions with more than the greeting."""
    return and_(sessions.c.created_at >= lo, sessions.c.created_at < hi, sessions.c.last_seq > 1)


def outcomes_by_day(conn: Connection, lo: float, hi: float, day_of: Callable) -> list[tuple[int, str, int]]:
    """(day index, outcome, how many) of the conversations created in [lo, hi); `day_of(column, floor)`
    is the SQL day index of an epoch column."""
    day = day_of(sessions.c.created_at, floor(conn))
    return [
        tuple(r)
        for r in conn.execute(
            select(day.label("day"), outcome_sql().label("outcome"), func.count())
            .select_from(sessions.outerjoin(tickets, tickets.c.id == sessions.c.ticket_id))
            .where(_in_period(lo, hi))
            .group_by("day", "outcome")  # by label: PostgreSQL sees two bound copies of an expression as different
        )
    ]


def operator_times(conn: Connection, lo: float, hi: float) -> list:
    """(waiting_since, taken_at, closed_at) of the conversations created in [lo, hi) that waited and were taken."""
    return conn.execute(  # `taken_at + 0`: the period's range of created_at, not every chat ever taken
        select(sessions.c.waiting_since, sessions.c.taken_at, sessions.c.closed_at).where(
            _in_period(lo, hi), (sessions.c.taken_at + 0).is_not(None), sessions.c.waiting_since.is_not(None)
        )
    ).all()
