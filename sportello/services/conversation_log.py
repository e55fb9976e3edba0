"""The "Conversazioni" log as the dashboard shows it.

The outbox holds every row written to the sheets, committed with the change
it describes, so reading the log from it shows exactly what goes (or went)
to the "Conversazioni" worksheet, whatever the sink, plus whether each row
has reached the sheet yet.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date

from sqlalchemy import func, select

from sportello.services.reports import bounds
from sportello.sinks.sheets import CONVERSATION_HEADER, CONVERSATIONS, safe_cell
from sportello.store.database import Store
from sportello.store.outbox import saved_status
from sportello.store.tables import outbox

LOG_COLUMNS = [*CONVERSATION_HEADER, "sync"]
MAX_ROWS = 5000


def log_rows(
    store: Store,
    *,
    session: str | None = None,
    start: date | None = None,
    end: date | None = None,
    intents: list[str] | tuple[str, ...] | None = None,
    tz: str = "Europe/Rome",
    limit: int = MAX_ROWS,
) -> list[dict]:
    """Rows of the "Conversazioni" worksheet, newest first.

    `session` matches a session id or its beginning; `start`/`end` are days
    in the venue's zone (inclusive); `intents` keeps only those intents.
    """
    stmt = select(outbox.c.payload, outbox.c.status).where(outbox.c.worksheet == CONVERSATIONS)
    session = (session or "").strip()
    if session:
        stmt = stmt.where(outbox.c.session_id.like(f"{_escape_like(session)}%", escape="\\"))
    if start or end:
        lo, hi = bounds(start or end, end or start, tz)
        stmt = stmt.where(outbox.c.created_at >= lo, outbox.c.created_at < hi)
    wanted = set(intents or ())  # the intent is inside the JSON payload: checked below
    stmt = stmt.order_by(outbox.c.id.desc())
    out: list[dict] = []
    with store.read() as conn:
        for payload, status in conn.execute(stmt):
            values = json.loads(payload)
            row = dict(zip(CONVERSATION_HEADER, [*values, *[""] * len(CONVERSATION_HEADER)], strict=False))
            if wanted and row["intent_detected"] not in wanted:
                continue
            row["sync"] = status
            out.append(row)
            if len(out) >= limit:
                break
    return out


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def log_intents(store: Store) -> list[str]:
    """Every intent that appears in the log, for the filter."""
    seen: set[str] = set()
    with store.read() as conn:
        for (payload,) in conn.execute(select(outbox.c.payload).where(outbox.c.worksheet == CONVERSATIONS)):
            values = json.loads(payload)
            if len(values) > 4 and values[4]:
                seen.add(values[4])
    return sorted(seen)


def sync_status(store: Store) -> dict:
    """The sheet sync state for the dashboard: backlog, last error, sink.

    `state` is "ok" (nothing waiting), "syncing" (rows waiting, no error),
    "error" (the last attempt failed or the worker stopped) or "unknown"
    (the app process has not published a status: it is not running).
    """
    status = saved_status(store)
    with store.read() as conn:
        oldest = conn.execute(select(func.min(outbox.c.created_at)).where(outbox.c.status == "pending")).scalar()
    status["oldest_pending_at"] = oldest
    if status.get("stopped_on_error") or status.get("failures"):
        state = "error"
    elif "sink" not in status:
        state = "unknown"
    elif status["backlog"]:
        state = "syncing"
    else:
        state = "ok"
    status["state"] = state
    return status


def csv_bytes(header: list[str], rows: list[dict]) -> bytes:
    """A CSV export; every cell is made formula-safe as in the sheets."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for r in rows:
        writer.writerow([safe_cell(r.get(k, "")) for k in header])
    return buf.getvalue().encode("utf-8-sig")
