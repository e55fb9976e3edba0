"""Throttling of hostile clients: login lockouts and per-client quotas.

The rules live here; the numbers they keep live in a counter store (`Counters`), so
that every app process (and the dashboard's) counts together:

* `MemoryCounters` (here): in this process only, thread-safe, bounded to `max_keys`
  keys (the oldest forgotten first, so a flood of addresses cannot exhaust memory);
  for tests and single-process tools.
* `sportello.store.limits.DatabaseCounters`: in the database (the default of the app
  and the dashboard, wired by `sportello.runtime`), one UPSERT per quota check (on SQLite, a
  visitor message's in the message's own transaction).
* `sportello.store.limits.RedisCounters`: in Redis when REDIS_URL is set.

Two rules, on an injectable clock (each store's own by default: monotonic in
memory, the wall clock when shared between processes):

* `RateLimit`: a token bucket per key (a client IP). `limit` requests per
  `window_s`, refilled continuously; an empty bucket refuses with the seconds
  until the next token.
* `FailureLock`: failed attempts per key (an address, a username and address
  pair) in a sliding window (`FailureCount`); `max_failures` of them lock the
  key for `lockout_s`.

`LoginGuard` and `VisitorQuotas` apply them to sign-in and to the visitor's
sessions and messages; the services call them, the faces only pass the
client's address.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from typing import Protocol

from sportello.domain import RateLimited
from sportello.services.metrics import count_refusal

Clock = Callable[[], float]
MAX_KEYS = 100_000


class Counters(Protocol):
    """A counter store: the state of the rules, keyed by strings, at the time `now` the caller gives.

    A token bucket is kept as its theoretical arrival time (GCRA): the moment it is full again.
    Taking a token moves it `window_s / limit` later, which is refused when it would pass
    `now + window_s`; it is the continuously refilled bucket of `limit` tokens."""

    clock: Clock  # the clock the rules read by default (the wall clock when shared between processes)

    def take(self, key: str, limit: int, window_s: float, now: float) -> float:
        """Take one token of the bucket `key`: 0 when taken, else the seconds until one is free."""
        ...

    def add(self, key: str, window_s: float, now: float) -> int:
        """Record an event of `key`: how many it has in the last `window_s` seconds, this one included."""
        ...

    def count(self, key: str, window_s: float, now: float) -> int:
        """How many events `key` has in the last `window_s` seconds."""
        ...

    def hold(self, key: str, until: float, now: float) -> None:
        """Hold `key` (a lock) from `now` until the time `until`."""
        ...

    def held(self, key: str, now: float) -> float:
        """Seconds `key` stays held (0 when it is not)."""
        ...

    def forget(self, key: str) -> None:
        """Drop the events and the hold of `key`."""
        ...


def next_arrival(tat: float | None, limit: int, window_s: float, now: float) -> tuple[float, float]:
    """The token bucket's rule (GCRA), for the stores that compute it in Python: (the new arrival
    time, 0) when a token is taken, else (the old one unchanged, the seconds until one is free).
    The database and Redis stores do the same in one atomic statement or script."""
    start = now if tat is None or tat < now else tat
    new = start + window_s / limit
    if new - now <= window_s + 1e-9:
        return new, 0.0
    return start, new - window_s - now


class MemoryCounters:
    """The counters of one process, in memory (bounded, the least recently used key forgotten first)."""

    def __init__(self, *, max_keys: int = MAX_KEYS, clock: Clock = time.monotonic):
        self.max_keys = max_keys
        self.clock = clock
        self.buckets: OrderedDict[str, float] = OrderedDict()
        self.events: OrderedDict[str, deque[float]] = OrderedDict()
        self.holds: dict[str, float] = {}
        self._lock = threading.Lock()

    def _bound(self, d: OrderedDict) -> None:
        while len(d) > self.max_keys:
            d.popitem(last=False)

    def take(self, key: str, limit: int, window_s: float, now: float) -> float:
        with self._lock:
            tat, wait = next_arrival(self.buckets.pop(key, None), limit, window_s, now)
            self.buckets[key] = tat
            self._bound(self.buckets)
            return wait

    def _slide(self, key: str, window_s: float, now: float) -> deque[float]:
        q = self.events.pop(key, None) or deque()
        while q and now - q[0] > window_s:
            q.popleft()
        return q

    def add(self, key: str, window_s: float, now: float) -> int:
        with self._lock:
            q = self._slide(key, window_s, now)
            q.append(now)
            self.events[key] = q
            self._bound(self.events)
            return len(q)

    def count(self, key: str, window_s: float, now: float) -> int:
        with self._lock:
            q = self._slide(key, window_s, now)
            if q:
                self.events[key] = q
            return len(q)

    def hold(self, key: str, until: float, now: float) -> None:
        with self._lock:
            self.holds[key] = until
            if len(self.holds) > self.max_keys:
                self.holds = {k: u for k, u in self.holds.items() if u > now}

    def held(self, key: str, now: float) -> float:
        with self._lock:
            until = self.holds.get(key)
            if until is None:
                return 0.0
            if until <= now:
                del self.holds[key]
                return 0.0
            return until - now

    def forget(self, key: str) -> None:
        with self._lock:
            self.events.pop(key, None)
            self.holds.pop(key, None)


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


class _Rule:
    """A rule's counters (a store of its own in memory unless one is given), clock and key prefix."""

    def __init__(self, name: str, counters: Counters | None, clock: Clock | None, max_keys: int):
        self.counters: Counters = counters if counters is not None else MemoryCounters(max_keys=max_keys)
        self.clock = clock or self.counters.clock
        self.prefix = f"{name}:"


class RateLimit(_Rule):
    """A token bucket per key: `limit` per `window_s` (0 = unlimited)."""

    def __init__(
        self,
        limit: int,
        window_s: float,
        *,
        name: str = "rate",
        counters: Counters | None = None,
        clock: Clock | None = None,
        max_keys: int = MAX_KEYS,
    ):
        super().__init__(name, counters, clock, max_keys)
        self.limit = int(limit)
        self.window_s = float(window_s)

    def hit(self, key: str, conn=None) -> float:
        """Take one token: 0 when allowed, else the seconds until one is free (nothing taken). `conn`: the
        caller's transaction, for a counter store that `joins_transactions` (the token rolls back with it)."""
        if self.limit <= 0 or self.window_s <= 0:
            return 0.0
        args = (self.prefix + key, self.limit, self.window_s, self.clock())
        return self.counters.take(*args) if conn is None else self.counters.take(*args, conn=conn)


class FailureCount(_Rule):
    """Failures per key in a sliding `window_s`."""

    def __init__(
        self,
        window_s: float,
        *,
        name: str = "failures",
        counters: Counters | None = None,
        clock: Clock | None = None,
        max_keys: int = MAX_KEYS,
    ):
        super().__init__(name, counters, clock, max_keys)
        self.window_s = float(window_s)

    def add(self, key: str) -> int:
        """Record a failure; how many the key has in the window, this one included."""
        return self.counters.add(self.prefix + key, self.window_s, self.clock())

    def count(self, key: str) -> int:
        return self.counters.count(self.prefix + key, self.window_s, self.clock())

    def clear(self, key: str) -> None:
        self.counters.forget(self.prefix + key)


class FailureLock(FailureCount):
    """`max_failures` failures of a key within `window_s` lock it for `lockout_s` (0 = never)."""

    def __init__(
        self,
        max_failures: int,
        window_s: float,
        lockout_s: float,
        *,
        name: str = "lock",
        counters: Counters | None = None,
        clock: Clock | None = None,
        max_keys: int = MAX_KEYS,
    ):
        super().__init__(window_s, name=name, counters=counters, clock=clock, max_keys=max_keys)
        self.max_failures = int(max_failures)
        self.lockout_s = float(lockout_s)

    def locked_for(self, key: str) -> float:
        """Seconds the key stays locked (0 when it is not)."""
        return self.counters.held(self.prefix + key, self.clock())

    def fail(self, key: str) -> float:
        """Record a failure; the lockout it starts (0 when none)."""
        if self.max_failures <= 0:
            return 0.0
        if self.add(key) < self.max_failures:
            return 0.0
        self.clear(key)
        now = self.clock()
        self.counters.hold(self.prefix + key, now + self.lockout_s, now)
        return self.lockout_s


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
    RATE_LIMIT_EXEMPT has no address lock either. The counters are those of `counters` (shared between
    processes by the runtime; in this process's memory when None)."""

    def __init__(self, settings, *, clock: Clock | None = None, counters: Counters | None = None):
        s = settings
        c = counters if counters is not None else MemoryCounters()
        window, lockout = s.login_window_s, s.login_lockout_s
        self.by_pair = FailureLock(
            s.login_max_failures_per_user, window, lockout, name="login_pair", counters=c, clock=clock
        )
        self.by_ip = FailureLock(s.login_max_failures_per_ip, window, lockout, name="login_ip", counters=c, clock=clock)
        self.by_name = FailureCount(window, name="login_name", counters=c, clock=clock)
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
    """Per-client-IP rates of new chat sessions and of visitor messages (counters: see LoginGuard)."""

    def __init__(self, settings, *, clock: Clock | None = None, counters: Counters | None = None):
        s = settings
        c = counters if counters is not None else MemoryCounters()
        self.sessions = RateLimit(s.session_rate_per_ip, s.rate_window_s, name="sessions", counters=c, clock=clock)
        self.messages = RateLimit(s.message_rate_per_ip, s.rate_window_s, name="messages", counters=c, clock=clock)
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

    @property
    def joins_transactions(self) -> bool:
        """Whether `message` can take its token in the caller's transaction (the counters in SQLite)."""
        return bool(getattr(self.messages.counters, "joins_transactions", False))

    def message(self, client: str | None, conn=None) -> None:
        """`conn`: the message's own write transaction, when `joins_transactions` (no commit of its own)."""
        if client and client not in self.exempt:
            wait = self.messages.hit(client, conn)
            if wait > 0:
                raise too_many(
                    "too_many_messages",
                    "Troppi messaggi in poco tempo.",
                    "Too many messages in a short time.",
                    wait,
                )

    def change(self, session_id: str, per_window: int, conn=None) -> None:
        """A write a visitor causes in one conversation besides a message (language, operator offer, contact,
        rating): `per_window` (CHANGE_RATE_PER_SESSION) per RATE_WINDOW_S per conversation, 0 = unlimited.
        Keyed by the conversation, so it holds whatever the client's address. `conn`: the change's own write
        transaction, when `joins_transactions`."""
        changes = getattr(self, "_changes", None)
        if changes is None:
            changes = self._changes = RateLimit(
                per_window,
                self.messages.window_s,
                name="changes",
                counters=self.messages.counters,
                clock=self.messages.clock,
            )
        wait = changes.hit(session_id, conn)
        if wait > 0:
            raise too_many(
                "too_many_changes",
                "Troppe modifiche in poco tempo.",
                "Too many changes in a short time.",
                wait,
            )
