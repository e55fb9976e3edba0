"""The events table: record a step of the flow, and the queries over it.

`record` is called inside the flow's transaction: it writes the event's
"Conversazioni" row to the outbox (laid out by `sportello.sinks.layout`) and
the `events` row with the outbox row's event id, so both commit together and
the dashboard log can show whether the row has reached the sheet.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from sportello.domain.events import Event, EventKind
from sportello.sinks.layout import CONVERSATIONS, conversation_row
from sportello.store.outbox import enqueue
from sportello.store.tables import events, outbox, sessions

_FIELDS = tuple(c.name for c in events.c if c.name != "id")


def record(conn: Connection, event: Event) -> str:
    """Write the event and its sheet row in `conn`'s transaction; return the event id."""
    event_id = enqueue(conn, CONVERSATIONS, conversation_row(event), session_id=event.session_id, now=event.at)
    values = asdict(event)
    values["kind"] = str(event.kind)
    conn.execute(events.insert().values(id=event_id, **values))
    return event_id


def to_event(row) -> Event:
    """An `events` row (any result row with the event's columns) as an Event."""
    m = row._mapping
    return Event(**{name: m[name] for name in _FIELDS})


def escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def log_page(
    conn: Connection,
    *,
    session_prefix: str = "",
    lo: float | None = None,
    hi: float | None = None,
    intents: Iterable[str] = (),
    limit: int = 5000,
) -> list[tuple[str, Event, str]]:
    """(event id, event, outbox status) newest first: `lo <= at < hi`, the session id starting
    with `session_prefix`, the intent one of `intents` (any when empty); at most `limit`."""
    stmt = select(events, outbox.c.status).select_from(events.outerjoin(outbox, outbox.c.event_id == events.c.id))
    if session_prefix:
        stmt = stmt.where(events.c.session_id.like(f"{escape_like(session_prefix)}%", escape="\\"))
    if lo is not None:
        stmt = stmt.where(events.c.at >= lo)
    if hi is not None:
        stmt = stmt.where(events.c.at < hi)
    wanted = sorted(set(intents))
    if wanted:
        stmt = stmt.where(events.c.intent.in_(wanted))
    # Newest first, in the order the rows were committed (the sheet's order); then by time,
    # should an event's outbox row be gone.
    stmt = stmt.order_by(outbox.c.id.desc().nulls_last(), events.c.at.desc()).limit(limit)
    return [(r.id, to_event(r), r.status or "") for r in conn.execute(stmt)]


def intents(conn: Connection) -> list[str]:
    """Every intent recorded, sorted."""
    stmt = select(events.c.intent).where(events.c.intent != "").distinct().order_by(events.c.intent)
    return list(conn.execute(stmt).scalars())


def intent_counts(
    conn: Connection, kinds: Iterable[EventKind], lo: float, hi: float, *, exclude: Iterable[str] = ()
) -> Counter:
    """How many events of those kinds each intent has, with `lo <= at < hi`, but the `exclude`d intents."""
    stmt = (
        select(events.c.intent, func.count())
        .where(
            events.c.kind.in_([str(k) for k in kinds]),
            events.c.intent != "",
            events.c.at >= lo,
            events.c.at < hi,
        )
        .group_by(events.c.intent)
    )
    skip = sorted(set(exclude))
    if skip:
        stmt = stmt.where(events.c.intent.not_in(skip))
    return Counter({intent: n for intent, n in conn.execute(stmt)})


def questions(conn: Connection, kind: EventKind, intent: str, lo: float, hi: float) -> list[tuple[str, float, str]]:
    """(what the visitor wrote, when, the session's language) of the events of that kind and intent."""
    stmt = (
        select(events.c.text, events.c.at, sessions.c.language)
        .select_from(events.join(sessions, sessions.c.id == events.c.session_id))
        .where(events.c.kind == str(kind), events.c.intent == intent, events.c.at >= lo, events.c.at < hi)
    )
    return [tuple(r) for r in conn.execute(stmt)]


def of_session(conn: Connection, session_id: str) -> list[Event]:
    """The session's events, oldest first."""
    stmt = (
        select(events)
        .select_from(events.outerjoin(outbox, outbox.c.event_id == events.c.id))
        .where(events.c.session_id == session_id)
        .order_by(outbox.c.id.nulls_last(), events.c.at)
    )
    return [to_event(r) for r in conn.execute(stmt)]
