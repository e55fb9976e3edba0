"""The labelled-examples file format: `question,lang,expected`, one question a row.

`expected` is a KB intent or `escalate` (`sportello.domain.intents.ESCALATE`); `lang` is `it`, `en` or
empty. The same format holds the fused answerer's labelled examples (data/examples.csv), the examples
the learning loop writes (learned_examples.csv) and the evaluation case files (tests/data/eval_*.csv).
This module is its only reader (`rows`, and `read_examples` over it) and its only writer
(`append_example`, `append_examples`, `write_examples`).
"""

from __future__ import annotations

import csv
import io
import logging
import os
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .csvfiles import LINE_END, csv_text, replace_if_changed

log = logging.getLogger(__name__)

EXAMPLE_COLUMNS = ("question", "lang", "expected")
LANGS = ("", "it", "en")


@dataclass(frozen=True)
class Example:
    question: str
    lang: str
    expected: str  # a KB intent or "escalate"


@dataclass(frozen=True)
class Row:
    """One row as written (stripped; `lang` lowercased), with the line it ends on."""

    question: str
    lang: str
    expected: str
    line: int


def rows(path: Path | str) -> Iterator[Row]:
    """Every row of the file, empty ones included. Raises OSError (FileNotFoundError when missing) and
    ValueError when the `question` or `expected` column is missing."""
    path = Path(path)
    reader = csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"), newline=""))
    missing = {"question", "expected"} - set(reader.fieldnames or [])
    if missing:
        raise ValueError(f"{path}: missing columns {sorted(missing)}")
    for row in reader:
        yield Row(
            (row.get("question") or "").strip(),
            (row.get("lang") or "").strip().lower(),
            (row.get("expected") or "").strip(),
            reader.line_num,
        )


def read_examples(path: Path | str) -> list[Example]:
    """The labelled examples (question,lang,expected); bad rows are skipped with a warning; first wins on duplicates."""
    out: list[Example] = []
    seen: set[str] = set()
    try:
        for row in rows(path):
            if not row.question or not row.expected or row.lang not in LANGS:
                log.warning("examples %s: line %d skipped (empty question/expected or bad lang)", path, row.line)
                continue
            if row.question.casefold() in seen:
                continue
            seen.add(row.question.casefold())
            out.append(Example(row.question, row.lang, row.expected))
    except FileNotFoundError:
        return []
    except ValueError as exc:
        log.warning("examples %s; ignored", exc)
        return []
    return out


def example(question: str, lang: str | None, expected: str) -> Example:
    """A valid example from what an operator or a tool gives (question on one line, lang it/en/empty)."""
    question = " ".join(str(question).split())
    lang = (lang or "").strip().lower()
    expected = expected.strip()
    if not question or not expected:
        raise ValueError("an example needs a question and an expected intent (or 'escalate')")
    if lang not in LANGS:
        raise ValueError(f"unknown lang {lang!r}")
    return Example(question, lang, expected)


_APPEND_LOCK = threading.Lock()


def append_example(path: Path | str, question: str, lang: str | None, expected: str) -> Example:
    """Append one labelled example to the file (created with its header when missing)."""
    x = example(question, lang, expected)
    append_examples(path, [x])
    return x


def append_examples(path: Path | str, examples: Iterable[Example]) -> int:
    """Append valid examples (`example`) to the file in one write, created with its header when missing;
    returns how many. A reader sees all of them or, after a crash, at most a last line cut short."""
    xs = [example(x.question, x.lang, x.expected) for x in examples]
    if not xs:
        return 0
    path = Path(path)
    with _APPEND_LOCK:
        new = not path.exists() or path.stat().st_size == 0
        needs_newline = False
        if not new:
            with open(path, "rb") as fh:
                fh.seek(-1, os.SEEK_END)
                needs_newline = fh.read(1) not in (b"\n", b"\r")
        out = io.StringIO()
        if needs_newline:
            out.write("\n")
        w = csv.writer(out, lineterminator=LINE_END)
        if new:
            w.writerow(EXAMPLE_COLUMNS)
        w.writerows((x.question, x.lang, x.expected) for x in xs)
        with open(path, "a", newline="", encoding="utf-8") as fh:
            fh.write(out.getvalue())
            fh.flush()
            os.fsync(fh.fileno())
    return len(xs)


def write_examples(path: Path | str, examples: Iterable[Example]) -> bool:
    """Write the whole file (atomically, only when its text changes); returns whether it changed."""
    return replace_if_changed(
        Path(path), csv_text(EXAMPLE_COLUMNS, [(x.question, x.lang, x.expected) for x in examples])
    )
