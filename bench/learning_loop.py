"""The learning loop, measured: label one blind set's misses, then score the next blind set.

An operator who marks a missed visitor question as "this is intent X" or "must go to a person" adds a
labelled example (`data/examples.csv`). This script plays that operator on blind set A: every case the
fused answerer gets wrong on A becomes an example, exactly as the dashboard stores it. It then scores blind
set B, which nobody labelled, before and after, and once more after refitting the found/not-found rule on
the grown example file (cross-validation on the examples only, never on A or B).

    python bench/learning_loop.py                                   # A = holdout6, B = holdout7, and back
    python bench/learning_loop.py --label tests/data/eval_holdout6.csv --score tests/data/eval_holdout7.csv

Works on a temporary copy of the example file; the shipped one is not changed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sportello.answering.evaluation import evaluate, load_cases  # noqa: E402
from sportello.answering.semantic import SemanticAnswerer, load_encoder  # noqa: E402
from sportello.domain.intents import ESCALATE  # noqa: E402

DATA = ROOT / "tests" / "data"


def line(name: str, report) -> str:
    return (
        f"{name:<44} answerable {report.accuracy:6.1%}   escalated {report.escalation_recall:6.1%}   "
        f"wrong confident {report.wrong_confident_rate:5.1%}"
    )


def misses(answerer, cases) -> list:
    out = []
    for case in cases:
        got = answerer.answer(case.question, case.lang)
        label = got.intent if got.found else ESCALATE
        if label != case.expected:
            out.append(case)
    return out


def run(label_path: Path, score_path: Path, encoder) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        examples = Path(tmp) / "examples.csv"
        shutil.copy(ROOT / "data" / "examples.csv", examples)
        bot = SemanticAnswerer(
            path=ROOT / "data" / "faq.csv",
            encoder=encoder,
            examples_path=examples,
            cache_dirs=[ROOT / "data" / "cache"],
        )
        label_cases, score_cases = load_cases(label_path), load_cases(score_path)
        print(f"label {label_path.name} ({len(label_cases)} cases), score {score_path.name} ({len(score_cases)})")
        print(line(f"{label_path.name} before labelling", evaluate(bot, label_cases)))
        before = evaluate(bot, score_cases)
        print(line(f"{score_path.name} before", before))
        missed = misses(bot, label_cases)
        for case in missed:  # what an operator does in the dashboard, one click per miss
            bot.add_example(case.question, case.lang, case.expected)
        kinds = sum(1 for c in missed if c.expected == ESCALATE)
        print(f"operator labels {len(missed)} misses of {label_path.name} ({kinds} must-escalate)")
        after = evaluate(bot, score_cases)
        print(line(f"{score_path.name} after labelling", after))
        bot.calibrate(save=False)
        refit = evaluate(bot, score_cases)
        print(line(f"{score_path.name} after labelling + refit", refit))
        print(
            f"change on {score_path.name}: answerable {after.accuracy - before.accuracy:+.1%} "
            f"(+refit {refit.accuracy - before.accuracy:+.1%}), wrong confident "
            f"{after.wrong_confident_rate - before.wrong_confident_rate:+.1%} "
            f"(+refit {refit.wrong_confident_rate - before.wrong_confident_rate:+.1%})"
        )
        print()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--label", type=Path, help="blind set whose misses the operator labels")
    parser.add_argument("--score", type=Path, help="blind set scored before and after")
    args = parser.parse_args(argv)
    encoder = load_encoder()
    if args.label and args.score:
        run(args.label, args.score, encoder)
        return 0
    run(DATA / "eval_holdout6.csv", DATA / "eval_holdout7.csv", encoder)
    run(DATA / "eval_holdout7.csv", DATA / "eval_holdout6.csv", encoder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
