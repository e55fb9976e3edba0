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
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Integer, and_, case, cast, func, literal, or_, select

from sportello.answering.bot import NO_ANSWER
from sportello.domain import ContactMethod, State
from sportello.domain.events import AI_KINDS, EventKind
from sportello.store import events
from sportello.store.database import Store
from sportello.store.tables import sessions, tickets

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


def zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except Exception:
        return ZoneInfo("UTC")


def bounds(start: date, end: date, tz: str) -> tuple[float, float]:
    """[start 00:00, end+1 00:00) in the venue's zone, as epoch seconds."""
    if end < start:
        start, end = end, start
    z = zone(tz)
    lo = datetime(start.year, start.month, start.day, tzinfo=z).timestamp()
    nxt = end + timedelta(days=1)
    hi = datetime(nxt.year, nxt.month, nxt.day, tzinfo=z).timestamp()
    return lo, hi


def local_day(ts: float, tz: str) -> date:
    return datetime.fromtimestamp(ts, tz=UTC).astimezone(zone(tz)).date()


def outcome(row) -> str:
    """The outcome of one session row (see the module docstring)."""
    if row.taken_at is not None:
        return "operator"
    if row.ticket_id is not None and (row.contact_method or "") != ContactMethod.LIVE_CHAT:
        return "ticket"
    if row.waiting_since is not None or row.status in (State.WAITING, State.COLLECTING_CONTACT, State.CLOSED):
        return "no_outcome"
    return "ai"


def normalize_question(text: str) -> str:
    """Key to group the same question asked with different case/spacing/punctuation."""
    text = re.sub(r"\s+", " ", (text or "").strip().casefold())
    return text.rstrip(" ?!.;,:¿¡")


def distribution(values: list[float]) -> dict:
    """count, p50, p90, max and the histogram buckets of durations in seconds."""
    values = sorted(v for v in values if v is not None and v >= 0)
    counts = Counter()
    for v in values:
        for label, upper in DURATION_BUCKETS:
            if v < upper:
                counts[label] += 1
                break
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


def _outcome_sql():
    """`outcome()` as a SQL expression over sessions LEFT JOIN tickets."""
    return case(
        (sessions.c.taken_at.is_not(None), "operator"),
        (
            and_(
                sessions.c.ticket_id.is_not(None),
                func.coalesce(tickets.c.contact_method, "") != str(ContactMethod.LIVE_CHAT),
            ),
            "ticket",
        ),
        (
            or_(
                sessions.c.waiting_since.is_not(None),
                sessions.c.status.in_([str(State.WAITING), str(State.COLLECTING_CONTACT), str(State.CLOSED)]),
            ),
            "no_outcome",
        ),
        else_="ai",
    )


def report(store: Store, start: date, end: date, tz: str = "Europe/Rome", *, top: int = 15) -> Report:
    """Every number of the "Analisi" page for the days start..end (inclusive).

    Counted in SQL (outcomes per day, intents, questions grouped by their exact text), from
    the indexes on sessions.created_at and events(kind, at, intent); only the queue waits and handle
    times come back one per conversation (the percentiles need them)."""
    if end < start:
        start, end = end, start
    lo, hi = bounds(start, end, tz)
    conversation = and_(sessions.c.created_at >= lo, sessions.c.created_at < hi, sessions.c.last_seq > 1)
    with store.read() as conn:
        if conn.dialect.name == "postgresql":
            floor = func.floor
        else:  # SQLite: CAST truncates, the same as floor for the positive offsets here
            floor = lambda x: cast(x, Integer)  # noqa: E731
        day = _day_index_sql(sessions.c.created_at, start, end, tz, floor)
        what = _outcome_sql()
        counted = conn.execute(
            select(day.label("day"), what.label("outcome"), func.count())
            .select_from(sessions.outerjoin(tickets, tickets.c.id == sessions.c.ticket_id))
            .where(conversation)
            .group_by("day", "outcome")  # by label: PostgreSQL sees two bound copies of an expression as different
        ).all()
        timed = conn.execute(
            select(sessions.c.waiting_since, sessions.c.taken_at, sessions.c.closed_at).where(
                conversation, sessions.c.taken_at.is_not(None), sessions.c.waiting_since.is_not(None)
            )
        ).all()
        intents = events.intent_counts(conn, AI_KINDS, lo, hi, exclude=FLOW_INTENTS)
        missed = events.question_counts(conn, EventKind.AI_NO_ANSWER, NO_ANSWER, lo, hi)

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
    for g in unanswered:
        g["languages"] = ", ".join(sorted(g["languages"]))
        g["last_asked"] = (
            datetime.fromtimestamp(g["last_asked"], tz=UTC).astimezone(zone(tz)).strftime("%Y-%m-%d %H:%M")
        )

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


class Reports:
    """The dashboard's "Analisi" page over one store."""

    def __init__(self, store: Store):
        self.store = store

    def report(self, start: date, end: date, tz: str = "Europe/Rome", *, top: int = 15) -> Report:
        """Every number of the "Analisi" page for the days start..end (inclusive)."""
        return report(self.store, start, end, tz, top=top)
