"""The staff alerts' outbox (`alerts`): the statements `sportello.services.alerts` composes.

An alert row is inserted in the transaction of what caused it (`insert`). The alert worker reads the
due rows (`due`), counts an attempt in its own committed transaction before the request leaves
(`count_attempt`, so after a crash the row shows it may have been delivered), and marks a channel
delivered only after the receiver accepted it (`mark_channel`), the whole row sent once every channel
is (`mark_sent`). A failed attempt pushes `next_attempt_at` back (`note_failure`).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection

from sqlalchemy import exists, select, update
from sqlalchemy.engine import Connection

from sportello.store.tables import alerts, sessions


def insert(
    conn: Connection,
    kind: str,
    payload: dict,
    now: float,
    *,
    session_id: str | None = None,
    ticket_id: int | None = None,
    dedupe_key: str | None = None,
) -> str:
    """Put an alert in the outbox, in `conn`'s transaction; return its delivery id."""
    delivery_id = uuid.uuid4().hex
    conn.execute(
        alerts.insert().values(
            delivery_id=delivery_id,
            kind=kind,
            session_id=session_id,
            ticket_id=ticket_id,
            dedupe_key=dedupe_key,
            payload=json.dumps({"delivery_id": delivery_id, **payload}, ensure_ascii=False),
            created_at=now,
            status="pending",
            channels_done="",
            attempts=0,
            next_attempt_at=0.0,
            last_error="",
        )
    )
    return delivery_id


def _row(r) -> dict:
    d = dict(r._mapping)
    d["payload"] = json.loads(d["payload"])
    d["channels_done"] = [c for c in d["channels_done"].split(",") if c]
    return d


def due(conn: Connection, now: float, limit: int) -> list[dict]:
    """The pending alerts whose next attempt is due, oldest first."""
    stmt = (
        select(alerts)
        .where(alerts.c.status == "pending", alerts.c.next_attempt_at <= now)
        .order_by(alerts.c.id)
        .limit(limit)
    )
    return [_row(r) for r in conn.execute(stmt)]


def get(conn: Connection, alert_id: int) -> dict | None:
    row = conn.execute(select(alerts).where(alerts.c.id == alert_id)).first()
    return None if row is None else _row(row)


def all_of_kind(conn: Connection, kind: str) -> list[dict]:
    return [_row(r) for r in conn.execute(select(alerts).where(alerts.c.kind == kind).order_by(alerts.c.id))]


def count_attempt(conn: Connection, alert_id: int) -> None:
    conn.execute(update(alerts).where(alerts.c.id == alert_id).values(attempts=alerts.c.attempts + 1))


def mark_channel(conn: Connection, alert_id: int, done: list[str]) -> None:
    conn.execute(update(alerts).where(alerts.c.id == alert_id).values(channels_done=",".join(done), last_error=""))


def mark_sent(conn: Connection, alert_id: int, now: float, status: str = "sent") -> None:
    conn.execute(
        update(alerts)
        .where(alerts.c.id == alert_id, alerts.c.status == "pending")
        .values(status=status, sent_at=now, last_error="")
    )


def note_failure(conn: Connection, alert_id: int, message: str, next_attempt_at: float) -> None:
    conn.execute(
        update(alerts).where(alerts.c.id == alert_id).values(last_error=message[:2000], next_attempt_at=next_attempt_at)
    )


def backlog(conn: Connection) -> int:
    return len(conn.execute(select(alerts.c.id).where(alerts.c.status == "pending")).all())


def waiting_unalerted(conn: Connection, waiting_state: str, cutoff: float, kind: str) -> list[dict]:
    """The chats waiting since `cutoff` or earlier that have no alert of `kind` yet."""
    stmt = select(sessions.c.id, sessions.c.waiting_since, sessions.c.original_question, sessions.c.language).where(
        sessions.c.status == waiting_state,
        sessions.c.waiting_since <= cutoff,
        ~exists().where(alerts.c.kind == kind, alerts.c.session_id == sessions.c.id),
    )
    return [dict(r._mapping) for r in conn.execute(stmt)]


def erase_sessions(conn: Connection, session_ids: Collection[str], erased_text: str) -> int:
    """Replace the payloads of those sessions' alerts (sent or not) by their delivery id, kind and
    `erased_text` (privacy: a payload quotes the visitor's question); return how many."""
    rows = conn.execute(
        select(alerts.c.id, alerts.c.delivery_id, alerts.c.kind, alerts.c.ticket_id).where(
            alerts.c.session_id.in_(session_ids)
        )
    ).all()
    for r in rows:
        payload = {"delivery_id": r.delivery_id, "kind": r.kind, "ticket_id": r.ticket_id, "text": erased_text}
        conn.execute(update(alerts).where(alerts.c.id == r.id).values(payload=json.dumps(payload)))
    return len(rows)
