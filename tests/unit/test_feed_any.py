"""The change feed's wake-up on any chat (`ChangeFeed.subscribe_any`, the operator console's long poll):
a write of this process to any chat wakes it at once, one of another process at the watcher's next look, and
it keeps the watcher looking while it waits; close ends it."""

from __future__ import annotations

import asyncio
import time

from sportello.services.feed import ChangeFeed
from testkit.fakes import PRICE_Q
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


def test_a_chat_with_the_ai_or_an_operator_typing_does_not_wake_the_consoles(desk):
    """Most of the traffic is visitors talking to the AI: none of it is news for a console (the queue, the live
    chats), in this process or another; a chat entering the queue and a live chat's message are."""
    feed = ChangeFeed(desk.store, interval_s=0.02, clock=desk.clock)
    desk.chat.on_change = feed.notify
    op = desk.add_operator("mario", "Mario")
    elsewhere = other_process(desk)

    async def quiet(console, what) -> None:
        await asyncio.sleep(0.15)  # the watcher looks several times meanwhile
        assert not await console.wait(0.05), what

    async def scenario():
        s = await asyncio.to_thread(desk.chat.start_session, "it", "ua")
        other = await asyncio.to_thread(elsewhere.start_session, "it", "ua")
        await asyncio.sleep(0.1)
        console = feed.subscribe_any()
        await asyncio.to_thread(desk.chat.visitor_message, s["session_id"], s["token"], PRICE_Q)
        await quiet(console, "an AI answer in this process")
        await asyncio.to_thread(elsewhere.visitor_message, other["session_id"], other["token"], PRICE_Q)
        await quiet(console, "an AI answer in another process")
        await asyncio.to_thread(desk.chat.start_with_message, "it", "ua", PRICE_Q)
        await quiet(console, "a new chat and its answer")
        sid, tok = await asyncio.to_thread(queued, desk.chat)
        assert await console.wait(1.0)  # a chat in the queue: news
        await asyncio.sleep(0.1)
        while await console.wait(0.01):
            pass
        await asyncio.to_thread(desk.chat.take_chat, op, sid)
        assert await console.wait(1.0)  # taken
        await asyncio.sleep(0.1)
        while await console.wait(0.01):
            pass
        desk.clock.advance(1)  # (a new updated_at: the watcher sees the row change)
        await asyncio.to_thread(desk.chat.operator_typing, op, sid)
        await quiet(console, "an operator typing")
        desk.clock.advance(1)
        await asyncio.to_thread(elsewhere.operator_typing, op, sid)
        await quiet(console, "an operator typing, in another process")
        desk.clock.advance(1)
        await asyncio.to_thread(elsewhere.set_language, sid, tok, "en")
        assert await console.wait(1.0)  # a live chat's language, in another process: news
        await asyncio.sleep(0.1)
        while await console.wait(0.01):
            pass
        await asyncio.to_thread(desk.chat.visitor_message, sid, tok, "grazie")
        assert await console.wait(1.0)  # a live chat's message
        console.close()

    asyncio.run(scenario())
