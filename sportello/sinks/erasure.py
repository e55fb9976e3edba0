"""Erasure in the sheets: a visitor's data taken out of the rows already
written (privacy, see `sportello.services.privacy`).

The local CSV mirror (`$DATA_DIR/sheets/*.csv`) is rewritten in place: the
rows of the erased sessions keep their timestamp, session id, intent, status
and event id, and lose every cell a visitor's data can be in. The same cells
are blanked in the outbox payloads (`anonymise_values`), so a row not yet
sent carries no data either. Google Sheets' "Conversazioni" is append-only
and is not rewritten: it gets the tombstone row (`EventKind.ERASED`, laid
out by `sportello.sinks.layout`); its "Ticket" rows are upserted again,
anonymised, by the service.
"""

from __future__ import annotations

import csv
from collections.abc import Collection
from pathlib import Path

from sportello.domain.events import ERASED_TEXT, FIXED_INTENTS, EventKind
from sportello.sinks.layout import CONVERSATIONS, ROW_HEADERS, TICKETS
from sportello.sinks.sheets import write_csv_atomically

# worksheet -> {column: what replaces it}
ERASED_CELLS: dict[str, dict[str, str]] = {
    CONVERSATIONS: {"user_message": ERASED_TEXT, "bot_reply": ERASED_TEXT, "user_agent": ""},
    TICKETS: {
        "contact_info": "",
        "original_question": ERASED_TEXT,
        "conversation_transcript": "",
        "conversation_history": "[]",
        "resolution_reason": "",
    },
}
TOMBSTONE_INTENT = FIXED_INTENTS[EventKind.ERASED]


def anonymise_values(worksheet: str, values: list, header: list[str] | None = None) -> list:
    """The row's cells with the visitor's data replaced; a tombstone row is left as it is."""
    header = header or ROW_HEADERS.get(worksheet)
    erased = ERASED_CELLS.get(worksheet)
    if not header or not erased:
        return list(values)
    out = list(values)
    columns = header[: len(out)]
    if any(col == "intent_detected" and out[i] == TOMBSTONE_INTENT for i, col in enumerate(columns)):
        return out
    for i, col in enumerate(columns):
        if col in erased:
            out[i] = erased[col]
    return out


def erase_csv_sessions(directory: Path, session_ids: Collection[str]) -> int:
    """Anonymise the rows of those sessions in every local sheet; return how many rows changed."""
    wanted = set(session_ids)
    directory = Path(directory)
    if not wanted or not directory.is_dir():
        return 0
    changed = 0
    for worksheet in ERASED_CELLS:
        path = directory / f"{worksheet}.csv"
        if path.is_file():
            changed += _rewrite(path, worksheet, wanted)
    return changed


def _rewrite(path: Path, worksheet: str, wanted: set[str]) -> int:
    with path.open(newline="", encoding="utf-8") as fh:
        records = list(csv.reader(fh))
    if not records or "session_id" not in records[0]:
        return 0
    header, rows = records[0], records[1:]
    at = header.index("session_id")
    changed = 0
    for i, row in enumerate(rows):
        if at < len(row) and row[at] in wanted:
            new = anonymise_values(worksheet, row, header)
            if new != row:
                rows[i] = new
                changed += 1
    if changed:
        write_csv_atomically(path, header, rows)
    return changed
