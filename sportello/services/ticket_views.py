"""Tickets as the dashboard's "Ticket" page shows them: filtered lists,
a detail view with the AI history decoded, and the CSV export."""

from __future__ import annotations

import json

from sqlalchemy import select

from sportello.services import tickets
from sportello.services.conversation_log import csv_bytes
from sportello.store.database import Store
from sportello.store.tables import operators

EXPORT_COLUMNS = [
    "id",
    "status",
    "created_at",
    "updated_at",
    "language",
    "contact_method",
    "contact_info",
    "operator_name",
    "assigned_to_name",
    "original_question",
    "resolution_reason",
    "conversation_transcript",
    "notes",
    "session_id",
]
LIST_COLUMNS = [
    "id",
    "status",
    "created_at",
    "contact_method",
    "contact_info",
    "original_question",
    "operator_name",
    "assigned_to_name",
]


def operator_names(store: Store) -> dict[int, str]:
    with store.read() as conn:
        return {r.id: r.display_name for r in conn.execute(select(operators.c.id, operators.c.display_name))}


def list_tickets(
    store: Store,
    *,
    statuses: list[str] | tuple[str, ...] | None = None,
    q: str | None = None,
    assigned_to: int | None = None,
    limit: int = 5000,
) -> list[dict]:
    """Tickets newest first, with any of `statuses` (all when empty), matching `q`."""
    q = (q or "").strip() or None
    if statuses:
        found: list[dict] = []
        for status in statuses:
            found += tickets.search(store, status=status, q=q, assigned_to=assigned_to, limit=limit)
        found.sort(key=lambda t: t["id"], reverse=True)
        found = found[:limit]
    else:
        found = tickets.search(store, q=q, assigned_to=assigned_to, limit=limit)
    names = operator_names(store)
    for t in found:
        t["assigned_to_name"] = names.get(t["assigned_to"], "") if t["assigned_to"] is not None else ""
    return found


def history_messages(ticket: dict) -> list[dict]:
    """The conversation before the hand-off ("AI history") as a list of messages."""
    try:
        items = json.loads(ticket.get("conversation_history") or "[]")
    except ValueError:
        return []
    return [
        {
            "role": str(m.get("role", "")),
            "author": str(m.get("author", "")),
            "text": str(m.get("text", "")),
            "at": str(m.get("at", "")),
        }
        for m in items
        if isinstance(m, dict)
    ]


def export_csv(rows: list[dict]) -> bytes:
    return csv_bytes(EXPORT_COLUMNS, rows)
