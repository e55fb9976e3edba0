"""Analytics for the operator dashboard ("Analisi"), computed from the store.

A *conversation* is a chat session created in the period in which the
visitor did something (typed a message or asked for a person): sessions
opened and left untouched are not counted. Each conversation has exactly
one outcome:

- ``operator``: a person took it from the queue (live chat);
- ``ticket``: nobody was free (or the queue timed out) and the visitor left
  an email or a phone number;
- ``no_outcome``: the visitor accepted a person but left before being taken
  or before leaving a contact (or is still waiting);
- ``ai``: everything else, i.e. the visitor never accepted a hand-off.

The *deflection rate* is ``ai / conversations``. Days are calendar days in
the venue's time zone (``TIMEZONE``).

Outcomes and durations come from the sessions (the state each chat reached);
the top intents and the unanswered questions from the recorded events
(`sportello.store.events`): the AI's turns and their intents.

How it stays fast on a year of data (the store-scale work; `bench/store_scale.py`, 1M messages): everything is
counted in SQL, per day. The sessions' part (outcomes, queue waits, handle times) is read every time:
a chat created on a past day can still change (taken, closed, a visitor who comes back), so its day
is never final. The events' part (intents, unanswered questions) of a *settled* day, one that ended
more than `SETTLED_S` ago, is kept in memory by `Reports` (`DayCache`) and not read again: events
are appended with the time of their transaction and never deleted, so a past day's events change
only when a session is erased (texts blanked, in the same transaction as its `erased` tombstone
event). Before each report the cache reads the events committed since the last report (from
`events.seq`; the tombstones among the last `RECHECK` events too, for PostgreSQL's out-of-order commits):
a tombstone not seen before, an event dated in a cached day (a clock in the past: tests, imports), or a
newest event older than the last one seen (events deleted) drops the cache.

On the 1M store (SQLite) the 90-day report took 145 ms before the cache, 67 ms once its days are kept,
190 ms the first time in a process (counting per day, to keep them, costs more than over the whole
period; `report` without a cache still counts over the whole period), so the dashboard process fills it
at start in a background thread (`Reports.warm`, 115 ms). A rollup table written with each event was the
alternative: it costs every message's transaction, where this costs one read when the dashboard starts.
"""

from __future__ import annotations

import bisect
import functools
import logging
import re
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import case, literal

from sportello.answering.bot import NO_ANSWER
from sportello.domain import ContactMethod, State
from sportello.domain.events import AI_KINDS, EventKind
from sportello.domain.hours import zone
from sportello.store import conversations, events
from sportello.store import tickets as ticket_table
from sportello.store.database import Store
from sportello.store.tables import events as events_table

log = logging.getLogger(__name__)

OUTCOMES = ("ai", "operator", "ticket", "no_outcome")

# Intents the flow itself writes on bot messages: not answers to a question
# (never counted as the AI's, even if a knowledge base reused one).
FLOW_INTENTS = frozenset(
    {
        "greeting",
        "operator_queue",
        "operator_unavailable",
        "operator_declined",
        "contact_prompt",
        "ticket_created",
        "queue_timeout",
        "chat_handover",
        "chat_closed",
    }
)

# Buckets for the wait and handle time histograms: (label, upper bound in s).
DURATION_BUCKETS: tuple[tuple[str, float], ...] = (
    ("< 30 s", 30),
    ("30 s – 1 min", 60),
    ("1–2 min", 120),
    ("2–5 min", 300),
    ("5–10 min", 600),
    ("10–30 min", 1800),
    ("≥ 30 min", float("inf")),
)


def bounds(start: date, end: date, tz: str) -> tuple[float, float]:
    """[start 00:00, end+1 00:00) in the venue's zone, as epoch seconds."""
    if end < start:
        start, end = end, start
    z = zone(tz, or_utc=True)
    lo = datetime(start.year, start.month, start.day, tzinfo=z).timestamp()
    nxt = end + timedelta(days=1)
    hi = datetime(nxt.year, nxt.month, nxt.day, tzinfo=z).timestamp()
    return lo, hi


def local_day(ts: float, tz: str) -> date:
    return datetime.fromtimestamp(ts, tz=UTC).astimezone(zone(tz, or_utc=True)).date()


def outcome(row) -> str:
    """The outcome of one session row (see the module docstring)."""
    if row.taken_at is not None:
        return "operator"
    if row.ticket_id is not None and (row.contact_method or "") != ContactMethod.LIVE_CHAT:
        return "ticket"
    if row.waiting_since is not None or row.status in (State.WAITING, State.COLLECTING_CONTACT, State.CLOSED):
        return "no_outcome"
    return "ai"


@functools.lru_cache(maxsize=65536)  # the same questions come back in every report
def normalize_question(text: str) -> str:
    """Key to group the same question asked with different case/spacing/punctuation."""
    text = re.sub(r"\s+", " ", (text or "").strip().casefold())
    return text.rstrip(" ?!.;,:¿¡")


def distribution(values: list[float]) -> dict:
    """count, p50, p90, max and the histogram buckets of durations in seconds."""
    values = sorted(v for v in values if v is not None and v >= 0)
    counts = {}
    below = 0
    for label, upper in DURATION_BUCKETS:  # sorted: each bucket ends where the first value >= its bound is
        end = bisect.bisect_left(values, upper)
        counts[label] = end - below
        below = end
    return {
        "count": len(values),
        "p50": round(percentile(values, 50), 1) if values else None,
        "p90": round(percentile(values, 90), 1) if values else None,
        "mean": round(statistics.fmean(values), 1) if values else None,
        "max": round(values[-1], 1) if values else None,
        "buckets": [{"bucket": label, "count": counts.get(label, 0)} for label, _ in DURATION_BUCKETS],
    }


def percentile(sorted_values: list[float], p: float) -> float:
    """Linear-interpolated percentile of an already sorted list."""
    if not sorted_values:
        raise ValueError("no values")
    if len(sorted_values) == 1:
        return float(sorted_values[0])
    k = (len(sorted_values) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


@dataclass(frozen=True)
class Report:
    start: date
    end: date
    conversations: int
    outcomes: dict[str, int]
    deflection_rate: float | None
    per_day: list[dict]
    queue_wait: dict
    handle_time: dict
    top_intents: list[dict]
    unanswered: list[dict]

    def share(self, name: str) -> float | None:
        return None if not self.conversations else self.outcomes[name] / self.conversations


def _day_index_sql(column, start: date, end: date, tz: str, floor):
    """The index (0 = `start`) of the venue's day an epoch `column` (in the period) falls on, as SQL.

    The days are cut into runs of 24-hour days, and the 23- or 25-hour days of a DST change (each a
    run of its own); within a run the index is the whole number of days since the run's first midnight."""
    n = (end - start).days + 1
    midnights = [bounds(start + timedelta(days=i), start + timedelta(days=i), tz)[0] for i in range(n)]
    midnights.append(bounds(end, end, tz)[1])
    runs: list[list] = []  # [first midnight, end, index of the first day, 24-hour days]
    for i in range(n):
        regular = midnights[i + 1] - midnights[i] == 86400
        if runs and regular and runs[-1][3]:
            runs[-1][1] = midnights[i + 1]
        else:
            runs.append([midnights[i], midnights[i + 1], i, regular])
    exprs = [
        (column < hi, (first + floor((column - lo) / 86400)) if regular else literal(first))
        for lo, hi, first, regular in runs
    ]
    return case(*exprs[:-1], else_=exprs[-1][1]) if len(exprs) > 1 else exprs[0][1]


SETTLED_S = 3600.0  # a day's events are final this long after its end (see the module docstring)
RECHECK = 1000  # events re-read before the last one seen (PostgreSQL commits out of sequence order)


@dataclass
class DayEvents:
    """The events' part of the report for one day."""

    intents: Counter = field(default_factory=Counter)
    questions: dict[tuple[str, str], list] = field(default_factory=dict)  # (text, language) -> [count, last asked]


class DayCache:
    """The events' part of settled days, per (time zone, day); see the module docstring."""

    def __init__(self) -> None:
        self.days: dict[tuple[str, date], DayEvents] = {}
        self.sums: dict[tuple, tuple[Counter, dict]] = {}  # kept days summed, per period (see _events_part)
        self.lock = threading.RLock()
        self._seen = 0  # the newest event's seq at the last check
        self._tombstones: set[int] = set()  # the seqs of the tombstones among the last RECHECK events seen
        self._until = float("-inf")  # the end of the latest cached day

    def check(self, conn) -> None:
        """Drop the cache when an event it holds may have changed (call with the lock held)."""
        newest = events.last_seq(conn)
        low = max(0, (min(self._seen, newest) if self.days else newest) - RECHECK)
        earliest, tombstones = events.since(conn, low, self._seen if self.days else None, EventKind.ERASED)
        if (
            newest < self._seen  # events deleted
            or not tombstones <= self._tombstones  # a session erased
            or (earliest is not None and earliest < self._until)  # an event dated in a cached day
        ):
            self.days.clear()
            self.sums.clear()
            self._until = float("-inf")
            normalize_question.cache_clear()  # it holds visitor questions too (an erasure in another process)
        self._seen, self._tombstones = newest, tombstones

    def keep(self, tz: str, day: date, data: DayEvents) -> None:
        self.days[(tz, day)] = data
        self._until = max(self._until, bounds(day, day, tz)[1])


def _event_days(conn, start: date, end: date, tz: str) -> dict[date, DayEvents]:
    """The events' part of each day start..end, counted in SQL per day."""
    lo, hi = bounds(start, end, tz)
    out = {start + timedelta(days=i): DayEvents() for i in range((end - start).days + 1)}
    day = _day_index_sql(events_table.c.at, start, end, tz, conversations.floor(conn))
    for i, intent, n in events.intent_counts_by(conn, day, AI_KINDS, lo, hi, exclude=FLOW_INTENTS):
        out[start + timedelta(days=int(i))].intents[intent] += n
    for i, text, language, n, last in events.question_counts_by(conn, day, EventKind.AI_NO_ANSWER, NO_ANSWER, lo, hi):
        out[start + timedelta(days=int(i))].questions[(text, language)] = [n, last]
    return out


def _cached_days(conn, start: date, end: date, tz: str, cache: DayCache, now: float) -> dict[date, DayEvents]:
    """The events' part of each day start..end: the settled days from the cache (read and kept when missing)."""
    with cache.lock:
        cache.check(conn)
        days = {}
        wanted = [start + timedelta(days=i) for i in range((end - start).days + 1)]
        missing = [d for d in wanted if (tz, d) not in cache.days]
        if missing:
            for d, data in _event_days(conn, missing[0], missing[-1], tz).items():
                days[d] = data
                if bounds(d, d, tz)[1] <= now - SETTLED_S:
                    cache.keep(tz, d, data)
        for d in wanted:
            days.setdefault(d, cache.days.get((tz, d)))
    return days


def _events_part(
    conn, start: date, end: date, tz: str, cache: DayCache | None, now: float
) -> tuple[Counter, list[tuple[str, str, int, float]]]:
    """Intent counts and (text, language, count, last asked) of start..end: settled days from the cache."""
    if cache is None:  # the whole period at once: cheaper than per day when nothing is kept
        lo, hi = bounds(start, end, tz)
        intents = events.intent_counts(conn, AI_KINDS, lo, hi, exclude=FLOW_INTENTS)
        return intents, sorted(events.question_counts(conn, EventKind.AI_NO_ANSWER, NO_ANSWER, lo, hi))
    with cache.lock:  # (re-entrant) the sums are of the days this check kept
        days = _cached_days(conn, start, end, tz, cache, now)
        # The kept days' sum is kept too (per period), the others are added to a copy.
        kept = tuple(d for d in days if (tz, d) in cache.days)
        key = (tz, kept[0], kept[-1], len(kept)) if kept else None
        base = cache.sums.get(key) if key else None
        if base is None:
            base = _merge(days[d] for d in kept)
            if key:
                if len(cache.sums) >= 32:  # a few periods are looked at again and again
                    cache.sums.clear()
                cache.sums[key] = base
    rest = set(days) - set(kept)
    intents, questions = _merge((days[d] for d in sorted(rest)), base)
    return intents, [(text, language, n, last) for (text, language), (n, last) in sorted(questions.items())]


def _merge(parts, base: tuple[Counter, dict] | None = None) -> tuple[Counter, dict]:
    """The sum of DayEvents: (intent counts, {(text, language): [count, last asked]}), on a copy of `base`."""
    intents: Counter = Counter(base[0]) if base else Counter()
    questions: dict[tuple[str, str], list] = {k: list(v) for k, v in base[1].items()} if base else {}
    for data in parts:
        intents.update(data.intents)
        for key, (n, last) in data.questions.items():
            seen = questions.get(key)
            if seen is None:
                questions[key] = [n, last]
            else:
                seen[0] += n
                seen[1] = max(seen[1], last)
    return intents, questions


def report(
    store: Store,
    start: date,
    end: date,
    tz: str = "Europe/Rome",
    *,
    top: int = 15,
    cache: DayCache | None = None,
    now: float | None = None,
) -> Report:
    """Every number of the "Analisi" page for the days start..end (inclusive).

    Counted in SQL per day (outcomes, intents, questions grouped by their exact text), from
    the indexes on sessions.created_at and events(kind, at, intent); only the queue waits and handle
    times come back one per conversation (the percentiles need them). With a `cache`, the events'
    part of the days settled at `now` (default: the clock) comes from it (see the module docstring)."""
    if end < start:
        start, end = end, start
    lo, hi = bounds(start, end, tz)
    with store.read() as conn:
        counted = conversations.outcomes_by_day(
            conn, lo, hi, lambda column, floor: _day_index_sql(column, start, end, tz, floor)
        )
        timed = conversations.operator_times(conn, lo, hi)
        intents, missed = _events_part(conn, start, end, tz, cache, time.time() if now is None else now)

    outcomes = Counter({name: 0 for name in OUTCOMES})
    days: dict[date, Counter] = {}
    d = start
    while d <= end:
        days[d] = Counter({name: 0 for name in OUTCOMES})
        d += timedelta(days=1)
    total = 0
    for i, what, n in counted:
        outcomes[what] += n
        days[start + timedelta(days=int(i))][what] += n
        total += n
    waits, handles = [], []
    for r in timed:
        waits.append(r.taken_at - r.waiting_since)
        if r.closed_at is not None:
            handles.append(r.closed_at - r.taken_at)
    per_day = [
        {"day": day.isoformat(), **{name: c[name] for name in OUTCOMES}, "total": sum(c[n] for n in OUTCOMES)}
        for day, c in days.items()
    ]

    groups: dict[str, dict] = {}
    for text, language, count, created_at in missed:
        key = normalize_question(text)
        g = groups.setdefault(key, {"question": text, "count": 0, "last_asked": created_at, "languages": set()})
        g["count"] += count
        g["languages"].add(language)
        if created_at >= g["last_asked"]:
            g["last_asked"] = created_at
            g["question"] = text
    unanswered = sorted(groups.values(), key=lambda g: (-g["count"], -g["last_asked"], g["question"]))
    venue = zone(tz, or_utc=True)
    for g in unanswered:
        langs = g["languages"]
        g["languages"] = next(iter(langs)) if len(langs) == 1 else ", ".join(sorted(langs))
        t = datetime.fromtimestamp(g["last_asked"], tz=venue)  # "%Y-%m-%d %H:%M", without strftime's cost
        g["last_asked"] = f"{t.year:04d}-{t.month:02d}-{t.day:02d} {t.hour:02d}:{t.minute:02d}"

    return Report(
        start=start,
        end=end,
        conversations=total,
        outcomes=dict(outcomes),
        deflection_rate=(outcomes["ai"] / total) if total else None,
        per_day=per_day,
        queue_wait=distribution(waits),
        handle_time=distribution(handles),
        top_intents=[{"intent": i, "count": n} for i, n in sorted(intents.items(), key=lambda x: (-x[1], x[0]))[:top]],
        unanswered=unanswered,
    )


def _summary(values: list[float]) -> dict:
    """count, median and p90 of durations in seconds (None when there are none)."""
    d = distribution(values)
    return {"count": d["count"], "p50": d["p50"], "p90": d["p90"]}


def service_levels(
    store: Store, start: date, end: date, tz: str, *, first_limit_h: float, resolution_limit_h: float, now: float
) -> dict:
    """The tickets' service levels for the tickets opened start..end (inclusive), by channel: time to
    first response and to resolution (median, p90, over answered/resolved tickets), and the tickets over
    `first_limit_h` / `resolution_limit_h` (answered or resolved late, or still waiting past the limit).
    Live-chat tickets are left out: they are born resolved (their times are the queue wait and the
    handle time above)."""
    lo, hi = bounds(start, end, tz)
    with store.read() as conn:
        rows = ticket_table.service_times(conn, lo, hi, ContactMethod.LIVE_CHAT.value)
    first_limit, resolution_limit = first_limit_h * 3600, resolution_limit_h * 3600
    times: dict[str, tuple[list, list]] = {}
    over = []
    for r in rows:
        first, resolution = times.setdefault(r.contact_method, ([], []))
        first_s = None if r.first_response_at is None else r.first_response_at - r.created_at
        resolution_s = None if r.resolved_at is None else r.resolved_at - r.created_at
        if first_s is not None:
            first.append(first_s)
        if resolution_s is not None:
            resolution.append(resolution_s)
        late = []
        if (first_s if first_s is not None else now - r.created_at) > first_limit:
            late.append("first_response")
        if (resolution_s if resolution_s is not None else now - r.created_at) > resolution_limit:
            late.append("resolution")
        if late:
            over.append(
                {
                    "id": r.id,
                    "channel": r.contact_method,
                    "status": r.status,
                    "created_at": r.created_at,
                    "first_response_s": None if first_s is None else round(first_s, 1),
                    "resolution_s": None if resolution_s is None else round(resolution_s, 1),
                    "over": late,
                }
            )
    return {
        "by_channel": [
            {"channel": channel, "first_response": _summary(first), "resolution": _summary(resolution)}
            for channel, (first, resolution) in sorted(times.items())
        ],
        "over_limit": over,
        "first_response_limit_h": first_limit_h,
        "resolution_limit_h": resolution_limit_h,
    }


class Reports:
    """The dashboard's "Analisi" page over one store."""

    def __init__(self, store: Store, clock: Callable[[], float] = time.time):
        self.store = store
        self.clock = clock
        self.cache = DayCache()

    def report(self, start: date, end: date, tz: str = "Europe/Rome", *, top: int = 15) -> Report:
        """Every number of the "Analisi" page for the days start..end (inclusive); the events of
        settled days from this object's cache (see the module docstring)."""
        return report(self.store, start, end, tz, top=top, cache=self.cache, now=self.clock())

    def service_levels(
        self, start: date, end: date, tz: str = "Europe/Rome", *, first_limit_h: float, resolution_limit_h: float
    ) -> dict:
        """The tickets' service levels of start..end (see `service_levels`), at this object's clock."""
        return service_levels(
            self.store,
            start,
            end,
            tz,
            first_limit_h=first_limit_h,
            resolution_limit_h=resolution_limit_h,
            now=self.clock(),
        )

    def warm(self, tz: str, days: int = 90) -> threading.Thread:
        """Keep the events' part of the last `days` settled days, in a background thread: the
        dashboard's first report then costs what the later ones cost. Returns the (started) thread."""

        def fill() -> None:
            now = self.clock()
            end = local_day(now, tz) - timedelta(days=1)
            try:
                with self.store.read() as conn:
                    _cached_days(conn, end - timedelta(days=days - 1), end, tz, self.cache, now)
            except Exception:  # only a head start: the report reads what is missing
                log.warning("could not warm the Analisi report's day cache", exc_info=True)

        thread = threading.Thread(target=fill, name="reports-warm", daemon=True)
        thread.start()
        return thread
