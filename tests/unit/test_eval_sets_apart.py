"""The sealed blind sets (README, "How good it is"; written in session 17, the demo's scored once in session 18; the demo's
eval_holdout13.csv written, sealed and scored in session 18, eval_holdout14.csv sealed at its end and scored in session 19,
eval_holdout15.csv sealed and scored in session 19, eval_holdout16.csv sealed at its end and
scored in session 20, eval_holdout17.csv sealed and scored in session 20, eval_holdout18.csv sealed at its end and scored in session 21; three more venues' first blind sets written in session 20;
eval_holdout19.csv and a set of each venue written and sealed in session 21, the venues' scored in session 22; one more
set of each venue written and sealed in session 22) are kept apart from
everything else of their KB: no question of one is a labelled example, a label-pool question, an LLM's example
(`generated_examples.csv`), a generic must-escalate example or a question of another evaluation set (compared folded: case, accents, spaces). Exact
repeats of short questions ("parking?", "hi!") written independently were dropped, unread, when the sets were
sealed."""

from __future__ import annotations

import csv
from pathlib import Path

from sportello.answering.retrieval_text import fold

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
# The must-escalate examples of no venue in particular: memory for every KB.
GENERIC = ROOT / "sportello" / "answering" / "escalate_generic.csv"
SEALED_DEMO = tuple(DATA / f"eval_holdout{n}.csv" for n in (12, 13, 14, 15, 16, 17, 18, 19, 20))
# (venue, set): scored in session 19 (blind5, blind3), then sealed at its end (blind6, blind4).
SEALED_VENUES = [
    *((venue, "eval_blind5.csv") for venue in ("garden", "science", "castle")),
    *((venue, "eval_blind3.csv") for venue in ("zoo", "archaeo")),
    *((venue, "eval_blind6.csv") for venue in ("garden", "science", "castle")),
    *((venue, "eval_blind4.csv") for venue in ("zoo", "archaeo")),
    # The show cave's, opera house's and cathedral's first blind sets (session 20, sealed when written).
    *((venue, "eval_blind1.csv") for venue in ("cave", "opera", "cathedral")),
    # Written at session 20's end, scored in session 21.
    *((venue, "eval_blind7.csv") for venue in ("garden", "science", "castle")),
    *((venue, "eval_blind5.csv") for venue in ("zoo", "archaeo")),
    *((venue, "eval_blind2.csv") for venue in ("cave", "opera", "cathedral")),
    # Written in session 21 before its change (107-118 questions each after the repeats were dropped unread).
    *((venue, "eval_blind8.csv") for venue in ("garden", "science", "castle")),
    *((venue, "eval_blind6.csv") for venue in ("zoo", "archaeo")),
    *((venue, "eval_blind3.csv") for venue in ("cave", "opera", "cathedral")),
    # Written in session 22 after its change, sealed for the next one (107-117 questions each).
    *((venue, "eval_blind9.csv") for venue in ("garden", "science", "castle")),
    *((venue, "eval_blind7.csv") for venue in ("zoo", "archaeo")),
    *((venue, "eval_blind4.csv") for venue in ("cave", "opera", "cathedral")),
    # Written in session 23 after its (reverted) change, sealed for the next one (111-117 questions each).
    *((venue, "eval_blind10.csv") for venue in ("garden", "science", "castle")),
    *((venue, "eval_blind8.csv") for venue in ("zoo", "archaeo")),
    *((venue, "eval_blind5.csv") for venue in ("cave", "opera", "cathedral")),
    # Written in session 24 (before its change was measured), sealed for it (108-116 questions each).
    *((venue, "eval_blind11.csv") for venue in ("garden", "science", "castle")),
    *((venue, "eval_blind9.csv") for venue in ("zoo", "archaeo")),
    *((venue, "eval_blind6.csv") for venue in ("cave", "opera", "cathedral")),
    # Written at session 24's end, after its change, sealed for the next one (107-117 questions each).
    *((venue, "eval_blind12.csv") for venue in ("garden", "science", "castle")),
    *((venue, "eval_blind10.csv") for venue in ("zoo", "archaeo")),
    *((venue, "eval_blind7.csv") for venue in ("cave", "opera", "cathedral")),
]


def _questions(path: Path) -> set[str]:
    with open(path, encoding="utf-8", newline="") as fh:
        return {" ".join(fold(r["question"]).split()) for r in csv.DictReader(fh)}


def _apart(sealed: Path, others: list[Path]) -> None:
    qs = _questions(sealed)
    assert len(qs) >= 100
    for other in others:
        shared = qs & _questions(other)
        assert not shared, f"{sealed.name} shares {sorted(shared)[:3]} with {other.name}"


def test_the_sealed_demo_sets_are_apart_from_the_examples_and_every_other_set():
    for sealed in SEALED_DEMO:
        others = [ROOT / "data" / "examples.csv", GENERIC, *(p for p in DATA.glob("eval_*.csv") if p != sealed)]
        _apart(sealed, others)


def test_each_venue_sealed_set_is_apart_from_its_label_pool_and_other_sets():
    for venue, name in SEALED_VENUES:
        folder = DATA / "venues" / venue
        others = [folder / "label_pool.csv", folder / "generated_examples.csv", GENERIC]
        _apart(folder / name, [*others, *(p for p in folder.glob("eval_*.csv") if p.name != name)])
