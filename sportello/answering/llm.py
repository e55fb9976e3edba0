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

`answer_stream` is the same answer with the model's reply streamed (`stream=True`): it yields the answer's
text as the model writes it, once the reply says `found`, and returns the checked `Answer` (the
generator's return value). What it yielded is provisional: the returned answer is the one to keep (the
checks above may still turn the reply into "not found", or a failure into the offline answer).
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Generator, Iterable

import openai

from .kb import Answer
from .retrieval import RetrievalAnswerer
from .retrieval_rules import escalation_reason, small_talk
from .retrieval_text import STOP, normalize, stem

log = logging.getLogger(__name__)

DEFAULT_MODEL = "gpt-4o-mini"
PLACEHOLDER_KEY = "sk-no-key-required"  # local servers (Ollama, vLLM, llama.cpp) ignore the key

RESPONSE_SCHEMA = {
    "type": "object",
    "properties": {  # in this order: a streamed reply says found, then which entry, then the text
        "found": {"type": "boolean"},
        "intent": {"type": "string"},
        "answer": {"type": "string"},
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
Reply with a single JSON object: {{"found": true|false, "intent": "...", "answer": "..."}} and nothing else."""

LANGUAGE_NAMES = {"it": "Italian", "en": "English"}

_NUMBER_RE = re.compile(r"\d+(?:[.,:]\d+)*")
_EMAIL_RE = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+|www\.[\w.-]+")


class LLMReplyError(ValueError):
    """The model's reply is not usable JSON of the expected shape."""


def make_client(api_key: str | None, base_url: str | None, timeout: float) -> openai.OpenAI:
    """The OpenAI SDK client for the configured server (OPENAI_API_KEY, OPENAI_BASE_URL): a placeholder key
    for local servers, no retries by the SDK (the callers bound their time and retry themselves)."""
    return openai.OpenAI(api_key=api_key or PLACEHOLDER_KEY, base_url=base_url or None, timeout=timeout, max_retries=0)


def json_schema_format(name: str, schema: dict) -> dict:
    """The `response_format` asking for a reply of that JSON schema (strict); a server that refuses it
    (400/422) is asked again for plain JSON."""
    return {"type": "json_schema", "json_schema": {"name": name, "strict": True, "schema": schema}}


def parse_json_object(text: str | None) -> dict:
    """The JSON object of a model reply (tolerates code fences and chatter); `LLMReplyError` otherwise."""
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
    return data


def parse_reply(text: str | None) -> dict:
    """The {found, answer, intent} reply of the answering prompt (`parse_json_object`, then its shape)."""
    data = parse_json_object(text)
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


_FOUND_RE = re.compile(r'"found"\s*:\s*"?(true|false)', re.I)
_ANSWER_RE = re.compile(r'"answer"\s*:\s*"')
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


class AnswerText:
    """The text of the "answer" string of a JSON reply that arrives in pieces: `feed(piece)` returns
    the part of the answer decoded since the last call ("" until the reply has said found=true, and
    while an escape sequence is cut in two). The whole reply is `text`, for `parse_reply` at the end."""

    def __init__(self):
        self.text = ""
        self._found = False
        self._at: int | None = None  # where the next undecoded character of the answer is
        self._done = False

    def feed(self, piece: str) -> str:
        self.text += piece
        if self._done:
            return ""
        if not self._found:
            m = _FOUND_RE.search(self.text)
            if not m:
                return ""
            if m.group(1).lower() != "true":
                self._done = True  # not found: there is no text to show
                return ""
            self._found = True
        if self._at is None:
            m = _ANSWER_RE.search(self.text)
            if not m:
                return ""
            self._at = m.end()
        out, i, text = [], self._at, self.text
        while i < len(text):
            c = text[i]
            if c == '"':
                self._done = True
                break
            if c != "\\":
                out.append(c)
                i += 1
                continue
            if i + 1 >= len(text):
                break  # the escape continues in the next piece
            e = text[i + 1]
            if e == "u":
                end = i + 12 if text[i + 2 : i + 3].lower() == "d" and text[i + 3 : i + 4].lower() in "89ab" else i + 6
                if end > len(text):
                    break  # (a surrogate pair is decoded whole: never half a character)
                out.append(json.loads(f'"{text[i:end]}"', strict=False).encode("utf-8", "replace").decode("utf-8"))
                i = end
                continue
            out.append(_ESCAPES.get(e, e))
            i += 2
        self._at = i
        return "".join(out)


def _drain(gen: Generator[str, None, Answer]) -> Answer:
    """Run an answer generator to its end; its return value."""
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value


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
        self.client = client or make_client(api_key, base_url, request_timeout)
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
        return _drain(self._answer_or_offline(question, lang, stream=False))

    def answer_stream(self, question: str, lang: str | None = None) -> Generator[str, None, Answer]:
        """The answer, its text yielded as the model streams it (provisional); returns the checked answer."""
        return (yield from self._answer_or_offline(question, lang, stream=True))

    def _answer_or_offline(self, question: str, lang: str | None, *, stream: bool) -> Generator[str, None, Answer]:
        start = time.monotonic()
        offline = self.offline.answer(question, lang)
        try:
            return (yield from self._answer(question, offline, start, stream))
        except Exception as exc:  # any failure: the visitor still gets the offline reply
            log.warning("LLM answer failed (%s: %s); using the offline answer", type(exc).__name__, exc)
            return offline

    def _answer(self, question: str, offline: Answer, start: float, stream: bool) -> Generator[str, None, Answer]:
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
        reply = yield from self._complete(question, lang, entries, start, stream)
        if not reply["found"]:
            return Answer.none(lang)
        chosen = next((e for e in entries if e.intent == reply["intent"]), None)
        if chosen is None:
            log.info("LLM chose intent %r outside the retrieved entries; not found", reply["intent"])
            return Answer.none(lang)
        sources = [e.answer for e in index.by_intent[chosen.intent]]
        if not is_grounded(reply["answer"], sources):
            log.info("LLM answer for %r is not grounded in the KB; not found", chosen.intent)
            return Answer.none(lang)
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

    def _complete(self, question: str, lang: str, entries, start: float, stream: bool) -> Generator[str, None, dict]:
        messages = self._messages(question, lang, entries)
        if self._schema_supported:
            try:
                resp = self.client.chat.completions.create(
                    model=self.model,
                    messages=messages,
                    temperature=0,
                    response_format=json_schema_format("kb_answer", RESPONSE_SCHEMA),
                    timeout=self._remaining(start),
                    **({"stream": True} if stream else {}),
                )
                return parse_reply(
                    (yield from self._content(resp, start)) if stream else resp.choices[0].message.content
                )
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
            **({"stream": True} if stream else {}),
        )
        return parse_reply((yield from self._content(resp, start)) if stream else resp.choices[0].message.content)

    def _content(self, chunks: Iterable, start: float) -> Generator[str, None, str]:
        """A streamed reply: yields the answer's text as it arrives; returns the whole reply. The total
        bound is checked at each chunk (a stalled read waits at most the request's own timeout)."""
        text = AnswerText()
        try:
            for chunk in chunks:
                self._remaining(start)
                for choice in chunk.choices or ():
                    piece = text.feed(getattr(choice.delta, "content", None) or "")
                    if piece:
                        yield piece
        finally:
            close = getattr(chunks, "close", None)
            if close:
                close()
        return text.text
