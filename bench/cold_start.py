"""Cold start of a new venue, measured: its blind set answered with 0, 50 and 200 accepted labels.

For each venue of tests/data/venues/ (see its README), the labelled pool (`label_pool.csv`, written apart
from the blind sets) is shuffled with a fixed seed and its first N rows are taught as an admin's labels
through the learning loop (`Learning.label`: accepted at once, written to the learned files, the answerer
reloaded), exactly as the dashboard stores them. The venue's blind set is then scored with the library's
evaluation (`sportello.answering.evaluation.evaluate`), the cases left out of the example memory as
`python -m sportello eval` does. Each run is a fresh DATA_DIR, database and copy of the KB; nothing of the
repository is changed. The answerer is the offline one (no LLM, whatever the environment says).

    python bench/cold_start.py                       # both venues, 0 / 50 / 200 labels, eval_blind1.csv
    python bench/cold_start.py --venues garden --labels 0,50 --answerer lexical

Prints one JSON line per venue and label count, totals only (never a row of the blind set): right (the
answerable questions answered with their intent), escalated when it must, wrong and confident, hedged,
and how often the right intent is among the first 3 suggestions of the answerable questions not answered.
The blind sets are for measuring: run it, read the totals, tune nothing on them.

With `--generated`, the venue's `generated_examples.csv` (12 questions an intent, written by an LLM session given
only the KB and the prompt of `python -m sportello kb examples`, `sportello/services/kb_examples.py`) is first
stored as the LLM's proposals (`Learning.propose_generated`) and approved by the admin an intent at a time
(`Learning.approve_many`), as the dashboard does, before any label is taught. (The tests' LLM stand-in writes
templates, not what a model writes: its questions are not measured.)
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sportello.answering.evaluation import Case, evaluate, load_cases  # noqa: E402
from sportello.answering.examples import read_examples  # noqa: E402
from sportello.config import Settings  # noqa: E402
from sportello.domain.errors import ValidationError  # noqa: E402
from sportello.domain.intents import ESCALATE  # noqa: E402
from sportello.runtime import Runtime  # noqa: E402

VENUES = ROOT / "tests" / "data" / "venues"
ADMIN = ("bench_admin", "Bench Admin", "bench-password-123")


def pool_rows(path: Path, seed: int) -> list[Case]:
    """The labelled pool in a fixed shuffled order (the first N rows are the N labels)."""
    rows = load_cases(path)
    random.Random(seed).shuffle(rows)
    return rows


def teach(rt: Runtime, admin: dict, rows: list[Case]) -> int:
    """Each row as an admin's label (accepted at once); returns how many were taken (a row whose intent
    is not in the KB is refused by the service and not counted)."""
    taken = 0
    for row in rows:
        try:
            if row.expected == ESCALATE:
                rt.learning.label(admin, row.question, row.lang, escalate=True)
            else:
                rt.learning.label(admin, row.question, row.lang, intent=row.expected)
        except ValidationError:
            continue
        taken += 1
    return taken


def approve_generated(rt: Runtime, admin: dict, path: Path) -> int:
    """The LLM's examples proposed, then approved by the admin an intent at a time, as the dashboard's "approve the
    ones shown" does with an intent picked (`Learning.approve_many`); returns how many were approved."""
    rt.learning.propose_generated(read_examples(path))
    by_intent: dict[str, list[int]] = {}
    for row in rt.learning.pending():
        by_intent.setdefault(row["intent"], []).append(row["id"])
    return sum(len(rt.learning.approve_many(ids, admin)["approved"]) for ids in by_intent.values())


def measure(venue: str, n: int, *, seed: int, cases_name: str, answerer: str, generated: bool = False) -> dict:
    folder = VENUES / venue
    labels = pool_rows(folder / "label_pool.csv", seed)[:n]
    cases = load_cases(folder / cases_name)
    with tempfile.TemporaryDirectory(prefix="cold-start-") as tmp:
        # A copy of the KB: the vector cache beside it is written there, never in the repository's venue folder
        # (whose committed cache files the cache's pruning would delete).
        kb = Path(tmp) / "kb" / "faq.csv"
        kb.parent.mkdir()
        shutil.copyfile(folder / "faq.csv", kb)
        env = {"DATA_DIR": tmp, "KB_PATH": str(kb), "ANSWERER": answerer, "PASSWORD_SCRYPT_N": "16384"}
        rt = Runtime(Settings.from_env(env), sink=None)
        try:
            account = rt.operators.add(*ADMIN, is_admin=True)
            admin = {"id": account["id"], "username": ADMIN[0], "display_name": ADMIN[1], "is_admin": True}
            approved = approve_generated(rt, admin, folder / "generated_examples.csv") if generated else 0
            taken = teach(rt, admin, labels)
            retrieval = getattr(rt.answerer, "offline", rt.answerer)
            overlap = 0
            if hasattr(retrieval, "exclude_examples"):
                questions = {c.question.strip().casefold() for c in cases}
                overlap = sum(r.question.strip().casefold() in questions for r in labels)
                retrieval.exclude_examples(c.question for c in cases)
            started = time.perf_counter()
            report = evaluate(rt.answerer, cases)
            seconds = time.perf_counter() - started
        finally:
            rt.store.dispose()
    return {
        "venue": venue,
        "cases": cases_name,
        "labels": n,
        "labels_taken": taken,
        "generated_approved": approved,
        "labels_also_in_cases": overlap,
        "answerer": type(retrieval).__name__,
        "total": report.total,
        "answerable": report.answerable,
        "must_escalate": report.must_escalate,
        "right": round(report.accuracy, 4),
        "right_n": report.answerable_correct,
        "escalated_when_must": round(report.escalation_recall, 4),
        "escalated_when_must_n": report.escalated_correctly,
        "wrong_confident": round(report.wrong_confident_rate, 4),
        "wrong_confident_n": report.wrong_confident,
        "hedged": round(report.hedged_rate, 4),
        "hedged_n": report.hedged,
        "top3_suggestion_hit": round(report.suggested_right_rate, 4),
        "top3_suggestion_hit_n": report.suggested_right,
        "answerable_not_answered": report.answerable_escalated,
        "urgent": report.urgent,
        "ms_per_question": round(seconds * 1000 / max(report.total, 1), 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python bench/cold_start.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--venues", default="garden,science")
    parser.add_argument("--labels", default="0,50,200", help="label counts, comma-separated")
    parser.add_argument("--seed", type=int, default=25, help="the pool's shuffle")
    parser.add_argument("--cases", default="eval_blind1.csv", help="the case file's name in each venue's folder")
    parser.add_argument("--answerer", default="auto", choices=("auto", "semantic", "lexical"))
    parser.add_argument(
        "--generated", action="store_true", help="approve the venue's generated_examples.csv (an LLM's) first"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)  # the answerer's warnings (e.g. the demo examples' intents) aside
    for venue in [v.strip() for v in args.venues.split(",") if v.strip()]:
        for n in [int(x) for x in args.labels.split(",")]:
            result = measure(
                venue, n, seed=args.seed, cases_name=args.cases, answerer=args.answerer, generated=args.generated
            )
            print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
