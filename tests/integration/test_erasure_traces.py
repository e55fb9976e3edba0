"""Erasure leaves no trace of the visitor anywhere on disk: not in the labels operators made from their
questions, not in the learned files, not in the sheets, not in sportello.db nor in its WAL (SQLite,
while the app still runs), nor in the in-process caches that keep visitor questions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from sportello.config import Settings
from sportello.domain.hours import zone
from sportello.runtime import Runtime
from sportello.services.reports import normalize_question
from testkit.dashboard import FakeAnswerer, make_operators
from testkit.support import ROOT

EMAIL = "gianna.verdoni@example.org"
NAME_A = "Gianna Verdoni"
PHONE = "+393337654321"
PHONE_LOCAL = "3337654321"
NAME_B = "Bruno Zanetti"
QUESTION_A = f"Sono {NAME_A}, posso prenotare una visita privata? Scrivetemi a {EMAIL}"
QUESTION_B = f"Mi chiamo {NAME_B}, avete parcheggi per camper? Il mio numero è {PHONE_LOCAL}"
NEEDLES = (EMAIL, NAME_A, PHONE, PHONE_LOCAL, NAME_B)
KEPT = "Quanto costa il biglietto ridotto?"


def visitor(rt: Runtime, question: str, method: str, contact: str) -> str:
    """A question the AI cannot answer, a hand-off accepted, nobody online: a ticket with the contact."""
    v = rt.chat.start_session("it", "pytest")
    rt.chat.visitor_message(v["session_id"], v["token"], question)
    rt.chat.answer_offer(v["session_id"], v["token"], True)
    rt.chat.submit_contact(v["session_id"], v["token"], method, contact)
    return v["session_id"]


def files_holding(data_dir: Path, needle: str) -> list[str]:
    """Every file under DATA_DIR whose raw bytes hold the needle (case-insensitive, UTF-8)."""
    raw = needle.lower().encode("utf-8")
    return sorted(
        str(p.relative_to(data_dir)) for p in data_dir.rglob("*") if p.is_file() and raw in p.read_bytes().lower()
    )


@pytest.fixture
def app(data_dir):
    rt = Runtime(Settings.from_env({"DATA_DIR": str(data_dir)}), answerer=FakeAnswerer())
    ids = make_operators(rt.operators)
    assert set(ids) == {"mario", "lucia"}
    yield rt, rt.operators.by_username("mario"), rt.operators.by_username("lucia")
    rt.store.dispose()


def test_erasing_a_contact_and_a_session_leaves_nothing_in_any_file_or_the_wal(app, data_dir):
    rt, mario, lucia = app
    by_contact = visitor(rt, QUESTION_A, "email", EMAIL)
    by_session = visitor(rt, QUESTION_B, "phone", PHONE)
    kept = visitor(rt, KEPT, "email", "kept@example.org")
    # Operators teach the AI from those questions: an admin's labels (in the learned files) and a proposal.
    rt.learning.label(mario, QUESTION_A, "it", escalate=True)
    rt.learning.label(mario, QUESTION_B, "it", intent="orari_apertura")
    entry = {"answer_it": "Sì, nel parcheggio est.", "question_en": "camper parking?", "answer_en": "Yes, east."}
    rt.learning.label(lucia, QUESTION_B, "it", kb_entry=entry)
    rt.learning.label(mario, KEPT, "it", escalate=True)
    rt.worker.drain()
    today = datetime.now(tz=zone(rt.settings.timezone, or_utc=True)).date()
    rt.reports.report(today, today, rt.settings.timezone)  # the report's caches read the questions
    assert normalize_question.cache_info().currsize
    for needle in NEEDLES:
        assert files_holding(data_dir, needle), needle  # before: somewhere on disk
    assert "learned_examples.csv" in files_holding(data_dir, EMAIL)

    # --contact through the admin command (another process, as an operator would run it) ...
    out = subprocess.run(
        [sys.executable, "-m", "sportello", "admin", "erase", "--contact", EMAIL],
        cwd=ROOT,
        env={**os.environ, "DATA_DIR": str(data_dir)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["sessions"] == [by_contact]
    # ... and --session in this process, while the app runs (its connections open).
    assert rt.privacy.erase_session(by_session)["sessions"] == [by_session]
    assert normalize_question.cache_info().currsize == 0  # no cached visitor question left in memory

    for needle in NEEDLES:
        assert files_holding(data_dir, needle) == [], needle
    # What was not erased stays, and the labels keep their audit (kind, who, when), not the words.
    assert {"sportello.db", "sheets/Ticket.csv"} <= set(files_holding(data_dir, "kept@example.org"))
    assert KEPT in (data_dir / "learned_examples.csv").read_text(encoding="utf-8")
    history = {h["question"]: h for h in rt.learning.history()}
    assert KEPT in history and history[KEPT]["undone_at"] is None
    erased = [h for h in rt.learning.history() if h["question"] != KEPT]
    assert len(erased) == 3 and all(h["undone_by"] and h["operator_name"] for h in erased)
    assert kept
