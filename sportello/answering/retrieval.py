"""Offline retrieval answerer: bilingual BM25F + character n-grams, no network.

Pipeline for one question:

1. rules: emergencies, requests for a person, complaints and individual cases
   (an order, a charge, a lost item) are escalated with their reason;
   a message that is only a greeting or a thank-you gets the KB's small-talk entry
   (retrieval considers the small-talk intents only when the message has a greeting or thank-you word);
2. retrieval: every intent (all its entries, both languages) is one document
   with two fields, questions (+ intent name) and answers. Each query word is
   stemmed (Italian and English Snowball), typo-corrected against the KB
   vocabulary (edit distance 1) and mapped to a museum-domain concept shared
   by both languages; BM25F scores are normalised into "share of the query's
   information matched". A TF-IDF cosine over character 3-5-grams against each
   KB question catches what words miss (typos, inflections, missing accents);
3. calibrated confidence: the two scores and the margin to the runner-up are
   combined into [0, 1]; below `threshold` the answer is "not found".

The answer is taken from the matched intent's entry in the visitor's language.
The index is immutable and swapped atomically when the KB file changes, so
`answer()` is safe to call from many threads.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import pickle
import re
import sys
import threading
import time
import unicodedata
from array import array
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import snowballstemmer

from . import contrast, emergency
from .kb import NO_ANSWER, OPERATOR_REQUEST, Answer, KBEntry, KBError, KBLoad, KBProblem, read_kb
from .retrieval_rules import escalation_reason, small_talk, small_talk_cue, strip_small_talk
from .retrieval_text import CONCEPT_OF, STOP, detect_lang, fold, lang_scores, stem, words

log = logging.getLogger(__name__)

__all__ = ["NO_ANSWER", "OPERATOR_REQUEST", "KBIndex", "RetrievalAnswerer", "Scored"]
# Each kind of small talk (`retrieval_rules.small_talk`) and the names its KB entry usually has.
SMALL_TALK_NAMES = {
    "greeting": ("saluto", "greeting", "greetings", "saluti", "hello"),
    "thanks": ("ringraziamento", "thanks", "thank_you", "grazie", "ringraziamenti"),
    "goodbye": ("congedo", "goodbye", "arrivederci", "commiato", "farewell", "bye", "saluti_finali"),
}
# A KB whose small-talk entries have other names: the entry most of whose questions are that kind of small talk.
SMALL_TALK_SHARE = 0.6

# Fallback small talk when the KB has no greeting/thanks entries.
_BUILTIN_SMALL_TALK = {
    ("greeting", "it"): "Buongiorno! Come posso aiutarla?",
    ("greeting", "en"): "Hello! How can I help you?",
    ("thanks", "it"): "Prego, è stato un piacere!",
    ("thanks", "en"): "You're welcome!",
    ("goodbye", "it"): "Arrivederci, e grazie per averci scritto!",
    ("goodbye", "en"): "Goodbye, and thank you for writing to us!",
}

# Scoring parameters, chosen by 5-fold cross-validation on tests/data/eval_dev.csv + eval_test.csv, and
# LITERAL_CAP / MISSING_KEY_FACTOR / the threshold re-checked on all five dev files merged
# (see sportello.answering.evaluation.cross_validate): field weights, how much a shared concept counts next to the
# word itself, how much an unknown query word dilutes the score, and the BM25 / character mix.
K1 = 2.0
B = 0.5
QUESTION_WEIGHT = 3.0
ANSWER_WEIGHT = 1.0
ANSWER_CONCEPT_WEIGHT = 0.25
CONCEPT_DISCOUNT = 1.2  # a shared concept counts a little more than the literal word
LITERAL_CAP = 2.0  # a lexicon word's literal match counts at most this many times its concept
UNKNOWN_WEIGHT = 0.75
BM25_SHARE = 0.75
# Confidence = sigmoid(CAL_SCALE * (combined - CAL_CENTER) + CAL_MARGIN * min(margin, 0.2)).
CAL_SCALE = 9.0
CAL_CENTER = 0.416  # the default threshold 0.59 <=> combined + 1.5 * margin >= 0.456
CAL_MARGIN = 13.5
# Evidence that the question is about something the KB does not know: each capitalised word
# in mid-sentence that the KB never uses (another museum, a city, a person's name) lowers the
# calibrated score by this much (on the sigmoid's input scale), at most twice.
PROPER_PENALTY = 4.0
# Intent coverage: a concept present in nearly all of an intent's KB questions (holidays for the
# holiday closures, the shop for the bookshop) is that intent's key concept. When another close
# candidate's key concepts are all in the question, an intent whose key concept is missing is
# scored down by this factor.
REQUIRED_SHARE = 1.0
MISSING_KEY_FACTOR = 0.6
KEY_NEAR = 0.6  # "close": within this share of the best combined score
# Whenever the answerer does not answer from the KB, the best-ranked intents are offered as "did you mean...?"
# next to the operator, at most this many, best first, when the question has a word the KB knows
# (`KBIndex.knows`: nonsense gets none): below the threshold at any confidence, and after an out-of-scope rule
# match when the ranking would have answered. Requests for a person, complaints, personal cases and
# emergencies never get suggestions: they go to a person. (Until issue 25 only P(right) >= 0.2 got them:
# 35-55 % of the new venues' unanswered answerable questions had the right intent among them, though the
# ranking had it among the first 3 for ~80 %. Out-of-scope matches at any confidence: +1 of 48 on the dev
# label pools, and buttons on 33 of the 50 must-escalate questions of eval_dev_oos; see the README.)
MAX_SUGGESTIONS = 3
# Hedging: a content word of the question (HEDGE_MIN_LEN letters or more) that no KB entry uses, in any
# form, is something the chosen answer does not cover ("EV charging" asked of a parking answer).
# Words a neighbouring intent uses are left to the ranking (measured on the dev sets: hedging on them
# hid more right answers than wrong ones).
HEDGE_MIN_LEN = 5
# A word of a KB question this long or longer tells what the venue is asked about (`KBIndex.asks_about`).
ASKED_MIN_LEN = 3
HEDGE_TEXT = {
    "it": "Non ho informazioni su {what}: se vuole, la passo a una persona.",
    "en": "I don't have information about {what}: if you like, I can pass you to a person.",
}
# Words that say how a question is asked, not what it is about: never "something the answer lacks".
HEDGE_IGNORE = frozenset(
    """
    somewhere anywhere everywhere another everybody everyone direttamente directly qualcuno qualcosa vuole
    gentile nearby early happening facilities special speciale speciali particolare upper lower
    prima seconda terza quarta quinta third fourth fifth
    again allowed always anybody anymore anyway around available best better bring brought check come coming
    consentito consentita consentiti dentro details dettagli difference differenza during durante easy
    else enough esattamente exactly facile first fuori general generale going inside instead know later
    minimum massimo minimo maximum mentre near needed next normally often oltre other outside particular
    people persone possibile possible prima primo probably quick quickly rather right same second
    secondo seguente simply solo something soon still sure thing things though through today tomorrow
    usually venire while whole within without would
    """.split()
)
# The page's language is overridden when the question has at least this much evidence of the other
# language (a function word counts 2, a KB word of only that language 1) and twice the page's plus this.
LANG_SWITCH_MIN = 4.0
LANG_SWITCH_MARGIN = 1.0


@dataclass(frozen=True)
class Scored:
    intent: str
    confidence: float
    bm25: float
    chars: float
    margin: float


def _char_grams(text: str) -> Counter:
    grams: Counter = Counter()
    for w in text.split():
        padded = f" {w} "
        for n in (3, 4, 5):
            if len(padded) < n:
                continue
            grams.update(padded[i : i + n] for i in range(len(padded) - n + 1))
    return grams


_CASED_TOKEN = re.compile(r"[A-Za-z0-9]+(?:'[A-Za-z]+)?|[.!?;:]")
_SELF_INTRO = re.compile(
    r"\b(i am|i'm|im|my name is|mi chiamo|sono|this is|signor[ae]?|mr|mrs|ms|dr)\s*$", re.IGNORECASE
)


def _deaccent(text: str) -> str:
    text = unicodedata.normalize("NFKD", text)
    return "".join(c for c in text if not unicodedata.combining(c))


def _literal_forms(word: str) -> tuple[str, ...]:
    """The forms a word is matched by, literally: itself, its Italian and English stems and its first
    HEDGE_MIN_LEN letters (an inflection either stemmer misses)."""
    return (word, stem(word, "it"), stem(word, "en"), word[:HEDGE_MIN_LEN])


def _deletes(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


class KBIndex:
    """Immutable search structures built from a list of KB entries."""

    def __init__(self, entries: list[KBEntry]):
        self.entries = entries
        self.intents: list[str] = []
        by_intent: dict[str, list[KBEntry]] = defaultdict(list)
        for e in entries:
            if e.intent not in by_intent:
                self.intents.append(e.intent)
            by_intent[e.intent].append(e)
        self.by_intent = dict(by_intent)
        self.intent_idx = {name: i for i, name in enumerate(self.intents)}
        n = len(self.intents)

        # Raw vocabulary (for typo correction and language detection).
        raw_count: Counter = Counter()
        lang_vocab: dict[str, set[str]] = {"it": set(), "en": set()}
        for e in entries:
            for text in (*e.questions, e.answer):
                ws = words(text)
                raw_count.update(ws)
                lang_vocab.setdefault(e.lang, set()).update(ws)
        self.raw_count = raw_count
        self.it_vocab = frozenset(lang_vocab.get("it", ()))
        self.en_vocab = frozenset(lang_vocab.get("en", ()))
        self.raw_lang = {w: ("it" if w in self.it_vocab and w not in self.en_vocab else "en") for w in raw_count}
        deletes: dict[str, set[str]] = defaultdict(set)
        for w in raw_count:
            if len(w) >= 4 and not w.isdigit():
                for d in _deletes(w):
                    deletes[d].add(w)
        self.deletes = dict(deletes)

        # BM25F over intents: field-weighted term frequencies.
        tfs: list[Counter] = []
        lengths = np.zeros(n)
        for i, name in enumerate(self.intents):
            tf: Counter = Counter()
            for e in self.by_intent[name]:
                qtext = " ".join((*e.questions, name.replace("_", " ")))
                for term in self._doc_terms(qtext, e.lang):
                    tf[term] += QUESTION_WEIGHT
                for term in self._doc_terms(e.answer, e.lang):
                    tf[term] += ANSWER_CONCEPT_WEIGHT if term.startswith("~") else ANSWER_WEIGHT
            tfs.append(tf)
            lengths[i] = sum(tf.values())
        avg = lengths.mean() if n else 1.0
        df: Counter = Counter()
        for tf in tfs:
            df.update(tf.keys())
        self.idf = {t: math.log(1 + (n - c + 0.5) / (c + 0.5)) for t, c in df.items()}
        self.unknown_idf = math.log(1 + (n + 0.5) / 0.5)
        postings: dict[str, tuple[list[int], list[float]]] = defaultdict(lambda: ([], []))
        for i, tf in enumerate(tfs):
            norm = K1 * (1 - B + B * lengths[i] / avg)
            for t, f in tf.items():
                ids, ws = postings[t]
                ids.append(i)
                ws.append(f * (K1 + 1) / (f + norm) / (K1 + 1))
        self.postings = {t: (np.array(ids, dtype=np.int32), np.array(ws)) for t, (ids, ws) in postings.items()}
        self.vocab = set(self.postings)

        # Character n-grams against each KB question (TF-IDF cosine). One (question, gram, count) triple per
        # distinct gram of a question, kept in compact arrays: a large KB's questions hold millions of them, and
        # one Counter (or Python float) each would take over 100 MB while the index is built.
        gram_id: dict[str, int] = {}
        q_intent, t_row, t_gram, t_count = array("i"), array("i"), array("i"), array("d")
        for e in entries:
            for q in e.questions:
                j = len(q_intent)
                q_intent.append(self.intent_idx[e.intent])
                for g, c in _char_grams(self._content_text(q)).items():
                    t_row.append(j)
                    t_gram.append(gram_id.setdefault(g, len(gram_id)))
                    t_count.append(c)
        self.q_intent = np.array(q_intent, dtype=np.int32)
        self.n_questions = nq = len(q_intent)
        rows, grams, counts = (np.array(a) for a in (t_row, t_gram, t_count))
        del t_row, t_gram, t_count
        per_gram = np.bincount(grams, minlength=len(gram_id))  # questions with each gram
        idf = np.log((max(nq, 1) + 1) / (per_gram + 0.5))
        weights = (1 + np.log(counts)) * idf[grams]
        norms = np.sqrt(np.bincount(rows, weights=weights * weights, minlength=nq))
        weights /= np.where(norms > 0, norms, 1.0)[rows]
        order = np.argsort(grams, kind="stable")  # each gram's postings in question order
        rows, weights = rows[order].astype(np.int32), weights[order]
        ends = np.cumsum(per_gram)
        starts = ends - per_gram
        self.gidf = {g: float(idf[i]) for g, i in gram_id.items()}
        self.gpostings = {g: (rows[starts[i] : ends[i]], weights[starts[i] : ends[i]]) for g, i in gram_id.items()}

        # Key concepts of each intent (see REQUIRED_SHARE).
        self.required: list[frozenset[str]] = []
        for name in self.intents:
            qs = [(q, e.lang) for e in self.by_intent[name] for q in e.questions]
            counts: Counter = Counter()
            for q, lang in qs:
                counts.update({t for t in self._doc_terms(q, lang) if t.startswith("~")})
            self.required.append(frozenset(c for c, k in counts.items() if k >= REQUIRED_SHARE * len(qs)))

        # What the KB's questions (and intent names) ask about, as words and stems: a rule's "out of scope"
        # match on these is this venue's topic (`asks_about`).
        asked: set[str] = set()
        for e in entries:
            for text in (*e.questions, e.intent.replace("_", " ")):
                for w in words(text):
                    if len(w) >= ASKED_MIN_LEN and w not in STOP:
                        asked.update((w, stem(w, e.lang)))
        self.asked = frozenset(asked)

        # First letters of every KB word: a question word sharing them is an inflection, not a new topic.
        self.prefixes = frozenset(w[:HEDGE_MIN_LEN] for w in raw_count if len(w) >= HEDGE_MIN_LEN)

        # Which intents use each word literally (in a question, the answer or the intent's name), by its forms
        # (`_literal_forms`): for "does the chosen answer mention what was asked?" (`literal_missing`). Kept as
        # compact arrays: form -> slot, slot -> sorted intent ids.
        lit: dict[str, set[int]] = defaultdict(set)
        for e in entries:
            i = self.intent_idx[e.intent]
            for text in (*e.questions, e.answer, e.intent.replace("_", " ")):
                for w in set(words(text)):
                    for f in _literal_forms(w):
                        lit[f].add(i)
        self._lit_slot = {f: j for j, f in enumerate(lit)}
        sizes = np.fromiter((len(v) for v in lit.values()), dtype=np.int64, count=len(lit))
        self._lit_ptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self._lit_ids = np.fromiter(
            (i for v in lit.values() for i in sorted(v)), dtype=np.int32, count=int(sizes.sum())
        )
        del lit

        # The languages, diets and ways to pay each intent's text names (`contrast`): an answer that names
        # others of a class than the one asked does not cover the question.
        self.classes: list[dict[str, set[str]]] = [{} for _ in self.intents]
        for e in entries:
            own = self.classes[self.intent_idx[e.intent]]
            for cls, members in contrast.named(" ".join((*e.questions, e.answer))).items():
                own.setdefault(cls, set()).update(members)

        self.small_talk: dict[str, str | None] = self._small_talk_entries()  # {kind: the KB's entry for it}
        self.small_talk_intents = [i for i in self.small_talk.values() if i]
        self._kinds: dict[re.Pattern, bool] = {}  # asks_kind's answers, found when first asked

    # -- text to terms -------------------------------------------------------

    def _doc_terms(self, text: str, lang: str) -> list[str]:
        terms = []
        for w in words(text):
            if w in STOP:
                continue
            s = stem(w, lang)
            terms.append(s)
            concept = CONCEPT_OF.get(w) or CONCEPT_OF.get(s)
            if concept:
                terms.append(concept)
        return terms

    @staticmethod
    def _content_text(text: str) -> str:
        return " ".join(w for w in words(text) if w not in STOP)

    def _correct(self, w: str) -> str | None:
        """The KB word closest to `w` (edit distance 1), if any."""
        if len(w) < 4 or w.isdigit():
            return None
        candidates = set(self.deletes.get(w, ()))
        for d in _deletes(w):
            if d in self.raw_count:
                candidates.add(d)
            candidates.update(self.deletes.get(d, ()))
        candidates.discard(w)
        if not candidates:
            return None
        return max(candidates, key=lambda c: (self.raw_count[c], -abs(len(c) - len(w)), c))

    def _known(self, w: str) -> bool:
        if w in STOP or w in self.raw_count or w.isdigit() or w in CONCEPT_OF:
            return True
        return any(stem(w, lg) in self.vocab or stem(w, lg) in CONCEPT_OF for lg in ("it", "en"))

    def unknown_proper_nouns(self, text: str) -> int:
        """Capitalised words in mid-sentence that the KB never uses (not a typo of a KB word either)."""
        proper = 0
        tokens = _CASED_TOKEN.findall(_deaccent(text))
        sentence_start = True
        for i, tok in enumerate(tokens):
            if tok in ".!?;:":
                sentence_start = True
                continue
            low = tok.lower()
            base = (
                low.split("'")[-1]
                if "'" in low and low.split("'")[0] in ("l", "all", "dell", "nell", "un", "d")
                else low
            )
            head, _, tail = base.partition("'")
            if tail in ("s", "m", "re", "ve", "ll", "d", "t"):  # English contractions and possessives
                base = head
            if len(base) >= 3 and not self._known(base) and not self._correct(base):
                if (
                    tok[0].isupper()
                    and not sentence_start
                    and not _SELF_INTRO.search(" ".join(tokens[max(0, i - 3) : i]))
                ):
                    proper += 1
            sentence_start = False
        return proper

    def query_slots(self, text: str, lang: str) -> list[tuple[str, list[tuple[str, float]]]]:
        """One slot per content word: alternative terms with their weights."""
        ws = words(text)
        # Join words the KB writes as one ("wi fi" -> "wifi") and split ones it writes as two.
        joined: list[str] = []
        i = 0
        while i < len(ws):
            if i + 1 < len(ws) and ws[i] + ws[i + 1] in self.raw_count and ws[i] not in self.raw_count:
                joined.append(ws[i] + ws[i + 1])
                i += 2
                continue
            joined.append(ws[i])
            i += 1
        other = "en" if lang == "it" else "it"
        slots = []
        for w in joined:
            if w in STOP:
                continue
            alts: list[tuple[str, float]] = []
            stems = [stem(w, lang), stem(w, other)]
            concept = CONCEPT_OF.get(w) or CONCEPT_OF.get(stems[0]) or CONCEPT_OF.get(stems[1])
            found = [s for s in stems if s in self.vocab]
            if not found and not concept and w not in self.raw_count:
                fixed = self._correct(w)
                if fixed:
                    wl = self.raw_lang.get(fixed, lang)
                    found = [s for s in (stem(fixed, wl), stem(fixed, lang)) if s in self.vocab]
                    concept = CONCEPT_OF.get(fixed) or CONCEPT_OF.get(stem(fixed, wl))
            has_concept = bool(concept and concept in self.vocab)
            for s in found[:1]:
                weight = 1.0
                if has_concept:
                    # A lexicon word means its concept: a rare inflection shared by chance with one KB question
                    # ("aprite" in "Aprite il lunedì di Pasquetta?") must not outweigh the concept by much.
                    weight = min(1.0, LITERAL_CAP * CONCEPT_DISCOUNT * self.idf[concept] / self.idf[s])
                alts.append((s, weight))
            if has_concept:
                alts.append((concept, CONCEPT_DISCOUNT))
            slots.append((w, alts))
        return slots

    # -- scoring -------------------------------------------------------------

    def score(self, text: str, lang: str) -> list[Scored]:
        scores = self.score_all(text, lang)
        if scores is None:
            return []
        combined, bm25, chars, penalty = scores
        order = np.argsort(-combined)[:3]
        results = []
        for rank, i in enumerate(order):
            runner = combined[order[1]] if rank == 0 and len(order) > 1 else combined[order[0]]
            margin = float(combined[i] - runner)
            results.append(
                Scored(
                    self.intents[i],
                    self._calibrate(combined[i], margin, penalty),
                    float(bm25[i]),
                    float(chars[i]),
                    margin,
                )
            )
        return results

    def score_all(self, text: str, lang: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, float] | None:
        """Every intent's combined score (aligned with `intents`), its BM25 and character parts, and the
        proper-noun penalty; None for an empty KB. Small-talk intents score 0 without a greeting/thanks cue."""
        n = len(self.intents)
        if not n:
            return None
        slots = self.query_slots(text, lang)
        matched = np.zeros(n)
        total = 0.0
        for _, alts in slots:
            if not alts:
                total += self.unknown_idf * UNKNOWN_WEIGHT
                continue
            # A slot is one query word: it counts once, by its best alternative (the word or its concept).
            best = np.zeros(n)
            for t, wt in alts:
                ids, ws = self.postings[t]
                cand = np.zeros(n)
                cand[ids] = ws * (self.idf[t] * wt)
                np.maximum(best, cand, out=best)
            matched += best
            total += max(self.idf[t] * wt for t, wt in alts)
        bm25 = matched / total if total else matched

        chars = np.zeros(n)
        qgrams = _char_grams(self._content_text(text))
        if qgrams and self.n_questions:
            vec = {g: (1 + math.log(c)) * self.gidf[g] for g, c in qgrams.items() if g in self.gidf}
            unseen = sum(
                ((1 + math.log(c)) * math.log(self.n_questions + 1)) ** 2
                for g, c in qgrams.items()
                if g not in self.gidf
            )
            qnorm = math.sqrt(sum(v * v for v in vec.values()) + unseen) or 1.0
            if vec:
                ids = np.concatenate([self.gpostings[g][0] for g in vec])
                wts = np.concatenate([self.gpostings[g][1] * (v / qnorm) for g, v in vec.items()])
                per_q = np.bincount(ids, weights=wts, minlength=self.n_questions)
                np.maximum.at(chars, self.q_intent, per_q)

        combined = BM25_SHARE * bm25 + (1 - BM25_SHARE) * chars
        if not small_talk_cue(text):
            # "when do you open in the morning" shares "morning" with "Good morning": without a greeting or
            # thank-you word, the small-talk intents are not candidates.
            for name in self.small_talk_intents:
                combined[self.intent_idx[name]] = 0.0
        self._key_concepts(slots, combined)
        penalty = PROPER_PENALTY * min(self.unknown_proper_nouns(text), 2)
        return combined, bm25, chars, penalty

    def _key_concepts(self, slots: list, combined: np.ndarray, top: int = 3, near: float = KEY_NEAR) -> None:
        """Score down close candidates missing a key concept when another close one has all of its own (in place)."""
        order = np.argsort(-combined)[:top]
        if len(order) < 2 or combined[order[0]] <= 0:
            return
        asked = {t for _, alts in slots for t, _ in alts if t.startswith("~")}
        close = [i for i in order if combined[i] >= near * combined[order[0]]]
        if not any(self.required[i] and self.required[i] <= asked for i in close):
            return
        for i in close:
            missing = len(self.required[i] - asked)
            if missing:
                combined[i] *= MISSING_KEY_FACTOR**missing

    @staticmethod
    def _calibrate(combined: float, margin: float, penalty: float = 0.0) -> float:
        """Map raw score and margin to [0, 1]; 0.5 is the found/not-found boundary at the default threshold."""
        z = CAL_SCALE * (combined - CAL_CENTER) + CAL_MARGIN * min(margin, 0.2) - penalty
        return 1.0 / (1.0 + math.exp(-z))

    def uncovered(self, text: str, lang: str, intent: str) -> list[str]:
        """Content words of the question the KB never uses (so `intent`'s answer cannot cover them), in order:
        not a typo of a KB word, not an inflection of one (same first HEDGE_MIN_LEN letters), not a word that
        only says how the question is asked (HEDGE_IGNORE)."""
        if intent not in self.intent_idx:
            return []
        out: list[str] = []
        for w, alts in self.query_slots(text, lang):
            if alts or len(w) < HEDGE_MIN_LEN or w.isdigit() or w in HEDGE_IGNORE or w in out:
                continue
            if w[:HEDGE_MIN_LEN] not in self.prefixes and not self._near_known(w):
                out.append(w)
        return out

    def literal_missing(self, text: str) -> tuple[np.ndarray, int]:
        """For each intent, how many content words of the question it never uses in any form (nor a typo's
        correction of them), and how many content words the question has. A question whose words the chosen
        intent's own text lacks often asks for a detail its answer does not hold ("vegan options at the café")."""
        n = len(self.intents)
        asked = [
            w for w in dict.fromkeys(words(text)) if len(w) >= ASKED_MIN_LEN and w not in STOP and w not in HEDGE_IGNORE
        ]
        asked = [w for w in asked if not w.isdigit()]
        covered = np.zeros(n, dtype=np.int32)
        for w in asked:
            forms = set(_literal_forms(w))
            if w not in self.raw_count:
                fixed = self._correct(w)
                if fixed:
                    forms.update(_literal_forms(fixed))
            slots = [self._lit_slot[f] for f in forms if f in self._lit_slot]
            if not slots:
                continue
            ids = np.unique(np.concatenate([self._lit_ids[self._lit_ptr[j] : self._lit_ptr[j + 1]] for j in slots]))
            covered[ids] += 1
        return len(asked) - covered, len(asked)

    def knows(self, text: str, lang: str) -> bool:
        """Whether a word of `text` is known to the KB (itself, its stem, a typo of it or its lexicon concept):
        a question may be meant for one of its entries. Nonsense ("asdf", "???", "ok") is not."""
        return any(alts for _, alts in self.query_slots(text, lang))

    def _near_known(self, w: str) -> bool:
        """Within two edits of a KB word (long words only)."""
        if len(w) < 7:
            return False
        return any(self._correct(d) or d in self.raw_count for d in _deletes(w))

    def asks_about(self, span: str) -> bool:
        """Whether the KB's questions name every content word of `span` (a rule's match, e.g. "wedding",
        "festa di compleanno", "zoo"): then it is this venue's topic, left to retrieval."""
        ws = [w for w in words(span) if len(w) >= ASKED_MIN_LEN and w not in STOP]
        return bool(ws) and all(
            w in self.asked or stem(w, "it") in self.asked or stem(w, "en") in self.asked for w in ws
        )

    def asks_kind(self, pattern: re.Pattern) -> bool:
        """Whether a question of the KB (or an intent's name) is of the kind `pattern` matches (a rule's class of
        questions, `retrieval_rules.KINDS`): then the venue answers that kind and its questions go to retrieval."""
        if pattern not in self._kinds:
            self._kinds[pattern] = any(
                pattern.search(fold(text)) for e in self.entries for text in (*e.questions, e.intent.replace("_", " "))
            )
        return self._kinds[pattern]

    # -- helpers -------------------------------------------------------------

    def _find_intent(self, names: tuple[str, ...]) -> str | None:
        for name in names:
            if name in self.by_intent:
                return name
        return None

    def _small_talk_entries(self) -> dict[str, str | None]:
        """The KB's entry for each kind of small talk: by its name, else the one whose questions are mostly that kind
        (SMALL_TALK_SHARE or more of them; one pass over the questions for every kind not found by name)."""
        found = {kind: self._find_intent(names) for kind, names in SMALL_TALK_NAMES.items()}
        missing = [kind for kind, intent in found.items() if intent is None]
        if not missing:
            return found
        share: dict[str, dict[str, float]] = {kind: {} for kind in missing}
        for intent, entries in self.by_intent.items():
            qs = [q for e in entries for q in e.questions]
            if len(qs) >= 2:
                kinds = Counter(small_talk(q) for q in qs)
                for kind in missing:
                    share[kind][intent] = kinds[kind] / len(qs)
        for kind in missing:
            best = max(share[kind], key=share[kind].get, default=None)
            found[kind] = best if best is not None and share[kind][best] >= SMALL_TALK_SHARE else None
        return found

    def entry_for(self, intent: str, lang: str) -> KBEntry:
        entries = self.by_intent[intent]
        for e in entries:
            if e.lang == lang:
                return e
        return entries[0]

    def detect_lang(self, text: str, default: str = "it") -> str:
        return detect_lang(text, default, self.it_vocab, self.en_vocab)


_EMPTY_INDEX = KBIndex([])

# A KB of at least this many entries keeps its index on disk (`cached_index`): building it is pure Python,
# seconds for thousands of entries; a small KB builds in milliseconds and is not cached.
INDEX_CACHE_MIN_ENTRIES = 500
INDEX_CACHE_KEEP = 2  # index files kept per cache directory (older ones are removed)
# What the index is built by: the code of this module and of the lexicon, and the stemmer. A change to any
# of them is a new cache key (an index built by other code is never read).
_INDEX_CODE = hashlib.sha256(
    b"".join(
        Path(m.__file__).read_bytes()
        for m in (sys.modules[__name__], sys.modules[words.__module__], contrast, snowballstemmer)
    )
    + f"{np.__version__}|{sys.version_info[:2]}".encode()
).hexdigest()


def index_key(entries: list[KBEntry]) -> str:
    """The content hash of an index: the code that builds it and every entry's fields."""
    h = hashlib.sha256(_INDEX_CODE.encode())
    for e in entries:
        for part in (e.id, e.intent, e.lang, *e.questions, e.answer):
            h.update(part.encode("utf-8"))
            h.update(b"\x1f")
        h.update(b"\x1e")
    return h.hexdigest()


def _trusted(path: Path) -> bool:
    """An index file is read only when this user wrote it and nobody else may (it is a pickle)."""
    try:
        st = path.stat()
        parent = path.parent.stat()
    except OSError:
        return False
    mine = st.st_uid == os.getuid() and parent.st_uid == os.getuid()
    return mine and not (st.st_mode & 0o022) and not (parent.st_mode & 0o002)


def cached_index(entries: list[KBEntry], cache_dirs: list[Path] | tuple[Path, ...] = ()) -> KBIndex:
    """The index of `entries`: read from `<cache dir>/kbindex-<content hash>.pickle` when a large KB was
    indexed before by the same code, else built (and, for a large KB, saved in the first writable directory)."""
    if len(entries) < INDEX_CACHE_MIN_ENTRIES or not cache_dirs:
        return KBIndex(entries)
    name = f"kbindex-{index_key(entries)}.pickle"
    for d in cache_dirs:
        path = Path(d) / name
        if not path.is_file() or not _trusted(path):
            continue
        try:
            with open(path, "rb") as fh:
                index = pickle.load(fh)  # our own file: see _trusted
        except Exception as exc:  # a truncated or foreign file: build it again
            log.warning("KB index cache %s unreadable (%s); rebuilding", path, exc)
            continue
        if isinstance(index, KBIndex):
            return index
    index = KBIndex(entries)
    for d in cache_dirs:
        d = Path(d)
        try:
            d.mkdir(parents=True, exist_ok=True)
            tmp = d / f".{name}.{os.getpid()}.tmp"
            with open(tmp, "wb") as fh:
                os.fchmod(fh.fileno(), 0o600)
                pickle.dump(index, fh, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, d / name)
            old = sorted(d.glob("kbindex-*.pickle"), key=lambda p: p.stat().st_mtime, reverse=True)
            for p in old[INDEX_CACHE_KEEP:]:
                p.unlink(missing_ok=True)
            break
        except OSError as exc:
            log.debug("cannot write the KB index cache in %s: %s", d, exc)
    return index


def log_problems(result: KBLoad) -> None:
    """One log line per problem of a loaded KB, `path:line`, so the start-up log says where to look."""
    for p in result.problems:
        log.warning("knowledge base %s:%d: row skipped: %s", result.path, p.line, p.message)
    for p in result.warnings:
        log.warning("knowledge base %s:%d: %s", result.path, p.line, p.message)


class RetrievalAnswerer:
    """Offline answerer over a KB; reloads the CSV when it changes on disk."""

    def __init__(
        self,
        entries: list[KBEntry] | None = None,
        threshold: float = 0.59,  # median of the 5x5-fold CV thresholds on all five dev files (sportello.answering.evaluation)
        *,
        path: Path | str | None = None,
        reload_interval: float = 1.0,
        default_lang: str = "it",
        extra_paths: list[Path | str] | tuple[Path | str, ...] = (),
        emergency_intent: str = "",
        emergency_text: str = "",
        hedge: bool = False,
        cache_dirs: list[Path] | tuple[Path, ...] = (),
    ):
        self.threshold = threshold
        # Where a large KB's index is kept between starts (`cached_index`); the fused answerer keeps its
        # vectors there too.
        self.cache_dirs = [Path(d) for d in cache_dirs]
        # The KB intent with the emergency instructions (else a known name such as emergency/emergenza), and
        # the text used when the KB has none (else "call 112 ..."): settings EMERGENCY_INTENT, EMERGENCY_TEXT.
        self.emergency_intent = emergency_intent
        self.emergency_text = emergency_text
        self.hedge = hedge
        self.default_lang = default_lang
        self.path = Path(path) if path else None
        # More KB files merged after the main one (the learned KB the dashboard writes); a missing or
        # broken one is skipped, an id already taken is skipped; all are reloaded when any changes.
        self.extra_paths = [Path(p) for p in extra_paths]
        self.reload_interval = reload_interval
        self.problems: list[KBProblem] = []  # the rows skipped at the last load (errors)
        self.warnings: list[KBProblem] = []  # the rows used but suspicious (kb.check_rows)
        self._lock = threading.Lock()
        self._signature: tuple | None = None
        self._checked = 0.0
        if entries is not None:
            self._index = KBIndex(list(entries))
        else:
            self._index = _EMPTY_INDEX
            if self.path:
                self._load(initial=True)

    @classmethod
    def from_csv(cls, path: Path | str, **kwargs) -> RetrievalAnswerer:
        return cls(path=path, **kwargs)

    @property
    def entries(self) -> list[KBEntry]:
        return self._index.entries

    @property
    def index(self) -> KBIndex:
        self._maybe_reload()
        return self._index

    # -- reload ----------------------------------------------------------------

    @staticmethod
    def _stat_one(path: Path) -> tuple | None:
        try:
            st = os.stat(path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def _stat(self) -> tuple | None:
        main = self._stat_one(self.path)
        if not self.extra_paths:
            return main
        return (main, *(self._stat_one(p) for p in self.extra_paths))

    def _read_extra(self, result) -> None:
        seen = {e.id for e in result.entries}
        for path in self.extra_paths:
            if not path.is_file():
                continue
            try:
                extra = read_kb(path)
            except KBError:
                log.exception("knowledge base %s is unreadable; skipped", path)
                continue
            log_problems(extra)
            for e in extra.entries:
                if e.id not in seen:
                    seen.add(e.id)
                    result.entries.append(e)

    def _load(self, initial: bool = False) -> None:
        signature = self._stat()
        try:
            result = read_kb(self.path)
        except KBError:
            if initial:
                raise
            log.exception("knowledge base %s is unreadable; keeping the previous version", self.path)
            self._signature = signature
            return
        log_problems(result)
        if result.entries:
            self._read_extra(result)
        if not result.entries and not initial and self._index.entries:
            log.error("knowledge base %s has no valid rows; keeping the previous version", self.path)
        else:
            self._index = cached_index(result.entries, self.cache_dirs)
        self.problems = result.problems
        self.warnings = result.warnings
        self._signature = signature

    def _maybe_reload(self) -> None:
        if not self.path:
            return
        now = time.monotonic()
        if now - self._checked < self.reload_interval:
            return
        self._checked = now
        if self._stat() == self._signature:
            return
        with self._lock:
            if self._stat() != self._signature:
                self._load()

    def reload(self) -> None:
        """Reload the KB file now."""
        if self.path:
            with self._lock:
                self._load()

    def reload_learned(self) -> None:
        """Reload the KB files now, the learned one among them (`Answerer`)."""
        self.reload()

    # -- answering -------------------------------------------------------------

    def answer(self, question: str, lang: str | None = None) -> Answer:
        try:
            return self._answer(question, lang)
        except Exception:  # never let one odd question break the conversation
            log.exception("retrieval failed for a question; escalating")
            return Answer.none(lang if lang in ("it", "en") else self.default_lang)

    def _answer(self, question: str, lang: str | None) -> Answer:
        index, text, lang, early = self.prepare(question, lang)
        if self.settled(index, text, lang, early):
            return early
        ranked = index.score(text, lang)
        if not ranked:
            return early or Answer.none(lang)
        ranking = [r.intent for r in ranked]
        return self.decide(index, text, lang, ranking, ranked[0].confidence, self.threshold, early)

    @staticmethod
    def settled(index: KBIndex, text: str, lang: str, early: Answer | None) -> bool:
        """Whether the rules' reply (`prepare`) is final. An out-of-scope match on a question with a word the
        KB knows is not: it gets the ranking's suggestions too (`decide`)."""
        if early is None:
            return False
        return early.intent != NO_ANSWER or early.urgent or not index.knows(text, lang)

    def decide(
        self,
        index: KBIndex,
        text: str,
        lang: str,
        ranking: list[str],
        confidence: float,
        threshold: float,
        early: Answer | None = None,
    ) -> Answer:
        """The reply once the intents are ranked (best first) and the best one's P(right) is known.

        Above the threshold: the answer, unless the question asks for something it does not cover (hedged:
        the answer plus "I don't have information about X", not found) or a close runner-up covers that
        (suggestions). Below it: not found, with the first MAX_SUGGESTIONS intents as suggestions when the
        question has a word the KB knows. With `early` (an out-of-scope rule match, not `settled`): that reply,
        with the same suggestions when the best intent would have been answered."""
        best = ranking[0]
        entry = index.entry_for(best, lang)
        conf = round(float(confidence), 4)
        first = entry.questions[0] if entry.questions else None
        # A language, diet or way to pay the best entry's answer does not name, though it names others of its kind.
        hedgeable = early is None and best not in index.small_talk_intents
        missing = contrast.uncovered(text, index.classes[index.intent_idx[best]]) if hedgeable else []
        if early is not None or confidence < threshold:
            if missing and index.knows(text, lang):
                # Under the threshold the best entry is still the topic ("fate visite guidate in giapponese?"):
                # what is known, what is not, and a person (an escalation either way).
                return self._hedged(entry, best, conf, lang, first, missing)
            if early is None and self._asks_safety_entry(text, ranking):
                # A question about the venue's safety entry, which ranks first ("what happens if a child gets
                # separated?", "where's the infirmary?"): that entry's answer, not a queue.
                return Answer(True, entry.answer, entry.intent, entry.id, conf, lang)
            # An out-of-scope match gets them only when the ranking is sure enough to have answered: the rule
            # may have overruled a KB entry ("posso dare una mano con la banca dei semi?": "banca" is a bank).
            sure = early is None or confidence >= threshold
            offered = ranking[:MAX_SUGGESTIONS] if sure and index.knows(text, lang) else []
            reply = early or Answer.none(lang, conf)
            return replace(reply, suggestion=first if offered else None, suggestions=offered)
        if hedgeable and not missing and self.hedge:
            missing = index.uncovered(text, lang, best)  # HEDGE_UNKNOWN_WORDS: any word no KB entry uses
        if missing:
            return self._hedged(entry, best, conf, lang, first, missing)
        return Answer(True, entry.answer, entry.intent, entry.id, conf, lang)

    def _asks_safety_entry(self, text: str, ranking: list[str]) -> bool:
        """True when the best-ranked intent is a safety entry (emergency, first aid, lost child) and the question asks
        about what it covers (`emergency.asks_about_safety`)."""
        return bool(ranking) and emergency.asks_about_safety(text, ranking[0], self.emergency_intent)

    @staticmethod
    def _hedged(entry, best: str, conf: float, lang: str, first: str | None, missing: list[str]) -> Answer:
        """The hedged reply: the best entry's answer, then "I don't have information about X"; not found."""
        note = HEDGE_TEXT.get(lang, HEDGE_TEXT["en"]).format(what=", ".join(missing[:2]))
        return Answer(
            False, f"{entry.answer}\n\n{note}", best, entry.id, conf, lang, first, hedged=True, suggestions=[best]
        )

    def question_for(self, intent: str, lang: str) -> str | None:
        """The question a suggestion button asks: the intent's first KB question in `lang` (None if unknown)."""
        index = self.index
        if intent not in index.by_intent:
            return None
        entry = index.entry_for(intent, lang)
        return entry.questions[0] if entry.questions else None

    def emergency(self, question: str, lang: str | None = None) -> Answer | None:
        """The emergency instructions when `question` reports an emergency, else None: only the detector,
        no retrieval (for a message typed while the visitor waits for or talks with a person). It uses the KB
        as last loaded and never reloads it: the chat service calls it inside its transaction."""
        index = self._index
        question = question if isinstance(question, str) else str(question or "")
        return self.emergency_answer(index, question[:2000], self.reply_lang(index, question, lang))

    def emergency_answer(self, index: KBIndex, question: str, lang: str) -> Answer | None:
        """The venue's emergency instructions when the message reports an emergency (urgent), else None."""
        found = emergency.detect(question, index.raw_count.keys())
        if found is None:
            return None
        entry, text = emergency.instructions(
            index.entries, lang, found.kind, self.emergency_intent, self.emergency_text or None
        )
        return Answer(
            True,
            text,
            emergency.EMERGENCY,
            entry.id if entry else None,
            1.0,
            lang,
            urgent=True,
            topic=entry.intent if entry else None,
        )

    def prepare(self, question: str, lang: str | None) -> tuple[KBIndex, str, str, Answer | None]:
        """The steps before retrieval: the reply language, the escalation rules and small talk.

        Returns the index, the text to retrieve with (greeting stripped), the reply language, and the
        answer when the rules already decide it (None when retrieval must decide)."""
        index = self.index
        question = question if isinstance(question, str) else str(question or "")
        question = question[:2000]
        lang = self.reply_lang(index, question, lang)
        if not question.strip():
            return index, question, lang, Answer.none(lang)
        urgent = self.emergency_answer(index, question, lang)
        if urgent is not None:
            return index, question, lang, urgent
        reason = escalation_reason(question, index.asks_about, index.asks_kind)
        if reason:
            return index, question, lang, Answer(False, "", reason, None, 1.0, lang)
        talk = small_talk(question)
        if talk:
            return index, question, lang, self._small_talk(index, talk, lang)
        return index, strip_small_talk(question) or question, lang, None

    def reply_lang(self, index: KBIndex, question: str, lang: str | None) -> str:
        """The visitor's page language, unless the question is clearly in the other language
        (an English question on the Italian page is answered in English)."""
        if lang not in ("it", "en"):
            return index.detect_lang(question, self.default_lang)
        other = "en" if lang == "it" else "it"
        scores = lang_scores(question, index.it_vocab, index.en_vocab)
        if scores[other] >= LANG_SWITCH_MIN and scores[other] >= 2 * scores[lang] + LANG_SWITCH_MARGIN:
            return other
        return lang

    def candidates(self, question: str, lang: str, k: int = 3) -> list[Scored]:
        """Top-k intents for `question` (used by the LLM answerer)."""
        return self.index.score(strip_small_talk(question) or question, lang)[:k]

    def _small_talk(self, index: KBIndex, kind: str, lang: str) -> Answer:
        # A goodbye where the KB has no goodbye entry: its thank-you answers it (the demo's "thanks, bye").
        intent = index.small_talk[kind] or (index.small_talk["thanks"] if kind == "goodbye" else None)
        if intent:
            entry = index.entry_for(intent, lang)
            return Answer(True, entry.answer, entry.intent, entry.id, 1.0, lang)
        name = {"greeting": "saluto", "thanks": "ringraziamento", "goodbye": "congedo"}[kind]
        return Answer(True, _BUILTIN_SMALL_TALK[(kind, lang)], name, None, 1.0, lang)
