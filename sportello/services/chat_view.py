"""What visitors and operators read of the chats: polls, the queue, the operator's chats, presence.

`ChatView` never writes (the queue timeout is the sweeper's, `ChatService.expire_waiting`);
`ChatService` keeps the transitions. The queue is one definition (`sportello.domain.queue`):
a chat waiting QUEUE_TIMEOUT_S or more is out of it, so the visitor's position and the
operators' list always agree, even before the sweeper has moved the chat.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping

from sqlalchemy.engine import Connection

from sportello.config import Settings
from sportello.domain import State, iso
from sportello.domain.capacity import OperatorLoad
from sportello.domain.queue import estimated_wait_s, queue_cutoff, timed_out
from sportello.services.console_marker import ConsoleSnapshot
from sportello.services.tickets import mask_in, sees_contacts
from sportello.store import chat_queries as cq
from sportello.store import console_queries
from sportello.store import operator_queries as oq
from sportello.store import tickets as ticket_table
from sportello.store.database import Store

TYPING_S = 5.0  # how long an operator's "typing" mark shows on the visitor's page
WAITS_TTL_S = 1.0  # the recent waits (the wait estimate) are read at most this often (ChatView.recent_waits)


def message_dict(m) -> dict:
    return {
        "seq": m["seq"],
        "role": m["role"],
        "author": m["author"],
        "text": m["text"],
        "created_at": iso(m["created_at"]),
    }


def live_chat_dict(r) -> dict:
    """What the console lists of a live chat (a sessions row)."""
    return {
        "session_id": r.id,
        "original_question": r.original_question,
        "language": r.language,
        "taken_at": iso(r.taken_at),
        "urgent": bool(r.urgent),
    }


def suggestions_of(sess: Mapping) -> list[dict]:
    """The questions offered as buttons beside "talk to a person" ([{intent, question}], at most 3): those of the
    AI's last turn, while the person is still only offered."""
    if sess["status"] != State.OFFERED or not sess["suggestions"]:
        return []
    return json.loads(sess["suggestions"])


def queue_position(conn: Connection, sess: Mapping, now: float, timeout_s: float) -> int | None:
    """The chat's place in the queue (1 = next), None when it is not in the queue
    (not waiting, or waiting QUEUE_TIMEOUT_S or more)."""
    if sess["status"] != State.WAITING or timed_out(sess["waiting_since"], now, timeout_s):
        return None
    return cq.ahead_in_queue(conn, sess, queue_cutoff(now, timeout_s)) + 1


def queue_figures(
    conn: Connection,
    sess: Mapping,
    now: float,
    timeout_s: float,
    waits: Callable[[Connection], list] | None = None,
    *,
    position: int | None = None,
) -> dict:
    """{"queue_position", "estimated_wait_s"} of a chat, as the visitor reads them (`waits`: how the recent waits
    are read, `chat_queries.recent_waits` unless given; `position`: the chat's place when the caller has just read
    it in the same transaction, else it is read)."""
    if position is None:
        position = queue_position(conn, sess, now, timeout_s)
    wait = estimated_wait_s((waits or cq.recent_waits)(conn), position) if position else None
    return {"queue_position": position, "estimated_wait_s": wait}


def availability(conn: Connection, now: float, heartbeat_timeout_s: float) -> dict:
    """{"available", "online", "operators"}: available = someone may take a chat now
    (present, with room: `sportello.domain.capacity`)."""
    ops = oq.with_load(conn)
    loads = [OperatorLoad.of(o) for o in ops]
    return {
        "available": any(load.can_take(now, heartbeat_timeout_s) for load in loads),
        "online": sum(1 for load in loads if load.is_present(now, heartbeat_timeout_s)),
        "operators": ops,
    }


class ChatView:
    """The read side of the chats, for the faces (`ChatService.view`)."""

    def __init__(self, store: Store, settings: Settings, *, clock: Callable[[], float] = time.time):
        self.store = store
        self.settings = settings
        self.clock = clock
        self.poll_max = settings.poll_max_messages
        self._waits: tuple[float, list] | None = None  # (time.monotonic() read, the recent waits)
        self._waits_lock = threading.Lock()
        # (the queue move it was read for, id -> position, the recent waits read with it)
        self._places: tuple[int, dict[str, int], list] = (-1, {}, [])
        # `_places_lock` is held only to swap the tuple: `known_queue_figures` takes it on the event loop, which
        # must never wait for a read; the readers queue on `_places_reading` (one read of the queue per move).
        self._places_lock = threading.Lock()
        self._places_reading = threading.Lock()

    def recent_waits(self, conn: Connection) -> list:
        """The recent waits the wait estimate is the median of, read at most every WAITS_TTL_S: the queue moving
        wakes every waiting chat's stream at once, and each read them (a sort of the sessions: 9 % of the
        server's time at 1,000 tabs). A take in this process reads them afresh (`forget_waits`)."""
        with self._waits_lock:
            cached = self._waits
        if cached is not None and time.monotonic() - cached[0] < WAITS_TTL_S:
            return cached[1]
        waits = cq.recent_waits(conn)
        with self._waits_lock:
            self._waits = (time.monotonic(), waits)
        return waits

    def forget_waits(self) -> None:
        with self._waits_lock:
            self._waits = None

    def known_queue_figures(self, session_id: str, move: int) -> tuple[bool, dict | None]:
        """{"queue_position", "estimated_wait_s"} of a chat in the queue, with no read: (True, its figures, None when
        the chat is not in the queue any more: then its own change is read in full) when the queue's places were
        read for `move` (the change feed's `queue_moves` when the caller was woken) or a later one
        (`read_places`), else (False, None)."""
        with self._places_lock:
            read_for, places, waits = self._places
        if read_for < move:
            return False, None
        position = places.get(session_id)
        if position is None:
            return True, None
        return True, {"queue_position": position, "estimated_wait_s": estimated_wait_s(waits, position)}

    def read_places(self, move: int) -> None:
        """Every waiting chat's place, read once for `move` (or a later move): when the queue moves, every chat
        behind is woken and wants its new place; each reading its own (a count of the chats ahead) cost O(queue)
        apiece, O(queue²) in all. One reader at a time, the others wait for its answer. Callers on an event loop
        ask it once per move for all their chats (faces/stream.py), so a thousand chats woken by one move do not
        each hold a thread waiting here."""
        with self._places_reading:
            if self._places[0] < move:
                now = self.clock()
                with self.store.read() as conn:
                    ids = cq.queue_ids(conn, queue_cutoff(now, self.settings.queue_timeout_s))
                    waits = self.recent_waits(conn)
                places = (move, {sid: i for i, sid in enumerate(ids, start=1)}, waits)
                with self._places_lock:
                    self._places = places

    # ------------------------------------------------------------------ visitor
    def visitor_poll(self, session_id: str, token: str, after: int = 0) -> dict:
        """What the visitor has not seen yet."""
        with self.store.read() as conn:
            row = cq.read_session(conn, session_id, token)
            return self._snapshot(conn, row, after)

    def _snapshot(self, conn: Connection, row, after: int) -> dict:
        """The session and its messages after `after`, at most POLL_MAX_MESSAGES of them.

        When more are left, `more` is true and `last_seq` (= `next_after`) is the
        last one returned, so a client polling with after=last_seq reads on."""
        sess = row._mapping
        limit = self.poll_max + 1 if self.poll_max > 0 else 0
        msgs = [message_dict(m._mapping) for m in cq.messages_after(conn, sess["id"], int(after or 0), limit)]
        more = self.poll_max > 0 and len(msgs) > self.poll_max
        if more:
            msgs = msgs[: self.poll_max]
        last_seq = msgs[-1]["seq"] if more else sess["last_seq"]
        now = self.clock()
        name = oq.first_name_of(conn, sess["operator_id"])
        typing_at = sess["operator_typing_at"]
        return {
            "session_id": sess["id"],
            "status": sess["status"],
            "language": sess["language"],
            **queue_figures(conn, sess, now, self.settings.queue_timeout_s, self.recent_waits),
            "operator_name": name or None,
            "ticket_id": sess["ticket_id"],
            "last_seq": last_seq,
            "more": more,
            "next_after": last_seq,
            "messages": msgs,
            "suggestions": suggestions_of(sess),
            "urgent": bool(sess["urgent"]),
            # the operator said they are typing within TYPING_S (ChatService.operator_typing)
            "operator_typing": bool(sess["status"] == State.LIVE and typing_at and 0 <= now - typing_at < TYPING_S),
        }

    # ------------------------------------------------------------------ operators
    def operator_messages(self, session_id: str, after: int = 0, *, viewer: dict | None = None) -> dict:
        """A chat as its operator reads it: the same snapshot as the visitor's poll; for a `viewer`
        who may not read contacts (TicketService.for_viewer), the ticket's contact masked in the texts."""
        with self.store.read() as conn:
            row = cq.read_session(conn, session_id, None, visitor=False)
            snap = self._snapshot(conn, row, after)
            ticket = ticket_table.get(conn, row.ticket_id) if row.ticket_id and not sees_contacts(viewer) else None
        if ticket and ticket.get("contact_info"):
            snap["messages"] = [{**m, "text": mask_in(m["text"], ticket["contact_info"])} for m in snap["messages"]]
        return snap

    def operator_status(self) -> dict:
        """Whether someone may take a chat now, how many are present, and every operator."""
        with self.store.read() as conn:
            return availability(conn, self.clock(), self.settings.heartbeat_timeout_s)

    def queue_rows(self) -> list:
        """The queue as read now (`chat_queries.live_queue`), for `pending_sessions`."""
        with self.store.read() as conn:
            return cq.live_queue(conn, queue_cutoff(self.clock(), self.settings.queue_timeout_s))

    def pending_sessions(self, rows: list | None = None) -> list[dict]:
        """The queue in its order (urgent first, then oldest first): the chats that timed out are not in it
        (domain/queue.py). `rows`: `queue_rows()` read a moment ago (the API's callers share one read:
        services/console_versions.py); a chat timed out since is left out, as a read now would."""
        now = self.clock()
        if rows is None:
            rows = self.queue_rows()
        timeout_s = self.settings.queue_timeout_s
        return [
            {
                "session_id": r.id,
                "original_question": r.original_question,
                "waiting_since": iso(r.waiting_since),
                "waiting_s": round(now - r.waiting_since, 1),
                "queue_position": i + 1,
                "language": r.language,
                "urgent": bool(r.urgent),
            }
            for i, r in enumerate(r for r in rows if not timed_out(r.waiting_since, now, timeout_s))
        ]

    def operator_chats(self, operator_id: int) -> list[dict]:
        """The operator's live chats."""
        with self.store.read() as conn:
            rows = cq.live_chats_of(conn, operator_id)
        return [
            {
                **live_chat_dict(r),
                "waited_s": round(r.taken_at - r.waiting_since, 1) if r.taken_at and r.waiting_since else None,
                "last_seq": r.last_seq,
            }
            for r in rows
        ]

    def console_snapshot(self) -> ConsoleSnapshot:
        """What every operator's console marker and version are made of, in one read (the queue and the live
        chats; services/console_versions.py)."""
        cutoff = queue_cutoff(self.clock(), self.settings.queue_timeout_s)
        with self.store.read() as conn:
            return ConsoleSnapshot(console_queries.console_rows(conn, cutoff))

    def console_marker(self, operator_id: int | None = None, snapshot: ConsoleSnapshot | None = None) -> dict:
        """The console's cheap check, one indexed query and no message read: {"queue": the ids of the
        chats in the queue, oldest first (the same queue as `pending_sessions`), "chats": {the id of
        each live chat of `operator_id`: its last message's seq}, "langs": {the same ids: the visitor's
        language now}, "others": the ids of the colleagues' live chats}. An operator's page compares it
        with the last one it drew and redraws only what changed. `snapshot`: one read already (the consoles
        of a process share it: services/console_versions.py); else read now."""
        snapshot = snapshot or self.console_snapshot()
        return snapshot.marker(operator_id, queue_cutoff(self.clock(), self.settings.queue_timeout_s))

    def console_version(
        self, operator_id: int | None = None, snapshot: ConsoleSnapshot | None = None
    ) -> tuple[str, int]:
        """The console's marker as a short opaque digest (and how many wait in the queue): the same digest
        means the operator's console has nothing new to show. What the browser compares (the Live page's
        watcher, faces/console_stream.py): no id and no text of anyone goes out."""
        snapshot = snapshot or self.console_snapshot()
        return snapshot.version(operator_id, queue_cutoff(self.clock(), self.settings.queue_timeout_s))

    def colleague_chats(self, operator_id: int) -> list[dict]:
        """The live chats of the other operators (the inbox's "colleagues" list), urgent first, then the
        oldest taken first, with their operator's name."""
        now = self.clock()
        with self.store.read() as conn:
            rows = cq.live_chats_of_others(conn, operator_id)
        return [
            {
                **live_chat_dict(r),
                "operator_name": r.display_name,
                "live_s": round(now - r.taken_at, 1) if r.taken_at else None,
            }
            for r in rows
        ]

    def transfer_targets(self, operator_id: int) -> list[dict]:
        """The colleagues `operator_id` may hand a chat to now: those who may take a chat
        (checked again by `ChatService.transfer_chat`, in its transaction)."""
        now = self.clock()
        with self.store.read() as conn:
            ops = oq.with_load(conn)
        timeout = self.settings.heartbeat_timeout_s
        return [o for o in ops if o["id"] != operator_id and OperatorLoad.of(o).can_take(now, timeout)]
