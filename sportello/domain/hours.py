"""Business hours and holidays, in the venue's time zone. Pure: no I/O, no clock.

BUSINESS_HOURS is one group per weekday range, groups separated by ";":

    mon-fri 09:00-18:00; sat 10:00-14:00
    mon,wed 09:00-13:00 14:00-18:00; tue 09:00-13:00

Days are English or Italian three-letter names (mon..sun, lun..dom), a range
(mon-fri, sat-mon wraps) or a comma list; each group has one or more HH:MM-HH:MM
ranges (end after start, 24:00 allowed as the end). A day named twice is an error.
HOLIDAYS is a list of ISO dates (comma, semicolon or space separated): closed all day.

An empty BUSINESS_HOURS means always open (no hours configured).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = {
    "mon": 0,
    "tue": 1,
    "wed": 2,
    "thu": 3,
    "fri": 4,
    "sat": 5,
    "sun": 6,
    "lun": 0,
    "mar": 1,
    "mer": 2,
    "gio": 3,
    "ven": 4,
    "sab": 5,
    "dom": 6,
}
DAY_NAMES = {
    "it": ["lunedì", "martedì", "mercoledì", "giovedì", "venerdì", "sabato", "domenica"],
    "en": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
}
MONTHS = {
    "it": [
        "gennaio",
        "febbraio",
        "marzo",
        "aprile",
        "maggio",
        "giugno",
        "luglio",
        "agosto",
        "settembre",
        "ottobre",
        "novembre",
        "dicembre",
    ],
    "en": [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ],
}
MAX_SEARCH_DAYS = 400  # how far ahead the next opening is looked for (a long closure)
_RANGE_RE = re.compile(r"^([01]?\d|2[0-4]):([0-5]\d)-([01]?\d|2[0-4]):([0-5]\d)$")


class HoursError(ValueError):
    """BUSINESS_HOURS, HOLIDAYS or the time zone cannot be read (a start-up error)."""


def _minutes(h: str, m: str, *, end: bool) -> int:
    value = int(h) * 60 + int(m)
    if value > 24 * 60 or (value == 24 * 60 and not end):
        raise HoursError(f"{h}:{m} is not a time of day")
    return value


def _days(spec: str) -> list[int]:
    out: list[int] = []
    for part in spec.split(","):
        part = part.strip().lower()
        if "-" in part:
            a, _, b = part.partition("-")
            if a.strip() not in DAYS or b.strip() not in DAYS:
                raise HoursError(f"unknown day range {part!r} (use mon..sun or lun..dom)")
            d, last = DAYS[a.strip()], DAYS[b.strip()]
            out.append(d)
            while d != last:
                d = (d + 1) % 7
                out.append(d)
        elif part in DAYS:
            out.append(DAYS[part])
        else:
            raise HoursError(f"unknown day {part!r} (use mon..sun or lun..dom)")
    return out


def parse_hours(spec: str) -> dict[int, tuple[tuple[int, int], ...]]:
    """weekday (0 = Monday) -> sorted (start, end) minute ranges. Days not named are closed."""
    week: dict[int, tuple[tuple[int, int], ...]] = {}
    for group in (spec or "").split(";"):
        group = group.strip()
        if not group:
            continue
        tokens = group.split()
        # the day part may hold spaces after commas ("mon, wed 9:00-12:00"): days end at the first time range
        first_range = next((i for i, tok in enumerate(tokens) if _RANGE_RE.match(tok)), None)
        if not first_range:
            raise HoursError(f"{group!r}: expected days then HH:MM-HH:MM ranges")
        days = _days("".join(tokens[:first_range]))
        ranges = []
        for tok in tokens[first_range:]:
            m = _RANGE_RE.match(tok)
            if not m:
                raise HoursError(f"{tok!r} is not a HH:MM-HH:MM range")
            start, end = _minutes(m[1], m[2], end=False), _minutes(m[3], m[4], end=True)
            if end <= start:
                raise HoursError(f"{tok!r}: the end must be after the start")
            ranges.append((start, end))
        ranges.sort()
        for (_s1, e1), (s2, _e2) in zip(ranges, ranges[1:], strict=False):
            if s2 < e1:
                raise HoursError(f"{group!r}: overlapping ranges")
        for d in days:
            if d in week:
                raise HoursError(f"{DAY_NAMES['en'][d]} is named twice in BUSINESS_HOURS")
            week[d] = tuple(ranges)
    return week


def parse_holidays(spec: str) -> frozenset[date]:
    out = set()
    for part in re.split(r"[,;\s]+", spec or ""):
        if not part:
            continue
        try:
            out.add(date.fromisoformat(part))
        except ValueError:
            raise HoursError(f"holiday {part!r} is not an ISO date (YYYY-MM-DD)") from None
    return frozenset(out)


def zone(name: str, *, or_utc: bool = False) -> ZoneInfo:
    """The time zone called `name`; an unknown name is an HoursError, or UTC with `or_utc`
    (for showing times: the settings' zone was checked at start-up)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        if or_utc:
            return ZoneInfo("UTC")
        raise HoursError(f"unknown time zone {name!r}") from None


@dataclass(frozen=True)
class BusinessHours:
    week: dict[int, tuple[tuple[int, int], ...]]
    holidays: frozenset[date]
    tz: ZoneInfo
    always_open: bool

    @classmethod
    def parse(cls, hours: str = "", holidays: str = "", timezone: str = "Europe/Rome") -> BusinessHours:
        week = parse_hours(hours)
        return cls(week, parse_holidays(holidays), zone(timezone), always_open=not (hours or "").strip())

    def _ranges(self, day: date) -> tuple[tuple[int, int], ...]:
        if day in self.holidays:
            return ()
        return self.week.get(day.weekday(), ())

    def is_open(self, at: float) -> bool:
        if self.always_open:
            return True
        local = datetime.fromtimestamp(at, self.tz)
        minute = local.hour * 60 + local.minute
        return any(s <= minute < e for s, e in self._ranges(local.date()))

    def _instant(self, day: date, minute: int) -> datetime:
        """The first instant whose wall clock on `day` reads `minute` or later. A wall time
        in a DST gap (02:30 on the spring-forward night) does not exist: the clocks jump
        from before it to after it, so the venue opens at the jump."""
        wall = datetime.combine(day, time(minute // 60, minute % 60), self.tz)
        real = datetime.fromtimestamp(wall.timestamp(), self.tz)
        if (real.hour, real.minute) == (wall.hour, wall.minute):
            return real
        t = min(wall.replace(fold=0).timestamp(), wall.replace(fold=1).timestamp())
        while True:  # at most the gap's length, minute by minute
            local = datetime.fromtimestamp(t, self.tz)
            if local.date() > day or local.hour * 60 + local.minute >= minute:
                return local
            t += 60

    def next_opening(self, at: float) -> datetime | None:
        """When the venue next opens after `at` (aware, in the venue's zone); None if
        always open, open now, or never within MAX_SEARCH_DAYS."""
        if self.always_open or self.is_open(at):
            return None
        local = datetime.fromtimestamp(at, self.tz)
        minute = local.hour * 60 + local.minute
        for offset in range(MAX_SEARCH_DAYS):
            day = local.date() + timedelta(days=offset)
            for start, _end in self._ranges(day):
                if offset == 0 and start <= minute:
                    continue
                real = self._instant(day, start)
                if real.timestamp() > at:
                    return real
        return None


def when_text(opening: datetime, now: float, lang: str) -> str:
    """'oggi alle 15:00' / 'lunedì alle 9:00' / 'il 7 gennaio alle 9:00' (and in English)."""
    lang = lang if lang in DAY_NAMES else "it"
    today = datetime.fromtimestamp(now, opening.tzinfo).date()
    days = (opening.date() - today).days
    clock = f"{opening.hour}:{opening.minute:02d}"
    if lang == "it":
        if days == 0:
            return f"oggi alle {clock}"
        if days == 1:
            return f"domani alle {clock}"
        if days < 7:
            return f"{DAY_NAMES['it'][opening.weekday()]} alle {clock}"
        return f"il {opening.day} {MONTHS['it'][opening.month - 1]} alle {clock}"
    if days == 0:
        return f"today at {clock}"
    if days == 1:
        return f"tomorrow at {clock}"
    if days < 7:
        return f"on {DAY_NAMES['en'][opening.weekday()]} at {clock}"
    return f"on {opening.day} {MONTHS['en'][opening.month - 1]} at {clock}"
