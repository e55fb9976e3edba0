"""The SQL of chat sessions and their messages, beside the tables (`store/tables.py`).

The services compose these: `ChatService` (the transitions) and `ChatView` (what
visitors and operators read). The hot path's statements are built once: executed
with a dict of parameters, SQLAlchemy compiles each once and finds it in its cache by
a constant key (a statement built with .values(...) per call costs a cache-key walk
over every value).
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import and_, bindparam, exists, func, or_, select, update
from sqlalchemy.engine import Connection, Row

from sportello.domain import Forbidden, NotFound, Role, State
from sportello.domain import credentials as auth
from sportello.domain.queue import RECENT_WAITS
from sportello.store.tables import messages, operators, sessions

INSERT_MESSAGE = messages.insert()
INSERT_SESSION = sessions.insert()
SESSION = select(sessions).where(sessions.c.id == bindparam("_sid"))
SESSION_FOR_UPDATE = SESSION.with_for_update()
UPDATE_SESSION = update(sessions).where(sessions.c.id == bindparam("_sid"))  # SET: the other keys given

# The live queue: waiting, and not timed out (waiting_since after the cutoff, domain/queue.py).
_IN_QUEUE = and_(sessions.c.status == State.WAITING, sessions.c.waiting_since > bindparam("cutoff"))
# Its order, the one rule of `domain/queue.py` (QUEUE_ORDER): urgent chats first, then the oldest, then by id.
QUEUE_KEYS = ((sessions.c.urgent, True), (sessions.c.waiting_since, False), (sessions.c.id, False))


def _ahead(keys=QUEUE_KEYS):
    """The rows the queue order puts before the one given as parameters q_<column> (lexicographic)."""
    (col, descending), *rest = keys
    value = bindparam(f"q_{col.key}")
    first = col > value if descending else col < value
    return or_(first, and_(col == value, _ahead(rest))) if rest else first


_QUEUE_ORDER = [c.desc() if desc else c for c, desc in QUEUE_KEYS]
# What the queue's listing shows of each chat (not every column: a queue of hundreds is read at each change)
LIVE_QUEUE = (
    select(
        sessions.c.id,
        sessions.c.original_question,
        sessions.c.waiting_since,
        sessions.c.language,
        sessions.c.urgent,
    )
    .where(_IN_QUEUE)
    .order_by(*_QUEUE_ORDER)
)
AHEAD_IN_QUEUE = select(func.count()).select_from(sessions).where(_IN_QUEUE, _ahead())
QUEUE_IDS = select(sessions.c.id).where(_IN_QUEUE).order_by(*_QUEUE_ORDER)
TIMED_OUT = select(sessions.c.id).where(
    sessions.c.status == State.WAITING, sessions.c.waiting_since <= bindparam("cutoff")
)
RECENT_WAITS_QUERY = (
    select(sessions.c.taken_at - sessions.c.waiting_since)
    .where(sessions.c.taken_at.is_not(None), sessions.c.waiting_since.is_not(None))
    .order_by(sessions.c.taken_at.desc())
    .limit(RECENT_WAITS)
)
MESSAGES_AFTER = (
    select(messages)
    .where(messages.c.session_id == bindparam("_sid"), messages.c.seq > bindparam("after"))
    .order_by(messages.c.seq)
)
MESSAGES_AFTER_LIMITED = MESSAGES_AFTER.limit(bindparam("limit"))


def read_session(conn: Connection, session_id: str, token: str | None, *, visitor: bool = True, lock: bool = False):
    """The session row (locked for the transaction with `lock`); NotFound when there is none,
    Forbidden when `visitor` and `token` is not the session's."""
    row = conn.execute(SESSION_FOR_UPDATE if lock else SESSION, {"_sid": session_id}).first()
    if row is None:
        raise NotFound("unknown session", code="unknown_session")
    if visitor and not auth.token_matches(token or "", row.token_hash):
        raise Forbidden("wrong session token", code="bad_session_token")
    return row


def messages_after(conn: Connection, session_id: str, after: int, limit: int = 0) -> list[Row]:
    """The session's messages after `after`, oldest first; at most `limit` when it is > 0."""
    params = {"_sid": session_id, "after": after}
    if limit > 0:
        return conn.execute(MESSAGES_AFTER_LIMITED, {**params, "limit": limit}).all()
    return conn.execute(MESSAGES_AFTER, params).all()


def last_question(conn: Connection, session_id: str, before_seq: int) -> str:
    """The visitor's last message before `before_seq` ("" when none)."""
    return (
        conn.execute(
            select(messages.c.text)
            .where(messages.c.session_id == session_id, messages.c.role == Role.USER, messages.c.seq < before_seq)
            .order_by(messages.c.seq.desc())
            .limit(1)
        ).scalar_one_or_none()
        or ""
    )


def has_ai_answer(conn: Connection, session_id: str) -> bool:
    """Whether the AI answered the visitor at least once (not the greeting, not a refusal)."""
    return conn.execute(
        select(
            exists().where(
                messages.c.session_id == session_id,
                messages.c.role == Role.BOT,
                messages.c.seq > 1,  # not the greeting
                messages.c.intent.not_in(("", "greeting", "operator_declined")),
            )
        )
    ).scalar_one()


def live_queue(conn: Connection, cutoff: float) -> list[Row]:
    """The chats in the queue (waiting since after `cutoff`), in queue order (urgent first, then oldest first):
    id, original_question, waiting_since, language, urgent."""
    return conn.execute(LIVE_QUEUE, {"cutoff": cutoff}).all()


def ahead_in_queue(conn: Connection, sess: Mapping, cutoff: float) -> int:
    """How many chats of the queue are before this session (a mapping of its columns), in queue order."""
    params = {f"q_{col.key}": sess[col.key] for col, _ in QUEUE_KEYS}
    return conn.execute(AHEAD_IN_QUEUE, {"cutoff": cutoff, **params}).scalar_one()


def queue_ids(conn: Connection, cutoff: float) -> list[str]:
    """The ids of the chats in the queue, in queue order (the first is next)."""
    return conn.execute(QUEUE_IDS, {"cutoff": cutoff}).scalars().all()


def timed_out_ids(conn: Connection, cutoff: float) -> list[str]:
    """The chats still waiting that have left the queue (waiting since `cutoff` or before)."""
    return conn.execute(TIMED_OUT, {"cutoff": cutoff}).scalars().all()


def recent_waits(conn: Connection) -> list[float | None]:
    """How long the last RECENT_WAITS chats taken waited in the queue."""
    return conn.execute(RECENT_WAITS_QUERY).scalars().all()


def live_chats_of(conn: Connection, operator_id: int) -> list[Row]:
    """The operator's live chats: urgent ones first, then in the order they were taken."""
    return conn.execute(
        select(sessions)
        .where(sessions.c.operator_id == operator_id, sessions.c.status == State.LIVE)
        .order_by(sessions.c.urgent.desc(), sessions.c.taken_at)
    ).all()


def live_chats_of_others(conn: Connection, operator_id: int) -> list[Row]:
    """The live chats of every operator but `operator_id`, with the operator's display name: urgent first,
    then in the order they were taken."""
    return conn.execute(
        select(
            sessions.c.id,
            sessions.c.original_question,
            sessions.c.language,
            sessions.c.taken_at,
            sessions.c.urgent,
            operators.c.display_name,
        )
        .join(operators, operators.c.id == sessions.c.operator_id)
        .where(sessions.c.status == State.LIVE, sessions.c.operator_id != operator_id)
        .order_by(sessions.c.urgent.desc(), sessions.c.taken_at)
    ).all()


def take_if_waiting(conn: Connection, session_id: str, operator_id: int, now: float) -> bool:
    """Make the chat live with `operator_id` only if it is still waiting: of two transactions
    that ever raced past the row lock, only one wins."""
    return (
        conn.execute(
            update(sessions)
            .where(sessions.c.id == session_id, sessions.c.status == State.WAITING)
            .values(status=State.LIVE, operator_id=operator_id, taken_at=now)
        ).rowcount
        == 1
    )


def mark_typing(conn: Connection, session_id: str, operator_id: int, now: float) -> bool:
    """Mark the operator typing in their live chat; False when it is not live with them."""
    return (
        conn.execute(
            update(sessions)
            .where(
                sessions.c.id == session_id,
                sessions.c.operator_id == operator_id,
                sessions.c.status == State.LIVE,
            )
            .values(operator_typing_at=now, updated_at=now)  # updated_at: the change feed sees it
        ).rowcount
        == 1
    )


def all_messages(conn: Connection, session_id: str) -> list[dict]:
    rows = conn.execute(select(messages).where(messages.c.session_id == session_id).order_by(messages.c.seq))
    return [dict(r._mapping) for r in rows]


CHANGED_SINCE = select(
    sessions.c.id,
    sessions.c.status,
    sessions.c.last_seq,
    sessions.c.updated_at,
    sessions.c.waiting_since,
    sessions.c.language,
    sessions.c.operator_id,
).where(sessions.c.updated_at > bindparam("since"))


def changed_since(conn: Connection, since: float) -> list[Row]:
    """The sessions changed (any transition, message or typing mark bumps `updated_at`) after
    `since`: the change feed's one query for every subscribed chat (index ix_sessions_updated_at)."""
    return conn.execute(CHANGED_SINCE, {"since": since}).all()


class CommitProbe:
    """A cheap "has anyone committed since I last asked?" on SQLite: `PRAGMA data_version` on a connection of
    its own (it changes when any other connection, of any process, commits). `changed()` is True on other
    databases (always look) and on the first call. Used from one thread (the change feed's watcher)."""

    def __init__(self, store):
        self.store = store
        self._raw = None
        self._version = None

    def changed(self) -> bool:
        if not self.store.is_sqlite:
            return True
        try:
            if self._raw is None:
                self._raw = self.store.engine.raw_connection()
            cur = self._raw.cursor()
            try:
                version = cur.execute("PRAGMA data_version").fetchone()[0]
            finally:
                cur.close()
        except Exception:
            self.close()
            return True
        changed, self._version = version != self._version, version
        return changed

    def close(self) -> None:
        if self._raw is not None:
            try:
                self._raw.close()
            except Exception:
                pass
            self._raw = None
