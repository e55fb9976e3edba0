"""Stand-ins for unit tests: an answerer that follows a script, and a clock that moves when told."""

from __future__ import annotations

import threading
import time

from sportello.answering.bot import NO_ANSWER, OPERATOR_REQUEST
from sportello.answering.kb import Answer

PERSON_WORDS = ("operatore", "persona", "human", "person")
PRICE_Q = "Quanto costa il biglietto?"  # what the unit fixtures script the fake to answer
PRICE_A = "Il biglietto intero costa €9."


class FakeAnswerer:
    """`answer(text, lang)`: the scripted reply for a known question, operator_request when a
    person is asked for, otherwise no_answer (with the scripted "did you mean" suggestion, if any)."""

    def __init__(self, answers: dict[str, tuple[str, str]] | None = None, suggestions: dict[str, str] | None = None):
        self.answers = dict(answers or {})  # question -> (intent, answer)
        self.suggestions = dict(suggestions or {})  # question -> suggested KB question
        self.calls: list[tuple[str, str | None]] = []
        self.scripted: dict[str, Answer] = {}  # question -> the whole Answer (emergencies, suggestions, hedging)
        self.questions: dict[str, str] = {}  # intent -> the question its suggestion button asks
        self._lock = threading.Lock()

    def answer(self, text: str, lang: str | None = None) -> Answer:
        with self._lock:
            self.calls.append((text, lang))
        lang = lang or "it"
        if text in self.scripted:
            return self.scripted[text]
        if text in self.answers:
            intent, reply = self.answers[text]
            return Answer(True, reply, intent, f"{lang}-fake", 0.9, lang)
        if any(w in text.lower() for w in PERSON_WORDS):
            return Answer(False, "", OPERATOR_REQUEST, None, 1.0, lang)
        return Answer(False, "", NO_ANSWER, None, 0.0, lang, suggestion=self.suggestions.get(text))

    def question_for(self, intent: str, lang: str) -> str | None:
        return self.questions.get(intent)

    def reload_learned(self) -> None:
        pass


class FakeClock:
    """A callable clock (seconds since the epoch) that starts at the real time and moves only on `advance`."""

    def __init__(self, start: float | None = None):
        self.now = time.time() if start is None else start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now
