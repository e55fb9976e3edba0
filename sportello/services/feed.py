"""The change feed: one per process, it wakes whoever waits on a chat when that chat changes.

- A write made in this process wakes the chat's subscribers at once: `ChatService` calls `notify(session_id)`
  after each commit (its `on_change` hook).
- A write made by another process (a second app process, the dashboard) is found by the watcher thread: while
  someone is subscribed, every FEED_INTERVAL_S it runs ONE query for every chat at once, "the sessions whose
  `updated_at` moved in the last LOOKBACK_S" (`store/chat_queries.changed_since`, an index since migration
  0013), and wakes the subscribers of the rows it has not seen in that state yet. Every transition, message
  and operator "typing" mark bumps `updated_at`, so messages, state changes, join/transfer/release and typing
  all wake. A chat that leaves the queue wakes the subscribers queued behind it (their position moved), at
  most every QUEUE_PACE_S.
  With nobody subscribed the thread sleeps on a condition: an idle process runs no query. On SQLite the look
  first asks `PRAGMA data_version` (microseconds, `chat_queries.CommitProbe`): no commit anywhere, no query.

Subscribers are asyncio code (the visitor stream, sportello/faces/stream.py): `subscribe()` in the event
loop, then `await sub.wait(timeout)`. A wake-up says "look again", never what changed, only whether it was
for the chat's own change (`take_own()`) or only because the queue ahead of it moved (`queue_moves` counts
those): the subscriber reads the chat (`ChatView.visitor_poll`) after its last seen sequence, or for a queue
move only its new place (`ChatView.read_places`, one read of the queue per move for every chat behind).
A wake-up too many costs one read and a wake-up lost between two reads cannot happen (the read comes after
the wake).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable

from sportello.domain import State, concerns_console
from sportello.domain.states import CONSOLE_STATES
from sportello.store import chat_queries as cq
from sportello.store.database import Store

log = logging.getLogger(__name__)

LOOKBACK_S = 3.0  # rows committed this late after their `updated_at` (another process's slow commit) still wake
# The queue moving wakes every chat queued behind: at most this often (a long queue re-reads its positions at
# most every QUEUE_PACE_S, not at every take); a chat's own change (taken, a message) still wakes at once.
QUEUE_PACE_S = 2.0
ANY = "*any*"  # the session id of a subscription to every chat (`subscribe_any`); never a real id (uuid hex)


def _console_news(before: tuple | None, after: tuple) -> bool:
    """Whether a chat's change, seen by the watcher as (status, last_seq, updated_at, language, operator_id)
    before (None: not seen yet) and after, may be news for an operator's console (`ChatView.console_marker`:
    the queue, the live chats' last messages, languages and operators). An operator typing is not."""
    if before is None or before[0] != after[0]:
        return concerns_console(before[0] if before else None, after[0])
    return after[0] in CONSOLE_STATES and (before[1], before[3], before[4]) != (after[1], after[3], after[4])


class Subscription:
    """One waiter on one chat, bound to the event loop that subscribed."""

    def __init__(self, feed: ChangeFeed, session_id: str, loop: asyncio.AbstractEventLoop):
        self.feed = feed
        self.session_id = session_id
        self.loop = loop
        self._event = asyncio.Event()
        self.closed = False  # the feed is closing (shutdown): the subscriber ends
        # Set by the subscriber while its chat waits in the queue: a chat queued before it (before
        # `queued_since`, when known) that leaves the queue wakes it (its position moved).
        self.queued = False
        self.queued_since: float | None = None
        # Set (in the loop) when a wake-up was for the chat's own change; a wake-up only because the queue moved
        # leaves it: the subscriber may then read just its new place (`ChatView.read_places`).
        self.own = False

    def wake(self, own: bool = True) -> None:
        """From any thread. `own`: the chat itself changed (else: only the queue ahead of it moved)."""
        try:
            self.loop.call_soon_threadsafe(self._set, own)
        except RuntimeError:  # the loop is closed: nobody waits any more
            pass

    def _set(self, own: bool) -> None:
        if own:
            self.own = True
        self._event.set()

    def take_own(self) -> bool:
        """In the loop, after `wait`: whether a wake-up since the last call was for the chat's own change."""
        own, self.own = self.own, False
        return own

    async def wait(self, timeout: float | None) -> bool:
        """True when woken (a change, or `closed`), False when `timeout` seconds passed first."""
        if not self._event.is_set():
            try:
                await asyncio.wait_for(self._event.wait(), timeout)
            except TimeoutError:
                return False
        self._event.clear()
        return True

    def close(self) -> None:
        self.feed.unsubscribe(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class ChangeFeed:
    def __init__(
        self,
        store: Store,
        *,
        interval_s: float = 0.1,
        clock: Callable[[], float] = time.time,
        lookback_s: float = LOOKBACK_S,
        queue_pace_s: float = QUEUE_PACE_S,
    ):
        self.store = store
        self.interval_s = max(0.01, float(interval_s))
        self.clock = clock
        self.lookback_s = lookback_s
        self.queue_pace_s = queue_pace_s
        self._queue_moved: float | None = None  # the earliest waiting_since that left the queue, not told yet
        self._queue_told = float("-inf")  # time.monotonic() of the last queue wake-up
        self.queue_moves = 0  # how many queue wake-ups were sent (read after one: at least the one that woke)
        self._cond = threading.Condition()
        self._subs: dict[str, set[Subscription]] = {}
        self._any: set[Subscription] = set()  # woken by a change of any chat (the operator console)
        # Counts the changes that may be news for the consoles, told (or not: nobody waits) to `_any`: the same
        # count, nothing new for them since (services/console_versions.py reads the queue once per count).
        self.console_news = 0
        self._seen: dict[str, tuple] = {}  # id -> (status, last_seq, updated_at, language, operator_id) last seen
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._closed = False
        self.looks = 0  # queries the watcher ran (tests, the benchmark)
        self.ticks = 0  # the watcher's wake-ups (each a look, or on SQLite a `data_version` when nothing changed)
        self._failing = False
        self._probe = cq.CommitProbe(store)  # used by the watcher thread only

    # ------------------------------------------------------------------ subscribers
    def subscribe(self, session_id: str) -> Subscription:
        """From a coroutine: wake-ups for `session_id` from now on."""
        sub = Subscription(self, session_id, asyncio.get_running_loop())
        with self._cond:
            if self._closed:
                sub.closed = True
                return sub
            if session_id == ANY:
                self._any.add(sub)
            else:
                self._subs.setdefault(session_id, set()).add(sub)
            if self._thread is None:
                self._thread = threading.Thread(target=self._watch, name="change-feed", daemon=True)
                self._thread.start()
            self._cond.notify_all()
        return sub

    def subscribe_any(self) -> Subscription:
        """From a coroutine: wake-ups for a change of any chat from now on (a chat queued, taken, released, a
        message, a language switch: what the operator console shows, faces/console_stream.py)."""
        return self.subscribe(ANY)

    def unsubscribe(self, sub: Subscription) -> None:
        with self._cond:
            if sub.session_id == ANY:
                self._any.discard(sub)
                return
            subs = self._subs.get(sub.session_id)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._subs[sub.session_id]

    def subscribers(self, session_id: str | None = None) -> int:
        with self._cond:
            if session_id is not None:
                return len(self._subs.get(session_id, ()))
            return sum(len(s) for s in self._subs.values()) + len(self._any)

    # ------------------------------------------------------------------ wake-ups
    def notify(self, session_id: str | None, console: bool = True) -> None:
        """A write of this process committed on `session_id`: its subscribers look again now, and the consoles
        (`subscribe_any`) when `console` (the change may be news for them: `domain.concerns_console`)."""
        if not session_id:
            return
        with self._cond:
            if console:
                self.console_news += 1  # before the wake-ups: a woken console reads this change or a later one
            subs = [*self._subs.get(session_id, ()), *(self._any if console else ())]
        for sub in subs:
            sub.wake()

    def look(self) -> int:
        """One look at the rows changed by anyone (the watcher's step; tests call it directly).
        Returns how many subscriptions it woke."""
        now = self.clock()
        try:
            with self.store.read() as conn:
                rows = cq.changed_since(conn, now - self.lookback_s)
        except Exception as exc:  # the database is away for a moment: said once, tried again next time
            if not self._failing:
                log.warning("change feed: cannot read the changed chats (%s); retrying", exc)
            self._failing = True
            return 0
        self._failing = False
        self.looks += 1
        seen: dict[str, tuple] = {}
        changed: list[str] = []
        console = False  # a change that may be news for the consoles (`subscribe_any`)
        left_queue: list[float] = []  # waiting_since of the chats that left the queue
        for r in rows:
            state = (r.status, r.last_seq, r.updated_at, r.language, r.operator_id)
            seen[r.id] = state
            before = self._seen.get(r.id)
            if before == state:
                continue
            changed.append(r.id)
            console = console or _console_news(before, state)
            # A chat that left the queue: known to have been waiting, or (first seen) no longer waiting now.
            was_waiting = before[0] == State.WAITING if before else True
            if r.status != State.WAITING and r.waiting_since is not None and was_waiting:
                left_queue.append(r.waiting_since)
        self._seen = seen
        if left_queue:
            self._queue_moved = min(left_queue + ([self._queue_moved] if self._queue_moved is not None else []))
        first = None
        if self._queue_moved is not None and time.monotonic() - self._queue_told >= self.queue_pace_s:
            first, self._queue_moved, self._queue_told = self._queue_moved, None, time.monotonic()
        woken: dict[Subscription, bool] = {}  # -> for its own change
        with self._cond:
            if first is not None:
                self.queue_moves += 1  # before the wake-ups: a woken subscriber reads this move or a later one
                for subs in self._subs.values():
                    woken.update(
                        (s, False) for s in subs if s.queued and (s.queued_since is None or s.queued_since > first)
                    )
            for sid in changed:
                woken.update((s, True) for s in self._subs.get(sid, ()))
            if console:
                self.console_news += 1
                woken.update((s, True) for s in self._any)
        for sub, own in woken.items():
            sub.wake(own)
        return len(woken)

    def _watch(self) -> None:
        while True:
            with self._cond:
                while not self._subs and not self._any and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
            if self._stop.wait(self.interval_s):  # set by close()
                self._probe.close()
                return
            self.ticks += 1
            if self._probe.changed() or self._queue_moved is not None:
                self.look()

    # ------------------------------------------------------------------ shutdown
    def close(self) -> None:
        """Shutdown: every subscriber is woken with `closed` set (streams end cleanly), the watcher stops."""
        with self._cond:
            self._closed = True
            self._stop.set()
            subs = [s for group in self._subs.values() for s in group] + list(self._any)
            self._subs.clear()
            self._any.clear()
            self._cond.notify_all()
            thread = self._thread
        for sub in subs:
            sub.closed = True
            sub.wake()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    @property
    def closed(self) -> bool:
        return self._closed
