"""The change feed's wake-up on any chat (`ChangeFeed.subscribe_any`, the operator console's long poll):
a write of this process to any chat wakes it at once, one of another process at the watcher's next look, and
it keeps the watcher looking while it waits; close ends it."""

from __future__ import annotations

import asyncio
import time

from sportello.services.feed import ChangeFeed
from tests.unit.test_feed import other_process, queued


def test_any_chat_wakes_the_console_and_close_ends_it(desk):
    feed = ChangeFeed(desk.store, interval_s=0.02, clock=desk.clock)
    desk.chat.on_change = feed.notify
    op = desk.add_operator("mario", "Mario")
    elsewhere = other_process(desk)

    async def scenario():
        console = feed.subscribe_any()
        assert feed.subscribers() == 1
        t0 = time.monotonic()
        sid, tok = await asyncio.to_thread(queued, desk.chat)  # a new chat in the queue (this process)
        assert await console.wait(1.0) and time.monotonic() - t0 < 0.5
        await asyncio.sleep(0.1)
        while await console.wait(0.01):  # (the watcher may see the same commit once more)
            pass
        desk.clock.advance(1)
        await asyncio.to_thread(elsewhere.take_chat, op, sid)  # another process: found by the watcher
        assert await console.wait(1.0)
        console.close()
        assert feed.subscribers() == 0
        waiting = feed.subscribe_any()
        await asyncio.to_thread(feed.close)
        assert await waiting.wait(1.0) and waiting.closed
        assert feed.subscribe_any().closed

    asyncio.run(scenario())
