"""Throttling of hostile clients: login lockouts and per-client quotas.

In memory, per process, thread-safe, with an injectable clock (monotonic by
default). Two rules:

* `RateLimit`: a token bucket per key (a client IP). `limit` requests per
  `window_s`, refilled continuously; an empty bucket refuses with the seconds
  until the next token.
* `FailureLock`: failed attempts per key (an address, a username and address
  pair) in a sliding window (`FailureCount`); `max_failures` of them lock the
  key for `lockout_s`.

`LoginGuard` and `VisitorQuotas` apply them to sign-in and to the visitor's
sessions and messages; the services call them, the faces only pass the
client's address. Keys are bounded (`max_keys`): the oldest are forgotten
first, so a flood of addresses cannot exhaust memory.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable

from sportello.domain import RateLimited
from sportello.services.metrics import count_refusal

Clock = Callable[[], float]
MAX_KEYS = 100_000


def _minutes(seconds: float) -> int:
    return max(1, int((seconds + 59) // 60))


def too_many(code: str, what_it: str, what_en: str, retry_after_s: float) -> RateLimited:
    """A bilingual 429: what was refused and when to retry (counted in /metrics)."""
    count_refusal(code)
    if retry_after_s < 60:
        n = max(1, int(retry_after_s + 0.999))
        it = f"{what_it} Riprova tra {n} second{'o' if n == 1 else 'i'}."
        en = f"{what_en} Try again in {n} second{'' if n == 1 else 's'}."
    else:
        n = _minutes(retry_after_s)
        it = f"{what_it} Riprova tra {n} minut{'o' if n == 1 else 'i'}."
        en = f"{what_en} Try again in {n} minute{'' if n == 1 else 's'}."
    return RateLimited(f"{it} / {en}", code=code, retry_after_s=retry_after_s)


class RateLimit:
    """A token bucket per key: `limit` per `window_s` (0 = unlimited)."""

    def __init__(self, limit: int, window_s: float, *, clock: Clock = time.monotonic, max_keys: int = MAX_KEYS):
        self.limit = int(limit)
        self.window_s = float(window_s)
        self.clock = clock
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def hit(self, key: str) -> float:
        """Take one token: 0 when allowed, else the seconds until one is free (nothing taken)."""
        if self.limit <= 0 or self.window_s <= 0:
            return 0.0
        rate = self.limit / self.window_s
        with self._lock:
            now = self.clock()
            tokens, last = self._buckets.pop(key, (float(self.limit), now))
            tokens = min(float(self.limit), tokens + (now - last) * rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                wait = 0.0
            else:
                self._buckets[key] = (tokens, now)
                wait = (1.0 - tokens) / rate
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
            return wait


class FailureCount:
    """Failures per key in a sliding `window_s` (bounded to `max_keys` keys, the oldest forgotten first)."""

    def __init__(self, window_s: float, *, clock: Clock = time.monotonic, max_keys: int = MAX_KEYS):
        self.window_s = float(window_s)
        self.clock = clock
        self.max_keys = max_keys
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def _slide(self, key: str, now: float) -> deque[float]:
        q = self._failures.pop(key, None) or deque()
        while q and now - q[0] > self.window_s:
            q.popleft()
        return q

    def add(self, key: str) -> int:
        """Record a failure; how many the key has in the window, this one included."""
        with self._lock:
            now = self.clock()
            q = self._slide(key, now)
            q.append(now)
            self._failures[key] = q
            while len(self._failures) > self.max_keys:
                self._failures.popitem(last=False)
            return len(q)

    def count(self, key: str) -> int:
        with self._lock:
            q = self._slide(key, self.clock())
            if q:
                self._failures[key] = q
            return len(q)

    def clear(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)


class FailureLock:
    """`max_failures` failures of a key within `window_s` lock it for `lockout_s` (0 = never)."""

    def __init__(
        self,
        max_failures: int,
        window_s: float,
        lockout_s: float,
        *,
        clock: Clock = time.monotonic,
        max_keys: int = MAX_KEYS,
    ):
        self.max_failures = int(max_failures)
        self.lockout_s = float(lockout_s)
        self.clock = clock
        self.max_keys = max_keys
        self._counts = FailureCount(window_s, clock=clock, max_keys=max_keys)
        self._locked: dict[str, float] = {}
        self._lock = threading.Lock()

    def locked_for(self, key: str) -> float:
        """Seconds the key stays locked (0 when it is not)."""
        with self._lock:
            until = self._locked.get(key)
            if until is None:
                return 0.0
            left = until - self.clock()
            if left <= 0:
                del self._locked[key]
                return 0.0
            return left

    def fail(self, key: str) -> float:
        """Record a failure; the lockout it starts (0 when none)."""
        if self.max_failures <= 0:
            return 0.0
        if self._counts.add(key) < self.max_failures:
            return 0.0
        self._counts.clear(key)
        with self._lock:
            now = self.clock()
            self._locked[key] = now + self.lockout_s
            if len(self._locked) > self.max_keys:
                self._locked = {k: u for k, u in self._locked.items() if u > now}
            return self.lockout_s

    def clear(self, key: str) -> None:
        self._counts.clear(key)
        with self._lock:
            self._locked.pop(key, None)


SLOWDOWN_FIRST_S = 0.25  # the first delay of a name under attack; it doubles with each failure, up to the cap


class LoginGuard:
    """The one sign-in guard of the API and the dashboard (both call OperatorService.login with the
    client's address). Built so that it cannot be used to keep a real operator out:

    * a lock per (username, address) pair: LOGIN_MAX_FAILURES_PER_USER failures within LOGIN_WINDOW_S
      lock that name from that address for LOGIN_LOCKOUT_S (guessing one password);
    * a lock per address, across names: LOGIN_MAX_FAILURES_PER_IP failures lock the address (spraying);
    * a slow-down per name, across addresses: from LOGIN_MAX_FAILURES_PER_USER failures of a name within
      the window on, every attempt on that name first waits SLOWDOWN_FIRST_S, doubling with each further
      failure, capped at LOGIN_SLOWDOWN_MAX_S. Never a lock: the right password from an address that has
      not failed always gets in, after at most that delay.

    An unknown address (None) counts as one address for the pairs and has no address lock; an address in
    RATE_LIMIT_EXEMPT has no address lock either. Counters are in memory, per process."""

    def __init__(self, settings, *, clock: Clock = time.monotonic):
        s = settings
        self.by_pair = FailureLock(s.login_max_failures_per_user, s.login_window_s, s.login_lockout_s, clock=clock)
        self.by_ip = FailureLock(s.login_max_failures_per_ip, s.login_window_s, s.login_lockout_s, clock=clock)
        self.by_name = FailureCount(s.login_window_s, clock=clock)
        self.slow_after = int(s.login_max_failures_per_user)
        self.slowdown_max_s = float(s.login_slowdown_max_s)
        self.exempt = frozenset(s.rate_limit_exempt)

    def _locks(self, username: str, client: str | None) -> Iterable[tuple[FailureLock, str]]:
        yield self.by_pair, f"{username}\n{client or ''}"
        if client and client not in self.exempt:
            yield self.by_ip, client

    def check(self, username: str, client: str | None) -> float:
        """Refuse (RateLimited) while the pair or the address is locked; else the seconds this
        attempt must wait first (the name's slow-down, 0 when none)."""
        wait = max((lock.locked_for(key) for lock, key in self._locks(username, client)), default=0.0)
        if wait > 0:
            raise self.refusal(wait)
        if self.slow_after <= 0 or self.slowdown_max_s <= 0:
            return 0.0
        excess = self.by_name.count(username) - self.slow_after
        return 0.0 if excess < 0 else min(self.slowdown_max_s, SLOWDOWN_FIRST_S * 2.0 ** min(excess, 32))

    def failed(self, username: str, client: str | None) -> None:
        if self.slow_after > 0:
            self.by_name.add(username)
        wait = max((lock.fail(key) for lock, key in self._locks(username, client)), default=0.0)
        if wait > 0:
            raise self.refusal(wait)

    def succeeded(self, username: str, client: str | None) -> None:
        self.by_pair.clear(f"{username}\n{client or ''}")

    @staticmethod
    def refusal(wait: float) -> RateLimited:
        return too_many(
            "too_many_attempts",
            "Troppi tentativi di accesso falliti: accesso bloccato temporaneamente.",
            "Too many failed sign-in attempts: sign-in is locked for a while.",
            wait,
        )


class VisitorQuotas:
    """Per-client-IP rates of new chat sessions and of visitor messages."""

    def __init__(self, settings, *, clock: Clock = time.monotonic):
        s = settings
        self.sessions = RateLimit(s.session_rate_per_ip, s.rate_window_s, clock=clock)
        self.messages = RateLimit(s.message_rate_per_ip, s.rate_window_s, clock=clock)
        self.exempt = frozenset(s.rate_limit_exempt)

    def new_session(self, client: str | None) -> None:
        if client and client not in self.exempt:
            wait = self.sessions.hit(client)
            if wait > 0:
                raise too_many(
                    "too_many_sessions",
                    "Troppe nuove conversazioni da questa rete.",
                    "Too many new conversations from this network.",
                    wait,
                )

    def message(self, client: str | None) -> None:
        if client and client not in self.exempt:
            wait = self.messages.hit(client)
            if wait > 0:
                raise too_many(
                    "too_many_messages",
                    "Troppi messaggi in poco tempo.",
                    "Too many messages in a short time.",
                    wait,
                )

    def change(self, session_id: str, per_window: int) -> None:
        """A write a visitor causes in one conversation besides a message (language, operator offer, contact,
        rating): `per_window` (CHANGE_RATE_PER_SESSION) per RATE_WINDOW_S per conversation, 0 = unlimited.
        Keyed by the conversation, so it holds whatever the client's address."""
        changes = getattr(self, "_changes", None)
        if changes is None:
            changes = self._changes = RateLimit(per_window, self.messages.window_s, clock=self.messages.clock)
        wait = changes.hit(session_id)
        if wait > 0:
            raise too_many(
                "too_many_changes",
                "Troppe modifiche in poco tempo.",
                "Too many changes in a short time.",
                wait,
            )
