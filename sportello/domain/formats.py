"""How times and names are written for people and sheets."""

from __future__ import annotations

from datetime import UTC, datetime


def iso(ts: float | None) -> str | None:
    """Epoch seconds -> ISO-8601 UTC with a Z, as written to the sheets."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def first_name(display_name: str) -> str:
    return (display_name or "").strip().split(" ")[0] or "Operatore"
