"""Sheet rows and sinks.

The flow never talks to a sheet: it writes rows to the outbox (see
`sportello.store.outbox`) in the same transaction as the change they describe. A sink
takes a batch of those rows and writes them to worksheets (the delivery worker,
`sportello.services.delivery`, hands them over). This module holds the sink
interface and the local sink, which mirrors each worksheet as a CSV file
`$DATA_DIR/sheets/<worksheet>.csv`. The worksheet layouts and the cell escaping
every sink applies are in `sportello.sinks.layout`; which sink the settings ask
for, in `sportello.sinks.factory`.
"""

from __future__ import annotations

import csv
import io
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from sportello.sinks.layout import EVENT_ID, HEADERS, safe_cell


@dataclass(frozen=True)
class SheetRow:
    """One outbox row as a sink sees it."""

    id: int
    event_id: str
    worksheet: str
    op: str  # "append" or "upsert"
    row_key: str
    values: list = field(default_factory=list)
    # How many times the outbox had already handed this row to a sink before
    # this batch: > 0 means it may already be in the sheet (a lost answer, a
    # crash), so a sink that cannot de-duplicate cheaply must check first.
    attempts: int = 0

    def cells(self) -> list[str]:
        cells = [safe_cell(v) for v in self.values]
        if self.op == "append":
            cells.append(self.event_id)
        return cells


class SinkError(Exception):
    """A sink could not write. `retryable` says whether waiting may heal it;
    `maybe_written` is False when the target surely refused the write (so a
    retry has nothing to de-duplicate)."""

    def __init__(self, message: str, *, retryable: bool = True, maybe_written: bool = True):
        super().__init__(message)
        self.retryable = retryable
        self.maybe_written = maybe_written


class Sink(Protocol):
    name: str

    def write(self, rows: Sequence[SheetRow]) -> None:
        """Write every row, in order, exactly once; raise SinkError otherwise.

        Called again with rows it may already have written (after a crash or a
        failure in the middle of a batch): it must not write them twice.
        """


def runs(rows: Sequence[SheetRow]) -> list[list[SheetRow]]:
    """Split a batch into consecutive runs with the same worksheet and op."""
    out: list[list[SheetRow]] = []
    for row in rows:
        if out and out[-1][0].worksheet == row.worksheet and out[-1][0].op == row.op:
            out[-1].append(row)
        else:
            out.append([row])
    return out


class CsvSink:
    """Worksheets mirrored as CSV files, one file per worksheet."""

    name = "csv"

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self._seen: dict[str, set[str]] = {}
        # An upserted worksheet's row keys, with the file's (size, mtime) when they were read or written: new keys
        # are appended, only a changed row rewrites the file (else every batch rewrote it: O(rows) each).
        self._keys: dict[str, tuple[tuple[int, int], set[str]]] = {}

    def path(self, worksheet: str) -> Path:
        return self.directory / f"{worksheet}.csv"

    def write(self, rows: Sequence[SheetRow]) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            for run in runs(rows):
                if run[0].op == "upsert":
                    self._upsert(run[0].worksheet, run)
                else:
                    self._append(run[0].worksheet, run)
        except OSError as exc:
            raise SinkError(f"cannot write local sheet: {exc}") from exc

    def read(self, worksheet: str) -> list[dict]:
        """The worksheet's rows as dicts (header included as keys)."""
        path = self.path(worksheet)
        if not path.exists():
            return []
        with path.open(newline="", encoding="utf-8") as fh:
            return list(csv.DictReader(fh))

    def _header(self, worksheet: str) -> list[str]:
        return HEADERS.get(worksheet) or []

    def _append(self, worksheet: str, run: list[SheetRow]) -> None:
        path = self.path(worksheet)
        seen = self._load_seen(worksheet, path)
        fresh = [r for r in run if r.event_id not in seen]
        if not fresh:
            return
        self._append_rows(path, worksheet, [row.cells() for row in fresh])
        seen.update(r.event_id for r in fresh)

    def _load_seen(self, worksheet: str, path: Path) -> set[str]:
        if worksheet in self._seen:
            return self._seen[worksheet]
        seen: set[str] = set()
        if path.exists():
            self._repair_tail(path)
            with path.open(newline="", encoding="utf-8") as fh:
                reader = csv.reader(fh)
                header = next(reader, None) or []
                idx = header.index(EVENT_ID) if EVENT_ID in header else None
                for rec in reader:
                    if idx is not None and idx < len(rec):
                        seen.add(rec[idx])
        self._seen[worksheet] = seen
        return seen

    @staticmethod
    def _repair_tail(path: Path) -> None:
        """Drop a partial last line left by a crash in the middle of a write."""
        data = path.read_bytes()
        if data and not data.endswith(b"\n"):
            with path.open("r+b") as fh:
                fh.truncate(data.rfind(b"\n") + 1)

    def _upsert(self, worksheet: str, run: list[SheetRow]) -> None:
        path = self.path(worksheet)
        keys = self._known_keys(worksheet, path)
        new = {row.row_key for row in run}
        if keys is not None and len(new) == len(run) and not new & keys:
            self._append_rows(path, worksheet, [row.cells() for row in run])  # rows it has never had
            keys.update(new)
            self._keys[worksheet] = (_signature(path), keys)
            return
        header = self._header(worksheet)
        rows: list[list[str]] = []
        if path.exists():
            header, rows = _read_upserted(path, header)
        index = {r[0]: i for i, r in enumerate(rows) if r}
        for row in run:
            cells = row.cells()
            if row.row_key in index:
                rows[index[row.row_key]] = cells
            else:
                index[row.row_key] = len(rows)
                rows.append(cells)
        write_csv_atomically(path, header, rows)
        self._keys[worksheet] = (_signature(path), set(index))

    def _known_keys(self, worksheet: str, path: Path) -> set[str] | None:
        """The row keys of the upserted file, when they are known for the file as it is now (no other writer
        changed it since); None: the file is read and rewritten."""
        if not path.exists():
            return set()
        cached = self._keys.get(worksheet)
        if cached is None or cached[0] != _signature(path):
            return None
        return cached[1]

    def _append_rows(self, path: Path, worksheet: str, rows: list[list[str]]) -> None:
        """Append whole lines, durably (a header first into an empty file)."""
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        if not path.exists() or path.stat().st_size == 0:
            writer.writerow(self._header(worksheet))
        writer.writerows(rows)
        with path.open("a", encoding="utf-8", newline="") as fh:
            fh.write(buf.getvalue())
            fh.flush()
            os.fsync(fh.fileno())


# Stands for a bare CR while a file written before CRs were normalised is parsed
# (a private-use character: never in a cell, which went through `safe_cell`).
_CR = "\ue000"


def _read_upserted(path: Path, header: list[str]) -> tuple[list[str], list[list[str]]]:
    """The header and rows of an upserted worksheet file, repairing what a bare CR
    did to files written before `safe_cell` normalised line endings: a CR still in
    the file stays inside its cell (made safe again), and the orphan pieces of rows
    split at a CR by an earlier rewrite (shorter than the header, no numeric key)
    are dropped, so each key has one row."""
    text = path.read_bytes().decode("utf-8")  # not read_text: it would turn each CR into a LF
    legacy_cr = "\r" in text
    if legacy_cr:  # this module writes LF only: a CR can only be a cell's
        text = text.replace("\r", _CR)
    records = list(csv.reader(io.StringIO(text, newline="")))
    if legacy_cr:
        records = [[safe_cell(c.replace(_CR, "\r")) if _CR in c else c for c in r] for r in records]
    header = records[0] if records and records[0] else header
    rows = [r for r in records[1:] if r and (len(r) >= len(header) or r[0].isdigit())]
    return header, rows


def _signature(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns


def write_csv_atomically(path: Path, header: list[str], rows: list[list[str]]) -> None:
    """Replace a CSV file in one step: a reader sees the old file or the new one, never half of it."""
    tmp = path.with_suffix(f".csv.{os.getpid()}.{threading.get_ident()}.tmp")
    with tmp.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
