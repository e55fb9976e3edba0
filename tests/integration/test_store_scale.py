"""A store holding a year of data (store scale): sent outbox rows are pruned, never unsent ones; the
reports computed in SQL give the answers the row-by-row computation gave; migration 0005 upgrades a
0004 store that holds data. (The speed itself is measured by bench/store_scale.py, not here.)"""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import func, inspect, select, update

from sportello.answering.bot import NO_ANSWER
from sportello.config import Settings
from sportello.domain import ValidationError
from sportello.domain.events import AI_KINDS, EventKind
from sportello.runtime import Runtime
from sportello.services.conversation_log import ConversationLog
from sportello.services.reports import (
    FLOW_INTENTS,
    OUTCOMES,
    bounds,
    distribution,
    local_day,
    normalize_question,
    outcome,
    report,
    zone,
)
from sportello.store import migrate
from sportello.store.database import Store
from sportello.store.outbox import mark_sent, note_failure, prune_sent, pruned_through
from sportello.store.tables import events, outbox, sessions, tickets
from testkit.dashboard import D0, D1, D2, D3, FakeAnswerer, seed

pytestmark = pytest.mark.both_databases
DAY = 86400.0


@pytest.fixture
def rt(settings):
    runtime = Runtime(settings, answerer=FakeAnswerer())
    seed(runtime)
    yield runtime
    runtime.store.dispose()


def outbox_rows(store) -> dict[int, tuple[str, str]]:
    with store.read() as conn:
        return {
            r.id: (r.status, r.event_id) for r in conn.execute(select(outbox.c.id, outbox.c.status, outbox.c.event_id))
        }


def test_prune_deletes_old_sent_rows_only_and_the_log_keeps_them(rt):
    log = ConversationLog(rt.store)
    rows = outbox_rows(rt.store)
    ids = sorted(rows)
    assert len(ids) > 20 and {s for s, _ in rows.values()} == {"pending"}
    # The first half was sent 30 days ago, a few rows were sent an hour ago; the rest never was: some
    # failed (with attempts and an error), and they are old too.
    old_sent, recent_sent, unsent = (
        ids[: len(ids) // 2],
        ids[len(ids) // 2 : len(ids) // 2 + 3],
        ids[len(ids) // 2 + 3 :],
    )
    now = time.time()
    mark_sent(rt.store, old_sent, now - 30 * DAY)
    mark_sent(rt.store, recent_sent, now - 3600)
    note_failure(rt.store, unsent[:5], "HTTP 503")
    with rt.store.write() as conn:
        conn.execute(update(outbox).values(created_at=now - 60 * DAY))
        conn.execute(update(outbox).where(outbox.c.id.in_(unsent[:5])).values(attempts=4))
    before = log.rows()
    assert {r["sync"] for r in before} == {"sent", "pending"}

    assert prune_sent(rt.store, 7 * DAY, batch=4) == len(old_sent)  # several batches
    after = outbox_rows(rt.store)
    assert sorted(after) == recent_sent + unsent
    assert all(after[i] == ("pending", rows[i][1]) for i in unsent)  # nothing unsent is ever pruned
    with rt.store.read() as conn:
        assert pruned_through(conn) == old_sent[-1]
        assert conn.execute(select(func.max(outbox.c.attempts))).scalar() == 4
    # The log is unchanged: same rows, same commit order, the pruned ones still "sent".
    assert log.rows() == before
    assert prune_sent(rt.store, 7 * DAY) == 0  # nothing more to do

    # Everything sent long ago: all goes but the newest row (its id must not be reused, events keep it).
    mark_sent(rt.store, recent_sent + unsent, now - 30 * DAY)
    assert prune_sent(rt.store, 7 * DAY) == len(recent_sent + unsent) - 1
    assert sorted(outbox_rows(rt.store)) == [ids[-1]]
    assert [r["sync"] for r in log.rows()] == [r["sync"].replace("pending", "sent") for r in before]
    assert [{**r, "sync": ""} for r in log.rows()] == [{**r, "sync": ""} for r in before]
    # New events go on after the pruned ones.
    s = rt.chat.start_session("it", "ua")
    rt.chat.visitor_message(s["session_id"], s["token"], "Quanto costa il biglietto?")
    newest = log.rows(limit=1)[0]
    assert newest["session_id"] == s["session_id"] and newest["sync"] == "pending"


def test_keep_sent_days_setting():
    assert Settings.from_env({}).outbox_keep_sent_days == 7
    assert Settings.from_env({"OUTBOX_KEEP_SENT_DAYS": "0"}).outbox_keep_sent_days == 0


def reference_report(store, start, end, tz):
    """The report as it was computed before the store-scale work: every session and event of the period, in Python."""
    lo, hi = bounds(start, end, tz)
    with store.read() as conn:
        rows = conn.execute(
            select(
                sessions.c.status,
                sessions.c.created_at,
                sessions.c.waiting_since,
                sessions.c.taken_at,
                sessions.c.closed_at,
                sessions.c.ticket_id,
                tickets.c.contact_method,
            )
            .select_from(sessions.outerjoin(tickets, tickets.c.id == sessions.c.ticket_id))
            .where(sessions.c.created_at >= lo, sessions.c.created_at < hi, sessions.c.last_seq > 1)
        ).all()
        intents = Counter(
            conn.execute(
                select(events.c.intent).where(
                    events.c.kind.in_([str(k) for k in AI_KINDS]), events.c.at >= lo, events.c.at < hi
                )
            ).scalars()
        )
        missed = conn.execute(
            select(events.c.text, events.c.at, sessions.c.language)
            .select_from(events.join(sessions, sessions.c.id == events.c.session_id))
            .where(
                events.c.kind == str(EventKind.AI_NO_ANSWER),
                events.c.intent == NO_ANSWER,
                events.c.at >= lo,
                events.c.at < hi,
            )
        ).all()
    days = {start + timedelta(days=i): Counter() for i in range((end - start).days + 1)}
    waits, handles = [], []
    for r in rows:
        days[local_day(r.created_at, tz)][outcome(r)] += 1
        if r.taken_at is not None and r.waiting_since is not None:
            waits.append(r.taken_at - r.waiting_since)
            if r.closed_at is not None:
                handles.append(r.closed_at - r.taken_at)
    groups: dict[str, dict] = {}
    for text, at, language in sorted(missed, key=lambda m: m[1]):
        g = groups.setdefault(normalize_question(text), {"count": 0, "languages": set()})
        g.update(count=g["count"] + 1, question=text, last_asked=at)
        g["languages"].add(language)
    unanswered = [
        {
            **g,
            "languages": ", ".join(sorted(g["languages"])),
            "last_asked": datetime.fromtimestamp(g["last_asked"], tz=UTC)
            .astimezone(zone(tz))
            .strftime("%Y-%m-%d %H:%M"),
        }
        for g in sorted(groups.values(), key=lambda g: (-g["count"], -g["last_asked"], g["question"]))
    ]
    for name in [*FLOW_INTENTS, ""]:
        intents.pop(name, None)
    return {
        "conversations": len(rows),
        "outcomes": {o: sum(c[o] for c in days.values()) for o in OUTCOMES},
        "per_day": [
            {"day": d.isoformat(), **{o: c[o] for o in OUTCOMES}, "total": sum(c.values())} for d, c in days.items()
        ],
        "queue_wait": distribution(waits),
        "handle_time": distribution(handles),
        "top_intents": [{"intent": i, "count": n} for i, n in sorted(intents.items(), key=lambda x: (-x[1], x[0]))][
            :15
        ],
        "unanswered": unanswered,
    }


@pytest.mark.parametrize("tz", ["Europe/Rome", "America/New_York", "Asia/Kathmandu"])  # DST on D0 in New York; +5:45
def test_reports_in_sql_give_the_same_answers(rt, tz):
    for start, end in [(D0, D3), (D1, D1), (D0 - timedelta(days=40), D3 + timedelta(days=3)), (D3, D3)]:
        r = report(rt.store, start, end, tz)
        expected = reference_report(rt.store, start, end, tz)
        got = {k: getattr(r, k) for k in expected}
        assert got == expected, (start, end, tz)
    assert report(rt.store, D0, D3, tz).conversations > 5  # the seed is in the period


def test_migration_0005_upgrades_a_0004_store_with_data(rt, settings):
    log = ConversationLog(rt.store)
    before = (log.rows(), log.intents(), report(rt.store, D0, D3, "Europe/Rome"))
    assert len(before[0]) > 20
    # Back to 0004 (alembic downgrade): no events.seq, none of the new indexes; the data stays.
    with rt.store.engine.connect() as conn:
        if conn.dialect.name == "sqlite":  # downgrades recreate tables other tables refer to
            conn.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
        with conn.begin():
            command.downgrade(migrate.config(conn), "0004")
    rt.store.dispose()
    engine = Store(settings.database_url, create=False).engine
    try:
        assert migrate.current(engine) == "0004"
        insp = inspect(engine)
        assert "seq" not in {c["name"] for c in insp.get_columns("events")}
        assert "ix_sessions_created_at" not in {i["name"] for i in insp.get_indexes("sessions")}
    finally:
        engine.dispose()

    store = Store(settings.database_url)  # opening the store upgrades it
    try:
        assert migrate.current(store.engine) == migrate.head()
        insp = inspect(store.engine)
        assert {"ix_events_seq", "ix_events_kind_at_intent"} <= {i["name"] for i in insp.get_indexes("events")}
        assert {"ix_sessions_created_at", "ix_sessions_taken_at"} <= {i["name"] for i in insp.get_indexes("sessions")}
        with store.read() as conn:
            pairs = conn.execute(
                select(events.c.seq, outbox.c.id).select_from(events.join(outbox, outbox.c.event_id == events.c.id))
            ).all()
            assert pairs and all(seq == oid for seq, oid in pairs)  # backfilled: the outbox row's id
            assert conn.execute(select(func.count()).where(events.c.seq.is_(None))).scalar() == 0
        log = ConversationLog(store)
        assert (log.rows(), log.intents(), report(store, D0, D3, "Europe/Rome")) == before
    finally:
        store.dispose()


def test_the_day_cache_gives_the_uncached_answers_and_sees_erasures_and_late_events(rt, monkeypatch):
    from sportello.services import reports as reports_mod
    from sportello.services.chat import ChatService

    tz = "Europe/Rome"
    computed = []
    real = reports_mod._event_days
    monkeypatch.setattr(
        reports_mod, "_event_days", lambda conn, a, b, z: computed.append((a, b)) or real(conn, a, b, z)
    )
    cached = reports_mod.Reports(rt.store)  # the seed's days (2025) are long settled
    first = cached.report(D0, D3, tz)
    assert first == report(rt.store, D0, D3, tz) and computed == [(D0, D3)]  # (without a cache: not per day)
    assert first.unanswered and first.top_intents
    computed.clear()
    assert cached.report(D1, D2, tz) == report(rt.store, D1, D2, tz) and computed == []  # only the sessions read
    computed.clear()

    # An event dated in a cached day (a clock in the past) drops the cache.
    at = datetime(2025, 3, 11, 15, 0, tzinfo=zone(tz)).timestamp()
    svc = ChatService(rt.store, FakeAnswerer(), rt.settings, clock=lambda: at)
    s = svc.start_session("it", "pytest/1.0")
    svc.visitor_message(s["session_id"], s["token"], "Posso portare il cane?")
    late = cached.report(D0, D3, tz)
    assert late == report(rt.store, D0, D3, tz) and late.unanswered != first.unanswered

    # An erasure (texts blanked, in the transaction of its tombstone) drops it too.
    before = cached.report(D0, D3, tz)
    assert cached.report(D0, D3, tz) == before
    rt.privacy.erase_session(s["session_id"])
    erased = cached.report(D0, D3, tz)
    assert erased == report(rt.store, D0, D3, tz) and erased.unanswered != before.unanswered

    # Today is never cached: its events are read on every report.
    assert all(day < date.today() for _, day in cached.cache.days)


def test_the_warm_up_keeps_the_settled_days_and_the_report_reads_only_the_sessions(rt, monkeypatch):
    from sportello.services import reports as reports_mod

    tz = "Europe/Rome"
    now = datetime(2025, 3, 13, 0, 30, tzinfo=zone(tz)).timestamp()  # D3 ended half an hour ago: not settled
    warm = reports_mod.Reports(rt.store, clock=lambda: now)
    warm.warm(tz, days=5).join()
    assert sorted(day for _, day in warm.cache.days) == [D0 - timedelta(days=1), D0, D1, D2]
    computed = []
    real = reports_mod._event_days
    monkeypatch.setattr(
        reports_mod, "_event_days", lambda conn, a, b, z: computed.append((a, b)) or real(conn, a, b, z)
    )
    assert warm.report(D0, D2, tz) == report(rt.store, D0, D2, tz) and computed == []
    assert warm.report(D0, D3, tz) == report(rt.store, D0, D3, tz) and computed == [(D3, D3)]  # not settled


def test_the_ticket_list_filters_statuses_and_text_in_sql(rt):
    everything = rt.tickets.list()
    assert len(everything) >= 2 and [t["id"] for t in everything] == sorted((t["id"] for t in everything), reverse=True)
    for statuses in (["open"], ["open", "pending"], ["resolved", "closed", "open"], ["pending"]):
        got = rt.tickets.list(statuses=statuses)
        assert got == [t for t in everything if t["status"] in statuses]
    assert (
        rt.tickets.list(statuses=["open", "pending"], limit=1)
        == [t for t in everything if t["status"] in ("open", "pending")][:1]
    )
    with pytest.raises(ValidationError):
        rt.tickets.list(statuses=["open", "nope"])
    some = everything[0]
    assert some["id"] in {t["id"] for t in rt.tickets.list(q=some["contact_info"][:5])}


def test_the_fast_iso_is_isoformat():
    import random
    from datetime import UTC, datetime

    from sportello.domain import iso

    def isoformat(v):  # what iso() wrote before it was made fast
        return (
            None
            if v is None
            else datetime.fromtimestamp(v, tz=UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        )

    rnd = random.Random(14)
    values = [rnd.uniform(0, 4e9) for _ in range(20_000)] + [None, 0.0, 1e-7, 59.9999995, 86399.9999996]
    values += [t + f for t in (1741564800, 1774220400) for f in (0, 0.4999995, 0.9999994, 0.9999995, 0.99999951)]
    assert [iso(v) for v in values] == [isoformat(v) for v in values]


def test_the_log_by_session_prefix_reads_a_range_with_the_same_rows(rt):
    log = ConversationLog(rt.store)
    rows = log.rows()
    ids = sorted({r["session_id"] for r in rows})
    prefixes = {"", ids[0][:1], ids[-1][:3], ids[1], "f", "ff", "0", ids[0][:2] + "zz"}
    for prefix in prefixes:
        assert log.rows(session=prefix) == [r for r in rows if r["session_id"].startswith(prefix)], prefix


def test_the_duration_buckets_count_each_value_once_below_its_bound():
    from sportello.services.reports import DURATION_BUCKETS

    values = [0, 0.5, 29.999, 30, 30, 59, 60, 119.9, 120, 299, 300, 600, 1799, 1800, 5000, -1, None]
    got = {b["bucket"]: b["count"] for b in distribution(values)["buckets"]}
    naive = Counter(
        next(label for label, upper in DURATION_BUCKETS if v < upper) for v in values if v is not None and v >= 0
    )
    assert got == {label: naive[label] for label, _ in DURATION_BUCKETS} and sum(got.values()) == 15


def test_the_answer_rate_keeps_the_settled_counts_and_sees_late_events(rt):
    from sportello.services.chat import ChatService

    def reference(ts):
        with rt.store.read() as conn:
            rows = conn.execute(
                select(events.c.kind, events.c.at).where(
                    events.c.kind.in_([str(EventKind.AI_ANSWERED), str(EventKind.AI_NO_ANSWER)]),
                    events.c.intent.not_in(sorted(FLOW_INTENTS)),
                )
            ).all()
        out = {}
        for side, keep in (("before", lambda at: at < ts), ("after", lambda at: at >= ts)):
            mine = [k for k, at in rows if keep(at)]
            answered = mine.count(str(EventKind.AI_ANSWERED))
            out[side] = {"questions": len(mine), "answered": answered, "rate": answered / len(mine) if mine else None}
        return {"since": ts, **out}

    ts = datetime(2025, 3, 11, 0, 0, tzinfo=UTC).timestamp()
    first = rt.learning.answer_rate_since(ts)
    assert first == reference(ts) and first["before"]["questions"] and first["after"]["questions"]
    assert rt.learning.answer_rate_since(ts) == first
    for when in (ts - 5 * DAY, time.time()):  # an event dated in the kept counts (a past clock), one of now
        svc = ChatService(rt.store, FakeAnswerer(), rt.settings, clock=lambda when=when: when)
        s = svc.start_session("it", "pytest/1.0")
        svc.visitor_message(s["session_id"], s["token"], "Posso portare il cane?")
        assert rt.learning.answer_rate_since(ts) == reference(ts)
    assert rt.learning.answer_rate_since(ts) != first
