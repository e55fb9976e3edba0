"""The labels table (what operators taught the answerer), and the answer counts the learning loop
compares before and after a label. Composed by `sportello.services.learning`, inside its transactions.

A label is `approved` (it reaches the answerer), `proposed` (a non-admin's, waiting for an admin) or
`rejected`; "active" means approved and not undone: only those are written to the learned files."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection

from sportello.domain.events import EventKind
from sportello.store.tables import events, labels

APPROVED, PROPOSED, REJECTED = "approved", "proposed", "rejected"
# The columns a visitor's words can be in (the question, and a KB entry's texts prefilled from it).
TEXT_COLUMNS = ("question", "question_it", "question_en", "answer_it", "answer_en")

# The visitor questions the AI answered / did not answer.
ANSWER_KINDS = (str(EventKind.AI_ANSWERED), str(EventKind.AI_NO_ANSWER))


def as_dict(row) -> dict:
    m = row._mapping
    return {name: m[name] for name in labels.c.keys()}


def insert(conn: Connection, values: dict) -> int:
    """A new label; returns its id."""
    return conn.execute(labels.insert().values(**values)).inserted_primary_key[0]


def set_intent(conn: Connection, label_id: int, intent: str) -> None:
    conn.execute(update(labels).where(labels.c.id == label_id).values(intent=intent))


def edit(conn: Connection, label_id: int, **values) -> None:
    """Change a label's question and/or intent (an admin's edit of a proposal before approving it)."""
    conn.execute(update(labels).where(labels.c.id == label_id).values(**values))


def questions(conn: Connection) -> set[str]:
    """Every label's question, casefolded (any status, undone ones too)."""
    return {q.casefold() for q in conn.execute(select(labels.c.question)).scalars()}


def get(conn: Connection, label_id: int):
    """The label's row, or None."""
    return conn.execute(select(labels).where(labels.c.id == int(label_id))).first()


def mark_undone(conn: Connection, label_id: int, at: float, by: str) -> None:
    conn.execute(update(labels).where(labels.c.id == label_id).values(undone_at=at, undone_by=by))


def mark_reviewed(conn: Connection, label_id: int, status: str, at: float, by: str) -> None:
    conn.execute(update(labels).where(labels.c.id == label_id).values(status=status, reviewed_at=at, reviewed_by=by))


def pending(conn: Connection) -> list[dict]:
    """The proposals waiting for an admin (not undone: withdrawn by their author), oldest first."""
    stmt = select(labels).where(labels.c.status == PROPOSED, labels.c.undone_at.is_(None)).order_by(labels.c.id)
    return [as_dict(r) for r in conn.execute(stmt)]


def texts(conn: Connection) -> list[dict]:
    """Every label's id, undone_at and text columns (erasure looks for a visitor's words in them)."""
    rows = conn.execute(select(labels.c.id, labels.c.undone_at, *(labels.c[c] for c in TEXT_COLUMNS)))
    return [dict(r._mapping) for r in rows]


def erase(conn: Connection, label_ids: Iterable[int], erased_text: str, at: float, by: str) -> int:
    """Blank the labels' texts and withdraw them (undone now, by `by`, unless undone already); the kind,
    intent, status, author and times stay. Returns how many labels changed."""
    ids = sorted(set(label_ids))
    if not ids:
        return 0
    blank = {c: "" for c in TEXT_COLUMNS} | {"question": erased_text}
    n = conn.execute(update(labels).where(labels.c.id.in_(ids)).values(**blank)).rowcount
    conn.execute(
        update(labels).where(labels.c.id.in_(ids), labels.c.undone_at.is_(None)).values(undone_at=at, undone_by=by)
    )
    return n


def history(conn: Connection, limit: int) -> list[dict]:
    """Every label, newest first (undone ones included)."""
    rows = conn.execute(select(labels).order_by(labels.c.created_at.desc(), labels.c.id.desc()).limit(limit))
    return [as_dict(r) for r in rows]


def _is_active():
    return (labels.c.status == APPROVED) & labels.c.undone_at.is_(None)


def active(conn: Connection) -> list[dict]:
    """The labels approved and not undone (what the answerer learns), oldest first."""
    rows = conn.execute(select(labels).where(_is_active()).order_by(labels.c.id))
    return [as_dict(r) for r in rows]


def active_intents(conn: Connection, kind: str) -> set[str]:
    """The intents of the active labels of one kind (the learned KB entries' names)."""
    stmt = select(labels.c.intent).where(labels.c.kind == kind, _is_active())
    return set(conn.execute(stmt).scalars())


def answer_counts(
    conn: Connection,
    ts: float | None,
    side: str,
    *,
    exclude: Iterable[str] = (),
    lo: float | None = None,
    hi: float | None = None,
) -> dict:
    """{kind: how many} of the visitor questions (`ANSWER_KINDS`, intents in `exclude` left out) before or
    after `ts` (all when None), with lo <= at < hi."""
    stmt = (
        select(events.c.kind, func.count())
        .where(events.c.kind.in_(ANSWER_KINDS), events.c.intent.not_in(sorted(exclude)))
        .group_by(events.c.kind)
    )
    if ts is not None:
        stmt = stmt.where(events.c.at < ts) if side == "before" else stmt.where(events.c.at >= ts)
    if lo is not None:
        stmt = stmt.where(events.c.at >= lo)
    if hi is not None:
        stmt = stmt.where(events.c.at < hi)
    return dict(conn.execute(stmt).all())
