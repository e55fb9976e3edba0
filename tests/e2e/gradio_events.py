"""The Gradio events a visitor page asks, read off its requests (Playwright), for the browser tests that wait
until the page has nothing on its way instead of for a fixed time."""

from __future__ import annotations

import time


class GradioEvents:
    """The page's requests under /gradio_api/ (less the heartbeat's stream, open as long as the page): how many
    are on their way, and when the last one was asked or came back. Attach before the events to follow."""

    def __init__(self, page):
        self.page = page
        self.open: set = set()
        self.moved = time.monotonic()
        page.on("request", self._asked)
        page.on("requestfinished", self._done)
        page.on("requestfailed", self._done)

    def _asked(self, request) -> None:
        if "/gradio_api/" in request.url and "/heartbeat/" not in request.url:
            self.open.add(request)
            self.moved = time.monotonic()

    def _done(self, request) -> None:
        if request in self.open:
            self.open.discard(request)
            self.moved = time.monotonic()

    def settled(self, quiet_s: float = 0.3, timeout: float = 15) -> None:
        """Until no Gradio event is on its way and none was asked or came back for `quiet_s` (counted from the
        call at the earliest). The page asks a look 30 ms after what calls for it. Playwright hands the page's
        events over only while it runs: waited for with its own clock."""
        start = time.monotonic()
        while True:
            self.page.wait_for_timeout(50)
            now = time.monotonic()
            if not self.open and now - max(self.moved, start) >= quiet_s:
                return
            assert now - start < timeout, f"Gradio events still on their way after {timeout} s: " + ", ".join(
                r.url for r in self.open
            )
