"""Input validation: messages, languages, contacts (email, phone)."""

from __future__ import annotations

import re

from sportello.domain.errors import ValidationError
from sportello.domain.states import LANGUAGES, ContactMethod

EMAIL_RE = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
PHONE_CHARS_RE = re.compile(r"^\+?[0-9 ().\-/]{6,25}$")


def validate_email(value: str) -> str:
    if not isinstance(value, str | None):
        raise ValidationError("invalid email address", code="invalid_email")
    value = (value or "").strip()
    if len(value) > 254 or not EMAIL_RE.match(value) or ".." in value:
        raise ValidationError("invalid email address", code="invalid_email")
    local, _, domain = value.rpartition("@")
    if len(local) > 64 or not re.search(r"\.[A-Za-z]{2,}$", domain):
        raise ValidationError("invalid email address", code="invalid_email")
    return value


PHONE_MIN_DIGITS, PHONE_MAX_DIGITS = 6, 15


def phone_problem(value: object) -> str | None:
    """Why `value` is not a phone number: "characters" (letters, symbols), "too_short"
    (fewer than 6 digits), "too_long" (more than 15, E.164), or None when it is one."""
    if not isinstance(value, str | None):
        return "characters"
    value = (value or "").strip()
    digits = re.sub(r"\D", "", value)
    if not re.fullmatch(r"\+?[0-9 ().\-/]*", value):
        return "characters"
    if len(digits) < PHONE_MIN_DIGITS:
        return "too_short"
    if len(digits) > PHONE_MAX_DIGITS or not PHONE_CHARS_RE.match(value):
        return "too_long"
    return None


class InvalidPhone(ValidationError):
    """Not a phone number; `problem` says why (see `phone_problem`), so a face can say it."""

    code = "invalid_phone"

    def __init__(self, message: str, problem: str):
        super().__init__(message)
        self.problem = problem


def validate_phone(value: str) -> str:
    problem = phone_problem(value)
    if problem == "too_short":
        raise InvalidPhone(f"phone number too short: at least {PHONE_MIN_DIGITS} digits", problem)
    if problem == "too_long":
        raise InvalidPhone(f"phone number too long: at most {PHONE_MAX_DIGITS} digits", problem)
    if problem:
        raise InvalidPhone("invalid phone number: use digits, spaces and an optional +", problem)
    value = value.strip()
    return ("+" if value.startswith("+") else "") + re.sub(r"\D", "", value)


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


# The largest integer an id, a sequence number, a limit or an offset may be: the
# store's INTEGER columns are 32-bit on PostgreSQL.
MAX_INT = 2**31 - 1


def check_characters(value: str, name: str = "text") -> str:
    """`value` unchanged, or a ValidationError (code invalid_characters) when it
    holds a NUL (PostgreSQL refuses it in text) or a lone surrogate (not UTF-8)."""
    if "\x00" in value:
        raise ValidationError(f"{name} contains a NUL character", code="invalid_characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError(f"{name} is not valid Unicode text", code="invalid_characters") from None
    return value


def check_json(data: object, max_depth: int) -> None:
    """Walk a parsed JSON document (iteratively): every key and string passes
    `check_characters`, and containers nest at most `max_depth` deep."""
    stack: list[tuple[object, int, str]] = [(data, 1, "body")]
    while stack:
        item, depth, name = stack.pop()
        if isinstance(item, str):
            check_characters(item, name)
        elif isinstance(item, dict | list):
            if depth > max_depth:
                raise ValidationError(f"JSON nested more than {max_depth} deep", code="invalid_json")
            pairs = item.items() if isinstance(item, dict) else ((name, v) for v in item)
            for key, value in pairs:
                if isinstance(item, dict):
                    check_characters(key, "a field name")
                stack.append((value, depth + 1, str(key)))


def validate_int(value: object, name: str, *, lo: int = 0, hi: int = MAX_INT) -> int:
    """An integer given as a JSON number or a decimal string, within [lo, hi]."""
    if isinstance(value, str) and re.fullmatch(r"\s*-?[0-9]{1,12}\s*", value):
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi:
        return value
    raise ValidationError(f"{name} must be an integer from {lo} to {hi}", code=f"invalid_{name}")


def validate_text(text: object, max_len: int) -> str:
    if not isinstance(text, str):
        raise ValidationError("text must be a string", code="invalid_text")
    check_characters(text, "text")
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
    if not isinstance(lang, str | None):
        raise ValidationError("language must be 'it' or 'en'", code="invalid_language")
    lang = (lang or "it").lower()[:2]
    if lang not in LANGUAGES:
        raise ValidationError("language must be 'it' or 'en'", code="invalid_language")
    return lang
