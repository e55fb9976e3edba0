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


# The states an operator's console shows chats in (the queue, the live chats: `ChatView.console_marker`).
CONSOLE_STATES = frozenset({State.WAITING, State.LIVE})


def concerns_console(before: str | None, after: str) -> bool:
    """Whether a change of a chat, from state `before` (None: not known) to `after`, may be news for an operator's
    console: a chat in the queue or live, or one that just entered or left them. A chat with the AI (most of the
    traffic), asking for a topic or leaving a contact is not, unless it came from the queue or a live chat."""
    if after in CONSOLE_STATES or before in CONSOLE_STATES:
        return True
    return before is None and after in (State.COLLECTING_CONTACT, State.CLOSED)  # it may have left them
