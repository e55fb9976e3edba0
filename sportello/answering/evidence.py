"""The evidence the fused answerer weighs for each intent, and the decision features read from it.

For each question and intent (sportello/answering/semantic.py computes them): the lexical score, the
similarity to the intent's KB phrasings, to its answers and to its labelled examples, and how close the
nearest must-escalate example is. `decide` ranks the intents with a calibration's weights and reads the
features of the best one, on which the calibration's rule (sportello/answering/calibration.py) says how
likely the answer is right.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import numpy as np

from .retrieval import KBIndex

FEATURE_VERSION = 1  # bump when the features change: a saved calibration of another version is ignored

# Decision features (for the best intent): score margin, lexical score, phrasing / answer / example
# similarity, nearest must-escalate example (max and mean of the 3 nearest), and how much closer that is
# than the best intent's own examples and phrasings; proper-noun penalty; lexical calibrated confidence.
DECISION_FEATURES = (
    "margin",
    "lexical",
    "phrase",
    "answer",
    "example",
    "escalate",
    "escalate3",
    "escalate_minus_example",
    "escalate_minus_phrase",
    "proper_nouns",
    "lexical_confidence",
)
# More features a calibration may use (`Calibration.features`): how many content words of the question the best
# intent's own text (KB questions, answer, name) never uses, that count over the question's content words, and
# whether there is one. Near-misses ("vegan options at the café", "tours in Spanish") ask for such a word.
LITERAL_FEATURES = ("literal_missing", "literal_missing_share", "literal_missing_any")
# Whether each part alone ranks the best intent first (lexical, phrasing, answer similarity), and how far the best
# intent's phrasing similarity is ahead of the next intent's: new wording that every part agrees on is right more
# often than a fused score carried by one part.
AGREEMENT_FEATURES = ("agree_lexical", "agree_phrase", "agree_answer", "phrase_margin")
# How close the question is to the best intent's nearest answer sentence (the answer split into sentences, each
# embedded as a passage), and how far ahead of any other intent's nearest sentence: a question about a detail that
# one sentence of the answer states is covered; a near-miss asks for something no sentence says.
SENTENCE_FEATURES = ("sentence", "sentence_margin")
ALL_FEATURES = DECISION_FEATURES + LITERAL_FEATURES + AGREEMENT_FEATURES + SENTENCE_FEATURES


def group_max(sims: np.ndarray, groups: np.ndarray, n: int, fill: float = np.nan) -> np.ndarray:
    """sims (rows, items) -> (rows, n): the max over the items of each group (groups < 0 are skipped)."""
    out = np.full((sims.shape[0], n), fill, dtype=np.float64)
    keep = np.where(groups >= 0)[0]
    if not len(keep) or not sims.shape[0]:
        return out
    order = keep[np.argsort(groups[keep], kind="stable")]
    sorted_groups = groups[order]
    starts = np.flatnonzero(np.r_[True, sorted_groups[1:] != sorted_groups[:-1]])
    out[:, sorted_groups[starts]] = np.maximum.reduceat(sims[:, order], starts, axis=1)
    return out


@dataclass
class Parts:
    """Per-question evidence for all intents (rows = questions)."""

    lexical: np.ndarray  # (rows, n)
    penalty: np.ndarray  # (rows,)
    phrase: np.ndarray  # (rows, n)
    answer: np.ndarray  # (rows, n)
    example: np.ndarray  # (rows, n), the phrasing similarity where an intent has no example
    escalate: np.ndarray  # (rows,)
    escalate3: np.ndarray  # (rows,)
    allowed: np.ndarray  # (rows, n) bool: small-talk intents only with a greeting/thanks cue
    missing: np.ndarray  # (rows, n): the question's content words each intent never uses (`KBIndex.literal_missing`)
    asked: np.ndarray  # (rows,): the question's content words
    sentence: np.ndarray  # (rows, n): the similarity to the intent's nearest answer sentence


def example_parts(sims: np.ndarray, labels: np.ndarray, n: int, phrase: np.ndarray):
    example = group_max(sims, labels, n)
    example = np.where(np.isnan(example), phrase, example)
    esc = sims[:, labels < 0]
    if esc.shape[1]:
        top = -np.sort(-esc, axis=1)[:, :3]
        escalate, escalate3 = top[:, 0], top.mean(axis=1)
    else:
        escalate = escalate3 = np.zeros(sims.shape[0])
    return example, escalate, escalate3


def fused_scores(parts: Parts, cal: Calibration) -> np.ndarray:
    """Every intent's fused score (rows, n); -inf for intents not allowed (small talk without a cue)."""
    wl, wp, wa, we = cal.weights
    score = wl * parts.lexical + wp * parts.phrase + wa * parts.answer + we * parts.example
    return np.where(parts.allowed, score, -np.inf)


def decide(parts: Parts, cal: Calibration, lex_conf_fn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Best intent, its decision features and P(right), for every row."""
    score = fused_scores(parts, cal)
    order = np.argsort(-score, axis=1)
    rows = np.arange(score.shape[0])
    best, second = order[:, 0], order[:, 1] if score.shape[1] > 1 else order[:, 0]
    margin = score[rows, best] - np.where(np.isfinite(score[rows, second]), score[rows, second], score[rows, best])
    phrase = np.where(parts.allowed, parts.phrase, -np.inf)
    phrase_margin = _ahead(phrase, rows, best)
    sentence_margin = _ahead(np.where(parts.allowed, parts.sentence, -np.inf), rows, best)
    x = np.column_stack(
        [
            margin,
            parts.lexical[rows, best],
            parts.phrase[rows, best],
            parts.answer[rows, best],
            parts.example[rows, best],
            parts.escalate,
            parts.escalate3,
            parts.escalate - parts.example[rows, best],
            parts.escalate - parts.phrase[rows, best],
            parts.penalty,
            lex_conf_fn(parts, rows, best),
            parts.missing[rows, best],
            parts.missing[rows, best] / np.maximum(parts.asked, 1),
            (parts.missing[rows, best] > 0).astype(float),
            (np.where(parts.allowed, parts.lexical, -np.inf).argmax(axis=1) == best).astype(float),
            (phrase.argmax(axis=1) == best).astype(float),
            (np.where(parts.allowed, parts.answer, -np.inf).argmax(axis=1) == best).astype(float),
            phrase_margin,
            parts.sentence[rows, best],
            sentence_margin,
        ]
    )
    return best, x, cal.probability(x)


def _ahead(values: np.ndarray, rows: np.ndarray, best: np.ndarray) -> np.ndarray:
    """How far the best intent's value is ahead of every other allowed intent's (0 when there is none)."""
    others = values.copy()
    others[rows, best] = -np.inf
    runner_up = others.max(axis=1) if values.shape[1] > 1 else values[rows, best]
    return values[rows, best] - np.where(np.isfinite(runner_up), runner_up, values[rows, best])


def lexical_confidence(parts: Parts, rows: np.ndarray, best: np.ndarray) -> np.ndarray:
    lex = np.where(parts.allowed, parts.lexical, 0.0)
    top2 = -np.sort(-lex, axis=1)[:, :2]
    own = lex[rows, best]
    runner = np.where(np.isclose(own, top2[:, 0]), top2[:, 1] if lex.shape[1] > 1 else 0.0, top2[:, 0])
    return np.array([KBIndex._calibrate(o, o - r, p) for o, r, p in zip(own, runner, parts.penalty, strict=True)])


def interactions(z: np.ndarray) -> np.ndarray:
    """(rows, n) -> (rows, n + n (n + 1) / 2): the columns, then every product of two of them (squares too)."""
    i, j = np.triu_indices(z.shape[1])
    return np.column_stack([z, z[:, i] * z[:, j]])


@dataclass(frozen=True)
class Calibration:
    weights: tuple[float, float, float, float]  # lexical, phrasing, answer, example
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]  # intercept first, then one per DECISION_FEATURES
    threshold: float
    cv: dict = field(default_factory=dict)  # the cross-validated metrics and per-fold choices
    version: int = FEATURE_VERSION
    features: tuple[str, ...] = DECISION_FEATURES  # the rule's features, in coef order (names of ALL_FEATURES)
    # When set, each standardised feature is clipped to [-clip, clip] before the rule weighs it: a value far outside
    # what the rule was fitted on (e.g. proper nouns, seen on one training question of the venues) cannot carry
    # the decision alone. None: not clipped (the demo's rule, fitted on 1,674 examples).
    clip: float | None = None
    # When set (the demo's rule), the rule also weighs every product of two standardised features (squares too):
    # `interactions` expands them and they are standardised again by `mean2` / `scale2`. A high phrasing similarity
    # means more when the nearest must-escalate example is far than when it is close; a linear rule cannot say so.
    interactions: bool = False
    mean2: tuple[float, ...] = ()
    scale2: tuple[float, ...] = ()
    # The threshold for a cold KB whose memory holds an LLM's approved examples (`kb examples`, 10 or more an intent:
    # `semantic._threshold`), chosen on rows answered with such a memory; None: `threshold` there too.
    generated_threshold: float | None = None

    def columns(self, x: np.ndarray) -> np.ndarray:
        """The columns of `x` (one per ALL_FEATURES, as `decide` builds it) this rule reads."""
        if x.shape[1] == len(self.features):
            return x
        return x[:, [ALL_FEATURES.index(f) for f in self.features]]

    def probability(self, x: np.ndarray) -> np.ndarray:
        x = self.columns(x)
        z = (x - np.asarray(self.mean)) / np.asarray(self.scale)
        if self.clip:
            z = np.clip(z, -self.clip, self.clip)
        if self.interactions:
            z = (interactions(z) - np.asarray(self.mean2)) / np.asarray(self.scale2)
        logit = self.coef[0] + z @ np.asarray(self.coef[1:])
        return 1.0 / (1.0 + np.exp(-np.clip(logit, -30, 30)))

    def describe(self) -> str:
        w = ", ".join(
            f"{n}={v:g}" for n, v in zip(("lexical", "phrase", "answer", "example"), self.weights, strict=True)
        )
        rule = f"{len(self.features)} features" + (" and their products" if self.interactions else "")
        lines = [f"operating point: P(right) >= {self.threshold:.2f} ({rule}); intent score weights {w}"]
        if self.cv:
            cv = self.cv
            lines.append(
                f"{cv.get('repeats', 1)}x{cv['k']}-fold CV on {cv['examples']} labelled examples: "
                f"answerable accuracy {cv['accuracy']:.1%}, "
                f"escalation recall {cv['recall']:.1%}, wrong confident {cv['wrong']:.1%}; "
                + (
                    f"{cv['threshold_note']} (fold thresholds {cv['thresholds']})"
                    if cv.get("threshold_note")
                    else f"threshold = median of the fold thresholds {cv['thresholds']}"
                )
            )
        return "\n".join(lines)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> Calibration:
        d = json.loads(text)
        return cls(
            weights=tuple(d["weights"]),
            mean=tuple(d["mean"]),
            scale=tuple(d["scale"]),
            coef=tuple(d["coef"]),
            threshold=float(d["threshold"]),
            cv=d.get("cv", {}),
            version=int(d.get("version", 0)),
            features=tuple(d.get("features") or DECISION_FEATURES),
            clip=float(d["clip"]) if d.get("clip") else None,
            generated_threshold=float(d["generated_threshold"]) if d.get("generated_threshold") else None,
            interactions=bool(d.get("interactions", False)),
            mean2=tuple(d.get("mean2") or ()),
            scale2=tuple(d.get("scale2") or ()),
        )

    def valid(self) -> bool:
        """Of this feature version, with known features and one coefficient each (each product, with interactions)."""
        n = len(self.features)
        columns = n + n * (n + 1) // 2 if self.interactions else n
        return (
            self.version == FEATURE_VERSION
            and all(f in ALL_FEATURES for f in self.features)
            and len(self.coef) == columns + 1
            and len(self.mean) == len(self.scale) == n
            and (not self.interactions or len(self.mean2) == len(self.scale2) == columns)
        )


# Without examples nor a saved calibration: the fused score, answered when it is clearly ahead.
NEUTRAL = Calibration(
    weights=(1.0, 2.0, 0.0, 2.0),
    mean=(0.0,) * len(DECISION_FEATURES),
    scale=(1.0,) * len(DECISION_FEATURES),
    coef=(-1.0, 10.0) + (0.0,) * (len(DECISION_FEATURES) - 1),
    threshold=0.5,
)
