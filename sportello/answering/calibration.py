"""The fused answerer's operating point, and fitting it on the labelled examples (offline only).

A `Calibration` holds the weights of the intent score, a logistic rule over the decision features
(sportello/answering/evidence.py) and the threshold on its P(right). `calibrate_examples` fits them by
cross-validation on the labelled examples only, never on an evaluation file (see the docstring of
sportello/answering/semantic.py); `saved` finds the operating point in use (a cache directory's, else the
shipped semantic_calibration.json) and `save` keeps a new one.
"""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import numpy as np

from sportello.domain.intents import ESCALATE

from .evaluation import outcome
from .evidence import (  # noqa: F401  (Calibration and NEUTRAL: the operating point, re-exported where it is fitted)
    DECISION_FEATURES,
    FEATURE_VERSION,
    NEUTRAL,
    Calibration,
    Parts,
    decide,
    example_parts,
    lexical_confidence,
)
from .evidence import interactions as expand
from .retrieval import KBIndex

CALIBRATION_FILE = "e5-calibration.json"  # in a cache directory


# The shipped operating point: fitted by `calibrate()` (5-fold CV) on data/examples.csv, which holds only the
# development cases (tests/data/eval_dev, eval_test, eval_dev_oos, eval_holdout, eval_holdout2). A
# calibration saved in a cache directory (`calibrate()`, `python -m sportello eval --calibrate`) wins over it.
SHIPPED_CALIBRATION = Path(__file__).with_name("semantic_calibration.json")
# The operating point of a KB with (almost) no labelled examples of its own (a new venue: `cold`): fitted by
# `python -m sportello.answering.fit_cold` on the labelled pools of the two development venues
# (tests/data/venues/{garden,science}/label_pool.csv, each with its KB and no examples), with the literal
# features (evidence.LITERAL_FEATURES). Garden and science are different kinds of venue: fitted on one and scored
# on the other, it answered fewer questions but far fewer wrongly than the demo's operating point.
SHIPPED_COLD_CALIBRATION = Path(__file__).with_name("semantic_calibration_cold.json")


def saved(cache_dirs, cold: bool = False) -> Calibration | None:
    """The operating point in use: the first readable one of this feature version in a cache directory,
    else the shipped one (for a KB without its own examples, `cold`, the cold one); None when there is none."""
    shipped = [SHIPPED_COLD_CALIBRATION, SHIPPED_CALIBRATION] if cold else [SHIPPED_CALIBRATION]
    for p in [Path(d) / CALIBRATION_FILE for d in cache_dirs] + shipped:
        try:
            cal = Calibration.from_json(p.read_text(encoding="utf-8"))
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if cal.valid():
            return cal
    return None


def save(cal: Calibration, cache_dirs) -> None:
    """Keep the operating point in the first writable cache directory."""
    for d in cache_dirs:
        d = Path(d)
        try:
            d.mkdir(parents=True, exist_ok=True)
            (d / CALIBRATION_FILE).write_text(cal.to_json(), encoding="utf-8")
            break
        except OSError:
            continue


# -- fitting -------------------------------------------------------------------------------------------------

WEIGHT_TIE = 0.005
WEIGHT_GRID = [
    (1.0, wp, wa, we) for wp in (0.0, 1.0, 2.0, 4.0, 8.0) for wa in (0.0, 1.0, 2.0) for we in (0.0, 1.0, 2.0, 4.0, 8.0)
]


def _standard(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each column's mean and spread (1 where a column is constant), to standardise it."""
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    return mean, scale


def _fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1.0, iters: int = 50, clip: float | None = None):
    """L2 logistic regression on the standardised features (clipped to [-clip, clip] when set, as
    `Calibration.probability` then reads them); returns mean, scale and coefficients (intercept first)."""
    mean, scale = _standard(x)
    z = (x - mean) / scale
    if clip:
        z = np.clip(z, -clip, clip)
    z = np.column_stack([np.ones(len(x)), z])
    w = np.zeros(z.shape[1])
    reg = np.full(z.shape[1], l2)
    reg[0] = 0.0
    for _ in range(iters):  # Newton-Raphson with an L2 penalty
        p = 1.0 / (1.0 + np.exp(-np.clip(z @ w, -30, 30)))
        grad = z.T @ (p - y) + reg * w
        hess = (z * (p * (1 - p))[:, None]).T @ z + np.diag(reg + 1e-9)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return tuple(mean), tuple(scale), tuple(w)


def _metrics(expected: list[str], got: list[str]) -> tuple[float, float, float]:
    """Answerable accuracy, escalation recall, wrong confident rate; got is an intent or 'escalate'."""
    ans = [e != ESCALATE for e in expected]
    n_ans = sum(ans)
    n_esc = len(expected) - n_ans
    acc = sum(1 for e, g, a in zip(expected, got, ans, strict=True) if a and g == e) / max(n_ans, 1)
    rec = sum(1 for e, g in zip(expected, got, strict=True) if e == ESCALATE and g == ESCALATE) / max(n_esc, 1)
    wrong = sum(1 for e, g in zip(expected, got, strict=True) if g != ESCALATE and g != e) / max(len(expected), 1)
    return acc, rec, wrong


def _choose_threshold(expected, fixed, best_intents, probs, max_wrong=0.01, min_recall=0.9) -> float:
    """Like evaluation.choose_threshold: the best accuracy - 2 * wrong with wrong <= max_wrong and recall >=
    min_recall; ties go to the middle of the best plateau. `fixed` is the rules' outcome (None: fused decides).
    The same figures as `_metrics` of each threshold's outcomes, counted at once over the rows."""
    e = np.asarray(expected, dtype=object)
    f = np.asarray(fixed, dtype=object)
    b = np.asarray(best_intents, dtype=object)
    p = np.asarray(probs, dtype=float)
    must = e == ESCALATE
    n_ans, n_esc, n = int((~must).sum()), int(must.sum()), len(e)
    fused = np.array([v is None for v in fixed], dtype=bool)
    ruled = ~fused
    # The rules' rows do not move with the threshold; a fused row answers with its best intent at p >= t.
    base_right = int((ruled & ~must & (f == e)).sum())
    base_esc = int((ruled & must & (f == ESCALATE)).sum())
    base_wrong = int((ruled & (f != ESCALATE) & (f != e)).sum())
    b_right, b_esc, b_wrong = (
        fused & ~must & (b == e),
        fused & must & (b == ESCALATE),
        fused & (b != ESCALATE) & (b != e),
    )
    scored = []
    for t in [i / 100 for i in range(5, 100)]:
        answered = p >= t
        acc = (base_right + int((b_right & answered).sum())) / max(n_ans, 1)
        esc = base_esc + int((fused & must & ~answered).sum()) + int((b_esc & answered).sum())
        rec = esc / max(n_esc, 1)
        wrong = (base_wrong + int((b_wrong & answered).sum())) / max(n, 1)
        scored.append(((wrong <= max_wrong and rec >= min_recall, round(acc - 2 * wrong, 6)), t))
    best = max(key for key, _ in scored)
    plateau = [t for key, t in scored if key == best]
    return plateau[len(plateau) // 2]


# The L2 penalty of a rule with interactions (`Calibration.interactions`): 230 coefficients from ~3,400 examples.
# 100 (scikit-learn's C = 0.01) did best in 5-fold CV of the rule alone on the demo's examples: AUC 0.891 (linear
# rule: 0.881), right at <= 2 % wrong 59.1 % (56.9 %); 10 gave 0.889 / 57.9 %.
INTERACTION_L2 = 100.0


def _rule(weights, x: np.ndarray, y: np.ndarray, features, interactions: bool) -> Calibration:
    """The logistic rule over the decision features `x` (one column per ALL_FEATURES), threshold 0.5."""
    shape = Calibration(weights, (0.0,) * len(features), (1.0,) * len(features), (0.0,), 0.5, features=features)
    cols = shape.columns(x)
    if not interactions:
        mean, scale, coef = _fit_logistic(cols, y)
        return replace(shape, mean=mean, scale=scale, coef=coef)
    mean, scale = _standard(cols)
    mean2, scale2, coef = _fit_logistic(expand((cols - mean) / scale), y, l2=INTERACTION_L2)
    return replace(
        shape, mean=tuple(mean), scale=tuple(scale), coef=coef, interactions=True, mean2=mean2, scale2=scale2
    )


def _fit(
    rows_parts,
    expected_rows,
    index: KBIndex,
    all_expected,
    all_fixed,
    fused_pos,
    features=DECISION_FEATURES,
    interactions: bool = False,
    **choose,
) -> Calibration:
    """Fit weights (grid, best top-1 accuracy on answerable rows), the logistic rule and the threshold."""
    parts = rows_parts
    intents = index.intents
    ans_rows = np.array([e != ESCALATE for e in expected_rows])
    target = np.array([index.intent_idx.get(e, -1) for e in expected_rows])
    accs = []
    for w in WEIGHT_GRID:
        score = w[0] * parts.lexical + w[1] * parts.phrase + w[2] * parts.answer + w[3] * parts.example
        score = np.where(parts.allowed, score, -np.inf)
        accs.append(float((score.argmax(axis=1)[ans_rows] == target[ans_rows]).mean()) if ans_rows.any() else 0.0)
    # The lexicon was built from the development cases, so on them the lexical part looks better than on new
    # wording: among weights within WEIGHT_TIE of the best, take the one leaning most on similarity.
    top = max(accs)
    near = [w for w, acc in zip(WEIGHT_GRID, accs, strict=True) if acc >= top - WEIGHT_TIE]
    best_w = max(near, key=lambda w: (w[1] + w[2] + w[3], -w[2]))
    tmp = Calibration(
        best_w, (0.0,) * len(features), (1.0,) * len(features), (0.0,) * (len(features) + 1), 0.5, features=features
    )
    best, x, _ = decide(parts, tmp, lexical_confidence)
    y = (best == target).astype(float)
    cal = _rule(best_w, x, y, features, interactions)
    probs = cal.probability(x)
    best_names = [intents[b] for b in best]
    # The threshold is chosen over all training cases, the rule-decided ones included (they count in the metrics).
    full_best = [None] * len(all_expected)
    full_prob = [0.0] * len(all_expected)
    for r, pos in enumerate(fused_pos):
        full_best[pos] = best_names[r]
        full_prob[pos] = float(probs[r])
    threshold = _choose_threshold(all_expected, all_fixed, full_best, full_prob, **choose)
    return replace(cal, threshold=threshold)


def _subset(parts: Parts, rows) -> Parts:
    return Parts(*(getattr(parts, f)[rows] for f in Parts.__dataclass_fields__))


# Examples this similar are near-duplicates ("ticket price" / "ticket prices"): they share a fold, so that
# cross-validation never scores a question with its own twin in the memory and over-trusts the examples.
TWIN_SIMILARITY = 0.95


def twin_groups(vecs: np.ndarray) -> list[list[int]]:
    """The examples in groups of near-duplicates (cosine >= TWIN_SIMILARITY, transitively), in index order."""
    n = len(vecs)
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    if n:
        rows, cols = np.nonzero(vecs @ vecs.T >= TWIN_SIMILARITY)  # row-major, as the upper triangle's pairs
        upper = rows < cols
        for i, j in zip(rows[upper].tolist(), cols[upper].tolist(), strict=True):
            parent[root(i)] = root(j)
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(root(i), []).append(i)
    return list(groups.values())


def grouped_folds(vecs: np.ndarray, k: int, seed: int = 0, groups: list[list[int]] | None = None) -> np.ndarray:
    """A fold per example; near-duplicates (`twin_groups`, or `groups` when already known) share one."""
    n = len(vecs)
    members = list(groups if groups is not None else twin_groups(vecs))  # shuffled and sorted here, never the groups
    random.Random(seed).shuffle(members)
    members.sort(key=len, reverse=True)  # big groups first, each to the smallest fold so far (stable: shuffled ties)
    fold_of = np.empty(n, dtype=np.int32)
    sizes = [0] * k
    for group in members:
        f = min(range(k), key=lambda g: sizes[g])
        fold_of[group] = f
        sizes[f] += len(group)
    return fold_of


def calibrate_examples(
    answerer,
    state,
    k: int = 5,
    seed: int = 0,
    repeats: int = 3,
    features=DECISION_FEATURES,
    interactions: bool = False,
    **choose,
) -> Calibration:
    examples = state.examples
    index = state.index
    if len(examples) < 2 * k:
        raise ValueError(f"calibration needs at least {2 * k} labelled examples, found {len(examples)}")
    # Rules first, as at answer time: the rule-decided examples are fixed outcomes.
    fixed: list[str | None] = []
    texts, langs, fused_pos = [], [], []
    for pos, x in enumerate(examples):
        _, text, lang, early = answerer.prepare(x.question, x.lang or None)
        if early is not None:
            fixed.append(outcome(early, x.expected))
        else:
            fixed.append(None)
            texts.append(text)
            langs.append(lang)
            fused_pos.append(pos)
    expected = [x.expected for x in examples]
    # The question's own vector is its example vector (same text, same "query" kind).
    vecs = state.example_vecs[fused_pos]
    # Per-row lexical and KB parts do not depend on the examples; example parts are recomputed per memory.
    base = answerer.evidence(state, texts, langs, vecs, ex_mask=np.zeros(len(examples), dtype=bool))
    sims = vecs @ state.example_vecs.T
    n = len(index.intents)
    fused_expected = [expected[p] for p in fused_pos]
    metrics, thresholds, final = [], [], None
    twins = twin_groups(state.example_vecs)  # the same for every repeat
    for repeat in range(repeats):  # repeated CV: the operating point's threshold is the median of all folds'
        fold_of = grouped_folds(state.example_vecs, k, seed + repeat, twins)
        fused_fold = fold_of[fused_pos]

        def parts_with_memory(rows: np.ndarray, memory: np.ndarray) -> Parts:
            p = _subset(base, rows)
            p.example, p.escalate, p.escalate3 = example_parts(
                sims[rows][:, memory], state.example_label[memory], n, p.phrase
            )
            return p

        held_got: dict[int, str] = {}
        for f in range(k):
            train_parts, train_rows_expected = [], []
            for g in range(k):
                if g == f:
                    continue
                rows = np.where(fused_fold == g)[0]
                memory = (fold_of != f) & (fold_of != g)
                train_parts.append(parts_with_memory(rows, memory))
                train_rows_expected += [fused_expected[r] for r in rows]
            tp = Parts(*(np.concatenate([getattr(p, fld) for p in train_parts]) for fld in Parts.__dataclass_fields__))
            train_pos = [p for p in range(len(examples)) if fold_of[p] != f]
            # train_pos keeps the example order; the fused rows inside it must follow the same order as tp.
            tp_positions = [fused_pos[r] for g in range(k) if g != f for r in np.where(fused_fold == g)[0]]
            remap = {pos: i for i, pos in enumerate(train_pos)}
            cal = _fit(
                tp,
                train_rows_expected,
                index,
                [expected[p] for p in train_pos],
                [fixed[p] for p in train_pos],
                [remap[p] for p in tp_positions],
                features=features,
                interactions=interactions,
                **choose,
            )
            thresholds.append(cal.threshold)
            rows = np.where(fused_fold == f)[0]
            best, _, prob = decide(parts_with_memory(rows, fold_of != f), cal, lexical_confidence)
            for r, b, p in zip(rows, best, prob, strict=True):
                held_got[fused_pos[r]] = index.intents[b] if p >= cal.threshold else ESCALATE
        got = [fixed[p] if fixed[p] is not None else held_got[p] for p in range(len(examples))]
        metrics.append(_metrics(expected, got))
        if repeat:
            continue
        answerer.cv_misses = [
            (x.question, x.expected, g) for x, g in zip(examples, got, strict=True) if g != x.expected
        ]
        # The operating point: fitted on all examples, each scored with the other folds as memory.
        all_parts = []
        all_rows_expected = []
        all_positions = []
        for g in range(k):
            rows = np.where(fused_fold == g)[0]
            all_parts.append(parts_with_memory(rows, fold_of != g))
            all_rows_expected += [fused_expected[r] for r in rows]
            all_positions += [fused_pos[r] for r in rows]
        ap = Parts(*(np.concatenate([getattr(p, fld) for p in all_parts]) for fld in Parts.__dataclass_fields__))
        final = _fit(
            ap,
            all_rows_expected,
            index,
            expected,
            fixed,
            all_positions,
            features=features,
            interactions=interactions,
            **choose,
        )
    acc, rec, wrong = (float(np.mean([m[i] for m in metrics])) for i in range(3))
    threshold = float(np.median(thresholds))
    cv = {
        "k": k,
        "examples": len(examples),
        "accuracy": round(acc, 4),
        "recall": round(rec, 4),
        "wrong": round(wrong, 4),
        "repeats": repeats,
        "thresholds": thresholds,
    }
    return replace(final, threshold=round(threshold, 2), cv=cv)
