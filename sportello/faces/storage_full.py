"""A full disk, as the faces show it: one bilingual message, whichever face the write came through.

The store raises what its driver raises: SQLite's "database or disk is full" (SQLITE_FULL, wrapped by
SQLAlchemy as OperationalError), PostgreSQL's disk_full (SQLSTATE 53100), or an OSError ENOSPC / EDQUOT
from a file write. `is_disk_full` recognises them through the chain of causes without importing a driver
(the faces import no store and no SQLAlchemy). The write's transaction was rolled back: nothing was stored,
so nothing is acknowledged, and the client may retry once there is room. The API answers 507
(`storage_full`, faces/api.py); the visitor page shows the same message.
"""

from __future__ import annotations

import errno

DISK_FULL = (
    "Lo spazio su disco del servizio è esaurito: la richiesta non è stata salvata. Riprova tra qualche minuto. / "
    "The service's disk is full: your request was not saved. Please try again in a few minutes."
)
RETRY_AFTER_S = 60
_FULL_ERRNOS = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
_FULL_TEXTS = ("database or disk is full", "no space left on device")
_PG_DISK_FULL = "53100"


def is_disk_full(exc: BaseException | None) -> bool:
    """True when `exc`, or an error it was raised from, says the disk (or the quota) is full."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen and len(seen) < 20:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in _FULL_ERRNOS:
            return True
        if getattr(exc, "sqlstate", None) == _PG_DISK_FULL or getattr(exc, "pgcode", None) == _PG_DISK_FULL:
            return True
        if any(text in str(exc).lower() for text in _FULL_TEXTS):
            return True
        exc = getattr(exc, "orig", None) or exc.__cause__ or exc.__context__
    return False
