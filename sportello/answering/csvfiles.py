"""The CSV files the answering layer writes: one dialect, and an atomic replace."""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

LINE_END = "\n"


def csv_text(header: tuple[str, ...], records: Iterable[tuple]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator=LINE_END)
    w.writerow(header)
    w.writerows(records)
    return buf.getvalue()


def replace_if_changed(path: Path, text: str) -> bool:
    """Replace the file atomically (readers see the old or the new one, never half) when it differs."""
    try:
        if path.read_text(encoding="utf-8") == text:
            return False
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True
