"""LLM answerer for any OpenAI-compatible chat completions server.

Retrieval first: the offline answerer handles rules (emergencies, requests
for a person, complaints, individual cases, small talk) and proposes the top
KB entries; the model must answer ONLY from those entries and returns
`{found, answer, intent}` as JSON (JSON-schema response format, or plain JSON
for servers without it). The reply is checked: the intent must be one of the
retrieved entries and the answer must be grounded in that entry (its numbers,
e-mail addresses and most of its words must come from the KB text), otherwise
it counts as not found. Timeouts, HTTP errors and unparsable replies fall back
to the offline answer, always within `total_timeout` seconds.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time

import openai

from .kb import NO_ANSWER, Answer
from .retrieval import RetrievalAnswerer
from .retrieval_rules import escalation_reason, small_talk
from .retrieval_text import STOP, normalize, stem

log = logging.getLogger(__name__)

DEFAULT_MODEL = "gpt-4o-mini"
PLACEHOLDER_KEY = "sk-no-key-required"  # local servers (Ollama, vLLM, llama.cpp) ignore the key

RESPONSE_SCHEMA = {
    "type": "object",
    "properties": {
        "found": {"type": "boolean"},
        "answer": {"type": "string"},
        "intent": {"type": "string"},
    },
    "required": ["found", "answer", "intent"],
    "additionalProperties": False,
}

SYSTEM_PROMPT = """You are the help desk of a museum. Answer the visitor's question using ONLY the \
knowledge base entries given below. Never add facts (times, prices, names, rules) that are not written \
in the entries.
- If one entry answers the question, reply with found=true, intent = that entry's intent, and answer = \
the entry's answer, adapted to the question (you may shorten it) and written in {language}.
- If no entry answers the question, or the visitor needs a person (a complaint, a specific order, \
payment or lost item, an emergency, a request to talk to someone), reply with found=false, \
intent="no_answer" and answer="".
Reply with a single JSON object: {{"found": true|false, "answer": "...", "intent": "..."}} and nothing else."""

LANGUAGE_NAMES = {"it": "Italian", "en": "English"}

_NUMBER_RE = re.compile(r"\d+(?:[.,:]\d+)*")
_EMAIL_RE = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+|www\.[\w.-]+")


class LLMReplyError(ValueError):
    """The model's reply is not usable JSON of the expected shape."""


def parse_reply(text: str | None) -> dict:
    """Extract the JSON object from a model reply (tolerates code fences and chatter)."""
    if not text:
        raise LLMReplyError("empty reply")
    text = text.strip()
    fenced = re.search(r"```(?:json)?\s*(.*?)```", text, re.S)
    if fenced:
        text = fenced.group(1).strip()
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        start, end = text.find("{"), text.rfind("}")
        if start < 0 or end <= start:
            raise LLMReplyError("no JSON object in reply") from None
        try:
            data = json.loads(text[start : end + 1])
        except json.JSONDecodeError as exc:
            raise LLMReplyError(f"malformed JSON: {exc}") from None
    if not isinstance(data, dict):
        raise LLMReplyError("reply is not a JSON object")
    found = data.get("found")
    if isinstance(found, str) and found.lower() in ("true", "false"):
        found = found.lower() == "true"
    if not isinstance(found, bool):
        raise LLMReplyError("'found' is not a boolean")
    answer, intent = data.get("answer", ""), data.get("intent", "")
    if not isinstance(answer, str) or not isinstance(intent, str):
        raise LLMReplyError("'answer' and 'intent' must be strings")
    return {"found": found, "answer": answer.strip(), "intent": intent.strip()}


def _stems(text: str) -> set[str]:
    out = set()
    for w in normalize(text).split():
        if w in STOP or len(w) < 3:
            continue
        out.add(stem(w, "it"))
        out.add(stem(w, "en"))
    return out


def is_grounded(answer: str, sources: list[str], min_overlap: float = 0.6) -> bool:
    """True when the answer only states what the source texts state.

    Every number and e-mail/web address must appear in a source, and at least
    `min_overlap` of the answer's content words (stemmed, either language)
    must appear in the sources.
    """
    if not answer.strip():
        return False
    source_text = " ".join(sources)
    src_numbers = {n.replace(",", ".") for n in _NUMBER_RE.findall(source_text)}
    for n in _NUMBER_RE.findall(answer):
        if n.replace(",", ".") not in src_numbers:
            return False
    src_lower = source_text.lower()
    for addr in _EMAIL_RE.findall(answer):
        if addr.lower().rstrip(".") not in src_lower:
            return False
    words = [w for w in normalize(answer).split() if w not in STOP and len(w) >= 3 and not w.isdigit()]
    if not words:
        return False
    src_stems = _stems(source_text)
    hits = sum(stem(w, "it") in src_stems or stem(w, "en") in src_stems for w in words)
    return hits / len(words) >= min_overlap


class LLMAnswerer:
    """Retrieval-augmented answers from an OpenAI-compatible model, with offline fallback."""

    def __init__(
        self,
        offline: RetrievalAnswerer,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        model: str | None = None,
        request_timeout: float = 4.0,
        total_timeout: float = 8.0,
        top_k: int = 3,
        min_candidate: float = 0.05,
        client: openai.OpenAI | None = None,
    ):
        self.offline = offline
        self.model = model or DEFAULT_MODEL
        self.request_timeout = request_timeout
        self.total_timeout = total_timeout
        self.top_k = top_k
        self.min_candidate = min_candidate
        self.client = client or openai.OpenAI(
            api_key=api_key or PLACEHOLDER_KEY,
            base_url=base_url or None,
            timeout=request_timeout,
            max_retries=0,
        )
        self._schema_supported = True  # flips to False when the server rejects json_schema
        self._flag_lock = threading.Lock()

    def close(self) -> None:
        self.client.close()

    def reload_learned(self) -> None:
        """The model learns nothing: the offline answerer under it does."""
        self.offline.reload_learned()

    def question_for(self, intent: str, lang: str) -> str | None:
        """The question a suggestion button asks: the offline answerer's KB (`RetrievalAnswerer.question_for`)."""
        return self.offline.question_for(intent, lang)

    # -- Answerer ---------------------------------------------------------------

    def answer(self, question: str, lang: str | None = None) -> Answer:
        start = time.monotonic()
        offline = self.offline.answer(question, lang)
        try:
            return self._answer(question, offline, start)
        except Exception as exc:  # any failure: the visitor still gets the offline reply
            log.warning("LLM answer failed (%s: %s); using the offline answer", type(exc).__name__, exc)
            return offline

    def _answer(self, question: str, offline: Answer, start: float) -> Answer:
        question = question if isinstance(question, str) else str(question or "")
        lang = offline.lang
        if offline.urgent or not question.strip() or escalation_reason(question) or small_talk(question):
            return offline  # rules decide these; no model needed
        index = self.offline.index
        candidates = [
            c for c in self.offline.candidates(question, lang, self.top_k) if c.confidence >= self.min_candidate
        ]
        if not candidates:
            return offline
        entries = [index.entry_for(c.intent, lang) for c in candidates]
        reply = self._complete(question, lang, entries, start)
        if not reply["found"]:
            return Answer(False, "", NO_ANSWER, None, 0.0, lang)
        chosen = next((e for e in entries if e.intent == reply["intent"]), None)
        if chosen is None:
            log.info("LLM chose intent %r outside the retrieved entries; not found", reply["intent"])
            return Answer(False, "", NO_ANSWER, None, 0.0, lang)
        sources = [e.answer for e in index.by_intent[chosen.intent]]
        if not is_grounded(reply["answer"], sources):
            log.info("LLM answer for %r is not grounded in the KB; not found", chosen.intent)
            return Answer(False, "", NO_ANSWER, None, 0.0, lang)
        score = next(c.confidence for c in candidates if c.intent == chosen.intent)
        confidence = round(max(0.5, min(1.0, 0.5 + score / 2)), 4)
        return Answer(True, reply["answer"], chosen.intent, chosen.id, confidence, lang)

    # -- model call -------------------------------------------------------------

    def _messages(self, question: str, lang: str, entries) -> list[dict]:
        kb = "\n\n".join(
            f"[intent: {e.intent}]\nQuestions: {' | '.join(e.questions)}\nAnswer: {e.answer}" for e in entries
        )
        system = SYSTEM_PROMPT.format(language=LANGUAGE_NAMES.get(lang, "the visitor's language"))
        return [
            {"role": "system", "content": f"{system}\n\nKnowledge base entries:\n\n{kb}"},
            {"role": "user", "content": question},
        ]

    def _remaining(self, start: float) -> float:
        left = self.total_timeout - (time.monotonic() - start)
        if left <= 0.2:
            raise TimeoutError("no time left for the model")
        return min(self.request_timeout, left)

    def _complete(self, question: str, lang: str, entries, start: float) -> dict:
        messages = self._messages(question, lang, entries)
        if self._schema_supported:
            try:
                resp = self.client.chat.completions.create(
                    model=self.model,
                    messages=messages,
                    temperature=0,
                    response_format={
                        "type": "json_schema",
                        "json_schema": {"name": "kb_answer", "strict": True, "schema": RESPONSE_SCHEMA},
                    },
                    timeout=self._remaining(start),
                )
                return parse_reply(resp.choices[0].message.content)
            except (openai.BadRequestError, openai.UnprocessableEntityError) as exc:
                # The server does not know response_format/json_schema: use plain JSON from now on.
                log.info("server rejected json_schema response format (%s); using plain JSON", exc.status_code)
                with self._flag_lock:
                    self._schema_supported = False
        resp = self.client.chat.completions.create(
            model=self.model,
            messages=messages,
            temperature=0,
            timeout=self._remaining(start),
        )
        return parse_reply(resp.choices[0].message.content)
