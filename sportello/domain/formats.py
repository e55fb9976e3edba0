"""How times and names are written for people and sheets."""

from __future__ import annotations

from datetime import UTC, datetime

_DAYS: dict[int, str] = {}  # day number since the epoch -> "YYYY-MM-DD"
_TWO = [f"{i:02d}" for i in range(60)]


def iso(ts: float | None) -> str | None:
    """Epoch seconds -> ISO-8601 UTC with a Z, as written to the sheets.

    The text of `datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")`, about 10x faster
    (a list of 5,000 tickets converts 20,000 times, every message of a poll once): the date of each
    day once, the time of day by arithmetic. Rounded as `fromtimestamp` rounds (to the microsecond,
    half even), then cut to the second as `isoformat` does."""
    if ts is None:
        return None
    whole, frac = divmod(ts, 1.0)
    second = int(whole) + (round(frac * 1e6) >= 1_000_000)
    day, rest = divmod(second, 86400)
    date = _DAYS.get(day)
    if date is None:
        date = _DAYS[day] = datetime.fromtimestamp(day * 86400, tz=UTC).date().isoformat()
    return f"{date}T{_TWO[rest // 3600]}:{_TWO[rest // 60 % 60]}:{_TWO[rest % 60]}Z"


def first_name(display_name: str) -> str:
    return (display_name or "").strip().split(" ")[0] or "Operatore"
