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
