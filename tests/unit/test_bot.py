"""sportello.answering.bot: the public contract, the answering settings, and the quality floors.
The command line (ask, eval) runs as a subprocess in tests/integration/test_answering_cli.py."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

import sportello.answering.bot as bot
from sportello.answering.evaluation import cross_validate, evaluate, load_cases
from sportello.answering.llm import LLMAnswerer
from sportello.config import Settings

ROOT = Path(__file__).resolve().parents[2]
KB = ROOT / "data" / "faq.csv"
DATA = ROOT / "tests" / "data"


def test_contract_names():
    for name in ("Answer", "Answerer", "load_kb", "KBError", "RetrievalAnswerer", "build_answerer"):
        assert hasattr(bot, name)
    assert bot.OPERATOR_REQUEST == "operator_request" and bot.NO_ANSWER == "no_answer"
    ans = bot.Answer(True, "x", "i", "s", 0.5, "en")
    assert ans.public() == {
        "found": True,
        "answer": "x",
        "intent": "i",
        "source_id": "s",
        "confidence": 0.5,
        "urgent": False,
        "hedged": False,
        "suggestions": [],
    }
    with pytest.raises(dataclasses.FrozenInstanceError):
        ans.found = False


def test_the_answering_settings(tmp_path):
    s = Settings.from_env({"DATA_DIR": str(tmp_path)})
    assert (s.answerer, s.examples_path, s.learned_kb_path, s.learned_examples_path) == ("auto", None, None, None)
    assert s.learned_kb_file == tmp_path.resolve() / "learned_kb.csv"
    assert s.learned_examples_file == tmp_path.resolve() / "learned_examples.csv"
    env = {
        "DATA_DIR": str(tmp_path),
        "ANSWERER": " Lexical ",
        "EXAMPLES_PATH": "/x/examples.csv",
        "LEARNED_KB_PATH": "/x/kb.csv",
        "LEARNED_EXAMPLES_PATH": "/x/learned.csv",
    }
    s = Settings.from_env(env)
    assert (s.answerer, s.examples_path) == ("lexical", Path("/x/examples.csv"))
    assert (s.learned_kb_file, s.learned_examples_file) == (Path("/x/kb.csv"), Path("/x/learned.csv"))
    assert type(bot.build_retrieval(dataclasses.replace(s, kb_path=KB))) is bot.RetrievalAnswerer


PRAYER = "c'è una sala di preghiera?"


def test_every_answerer_reloads_what_operators_taught_when_told(tmp_path):
    kb = tmp_path / "faq.csv"
    learned = tmp_path / "learned_kb.csv"
    offline = bot.RetrievalAnswerer(path=KB, extra_paths=[learned], reload_interval=3600)  # no reload by itself
    llm = LLMAnswerer(offline, client=object())
    escalating = bot.EscalatingAnswerer("no faq.csv yet", rebuild=lambda: llm, path=kb, retry_interval=0)
    kb.write_text("fixed", encoding="utf-8")
    assert escalating.answer("ciao", "it").intent == "saluto"  # it recovered: the LLM answerer is behind it
    assert not offline.answer(PRAYER, "it").found
    learned.write_text(
        f"id,intent,lang,questions,answer\nl-1,preghiera,it,{PRAYER},Sì: al primo piano.\n", encoding="utf-8"
    )
    escalating.reload_learned()  # the learning loop's call, through every wrapper to the offline answerer
    assert offline.answer(PRAYER, "it").intent == "preghiera"
    bot.SilentAnswerer().reload_learned()  # learns nothing, and says nothing


# Written blind (by people who read only the KB, never the code) and never used for tuning.
BLIND_FILES = ("eval_holdout4.csv", "eval_holdout5.csv")


def test_blind_sets_floor():
    """Regression floor on unseen wording. These are the measured numbers, BELOW the issue's targets
    (90 % / 90 % / 2 %): the offline answerer does not meet them on new paraphrases (see README)."""
    cases = [c for name in BLIND_FILES for c in load_cases(DATA / name)]
    assert len(cases) >= 400 and sum(c.expected == "escalate" for c in cases) >= 100
    kb_questions = {q.lower() for e in bot.load_kb(KB) for q in e.questions}
    assert not {c.question.lower() for c in cases} & kb_questions
    report = evaluate(bot.RetrievalAnswerer.from_csv(KB), cases)
    # Issue 25: suggestions count as escalations; hedged replies are off by default (HEDGE_UNKNOWN_WORDS).
    assert report.accuracy >= 0.66
    assert report.escalation_recall >= 0.95
    assert report.wrong_confident_rate <= 0.025


def test_case_files_are_separate_and_large_enough():
    dev = load_cases(DATA / "eval_dev.csv")
    test = load_cases(DATA / "eval_test.csv")
    assert len(test) >= 120
    assert not {c.question.lower() for c in dev} & {c.question.lower() for c in test}
    kb_questions = {q.lower() for e in bot.load_kb(KB) for q in e.questions}
    assert not {c.question.lower() for c in test} & kb_questions  # paraphrased, not copied
    assert {c.lang for c in test} >= {"it", "en"}


def test_dev_set_quality():
    """The tuning set: lexicon, weights and threshold were chosen on it, so it must stay at target."""
    report = evaluate(bot.RetrievalAnswerer.from_csv(KB), load_cases(DATA / "eval_dev.csv"))
    assert report.accuracy >= 0.92
    assert report.escalation_recall >= 0.95
    assert report.wrong_confident_rate <= 0.01


def test_test_set_floor():
    """Second dev set (also used for tuning since issue 6 follow-up): guard against regressions."""
    report = evaluate(bot.RetrievalAnswerer.from_csv(KB), load_cases(DATA / "eval_test.csv"))
    assert report.accuracy >= 0.88
    assert report.escalation_recall >= 0.95
    assert report.wrong_confident_rate <= 0.01


def test_out_of_scope_dev_set():
    """Out-of-scope questions sharing words with a KB topic, and near-miss paraphrases (both languages)."""
    cases = load_cases(DATA / "eval_dev_oos.csv")
    assert sum(c.expected == "escalate" for c in cases) >= 40 and sum(c.expected != "escalate" for c in cases) >= 20
    assert {c.lang for c in cases} >= {"it", "en"}
    report = evaluate(bot.RetrievalAnswerer.from_csv(KB), cases)
    assert report.escalation_recall >= 0.95
    assert report.wrong_confident <= 1


DEV_FILES = ("eval_dev.csv", "eval_test.csv", "eval_dev_oos.csv", "eval_holdout.csv", "eval_holdout2.csv")


def test_cross_validated_threshold_on_dev_files():
    """5-fold CV on all five dev files merged: the threshold is chosen on 4 folds and measured on the fifth.

    In-sample for the lexicon (it was built from these files), so these numbers are far above the blind sets'."""
    cases = [c for name in DEV_FILES for c in load_cases(DATA / name)]
    assert len(cases) >= 650
    report, thresholds = cross_validate(lambda t: bot.RetrievalAnswerer.from_csv(KB, threshold=t), cases, k=5)
    assert report.accuracy >= 0.93
    assert report.escalation_recall >= 0.95
    assert report.wrong_confident_rate <= 0.015
    assert all(0.3 <= t <= 0.75 for t in thresholds)
    assert 0.3 <= bot.RetrievalAnswerer([]).threshold <= 0.75  # the shipped default is in CV's range
