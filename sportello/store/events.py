"""The events table: a step of the flow stored, and the queries over it.

`insert` is called inside the flow's transaction (by `sportello.services.events.record`,
which lays out the event's "Conversazioni" row): it writes the row to the outbox
and the `events` row with the outbox row's event id, so both commit together
and the dashboard log can show whether the row has reached the sheet.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import asdict

from sqlalchemy import and_, bindparam, case, exists, func, or_, select, update
from sqlalchemy.engine import Connection, Row

from sportello.domain.events import Event, EventKind
from sportello.domain.states import State
from sportello.store.outbox import enqueue_row, pruned_through
from sportello.store.tables import events, outbox, sessions

_FIELDS = tuple(c.name for c in events.c if c.name not in ("id", "seq"))


_INSERT = events.insert()  # built once: executed with a dict, its compiled form is cached


def insert(conn: Connection, event: Event, worksheet: str, row: list) -> str:
    """Write the event and its sheet row (`row` of `worksheet`, already laid out) in `conn`'s
    transaction; return the event id.

    The event keeps its outbox row's id as `seq` (the commit order the log is read in)."""
    seq, event_id = enqueue_row(conn, worksheet, row, session_id=event.session_id, now=event.at)
    values = asdict(event)
    values["kind"] = str(event.kind)
    values.update(id=event_id, seq=seq)
    conn.execute(_INSERT, values)
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
) -> list[tuple[str, Row, str]]:
    """(event id, event row, sheet sync status) newest first: `lo <= at < hi`, the session id starting
    with `session_prefix`, the intent one of `intents` (any when empty); at most `limit`.

    The event row has the Event's fields as attributes (what the sheet layout reads). Newest first is
    the commit order (`seq`, read from its index, LIMIT in SQL); events older than the column (no
    outbox row left when it was added) come after, newest first by time. The status is the outbox
    row's, "sent" when the row was pruned after it was sent, "" when it is gone otherwise."""
    where = []
    if session_prefix and conn.dialect.name == "sqlite":
        # A range reads ix_events_session_at (SQLite's LIKE is case-insensitive: no index); ids are lower-case hex.
        prefix = session_prefix.lower()
        where.extend([events.c.session_id >= prefix, events.c.session_id < prefix + "\U0010ffff"])
    elif session_prefix:
        where.append(events.c.session_id.like(f"{escape_like(session_prefix)}%", escape="\\"))
        if re.fullmatch(r"[0-9a-f]+", session_prefix):
            # PostgreSQL reads LIKE 'x%' from a plain index only under the "C" collation; the ids are
            # lower-case hex, ordered alike by any collation: the range [prefix, prefix + 1) reads
            # ix_events_session_at.
            where.append(events.c.session_id >= session_prefix)
            if session_prefix.strip("f"):
                n = len(session_prefix)
                upper = f"{int(session_prefix, 16) + 1:0{n}x}"
                where.append(events.c.session_id < upper)
    if lo is not None:
        where.append(events.c.at >= lo)
    if hi is not None:
        where.append(events.c.at < hi)
    wanted = sorted(set(intents))
    if wanted:
        where.append(events.c.intent.in_(wanted))
    rows = conn.execute(
        select(events).where(events.c.seq.is_not(None), *where).order_by(events.c.seq.desc()).limit(limit)
    ).all()
    if len(rows) < limit:
        rows += conn.execute(
            select(events).where(events.c.seq.is_(None), *where).order_by(events.c.at.desc()).limit(limit - len(rows))
        ).all()
    # The statuses of this page only (not a join before the LIMIT: that would look up every match).
    status: dict[str, str] = {}
    ids = [r.id for r in rows]
    for i in range(0, len(ids), 1000):
        chunk = ids[i : i + 1000]
        status.update(
            conn.execute(select(outbox.c.event_id, outbox.c.status).where(outbox.c.event_id.in_(chunk))).all()
        )
    through = pruned_through(conn)
    return [(r.id, r, status.get(r.id) or ("sent" if r.seq is not None and r.seq <= through else "")) for r in rows]


def intents(conn: Connection) -> list[str]:
    """Every intent recorded, sorted: one index seek per distinct intent (a loose index scan on
    ix_events_intent_seq_at), not a scan of every event."""
    found: list[str] = []
    last = ""
    step = select(func.min(events.c.intent)).where(events.c.intent > bindparam("after")).scalar_subquery()
    stmt = select(step)
    while True:
        nxt = conn.execute(stmt, {"after": last}).scalar()
        if nxt is None:
            return found
        found.append(nxt)
        last = nxt


def _intent_count_stmt(kinds: Iterable[EventKind], lo: float, hi: float, exclude: Iterable[str], group=None):
    """Events of those kinds per intent (and per `group`, a SQL expression of `events.at`, when given),
    with `lo <= at < hi`, but the `exclude`d intents: (group,) intent, how many."""
    keys = [group.label("grp")] if group is not None else []
    stmt = (
        select(*keys, events.c.intent, func.count())
        .where(
            events.c.kind.in_([str(k) for k in kinds]),
            events.c.intent != "",
            events.c.at >= lo,
            events.c.at < hi,
        )
        .group_by(*(["grp"] if keys else []), events.c.intent)
    )
    skip = sorted(set(exclude))
    return stmt.where(events.c.intent.not_in(skip)) if skip else stmt


def intent_counts(
    conn: Connection, kinds: Iterable[EventKind], lo: float, hi: float, *, exclude: Iterable[str] = ()
) -> Counter:
    """How many events of those kinds each intent has, with `lo <= at < hi`, but the `exclude`d intents."""
    return Counter({intent: n for intent, n in conn.execute(_intent_count_stmt(kinds, lo, hi, exclude))})


def intent_counts_by(
    conn: Connection, group, kinds: Iterable[EventKind], lo: float, hi: float, *, exclude: Iterable[str] = ()
) -> list[tuple[object, str, int]]:
    """`intent_counts` per value of `group` (a SQL expression of `events.at`, e.g. the day):
    (group, intent, how many)."""
    return [tuple(r) for r in conn.execute(_intent_count_stmt(kinds, lo, hi, exclude, group))]


def _question_count_stmt(kind: EventKind, intent: str, lo: float, hi: float, group=None):
    """The visitors' texts of the events of that kind and intent with `lo <= at < hi`, grouped by
    (`group`,) exact text and session language: (group,) text, language, how many, last asked."""
    keys = [group.label("grp")] if group is not None else []
    return (
        select(*keys, events.c.text, sessions.c.language, func.count(), func.max(events.c.at))
        .select_from(events.join(sessions, sessions.c.id == events.c.session_id))
        .where(events.c.kind == str(kind), events.c.intent == intent, events.c.at >= lo, events.c.at < hi)
        .group_by(*(["grp"] if keys else []), events.c.text, sessions.c.language)
    )


def question_counts_by(
    conn: Connection, group, kind: EventKind, intent: str, lo: float, hi: float
) -> list[tuple[object, str, str, int, float]]:
    """`question_counts` per value of `group` (a SQL expression of `events.at`):
    (group, text, language, how many, last asked)."""
    return [tuple(r) for r in conn.execute(_question_count_stmt(kind, intent, lo, hi, group))]


def last_seq(conn: Connection) -> int:
    """The newest event's `seq` (0 when there is none): one index seek."""
    return conn.execute(select(func.max(events.c.seq))).scalar() or 0


def since(conn: Connection, low: int, seen: int | None, kind: EventKind) -> tuple[float | None, set[int]]:
    """The earliest time of the events after `seen` (None when there is none, or `seen` is None) and
    the seqs of the events of `kind` after `low`, both read from ix_events_seq."""
    # `at + 0`, `kind || ''`: not from their indexes (SQLite would walk ix_events_at for the minimum, or
    # every tombstone in ix_events_kind_at_intent), the range of seq is the short read.
    earliest = None
    if seen is not None:
        earliest = conn.execute(select(func.min(events.c.at + 0)).where(events.c.seq > seen)).scalar()
    found = conn.execute(select(events.c.seq).where(events.c.seq > low, events.c.kind + "" == str(kind))).scalars()
    return earliest, set(found)


def question_counts(
    conn: Connection, kind: EventKind, intent: str, lo: float, hi: float
) -> list[tuple[str, str, int, float]]:
    """The visitors' texts of the events of that kind and intent, grouped by the exact text and
    language: (text, language, how many, last asked)."""
    return [tuple(r) for r in conn.execute(_question_count_stmt(kind, intent, lo, hi))]


def of_session(conn: Connection, session_id: str) -> list[Event]:
    """The session's events, oldest first (in commit order; events older than `seq` by time, first)."""
    stmt = (
        select(events)
        .where(events.c.session_id == session_id)
        .order_by(events.c.seq.is_not(None), events.c.seq, events.c.at)
    )
    return [to_event(r) for r in conn.execute(stmt)]


def sessions_mentioning(conn: Connection, like: str) -> set[str]:
    """The sessions whose events have `like` (a LIKE pattern, `\\` escapes) in a visitor's text."""
    cols = (events.c.text, events.c.reply, events.c.question, events.c.transcript)
    stmt = select(events.c.session_id).where(or_(*(c.ilike(like, escape="\\") for c in cols))).distinct()
    return set(conn.execute(stmt).scalars())


def erased_among(conn: Connection, session_ids: Collection[str]) -> set[str]:
    """Those of the sessions that have their erasure tombstone."""
    stmt = select(events.c.session_id).where(
        events.c.session_id.in_(session_ids), events.c.kind == str(EventKind.ERASED)
    )
    return set(conn.execute(stmt).scalars())


def ended_unerased_sessions(conn: Connection, cutoff: float, ended_states: Collection[str]) -> list[str]:
    """The sessions closed before `cutoff`, or left in one of `ended_states` not updated since, that
    have no erasure tombstone; oldest first."""
    erased = exists().where(events.c.session_id == sessions.c.id, events.c.kind == str(EventKind.ERASED))
    stmt = (
        select(sessions.c.id)
        .where(
            or_(
                and_(sessions.c.status == str(State.CLOSED), sessions.c.closed_at < cutoff),
                and_(sessions.c.status.in_(sorted(ended_states)), sessions.c.updated_at < cutoff),
            ),
            ~erased,
        )
        .order_by(sessions.c.updated_at)
    )
    return list(conn.execute(stmt).scalars())


def anonymise_sessions(conn: Connection, session_ids: Collection[str], erased_text: str) -> int:
    """Blank the visitor's texts in the events of those sessions (kind, intent and time stay, so the
    analytics still count them; the tombstones are left as they are); return how many events."""
    return conn.execute(
        update(events)
        .where(events.c.session_id.in_(session_ids), events.c.kind != str(EventKind.ERASED))
        .values(
            text=blanked(events.c.text, erased_text),
            reply=blanked(events.c.reply, erased_text),
            question=blanked(events.c.question, erased_text),
            transcript=blanked(events.c.transcript, erased_text),
            user_agent="",
        )
    ).rowcount


def blanked(col, erased_text: str):
    """`erased_text` where the column has text, "" where it had none."""
    return case((col != "", erased_text), else_="")
