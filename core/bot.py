"""AI answerers: the `Answerer` interface and the offline retrieval answerer.

Command line (used by evaluations):

    python -m core.bot ask --kb PATH [--lang it|en] [QUESTION]

prints one JSON object {"found","intent","answer","source_id","confidence"};
with no QUESTION it reads one question per line from stdin and prints one
JSON line per question.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import re
import sys
import unicodedata
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

OPERATOR_REQUEST = "operator_request"
NO_ANSWER = "no_answer"


@dataclass(frozen=True)
class Answer:
    found: bool
    answer: str
    intent: str
    source_id: str | None
    confidence: float
    lang: str = "it"

    def public(self) -> dict:
        d = asdict(self)
        d.pop("lang")
        return d


class Answerer(Protocol):
    def answer(self, question: str, lang: str | None = None) -> Answer: ...


@dataclass(frozen=True)
class KBEntry:
    id: str
    intent: str
    lang: str
    questions: tuple[str, ...]
    answer: str


class KBError(ValueError):
    pass


def load_kb(path: Path | str) -> list[KBEntry]:
    path = Path(path)
    entries: list[KBEntry] = []
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        missing = {"id", "intent", "lang", "questions", "answer"} - set(reader.fieldnames or [])
        if missing:
            raise KBError(f"{path}: missing columns {sorted(missing)}")
        for row in reader:
            line = reader.line_num
            questions = tuple(q.strip() for q in (row.get("questions") or "").split("|") if q.strip())
            if not row.get("id") or not row.get("intent") or not questions or not (row.get("answer") or "").strip():
                raise KBError(f"{path}:{line}: row needs id, intent, questions and answer")
            entries.append(
                KBEntry(
                    row["id"].strip(),
                    row["intent"].strip(),
                    (row["lang"] or "it").strip().lower(),
                    questions,
                    row["answer"].strip(),
                )
            )
    return entries


def normalize(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.lower())
    text = "".join(c for c in text if not unicodedata.combining(c))
    return re.sub(r"[^a-z0-9]+", " ", text).strip()


IT_HINTS = set(
    [
        "il",
        "lo",
        "la",
        "gli",
        "le",
        "di",
        "da",
        "che",
        "non",
        "per",
        "con",
        "una",
        "uno",
        "sono",
        "siete",
        "avete",
        "posso",
        "come",
        "quanto",
        "quando",
        "dove",
        "cosa",
        "c",
        "e",
        "ciao",
        "grazie",
        "buongiorno",
        "orari",
        "biglietto",
        "museo",
    ]
)
EN_HINTS = set(
    [
        "the",
        "is",
        "are",
        "do",
        "you",
        "can",
        "i",
        "how",
        "what",
        "when",
        "where",
        "a",
        "an",
        "of",
        "to",
        "for",
        "my",
        "your",
        "there",
        "hello",
        "hi",
        "thanks",
        "thank",
        "please",
        "ticket",
        "museum",
    ]
)

PERSON_RE = re.compile(
    r"\b(operator[ei]?|operatrice|persona|umano|essere umano|qualcuno del personale|"
    r"human|person|real person|agent|operator|staff member|someone)\b"
)
PERSON_VERB_RE = re.compile(r"\b(parlare|parla|voglio|vorrei|posso|talk|speak|want|can i|connect|passami|chat)\b")


def detect_lang(text: str, default: str = "it") -> str:
    words = normalize(text).split()
    it = sum(w in IT_HINTS for w in words)
    en = sum(w in EN_HINTS for w in words)
    if it == en:
        return default
    return "it" if it > en else "en"


def asks_for_person(text: str) -> bool:
    norm = normalize(text)
    return bool(PERSON_RE.search(norm) and PERSON_VERB_RE.search(norm))


def _grams(text: str) -> Counter:
    norm = f" {normalize(text)} "
    grams = Counter(norm[i : i + 3] for i in range(len(norm) - 2))
    grams.update(f"w:{w}" for w in norm.split())
    return grams


class RetrievalAnswerer:
    """TF-IDF over character trigrams and words, against every KB question."""

    def __init__(self, entries: list[KBEntry], threshold: float = 0.45):
        self.entries = entries
        self.threshold = threshold
        docs = []
        for entry in entries:
            for q in entry.questions:
                docs.append((entry, _grams(q)))
        df: Counter = Counter()
        for _, grams in docs:
            df.update(grams.keys())
        n = len(docs) or 1
        self.idf = {g: math.log((n + 1) / (c + 0.5)) for g, c in df.items()}
        self.unseen_idf = math.log(n + 2)
        self.docs = [(entry, self._vector(grams)) for entry, grams in docs]

    @classmethod
    def from_csv(cls, path: Path | str, **kwargs) -> RetrievalAnswerer:
        return cls(load_kb(path), **kwargs)

    def _vector(self, grams: Counter) -> dict[str, float]:
        vec = {g: (1 + math.log(c)) * self.idf.get(g, self.unseen_idf) for g, c in grams.items()}
        norm = math.sqrt(sum(v * v for v in vec.values())) or 1.0
        return {g: v / norm for g, v in vec.items()}

    def answer(self, question: str, lang: str | None = None) -> Answer:
        lang = lang or detect_lang(question)
        if asks_for_person(question):
            return Answer(False, "", OPERATOR_REQUEST, None, 1.0, lang)
        query = self._vector(_grams(question))
        best: tuple[float, KBEntry | None] = (0.0, None)
        for entry, vec in self.docs:
            score = sum(w * vec.get(g, 0.0) for g, w in query.items())
            if score > best[0]:
                best = (score, entry)
        score, entry = best
        if entry is None or score < self.threshold:
            return Answer(False, "", NO_ANSWER, None, round(score, 4), lang)
        answer_entry = self._in_language(entry, lang)
        return Answer(True, answer_entry.answer, answer_entry.intent, answer_entry.id, round(score, 4), lang)

    def _in_language(self, entry: KBEntry, lang: str) -> KBEntry:
        if entry.lang == lang:
            return entry
        for other in self.entries:
            if other.intent == entry.intent and other.lang == lang:
                return other
        return entry


def build_answerer(settings) -> Answerer:
    """The answerer the app uses, chosen by the settings."""
    return RetrievalAnswerer.from_csv(settings.kb_path)


def _cmd_ask(args: argparse.Namespace) -> int:
    answerer = RetrievalAnswerer.from_csv(args.kb)
    questions = [" ".join(args.question)] if args.question else (line.strip() for line in sys.stdin)
    for q in questions:
        if not q:
            continue
        print(json.dumps(answerer.answer(q, args.lang).public(), ensure_ascii=False), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.bot")
    sub = parser.add_subparsers(dest="command", required=True)
    ask = sub.add_parser("ask", help="answer questions from a knowledge base")
    ask.add_argument("--kb", required=True, type=Path)
    ask.add_argument("--lang", choices=["it", "en"])
    ask.add_argument("question", nargs="*")
    ask.set_defaults(func=_cmd_ask)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (KBError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
