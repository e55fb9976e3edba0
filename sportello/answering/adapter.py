"""The query adapter: a linear map of a visitor's question vector, for a KB with no examples of its own.

A new venue's KB has only its own phrasings and answers to meet a question with; the demo has ~5,000 labelled
examples that teach how visitors word what a FAQ entry covers, and what it does not, and eight other venues' KBs
have development pools of 200 labelled questions each (tests/data/venues/*/label_pool.csv, the questions the cold
rule is fitted on). The map W (`adapt`: W·q, normalised) is fitted on those (`python -m
sportello.answering.fit_adapter`), each KB's questions against that KB only (`fit_tasks`): each answerable
question's intent should come first, and each must-escalate one (a near-miss, a question the KB does not answer)
should fall below a learned bar. Never on an evaluation set. A cold KB (`semantic._is_cold`) compares the mapped
question with its phrasings, answers and answer sentences; the cold rule (`fit_cold`) is fitted on those
similarities. A warm KB's own examples teach it the same, so it compares the question as it is.

The fit (`fit_tasks`): each intent's score is the best cosine between W·q and the intent's KB questions and answer
sentences; with a must-escalate class scored `bias` (learned, from BIAS0, one for every KB), the loss is the softmax
cross-entropy of the labelled class (temperature TAU; the must-escalate questions weighted ESCALATE_WEIGHT; every
question the same whatever its KB) plus L2 · ||W - I||²: the map stays near the identity, so what the model knows
stays. Full-batch Adam from W = I for STEPS steps: the same questions give the same map. Session 22 fitted it on the
demo's examples alone; session 23 added the venues' pools. Each venue left out of both the map and the cold rule in
turn, on its pool (right / escalated / wrong): no map 54.9 / 96.0 / 2.00 % (session 22), the demo's map 57.8 /
96.4 / 2.19 %, the demo's and the other venues' 60.5 / 96.5 / 2.31 % (README, "AI answers").
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from .evidence import group_max

log = logging.getLogger(__name__)

ADAPTER_FILE = Path(__file__).with_name("query_adapter.npy")
TAU = 0.05
L2 = 0.01
STEPS = 150
LEARNING_RATE = 2e-3
BIAS0 = 0.85
ESCALATE_WEIGHT = 3.0


def load(dim: int, path: Path = ADAPTER_FILE) -> np.ndarray | None:
    """The shipped map for vectors of `dim` dimensions, or None (questions are compared as they are)."""
    try:
        w = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        log.warning("no query adapter (%s): a new venue's questions are compared unmapped", exc)
        return None
    if w.shape != (dim, dim) or w.dtype.kind != "f" or not np.isfinite(w).all():
        log.warning("the query adapter %s is not a finite %dx%d matrix: ignored", path, dim, dim)
        return None
    return w.astype(np.float32)


def adapt(vecs: np.ndarray, w: np.ndarray | None) -> np.ndarray:
    """W·q for each row, normalised again (the rows as they are when there is no map)."""
    if w is None or len(vecs) == 0:
        return vecs
    out = vecs @ w.T
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


def best_per_intent(sims: np.ndarray, key_intent: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's best similarity per intent (-9 for an intent with no key) and the key column it came from (the
    fit's gradient flows through that key; `evidence.group_max` gives the similarity alone)."""
    best = np.full((len(sims), n), -9.0)
    col = np.zeros((len(sims), n), dtype=np.int64)
    rows = np.arange(len(sims))
    for i in range(n):
        cols = np.flatnonzero(key_intent == i)
        if len(cols):
            a = cols[sims[:, cols].argmax(axis=1)]
            best[:, i] = sims[rows, a]
            col[:, i] = a
    return best, col


class Task:
    """One KB's labelled questions for the fit: `queries` (their vectors), `labels` (0..n-1 the KB's intent,
    -1 must escalate), `keys` (the KB's phrasing and answer-sentence vectors) and `key_intent` (each key's intent)."""

    def __init__(self, queries, labels, keys, key_intent, n: int):
        self.q = np.asarray(queries, dtype=np.float64)
        self.labels = np.asarray(labels)
        self.k = np.asarray(keys, dtype=np.float64)
        self.key_intent = np.asarray(key_intent)
        self.n = n
        self.target = np.where(self.labels < 0, n, self.labels)  # class n: must escalate


def fit(
    queries: np.ndarray,
    labels: np.ndarray,
    keys: np.ndarray,
    key_intent: np.ndarray,
    n: int,
    **options,
) -> np.ndarray:
    """The map W (dim x dim): labels 0..n-1 rank that intent first; -1 (must escalate) falls below the bar."""
    return fit_tasks([Task(queries, labels, keys, key_intent, n)], **options)


def fit_tasks(
    tasks: list[Task],
    *,
    l2: float = L2,
    steps: int = STEPS,
    lr: float = LEARNING_RATE,
    tau: float = TAU,
    escalate_weight: float = ESCALATE_WEIGHT,
) -> np.ndarray:
    """One map W for several KBs' labelled questions (`Task`s), each ranked against its own KB only; every
    question weighs the same (a must-escalate one `escalate_weight`), one bar for all."""
    dim = tasks[0].q.shape[1]
    eye = np.eye(dim)
    weights = [np.where(t.labels < 0, escalate_weight, 1.0) for t in tasks]
    total = sum(float(x.sum()) for x in weights)
    weights = [x / total for x in weights]
    w, m, v = eye.copy(), np.zeros((dim, dim)), np.zeros((dim, dim))
    bias, mb, vb = BIAS0, 0.0, 0.0
    for t in range(1, steps + 1):
        grad = 2 * l2 * (w - eye)
        grad_bias = 0.0
        for task, weight in zip(tasks, weights, strict=True):
            q, n = task.q, task.n
            u = q @ w.T
            norm = np.linalg.norm(u, axis=1, keepdims=True)
            un = u / norm
            best, col = best_per_intent(un @ task.k.T, task.key_intent, n)
            z = np.column_stack([best, np.full(len(q), bias)]) / tau
            z -= z.max(axis=1, keepdims=True)
            p = np.exp(z)
            p /= p.sum(axis=1, keepdims=True)
            p[np.arange(len(q)), task.target] -= 1.0
            p *= weight[:, None]
            d_un = np.einsum("ni,nid->nd", p[:, :n], task.k[col]) / tau
            d_u = (d_un - un * (d_un * un).sum(axis=1, keepdims=True)) / norm
            grad += d_u.T @ q
            grad_bias += p[:, n].sum() / tau
        m = 0.9 * m + 0.1 * grad
        v = 0.999 * v + 0.001 * grad * grad
        w -= lr * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
        mb = 0.9 * mb + 0.1 * grad_bias
        vb = 0.999 * vb + 0.001 * grad_bias * grad_bias
        bias -= lr * (mb / (1 - 0.9**t)) / (np.sqrt(vb / (1 - 0.999**t)) + 1e-8)
    return w.astype(np.float32)


def top1(queries: np.ndarray, labels: np.ndarray, keys: np.ndarray, key_intent: np.ndarray, n: int, w) -> float:
    """How often the labelled intent ranks first by the best key similarity (with the map w, or none); the
    answerable rows only (labels >= 0)."""
    answerable = np.asarray(labels) >= 0
    if not answerable.any():
        return 0.0
    q = adapt(np.asarray(queries, dtype=np.float32)[answerable], w)
    best = group_max(q @ np.asarray(keys).T, np.asarray(key_intent), n, fill=-np.inf)
    return float((best.argmax(axis=1) == np.asarray(labels)[answerable]).mean())
