"""AI answerers: the `Answerer` interface, the offline and the LLM answerer.

The implementation lives in `sportello.answering.kb` (KB file, `Answer`), `sportello.answering.retrieval*`
(offline answerer) and `sportello.answering.llm` (OpenAI-compatible LLM answerer); this
module re-exports them and is the command line.

    python -m sportello.answering.bot ask --kb PATH [--lang it|en] [--offline] [QUESTION...]

prints one JSON object {"found","intent","answer","source_id","confidence"};
with no QUESTION it reads one question per line from stdin and prints one
JSON line per question.

    python -m sportello.answering.bot eval --kb PATH --cases FILE.csv [--offline] [--sweep]

prints answerable accuracy, escalation precision/recall, wrong confident
answers and the misses (cases: `question,lang,expected`, expected is an
intent or `escalate`).

Both use the LLM when OPENAI_API_KEY / OPENAI_BASE_URL are set, unless
--offline is given.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from .kb import NO_ANSWER, OPERATOR_REQUEST, Answer, Answerer, KBEntry, KBError, KBProblem, load_kb, read_kb
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
    "build_answerer",
    "detect_lang",
    "load_kb",
    "normalize",
    "read_kb",
]


def build_answerer(settings) -> Answerer:
    """The answerer the app uses: the LLM one when an API key or base URL is configured, else offline."""
    offline = RetrievalAnswerer.from_csv(settings.kb_path)
    if getattr(settings, "openai_api_key", "") or getattr(settings, "openai_base_url", ""):
        from .llm import LLMAnswerer

        return LLMAnswerer(
            offline,
            api_key=settings.openai_api_key,
            base_url=settings.openai_base_url or None,
            model=settings.openai_model or None,
        )
    return offline


def _answerer_for(args: argparse.Namespace) -> Answerer:
    if args.offline:
        return RetrievalAnswerer.from_csv(args.kb)
    from sportello.config import Settings

    return build_answerer(Settings.from_env(kb_path=Path(args.kb)))


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
    report = evaluate(_answerer_for(args), cases)
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
    ask.add_argument("question", nargs="*")
    ask.set_defaults(func=_cmd_ask)
    ev = sub.add_parser("eval", help="evaluate on a case file (question,lang,expected)")
    ev.add_argument("--kb", required=True, type=Path)
    ev.add_argument("--cases", required=True, type=Path)
    ev.add_argument("--offline", action="store_true", help="never call an LLM")
    ev.add_argument("--sweep", action="store_true", help="with --offline: the metrics at thresholds 0.30-0.75")
    ev.set_defaults(func=_cmd_eval)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (KBError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
