"""Who may take a chat: the one rule used by take, transfer, availability and the Live page.

An operator may take one more chat when they are *present* (an active account, status
"online", a heartbeat younger than HEARTBEAT_TIMEOUT_S) and have *room* (fewer live chats
than their `max_chats`). An operator who is away, offline or whose heartbeat is stale
takes no new chat, through any face: not by "Prendi", not by the API, not by a transfer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from sportello.domain.states import OperatorStatus


class Refusal(StrEnum):
    """Why an operator may not take one more chat."""

    UNAVAILABLE = "operator_unavailable"  # not present: away, offline, disabled or a stale heartbeat
    AT_CAPACITY = "at_capacity"  # present, but as many live chats as `max_chats`


@dataclass(frozen=True, slots=True)
class OperatorLoad:
    """An operator's presence and live chats, as the rule needs them."""

    active: bool
    status: str
    last_heartbeat: float | None
    active_chats: int
    max_chats: int

    @classmethod
    def of(cls, op: Mapping) -> OperatorLoad:
        """From an operator's public fields with `active_chats` (the store's listing)."""
        return cls(op["active"], op["status"], op["last_heartbeat"], op["active_chats"], op["max_chats"])

    def is_present(self, now: float, heartbeat_timeout_s: float) -> bool:
        """Active, online, and heard from within `heartbeat_timeout_s`."""
        return bool(
            self.active
            and self.status == OperatorStatus.ONLINE
            and self.last_heartbeat is not None
            and now - self.last_heartbeat <= heartbeat_timeout_s
        )

    def has_room(self) -> bool:
        return self.active_chats < self.max_chats

    def refusal(self, now: float, heartbeat_timeout_s: float) -> Refusal | None:
        """None when the operator may take one more chat now; otherwise why not."""
        if not self.is_present(now, heartbeat_timeout_s):
            return Refusal.UNAVAILABLE
        if not self.has_room():
            return Refusal.AT_CAPACITY
        return None

    def can_take(self, now: float, heartbeat_timeout_s: float) -> bool:
        return self.refusal(now, heartbeat_timeout_s) is None
