"""Domain vocabulary: session states, roles, errors and input validation.

Nothing here touches the database or the network.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum


class State(StrEnum):
    BOT = "bot"
    OFFERED = "offered"
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
    (State.OFFERED, "answered"): State.BOT,
    (State.OFFERED, "decline"): State.BOT,
    (State.OFFERED, "accept_available"): State.WAITING,
    (State.OFFERED, "accept_unavailable"): State.COLLECTING_CONTACT,
    (State.WAITING, "take"): State.LIVE,
    (State.WAITING, "timeout"): State.COLLECTING_CONTACT,
    (State.LIVE, "release"): State.CLOSED,
    (State.COLLECTING_CONTACT, "contact"): State.CLOSED,
}


class DomainError(Exception):
    """An error a caller can act on; carries an HTTP status and a stable code."""

    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


class ValidationError(DomainError):
    status_code = 422
    code = "invalid_input"


class NotFound(DomainError):
    status_code = 404
    code = "not_found"


class Conflict(DomainError):
    status_code = 409
    code = "conflict"


class Unauthorized(DomainError):
    status_code = 401
    code = "unauthorized"


class Forbidden(DomainError):
    status_code = 403
    code = "forbidden"


def next_state(current: str, event: str) -> State:
    try:
        return TRANSITIONS[(State(current), event)]
    except KeyError:
        raise Conflict(f"cannot '{event}' while the chat is '{current}'", code="wrong_state") from None


EMAIL_RE = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
PHONE_CHARS_RE = re.compile(r"^\+?[0-9 ().\-/]{6,25}$")


def validate_email(value: str) -> str:
    value = (value or "").strip()
    if len(value) > 254 or not EMAIL_RE.match(value) or ".." in value:
        raise ValidationError("invalid email address", code="invalid_email")
    local, _, domain = value.rpartition("@")
    if len(local) > 64 or not re.search(r"\.[A-Za-z]{2,}$", domain):
        raise ValidationError("invalid email address", code="invalid_email")
    return value


def validate_phone(value: str) -> str:
    value = (value or "").strip()
    digits = re.sub(r"\D", "", value)
    if not PHONE_CHARS_RE.match(value) or not 6 <= len(digits) <= 15:
        raise ValidationError("invalid phone number", code="invalid_phone")
    return ("+" if value.startswith("+") else "") + digits


def validate_contact(method: str, value: str) -> tuple[ContactMethod, str]:
    if method == ContactMethod.EMAIL:
        return ContactMethod.EMAIL, validate_email(value)
    if method == ContactMethod.PHONE:
        return ContactMethod.PHONE, validate_phone(value)
    raise ValidationError("method must be 'email' or 'phone'", code="invalid_method")


def guess_contact(text: str) -> tuple[ContactMethod, str] | None:
    """Recognise a bare email or phone number typed in the chat."""
    text = (text or "").strip()
    for method in (ContactMethod.EMAIL, ContactMethod.PHONE):
        try:
            return validate_contact(method, text)
        except ValidationError:
            continue
    return None


def validate_text(text: object, max_len: int) -> str:
    if not isinstance(text, str):
        raise ValidationError("text must be a string", code="invalid_text")
    text = text.strip()
    if not text:
        raise ValidationError("message is empty", code="empty_message")
    if len(text) > max_len:
        raise ValidationError(
            f"message is too long ({len(text)} characters, limit {max_len})",
            code="message_too_long",
        )
    return text


def validate_language(lang: str | None) -> str:
    lang = (lang or "it").lower()[:2]
    if lang not in LANGUAGES:
        raise ValidationError("language must be 'it' or 'en'", code="invalid_language")
    return lang


def iso(ts: float | None) -> str | None:
    """Epoch seconds -> ISO-8601 UTC with a Z, as written to the sheets."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def first_name(display_name: str) -> str:
    return (display_name or "").strip().split(" ")[0] or "Operatore"
