"""The knowledge base: a CSV with columns `id,intent,lang,questions,answer`.

`questions` holds one or more phrasings separated by `|`. `load_kb` is strict
(raises `KBError` naming the first bad line); `read_kb` is lenient and returns
the good entries plus one `KBProblem` (with its line number) per bad row, so a
running help desk keeps answering when somebody saves a broken row.
"""

from __future__ import annotations

import csv
from collections.abc import Generator
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
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass
class KBLoad:
    path: Path
    entries: list[KBEntry] = field(default_factory=list)
    problems: list[KBProblem] = field(default_factory=list)


def _check_row(row: dict, seen_ids: set[str]) -> tuple[KBEntry | None, str | None]:
    if None in row:
        return None, "too many fields (is a comma inside an unquoted answer?)"
    if any(row.get(k) is None for k in REQUIRED_COLUMNS):
        return None, "too few fields"
    values = {k: (row.get(k) or "").strip() for k in REQUIRED_COLUMNS}
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


def read_kb(path: Path | str) -> KBLoad:
    """Read the KB leniently. Raises KBError only when the file as a whole is unusable."""
    path = Path(path)
    result = KBLoad(path)
    try:
        fh = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise KBError(f"{path}: cannot read knowledge base: {exc.strerror or exc}") from exc
    with fh:
        reader = csv.DictReader(fh)
        try:
            fieldnames = [f.strip() for f in reader.fieldnames or []]
        except (csv.Error, UnicodeDecodeError) as exc:
            raise KBError(f"{path}:1: unreadable header: {exc}") from exc
        reader.fieldnames = fieldnames
        missing = [c for c in REQUIRED_COLUMNS if c not in fieldnames]
        if missing:
            raise KBError(f"{path}:1: missing columns {missing}")
        seen: set[str] = set()
        start = reader.line_num + 1
        while True:
            try:
                row = next(reader)
            except StopIteration:
                break
            except (csv.Error, UnicodeDecodeError) as exc:
                result.problems.append(KBProblem(start, f"unreadable row: {exc}"))
                break
            entry, problem = _check_row(row, seen)
            if problem:
                result.problems.append(KBProblem(start, problem))
            elif entry:
                seen.add(entry.id)
                result.entries.append(entry)
            start = reader.line_num + 1
    return result


def write_kb(path: Path | str, rows: list[tuple[str, str, str, str, str]]) -> bool:
    """Write a KB file (`id,intent,lang,questions,answer` rows; phrasings joined by `|`), atomically and only
    when its text changes; returns whether it changed. The learning loop writes the learned KB with it."""
    return replace_if_changed(Path(path), csv_text(REQUIRED_COLUMNS, rows))


def load_kb(path: Path | str) -> list[KBEntry]:
    """Strict load: every row must be valid, otherwise KBError names `path:line`."""
    result = read_kb(path)
    if result.problems:
        first = result.problems[0]
        more = f" (and {len(result.problems) - 1} more)" if len(result.problems) > 1 else ""
        raise KBError(f"{result.path}:{first.line}: {first.message}{more}")
    return result.entries
