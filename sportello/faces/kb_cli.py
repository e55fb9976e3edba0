"""`python -m sportello kb COMMAND`: tools for the knowledge base, one function per command.

    python -m sportello kb examples [--kb FILE] [--per-entry N] [--out FILE] [--timeout S]
    python -m sportello kb check --kb FILE [--json]

`examples` asks the configured OpenAI-compatible LLM (OPENAI_API_KEY, OPENAI_BASE_URL, OPENAI_MODEL) for N
example questions per KB intent in Italian and N in English (default 8), appends them to --out (default
DATA_DIR/generated_examples.csv; a new run skips the intents already there) and stores each intent's as
proposals by the LLM as they arrive: the answerer uses none of them until an admin accepts it (as written or edited) on the
dashboard, Analisi → Apprendimento. Exit 0: every intent done; 1: some failed or the run stopped (what it
got is kept, run it again to continue); 2: nothing could be done (no LLM configured, a bad KB or file).

`check` reads the KB as the answerer does and prints its errors (rows skipped, or a file it cannot use) and
warnings (rows used but probably not as meant) with their line numbers (`sportello.services.kb_check`), or one
JSON object with --json. Exit 0: no errors (warnings are fine); 1: errors.

A new command: a function `name(args) -> int` and its parser in `COMMANDS`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sportello.config import Settings
from sportello.runtime import learning_tools
from sportello.services import kb_check, kb_examples

DEFAULT_OUT = "generated_examples.csv"


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def examples(args: argparse.Namespace) -> int:
    """`kb examples`: generate, keep what arrived, store it as proposals for the review."""
    settings = Settings.from_env(**({"kb_path": args.kb} if args.kb else {}))
    if not 1 <= args.per_entry <= kb_examples.MAX_PER_ENTRY:
        _say(f"error: --per-entry must be between 1 and {kb_examples.MAX_PER_ENTRY}")
        return 2
    out = args.out or settings.data_dir / DEFAULT_OUT
    try:
        writer = kb_examples.writer_for(settings, args.per_entry, args.timeout)
    except kb_examples.ExamplesError as exc:
        _say(f"error: {exc}")
        return 2
    stored = {"proposed": 0, "known": 0, "unknown_intent": 0}
    try:
        with learning_tools(settings) as learning:

            def keep(examples) -> None:  # each intent's examples, as they arrive, become proposals for review
                for k, n in learning.propose_generated(examples).items():
                    stored[k] += n

            progress = kb_examples.generate(
                settings,
                writer,
                out,
                keep=keep,
                on_intent=lambda i, n, intent, what: _say(f"[{i}/{n}] {intent}: {what}"),
            )
    except kb_examples.ExamplesError as exc:
        _say(f"error: {exc}")
        return 2
    except KeyboardInterrupt:
        _say(f"interrupted: what arrived is kept in {out} and awaits review; run the command again to continue")
        return 130
    finally:
        writer.close()
    _say(
        f"{len(progress.written)} intents written ({progress.questions} questions), "
        f"{len(progress.skipped)} already in {out}, {len(progress.failed)} failed; "
        f"{stored['proposed']} new proposals await an admin's review (Analisi → Apprendimento)"
        + (f", {stored['known']} were known already" if stored["known"] else "")
        + (f", {stored['unknown_intent']} of intents not in the KB" if stored["unknown_intent"] else "")
    )
    for intent, why in progress.failed.items():
        _say(f"failed: {intent}: {why}")
    if progress.stopped:
        _say(f"stopped: {progress.stopped}")
    if not progress.complete:
        _say(f"what arrived is kept in {out}; run the command again to continue")
        return 1
    return 0


def _examples_parser(sub) -> None:
    p = sub.add_parser("examples", help="example questions for each KB entry, written by the configured LLM")
    p.add_argument("--kb", type=Path, help="the knowledge base (default: KB_PATH)")
    p.add_argument("--per-entry", type=int, default=8, help="questions per intent and language (default 8)")
    p.add_argument("--out", type=Path, help=f"the examples file (default: DATA_DIR/{DEFAULT_OUT})")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per LLM request (default 60)")
    p.set_defaults(func=examples)


def check(args: argparse.Namespace) -> int:
    """`kb check`: the KB's errors and warnings by line; exit 1 with errors."""
    report = kb_check.check(args.kb)
    print(json.dumps(report, ensure_ascii=False) if args.json else kb_check.format_report(report))
    return 0 if report["ok"] else 1


def _check_parser(sub) -> None:
    p = sub.add_parser("check", help="errors and warnings of a knowledge base, by line")
    p.add_argument("--kb", required=True, type=Path, help="the knowledge base CSV")
    p.add_argument("--json", action="store_true", help="one JSON object instead of lines")
    p.set_defaults(func=check)


COMMANDS = [_examples_parser, _check_parser]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sportello kb")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in COMMANDS:
        add(sub)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
