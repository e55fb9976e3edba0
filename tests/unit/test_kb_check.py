"""Bad knowledge bases never crash and say where: line-numbered errors (rows skipped, or the file unusable) and
warnings (rows used but probably not as meant), at load (log lines) and from `python -m sportello kb check`."""

from __future__ import annotations

import json
import logging

import pytest

from sportello.__main__ import main as sportello_main
from sportello.answering import kb
from sportello.answering.kb import KBError, phrasing_rows, read_kb
from sportello.answering.retrieval import RetrievalAnswerer

HEADER = "id,intent,lang,questions,answer\n"
GOOD = (
    'it-1,orari,it,"Quando aprite? | A che ora chiudete?","Apriamo alle 9 e chiudiamo alle 19."\n'
    'en-1,orari,en,"When do you open? | What time do you close?","We open at 9 and close at 7 pm."\n'
)


def kb_file(tmp_path, body: str, name: str = "faq.csv"):
    path = tmp_path / name
    path.write_text(HEADER + GOOD + body, encoding="utf-8")
    return path


def run_check(capsys, path) -> tuple[int, dict]:
    code = sportello_main(["kb", "check", "--kb", str(path), "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_a_clean_kb_has_nothing_to_say(tmp_path, capsys):
    code, report = run_check(capsys, kb_file(tmp_path, ""))
    assert code == 0 and report["ok"] and report["errors"] == [] and report["warnings"] == []
    assert (report["entries"], report["intents"]) == (2, 1)


def test_duplicate_intent_and_question_are_warnings_with_both_lines(tmp_path, capsys):
    path = kb_file(
        tmp_path,
        'it-2,orari,it,"Siete aperti la domenica?","Sì, la domenica dalle 10."\n'  # line 4: orari/it again
        'it-3,prezzi,it,"Quando aprite?","Il biglietto costa 9 euro."\n',  # line 5: a question of orari
    )
    code, report = run_check(capsys, path)
    assert code == 0 and report["ok"] and report["entries"] == 4
    assert [(w["line"], w["severity"]) for w in report["warnings"]] == [(4, "warning"), (5, "warning")]
    assert "duplicate intent 'orari' in it (also line 2" in report["warnings"][0]["message"]
    assert "'Quando aprite?'" in report["warnings"][1]["message"] and "line 2" in report["warnings"][1]["message"]


def test_empty_answer_and_other_bad_rows_are_errors_and_exit_1(tmp_path, capsys):
    path = kb_file(
        tmp_path,
        'it-2,prezzi,it,"Quanto costa?",\n'  # line 4: empty answer
        'it-3,bar,xx,"C\'è un bar?","Sì."\n'  # line 5: unknown language
        'it-1,dup,it,"Duplicato?","No."\n',  # line 6: duplicate id
    )
    code, report = run_check(capsys, path)
    assert code == 1 and not report["ok"] and report["entries"] == 2
    assert [(e["line"], e["message"].split(" ")[0]) for e in report["errors"]] == [
        (4, "empty"),
        (5, "unknown"),
        (6, "duplicate"),
    ]
    assert sportello_main(["kb", "check", "--kb", str(path)]) == 1  # the same as lines
    assert "faq.csv:4: error: empty answer" in capsys.readouterr().out


@pytest.mark.parametrize(
    "lang,text",
    [
        ("en", ("Si possono portare i cani nel museo?", "No, gli animali non sono ammessi, tranne i cani guida.")),
        ("it", ("Can I bring my dog into the museum?", "No, pets are not allowed, except for assistance dogs.")),
    ],
)
def test_a_lang_column_that_lies_is_a_warning(tmp_path, capsys, lang, text):
    path = kb_file(tmp_path, f'x-9,animali,{lang},"{text[0]}","{text[1]}"\n')
    code, report = run_check(capsys, path)
    assert code == 0 and [w["line"] for w in report["warnings"]] == [4]
    assert f"lang says '{lang}' but the text looks" in report["warnings"][0]["message"]


def test_the_shipped_kbs_have_no_lying_lang_column():
    for path in ("data/faq.csv", "tests/data/venues/garden/faq.csv", "tests/data/venues/science/faq.csv"):
        result = read_kb(path)
        assert result.problems == [] and result.warnings == [], path


def test_a_huge_cell_skips_its_row_and_the_rest_still_loads(tmp_path, capsys):
    huge = "parola " * 30_000  # 209,999 characters once stripped: more than the csv module's own limit too
    path = kb_file(tmp_path, f'it-2,enorme,it,"Domanda?","{huge}"\nit-3,bar,it,"C\'è un bar?","Sì, al piano terra."\n')
    code, report = run_check(capsys, path)
    assert code == 1 and report["entries"] == 3  # the row after it is read
    assert (
        report["errors"][0]["line"] == 4
        and "cell too large (answer has 209,999 characters" in report["errors"][0]["message"]
    )


def test_a_binary_file_is_one_error_on_its_line(tmp_path, capsys):
    path = tmp_path / "faq.csv"
    path.write_bytes(b"id,intent,lang,questions,answer\n\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    code, report = run_check(capsys, path)
    assert code == 1 and report["entries"] == 0
    assert report["errors"] == [
        {
            "line": 4,
            "severity": "error",
            "message": "not a CSV text file (binary content); expected columns id,intent,lang,questions,answer",
        }
    ]
    with pytest.raises(KBError, match=r"faq\.csv:4: not a CSV text file"):
        RetrievalAnswerer.from_csv(path)


def test_a_wrong_encoding_is_read_with_a_warning_naming_the_first_bad_line(tmp_path, capsys):
    path = tmp_path / "faq.csv"
    text = HEADER + GOOD + 'it-2,caffe,it,"C\'è un caffè?","Sì, la caffetteria è al piano terra."\n'
    path.write_bytes(text.encode("cp1252"))
    code, report = run_check(capsys, path)
    assert code == 0 and report["entries"] == 3
    assert report["warnings"][0]["line"] == 4 and "not UTF-8" in report["warnings"][0]["message"]
    entry = read_kb(path).entries[-1]
    assert entry.questions == ("C'è un caffè?",)  # Windows-1252, the usual other encoding, reads right


def test_missing_columns_and_missing_file_are_errors(tmp_path, capsys):
    path = tmp_path / "faq.csv"
    path.write_text("id,domanda,risposta\n1,a,b\n", encoding="utf-8")
    code, report = run_check(capsys, path)
    assert code == 1 and report["errors"][0]["line"] == 1 and "missing columns" in report["errors"][0]["message"]
    code, report = run_check(capsys, tmp_path / "nope.csv")
    assert code == 1 and "cannot read" in report["errors"][0]["message"]
    empty = tmp_path / "empty.csv"
    empty.write_text(HEADER, encoding="utf-8")
    code, report = run_check(capsys, empty)
    assert code == 1 and "no usable rows" in report["errors"][0]["message"]


def test_5000_entries_load_with_a_warning(tmp_path, capsys):
    rows = "".join(
        f'g-{i},topic_{i // 2},{"it" if i % 2 else "en"},"Question number {i} about topic {i}?","Answer {i}."\n'
        for i in range(5000)
    )
    path = tmp_path / "faq.csv"
    path.write_text(HEADER + rows, encoding="utf-8")
    result = read_kb(path)
    assert len(result.entries) == 5000 and result.problems == []
    code, report = run_check(capsys, path)
    assert code == 0 and report["entries"] == 5000
    assert [w["line"] for w in report["warnings"]] == [1] and "5,000 entries" in report["warnings"][0]["message"]


def test_the_problems_are_logged_with_their_lines_when_the_answerer_loads(tmp_path, caplog):
    path = kb_file(tmp_path, 'it-2,prezzi,it,"Quanto costa?",\nit-3,orari,it,"Aprite il lunedì?","Sì."\n')
    with caplog.at_level(logging.WARNING, logger="sportello.answering.retrieval"):
        bot = RetrievalAnswerer.from_csv(path)
    assert f"knowledge base {path}:4: row skipped: empty answer" in caplog.text
    assert f"knowledge base {path}:5: duplicate intent 'orari'" in caplog.text
    assert [p.line for p in bot.problems] == [4] and [w.line for w in bot.warnings] == [5]
    assert bot.answer("quando aprite?", "it").found


def test_the_csv_field_limit_is_left_as_it_was(tmp_path):
    import csv

    before = csv.field_size_limit()
    read_kb(kb_file(tmp_path, ""))
    assert csv.field_size_limit() == before and kb.MAX_CELL < before


def test_learned_phrasings_share_a_row_per_intent_and_language_up_to_a_size():
    items = [
        ("learned-1", "wifi", "it", "c'è il wifi?", "Sì."),
        ("learned-2", "cani", "it", "posso portare il cane | il gatto?", "Solo cani guida."),
        ("learned-3", "wifi", "en", "wifi?", "Yes."),
        ("learned-4", "wifi", "it", "rete gratis?", "Sì."),
        ("learned-5", "wifi", "it", "c'è il wifi?", "Sì."),  # the same question again: once
        ("learned-6", "wifi", "it", "x" * 30, "Sì."),  # over the row's size: a new row
    ]
    assert phrasing_rows(items, max_chars=30) == [
        ("learned-1", "wifi", "it", "c'è il wifi?|rete gratis?", "Sì."),
        ("learned-2", "cani", "it", "posso portare il cane / il gatto?", "Solo cani guida."),
        ("learned-3", "wifi", "en", "wifi?", "Yes."),
        ("learned-6", "wifi", "it", "x" * 30, "Sì."),
    ]
