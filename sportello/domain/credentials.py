"""Passwords and tokens.

Passwords are hashed with scrypt (stdlib `hashlib.scrypt`, RFC 7914) and a
random salt. Tokens, for operators and for visitor sessions, are random
strings; only their SHA-256 is stored, so a database dump leaks no token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading

# OWASP Password Storage Cheat Sheet: scrypt with N=2^17, r=8, p=1 (128 MiB, about
# 0.2-0.4 s per hash here). Hashes made with other parameters stay verifiable
# (they carry their own) and `needs_rehash` tells the login to replace them.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**17, 8, 1
MAX_SCRYPT_N = 2**20  # a stored hash asking for more is refused, not computed


def _maxmem(n: int, r: int, p: int) -> int:
    # scrypt needs 128*r*N bytes (V) plus 128*r*p (B); OpenSSL's default cap is 32 MiB.
    return 128 * r * (n + p + 2) + 1024 * 1024


# Each hash holds 128 MiB while it runs: a flood of logins queues here instead of
# taking the process's memory (two at a time, one per core of a small server).
_HASHING = threading.BoundedSemaphore(2)


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, dklen: int) -> bytes:
    with _HASHING:
        return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=dklen, maxmem=_maxmem(n, r, p))


def hash_password(password: str, *, n: int = SCRYPT_N) -> str:
    if not password or len(password) < 8:
        raise ValueError("password must be at least 8 characters")
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, n, SCRYPT_R, SCRYPT_P, 32)
    b64 = base64.b64encode
    return f"scrypt${n}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt" or int(n) > MAX_SCRYPT_N or int(r) > 32 or int(p) > 16:
            return False
        expected = base64.b64decode(digest)
        got = _scrypt(password or "", base64.b64decode(salt), int(n), int(r), int(p), len(expected))
    except (ValueError, TypeError, MemoryError):
        return False
    return hmac.compare_digest(got, expected)


def needs_rehash(stored: str, *, n: int = SCRYPT_N) -> bool:
    """True when `stored` was made with other parameters than the current ones."""
    parts = (stored or "").split("$")
    return len(parts) != 6 or parts[:4] != ["scrypt", str(n), str(SCRYPT_R), str(SCRYPT_P)]


_dummy: dict[int, str] = {}


def dummy_hash(*, n: int = SCRYPT_N) -> str:
    """A hash of no one's password at the current cost: an unknown username is
    verified against it, so it costs exactly what a known one does."""
    if n not in _dummy:
        _dummy[n] = hash_password(secrets.token_urlsafe(16), n=n)
    return _dummy[n]


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256((token or "").encode("utf-8")).hexdigest()


def token_matches(token: str, stored_hash: str) -> bool:
    return hmac.compare_digest(token_hash(token), stored_hash or "")
