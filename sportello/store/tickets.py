"""The tickets table: the statements the ticket and privacy services compose.

Rows come back as dicts with the times as ISO text (`as_dict`), the shape the
faces and the "Ticket" worksheet row (`sportello.sinks.layout.ticket_row`) read.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import false, or_, select, update
from sqlalchemy.engine import Connection

from sportello.domain import iso
from sportello.store.events import blanked
from sportello.store.tables import operators, tickets

FIELDS = [c.name for c in tickets.columns]
_TIMES = ("started_at", "ended_at", "created_at", "updated_at", "next_call_at", "first_response_at", "resolved_at")


def as_dict(row, keys: tuple[str, ...] | None = None) -> dict:
    """A ticket row as a dict, the times as ISO text; `keys`: the result's column names (once per result)."""
    d = dict(zip(keys or row._fields, row, strict=True))
    for key in _TIMES:
        d[key] = iso(d[key])
    return d


def insert(conn: Connection, values: dict) -> dict:
    """Insert a ticket; return it as stored."""
    ticket_id = conn.execute(tickets.insert().values(**values)).inserted_primary_key[0]
    return get(conn, ticket_id)


def get(conn: Connection, ticket_id: int, *, for_update: bool = False) -> dict | None:
    stmt = select(tickets).where(tickets.c.id == ticket_id)
    row = conn.execute(stmt.with_for_update() if for_update else stmt).first()
    return None if row is None else as_dict(row)


def set_values(conn: Connection, ticket_id: int, values: dict) -> dict:
    """Change a ticket's columns; return it as stored."""
    conn.execute(update(tickets).where(tickets.c.id == ticket_id).values(**values))
    return get(conn, ticket_id)


def search(
    conn: Connection,
    *,
    statuses: Collection[str] = (),
    session_id: str | None = None,
    q: str | None = None,
    assigned_to: int | None = None,
    limit: int = 100,
    offset: int = 0,
    contact: bool = True,
    unassigned: bool = False,
) -> list[dict]:
    """Newest first, with any of `statuses` (all when empty), the other filters (`unassigned`: assigned to
    nobody); the LIMIT in SQL. `q` matches the contact only when `contact` (the viewer may read contacts)."""
    stmt = select(tickets).order_by(tickets.c.id.desc()).limit(limit).offset(offset)
    wanted = sorted(statuses)
    if wanted:
        stmt = stmt.where(tickets.c.status == wanted[0] if len(wanted) == 1 else tickets.c.status.in_(wanted))
    if session_id:
        stmt = stmt.where(tickets.c.session_id == session_id)
    if assigned_to is not None:
        stmt = stmt.where(tickets.c.assigned_to == assigned_to)
    if unassigned:
        stmt = stmt.where(tickets.c.assigned_to.is_(None))
    if q:
        like = f"%{q}%"
        stmt = stmt.where(
            or_(
                tickets.c.original_question.ilike(like),
                tickets.c.contact_info.ilike(like) if contact else false(),
                tickets.c.conversation_transcript.ilike(like),
                tickets.c.operator_name.ilike(like),
                tickets.c.notes.ilike(like),
            )
        )
    result = conn.execute(stmt)
    keys = tuple(result.keys())
    return [as_dict(r, keys) for r in result]


def of_same_contact(conn: Connection, session_id: str, limit: int = 10) -> list[dict]:
    """The tickets of a visitor: those of `session_id` (the same browser), and those with a contact one of
    them left (the same email or phone, from another session); newest first, at most `limit`."""
    contacts = select(tickets.c.contact_info).where(tickets.c.session_id == session_id, tickets.c.contact_info != "")
    stmt = (
        select(tickets)
        .where(or_(tickets.c.session_id == session_id, tickets.c.contact_info.in_(contacts)))
        .order_by(tickets.c.id.desc())
        .limit(limit)
    )
    result = conn.execute(stmt)
    keys = tuple(result.keys())
    return [as_dict(r, keys) for r in result]


def operator_exists(conn: Connection, operator_id: int) -> bool:
    return conn.execute(select(operators.c.id).where(operators.c.id == operator_id)).first() is not None


def operator_names(conn: Connection) -> dict[int, str]:
    """{operator id: display name}: the names of the tickets' assignees."""
    return {r.id: r.display_name for r in conn.execute(select(operators.c.id, operators.c.display_name))}


def sessions_mentioning(conn: Connection, like: str) -> set[str]:
    """The sessions whose tickets have `like` (a LIKE pattern, `\\` escapes) in a visitor's text."""
    cols = (
        tickets.c.contact_info,
        tickets.c.notes,
        tickets.c.conversation_transcript,
        tickets.c.resolution_reason,
        tickets.c.original_question,
    )
    stmt = select(tickets.c.session_id).where(or_(*(c.ilike(like, escape="\\") for c in cols)))
    return set(conn.execute(stmt).scalars())


def anonymise_sessions(conn: Connection, session_ids: Collection[str], erased_text: str, now: float) -> list[dict]:
    """Blank the visitor's data in the tickets of those sessions (contact, question, transcript, AI
    history, resolution, internal notes, the rating comment; status, method, times and the score
    stay); return the tickets as stored."""
    ticket_ids = list(conn.execute(select(tickets.c.id).where(tickets.c.session_id.in_(session_ids))).scalars())
    if not ticket_ids:
        return []
    conn.execute(
        update(tickets)
        .where(tickets.c.id.in_(ticket_ids))
        .values(
            contact_info="",
            original_question=blanked(tickets.c.original_question, erased_text),
            conversation_transcript="",
            conversation_history="[]",
            resolution_reason="",
            notes="",
            rating_comment="",  # the visitor's comment on the satisfaction rating
            updated_at=now,
        )
    )
    return [as_dict(r) for r in conn.execute(select(tickets).where(tickets.c.id.in_(ticket_ids)))]


def service_times(conn: Connection, lo: float, hi: float, exclude_method: str) -> list:
    """The tickets opened in [lo, hi) (but those with `exclude_method`), with their service-level ends
    (epoch seconds): id, contact_method, status, created_at, first_response_at, resolved_at."""
    stmt = (
        select(
            tickets.c.id,
            tickets.c.contact_method,
            tickets.c.status,
            tickets.c.created_at,
            tickets.c.first_response_at,
            tickets.c.resolved_at,
        )
        .where(tickets.c.created_at >= lo, tickets.c.created_at < hi, tickets.c.contact_method != exclude_method)
        .order_by(tickets.c.id)
    )
    return conn.execute(stmt).all()
