"""The SQL of the visitor's ratings (`sportello.services.feedback`), beside the tables."""

from __future__ import annotations

from sqlalchemy import exists, select, update
from sqlalchemy.engine import Connection, Row

from sportello.store.tables import ratings, tickets


def rated(conn: Connection, session_id: str) -> bool:
    return conn.execute(select(exists().where(ratings.c.session_id == session_id))).scalar_one()


def add(conn: Connection, ticket_id: int | None, **values) -> None:
    """A rating, copied on the session's ticket when there is one."""
    conn.execute(ratings.insert().values(ticket_id=ticket_id, **values))
    if ticket_id is not None:
        conn.execute(
            update(tickets)
            .where(tickets.c.id == ticket_id)
            .values(rating=values["score"], rating_comment=values["comment"])
        )


def scores_since(conn: Connection, since: float) -> list[Row]:
    """(resolved_by, score) of the ratings given since `since`."""
    return conn.execute(select(ratings.c.resolved_by, ratings.c.score).where(ratings.c.created_at >= since)).all()


def recent(conn: Connection, limit: int) -> list[Row]:
    """The latest ratings, newest first."""
    return conn.execute(
        select(ratings).order_by(ratings.c.created_at.desc(), ratings.c.id.desc()).limit(max(1, limit))
    ).all()
