"""The pure rules of who may take a chat (domain/capacity.py) and of the queue (domain/queue.py)."""

from __future__ import annotations

from sportello.domain.capacity import OperatorLoad, Refusal
from sportello.domain.queue import estimated_wait_s, queue_cutoff, timed_out

NOW = 1_000_000.0


def load(**changes) -> OperatorLoad:
    fields = {"active": True, "status": "online", "last_heartbeat": NOW - 10, "active_chats": 1, "max_chats": 2}
    return OperatorLoad.of({**fields, **changes})


def test_present_with_room_may_take():
    assert load().refusal(NOW, 60) is None and load().can_take(NOW, 60)
    assert load(last_heartbeat=NOW - 60).can_take(NOW, 60)  # exactly the timeout: still present


def test_not_present_is_unavailable_whatever_the_room():
    for changes in (
        {"status": "away"},
        {"status": "offline"},
        {"active": False},
        {"last_heartbeat": None},
        {"last_heartbeat": NOW - 61},
        {"status": "away", "active_chats": 2},
    ):
        assert load(**changes).refusal(NOW, 60) is Refusal.UNAVAILABLE, changes
        assert not load(**changes).is_present(NOW, 60)


def test_present_and_full_is_at_capacity():
    assert load(active_chats=2).refusal(NOW, 60) is Refusal.AT_CAPACITY
    assert load(active_chats=2).is_present(NOW, 60) and not load(active_chats=2).has_room()
    assert Refusal.UNAVAILABLE == "operator_unavailable" and Refusal.AT_CAPACITY == "at_capacity"


def test_timed_out_from_the_timeout_on_and_the_cutoff_says_the_same():
    for waited, out in ((119.9, False), (120.0, True), (121.0, True)):
        since = NOW - waited
        assert timed_out(since, NOW, 120) is out
        assert (since > queue_cutoff(NOW, 120)) is not out  # "in the queue" is the complement


def test_estimated_wait_is_the_median_times_the_position():
    assert estimated_wait_s([10, 30, 20, None, -5], 2) == 40.0
    assert estimated_wait_s([10], None) is None and estimated_wait_s([], 1) is None
