"""The knowledge base: a CSV with columns `id,intent,lang,questions,answer`.

`questions` holds one or more phrasings separated by `|`. `load_kb` is strict
(raises `KBError` naming the first bad line); `read_kb` is lenient and returns
the good entries plus one `KBProblem` (with its line number) per bad row, so a
running help desk keeps answering when somebody saves a broken row.
"""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Generator, Iterable
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

from .csvfiles import csv_text, replace_if_changed

OPERATOR_REQUEST = "operator_request"
NO_ANSWER = "no_answer"

REQUIRED_COLUMNS = ("id", "intent", "lang", "questions", "answer")
LANGS = ("it", "en")


@dataclass(frozen=True)
class Answer:
    """What an answerer returns. found=False means: offer a person; `intent` says why."""

    found: bool
    answer: str
    intent: str
    source_id: str | None
    confidence: float
    lang: str = "it"
    # When not found: a KB question (in the visitor's language) the visitor may have meant, offered
    # next to the operator; None when nothing is close enough.
    suggestion: str | None = None
    # An emergency (intent "emergency", found=True): `answer` holds the venue's emergency instructions and
    # the visitor should also go to the front of the operators' queue.
    urgent: bool = False
    # found=False with a partial reply: `answer` holds the known answer of the best intent plus "I don't have
    # information about X"; show it, then offer a person (it counts as an escalation).
    hedged: bool = False
    # found=False: up to 3 KB intents the visitor may have meant, best first (buttons on the page; a button
    # asks the intent's first KB question in the visitor's language: `RetrievalAnswerer.question_for`).
    suggestions: list[str] = field(default_factory=list)
    # The KB intent the reply came from when `intent` is a reason (an emergency answered from the KB's
    # emergency or lost-child entry); None otherwise.
    topic: str | None = None

    @classmethod
    def none(cls, lang: str, confidence: float = 0.0) -> Answer:
        """No answer: offer a person (an answerer found nothing, or failed)."""
        return cls(False, "", NO_ANSWER, None, confidence, lang)

    def public(self) -> dict:
        d = asdict(self)
        d.pop("lang")
        if d["suggestion"] is None:
            d.pop("suggestion")
        if d["topic"] is None:
            d.pop("topic")
        return d

    @property
    def escalates(self) -> bool:
        """True when the visitor should be offered a person: not found, hedged, or an emergency."""
        return not self.found or self.hedged or self.urgent


class Answerer(Protocol):
    """What the services need of an answerer (sportello/answering/bot.py builds them)."""

    def answer(self, question: str, lang: str | None = None) -> Answer:
        """The answer to one visitor question; never raises."""
        ...

    def answer_stream(self, question: str, lang: str | None = None) -> Generator[str, None, Answer]:
        """The same answer, its text yielded in pieces as it is written (an LLM that streams); the
        generator returns the `Answer` to keep (the pieces are provisional). This default, for an
        answerer that writes its answer at once, yields the whole text once. An answerer that does
        not derive from `Answerer` gets the same through `bot.answer_chunks`."""
        answer = self.answer(question, lang)
        if answer.found and answer.answer:
            yield answer.answer
        return answer

    def reload_learned(self) -> None:
        """Re-read, now, the files the learning loop writes (the learned KB and labelled examples) and any
        KB file that changed. An answerer that learns nothing does nothing. Without this call the
        answerer still notices the change by itself within its reload interval."""
        ...

    # Optional: `question_for(intent, lang) -> str | None`, the KB question a suggestion button asks (the
    # services look it up with getattr; without it a chat offers only the answer's single `suggestion`).


@dataclass(frozen=True)
class KBEntry:
    id: str
    intent: str
    lang: str
    questions: tuple[str, ...]
    answer: str


class KBError(ValueError):
    pass


@dataclass(frozen=True)
class KBProblem:
    """One thing wrong with a KB file, at a line (1 = the header). An error's row is skipped (or, on line 1,
    the whole file is unusable); a warning's row is used as it is, but probably not as meant."""

    line: int
    message: str
    severity: str = "error"  # "error" or "warning"

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"

    def public(self) -> dict:
        return {"line": self.line, "severity": self.severity, "message": self.message}


@dataclass
class KBLoad:
    path: Path
    entries: list[KBEntry] = field(default_factory=list)
    # Rows skipped (errors), and rows used but suspicious (warnings: `check_rows`).
    problems: list[KBProblem] = field(default_factory=list)
    warnings: list[KBProblem] = field(default_factory=list)
    # The line each entry starts on, by id (for the warnings, and for `python -m sportello kb check`).
    lines: dict[str, int] = field(default_factory=dict)


# Limits of a KB file: beyond MAX_BYTES it is not read at all; a cell longer than MAX_CELL characters skips its
# row (a pasted document, not an answer); more than LARGE_KB rows is fine but said (start-up embeds them once).
MAX_BYTES = 32 * 1024 * 1024
MAX_CELL = 20_000
LARGE_KB = 2_000
# A `lang` column that lies: the row's text has at least this much evidence of the other language (each
# function word of it counts 2, `retrieval_text.IT_MARKERS`/`EN_MARKERS`) and twice the declared one's plus this.
LANG_LIE_MIN = 6.0
LANG_LIE_MARGIN = 2.0


def _check_row(row: dict, seen_ids: set[str]) -> tuple[KBEntry | None, str | None]:
    if None in row:
        return None, "too many fields (is a comma inside an unquoted answer?)"
    if any(row.get(k) is None for k in REQUIRED_COLUMNS):
        return None, "too few fields"
    values = {k: (row.get(k) or "").strip() for k in REQUIRED_COLUMNS}
    huge = [k for k in REQUIRED_COLUMNS if len(values[k]) > MAX_CELL]
    if huge:
        sizes = ", ".join(f"{k} has {len(values[k]):,} characters" for k in huge)
        return None, f"cell too large ({sizes}; at most {MAX_CELL:,})"
    missing = [k for k in REQUIRED_COLUMNS if k != "lang" and not values[k]]
    if missing:
        return None, f"empty {', '.join(missing)}"
    questions = tuple(q.strip() for q in values["questions"].split("|") if q.strip())
    if not questions:
        return None, "no questions"
    lang = (values["lang"] or "it").lower()
    if lang not in LANGS:
        return None, f"unknown lang {values['lang']!r} (expected one of {', '.join(LANGS)})"
    if values["id"] in seen_ids:
        return None, f"duplicate id {values['id']!r}"
    return KBEntry(values["id"], values["intent"], lang, questions, values["answer"]), None


def _decode(path: Path, data: bytes) -> tuple[str, KBProblem | None]:
    """The file's text: UTF-8 (a BOM is fine); else Windows-1252 with a warning naming the first bad line."""
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        text = data.decode("cp1252", errors="replace")
        return text, KBProblem(
            line,
            f"not UTF-8 (byte 0x{data[exc.start]:02x}); read as Windows-1252: check the accents and save the file "
            "as UTF-8",
            "warning",
        )


def read_kb(path: Path | str) -> KBLoad:
    """Read the KB leniently. Raises KBError only when the file as a whole is unusable (missing, binary,
    too large, no header, missing columns); a bad row is skipped with a `KBProblem` naming its line, and
    what is suspicious but usable is in `warnings` (`check_rows`)."""
    path = Path(path)
    result = KBLoad(path)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise KBError(f"{path}:1: file too large ({size:,} bytes; at most {MAX_BYTES:,})")
        data = path.read_bytes()
    except OSError as exc:
        raise KBError(f"{path}: cannot read knowledge base: {exc.strerror or exc}") from exc
    if b"\x00" in data:
        line = data.count(b"\n", 0, data.index(b"\x00")) + 1
        raise KBError(
            f"{path}:{line}: not a CSV text file (binary content); expected columns {','.join(REQUIRED_COLUMNS)}"
        )
    text, encoding = _decode(path, data)
    if encoding:
        result.warnings.append(encoding)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        fieldnames = [f.strip().lower() for f in reader.fieldnames or []]
    except csv.Error as exc:
        raise KBError(f"{path}:1: unreadable header: {exc}") from exc
    reader.fieldnames = fieldnames
    missing = [c for c in REQUIRED_COLUMNS if c not in fieldnames]
    if missing:
        raise KBError(f"{path}:1: missing columns {missing} (expected {','.join(REQUIRED_COLUMNS)})")
    seen: set[str] = set()
    start = reader.line_num + 1
    with _large_fields():
        while True:
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                result.problems.append(KBProblem(start, f"unreadable row: {exc}"))
                break
            entry, problem = _check_row(row, seen)
            if problem:
                result.problems.append(KBProblem(start, problem))
            elif entry:
                seen.add(entry.id)
                result.entries.append(entry)
                result.lines[entry.id] = start
            start = reader.line_num + 1
    result.warnings.extend(check_rows(result.entries, result.lines))
    return result


_FIELD_LOCK = threading.Lock()


@contextmanager
def _large_fields():
    """The csv module's field limit (process-wide, 128 KiB by default) raised while a KB is parsed, so a huge
    cell is reported as one bad row (`MAX_CELL`) instead of stopping the reader."""
    with _FIELD_LOCK:
        before = csv.field_size_limit()
        csv.field_size_limit(max(before, MAX_BYTES))
        try:
            yield
        finally:
            csv.field_size_limit(before)


def check_rows(entries: list[KBEntry], lines: dict[str, int] | None = None) -> list[KBProblem]:
    """Warnings about rows that load but are probably not what was meant: an intent with two rows in one
    language (only the first one's answer is given), the same question under two intents, a `lang` column that
    says one language of text written in the other, a very large KB."""
    from .retrieval_text import EN_MARKERS, IT_MARKERS, normalize  # the function words language detection uses

    lines = lines or {}
    out: list[KBProblem] = []
    first_of: dict[tuple[str, str], KBEntry] = {}
    question_of: dict[str, KBEntry] = {}
    for e in entries:
        line = lines.get(e.id, 0)
        key = (e.intent, e.lang)
        if key in first_of:
            other = first_of[key]
            out.append(
                KBProblem(
                    line,
                    f"duplicate intent {e.intent!r} in {e.lang} (also line {lines.get(other.id, 0)}, id "
                    f"{other.id!r}): its questions count for the intent but only the first row's answer is given",
                    "warning",
                )
            )
        else:
            first_of[key] = e
        for q in e.questions:
            folded = " ".join(q.casefold().split())
            other = question_of.setdefault(folded, e)
            if other.intent != e.intent:
                out.append(
                    KBProblem(
                        line,
                        f"question {q!r} is also a question of intent {other.intent!r} (line "
                        f"{lines.get(other.id, 0)}): visitors asking it get either answer",
                        "warning",
                    )
                )
        ws = normalize(" ".join((*e.questions, e.answer))).split()
        scores = {"it": 2.0 * sum(w in IT_MARKERS for w in ws), "en": 2.0 * sum(w in EN_MARKERS for w in ws)}
        said, other_lang = e.lang, ("en" if e.lang == "it" else "it")
        if scores[other_lang] >= LANG_LIE_MIN and scores[other_lang] >= 2 * scores[said] + LANG_LIE_MARGIN:
            out.append(
                KBProblem(
                    line,
                    f"lang says {said!r} but the text looks {'Italian' if other_lang == 'it' else 'English'}: "
                    f"visitors writing in {said!r} get this answer",
                    "warning",
                )
            )
    if len(entries) > LARGE_KB:
        out.append(
            KBProblem(
                1,
                f"{len(entries):,} entries: fine, but the first start embeds every question and answer (minutes "
                "on one core); later starts read the cache",
                "warning",
            )
        )
    out.sort(key=lambda p: p.line)
    return out


def write_kb(path: Path | str, rows: list[tuple[str, str, str, str, str]]) -> bool:
    """Write a KB file (`id,intent,lang,questions,answer` rows; phrasings joined by `|`), atomically and only
    when its text changes; returns whether it changed. The learning loop writes the learned KB with it."""
    return replace_if_changed(Path(path), csv_text(REQUIRED_COLUMNS, rows))


# The questions of one phrasing row (`phrasing_rows`); a KB cell may hold 20,000 characters.
PHRASING_ROW_CHARS = 10_000


def phrasing_rows(
    items: Iterable[tuple[str, str, str, str, str]], max_chars: int = PHRASING_ROW_CHARS
) -> list[tuple[str, str, str, str, str]]:
    """KB rows that add questions to existing intents (the learned KB: an operator's or an LLM's labelled questions),
    from (id, intent, lang, question, answer) items: an intent's questions in one language share a row (the id and
    answer of its first item), up to `max_chars` of questions a row. A row each would be "the same intent twice in
    one language" to the KB check, a warning a line at every reload. A `|` in a question becomes `/`."""
    rows: list[list] = []
    open_rows: dict[tuple[str, str], list] = {}
    for row_id, intent, lang, question, answer in items:
        question = question.replace("|", "/")
        row = open_rows.get((intent, lang))
        if row is not None and question in row[3]:
            continue
        if row is None or sum(len(q) + 1 for q in row[3]) + len(question) > max_chars:
            row = open_rows[(intent, lang)] = [row_id, intent, lang, [], answer]
            rows.append(row)
        row[3].append(question)
    return [(row_id, intent, lang, "|".join(qs), answer) for row_id, intent, lang, qs, answer in rows]


def load_kb(path: Path | str) -> list[KBEntry]:
    """Strict load: every row must be valid, otherwise KBError names `path:line`."""
    result = read_kb(path)
    if result.problems:
        first = result.problems[0]
        more = f" (and {len(result.problems) - 1} more)" if len(result.problems) > 1 else ""
        raise KBError(f"{result.path}:{first.line}: {first.message}{more}")
    return result.entries
