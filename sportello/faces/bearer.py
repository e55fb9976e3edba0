"""The operator's token in an `Authorization: Bearer <token>` header: one reading for every face
(the operator API's dependency, the health check's details, the console's long poll)."""

from __future__ import annotations


def bearer_of(authorization: str) -> str:
    """The token of `Bearer <token>` (any case of "Bearer"), "" when the header holds none."""
    scheme, _, token = (authorization or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""
