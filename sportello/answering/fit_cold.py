"""Fit the cold operating point: the found/not-found rule for a KB without labelled examples of its own.

    python -m sportello.answering.fit_cold [--check [--cases eval_blindN.csv]] [--write]

A new venue's KB has no example memory, so the demo's operating point (fitted on the demo's own examples, whose
lexicon and memory make its evidence look surer than it is on a new KB) answers near-misses confidently. This
fits the same kind of rule (logistic, over the decision features and the literal ones, `evidence.ALL_FEATURES`)
on labelled questions of several venues, each answered from its own KB with no examples but the generic
must-escalate ones: by default the development pools of the garden, the science centre, the castle, the zoo and
the archaeological park (tests/data/venues/*/label_pool.csv), never a blind set. The intent score weights are the grid point
(calibration.WEIGHT_GRID) that ranks the expected intent first most often on the training venues (on a KB without
examples the lexical score and the answer similarity count for more than on the demo's). The threshold is the best answerable accuracy - 2 x wrong with <= MAX_WRONG wrong confident answers and >= 90 %
escalation recall on the training questions; each standardised feature is clipped to [-CLIP, CLIP] (a value far
outside the training venues' range cannot carry the decision alone). With each venue's `generated_examples.csv` (an
LLM's questions, approved as the learning loop stores them) the same rule's threshold is chosen again on those
venues' pools answered with that memory: `Calibration.generated_threshold`, used for a cold KB with as many of an
LLM's examples an intent as would make it warm (`semantic._threshold`). `--check` leaves each venue out in turn:
fitted on the others, scored on it (a venue nothing was fitted on), without and with its LLM's examples; `--write`
saves the rule fitted on all of them as semantic_calibration_cold.json.
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sportello.domain.intents import ESCALATE

from . import contrast
from .calibration import (
    SHIPPED_CALIBRATION,
    SHIPPED_COLD_CALIBRATION,
    WEIGHT_GRID,
    Calibration,
    _choose_threshold,
    _fit_logistic,
)
from .evaluation import load_cases, outcome
from .evidence import ALL_FEATURES, Parts, decide, lexical_confidence
from .examples import GENERATED, Example, read_examples, write_examples
from .kb import phrasing_rows, read_kb, write_kb

REPO = Path(__file__).resolve().parents[2]
# Every venue of tests/data/venues/ with a KB and a labelled development pool (its README): garden, science centre,
# castle, zoo, archaeological park, show cave, opera house, cathedral.
VENUES = {
    folder.name: (folder / "faq.csv", folder / "label_pool.csv")
    for folder in sorted((REPO / "tests/data/venues").iterdir())
    if (folder / "faq.csv").is_file() and (folder / "label_pool.csv").is_file()
}
MAX_WRONG = 0.02
# A venue's LLM-written examples (`python -m sportello kb examples`: 12 an intent, from the KB and the command's prompt).
GENERATED_FILE = "generated_examples.csv"
L2 = 1.0
# Each standardised feature is clipped to [-CLIP, CLIP] (`Calibration.clip`), in the fit and at answer time. Three
# venues are few: a feature almost constant on the training venues (one question with proper nouns in the science
# and castle pools, answered right) got a weight that, at 8 proper nouns' worth of penalty on a new venue (z of
# 37), answered "avete la rosa Pierre de Ronsard nel roseto?" with P(right) 1.00. Left out in turn (issue 25),
# clipping at 2.5-5 gave the same right rate within a question or two and garden's wrong answers went from 3.5 %
# to 1-1.5 % (escalated when it must: 87 % to 96-98 %); science and castle moved by at most one question.
CLIP = 3.0


@dataclass
class VenueRows:
    expected: list[str]
    fixed: list[str | None]  # the rules' outcome, None where the fused answerer decides
    parts: Parts  # the evidence of the fused rows
    intents: list[str]
    fused: list[int]  # positions of the fused rows
    questions: list[str] = field(default_factory=list)
    classes: list[dict] = field(default_factory=list)  # each intent's languages, diets, ways to pay (`KBIndex`)
    best: list[str | None] = field(default_factory=list)  # at `weights` (`at`)
    hedged: set[int] = field(default_factory=set)  # rows whose reply is hedged whatever its P(right), at `weights`
    x: np.ndarray = field(default_factory=lambda: np.zeros((0, len(ALL_FEATURES))))  # (fused rows, ALL_FEATURES)
    weights: tuple = ()

    def at(self, weights) -> VenueRows:
        """The best intent and the decision features of every fused row with these intent score weights."""
        if tuple(weights) != self.weights:
            probe = Calibration(tuple(weights), (0.0,), (1.0,), (0.0, 0.0), 0.5, features=ALL_FEATURES[:1])
            b, x, _ = decide(self.parts, probe, lexical_confidence)
            names = iter(self.intents[int(i)] for i in b)
            self.best = [None if f is not None else next(names) for f in self.fixed]
            # A reply hedged by `contrast` (a language, diet or way to pay the answer does not name) escalates.
            self.hedged = {
                p for p, i in zip(self.fused, b, strict=True) if contrast.uncovered(self.questions[p], self.classes[i])
            }
            self.x, self.weights = x, tuple(weights)
        return self

    def probabilities(self, cal: Calibration, x: np.ndarray) -> dict[int, float]:
        """P(right) of each fused row by `cal` (its features `x`); 0 for a hedged reply, which escalates."""
        return {p: 0.0 if p in self.hedged else v for p, v in zip(self.fused, cal.probability(x), strict=True)}

    def top1(self, weights) -> float:
        """How often these weights rank the expected intent first, over the answerable fused rows."""
        self.at(weights)
        ans = [p for p in self.fused if self.expected[p] != ESCALATE]
        return sum(self.best[p] == self.expected[p] for p in ans) / max(len(ans), 1)


def _learned_files(tmp: Path, kb: Path, generated: Path, cases_path: Path) -> tuple[Path, Path]:
    """An LLM's examples as the learning loop writes them once an admin approved them (`learned_examples.csv` with
    source `llm`, and each intent's questions as phrasings in `learned_kb.csv`), the cases' own questions left out."""
    asked = {c.question.strip().casefold() for c in load_cases(cases_path)}
    xs = [x for x in read_examples(generated) if x.question.strip().casefold() not in asked and x.expected != ESCALATE]
    write_examples(tmp / "learned_examples.csv", [Example(x.question, x.lang, x.expected, GENERATED) for x in xs])
    answers = {(e.intent, e.lang): e.answer for e in reversed(read_kb(kb).entries)}
    items = [
        (f"learned-{i}", x.expected, x.lang, x.question, answers[(x.expected, x.lang)])
        for i, x in enumerate(xs)
        if (x.expected, x.lang) in answers
    ]
    write_kb(tmp / "learned_kb.csv", phrasing_rows(items))
    return tmp / "learned_examples.csv", tmp / "learned_kb.csv"


def venue_rows(kb: Path, cases_path: Path, base: Calibration, generated: Path | None = None) -> VenueRows:
    """Each case of `cases_path` asked of the venue's KB with no examples of its own, or (`generated`) with an LLM's
    examples approved (`_learned_files`)."""
    from .semantic import SemanticAnswerer, load_encoder

    with tempfile.TemporaryDirectory() as tmp:
        learned, learned_kb = _learned_files(Path(tmp), kb, generated, cases_path) if generated else (None, None)
        ans = SemanticAnswerer(
            path=kb,
            encoder=load_encoder(),
            examples_path=None,
            learned_examples_path=learned,
            extra_paths=[learned_kb] if learned_kb else [],
            cache_dirs=[Path(tmp), kb.parent / "cache", REPO / "data" / "cache"],
            calibration=base,
        )
        state = ans._refresh(force=True)
        expected, fixed, parts, fused, questions = [], [], [], [], []
        for pos, c in enumerate(load_cases(cases_path)):
            index, text, lang, early = ans.prepare(c.question, c.lang)
            expected.append(c.expected)
            questions.append(text)
            if early is not None:  # a rule's reply (an out-of-scope match escalates too, with suggestions)
                fixed.append(outcome(early, c.expected))
                continue
            parts.append(ans.evidence(state, [text], [lang], ans._query_vec(text)[None, :]))
            fixed.append(None)
            fused.append(pos)
        joined = Parts(*(np.concatenate([getattr(p, f) for p in parts]) for f in Parts.__dataclass_fields__))
    rows = VenueRows(expected, fixed, joined, list(index.intents), fused, questions, index.classes)
    return rows.at(base.weights)


def choose_weights(rows: list[VenueRows]) -> tuple:
    """The intent score weights (calibration.WEIGHT_GRID) that rank the expected intent first most often, averaged
    over the venues (each venue counts the same); ties go to the first in the grid."""
    return max(WEIGHT_GRID, key=lambda w: round(float(np.mean([r.top1(w) for r in rows])), 6))


def fit(
    rows: list[VenueRows], base: Calibration, features=ALL_FEATURES, weights=None, taught: list[VenueRows] = ()
) -> Calibration:
    """The rule and its threshold fitted on `rows` (venues without examples); with `taught` (the same kind of venues
    with an LLM's examples approved), also the threshold for such a venue (`Calibration.generated_threshold`): the
    same rule, chosen on those rows with the same limits."""
    weights = tuple(weights or choose_weights(rows))
    rows = [r.at(weights) for r in rows]
    cols = [ALL_FEATURES.index(f) for f in features]
    x = np.concatenate([r.x[:, cols] for r in rows])
    y = np.concatenate([[float(r.best[p] == r.expected[p]) for p in r.fused] for r in rows])
    mean, scale, coef = _fit_logistic(x, y, l2=L2, clip=CLIP)
    cal = Calibration(weights, mean, scale, coef, 0.5, features=tuple(features), clip=CLIP)
    threshold = _threshold_on(rows, cal, cols)
    generated = _threshold_on([r.at(weights) for r in taught], cal, cols) if taught else None
    return Calibration(
        weights, mean, scale, coef, threshold, features=tuple(features), clip=CLIP, generated_threshold=generated
    )


def _threshold_on(rows: list[VenueRows], cal: Calibration, cols: list[int]) -> float:
    expected, fixed, best, prob = [], [], [], []
    for r in rows:
        p = r.probabilities(cal, r.x[:, cols])
        expected += r.expected
        fixed += r.fixed
        best += r.best
        prob += [float(p.get(i, 0.0)) for i in range(len(r.expected))]
    return _choose_threshold(expected, fixed, best, prob, max_wrong=MAX_WRONG)


def score(r: VenueRows, cal: Calibration, threshold: float | None = None) -> str:
    r.at(cal.weights)
    prob = r.probabilities(cal, r.x)
    threshold = cal.threshold if threshold is None else threshold
    ans = right = must = esc = wrong = 0
    for i, e in enumerate(r.expected):
        got = r.fixed[i] if r.fixed[i] is not None else (r.best[i] if prob[i] >= threshold else ESCALATE)
        if e == ESCALATE:
            must += 1
            esc += got == ESCALATE
        else:
            ans += 1
            right += got == e
        wrong += got not in (ESCALATE, e)
    return (
        f"right {right / max(ans, 1):.1%}, escalated {esc / max(must, 1):.1%}, "
        f"wrong {wrong / max(len(r.expected), 1):.1%}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sportello.answering.fit_cold")
    parser.add_argument("--check", action="store_true", help="leave one venue out: fit on the others, score it")
    parser.add_argument("--write", action="store_true", help=f"write {SHIPPED_COLD_CALIBRATION.name}")
    parser.add_argument(
        "--cases",
        help="with --check, also score each left-out venue's evaluation file of this name (e.g. eval_blind3.csv) "
        "with the rule fitted without that venue: a venue nothing was fitted on",
    )
    args = parser.parse_args(argv)
    # The intent score weights of the cold rule in use (else the shipped warm one's): the demo's operating point
    # may be refitted with other weights without moving a new venue's ranking.
    source = SHIPPED_COLD_CALIBRATION if SHIPPED_COLD_CALIBRATION.is_file() else SHIPPED_CALIBRATION
    base = Calibration.from_json(source.read_text(encoding="utf-8"))
    rows = {name: venue_rows(kb, cases, base) for name, (kb, cases) in VENUES.items()}
    taught = {
        name: venue_rows(kb, cases, base, kb.parent / GENERATED_FILE)
        for name, (kb, cases) in VENUES.items()
        if (kb.parent / GENERATED_FILE).is_file()
    }
    if args.check:
        for held in rows:
            cal = fit(
                [r for name, r in rows.items() if name != held],
                base,
                taught=[r for name, r in taught.items() if name != held],
            )
            print(
                f"fitted without {held} (weights {cal.weights}, threshold {cal.threshold:.2f}), "
                f"scored on {held}: {score(rows[held], cal)}; first-ranked right {rows[held].top1(cal.weights):.1%}"
            )
            if held in taught:
                print(
                    f"    with an LLM's examples approved: at the threshold {cal.threshold:.2f} "
                    f"{score(taught[held], cal)}; at {cal.generated_threshold:.2f} "
                    f"{score(taught[held], cal, cal.generated_threshold)}"
                )
            if args.cases and (VENUES[held][0].parent / args.cases).is_file():
                kb = VENUES[held][0]
                blind = venue_rows(kb, kb.parent / args.cases, base)
                print(f"    {held} {args.cases}, the same rule: {score(blind, cal)}")
    cal = fit(list(rows.values()), base, taught=list(taught.values()))
    for name, r in rows.items():
        print(
            f"fitted on all, {name} (training data): {score(r, cal)}; weights {cal.weights}, threshold {cal.threshold:.2f}"
        )
    if args.write:
        SHIPPED_COLD_CALIBRATION.write_text(cal.to_json() + "\n", encoding="utf-8")
        print(f"wrote {SHIPPED_COLD_CALIBRATION}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
