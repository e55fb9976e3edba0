"""The consoles' versions read once per change for every console of the process (services/console_versions.py):
the same digest as each console's own read, one read of the queue for all of them until the feed tells of news
(this process's write at once, another's at the watcher's look) or the rows age; a chat whose wait timed out
since the read is out as a read now would leave it."""

from __future__ import annotations

from sportello.services.console_versions import ConsoleVersions
from sportello.services.feed import ChangeFeed
from testkit.fakes import PRICE_Q
from tests.unit.test_feed import other_process, queued


class Ticks:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def setup(desk):
    feed = ChangeFeed(desk.store, interval_s=60, clock=desk.clock)  # the test calls the watcher's look itself
    desk.chat.on_change = feed.notify
    ticks = Ticks()
    return feed, ConsoleVersions(desk.chat.view, feed, max_age_s=1.0, clock=ticks), ticks


def own_reads(desk, ops) -> dict:
    return {op: desk.chat.view.console_version(op) for op in ops}


def test_the_consoles_share_one_read_until_news_and_see_what_their_own_read_sees(desk):
    feed, versions, _ = setup(desk)
    mario, luigi = desk.add_operator("mario", "Mario"), desk.add_operator("luigi", "Luigi")
    a, a_token = queued(desk.chat)
    queued(desk.chat)
    desk.chat.take_chat(mario, a)
    seen = {op: versions.version(op) for op in (mario, luigi, mario, luigi)}
    assert versions.reads == 1
    assert seen == own_reads(desk, (mario, luigi)) and seen[mario] != seen[luigi]
    assert seen[mario][1] == 1  # the second chat waits

    # a visitor's message in Mario's live chat (this process): news, read again at once
    desk.clock.advance(1)
    desk.chat.visitor_message(a, a_token, PRICE_Q)
    after = {op: versions.version(op) for op in (mario, luigi)}
    assert versions.reads == 2
    assert after == own_reads(desk, (mario, luigi))
    assert after[mario] != seen[mario] and after[luigi] == seen[luigi]  # only Mario's chat moved


def test_another_process_shows_at_the_watchers_look_or_when_the_rows_age(desk):
    feed, versions, ticks = setup(desk)
    mario = desk.add_operator("mario", "Mario")
    elsewhere = other_process(desk)
    before = versions.version(mario)
    sid, _ = queued(elsewhere)  # another process: this feed is not told
    assert versions.version(mario) == before and versions.reads == 1  # not seen yet: the watcher has not looked
    feed.look()
    assert versions.version(mario) == desk.chat.view.console_version(mario) != before
    assert versions.reads == 2

    desk.clock.advance(1)
    elsewhere.take_chat(mario, sid)  # again unseen by the feed: the rows' age brings it
    ticks.now += 0.5
    assert versions.version(mario)[1] == 1 and versions.reads == 2
    ticks.now += 0.6
    assert versions.version(mario) == desk.chat.view.console_version(mario)
    assert versions.version(mario)[1] == 0 and versions.reads == 3


def test_a_wait_that_timed_out_leaves_the_queue_without_a_read(desk):
    _, versions, _ = setup(desk)
    mario = desk.add_operator("mario", "Mario")
    queued(desk.chat)
    assert versions.version(mario)[1] == 1
    desk.clock.advance(desk.settings.queue_timeout_s + 1)  # the sweeper has not run: the row still says waiting
    assert versions.version(mario) == desk.chat.view.console_version(mario)
    assert versions.version(mario)[1] == 0 and versions.reads == 1


def test_a_version_the_page_drew_that_the_shared_read_missed_is_read_again(desk):
    """The dashboard (another process) takes a chat and draws the version it reads itself; its long poll asks
    with that version before this feed has looked: the shared snapshot, older than the feed's look interval,
    is read again instead of answering with a version the page would take for news."""
    feed = ChangeFeed(desk.store, interval_s=0.1, clock=desk.clock)
    ticks = Ticks()
    versions = ConsoleVersions(desk.chat.view, feed, clock=ticks)
    mario = desk.add_operator("mario", "Mario")
    elsewhere = other_process(desk)
    sid, _ = queued(elsewhere)
    feed.look()
    before = versions.version(mario)
    elsewhere.take_chat(mario, sid)  # the dashboard's process; this feed has not looked yet
    drawn = desk.chat.view.console_version(mario)[0]
    assert drawn != before[0]
    ticks.now += 0.05  # read within the feed's interval: may be behind, kept
    assert versions.version(mario, unlike=drawn) == before and versions.reads == 1
    ticks.now += 0.1
    assert versions.version(mario, unlike=drawn)[0] == drawn and versions.reads == 2
    assert versions.version(mario, unlike=drawn)[0] == drawn and versions.reads == 2  # the same: no read


def test_the_operators_queue_listing_is_one_read_per_news_and_the_same_as_their_own(desk):
    view = desk.chat.view
    reads: list[int] = []
    read = view.queue_rows
    view.queue_rows = lambda: reads.append(1) or read()  # (counted: patched before the shared reads are set up)
    _, versions, ticks = setup(desk)
    mario = desk.add_operator("mario", "Mario")
    first, _ = queued(desk.chat)
    desk.clock.advance(1)
    queued(desk.chat)
    listed = [versions.pending_sessions() for _ in range(3)]  # three operators asking meanwhile
    assert len(reads) == 1 and listed[0] == listed[2] == view.pending_sessions(read())
    assert [p["queue_position"] for p in listed[0]] == [1, 2]

    desk.chat.take_chat(mario, first)  # this process's write: news, read again
    assert [p["queue_position"] for p in versions.pending_sessions()] == [1] and len(reads) == 2
    ticks.now += 1.1  # rows older than MAX_AGE_S: read again, news or not
    versions.pending_sessions()
    assert len(reads) == 3

    desk.clock.advance(desk.settings.queue_timeout_s + 1)  # the wait timed out since the read (no sweep yet)
    assert versions.pending_sessions() == [] and len(reads) == 3
    assert view.pending_sessions() == []  # as a read now
