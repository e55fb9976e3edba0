"""sportello.services.reports, sportello.services.conversation_log and sportello.services.tickets on a store
seeded through ChatService calls with a fake clock: exact numbers."""

from __future__ import annotations

import csv
import io

import pytest

from sportello.domain import Conflict, Forbidden
from sportello.runtime import Runtime
from sportello.services import conversation_log as dashboard_log
from sportello.services import reports as analytics
from sportello.sinks.layout import CONVERSATION_HEADER
from testkit.dashboard import D0, D1, D2, D3, DOG, PARKING, FakeAnswerer, seed


@pytest.fixture
def rt(settings):
    runtime = Runtime(settings, answerer=FakeAnswerer())
    yield runtime
    runtime.store.dispose()


@pytest.fixture
def seeded(rt):
    return seed(rt)


def test_outcomes_deflection_and_days(rt, seeded):
    r = analytics.report(rt.store, D1, D3, "Europe/Rome")
    assert r.conversations == 7
    assert r.outcomes == {"ai": 3, "operator": 2, "ticket": 1, "no_outcome": 1}
    assert r.deflection_rate == pytest.approx(3 / 7)
    assert r.share("operator") == pytest.approx(2 / 7)
    assert r.per_day == [
        {"day": "2025-03-10", "ai": 3, "operator": 1, "ticket": 0, "no_outcome": 0, "total": 4},
        {"day": "2025-03-11", "ai": 0, "operator": 1, "ticket": 1, "no_outcome": 1, "total": 3},
        {"day": "2025-03-12", "ai": 0, "operator": 0, "ticket": 0, "no_outcome": 0, "total": 0},
    ]
    # 23:30 UTC on the 12th is the 13th in Rome; the 9th is outside too.
    assert analytics.report(rt.store, D3, D3, "Europe/Rome").conversations == 0
    assert analytics.report(rt.store, D3, D3, "UTC").conversations == 1
    assert analytics.report(rt.store, D0, D0, "Europe/Rome").outcomes["ai"] == 1
    # The period's ends can be given in any order.
    assert analytics.report(rt.store, D3, D1, "Europe/Rome").conversations == 7


def test_wait_and_handle_time_distributions(rt, seeded):
    r = analytics.report(rt.store, D1, D3, "Europe/Rome")
    wait = r.queue_wait
    assert wait["count"] == 2
    assert (wait["p50"], wait["p90"], wait["max"]) == (60.0, 84.0, 90.0)
    buckets = {b["bucket"]: b["count"] for b in wait["buckets"]}
    assert buckets == {
        "< 30 s": 0,
        "30 s – 1 min": 1,
        "1–2 min": 1,
        "2–5 min": 0,
        "5–10 min": 0,
        "10–30 min": 0,
        "≥ 30 min": 0,
    }
    handle = r.handle_time
    assert handle["count"] == 2
    assert (handle["p50"], handle["max"]) == (180.0, 300.0)
    assert {b["bucket"]: b["count"] for b in handle["buckets"] if b["count"]} == {"1–2 min": 1, "5–10 min": 1}


def test_top_intents_and_unanswered_questions(rt, seeded):
    r = analytics.report(rt.store, D1, D3, "Europe/Rome")
    assert r.top_intents == [
        {"intent": "no_answer", "count": 4},
        {"intent": "richiesta_prezzi", "count": 2},
        {"intent": "operator_request", "count": 1},
        {"intent": "orari", "count": 1},
    ]
    got = [(u["count"], u["question"], u["languages"]) for u in r.unanswered]
    # Same question with other case/punctuation is one entry; the latest wording is shown.
    assert got == [(3, "POSSO PORTARE IL CANE??", "it"), (1, PARKING, "en")]
    assert r.unanswered[0]["last_asked"] == "2025-03-11 12:00"  # 11:00 UTC in Rome
    assert analytics.normalize_question(DOG) == analytics.normalize_question("  posso  PORTARE il cane ")


def test_empty_period():
    # No store needed: an empty distribution has no percentiles.
    d = analytics.distribution([])
    assert d["count"] == 0 and d["p50"] is None and sum(b["count"] for b in d["buckets"]) == 0


def test_log_is_the_outbox_with_filters(rt, seeded):
    all_rows = rt.conversation_log.rows()
    # Rows per session, from the flow: 1+2+2+5+0 (D1) + 3+2+5 (D2) + 1 (D3) + 1 (D0).
    assert len(all_rows) == 22
    assert set(all_rows[0]) == {*CONVERSATION_HEADER, "sync"}
    assert {r["sync"] for r in all_rows} == {"pending"}
    assert all_rows[0]["session_id"] == seeded[9]  # newest first

    d2 = rt.conversation_log.rows(start=D2, end=D2, tz="Europe/Rome")
    assert len(d2) == 10
    assert {r["session_id"] for r in d2} == {seeded[6], seeded[7], seeded[8]}

    one = rt.conversation_log.rows(session=seeded[4][:8])
    assert [r["intent_detected"] for r in reversed(one)] == [
        "no_answer",
        "operator_queue",
        "chat_handover",
        "live_chat_operator_message",
        "live_chat_operator",
    ]
    assert rt.conversation_log.rows(session="%") == []  # LIKE wildcards are literal

    missed = rt.conversation_log.rows(intents=["no_answer"], start=D1, end=D3)
    assert sorted(r["user_message"] for r in missed) == sorted(
        [DOG, "Posso portare il cane", PARKING, "POSSO PORTARE IL CANE??"]
    )
    assert "no_answer" in rt.conversation_log.intents()


def test_sync_status_follows_the_worker(rt, seeded):
    before = rt.conversation_log.sync_status()
    assert before["state"] == "unknown" and before["backlog"] > 0  # no app process published a status
    rt.worker.drain()
    rt.worker.save_status()
    after = rt.conversation_log.sync_status()
    assert after["state"] == "ok" and after["backlog"] == 0 and after["sink"] == "csv"
    assert {r["sync"] for r in rt.conversation_log.rows()} == {"sent"}


def test_csv_exports_are_formula_safe(rt, seeded):
    rows = [{"timestamp": "t", "session_id": "s", "user_message": '=HYPERLINK("http://x")', "bot_reply": "+1"}]
    data = dashboard_log.csv_bytes(CONVERSATION_HEADER, rows).decode("utf-8-sig")
    parsed = list(csv.DictReader(io.StringIO(data)))
    assert parsed[0]["user_message"] == '\'=HYPERLINK("http://x")' and parsed[0]["bot_reply"] == "'+1"

    found = rt.tickets.list()
    exported = list(csv.DictReader(io.StringIO(rt.tickets.export_csv(found).decode("utf-8-sig"))))
    assert [int(r["id"]) for r in exported] == [t["id"] for t in found]
    assert len(exported) == 3


def test_ticket_list_filters(rt, seeded):
    ids = seeded["operators"]
    assert [t["status"] for t in rt.tickets.list()] == ["resolved", "open", "resolved"]
    assert len(rt.tickets.list(statuses=["open", "pending"])) == 1
    assert len(rt.tickets.list(statuses=["resolved"])) == 2
    assert [t["contact_info"] for t in rt.tickets.list(q="anna@")] == ["anna@example.org"]
    open_one = rt.tickets.list(statuses=["open"])[0]
    rt.tickets.update(open_one["id"], assigned_to=ids["lucia"], author="Mario")
    mine = rt.tickets.list(assigned_to=ids["lucia"])
    assert [t["id"] for t in mine] == [open_one["id"]] and mine[0]["assigned_to_name"] == "Lucia Bianchi"
    history = rt.tickets.history_messages(open_one)
    assert [m["text"] for m in history if m["role"] == "user"] == [PARKING]


def test_admin_rules(rt, seeded):
    ids = seeded["operators"]
    with pytest.raises(Forbidden):
        rt.operators.admin_add(ids["lucia"], "paolo", "Paolo Verdi", "password123")
    with pytest.raises(Conflict):
        rt.operators.admin_update(ids["mario"], ids["mario"], active=False)
    new = rt.operators.admin_add(ids["mario"], "paolo", "Paolo Verdi", "password123", max_chats=2)
    assert new["max_chats"] == 2 and not new["is_admin"]
    off = rt.operators.admin_update(ids["mario"], new["id"], active=False, max_chats=5)
    assert off["active"] is False and off["max_chats"] == 5
