"""Session states, roles and the transitions of the conversation state machine."""

from __future__ import annotations

from enum import StrEnum

from sportello.domain.errors import Conflict


class State(StrEnum):
    BOT = "bot"
    OFFERED = "offered"
    ASKING_TOPIC = "asking_topic"  # "talk to a person" before any question: what is it about?
    WAITING = "waiting"
    LIVE = "live"
    COLLECTING_CONTACT = "collecting_contact"
    CLOSED = "closed"


class Role(StrEnum):
    USER = "user"
    BOT = "bot"
    OPERATOR = "operator"
    SYSTEM = "system"


class OperatorStatus(StrEnum):
    ONLINE = "online"
    AWAY = "away"
    OFFLINE = "offline"


class TicketStatus(StrEnum):
    OPEN = "open"
    PENDING = "pending"
    RESOLVED = "resolved"
    CLOSED = "closed"


class ContactMethod(StrEnum):
    LIVE_CHAT = "live_chat"
    EMAIL = "email"
    PHONE = "phone"


LANGUAGES = ("it", "en")

# The transitions of the state machine: (from, event) -> to. The service layer
# checks every change against this table, so an illegal move is a clear error.
TRANSITIONS: dict[tuple[State, str], State] = {
    (State.BOT, "no_answer"): State.OFFERED,
    (State.BOT, "ask_person"): State.OFFERED,
    (State.BOT, "ask_topic"): State.ASKING_TOPIC,
    (State.ASKING_TOPIC, "decline"): State.BOT,
    (State.ASKING_TOPIC, "accept_available"): State.WAITING,
    (State.ASKING_TOPIC, "accept_unavailable"): State.COLLECTING_CONTACT,
    (State.OFFERED, "answered"): State.BOT,
    (State.OFFERED, "decline"): State.BOT,
    (State.OFFERED, "accept_available"): State.WAITING,
    (State.OFFERED, "accept_unavailable"): State.COLLECTING_CONTACT,
    (State.WAITING, "take"): State.LIVE,
    (State.WAITING, "timeout"): State.COLLECTING_CONTACT,
    (State.LIVE, "release"): State.CLOSED,
    (State.COLLECTING_CONTACT, "contact"): State.CLOSED,
}


def next_state(current: str, event: str) -> State:
    try:
        return TRANSITIONS[(State(current), event)]
    except KeyError:
        raise Conflict(f"cannot '{event}' while the chat is '{current}'", code="wrong_state") from None
