"""data/cache ships the fused answerer's vectors of data/faq.csv and data/examples.csv (as tests/data/venues/*
ships its venues'): a fresh checkout, CI and the image start without embedding ~2,000 texts (about a minute
of CPU). When the KB or the examples change, regenerate them: `rm -r data/cache && python -m sportello ask
"ciao"`, then `git add -f data/cache/*.npy`."""

from __future__ import annotations

import subprocess
from pathlib import Path

from sportello.answering import semantic
from sportello.answering.bot import build_retrieval
from sportello.config import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_the_shipped_vectors_are_those_of_the_shipped_kb_and_examples(tmp_path, monkeypatch):
    wanted: list[str] = []
    real = semantic.VectorCache.vectors

    def spy(self, texts, kind, role):
        wanted.append(f"e5-{role}-{self.key(list(texts), kind)}.npy")
        return real(self, texts, kind, role)

    monkeypatch.setattr(semantic.VectorCache, "vectors", spy)
    answerer = build_retrieval(Settings.from_env({"DATA_DIR": str(tmp_path)}))
    assert isinstance(answerer, semantic.SemanticAnswerer)
    tracked = subprocess.run(
        ["git", "ls-files", "data/cache"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    shipped = {Path(p).name for p in tracked}
    assert wanted and {"answers", "phrases", "examples"} <= {n.split("-")[1] for n in wanted}
    stale = [n for n in wanted if n not in shipped]
    assert not stale, f"data/cache is stale (regenerate it, see this module's docstring): {stale}"
    assert len(shipped) == len(set(wanted)), f"data/cache ships files nothing reads: {shipped - set(wanted)}"


def test_the_app_never_prunes_a_shared_cache(tmp_path):
    """Only DATA_DIR/cache (the first directory) is pruned; a shipped cache beside the KB is never deleted."""

    class Fake:
        model_id, dim = "fake", 2

        def embed(self, texts, kind):
            import numpy as np

            return np.ones((len(texts), 2), dtype=np.float32)

    own, shared = tmp_path / "own", tmp_path / "shared"
    cache = semantic.VectorCache(Fake(), [own, shared])
    for i in range(semantic.VectorCache.KEEP + 3):
        cache.vectors([f"text {i}"], "passage", "examples")
    assert len(list(own.glob("e5-examples-*.npy"))) == semantic.VectorCache.KEEP
    assert len(list(shared.glob("e5-examples-*.npy"))) == semantic.VectorCache.KEEP + 3
