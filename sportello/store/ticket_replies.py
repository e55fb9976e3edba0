"""The replies on tickets and the visitor's ticket links: the statements
`sportello.services.ticket_replies` composes.

An operator's reply row is also its mail job: `state` queued → sent | failed,
`attempts` counted before each send (`claim`), `next_attempt_at` the backoff,
`message_id` fixed when the row is written. A visitor's reply is `received`.
A ticket link is kept only as the SHA-256 of its token.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import Connection

from sportello.store.tables import operators, ticket_replies, ticket_tokens

QUEUED, SENT, FAILED, RECEIVED = "queued", "sent", "failed", "received"
OPERATOR, VISITOR = "operator", "visitor"

_REPLY = (
    ticket_replies.c.id,
    ticket_replies.c.ticket_id,
    ticket_replies.c.author,
    ticket_replies.c.operator_id,
    func.coalesce(operators.c.display_name, "").label("operator_name"),
    ticket_replies.c.text,
    ticket_replies.c.created_at,
    ticket_replies.c.state,
    ticket_replies.c.error,
    ticket_replies.c.attempts,
    ticket_replies.c.next_attempt_at,
    ticket_replies.c.sent_at,
    ticket_replies.c.message_id,
)
_FROM = ticket_replies.outerjoin(operators, operators.c.id == ticket_replies.c.operator_id)


def insert(conn: Connection, values: dict) -> int:
    """A reply row (in `conn`'s transaction); its id."""
    values = {"error": "", "attempts": 0, "message_id": "", **values}
    return conn.execute(ticket_replies.insert().values(**values)).inserted_primary_key[0]


def set_values(conn: Connection, reply_id: int, values: dict) -> None:
    conn.execute(update(ticket_replies).where(ticket_replies.c.id == reply_id).values(**values))


def get(conn: Connection, reply_id: int) -> dict | None:
    row = conn.execute(select(*_REPLY).select_from(_FROM).where(ticket_replies.c.id == reply_id)).first()
    return None if row is None else dict(row._mapping)


def for_ticket(conn: Connection, ticket_id: int) -> list[dict]:
    """A ticket's replies, oldest first, with the operator's display name."""
    stmt = select(*_REPLY).select_from(_FROM).where(ticket_replies.c.ticket_id == ticket_id)
    return [dict(r._mapping) for r in conn.execute(stmt.order_by(ticket_replies.c.id))]


def due(conn: Connection, now: float, limit: int) -> list[int]:
    """The ids of the queued mail jobs whose next attempt is due, oldest first."""
    stmt = (
        select(ticket_replies.c.id)
        .where(ticket_replies.c.state == QUEUED, ticket_replies.c.next_attempt_at <= now)
        .order_by(ticket_replies.c.id)
        .limit(limit)
    )
    return list(conn.execute(stmt).scalars())


def next_due_at(conn: Connection) -> float | None:
    """When the soonest queued job is due (None: none is queued)."""
    return conn.execute(
        select(func.min(ticket_replies.c.next_attempt_at)).where(ticket_replies.c.state == QUEUED)
    ).scalar()


def claim(conn: Connection, reply_id: int) -> dict | None:
    """Lock a queued job and count one more attempt in it (the caller commits BEFORE sending);
    the job as it was before this attempt, or None when it is no longer queued."""
    stmt = select(ticket_replies.c.id).where(ticket_replies.c.id == reply_id, ticket_replies.c.state == QUEUED)
    if conn.execute(stmt.with_for_update()).first() is None:
        return None
    job = get(conn, reply_id)
    set_values(conn, reply_id, {"attempts": ticket_replies.c.attempts + 1})
    return job


def claim_done(conn: Connection, reply_id: int, state: str, sent_at: float | None, error: str) -> bool:
    """Close a queued job as `state` (sent or failed); False when it was no longer queued (erased)."""
    stmt = update(ticket_replies).where(ticket_replies.c.id == reply_id, ticket_replies.c.state == QUEUED)
    values = {"state": state, "error": error, "next_attempt_at": None, "sent_at": sent_at}
    return conn.execute(stmt.values(**values)).rowcount == 1


def awaiting_answer(conn: Connection, ticket_ids: Collection[int] | None = None) -> set[int]:
    """The tickets whose latest reply is the visitor's (the operator has not answered it yet)."""
    latest = select(ticket_replies.c.ticket_id, func.max(ticket_replies.c.id).label("last_id")).group_by(
        ticket_replies.c.ticket_id
    )
    if ticket_ids is not None:
        latest = latest.where(ticket_replies.c.ticket_id.in_(list(ticket_ids)))
    latest = latest.subquery()
    stmt = select(latest.c.ticket_id).join(ticket_replies, ticket_replies.c.id == latest.c.last_id)
    return set(conn.execute(stmt.where(ticket_replies.c.author == VISITOR)).scalars())


# -- the visitor's links ------------------------------------------------------------------------------
def add_token(conn: Connection, token_hash: str, ticket_id: int, expires_at: float) -> None:
    conn.execute(ticket_tokens.insert().values(hash=token_hash, ticket_id=ticket_id, expires_at=expires_at))


def token_ticket(conn: Connection, token_hash: str, now: float) -> tuple[str, int] | None:
    """(stored hash, ticket id) of a live (unexpired, unrevoked) link, else None. The hash is the primary
    key: the lookup compares hashes, never the token (the service compares them again in constant time)."""
    row = conn.execute(
        select(ticket_tokens.c.hash, ticket_tokens.c.ticket_id).where(
            ticket_tokens.c.hash == token_hash,
            ticket_tokens.c.expires_at > now,
            ticket_tokens.c.revoked_at.is_(None),
        )
    ).first()
    return None if row is None else (row.hash, row.ticket_id)


def revoke_tokens(conn: Connection, ticket_id: int, now: float) -> int:
    stmt = update(ticket_tokens).where(ticket_tokens.c.ticket_id == ticket_id, ticket_tokens.c.revoked_at.is_(None))
    return conn.execute(stmt.values(revoked_at=now)).rowcount


# -- erasure (sportello.services.privacy) --------------------------------------------------------------
def erase_tickets(conn: Connection, ticket_ids: Collection[int]) -> int:
    """Delete the replies (with their mail jobs) and the links of those tickets; how many replies."""
    ids = list(ticket_ids)
    if not ids:
        return 0
    conn.execute(delete(ticket_tokens).where(ticket_tokens.c.ticket_id.in_(ids)))
    return conn.execute(delete(ticket_replies).where(ticket_replies.c.ticket_id.in_(ids))).rowcount
