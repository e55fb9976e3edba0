"""The waiting queue's rules: when a chat has timed out, and what it may expect to wait.

A chat waiting since `waiting_since` has timed out once it has waited QUEUE_TIMEOUT_S
or more (`>=`). From then on it is out of the queue: no queue position counts it (the
visitor's, the operator's list), even before the sweeper (`ChatService.expire_waiting`)
moves it to contact collection.

A waiting chat also leaves the queue, at once, when no operator is present any more (`stranded`:
every console closed or gone quiet for HEARTBEAT_TIMEOUT_S, domain/capacity.py): waiting for nobody is
not waiting, so the visitor is asked for a contact straight away rather than after QUEUE_TIMEOUT_S.
Operators present but at capacity keep the queue waiting.

The queue's order (`QUEUE_ORDER`): urgent chats first (an emergency, `sessions.urgent`), then the
oldest first (`waiting_since`), then by id. One SQL rule (`store/chat_queries.LIVE_QUEUE` and the
position, `AHEAD_IN_QUEUE`) follows it, for the operators' list and the visitor's position alike.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable

# The queue's sort keys, in order: urgent (true first), waiting_since (oldest first), id.
QUEUE_ORDER = ("urgent", "waiting_since", "id")
RECENT_WAITS = 20  # how many of the last queue waits the estimate looks at


def timed_out(waiting_since: float, now: float, timeout_s: float) -> bool:
    return now - waiting_since >= timeout_s


def stranded(operators_present: int) -> bool:
    """Nobody is present to take a waiting chat: it leaves the queue now."""
    return operators_present == 0


def leaves_queue(waiting_since: float, now: float, timeout_s: float, operators_present: int) -> bool:
    """The sweeper's rule: a waiting chat goes to contact collection when it has timed out or is stranded."""
    return timed_out(waiting_since, now, timeout_s) or stranded(operators_present)


def sweep_cutoff(now: float, timeout_s: float, operators_present: int) -> float:
    """The chats waiting since this instant or before leave the queue (`leaves_queue` as a bound a query
    can use): all of them when nobody is present, else those that timed out."""
    return now if stranded(operators_present) else queue_cutoff(now, timeout_s)


def queue_cutoff(now: float, timeout_s: float) -> float:
    """A waiting chat is in the queue when its `waiting_since` is after this instant
    (the same rule as `timed_out`, said as a bound a query can use)."""
    return now - timeout_s


def estimated_wait_s(recent_waits: Iterable[float | None], position: int | None) -> float | None:
    """The median of the recent queue waits times the queue position; None when unknown."""
    if not position:
        return None
    waits = [w for w in recent_waits if w is not None and w >= 0]
    if not waits:
        return None
    return round(statistics.median(waits) * position, 1)
