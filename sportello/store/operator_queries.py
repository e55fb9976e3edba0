"""The SQL of operator accounts, their tokens and their live chats, beside the tables.

`OperatorService` composes these for accounts and sign-in; `ChatService` and
`ChatView` read an operator's load (presence and live chats) for the rule of
`sportello.domain.capacity`.
"""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection, Row

from sportello.domain import State, first_name
from sportello.store.tables import operator_tokens, operators, sessions

PUBLIC_FIELDS = ("id", "username", "display_name", "is_admin", "active", "status", "last_heartbeat", "max_chats")

# Every account with its live chats counted, in one statement (`ix_sessions_operator` per account): it is read
# inside the writes of "talk to a person" and of a take (`load_of`), where each statement more is a wait for the
# GIL with the write lock held.
_WITH_LOAD = select(
    operators,
    select(func.count())
    .select_from(sessions)
    .where(sessions.c.operator_id == operators.c.id, sessions.c.status == State.LIVE)
    .scalar_subquery()
    .label("active_chats_n"),
).order_by(operators.c.username)

_NAMES: dict[tuple[str, int], str] = {}  # (database, operator id) -> first name; display names never change


def public(row: Row, active_chats: int | None = None) -> dict:
    """The fields of an operator anyone signed in may read (never the password hash)."""
    d = {k: row._mapping[k] for k in PUBLIC_FIELDS}
    if active_chats is not None:
        d["active_chats"] = active_chats
    return d


def by_id(conn: Connection, operator_id: int) -> Row | None:
    return conn.execute(select(operators).where(operators.c.id == operator_id)).first()


def by_username(conn: Connection, username: str) -> Row | None:
    return conn.execute(select(operators).where(operators.c.username == username)).first()


def by_token(conn: Connection, token_hash: str, now: float) -> Row | None:
    """The operator whose unexpired token has this hash."""
    return conn.execute(
        select(operators)
        .join(operator_tokens, operator_tokens.c.operator_id == operators.c.id)
        .where(operator_tokens.c.token_hash == token_hash, operator_tokens.c.expires_at > now)
    ).first()


def display_name(conn: Connection, operator_id: int) -> str | None:
    return conn.execute(select(operators.c.display_name).where(operators.c.id == operator_id)).scalar_one_or_none()


def first_name_of(conn: Connection, operator_id: int | None) -> str:
    """The operator's first name as the visitor reads it ("" for none), cached per database."""
    if operator_id is None:
        return ""
    key = (str(conn.engine.url), operator_id)
    name = _NAMES.get(key)
    if name is None:
        found = display_name(conn, operator_id)
        if found is None:
            return ""
        if len(_NAMES) > 10_000:
            _NAMES.clear()
        name = _NAMES[key] = first_name(found)
    return name


def with_load(conn: Connection) -> list[dict]:
    """Every account, by username: its public fields and `active_chats` (its live chats)."""
    return [public(r, r.active_chats_n) for r in conn.execute(_WITH_LOAD)]


def load_of(conn: Connection, operator_id: int) -> dict | None:
    """One operator's public fields and `active_chats`; None when there is no such account."""
    row = conn.execute(_WITH_LOAD.where(operators.c.id == operator_id)).first()
    return None if row is None else public(row, row.active_chats_n)


def insert(conn: Connection, **values) -> int:
    return conn.execute(operators.insert().values(**values)).inserted_primary_key[0]


def change(conn: Connection, operator_id: int, **values) -> None:
    conn.execute(update(operators).where(operators.c.id == operator_id).values(**values))


def rehash(conn: Connection, operator_id: int, old_hash: str, new_hash: str) -> None:
    """Replace the password hash unless it changed meanwhile."""
    conn.execute(
        update(operators)
        .where(operators.c.id == operator_id, operators.c.password_hash == old_hash)
        .values(password_hash=new_hash)
    )


def add_token(conn: Connection, token_hash: str, operator_id: int, now: float, ttl_s: float) -> None:
    """A new sign-in token; the expired ones go."""
    conn.execute(
        operator_tokens.insert().values(
            token_hash=token_hash, operator_id=operator_id, created_at=now, expires_at=now + ttl_s
        )
    )
    conn.execute(operator_tokens.delete().where(operator_tokens.c.expires_at < now))


def drop_token(conn: Connection, token_hash: str) -> None:
    conn.execute(operator_tokens.delete().where(operator_tokens.c.token_hash == token_hash))


def drop_tokens_of(conn: Connection, operator_id: int) -> None:
    conn.execute(operator_tokens.delete().where(operator_tokens.c.operator_id == operator_id))
