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

from sportello.services.chat_view import ChatView
from sportello.services.console_marker import ConsoleSnapshot
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
        self.max_age_s = max_age_s
        self.clock = clock
        self._lock = threading.Lock()  # one read at a time: the consoles woken together wait for it, then share it
        self._news = -1  # the feed's `console_news` when the snapshot was read
        self._read_at = float("-inf")
        self._snapshot = ConsoleSnapshot(())
        self.reads = 0  # how many snapshots were read (tests, the benchmark)
        self._queue: list = []  # the queue's rows (`pending_sessions`), read when the feed told news, as the snapshot
        self._queue_news = -1
        self._queue_read_at = float("-inf")

    def version(self, operator_id: int, unlike: str | None = None) -> tuple[str, int]:
        """`ChatView.console_version(operator_id)`, from a snapshot read since the feed's last news for the
        consoles. `unlike`: the version the console drew (a request's `after`, read by the dashboard's own
        process): when the snapshot gives another one and is older than the feed's look interval, it is read
        again first (the feed may not have looked yet at a change the dashboard made and drew)."""
        with self._lock:
            news = self.feed.console_news  # read before the rows: news told during the read reads them again
            if news != self._news or self.clock() - self._read_at >= self.max_age_s:
                self._read(news)
            snapshot, age = self._snapshot, self.clock() - self._read_at
        version = self.view.console_version(operator_id, snapshot)
        if unlike is None or version[0] == unlike or age <= self.feed.interval_s:
            return version
        with self._lock:
            if self._snapshot is snapshot:  # (not read again meanwhile)
                self._read(self.feed.console_news)
            snapshot = self._snapshot
        return self.view.console_version(operator_id, snapshot)

    def pending_sessions(self) -> list[dict]:
        """`ChatView.pending_sessions()` for the operators' API, from one read of the queue per news for the
        consoles (at most MAX_AGE_S old), shared by every operator asking meanwhile: a queue of hundreds polled by
        each console was the API's busiest read (one row step and one hand-off of the GIL per chat)."""
        with self._lock:
            news = self.feed.console_news
            if news != self._queue_news or self.clock() - self._queue_read_at >= self.max_age_s:
                self._queue = self.view.queue_rows()
                self._queue_news, self._queue_read_at = news, self.clock()
            rows = self._queue
        return self.view.pending_sessions(rows)

    def _read(self, news: int) -> None:
        self._snapshot = self.view.console_snapshot()
        self._news, self._read_at = news, self.clock()
        self.reads += 1
