"""The change feed (services/feed.py): this process's writes wake at once, the watcher finds the others'."""

from __future__ import annotations

import asyncio
import time

from sportello.services.chat import ChatService
from sportello.services.feed import ChangeFeed

HARD = "Posso prenotare una visita privata notturna con il direttore per il mio matrimonio?"


def queued(chat: ChatService):
    s = chat.start_session("it", "pytest-ua")
    sid, tok = s["session_id"], s["token"]
    chat.visitor_message(sid, tok, HARD)
    chat.answer_offer(sid, tok, True)
    return sid, tok


def other_process(desk) -> ChatService:
    """A second ChatService on the same database that does not tell this feed: another process."""
    return ChatService(desk.store, desk.answerer, desk.settings, clock=desk.clock)


def run(coro):
    return asyncio.run(coro)


def test_a_write_of_this_process_wakes_its_chat_at_once(desk):
    feed = ChangeFeed(desk.store, interval_s=60, clock=desk.clock)  # the watcher would not look in time
    desk.chat.on_change = feed.notify
    desk.add_operator("mario", "Mario")
    sid, tok = queued(desk.chat)
    other, _ = queued(desk.chat)

    async def scenario():
        sub, bystander = feed.subscribe(sid), feed.subscribe(other)
        assert not await sub.wait(0.01)
        t0 = time.monotonic()
        await asyncio.to_thread(desk.chat.visitor_message, sid, tok, "ancora io")
        assert await sub.wait(1.0)
        assert time.monotonic() - t0 < 0.5
        assert not await bystander.wait(0.01)  # only the chat that changed
        sub.close(), bystander.close()

    run(scenario())
    assert feed.subscribers() == 0
    feed.close()


def test_the_watcher_finds_other_processes_writes_once_each(desk):
    feed = ChangeFeed(desk.store, interval_s=60, clock=desk.clock)
    op = desk.add_operator("mario", "Mario")
    elsewhere = other_process(desk)
    first, _ = queued(elsewhere)
    second, _ = queued(elsewhere)

    async def scenario():
        sub, behind = feed.subscribe(first), feed.subscribe(second)
        behind.queued = True
        feed.look()  # the first look wakes what changed lately: a read too many, never one too few
        await sub.wait(0.01), await behind.wait(0.01)
        assert feed.look() == 0  # nothing new: nobody woken
        desk.clock.advance(1)
        await asyncio.to_thread(elsewhere.take_chat, op, first)
        assert feed.look() == 2  # the chat taken, and the one queued behind it (its position moved)
        assert await sub.wait(0.01) and await behind.wait(0.01)
        desk.clock.advance(1)
        await asyncio.to_thread(elsewhere.operator_typing, op, first)  # the typing mark wakes too
        assert feed.look() == 1 and await sub.wait(0.01) and not await behind.wait(0.01)
        sub.close(), behind.close()

    run(scenario())
    feed.close()


def test_the_watcher_looks_only_while_someone_listens_and_close_ends_every_wait(desk):
    feed = ChangeFeed(desk.store, interval_s=0.02, clock=desk.clock)
    sid, tok = queued(desk.chat)

    async def scenario():
        await asyncio.sleep(0.1)
        assert feed.ticks == 0  # nobody subscribed: the watcher sleeps
        sub = feed.subscribe(sid)
        await asyncio.sleep(0.2)
        assert feed.ticks >= 3 and feed.looks >= 1
        looks = feed.looks
        await asyncio.sleep(0.1)
        assert feed.looks == looks  # SQLite: nobody committed, so no query (PRAGMA data_version)
        await asyncio.to_thread(desk.chat.visitor_message, sid, tok, "ancora")
        await asyncio.sleep(0.1)
        assert feed.looks > looks and await sub.wait(0.5)  # a commit: one look, and the chat wakes
        sub.close()
        await asyncio.sleep(0.05)
        idle = feed.ticks
        await asyncio.sleep(0.15)
        assert feed.ticks <= idle + 1  # parked again
        waiting = feed.subscribe(sid)
        await asyncio.to_thread(feed.close)
        assert await waiting.wait(1.0) and waiting.closed
        assert feed.subscribe(sid).closed  # after close: nothing to wait for

    run(scenario())
