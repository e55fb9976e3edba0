"""Fit the query adapter (`adapter.py`) on the demo's labelled examples and the venues' development pools.

    python -m sportello.answering.fit_adapter [--check] [--write] [--data-dir DIR]

Reads data/faq.csv with data/examples.csv, and each venue of tests/data/venues/ with its development pool
(label_pool.csv, the questions the cold rule is fitted on, `fit_cold.VENUES`): each KB's questions are ranked
against that KB only. Never an evaluation set. `--check` leaves each venue out in turn, of the map and of the
cold rule: the map fitted on the demo and the other venues, the cold rule fitted on the other venues' pools as that
map meets them (`fit_cold.fit`), both scored on the left-out venue's pool, without and with its LLM's examples
(fit_cold's own `--check` leaves a venue out of the rule only, the shipped map having seen its pool); and, on the
e5 part alone, against the demo-only map and no map: how often its KB's phrasings and answer sentences rank the
labelled intent first, and how often a question so answered outscores a must-escalate one (the separation the
cold rule decides on). About ten minutes on two cores. `--write` saves the map fitted on all of them as
sportello/answering/query_adapter.npy; then refit the cold rule, which reads the mapped similarities:
`python -m sportello.answering.fit_cold --check --write`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from sportello.domain.intents import ESCALATE

from . import adapter
from .evidence import group_max

REPO = Path(__file__).resolve().parents[2]
KB = REPO / "data/faq.csv"
EXAMPLES = REPO / "data/examples.csv"


def task_of(answerer, questions: list[str], expected: list[str]) -> adapter.Task:
    """The labelled questions (an intent of the answerer's KB, or must escalate) as a fit's `adapter.Task`."""
    state = answerer._refresh(force=True)
    keys = np.vstack([state.phrase_vecs, state.sentence_vecs])
    key_intent = np.concatenate([state.phrase_intent, state.sentence_intent])
    idx = state.index.intent_idx
    keep = [i for i, e in enumerate(expected) if e == ESCALATE or e in idx]
    vecs = answerer.vectors.vectors([questions[i] for i in keep], "query", "adapter")
    labels = np.array([-1 if expected[i] == ESCALATE else idx[expected[i]] for i in keep])
    return adapter.Task(vecs, labels, keys, key_intent, len(state.index.intents))


def separation(task: adapter.Task, w) -> float:
    """How often an answerable question whose intent ranks first outscores a must-escalate one (its best key
    similarity; with the map `w`, or none)."""
    q = adapter.adapt(task.q.astype(np.float32), w)
    best = group_max(q @ task.k.T.astype(np.float32), task.key_intent, task.n, fill=-np.inf)
    top = best.max(axis=1)
    pos, neg = top[(task.labels >= 0) & (best.argmax(axis=1) == task.labels)], top[task.labels < 0]
    return float((pos[:, None] > neg[None, :]).mean()) if len(pos) and len(neg) else 0.0


def _decided(held: str, w: np.ndarray) -> str:
    """The cold rule fitted on the venues but `held`, all met through the map `w` (fitted without `held`), scored on
    `held`'s pool: without, and with its LLM's examples (at the rule's threshold for them)."""
    from . import fit_cold
    from .calibration import Calibration

    base = Calibration.from_json(fit_cold.SHIPPED_COLD_CALIBRATION.read_text(encoding="utf-8"))
    rows, taught = {}, {}
    for name, (kb, pool) in fit_cold.VENUES.items():
        rows[name] = fit_cold.venue_rows(kb, pool, base, query_map=w)
        generated = kb.parent / fit_cold.GENERATED_FILE
        if generated.is_file():
            taught[name] = fit_cold.venue_rows(kb, pool, base, generated, query_map=w)
    others = [r for name, r in rows.items() if name != held]
    cal = fit_cold.fit(others, base, taught=[r for name, r in taught.items() if name != held])
    out = f"decided, {held} left out of the map and the rule: {fit_cold.score(rows[held], cal)}"
    if held in taught and cal.generated_threshold is not None:
        out += f"; with an LLM's examples {fit_cold.score(taught[held], cal, cal.generated_threshold)}"
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sportello.answering.fit_adapter")
    parser.add_argument("--check", action="store_true", help="leave each venue out: its pool with/without it")
    parser.add_argument("--write", action="store_true", help=f"write {adapter.ADAPTER_FILE.name}")
    parser.add_argument(
        "--data-dir",
        default=str(REPO / "data" / "fit-adapter"),
        help="where the questions' vectors are cached (a second run encodes nothing)",
    )
    args = parser.parse_args(argv)

    from sportello.config import Settings

    from .bot import build_retrieval
    from .evaluation import load_cases
    from .examples import read_examples
    from .fit_cold import VENUES

    data_dir = args.data_dir

    def answerer(kb: Path):
        return build_retrieval(Settings.from_env({"DATA_DIR": data_dir}, kb_path=kb), "semantic")

    examples = read_examples(EXAMPLES)
    demo = task_of(answerer(KB), [x.question for x in examples], [x.expected for x in examples])
    venues = {}
    for name, (kb, pool) in VENUES.items():
        cases = load_cases(pool)
        venues[name] = task_of(answerer(kb), [c.question for c in cases], [c.expected for c in cases])
    if args.check:
        only_demo = adapter.fit_tasks([demo])
        sums = np.zeros(6)
        for name, task in venues.items():
            w = adapter.fit_tasks([demo, *(t for other, t in venues.items() if other != name)])
            row = [
                *(adapter.top1(task.q, task.labels, task.k, task.key_intent, task.n, m) for m in (None, only_demo, w)),
                *(separation(task, m) for m in (None, only_demo, w)),
            ]
            sums += np.array(row) / len(venues)
            print(
                f"  {name} left out: ranked first {row[0]:.1%} / demo's map {row[1]:.1%} / this map {row[2]:.1%}; "
                f"separated {row[3]:.3f} / {row[4]:.3f} / {row[5]:.3f}",
                flush=True,
            )
            print(f"    {_decided(name, w)}", flush=True)
        print(
            f"  the venues' average: ranked first {sums[0]:.1%} / {sums[1]:.1%} / {sums[2]:.1%}; "
            f"separated {sums[3]:.3f} / {sums[4]:.3f} / {sums[5]:.3f}"
        )
    w = adapter.fit_tasks([demo, *venues.values()])
    tasks = [demo, *venues.values()]
    print(
        f"fitted on {sum(len(t.labels) for t in tasks)} questions of {len(tasks)} KBs "
        f"({sum(int((t.labels < 0).sum()) for t in tasks)} must escalate); "
        f"||W - I|| = {np.linalg.norm(w - np.eye(len(w))):.2f}"
    )
    if args.write:
        np.save(adapter.ADAPTER_FILE, w)
        print(f"wrote {adapter.ADAPTER_FILE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
