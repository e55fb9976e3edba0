"""The throttling rules of sportello.services.throttle with a fake clock."""

from __future__ import annotations

import pytest

from sportello.config import Settings
from sportello.domain import RateLimited
from sportello.services.throttle import FailureLock, LoginGuard, RateLimit, VisitorQuotas


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_refills_over_the_window():
    clock = Clock()
    limit = RateLimit(3, 30, clock=clock)
    assert [limit.hit("a") for _ in range(3)] == [0, 0, 0]
    assert limit.hit("a") == pytest.approx(10)  # one token per 10 s
    assert limit.hit("b") == 0  # another key has its own bucket
    clock.now += 10
    assert limit.hit("a") == 0 and limit.hit("a") > 0


def test_failure_lock_locks_then_expires_and_old_failures_slide_out():
    clock = Clock()
    lock = FailureLock(3, window_s=60, lockout_s=120, clock=clock)
    lock.fail("u")
    clock.now += 61  # out of the window
    assert lock.fail("u") == 0 and lock.fail("u") == 0
    assert lock.fail("u") == 120 and lock.locked_for("u") == 120
    clock.now += 119
    assert lock.locked_for("u") == pytest.approx(1)
    clock.now += 1
    assert lock.locked_for("u") == 0


def test_keys_are_bounded():
    limit = RateLimit(1, 60, clock=Clock(), max_keys=100)
    for i in range(1000):
        limit.hit(f"10.0.{i // 256}.{i % 256}")
    assert len(limit._buckets) == 100


def test_guard_and_quotas_respect_zero_and_exempt_addresses():
    settings = Settings.from_env(
        {"LOGIN_MAX_FAILURES_PER_USER": "2", "SESSION_RATE_PER_IP": "1", "RATE_LIMIT_EXEMPT": "127.0.0.1"}
    )
    guard = LoginGuard(settings, clock=Clock())
    guard.failed("mario", "10.0.0.1")
    with pytest.raises(RateLimited) as exc:
        guard.failed("mario", "10.0.0.1")
    assert exc.value.code == "too_many_attempts" and exc.value.retry_after_s == 300
    assert "Riprova tra 5 minuti" in exc.value.message and "Try again in 5 minutes" in exc.value.message
    quotas = VisitorQuotas(settings, clock=Clock())
    quotas.new_session("10.0.0.1")
    with pytest.raises(RateLimited):
        quotas.new_session("10.0.0.1")
    for _ in range(10):
        quotas.new_session("127.0.0.1")  # exempt
        quotas.new_session(None)  # no address known: not counted


def guard_with(clock, **env) -> LoginGuard:
    base = {"LOGIN_MAX_FAILURES_PER_USER": "5", "LOGIN_MAX_FAILURES_PER_IP": "20", "LOGIN_SLOWDOWN_MAX_S": "2"}
    return LoginGuard(Settings.from_env({**base, **env}), clock=clock)


def fail(guard: LoginGuard, name: str, client: str | None) -> RateLimited | None:
    try:
        guard.check(name, client)
        guard.failed(name, client)
    except RateLimited as exc:
        return exc
    return None


def test_spraying_names_from_one_address_locks_the_address():
    guard = guard_with(Clock())
    refusals = [fail(guard, f"user{i}", "10.0.0.9") for i in range(25)]
    assert refusals[:19] == [None] * 19 and all(r is not None for r in refusals[20:]), refusals
    with pytest.raises(RateLimited):
        guard.check("mario", "10.0.0.9")  # every name, from that address
    assert guard.check("mario", "10.0.0.10") == 0  # another address is not affected


def test_a_name_cannot_be_locked_out_from_another_address():
    guard = guard_with(Clock())
    assert [fail(guard, "mario", "10.0.0.1") is None for _ in range(6)] == [True] * 4 + [False] * 2
    with pytest.raises(RateLimited):
        guard.check("mario", "10.0.0.1")  # the pair (mario, A) is locked
    # From B, which never failed: mario is slowed down (a short wait), never locked out.
    delay = guard.check("mario", "10.0.0.2")
    assert 0 < delay <= 2
    guard.succeeded("mario", "10.0.0.2")


def test_the_slow_down_of_a_name_grows_and_is_capped():
    guard = guard_with(Clock())
    delays = []
    for i in range(12):
        delays.append(guard.check("mario", f"10.0.1.{i}"))  # a fresh address each time: no lock applies
        guard.failed("mario", f"10.0.1.{i}")
    assert delays[:5] == [0] * 5
    assert delays[5:] == sorted(delays[5:]) and 0 < delays[5] < delays[6] and max(delays) == 2, delays
    assert guard.check("lucia", "10.0.1.0") == 0  # another name is not slowed


def test_the_slow_down_is_the_same_for_known_and_unknown_names():
    guard = guard_with(Clock())
    for name in ("mario", "nobody"):
        for i in range(7):
            guard.failed(name, f"10.0.2.{i}")
    assert guard.check("mario", "10.0.3.1") == guard.check("nobody", "10.0.3.1") > 0
