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
