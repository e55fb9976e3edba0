"""The consoles' versions, read once per change for every console of the process.

Every console open on this process holds a long poll (faces/console_stream.py) woken by the change feed at
each change that may be news for a console (services/feed.py, `ChangeFeed.console_news`), then asks for its
version (`ChatView.console_version`). Each asking on its own is one read of the whole queue and of every live
chat per console per change: with four consoles and a queue of hundreds, the busiest read of a loaded process.
`ConsoleVersions` reads the snapshot (services/console_marker.py) once per such news and every woken console
makes its version from it: the consoles woken by one change share one read. A snapshot is kept while the feed
tells of no news, at most MAX_AGE_S (a change the feed is never told of, such as an erasure, shows as it would
without sharing: at the console's next wake-up).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from sportello.services.chat_view import ChatView
from sportello.services.feed import ChangeFeed

MAX_AGE_S = 1.0  # a snapshot older than this is read again, news or not


class ConsoleVersions:
    """Every console's version of this process from one snapshot per news for the consoles."""

    def __init__(
        self,
        view: ChatView,
        feed: ChangeFeed,
        *,
        max_age_s: float = MAX_AGE_S,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.view = view
        self.feed = feed
        self._snapshot = _Shared(view.console_snapshot, feed, max_age_s, clock)
        self._queue = _Shared(view.queue_rows, feed, max_age_s, clock)  # the queue's rows (`pending_sessions`)

    @property
    def reads(self) -> int:
        """How many snapshots were read (tests, the benchmark)."""
        return self._snapshot.reads

    def version(self, operator_id: int, unlike: str | None = None) -> tuple[str, int]:
        """`ChatView.console_version(operator_id)`, from a snapshot read since the feed's last news for the
        consoles. `unlike`: the version the console drew (a request's `after`, read by the dashboard's own
        process): when the snapshot gives another one and is older than the feed's look interval, it is read
        again first (the feed may not have looked yet at a change the dashboard made and drew)."""
        snapshot, age = self._snapshot.get()
        version = self.view.console_version(operator_id, snapshot)
        if unlike is None or version[0] == unlike or age <= self.feed.interval_s:
            return version
        snapshot = self._snapshot.again(snapshot)
        return self.view.console_version(operator_id, snapshot)

    def pending_sessions(self) -> list[dict]:
        """`ChatView.pending_sessions()` for the operators' API, from one read of the queue per news for the
        consoles (at most MAX_AGE_S old), shared by every operator asking meanwhile: a queue of hundreds polled by
        each console was the API's busiest read (one row step and one hand-off of the GIL per chat)."""
        return self.view.pending_sessions(self._queue.get()[0])


class _Shared:
    """One read (`read()`) kept while the feed tells of no news for the consoles, at most `max_age_s`. One read
    at a time (its own lock, so the snapshot and the queue's rows never wait for each other): the consoles that
    ask together wait for it, then share it."""

    def __init__(self, read: Callable[[], Any], feed: ChangeFeed, max_age_s: float, clock: Callable[[], float]):
        self._read, self._feed, self._max_age_s, self._clock = read, feed, max_age_s, clock
        self._value: Any = None
        self._news = -1  # the feed's `console_news` when the value was read
        self._read_at = float("-inf")
        self._lock = threading.Lock()
        self.reads = 0

    def get(self) -> tuple[Any, float]:
        """The value and its age, read again when the feed told news since or when it is older than `max_age_s`."""
        with self._lock:
            news = self._feed.console_news  # read before the rows: news told during the read reads them again
            if news != self._news or self._clock() - self._read_at >= self._max_age_s:
                self._load(news)
            return self._value, self._clock() - self._read_at

    def again(self, seen: Any) -> Any:
        """The value, read again if it is still `seen` (one the caller found behind), else the newer one."""
        with self._lock:
            if self._value is seen:
                self._load(self._feed.console_news)
            return self._value

    def _load(self, news: int) -> None:
        self._value = self._read()
        self._news, self._read_at = news, self._clock()
        self.reads += 1
