"""The "Conversazioni" log as the dashboard shows it.

The log is the `events` table, each event laid out as its row of the
"Conversazioni" worksheet (`sportello.sinks.layout`), exactly what goes (or
went) to the sheet whatever the sink, plus whether that row has reached the
sheet yet (the status of the outbox row written with the event).
"""

from __future__ import annotations

import csv
import io
from datetime import date

from sportello.services.reports import bounds
from sportello.sinks.layout import CONVERSATION_HEADER, conversation_dict, safe_cell
from sportello.store import events
from sportello.store.database import Store
from sportello.store.outbox import saved_status

LOG_COLUMNS = [*CONVERSATION_HEADER, "sync"]
# The page shows (and exports) the newest MAX_ROWS rows that match its filters; the filters reach
# older ones. 2,000 rows keep the page under 100 ms on a store holding a year (bench/store_scale.py).
MAX_ROWS = 2000


class ConversationLog:
    """The dashboard's "Conversazioni" page: the log, its intents, the sheet sync state."""

    columns = LOG_COLUMNS

    def __init__(self, store: Store):
        self.store = store

    def rows(
        self,
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
        lo = hi = None
        if start or end:
            lo, hi = bounds(start or end, end or start, tz)
        with self.store.read() as conn:
            page = events.log_page(
                conn,
                session_prefix=(session or "").strip(),
                lo=lo,
                hi=hi,
                intents=intents or (),
                limit=limit,
            )
        return [{**conversation_dict(row), "sync": status} for _, row, status in page]

    def intents(self) -> list[str]:
        """Every intent that appears in the log, for the filter."""
        with self.store.read() as conn:
            return events.intents(conn)

    def sync_status(self) -> dict:
        """The sheet sync state for the dashboard: backlog, last error, sink.

        `state` is "ok" (nothing waiting), "syncing" (rows waiting, no error),
        "error" (the last attempt failed or the worker stopped) or "unknown"
        (the app process has not published a status: it is not running).
        """
        status = saved_status(self.store)
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


EXCEL_DELIMITER = ";"  # Excel with Italian (or any comma-decimal) regional settings splits columns on ';'


def csv_bytes(header: list[str], rows: list[dict], *, delimiter: str = ",") -> bytes:
    """A CSV export (UTF-8 with a BOM, so that Excel reads the accents); every cell is made formula-safe as
    in the sheets. `delimiter=EXCEL_DELIMITER` for the "Excel (Italia)" variant."""
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, lineterminator="\n")
    writer.writerow(header)
    for r in rows:
        writer.writerow([safe_cell(r.get(k, "")) for k in header])
    return buf.getvalue().encode("utf-8-sig")
