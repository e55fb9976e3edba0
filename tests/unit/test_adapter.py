"""The query adapter: a linear map of the question's vector, fitted to rank the right KB entry first and to keep a
must-escalate question below the bar."""

from __future__ import annotations

import logging

import numpy as np

from sportello.answering import adapter


def _norm(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _skewed_task(seed: int, noise_seed: int, n: int = 6, dim: int = 24, per: int = 30):
    """Keys of n intents, and questions that are their intent's key pushed along one shared direction (the way
    visitors' wording differs from a FAQ's at every venue): unmapped, that direction decides the ranking. The
    must-escalate questions are that direction plus noise, near no key."""
    rng = np.random.default_rng(seed)
    keys = _norm(rng.normal(size=(n * 2, dim)))
    key_intent = np.repeat(np.arange(n), 2)
    drift = _norm(rng.normal(size=(1, dim)))[0]
    noise = np.random.default_rng(noise_seed)
    labels = np.repeat(np.arange(n), per)
    queries = keys[labels * 2] + 0.35 * noise.normal(size=(len(labels), dim)) + 2.5 * drift
    escalate = 0.8 * noise.normal(size=(per, dim)) + 2.5 * drift
    q = _norm(np.vstack([queries, escalate])).astype(np.float32)
    return q, np.concatenate([labels, -np.ones(per, dtype=int)]), keys, key_intent, n


def test_the_fitted_map_ranks_new_questions_of_the_same_kind_first_far_more_often():
    q, y, keys, key_intent, n = _skewed_task(0, noise_seed=1)
    w = adapter.fit(q, y, keys, key_intent, n, steps=200, lr=0.02)
    new_q, new_y, _, _, _ = _skewed_task(0, noise_seed=2)  # the same KB and drift, new questions
    before = adapter.top1(new_q, new_y, keys, key_intent, n, None)
    after = adapter.top1(new_q, new_y, keys, key_intent, n, w)
    assert before < 0.6
    assert after > before + 0.2
    assert w.shape == (24, 24) and w.dtype == np.float32


def test_the_map_keeps_must_escalate_questions_further_from_every_entry_than_answerable_ones():
    q, y, keys, key_intent, n = _skewed_task(3, noise_seed=4)
    w = adapter.fit(q, y, keys, key_intent, n, steps=200, lr=0.02)
    new_q, new_y, _, _, _ = _skewed_task(3, noise_seed=5)

    def separation(m):
        best = (adapter.adapt(new_q, m) @ keys.T).max(axis=1)
        return best[new_y >= 0].mean() - best[new_y < 0].mean()

    assert separation(w) > separation(None) + 0.1


def test_the_fit_is_deterministic_and_stays_near_the_identity_with_a_strong_l2():
    q, y, keys, key_intent, n = _skewed_task(2, noise_seed=2)
    a = adapter.fit(q, y, keys, key_intent, n, steps=20)
    assert np.array_equal(a, adapter.fit(q, y, keys, key_intent, n, steps=20))
    strong = adapter.fit(q, y, keys, key_intent, n, steps=20, l2=1e6)
    assert np.linalg.norm(strong - np.eye(24)) < np.linalg.norm(a - np.eye(24))


def test_adapt_normalises_and_no_map_leaves_the_vectors_as_they_are():
    v = _norm(np.random.default_rng(3).normal(size=(4, 8))).astype(np.float32)
    assert adapter.adapt(v, None) is v
    out = adapter.adapt(v, 3.0 * np.eye(8, dtype=np.float32))
    assert np.allclose(np.linalg.norm(out, axis=1), 1.0) and np.allclose(out, v, atol=1e-6)
    assert adapter.adapt(v[:0], np.eye(8)).shape == (0, 8)


def test_a_missing_or_broken_map_is_a_warning_and_no_map(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="sportello.answering.adapter")
    assert adapter.load(8, tmp_path / "none.npy") is None
    np.save(tmp_path / "shape.npy", np.eye(7))
    assert adapter.load(8, tmp_path / "shape.npy") is None
    bad = np.eye(8)
    bad[0, 0] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    assert adapter.load(8, tmp_path / "nan.npy") is None
    (tmp_path / "text.npy").write_text("not an array")
    assert adapter.load(8, tmp_path / "text.npy") is None
    assert len(caplog.records) == 4
    assert all("adapter" in r.getMessage() for r in caplog.records)


def test_the_shipped_map_fits_the_bundled_model_and_stays_near_the_identity():
    w = adapter.load(384)
    assert w is not None and w.dtype == np.float32
    # fitted with L2 = 0.01 from the identity: moved (fit_adapter printed ||W - I|| = 3.53), not far
    assert 1.0 < np.linalg.norm(w - np.eye(384)) < 10.0
