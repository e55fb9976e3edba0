"""The learning loop (sportello.services.learning): operators label visitor questions, the labels are
versioned in the store, and the real answerer picks them up without a restart, also in a second
Runtime on the same DATA_DIR (as the dashboard process is)."""

from __future__ import annotations

import time

import pytest

from sportello.config import Settings
from sportello.domain.errors import Conflict, Forbidden, ValidationError
from sportello.domain.intents import ESCALATE
from sportello.runtime import Runtime
from testkit.dashboard import FakeAnswerer, make_operators

SCOOTER = "posso portare il mio monopattino elettrico?"
PRAYER = "is there a prayer room?"
# As `make_operators` makes them in a new store: mario is an admin, lucia is not (the store decides, not the dict).
MARIO = {"id": 1, "username": "mario", "display_name": "Mario Rossi", "is_admin": True}
LUCIA = {"id": 2, "username": "lucia", "display_name": "Lucia Bianchi", "is_admin": False}


class Clock:
    def __init__(self, t: float = 1_750_000_000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def settings(data_dir):
    return Settings.from_env({"DATA_DIR": str(data_dir), "ANSWERER": "lexical"})


@pytest.fixture
def app(settings):
    rt = Runtime(settings, sink=None)
    make_operators(rt.operators)
    yield rt
    rt.store.dispose()


def ask(rt: Runtime, question: str, lang: str = "it"):
    return rt.answerer.answer(question, lang)


def test_an_intent_label_teaches_the_answerer_here_and_in_another_process(app, settings):
    other = Runtime(settings)  # the same DATA_DIR and database: another process's answerer
    other.answerer.reload_interval = 0.2  # how often it looks at the files (1 s by default): the test waits less
    try:
        assert not ask(app, SCOOTER).found
        assert not ask(other, SCOOTER).found

        label = app.learning.label(MARIO, SCOOTER, "it", intent="guardaroba_borse")
        got = ask(app, SCOOTER)
        assert got.found and got.intent == "guardaroba_borse"  # this process: at once
        assert got.answer == ask(app, "dove lascio lo zaino?").answer  # the intent's own answer
        assert ask(app, "posso portare un monopattino elettrico?").intent == "guardaroba_borse"

        time.sleep(other.answerer.reload_interval + 0.1)  # the other process notices the file's change
        assert ask(other, SCOOTER).intent == "guardaroba_borse"

        app.learning.undo(label["id"], MARIO)
        assert not ask(app, SCOOTER).found
        time.sleep(other.answerer.reload_interval + 0.1)
        assert not ask(other, SCOOTER).found
    finally:
        other.store.dispose()


def test_a_new_kb_entry_answers_in_both_languages(app):
    assert not ask(app, PRAYER, "en").found
    label = app.learning.label(
        MARIO,
        PRAYER,
        "en",
        kb_entry={
            "question_it": "c'è una sala di preghiera?",
            "answer_it": "Sì, al primo piano c'è una sala per il raccoglimento.",
            "question_en": "",  # the visitor's question is the English one
            "answer_en": "Yes, there is a quiet room for prayer on the first floor.",
        },
    )
    assert label["intent"] == f"learned_{label['id']}"
    en = ask(app, PRAYER, "en")
    assert en.found and en.answer.startswith("Yes, there is a quiet room")
    it = ask(app, "c'è una sala di preghiera?", "it")
    assert it.found and it.answer.startswith("Sì, al primo piano")
    assert label["intent"] in app.learning.intents()

    # A visitor question can then be labelled with the learned intent too.
    app.learning.label(MARIO, "avete una stanza per pregare?", "it", intent=label["intent"])
    assert ask(app, "avete una stanza per pregare?").intent == label["intent"]

    app.learning.undo(label["id"], MARIO)
    assert not ask(app, PRAYER, "en").found
    assert label["intent"] not in app.learning.intents()


def test_escalate_labels_are_stored_and_written_for_the_fused_answerer(app, settings):
    app.learning.label(MARIO, "avete il wifi gratuito?", "it", escalate=True)
    text = (settings.data_dir / "learned_examples.csv").read_text(encoding="utf-8")
    assert text.splitlines() == ["question,lang,expected", "avete il wifi gratuito?,it,escalate"]
    assert ask(app, "avete il wifi gratuito?").found  # the lexical answerer has no example memory


def test_history_records_who_and_when_and_undo(app, settings):
    app.operators.update(LUCIA["id"], is_admin=True)  # two admins: their labels apply at once
    clock = Clock()
    app.learning.clock = clock
    first = app.learning.label(MARIO, SCOOTER, "it", intent="guardaroba_borse")
    clock.t += 60
    second = app.learning.label(LUCIA, "a che ora aprite la domenica mattina?", "it", intent="orari_apertura")
    clock.t += 60
    app.learning.label(LUCIA, "voglio parlare col direttore", "it", escalate=True)
    clock.t += 60
    app.learning.undo(first["id"], LUCIA)

    history = app.learning.history()
    assert [h["id"] for h in history] == [second["id"] + 1, second["id"], first["id"]]
    old = history[-1]
    assert (old["operator_name"], old["operator_id"], old["created_at"]) == ("Mario Rossi", 1, clock.t - 180)
    assert (old["undone_by"], old["undone_at"]) == ("Lucia Bianchi", clock.t)
    assert history[0]["kind"] == "escalate" and history[0]["undone_at"] is None
    with pytest.raises(Conflict):
        app.learning.undo(first["id"], MARIO)
    assert app.learning.counts_by_intent() == [
        {"intent": "escalate", "count": 1},
        {"intent": "orari_apertura", "count": 1},
    ]

    # The store is the source of truth: lost files are regenerated by the next Runtime.
    (settings.data_dir / "learned_kb.csv").unlink()
    again = Runtime(settings)
    try:
        assert "orari_apertura" in (settings.data_dir / "learned_kb.csv").read_text(encoding="utf-8")
        assert again.answerer.answer("a che ora aprite la domenica mattina?", "it").intent == "orari_apertura"
    finally:
        again.store.dispose()


def test_bad_labels_are_refused(app):
    with pytest.raises(ValidationError):
        app.learning.label(MARIO, SCOOTER, "it", intent="no_such_intent")
    with pytest.raises(ValidationError):
        app.learning.label(MARIO, SCOOTER, "it")
    with pytest.raises(ValidationError):
        app.learning.label(MARIO, SCOOTER, "it", kb_entry={"answer_it": "sì"})
    with pytest.raises(ValidationError):
        app.learning.label(MARIO, "  ", "it", escalate=True)
    assert app.learning.history() == []


def test_escalate_is_never_an_intent(app):
    """In the examples file `escalate` means "must go to a person": no intent may be called so."""
    entry = {"question_it": "c'è una sala?", "answer_it": "Sì.", "question_en": "a room?", "answer_en": "Yes."}
    with pytest.raises(ValidationError):
        app.learning.label(MARIO, PRAYER, "en", kb_entry={**entry, "intent": ESCALATE})
    with pytest.raises(ValidationError):
        app.learning.label(MARIO, SCOOTER, "it", intent=ESCALATE)
    assert ESCALATE not in app.learning.intents() and app.learning.history() == []


def test_answer_rate_before_and_after_the_first_label(settings):
    clock = Clock()
    rt = Runtime(settings)
    make_operators(rt.operators)
    try:
        rt.chat.clock = clock  # the flow's events are stamped with this clock
        rt.learning.clock = clock

        def visitor(question: str) -> None:
            clock.t += 10
            v = rt.chat.start_session("it", "pytest")
            rt.chat.visitor_message(v["session_id"], v["token"], question)

        visitor(SCOOTER)
        visitor("quanto costa il biglietto?")
        clock.t += 10
        rt.learning.label(MARIO, SCOOTER, "it", intent="guardaroba_borse")
        visitor(SCOOTER)
        visitor("quanto costa il biglietto?")
        visitor(PRAYER)
        rate = rt.learning.answer_rate_since()
    finally:
        rt.store.dispose()
    assert rate["since"] == 1_750_000_000.0 + 30
    assert rate["before"] == {"questions": 2, "answered": 1, "rate": 0.5}
    assert rate["after"] == {"questions": 3, "answered": 2, "rate": pytest.approx(2 / 3)}


def test_a_runtime_with_a_fake_answerer_still_stores_labels(settings):
    rt = Runtime(settings, answerer=FakeAnswerer())  # the dashboard's runtime does not answer visitors
    make_operators(rt.operators)
    try:
        rt.learning.label(MARIO, SCOOTER, "it", intent="guardaroba_borse")
        assert len(rt.learning.history()) == 1
        assert (settings.data_dir / "learned_kb.csv").is_file()
    finally:
        rt.store.dispose()


@pytest.fixture
def seeded(data_dir, monkeypatch):
    """The seeded store of testkit.dashboard (mario admin, lucia not), for the dashboard under test."""
    import streamlit as st

    from testkit.dashboard import seed

    monkeypatch.setenv("DATA_DIR", str(data_dir))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("ANSWERER", "lexical")
    rt = Runtime(Settings.from_env(), answerer=FakeAnswerer())
    try:
        seed(rt)
        yield rt
    finally:
        st.cache_resource.clear()
        rt.store.dispose()


def analisi_page(username: str):
    from testkit.dashboard import D1, D3

    from .test_dashboard_pages import sign_in

    at = sign_in(username)
    at.switch_page("pages/analytics.py").run()
    at.date_input(key="an_days").set_value((D1, D3)).run()
    assert not at.exception, at.exception
    return at


@pytest.fixture
def analisi(seeded):
    """(the runtime, the Analisi page signed in as mario, showing the seeded days' unanswered questions)."""
    return seeded, analisi_page("mario")


def test_the_analisi_page_labels_an_unanswered_question_and_undoes_it(analisi, data_dir):
    rt, at = analisi
    assert not at.exception, at.exception
    at.selectbox(key="lbl_pick_an_0").select("animali").run()
    at.button(key="lbl_save_an_0").click().run()
    assert not at.exception, at.exception
    assert [s.value for s in at.success] == ["Etichetta #1 salvata: l'AI la usa da ora."]
    (label,) = rt.learning.history()
    assert (label["question"], label["intent"], label["operator_name"]) == (
        "POSSO PORTARE IL CANE??",
        "animali",
        "Mario Rossi",
    )
    assert any(df.value is not None and "animali" in df.value.to_string() for df in at.dataframe)

    at.button(key="lbl_undo").click().run()
    assert not at.exception, at.exception
    assert rt.learning.history()[0]["undone_by"] == "Mario Rossi"
    assert not (data_dir / "learned_examples.csv").read_text(encoding="utf-8").strip().count("\n")


def test_the_label_picker_sends_a_question_to_a_person(analisi, data_dir):
    """The picker's "must go to a person" choice (the ESCALATE value, beside the intents) stores an
    escalate label, never an intent of that name."""
    rt, at = analisi
    picker = at.selectbox(key="lbl_pick_an_0")
    assert picker.options.count(picker.format_func(ESCALATE)) == 1
    picker.select(ESCALATE).run()
    at.button(key="lbl_save_an_0").click().run()
    assert not at.exception, at.exception
    (label,) = rt.learning.history()
    assert (label["kind"], label["intent"]) == ("escalate", "")
    lines = (data_dir / "learned_examples.csv").read_text(encoding="utf-8").splitlines()
    assert lines == ["question,lang,expected", "POSSO PORTARE IL CANE??,it,escalate"]


# ----------------------------------------------------------------- review: proposals, approval, who may undo
PAID_LINE = "Chiami il 899-123456 (a pagamento) per parlare con il direttore."
DIRECTOR = "posso parlare con il direttore?"


def learned_text(settings) -> str:
    files = [settings.data_dir / "learned_kb.csv", settings.data_dir / "learned_examples.csv"]
    return "\n".join(p.read_text(encoding="utf-8") for p in files if p.exists())


def test_a_non_admin_kb_entry_is_a_proposal_until_an_admin_approves_it(app, settings):
    clock = Clock()
    app.learning.clock = clock
    entry = {"question_it": DIRECTOR, "answer_it": PAID_LINE, "question_en": "the director?", "answer_en": PAID_LINE}
    proposal = app.learning.label(LUCIA, DIRECTOR, "it", kb_entry=entry)
    assert proposal["status"] == "proposed"
    assert ask(app, DIRECTOR).answer != PAID_LINE  # the next visitor does not get it
    assert "899" not in learned_text(settings)
    assert proposal["intent"] not in app.learning.intents()
    assert [p["id"] for p in app.learning.pending()] == [proposal["id"]]

    with pytest.raises(Forbidden) as refused:  # only an admin reviews
        app.learning.review(proposal["id"], LUCIA, approve=True)
    assert refused.value.code == "admin_review_only"
    # A dict that says "admin" does not make one: the store decides.
    with pytest.raises(Forbidden):
        app.learning.review(proposal["id"], {**LUCIA, "is_admin": True}, approve=True)

    clock.t += 60
    approved = app.learning.review(proposal["id"], MARIO, approve=True)
    assert (approved["status"], approved["reviewed_by"], approved["reviewed_at"]) == (
        "approved",
        "Mario Rossi",
        clock.t,
    )
    got = ask(app, DIRECTOR)
    assert got.found and got.answer == PAID_LINE  # approved: now the AI uses it
    assert app.learning.pending() == []
    with pytest.raises(Conflict):
        app.learning.review(proposal["id"], MARIO, approve=False)  # reviewed once


def test_an_admin_rejects_a_proposal_and_it_never_reaches_the_answerer(app, settings):
    proposal = app.learning.label(LUCIA, SCOOTER, "it", intent="guardaroba_borse")
    escalate = app.learning.label(LUCIA, "avete il wifi gratuito?", "it", escalate=True)
    assert {proposal["status"], escalate["status"]} == {"proposed"}
    assert not ask(app, SCOOTER).found
    assert "wifi" not in learned_text(settings) and "monopattino" not in learned_text(settings)

    rejected = app.learning.review(proposal["id"], MARIO, approve=False)
    assert (rejected["status"], rejected["reviewed_by"]) == ("rejected", "Mario Rossi")
    assert not ask(app, SCOOTER).found
    assert [p["id"] for p in app.learning.pending()] == [escalate["id"]]
    assert app.learning.counts_by_intent() == []  # proposals and rejections teach nothing
    history = {h["id"]: h for h in app.learning.history()}
    assert history[proposal["id"]]["status"] == "rejected" and history[escalate["id"]]["status"] == "proposed"
    with pytest.raises(Conflict):
        app.learning.undo(proposal["id"], MARIO)  # a rejected label has nothing to undo


def test_an_admins_label_applies_at_once_and_is_audited(app):
    clock = Clock()
    app.learning.clock = clock
    label = app.learning.label(MARIO, SCOOTER, "it", intent="guardaroba_borse")
    assert (label["status"], label["reviewed_by"], label["reviewed_at"]) == ("approved", "Mario Rossi", clock.t)
    assert ask(app, SCOOTER).intent == "guardaroba_borse"
    # An admin who lost the role while signed in proposes from then on.
    app.operators.update(MARIO["id"], is_admin=False)
    later = app.learning.label(MARIO, "dove lascio il monopattino?", "it", intent="guardaroba_borse")
    assert later["status"] == "proposed"


def test_only_the_author_or_an_admin_undoes_a_label(app):
    paolo = app.operators.add("paolo", "Paolo Verdi", "password123")
    mine = app.learning.label(MARIO, SCOOTER, "it", intent="guardaroba_borse")
    with pytest.raises(Forbidden) as refused:
        app.learning.undo(mine["id"], LUCIA)  # another operator's label
    assert refused.value.code == "not_your_label"
    assert ask(app, SCOOTER).intent == "guardaroba_borse"

    theirs = app.learning.label(LUCIA, "voglio parlare col direttore", "it", escalate=True)
    with pytest.raises(Forbidden):
        app.learning.undo(theirs["id"], paolo)
    # Lucia may withdraw her own proposal; the admin may undo anyone's label.
    withdrawn = app.learning.undo(theirs["id"], LUCIA)
    assert withdrawn["undone_by"] == "Lucia Bianchi"
    assert app.learning.pending() == []
    assert app.learning.undo(mine["id"], MARIO)["undone_by"] == "Mario Rossi"
    assert not ask(app, SCOOTER).found


# ----------------------------------------------------------------- the dashboard: proposals, review, visitor text
def test_a_non_admin_sends_a_proposal_and_an_admin_approves_it_on_the_dashboard(seeded, data_dir):
    rt = seeded
    at = analisi_page("lucia")
    at.selectbox(key="lbl_pick_an_0").select("animali").run()
    at.button(key="lbl_save_an_0").click().run()
    assert not at.exception, at.exception
    assert [s.value for s in at.info] == ["Proposta #1 inviata, in attesa di revisione da parte di un amministratore."]
    (label,) = rt.learning.history()
    assert (label["status"], label["operator_name"]) == ("proposed", "Lucia Bianchi")
    assert not (data_dir / "learned_examples.csv").exists() or "CANE" not in (
        data_dir / "learned_examples.csv"
    ).read_text(encoding="utf-8")
    assert not [b for b in at.button if b.key and b.key.startswith(("lbl_approve_", "lbl_reject_"))]

    at = analisi_page("mario")
    assert at.button(key="lbl_approve_1").label == "Approva"
    assert at.button(key="lbl_reject_1").label == "Rifiuta"
    at.button(key="lbl_approve_1").click().run()
    assert not at.exception, at.exception
    assert [s.value for s in at.success] == ["Proposta #1 approvata: l'AI la usa da ora."]
    assert rt.learning.history()[0]["status"] == "approved"
    assert rt.learning.history()[0]["reviewed_by"] == "Mario Rossi"
    assert "POSSO PORTARE IL CANE??,it,animali" in (data_dir / "learned_examples.csv").read_text(encoding="utf-8")
    assert not [b for b in at.button if b.key and b.key.startswith("lbl_approve_")]


def test_a_non_admin_cannot_undo_an_admins_label_on_the_dashboard(seeded):
    rt = seeded
    mine = rt.learning.label(MARIO, "POSSO PORTARE IL CANE??", "it", intent="animali")
    at = analisi_page("lucia")
    # Lucia's undo list holds only her own labels: none here.
    assert not [s for s in at.selectbox if s.key == "lbl_undo_pick"]
    assert rt.learning.history()[0]["id"] == mine["id"]


PAYLOADS = ("![x](http://127.0.0.1:9/x.png)", "[text](http://evil)", "<img src=x onerror=alert(1)>")


def test_visitor_text_is_never_rendered_as_markdown_on_the_learning_section(seeded):
    """Questions being labelled, proposals and history show visitor text as plain text only."""
    from sportello.services.chat import ChatService
    from testkit.dashboard import Clock as SeedClock

    rt = seeded
    clock = SeedClock(0)
    clock.at("2025-03-11T12:00:00")
    chat = ChatService(rt.store, FakeAnswerer(), rt.settings, clock=clock)
    for payload in PAYLOADS:
        v = chat.start_session("it", "pytest")
        chat.visitor_message(v["session_id"], v["token"], f"domanda {payload}")
        clock.advance(60)
    for payload in PAYLOADS:  # proposals (the review list) and history
        rt.learning.label(LUCIA, f"domanda {payload}", "it", escalate=True)
    rt.learning.label(MARIO, f"approvata {PAYLOADS[0]}", "it", escalate=True)

    at = analisi_page("mario")
    rendered = [
        *(
            e.value
            for kind in ("markdown", "caption", "info", "success", "warning", "error")
            for e in getattr(at, kind)
        ),
        *(e.label for e in at.expander),
        *(e.label for e in at.button),
        *(e.label for e in at.selectbox),
        *(e.label for e in at.checkbox),
    ]
    for payload in PAYLOADS:
        assert not [r for r in rendered if payload in str(r)], payload
        # and the review list does show it, as plain text
        assert any(payload in e.value for e in at.text), payload


def test_an_intents_labels_share_one_learned_row_and_reload_without_warnings(app, settings, caplog):
    """Many labels of one intent (an LLM's 12 an intent, approved) are one row of phrasings a language in
    learned_kb.csv, not a row each, which the KB check would warn about at every reload."""
    from sportello.answering.kb import read_kb

    questions = ["il mio monopattino dove lo lascio?", "posso lasciare il casco?", "avete armadietti grandi?"]
    for q in questions:
        app.learning.label(MARIO, q, "it", intent="guardaroba_borse")
    app.learning.label(MARIO, "can I leave my scooter somewhere?", "en", intent="guardaroba_borse")
    rows = read_kb(settings.learned_kb_file).entries
    assert [(e.intent, e.lang, list(e.questions)) for e in rows] == [
        ("guardaroba_borse", "it", questions),
        ("guardaroba_borse", "en", ["can I leave my scooter somewhere?"]),
    ]
    caplog.clear()
    with caplog.at_level("WARNING"):
        app.answerer.reload_learned()
        assert ask(app, "posso lasciare il casco?").intent == "guardaroba_borse"
    assert not [r for r in caplog.records if "learned_kb" in r.getMessage()]
