"""The counter stores behind the throttle rules: the same rules on memory, SQLite, PostgreSQL and Redis.

PostgreSQL runs when SPORTELLO_TEST_POSTGRES_URL is set, Redis when SPORTELLO_TEST_REDIS_URL is
(e.g. redis://127.0.0.1:6379/15; `.ci/run` sets both); otherwise those variants are skipped."""

from __future__ import annotations

import os
import threading
import uuid

import pytest
from sqlalchemy import func, select

from sportello.config import Settings
from sportello.domain import RateLimited
from sportello.services.throttle import FailureLock, LoginGuard, MemoryCounters, RateLimit, VisitorQuotas
from sportello.store.database import Store
from sportello.store.limits import DatabaseCounters, RedisCounters
from sportello.store.tables import limit_counters, limit_events

REDIS_ENV = "SPORTELLO_TEST_REDIS_URL"


class Clock:
    def __init__(self):
        self.now = 1_700_000_000.0  # a wall-clock time, as the shared stores use

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", "sqlite", "postgresql", "redis"])
def counters(request, tmp_path):
    if request.param == "memory":
        yield MemoryCounters()
        return
    if request.param == "redis":
        url = os.environ.get(REDIS_ENV, "")
        if not url:
            pytest.skip(f"Redis variant not run: set {REDIS_ENV} (e.g. redis://127.0.0.1:6379/15)")
        store = RedisCounters(url, prefix=f"test:{uuid.uuid4().hex}:")
        yield store
        keys = list(store.redis.scan_iter(match=store.prefix + "*"))
        if keys:
            store.redis.delete(*keys)
        store.redis.close()
        return
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'limits.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    store = Store(url)
    yield DatabaseCounters(store)
    store.dispose()


def test_token_bucket_refills_over_the_window(counters):
    clock = Clock()
    limit = RateLimit(3, 30, counters=counters, clock=clock)
    assert [limit.hit("a") for _ in range(3)] == [0, 0, 0]
    assert limit.hit("a") == pytest.approx(10)  # one token per 10 s
    assert limit.hit("b") == 0  # another key has its own bucket
    clock.now += 10
    assert limit.hit("a") == 0 and limit.hit("a") > 0
    clock.now += 5
    assert limit.hit("a") == pytest.approx(5)  # a refusal takes nothing
    clock.now += 1000
    assert [limit.hit("a") for _ in range(4)][:3] == [0, 0, 0]  # full again, never more than the limit


def test_two_rules_on_one_store_count_apart(counters):
    clock = Clock()
    sessions = RateLimit(1, 60, name="sessions", counters=counters, clock=clock)
    messages = RateLimit(1, 60, name="messages", counters=counters, clock=clock)
    assert sessions.hit("10.0.0.1") == 0 and messages.hit("10.0.0.1") == 0
    assert sessions.hit("10.0.0.1") > 0 and messages.hit("10.0.0.1") > 0


def test_failure_lock_locks_then_expires_and_old_failures_slide_out(counters):
    clock = Clock()
    lock = FailureLock(3, window_s=60, lockout_s=120, counters=counters, clock=clock)
    lock.fail("u")
    clock.now += 61  # out of the window
    assert lock.fail("u") == 0 and lock.fail("u") == 0
    assert lock.fail("u") == 120 and lock.locked_for("u") == pytest.approx(120)
    clock.now += 119
    assert lock.locked_for("u") == pytest.approx(1)
    clock.now += 1
    assert lock.locked_for("u") == 0
    lock.fail("u")
    lock.clear("u")
    assert lock.count("u") == 0


def test_login_guard_on_the_store(counters):
    settings = Settings.from_env({"LOGIN_MAX_FAILURES_PER_USER": "2", "LOGIN_SLOWDOWN_MAX_S": "2"})
    clock = Clock()
    guard = LoginGuard(settings, counters=counters, clock=clock)
    guard.failed("mario", "10.0.0.1")
    with pytest.raises(RateLimited) as exc:
        guard.failed("mario", "10.0.0.1")
    assert exc.value.code == "too_many_attempts" and exc.value.retry_after_s == 300
    with pytest.raises(RateLimited):
        guard.check("mario", "10.0.0.1")
    assert 0 < guard.check("mario", "10.0.0.2") <= 2  # slowed down from another address, never locked
    # A second guard on the same store (another process) sees the same lock.
    other = LoginGuard(settings, counters=counters, clock=clock)
    with pytest.raises(RateLimited):
        other.check("mario", "10.0.0.1")
    assert guard.check("lucia", "10.0.0.1") == 0


def test_quotas_shared_by_two_services_on_one_store(counters):
    settings = Settings.from_env({"SESSION_RATE_PER_IP": "10", "RATE_WINDOW_S": "60"})
    clock = Clock()
    a, b = (VisitorQuotas(settings, counters=counters, clock=clock) for _ in range(2))
    accepted = 0
    for i in range(20):
        try:
            (a if i % 2 else b).new_session("10.0.0.7")
            accepted += 1
        except RateLimited:
            pass
    assert accepted == 10


def test_long_keys_are_kept_apart(counters):
    clock = Clock()
    limit = RateLimit(1, 60, counters=counters, clock=clock)
    long_a, long_b = "a" * 400, "a" * 399 + "b"
    assert limit.hit(long_a) == 0 and limit.hit(long_b) == 0 and limit.hit(long_a) > 0


def test_concurrent_takes_never_exceed_the_limit(counters):
    limit = RateLimit(50, 3600, counters=counters, clock=Clock())
    results: list[float] = []
    lock = threading.Lock()

    def worker():
        for _ in range(20):
            wait = limit.hit("10.9.9.9")
            with lock:
                results.append(wait)

    threads = [threading.Thread(target=worker) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(0) == 50


def test_expired_rows_are_pruned(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'limits.db'}")
    try:
        counters = DatabaseCounters(store)
        clock = Clock()
        limit = RateLimit(10, 60, counters=counters, clock=clock)
        lock = FailureLock(5, 900, 300, name="login_ip", counters=counters, clock=clock)
        for i in range(100):
            limit.hit(f"10.0.{i // 256}.{i % 256}")
            lock.fail(f"10.1.{i // 256}.{i % 256}")
        assert counters.prune(clock.now) == 0  # nothing has expired yet

        def rows() -> tuple[int, int]:
            with store.read() as conn:
                return (
                    conn.execute(select(func.count()).select_from(limit_counters)).scalar(),
                    conn.execute(select(func.count()).select_from(limit_events)).scalar(),
                )

        assert rows() == (100, 100)
        clock.now += 61  # the buckets are full again: their rows mean nothing
        assert counters.prune(clock.now) == 100 and rows() == (0, 100)
        clock.now += 900  # the failures are out of their window
        assert counters.prune(clock.now) == 100 and rows() == (0, 0)
    finally:
        store.dispose()


def test_unreachable_redis_lets_requests_through(caplog):
    counters = RedisCounters("redis://127.0.0.1:1/0")  # nothing listens there
    limit = RateLimit(1, 60, counters=counters)
    assert limit.hit("10.0.0.1") == 0 and limit.hit("10.0.0.1") == 0
    assert "Redis unreachable" in caplog.text


@pytest.mark.both_databases
def test_a_visitor_message_counts_once_and_is_refused_before_the_answerer(tmp_path, db_env):
    """The message quota as the chat applies it: on SQLite the token is taken in the message's own transaction
    (no commit of its own); a turn that writes nothing (the AI's answer still to come, an unknown
    chat) still counts; a refused message never reaches the answerer."""
    from sportello.domain import DomainError
    from sportello.runtime import Runtime
    from testkit.dashboard import FakeAnswerer

    class Counting(FakeAnswerer):
        calls = 0

        def answer(self, question, lang=None):
            Counting.calls += 1
            return super().answer(question, lang)

    settings = Settings.from_env(
        {"DATA_DIR": str(tmp_path), "MESSAGE_RATE_PER_IP": "4", "RATE_WINDOW_S": "600", **db_env}
    )
    rt = Runtime(settings, answerer=Counting())
    try:
        assert rt.chat.quotas.joins_transactions is rt.store.is_sqlite
        v = rt.chat.start_session("it", "pytest")
        client = f"203.0.113.{uuid.uuid4().int % 250 + 1}"
        rt.chat.visitor_message(v["session_id"], v["token"], "quanto costa?", client=client)  # the AI's turn
        rt.chat.visitor_message(v["session_id"], v["token"], "e gli orari?", client=client)
        assert Counting.calls == 2
        with pytest.raises(DomainError):  # an unknown chat: nothing written, the message counted all the same
            rt.chat.visitor_message(uuid.uuid4().hex, v["token"], "ciao", client=client)
        w = rt.chat.start_session("it", "pytest")
        rt.chat.visitor_message(w["session_id"], w["token"], "quanto costa?", client=client)  # the 4th
        with pytest.raises(RateLimited):
            rt.chat.visitor_message(w["session_id"], w["token"], "e gli orari?", client=client)
        assert Counting.calls == 3  # the refused 5th never reached the answerer
        rt.chat.visitor_message(w["session_id"], w["token"], "e gli orari?", client="198.51.100.9")  # another address
        with rt.store.read() as conn:
            bucket = conn.execute(
                select(limit_counters.c.value).where(limit_counters.c.key == f"messages:{client}")
            ).scalar_one()
        assert bucket > 0
    finally:
        rt.store.dispose()
