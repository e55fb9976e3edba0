"""Example questions for each KB intent, written by the configured OpenAI-compatible LLM (cold start).

`python -m sportello kb examples` (sportello/faces/kb_cli.py) asks the model, once per intent, for
`per_entry` ways visitors might ask it in Italian and as many in English, given the intent's KB rows (its
phrasings and answer, both languages). The reply is JSON `{"it": [...], "en": [...]}` (JSON-schema response
format, or plain JSON for a server without it); questions are cleaned (one line, at most `MAX_QUESTION`
characters), duplicates and the KB's own phrasings left out.

Robust by design:
- nothing is fetched without a configured LLM (`OPENAI_API_KEY` or `OPENAI_BASE_URL`): `ExamplesError`;
- each intent's questions are appended to the output file (`question,lang,expected`) as soon as they
  arrive, so an interrupted run keeps what it got; a new run skips the intents already in the file;
- a malformed reply, a timeout or a server error fails that intent only (it is retried by the next run);
  a rate limit (429) is waited out (`Retry-After`, else a doubling backoff) up to `retries` times, then the
  run stops; so does it after `max_consecutive_failures` failed intents in a row (the server is down) or
  at once on a refused key or an unknown model.

The generated examples are *not* used by the answerer: each intent's, once in the file, are stored by
`Learning.propose_generated` as proposals by the LLM, which an admin accepts (as written or edited) or
rejects on the dashboard (sportello/services/learning.py). The file is the run's record (and what a new run
resumes from); it must not be one the answerer reads.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import openai

from sportello.answering.examples import Example, append_examples, rows
from sportello.answering.kb import KBEntry, KBError, read_kb
from sportello.answering.llm import (
    DEFAULT_MODEL,
    LLMReplyError,
    json_schema_format,
    make_client,
    parse_json_object,
)
from sportello.config import Settings
from sportello.domain.intents import ESCALATE

log = logging.getLogger(__name__)

LANGS = ("it", "en")
LANGUAGE_NAMES = {"it": "Italian", "en": "English"}
MAX_QUESTION = 300
MAX_PER_ENTRY = 50
SCHEMA_NAME = "kb_examples"
RESPONSE_SCHEMA = {
    "type": "object",
    "properties": {lg: {"type": "array", "items": {"type": "string"}} for lg in LANGS},
    "required": list(LANGS),
    "additionalProperties": False,
}

SYSTEM_PROMPT = """You write example questions for the help desk of a venue (a museum, a garden, a \
science centre...). You are given one topic of the venue's knowledge base: its questions and its answer, \
in Italian and in English. Write questions that different visitors could send in the chat and that this \
answer answers: varied wording (short and long, formal and casual, with and without greetings, typical \
typos, synonyms, indirect ways of asking), never copies of the given questions, never questions the \
answer does not answer, no numbers or facts that are not in the answer.
Reply with a single JSON object {"it": [...Italian questions...], "en": [...English questions...]} with \
exactly the number of questions asked for in each language, and nothing else."""


class ExamplesError(Exception):
    """The run cannot start or go on (no LLM configured, a bad KB or output file, the server refusing)."""


class _IntentFailed(Exception):
    """This intent's questions could not be had; the run goes on with the next one."""


@dataclass
class Progress:
    """What a run did: intents written, already in the file, failed (intent → why), and why it stopped."""

    total: int = 0
    written: list[str] = field(default_factory=list)
    questions: int = 0
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    stopped: str | None = None

    @property
    def complete(self) -> bool:
        return not self.failed and self.stopped is None


def llm_configured(settings: Settings) -> bool:
    """Whether an LLM is configured (the same rule as the LLM answerer: an API key or a base URL)."""
    return bool(settings.openai_api_key or settings.openai_base_url)


def intents_of(kb_path: Path | str) -> dict[str, list[KBEntry]]:
    """The KB's entries grouped by intent, in file order (`ExamplesError` when the KB is unusable)."""
    try:
        kb = read_kb(kb_path)
    except (KBError, OSError) as exc:
        raise ExamplesError(f"knowledge base {kb_path}: {exc}") from exc
    for problem in kb.problems:
        log.warning("knowledge base %s: %s", kb_path, problem)
    out: dict[str, list[KBEntry]] = {}
    for e in kb.entries:
        if e.intent != ESCALATE:
            out.setdefault(e.intent, []).append(e)
    if not out:
        raise ExamplesError(f"knowledge base {kb_path}: no entries")
    return out


def done_intents(out_path: Path) -> set[str]:
    """The intents that already have questions in the output file (a previous, maybe interrupted, run)."""
    try:
        return {r.expected for r in rows(out_path) if r.question and r.expected}
    except FileNotFoundError:
        return set()
    except (OSError, ValueError) as exc:
        raise ExamplesError(f"output file {out_path}: {exc}") from exc


def answerer_files(settings: Settings) -> set[Path]:
    """The files the answerer reads its examples and KB from: the output must be none of them."""
    files = {settings.kb_path, settings.learned_examples_file, settings.learned_kb_file}
    if settings.examples_path:
        files.add(settings.examples_path)
    files |= {settings.data_dir / "examples.csv", Path(settings.kb_path).parent / "examples.csv"}
    return {Path(f).resolve() for f in files}


def clean_questions(values, known: set[str], limit: int) -> list[str]:
    """Up to `limit` usable questions: strings, one line, not empty, not too long, new (casefold)."""
    out: list[str] = []
    for v in values if isinstance(values, list) else ():
        if not isinstance(v, str):
            continue
        q = " ".join(v.split())
        if not q or len(q) > MAX_QUESTION or q.casefold() in known:
            continue
        known.add(q.casefold())
        out.append(q)
        if len(out) >= limit:
            break
    return out


class ExampleWriter:
    """Asks the model for one intent's questions; retries rate limits, classifies the other failures."""

    def __init__(
        self,
        client,
        model: str,
        per_entry: int,
        *,
        retries: int = 4,
        backoff: float = 2.0,
        max_wait: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.client = client
        self.model = model
        self.per_entry = per_entry
        self.retries = retries
        self.backoff = backoff
        self.max_wait = max_wait
        self.sleep = sleep
        self._schema = True  # False once the server refused the json_schema response format

    def close(self) -> None:
        self.client.close()

    def messages(self, intent: str, entries: list[KBEntry]) -> list[dict]:
        request = {
            "topic": intent,
            "knowledge_base": [{"lang": e.lang, "questions": list(e.questions), "answer": e.answer} for e in entries],
            "write": {LANGUAGE_NAMES[lg]: self.per_entry for lg in LANGS},
        }
        return [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": json.dumps(request, ensure_ascii=False)},
        ]

    def questions(self, intent: str, entries: list[KBEntry]) -> list[Example]:
        """The intent's new questions, both languages. `_IntentFailed` (this intent only) or `ExamplesError`
        (stop the run)."""
        text = self._complete(self.messages(intent, entries))
        try:
            data = parse_json_object(text)
        except LLMReplyError as exc:
            raise _IntentFailed(f"the model's reply is not usable JSON ({exc})") from None
        known = {q.casefold() for e in entries for q in e.questions}
        out: list[Example] = []
        for lg in LANGS:
            value = data.get(lg, data.get(LANGUAGE_NAMES[lg]))
            got = clean_questions(value, known, self.per_entry)
            if not got:
                raise _IntentFailed(f"the model's reply has no usable {LANGUAGE_NAMES[lg]} questions")
            out += [Example(q, lg, intent) for q in got]
        return out

    def _complete(self, messages: list[dict]) -> str | None:
        for attempt in range(self.retries + 1):
            try:
                return self._create(messages)
            except openai.RateLimitError as exc:
                if attempt >= self.retries:
                    raise ExamplesError(
                        f"the LLM server keeps refusing with 429 (rate limit) after {self.retries} waits; "
                        "run the command again later to continue"
                    ) from exc
                self.sleep(self._wait(exc, attempt))
            except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
                raise ExamplesError(
                    f"the LLM server refused the API key ({exc.status_code}): check OPENAI_API_KEY"
                ) from exc
            except openai.NotFoundError as exc:
                raise ExamplesError(
                    f"the LLM server does not know the model {self.model!r} or the path (404): check OPENAI_MODEL "
                    "and OPENAI_BASE_URL"
                ) from exc
            except openai.APITimeoutError:
                raise _IntentFailed("the LLM server did not answer in time") from None
            except openai.APIConnectionError as exc:
                raise _IntentFailed(f"cannot reach the LLM server ({exc})") from None
            except openai.APIStatusError as exc:
                raise _IntentFailed(f"the LLM server answered {exc.status_code}") from None
        raise AssertionError("unreachable")

    def _create(self, messages: list[dict]) -> str | None:
        if self._schema:
            try:
                resp = self.client.chat.completions.create(
                    model=self.model,
                    messages=messages,
                    temperature=0.7,
                    response_format=json_schema_format(SCHEMA_NAME, RESPONSE_SCHEMA),
                )
                return _content(resp)
            except (openai.BadRequestError, openai.UnprocessableEntityError):
                log.info("the LLM server refused the json_schema response format; asking for plain JSON")
                self._schema = False
        return _content(self.client.chat.completions.create(model=self.model, messages=messages, temperature=0.7))

    def _wait(self, exc: openai.RateLimitError, attempt: int) -> float:
        header = exc.response.headers.get("retry-after") if exc.response is not None else None
        try:
            wait = float(header) if header is not None else self.backoff * 2**attempt
        except ValueError:
            wait = self.backoff * 2**attempt
        return max(0.0, min(wait, self.max_wait))


def _content(resp) -> str | None:
    try:
        return resp.choices[0].message.content
    except (AttributeError, IndexError, TypeError):
        raise _IntentFailed("the LLM server's reply has no message") from None


def writer_for(settings: Settings, per_entry: int, timeout: float, **kwargs) -> ExampleWriter:
    """The writer over the configured LLM (OPENAI_API_KEY, OPENAI_BASE_URL, OPENAI_MODEL), as the LLM
    answerer's client is made. `ExamplesError` when no LLM is configured: nothing is fetched."""
    if not llm_configured(settings):
        raise ExamplesError(
            "no LLM configured: set OPENAI_API_KEY (and OPENAI_BASE_URL, OPENAI_MODEL for a compatible server "
            "such as Ollama or vLLM); nothing was fetched"
        )
    client = make_client(settings.openai_api_key, settings.openai_base_url, timeout)
    return ExampleWriter(client, settings.openai_model or DEFAULT_MODEL, per_entry, **kwargs)


def generate(
    settings: Settings,
    writer: ExampleWriter,
    out_path: Path,
    *,
    kb_path: Path | None = None,
    max_consecutive_failures: int = 3,
    keep: Callable[[list[Example]], object] | None = None,
    on_intent: Callable[[int, int, str, str], None] | None = None,
) -> Progress:
    """Write the KB's example questions to `out_path`, intent by intent (see the module's docstring).
    `keep(examples)` gets each intent's examples once they are in the file (`Learning.propose_generated`:
    the proposals for the review); `on_intent(i, total, intent, what)` reports each intent as it ends."""
    kb_path = Path(kb_path or settings.kb_path)
    out_path = Path(out_path)
    if out_path.resolve() in answerer_files(replace(settings, kb_path=kb_path)):
        raise ExamplesError(
            f"{out_path} is a file the answerer reads: generated examples must be reviewed first; choose another --out"
        )
    by_intent = intents_of(kb_path)
    done = done_intents(out_path)
    try:
        out_path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExamplesError(f"cannot write {out_path}: {exc}") from exc
    progress = Progress(total=len(by_intent))
    failures_in_row = 0
    for i, (intent, entries) in enumerate(by_intent.items(), 1):
        if intent in done:
            progress.skipped.append(intent)
            what = "already in the file"
        else:
            try:
                examples = writer.questions(intent, entries)
            except _IntentFailed as exc:
                progress.failed[intent] = str(exc)
                failures_in_row += 1
                what = f"failed: {exc}"
            except ExamplesError as exc:
                progress.stopped = str(exc)
                what = f"stopped: {exc}"
            else:
                try:
                    append_examples(out_path, examples)
                except OSError as exc:
                    raise ExamplesError(f"cannot write {out_path}: {exc}") from exc
                if keep:
                    keep(examples)
                progress.written.append(intent)
                progress.questions += len(examples)
                failures_in_row = 0
                what = f"{len(examples)} questions"
            if failures_in_row >= max_consecutive_failures and progress.stopped is None:
                progress.stopped = f"{failures_in_row} intents failed in a row; is the LLM server up?"
        if on_intent:
            on_intent(i, progress.total, intent, what)
        if progress.stopped:
            break
    return progress
