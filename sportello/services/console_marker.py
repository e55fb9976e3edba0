"""What an operator's console checks, "anything new for me?": its marker and its version.

`ConsoleSnapshot` is what a console's marker is made of (`ChatView.console_marker`: the queue, the operator's
live chats with their last message and language, the colleagues' live chats) and its version
(`ChatView.console_version`: a short digest; the same digest, nothing new to draw), from one read of the queue
and of the live chats (`store/console_queries.py`). The queue is the big part (hundreds of chats on a busy
day): it is sorted and digested once per snapshot, whichever operator asks (services/console_versions.py shares
one snapshot between the consoles of a process). A chat whose queue wait timed out since the read is left out,
as a read now would leave it.
"""

from __future__ import annotations

import bisect
import hashlib
import json
from collections.abc import Sequence

from sportello.domain import State


def _digest(raw: bytes) -> str:
    return hashlib.blake2b(raw, digest_size=8).hexdigest()


class ConsoleSnapshot:
    """The queue and the live chats as read once (`store.console_queries.console_rows`), for any operator."""

    def __init__(self, rows: Sequence):
        waiting = sorted((r.waiting_since, r.id) for r in rows if r.status != State.LIVE)
        self._since = [w for w, _ in waiting]
        self._queue = [sid for _, sid in waiting]
        self._live = [(r.id, r.operator_id, r.last_seq, r.language) for r in rows if r.status == State.LIVE]
        self._queue_digests: dict[int, str] = {}  # the queue's first index still in (see `_first`) -> its digest

    def _first(self, cutoff: float) -> int:
        """The index of the first chat still in the queue at `cutoff` (those waiting since before timed out)."""
        return bisect.bisect_right(self._since, cutoff)

    def marker(self, operator_id: int | None, cutoff: float) -> dict:
        """{"queue": the queue's session ids, oldest first; "chats": {live chat id of `operator_id`: its last
        message's seq}; "langs": {the same ids: the visitor's language now}; "others": the ids of the other live
        chats, sorted}."""
        chats = {sid: seq for sid, op, seq, _ in self._live if operator_id is not None and op == operator_id}
        return {
            "queue": self._queue[self._first(cutoff) :],
            "chats": chats,
            "langs": {sid: lang for sid, _, _, lang in self._live if sid in chats},
            "others": sorted(sid for sid, *_ in self._live if sid not in chats),
        }

    def version(self, operator_id: int | None, cutoff: float) -> tuple[str, int]:
        """The marker's digest, and how many wait in the queue. The queue's own digest is made once per
        snapshot (and per chat timed out since), whichever operator asks."""
        first = self._first(cutoff)
        queue = self._queue_digests.get(first)
        if queue is None:
            queue = self._queue_digests[first] = _digest("\n".join(self._queue[first:]).encode())
        marker = {**self.marker(operator_id, float("inf")), "queue": queue}  # (the queue: its digest only)
        return _digest(json.dumps(marker, sort_keys=True, separators=(",", ":")).encode()), len(self._queue) - first
