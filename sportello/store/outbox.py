"""The durable outbox table: sheet rows committed with the change they
describe, and the queries the delivery worker (`sportello.services.delivery`)
drains them with.

`enqueue` is called inside the flow's transaction. The worker claims pending
rows in id order, in batches, and marks them sent only after the sink
succeeded. Exactly once: every send attempt is counted in the row
(`attempts`) before the request leaves (`claim`), so after a lost answer or a
crash the sink knows which rows may already be in the sheet and checks them
(by event id) first. The chat never waits for any of this: the flow only
inserts outbox rows.
"""

from __future__ import annotations

import json
import time
import uuid

from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import Connection

from sportello.store.database import Store, kv_get, kv_put, kv_read, kv_set
from sportello.store.tables import outbox

STATUS_KEY = "outbox_status"  # the kv row the app's delivery worker publishes its status in


_INSERT = outbox.insert()  # built once: executed with a dict, its compiled form is cached


def enqueue(conn: Connection, worksheet: str, values: list, **options) -> str:
    """Put a sheet row in the outbox, in `conn`'s transaction; return its event id (`options`: enqueue_row's)."""
    return enqueue_row(conn, worksheet, values, **options)[1]


def enqueue_row(
    conn: Connection,
    worksheet: str,
    values: list,
    *,
    session_id: str | None = None,
    op: str = "append",
    row_key: str = "",
    now: float | None = None,
) -> tuple[int, str]:
    """`enqueue`, returning (the row's id, i.e. its place in the commit order, event id)."""
    event_id = uuid.uuid4().hex
    result = conn.execute(
        _INSERT,
        {
            "event_id": event_id,
            "worksheet": worksheet,
            "op": op,
            "row_key": row_key,
            "session_id": session_id,
            "payload": json.dumps(values, ensure_ascii=False),
            "created_at": now if now is not None else time.time(),
            "status": "pending",
            "attempts": 0,
            "last_error": "",
        },
    )
    return result.inserted_primary_key[0], event_id


def _row(r) -> dict:
    """An outbox row (of `_COLUMNS`) as the delivery worker reads it: the payload decoded as `values`."""
    d = dict(r._mapping)
    d["values"] = json.loads(d.pop("payload"))
    return d


_COLUMNS = (
    outbox.c.id,
    outbox.c.event_id,
    outbox.c.worksheet,
    outbox.c.op,
    outbox.c.row_key,
    outbox.c.payload,
    outbox.c.attempts,
)


def pending(store: Store, limit: int) -> list[dict]:
    """The oldest pending rows, in commit order (read only: nothing is claimed)."""
    with store.read() as conn:
        result = conn.execute(select(*_COLUMNS).where(outbox.c.status == "pending").order_by(outbox.c.id).limit(limit))
        return [_row(r) for r in result]


# Claiming is kept apart from sending and marking so that a multi-process worker can replace
# `claim` (e.g. SELECT ... FOR UPDATE SKIP LOCKED with a lease) without touching the rest.
def claim(store: Store, limit: int) -> list[dict]:
    """Claim the oldest pending rows, in commit order, for one send attempt.

    The attempt is counted BEFORE the rows are handed to the sink, in its own
    committed transaction: if the process dies while the request is in
    flight, the rows come back with `attempts` > 0 and the sink checks the
    sheet before writing them again. Each returned row carries the number of
    attempts made before this one.
    """
    with store.write() as conn:
        rows = conn.execute(
            select(*_COLUMNS).where(outbox.c.status == "pending").order_by(outbox.c.id).limit(limit)
        ).all()
        if rows:
            conn.execute(
                update(outbox)
                .where(outbox.c.id.in_([r.id for r in rows]), outbox.c.status == "pending")
                .values(attempts=outbox.c.attempts + 1)
            )
    return [_row(r) for r in rows]


def mark_sent(store: Store, ids: list[int], now: float | None = None) -> None:
    with store.write() as conn:
        conn.execute(
            update(outbox)
            .where(outbox.c.id.in_(ids))
            .values(status="sent", sent_at=time.time() if now is None else now, last_error="")
        )


def note_failure(store: Store, ids: list[int], message: str) -> None:
    with store.write() as conn:
        conn.execute(update(outbox).where(outbox.c.id.in_(ids)).values(last_error=message[:2000]))


def pending_summary(store: Store) -> tuple[int, float | None]:
    """How many rows wait to be sent, and when the oldest of them was written (None when none wait)."""
    with store.read() as conn:
        count, oldest = conn.execute(
            select(func.count(), func.min(outbox.c.created_at)).where(outbox.c.status == "pending")
        ).one()
    return count, oldest


def backlog(store: Store) -> int:
    return pending_summary(store)[0]


# -- pruning: sent rows are kept KEEP_SENT_DAYS, then deleted ---------------------------------
# The events table keeps everything the dashboard shows; an outbox row is only needed until the
# sheet has it (and for a while after, to look at). Unsent rows (pending, whatever their age or
# error) are never deleted. The highest id deleted so far is remembered (kv PRUNED_KEY), so the
# log can still say "sent" for an event whose row is gone.
PRUNED_KEY = "outbox_pruned_through"


def pruned_through(conn: Connection) -> int:
    """The highest outbox id a prune has deleted (0 when none): every row up to it that is gone was sent."""
    return int(kv_read(conn, PRUNED_KEY, 0))


def prune_sent(store: Store, older_than_s: float, *, now: float | None = None, batch: int = 5000) -> int:
    """Delete the rows sent more than `older_than_s` ago, in batches (short write transactions);
    return how many. Never a pending row, and never the newest row of the table (SQLite would
    reuse its id, which the events keep as their commit order)."""
    cutoff = (time.time() if now is None else now) - older_than_s
    total = 0
    while True:
        with store.write() as conn:
            newest = conn.execute(select(func.max(outbox.c.id))).scalar()
            if newest is None:
                return total
            ids = (
                conn.execute(
                    select(outbox.c.id)
                    .where(
                        outbox.c.status == "sent",
                        outbox.c.sent_at < cutoff,
                        outbox.c.id < newest,
                    )
                    .order_by(outbox.c.id)
                    .limit(batch)
                )
                .scalars()
                .all()
            )
            if not ids:
                return total
            conn.execute(delete(outbox).where(outbox.c.id.in_(ids), outbox.c.status == "sent"))
            if ids[-1] > pruned_through(conn):
                kv_put(conn, PRUNED_KEY, ids[-1])
        total += len(ids)
        if len(ids) < batch:
            return total


def save_status(store: Store, status: dict) -> None:
    """Publish the delivery worker's status, for other processes (the dashboard)."""
    kv_set(store, STATUS_KEY, status)


def saved_status(store: Store) -> dict:
    """The status the app's worker last published, plus the current backlog and when its oldest row was written."""
    status = kv_get(store, STATUS_KEY, {}) or {}
    status["backlog"], status["oldest_pending_at"] = pending_summary(store)
    return status


def rewrite_payloads(conn: Connection, session_ids: list[str], rewrite) -> int:
    """Replace the values of the rows of those sessions, sent or not, by `rewrite(worksheet, values)`;
    return how many rows changed."""
    changed = 0
    for row in conn.execute(
        select(outbox.c.id, outbox.c.worksheet, outbox.c.payload).where(outbox.c.session_id.in_(session_ids))
    ).all():
        values = json.loads(row.payload)
        new = rewrite(row.worksheet, values)
        if new != values:
            conn.execute(
                update(outbox).where(outbox.c.id == row.id).values(payload=json.dumps(new, ensure_ascii=False))
            )
            changed += 1
    return changed
