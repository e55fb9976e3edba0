"""Fit the query adapter (`adapter.py`) on the demo's labelled examples.

    python -m sportello.answering.fit_adapter [--check] [--write]

Reads data/faq.csv and data/examples.csv only (never an evaluation set, never a venue of tests/data/venues/).
`--check` prints, for each venue's development pool (label_pool.csv), how often its KB's phrasings and answer
sentences rank the labelled intent first by the e5 similarity alone, without and with the map. `--write` saves the
map as sportello/answering/query_adapter.npy; then refit the cold rule, which reads the mapped similarities:
`python -m sportello.answering.fit_cold --check --write`.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from sportello.domain.intents import ESCALATE

from . import adapter

REPO = Path(__file__).resolve().parents[2]
KB = REPO / "data/faq.csv"
EXAMPLES = REPO / "data/examples.csv"


def _keys(state) -> tuple[np.ndarray, np.ndarray, int]:
    keys = np.vstack([state.phrase_vecs, state.sentence_vecs])
    key_intent = np.concatenate([state.phrase_intent, state.sentence_intent])
    return keys, key_intent, len(state.index.intents)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sportello.answering.fit_adapter")
    parser.add_argument("--check", action="store_true", help="rank each venue's development pool without/with it")
    parser.add_argument("--write", action="store_true", help=f"write {adapter.ADAPTER_FILE.name}")
    args = parser.parse_args(argv)

    from sportello.config import Settings

    from .bot import build_retrieval
    from .evaluation import load_cases
    from .examples import read_examples
    from .fit_cold import VENUES

    with tempfile.TemporaryDirectory(prefix="sportello-fit-adapter-") as data_dir:
        answerer = build_retrieval(Settings.from_env({"DATA_DIR": data_dir}, kb_path=KB), "semantic")
        state = answerer._refresh(force=True)
        keys, key_intent, n = _keys(state)
        idx = state.index.intent_idx
        examples = [x for x in read_examples(EXAMPLES) if x.expected == ESCALATE or x.expected in idx]
        queries = answerer.vectors.vectors([x.question for x in examples], "query", "examples")
        labels = np.array([-1 if x.expected == ESCALATE else idx[x.expected] for x in examples])
        w = adapter.fit(queries, labels, keys, key_intent, n)
        print(
            f"fitted on {len(labels)} examples ({int((labels < 0).sum())} must escalate) of {n} intents; "
            f"the answerable ones ranked first {adapter.top1(queries, labels, keys, key_intent, n, None):.1%} -> "
            f"{adapter.top1(queries, labels, keys, key_intent, n, w):.1%}; "
            f"||W - I|| = {np.linalg.norm(w - np.eye(len(w))):.2f}"
        )
        if args.check:
            before = after = 0.0
            for name, (kb, pool) in VENUES.items():
                venue = build_retrieval(Settings.from_env({"DATA_DIR": data_dir}, kb_path=kb), "semantic")
                vstate = venue._refresh(force=True)
                vkeys, vkey_intent, vn = _keys(vstate)
                cases = [c for c in load_cases(pool) if c.expected in vstate.index.intent_idx]
                vecs = venue.vectors.vectors([c.question for c in cases], "query", "pool")
                y = np.array([vstate.index.intent_idx[c.expected] for c in cases])
                b = adapter.top1(vecs, y, vkeys, vkey_intent, vn, None)
                a = adapter.top1(vecs, y, vkeys, vkey_intent, vn, w)
                before, after = before + b / len(VENUES), after + a / len(VENUES)
                print(f"  {name}: {len(cases)} answerable pool questions ranked first {b:.1%} -> {a:.1%}")
            print(f"  the venues' average: {before:.1%} -> {after:.1%}")
    if args.write:
        np.save(adapter.ADAPTER_FILE, w)
        print(f"wrote {adapter.ADAPTER_FILE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
