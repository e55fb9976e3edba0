"""Errors a caller can act on: a stable `code` and a message.

They know nothing of HTTP: the faces map them to what they show (the API to
an HTTP status, see `sportello.faces.api.HTTP_STATUS`; the dashboard to its
own texts, see `sportello.faces.dashboard.texts.error_text`).
"""

from __future__ import annotations


class DomainError(Exception):
    """An error a caller can act on; carries a stable code and a message."""

    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


class ValidationError(DomainError):
    """The input is not acceptable (a bad email, an empty message, …)."""

    code = "invalid_input"


class NotFound(DomainError):
    """The thing asked for does not exist."""

    code = "not_found"


class Conflict(DomainError):
    """The request does not fit the current state (already taken, wrong state, …)."""

    code = "conflict"


class Unauthorized(DomainError):
    """Who is asking is not known: missing or invalid credentials."""

    code = "unauthorized"


class Forbidden(DomainError):
    """Who is asking is known but may not do this."""

    code = "forbidden"


class RateLimited(DomainError):
    """Too many requests from one client or for one account: retry after `retry_after_s` seconds."""

    code = "rate_limited"

    def __init__(self, message: str, *, code: str | None = None, retry_after_s: float = 60.0):
        super().__init__(message, code=code)
        self.retry_after_s = max(1, int(retry_after_s + 0.999))
