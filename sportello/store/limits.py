"""The counter stores shared by every process: the state of the quotas and sign-in lockouts.

The rules live in `sportello.services.throttle` (which also holds the in-memory store and
the `Counters` interface these two implement); this module keeps their numbers where all
the app processes and the dashboard see them:

* `DatabaseCounters`: the `limit_counters` and `limit_events` tables (migration 0009).
  A quota check is one atomic UPSERT (two statements when it refuses); on SQLite a visitor
  message's check runs in the message's own transaction (no commit of its own); expired rows are
  deleted by `prune` (the app's scheduler runs it every minute), so the tables stay bounded
  by the traffic of one window.
* `RedisCounters`: Redis when REDIS_URL is set (the `redis` package is imported only then);
  each operation is one atomic script or command, and every key expires by itself. When
  Redis cannot be reached the limits let requests through (logged), rather than take the
  help desk down with it.

A token bucket is kept as the moment it is full again (GCRA, see `throttle.next_arrival`).
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid

from sqlalchemy import delete, func, select, text

from sportello.store.database import Store
from sportello.store.tables import limit_counters, limit_events

log = logging.getLogger("sportello")
MAX_KEY_LEN = 255
SLACK = 1e-9  # a token that frees exactly now is free, whatever the rounding

# The arrival time moves on by window/limit when that keeps it within now + window; the
# WHERE leaves a row unchanged (and returns nothing) when the bucket is empty.
_START = "(CASE WHEN limit_counters.value > :now THEN limit_counters.value ELSE :now END)"
TAKE = text(
    "INSERT INTO limit_counters (key, value, expires_at) VALUES (:key, :first, :first)"
    f" ON CONFLICT (key) DO UPDATE SET value = {_START} + :t, expires_at = {_START} + :t"
    f" WHERE {_START} + :t - :now <= :window"
    " RETURNING value"
)
HOLD = text(
    "INSERT INTO limit_counters (key, value, expires_at) VALUES (:key, :until, :until)"
    " ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at"
)


def _key(key: str) -> str:
    """The key as stored: a key too long for the column is replaced by its digest."""
    if len(key.encode()) <= MAX_KEY_LEN:
        return key
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


class DatabaseCounters:
    """The counters in the database, shared by the processes that open it."""

    clock = staticmethod(time.time)

    def __init__(self, store: Store):
        self.store = store
        # SQLite has one writer at a time anyway: a token taken in the caller's transaction saves a commit.
        # On PostgreSQL a client's bucket row would stay locked for the whole of that transaction, queueing
        # every visitor behind one address (a venue's Wi-Fi), so there each take commits on its own.
        self.joins_transactions = store.is_sqlite

    def take(self, key: str, limit: int, window_s: float, now: float, conn=None) -> float:
        """`conn`: the caller's write transaction to take the token in (it commits or rolls back with the
        caller's writes), given only when `joins_transactions`."""
        if conn is not None:
            return self._take(conn, key, limit, window_s, now)
        with self.store.write() as conn:
            return self._take(conn, key, limit, window_s, now)

    @staticmethod
    def _take(conn, key: str, limit: int, window_s: float, now: float) -> float:
        t = window_s / limit
        args = {"key": _key(key), "now": now, "t": t, "first": now + t, "window": window_s + SLACK}
        if conn.execute(TAKE, args).first() is not None:
            return 0.0
        tat = conn.execute(select(limit_counters.c.value).where(limit_counters.c.key == args["key"])).scalar()
        return max(tat, now) + t - window_s - now

    def add(self, key: str, window_s: float, now: float) -> int:
        with self.store.write() as conn:
            conn.execute(limit_events.insert().values(key=_key(key), at=now, expires_at=now + window_s))
            return self._count(conn, key, window_s, now)

    def count(self, key: str, window_s: float, now: float) -> int:
        with self.store.read() as conn:
            return self._count(conn, key, window_s, now)

    @staticmethod
    def _count(conn, key: str, window_s: float, now: float) -> int:
        q = select(func.count()).where(limit_events.c.key == _key(key), limit_events.c.at >= now - window_s)
        return int(conn.execute(q).scalar() or 0)

    def hold(self, key: str, until: float, now: float) -> None:
        with self.store.write() as conn:
            conn.execute(HOLD, {"key": _key(key), "until": until})

    def held(self, key: str, now: float) -> float:
        with self.store.read() as conn:
            until = conn.execute(select(limit_counters.c.value).where(limit_counters.c.key == _key(key))).scalar()
        return 0.0 if until is None or until <= now else until - now

    def forget(self, key: str) -> None:
        with self.store.write() as conn:
            conn.execute(delete(limit_events).where(limit_events.c.key == _key(key)))
            conn.execute(delete(limit_counters).where(limit_counters.c.key == _key(key)))

    def prune(self, now: float | None = None) -> int:
        """Delete the rows that mean nothing any more (a full bucket, an ended lock, a failure out
        of its window); how many."""
        now = self.clock() if now is None else now
        with self.store.write() as conn:
            n = conn.execute(delete(limit_counters).where(limit_counters.c.expires_at < now)).rowcount
            n += conn.execute(delete(limit_events).where(limit_events.c.expires_at < now)).rowcount
        return n


# KEYS[1] the bucket; ARGV now, window/limit, window. '0' when taken, else the seconds to wait.
TAKE_LUA = """
local now, t, window = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local new = tat + t
if new - now > window then return tostring(new - window - now + 1e-9) end
redis.call('SET', KEYS[1], string.format('%.17g', new), 'PX', math.ceil((new - now) * 1000) + 1)
return '0'
"""
# KEYS[1] the events (a sorted set scored by time); ARGV now, window, a unique member. The count.
ADD_LUA = """
local now, window = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. string.format('%.17g', now - window))
redis.call('ZADD', KEYS[1], string.format('%.17g', now), ARGV[3])
redis.call('PEXPIRE', KEYS[1], math.ceil(window * 1000) + 1)
return redis.call('ZCARD', KEYS[1])
"""


class RedisCounters:
    """The counters in Redis (REDIS_URL); keys under `prefix`, each expiring by itself."""

    clock = staticmethod(time.time)
    WARN_EVERY_S = 60.0

    def __init__(self, url: str, *, prefix: str = "sportello:limits:"):
        import redis  # only when REDIS_URL is set

        self.redis = redis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        self.errors = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
        self.prefix = prefix
        self._take = self.redis.register_script(TAKE_LUA)
        self._add = self.redis.register_script(ADD_LUA)
        self._warned_at = float("-inf")

    def _value(self, key: str) -> str:
        return self.prefix + key

    def _events(self, key: str) -> str:
        return self.prefix + "events:" + key

    def _unreachable(self, exc: Exception, allowed):
        if time.monotonic() - self._warned_at >= self.WARN_EVERY_S:
            self._warned_at = time.monotonic()
            log.warning("Redis unreachable, limits not applied: %s", exc)
        return allowed

    def take(self, key: str, limit: int, window_s: float, now: float) -> float:
        try:
            wait = self._take(keys=[self._value(key)], args=[repr(now), repr(window_s / limit), repr(window_s + SLACK)])
        except self.errors as exc:
            return self._unreachable(exc, 0.0)
        return float(wait)

    def add(self, key: str, window_s: float, now: float) -> int:
        try:
            return int(self._add(keys=[self._events(key)], args=[repr(now), repr(window_s), uuid.uuid4().hex]))
        except self.errors as exc:
            return self._unreachable(exc, 0)

    def count(self, key: str, window_s: float, now: float) -> int:
        try:
            return int(self.redis.zcount(self._events(key), now - window_s, "+inf"))
        except self.errors as exc:
            return self._unreachable(exc, 0)

    def hold(self, key: str, until: float, now: float) -> None:
        if until <= now:
            return
        try:
            self.redis.set(self._value(key), repr(until), px=int((until - now) * 1000) + 1)
        except self.errors as exc:
            self._unreachable(exc, None)

    def held(self, key: str, now: float) -> float:
        try:
            until = self.redis.get(self._value(key))
        except self.errors as exc:
            return self._unreachable(exc, 0.0)
        return 0.0 if until is None or float(until) <= now else float(until) - now

    def forget(self, key: str) -> None:
        try:
            self.redis.delete(self._value(key), self._events(key))
        except self.errors as exc:
            self._unreachable(exc, None)

    def prune(self, now: float | None = None) -> int:
        return 0  # every key expires by itself
