"""`python -m sportello kb examples` (sportello/services/kb_examples.py, sportello/faces/kb_cli.py): example
questions from an OpenAI-compatible LLM (the real SDK against testkit/openai_standin.py), kept as they
arrive, stored as proposals by the LLM, and used by the answerer only once an admin accepted them."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest

from sportello.__main__ import main as sportello_main
from sportello.answering.examples import GENERATED, Example, read_examples
from sportello.config import Settings
from sportello.domain.errors import Forbidden
from sportello.runtime import Runtime
from sportello.services import kb_examples
from sportello.services.learning import LLM
from testkit.dashboard import make_operators
from testkit.openai_standin import OpenAIStandIn, example_questions, reply

from .test_learning import seeded  # noqa: F401  (the seeded store of testkit.dashboard, for the dashboard)

MARIO = {"id": 1, "username": "mario", "display_name": "Mario Rossi", "is_admin": True}
LUCIA = {"id": 2, "username": "lucia", "display_name": "Lucia Bianchi", "is_admin": False}
KB_ROWS = """id,intent,lang,questions,answer
it-1,serre,it,Quante serre ci sono?|Cosa c'è nelle serre?,"Tre serre: tropicale, succulente e felci."
en-1,serre,en,How many glasshouses are there?|What is in the glasshouses?,"Three: tropical, succulents, ferns."
it-2,caffe,it,C'è un bar?|Dove si mangia?,Il caffè è nella limonaia.
en-2,caffe,en,Is there a cafe?|Where can I eat?,The cafe is in the old lemon house.
it-3,negozio,it,Vendete piante?,Il negozio vende piante e semi.
en-3,negozio,en,Do you sell plants?,The shop sells plants and seeds.
"""
INTENTS = ["serre", "caffe", "negozio"]


@pytest.fixture
def standin():
    with OpenAIStandIn() as server:
        yield server
    assert not any(t.name == "openai-standin" for t in threading.enumerate())


@pytest.fixture
def kb(tmp_path):
    path = tmp_path / "kb" / "faq.csv"
    path.parent.mkdir()
    path.write_text(KB_ROWS, encoding="utf-8")
    return path


@pytest.fixture
def env(monkeypatch, data_dir, kb, standin):
    """The command's environment: this test's DATA_DIR and database, the KB, the stand-in as the LLM."""
    monkeypatch.setenv("DATA_DIR", str(data_dir))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("EXAMPLES_PATH", raising=False)
    monkeypatch.setenv("KB_PATH", str(kb))
    monkeypatch.setenv("ANSWERER", "lexical")
    monkeypatch.setenv("OPENAI_BASE_URL", standin.base_url)
    monkeypatch.setenv("OPENAI_MODEL", "standin-model")
    return data_dir


@pytest.fixture
def app(env):
    """The app's runtime on the same store and files, answering offline (the stand-in is only for `kb examples`)."""
    rt = Runtime(replace(Settings.from_env(), openai_base_url=""), sink=None)
    make_operators(rt.operators)
    yield rt
    rt.store.dispose()


def run(*args: str) -> int:
    return sportello_main(["kb", "examples", *args])


def out_rows(data_dir) -> list[Example]:
    return read_examples(data_dir / "generated_examples.csv")


def test_the_command_writes_both_languages_per_intent_and_proposes_them_for_review(app, env, standin, capsys):
    assert run("--per-entry", "3") == 0
    err = capsys.readouterr().err
    assert "[1/3] serre: 6 questions" in err and "18 new proposals" in err
    rows = out_rows(env)
    assert [(x.expected, x.lang) for x in rows] == [(i, lg) for i in INTENTS for lg in ("it",) * 3 + ("en",) * 3]
    assert "Buongiorno, quante serre ci sono?" in [x.question for x in rows]
    request = standin.requests[0]
    assert request["model"] == "standin-model"
    assert request["response_format"]["json_schema"]["name"] == kb_examples.SCHEMA_NAME
    assert "serre" in request["messages"][1]["content"]

    pending = app.learning.pending()
    assert len(pending) == 18
    assert {(p["source"], p["status"], p["kind"], p["operator_name"]) for p in pending} == {
        (LLM, "proposed", "intent", LLM)
    }
    assert not read_examples(app.settings.learned_examples_file)  # nothing reaches the answerer yet
    learned_kb = app.settings.learned_kb_file
    assert not learned_kb.exists() or "Buongiorno" not in learned_kb.read_text(encoding="utf-8")

    # Again: every intent is in the file already; nothing asked, nothing proposed twice.
    asked = len(standin.requests)
    assert run("--per-entry", "3") == 0
    err = capsys.readouterr().err
    assert "3 already in" in err and "0 new proposals" in err
    assert len(standin.requests) == asked
    assert len(app.learning.pending()) == 18


def test_without_an_llm_nothing_is_fetched(env, standin, monkeypatch, capsys):
    monkeypatch.delenv("OPENAI_BASE_URL")
    assert run() == 2
    assert "no LLM configured" in capsys.readouterr().err
    assert standin.requests == []
    assert not (env / "generated_examples.csv").exists()


def test_a_malformed_reply_fails_that_intent_only_and_the_next_run_retries_it(app, env, standin, capsys):
    standin.set_script(
        [{"content": "Sure! Here are some questions: 1. ..."}, {"content": {"it": [], "en": 3}}, {"content": reply}]
    )
    assert run("--per-entry", "2") == 1
    err = capsys.readouterr().err
    assert "failed: serre: the model's reply is not usable JSON" in err
    assert "failed: caffe: the model's reply has no usable Italian questions" in err
    assert "run the command again" in err
    assert {x.expected for x in out_rows(env)} == {"negozio"}  # what arrived is kept
    assert {p["intent"] for p in app.learning.pending()} == {"negozio"}

    assert run("--per-entry", "2") == 0  # only the failed ones are asked again
    assert [x.expected for x in out_rows(env)].count("serre") == 4
    assert {p["intent"] for p in app.learning.pending()} == set(INTENTS)


def test_timeouts_fail_intents_and_stop_the_run_when_the_server_is_down(env, standin, kb):
    standin.set_script([{"delay": 2, "content": reply}])
    settings = Settings.from_env()
    writer = kb_examples.writer_for(settings, 2, timeout=0.2)
    try:
        progress = kb_examples.generate(settings, writer, env / "out.csv", max_consecutive_failures=2)
    finally:
        writer.close()
    assert progress.failed == {i: "the LLM server did not answer in time" for i in INTENTS[:2]}
    assert progress.stopped and "2 intents failed in a row" in progress.stopped
    assert not progress.complete and progress.written == []


def test_rate_limits_are_waited_out_then_stop_the_run_keeping_what_arrived(env, standin):
    waits: list[float] = []
    settings = Settings.from_env()
    limited = {"status": 429, "headers": {"Retry-After": "0.5"}}
    standin.set_script([limited, {"status": 429}, {"content": reply}, limited, limited, limited])
    writer = kb_examples.writer_for(settings, 2, timeout=2, retries=2, backoff=0.25, sleep=waits.append)
    try:
        progress = kb_examples.generate(settings, writer, env / "out.csv")
    finally:
        writer.close()
    assert waits == [0.5, 0.5, 0.5, 0.5]  # Retry-After, the backoff (0.25 * 2), then Retry-After twice
    assert progress.written == ["serre"]
    assert progress.stopped and "429 (rate limit)" in progress.stopped
    assert {x.expected for x in read_examples(env / "out.csv")} == {"serre"}


def test_a_refused_key_stops_at_once_and_a_server_without_json_schema_gets_plain_json(env, standin):
    settings = Settings.from_env()
    standin.set_script([{"status": 401, "message": "bad key"}])
    writer = kb_examples.writer_for(settings, 1, timeout=2)
    try:
        progress = kb_examples.generate(settings, writer, env / "out.csv")
        assert "refused the API key (401)" in progress.stopped and len(standin.requests) == 1

        standin.set_script([{"reject_json_schema": True, "content": reply}])
        progress = kb_examples.generate(settings, writer, env / "out.csv")
    finally:
        writer.close()
    assert progress.complete and progress.written == INTENTS
    assert "response_format" not in standin.requests[-1]


def test_the_output_is_never_a_file_the_answerer_reads(env, standin, kb):
    settings = Settings.from_env()
    writer = kb_examples.writer_for(settings, 1, timeout=2)
    try:
        for path in (settings.learned_examples_file, env / "examples.csv", kb.parent / "examples.csv", kb):
            with pytest.raises(kb_examples.ExamplesError, match="reviewed first"):
                kb_examples.generate(settings, writer, path)
    finally:
        writer.close()
    assert standin.requests == []


def test_only_accepted_examples_reach_the_answerer_as_written_or_edited(app, env, standin):
    """The review: a non-admin cannot accept; an admin accepts as written, edits then accepts, rejects."""
    body = {"messages": [{"role": "user", "content": '{"topic": "x", "knowledge_base": [], "write": {}}'}]}
    assert example_questions(body) == {}
    generated = [
        Example("posso comprare un bonsai da portare via?", "it", "negozio"),
        Example("ci sono tavolini all'aperto nel bar?", "it", "caffe"),
        Example("can I buy a cactus to take home?", "en", "serre"),  # the wrong intent: the admin fixes it
        Example("do you sell tickets for the zoo?", "en", "negozio"),  # wrong: rejected
        Example("Vendete piante?", "it", "negozio"),  # a KB phrasing: not proposed
        Example("what about the moon?", "en", "astronomia"),  # not a KB intent: not proposed
    ]
    assert app.learning.propose_generated(generated) == {"proposed": 4, "known": 1, "unknown_intent": 1}
    bookshop, tables, cactus, zoo = app.learning.pending()
    with pytest.raises(Forbidden):
        app.learning.review(bookshop["id"], LUCIA, approve=True)
    assert not app.answerer.answer("posso comprare un bonsai da portare via?", "it").found

    app.learning.review(bookshop["id"], MARIO, approve=True)
    edited = app.learning.review(
        cactus["id"], MARIO, approve=True, question="can I buy a cactus plant to take home?", intent="negozio"
    )
    assert (edited["question"], edited["intent"], edited["source"]) == (
        "can I buy a cactus plant to take home?",
        "negozio",
        LLM,
    )
    app.learning.review(zoo["id"], MARIO, approve=False)

    learned = {(x.question, x.expected, x.source) for x in read_examples(app.settings.learned_examples_file)}
    assert learned == {  # written as the LLM's: they do not make the venue's answerer warm (test_semantic)
        ("posso comprare un bonsai da portare via?", "negozio", GENERATED),
        ("can I buy a cactus plant to take home?", "negozio", GENERATED),
    }
    got = app.answerer.answer("posso comprare un bonsai da portare via?", "it")
    assert got.found and got.intent == "negozio"  # reload_learned: this process's answerer knows it now
    assert app.learning.pending() == [{**tables, "source": LLM}]
    history = {h["id"]: h for h in app.learning.history()}
    assert history[zoo["id"]]["status"] == "rejected" and history[cactus["id"]]["reviewed_by"] == "Mario Rossi"
    # Proposed again: nothing already labelled (pending, accepted or rejected) comes back.
    assert app.learning.propose_generated([generated[i] for i in (0, 1, 3)])["proposed"] == 0


# ----------------------------------------------------------------- the review on the dashboard (Streamlit AppTest)
def test_an_admin_edits_and_accepts_a_generated_example_on_the_dashboard(seeded, data_dir):  # noqa: F811
    from .test_learning import analisi_page

    rt = seeded
    rt.learning.propose_generated(
        [
            Example("posso lasciare il passeggino all'ingresso??", "it", "animali"),  # the LLM got the intent wrong
            Example("can I bring my parrot?", "en", "animali"),
        ]
    )
    rt.learning.label(LUCIA, "avete il wifi gratuito?", "it", escalate=True)  # an operator's proposal
    stroller, parrot, wifi = rt.learning.pending()

    at = analisi_page("lucia")  # not an admin: no review at all
    assert not [b for b in at.button if b.key and b.key.startswith(("lbl_approve_", "lbl_reject_"))]

    at = analisi_page("mario")
    source = at.selectbox(key="lbl_review_source")
    assert source.options == ["tutti", "LLM (esempi generati, kb examples)", "operatori"]
    assert any(f"#{stroller['id']} · proposta da LLM" in t.value for t in at.text)
    source.select("llm").run()
    assert not at.exception, at.exception
    assert not [b for b in at.button if b.key == f"lbl_approve_{wifi['id']}"]  # only the LLM's shown
    at.text_input(key=f"lbl_edit_q_{stroller['id']}").set_value("posso lasciare il passeggino all'ingresso?")
    at.selectbox(key=f"lbl_edit_i_{stroller['id']}").select("guardaroba_borse")
    at.button(key=f"lbl_approve_{stroller['id']}").click().run()
    assert not at.exception, at.exception
    assert [s.value for s in at.success] == [f"Proposta #{stroller['id']} approvata: l'AI la usa da ora."]
    at.button(key=f"lbl_reject_{parrot['id']}").click().run()
    assert not at.exception, at.exception

    history = {h["id"]: h for h in rt.learning.history()}
    assert (history[stroller["id"]]["question"], history[stroller["id"]]["intent"]) == (
        "posso lasciare il passeggino all'ingresso?",
        "guardaroba_borse",
    )
    assert history[stroller["id"]]["reviewed_by"] == "Mario Rossi"
    assert history[parrot["id"]]["status"] == "rejected" and history[wifi["id"]]["status"] == "proposed"
    learned = read_examples(data_dir / "learned_examples.csv")
    assert [(x.question, x.expected) for x in learned] == [
        ("posso lasciare il passeggino all'ingresso?", "guardaroba_borse")
    ]


def test_bad_arguments_and_a_new_output_folder(app, env, standin, capsys, tmp_path):
    assert run("--per-entry", "0") == 2
    assert "--per-entry must be between 1 and 50" in capsys.readouterr().err
    assert run("--kb", str(tmp_path / "missing.csv")) == 2
    assert "knowledge base" in capsys.readouterr().err and standin.requests == []
    out = tmp_path / "new" / "folder" / "examples.csv"
    assert run("--per-entry", "1", "--out", str(out)) == 0
    assert [x.expected for x in read_examples(out)] == [i for i in INTENTS for _ in range(2)]


def test_an_admin_approves_an_intents_generated_examples_at_once_on_the_dashboard(seeded, data_dir):  # noqa: F811
    """An LLM's questions come 12 an intent: the admin picks an intent, reads them, approves the ones shown at once
    (one write, one reload); a proposal reviewed meanwhile is left as it was."""
    from .test_learning import analisi_page

    rt = seeded
    rt.learning.propose_generated(
        [
            Example("posso portare il mio cane?", "it", "animali"),
            Example("are dogs welcome inside?", "en", "animali"),
            Example("il gatto può entrare nel trasportino?", "it", "animali"),
            Example("dove lascio lo zaino?", "it", "guardaroba_borse"),
        ]
    )
    dog, dogs, cat, bag = rt.learning.pending()
    with pytest.raises(Forbidden):
        rt.learning.approve_many([dog["id"]], LUCIA)

    at = analisi_page("mario")
    at.selectbox(key="lbl_review_intent").select("animali").run()
    assert not at.exception, at.exception
    assert not [b for b in at.button if b.key == f"lbl_approve_{bag['id']}"]  # the other intent is not shown
    button = at.button(key="lbl_approve_shown")
    assert button.label == "Approva le 3 mostrate"
    rt.learning.review(cat["id"], MARIO, approve=False)  # meanwhile, in another tab
    rt.learning.propose_generated([Example("i cani piccoli possono entrare?", "it", "animali")])  # and a new one
    button.click().run()
    assert not at.exception, at.exception
    assert [s.value for s in at.success] == [
        "2 proposte approvate: l'AI le usa da ora. 1 non più in attesa o non valide, lasciate com'erano."
    ]
    status = {h["id"]: h["status"] for h in rt.learning.history()}
    assert [status[x["id"]] for x in (dog, dogs, cat, bag)] == ["approved", "approved", "rejected", "proposed"]
    assert [p["question"] for p in rt.learning.pending()] == [
        "dove lascio lo zaino?",
        "i cani piccoli possono entrare?",
    ]
    learned = read_examples(data_dir / "learned_examples.csv")
    assert {(x.question, x.source) for x in learned} == {
        ("posso portare il mio cane?", GENERATED),
        ("are dogs welcome inside?", GENERATED),
    }
    assert rt.learning.approve_many([dog["id"], bag["id"]], MARIO) == {"approved": [bag["id"]], "skipped": [dog["id"]]}
