"""Privacy (GDPR): erasure of a visitor's data by contact or by session, the
retention of closed conversations, the admin commands and the dashboard's
action. The flow is driven over HTTP against the app in-process; erasure is
checked by searching every text column of every table and every local sheet."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
import streamlit as st
from sqlalchemy import String, Text, select, update
from streamlit.testing.v1 import AppTest

from sportello.config import Settings
from sportello.runtime import Runtime
from sportello.services.tickets import mask_contact
from sportello.sinks.google_sheets import GoogleSheetsSink
from sportello.store.tables import events, metadata, outbox, sessions
from testkit.dashboard import PASSWORD, FakeAnswerer, make_operators, seed, ticket_rows
from testkit.sheets_standin import SheetsStandIn
from testkit.support import ROOT, Visitor, admin_cli, read_sheet, wait_until

pytestmark = pytest.mark.both_databases  # the tests using db_env run on SQLite and on PostgreSQL

HARD = "Posso prenotare una visita privata notturna con il direttore per il mio matrimonio?"
EMAIL = "Anna.Rossi@example.org"
LIVE_SECRET = "Mi chiamo Anna Rossi, abito in via Garibaldi 12"
DASHBOARD = str(ROOT / "dashboard.py")


def found_in_database(store, needle: str) -> list[str]:
    """`table.column` of every text cell that contains `needle` (case-insensitive)."""
    hits = []
    with store.read() as conn:
        for table in metadata.sorted_tables:
            cols = [c for c in table.columns if isinstance(c.type, (String, Text))]
            for row in conn.execute(select(*cols)):
                for col, value in zip(cols, row, strict=True):
                    if value and needle.lower() in str(value).lower():
                        hits.append(f"{table.name}.{col.name}")
    return hits


def found_in_sheets(data_dir: Path, needle: str) -> list[str]:
    sheets = Path(data_dir) / "sheets"
    return [p.name for p in sorted(sheets.glob("*.csv")) if needle.lower() in p.read_text("utf-8").lower()]


def outbox_drained(store) -> bool:
    with store.read() as conn:
        return conn.execute(select(outbox.c.id).where(outbox.c.status == "pending")).first() is None


def ticket_chat(server) -> Visitor:
    """Nobody online: the visitor leaves an email, a ticket is opened."""
    v = Visitor(server.url)
    assert v.say(HARD)["status"] == "offered"
    assert v.accept(True)["status"] == "collecting_contact"
    assert v.contact("email", EMAIL)["ticket"]["contact_info"] == EMAIL
    return v


def live_chat(server, mario) -> Visitor:
    """A live chat in which the visitor writes personal data and the email."""
    mario.online()
    v = Visitor(server.url)
    v.say(HARD)
    assert v.accept(True)["status"] == "waiting"
    mario.take(v.session_id)
    v.say(LIVE_SECRET)
    v.say(f"scrivetemi a {EMAIL.lower()}")
    mario.send(v.session_id, "Certo, le scriviamo.")
    mario.release(v.session_id, f"risposto via email a {EMAIL}")
    return v


def wait_sheets(server, data_dir, *sessions_ids: str) -> None:
    rt = server.runtime
    rt.worker.wake()
    wait_until(lambda: outbox_drained(rt.store))
    rows = read_sheet(data_dir, "Conversazioni")
    assert all(any(r["session_id"] == s for r in rows) for s in sessions_ids)


def tombstones(data_dir) -> dict[str, dict]:
    return {r["session_id"]: r for r in read_sheet(data_dir, "Conversazioni") if r["intent_detected"] == "data_erased"}


def test_erase_by_contact_leaves_the_contact_nowhere(server, data_dir, mario):
    kept = Visitor(server.url)
    kept.say("Quanto costa il biglietto?")
    by_ticket = ticket_chat(server)
    by_live = live_chat(server, mario)
    wait_sheets(server, data_dir, kept.session_id, by_ticket.session_id, by_live.session_id)
    store = server.runtime.store
    assert found_in_database(store, EMAIL)  # before: in tickets, messages, events, outbox
    assert found_in_sheets(data_dir, EMAIL) == ["Conversazioni.csv", "Ticket.csv"]

    report = server.runtime.privacy.erase_contact(EMAIL.upper())
    assert sorted(report["sessions"]) == sorted([by_ticket.session_id, by_live.session_id])
    assert report["tickets"] == 2

    for needle in (EMAIL, LIVE_SECRET, HARD, "via Garibaldi"):
        assert found_in_database(store, needle) == [], needle
        assert found_in_sheets(data_dir, needle) == [], needle
    # The Google sink cannot rewrite history: a tombstone row per session says what was erased and when.
    with store.read() as conn:
        kinds = conn.execute(select(events.c.session_id).where(events.c.kind == "erased")).scalars().all()
    assert sorted(kinds) == sorted([by_ticket.session_id, by_live.session_id])
    wait_sheets(server, data_dir)
    stones = tombstones(data_dir)
    assert set(stones) == {by_ticket.session_id, by_live.session_id}
    assert stones[by_live.session_id]["user_message"] == "[DATI CANCELLATI]"
    assert stones[by_live.session_id]["timestamp"].endswith("Z")
    # The ticket rows stay (counts, statuses), without the data; the unrelated chat is untouched.
    listed = mario.http.get("/api/tickets", params={"session_id": by_ticket.session_id}).json()["tickets"]
    assert listed[0]["contact_info"] == "" and listed[0]["contact_method"] == "email"
    assert listed[0]["status"] == "open"
    sheet_tickets = [r for r in read_sheet(data_dir, "Ticket") if r["session_id"] == by_ticket.session_id]
    assert len(sheet_tickets) == 1 and sheet_tickets[0]["contact_info"] == ""
    rows = [r for r in read_sheet(data_dir, "Conversazioni") if r["session_id"] == kept.session_id]
    assert rows[0]["user_message"] == "Quanto costa il biglietto?"
    # Erasing again finds nothing and records nothing more.
    assert server.runtime.privacy.erase_contact(EMAIL)["sessions"] == []


def test_erase_by_session_only_touches_that_session(server, data_dir, mario):
    by_ticket = ticket_chat(server)
    by_live = live_chat(server, mario)
    wait_sheets(server, data_dir, by_ticket.session_id, by_live.session_id)
    report = server.runtime.privacy.erase_session(by_live.session_id)
    assert report["sessions"] == [by_live.session_id]
    store = server.runtime.store
    assert found_in_database(store, LIVE_SECRET) == []
    assert found_in_sheets(data_dir, LIVE_SECRET) == []
    # The other visitor's ticket keeps its contact.
    assert set(found_in_database(store, EMAIL)) >= {"tickets.contact_info"}
    assert "Ticket.csv" in found_in_sheets(data_dir, EMAIL)
    wait_sheets(server, data_dir)
    assert set(tombstones(data_dir)) == {by_live.session_id}
    # The erased visitor's page shows no data any more.
    assert all(LIVE_SECRET not in m["text"] for m in by_live.poll()["messages"])
    with pytest.raises(Exception, match="unknown session"):
        server.runtime.privacy.erase_session("0" * 32)


def _closed_chat(rt: Runtime, email: str) -> str:
    v = rt.chat.start_session("it", "pytest")
    rt.chat.visitor_message(v["session_id"], v["token"], HARD)
    rt.chat.answer_offer(v["session_id"], v["token"], True)
    rt.chat.submit_contact(v["session_id"], v["token"], "email", email)
    return v["session_id"]


def _age(rt: Runtime, session_id: str, days: float) -> None:
    when = time.time() - days * 86400
    with rt.store.write() as conn:
        conn.execute(update(sessions).where(sessions.c.id == session_id).values(closed_at=when, updated_at=when))


def test_retention_anonymises_only_closed_sessions_older_than_n_days(data_dir, db_env):
    settings = Settings.from_env({"DATA_DIR": str(data_dir), "RETENTION_DAYS": "30", **db_env})
    assert settings.retention_days == 30
    rt = Runtime(settings, answerer=FakeAnswerer())
    try:
        old = _closed_chat(rt, "old@example.org")
        recent = _closed_chat(rt, "recent@example.org")
        waiting_old = rt.chat.start_session("it", "pytest")
        make_operators(rt.operators)
        _age(rt, old, 31)
        _age(rt, recent, 29)
        with rt.store.write() as conn:  # an open chat, however old, is never touched
            conn.execute(
                update(sessions)
                .where(sessions.c.id == waiting_old["session_id"])
                .values(status="live", updated_at=time.time() - 90 * 86400)
            )
        assert rt.privacy.retention()["sessions"] == [old]
        assert found_in_database(rt.store, "old@example.org") == []
        assert "tickets.contact_info" in found_in_database(rt.store, "recent@example.org")
        assert rt.privacy.retention()["sessions"] == []  # already anonymised: nothing twice
        # RETENTION_DAYS=0 (the default) keeps everything.
        assert Settings.from_env({"DATA_DIR": str(data_dir)}).retention_days == 0
        assert rt.privacy.retention(days=0)["sessions"] == []
    finally:
        rt.store.dispose()


def test_the_runtime_sweeper_runs_the_retention_pass(data_dir, db_env):
    settings = Settings.from_env({"DATA_DIR": str(data_dir), "RETENTION_DAYS": "7", **db_env})
    rt = Runtime(settings, answerer=FakeAnswerer())
    old = _closed_chat(rt, "sweep@example.org")
    _age(rt, old, 8)
    rt.start()
    try:
        wait_until(lambda: not found_in_database(rt.store, "sweep@example.org"), timeout=15)
    finally:
        rt.stop()


def _admin(data_dir, db_env, *args: str) -> subprocess.CompletedProcess:
    """`python -m sportello admin ARGS` (its main() in this process: the same parsing, output and status)."""
    return admin_cli(data_dir, *args, env=db_env)


def test_admin_cli_erases_by_contact_and_session_and_runs_retention(data_dir, db_env):
    settings = Settings.from_env({"DATA_DIR": str(data_dir), **db_env})
    rt = Runtime(settings, answerer=FakeAnswerer())
    try:
        first = _closed_chat(rt, "cli@example.org")
        second = _closed_chat(rt, "other@example.org")
        old = _closed_chat(rt, "old@example.org")
        _age(rt, old, 400)
        rt.worker.drain()
        assert found_in_sheets(data_dir, "cli@example.org") == ["Ticket.csv"]
        out = _admin(data_dir, db_env, "erase", "--contact", "cli@example.org")
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["sessions"] == [first]
        assert found_in_database(rt.store, "cli@example.org") == []
        assert found_in_sheets(data_dir, "cli@example.org") == []
        out = _admin(data_dir, db_env, "erase", "--session", second)
        assert out.returncode == 0, out.stderr
        assert found_in_database(rt.store, "other@example.org") == []
        out = _admin(data_dir, db_env, "erase", "--session", "nope")
        assert out.returncode == 2 and "unknown session" in out.stderr
        out = _admin(data_dir, db_env, "retention", "--days", "365")
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["sessions"] == [old]
        assert found_in_database(rt.store, "old@example.org") == []
    finally:
        rt.store.dispose()


def test_mask_contact():
    assert mask_contact("anna.rossi@example.org") == "a***@example.org"
    assert mask_contact("+393331234567") == "0039*******567"  # never a leading + (a formula to Excel)
    assert mask_contact("") == ""


# ----------------------------------------------------------------- dashboard (SQLite, as the page tests)
@pytest.fixture
def rt(data_dir, monkeypatch):
    monkeypatch.setenv("DATA_DIR", str(data_dir))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    runtime = Runtime(Settings.from_env(), answerer=FakeAnswerer())
    yield runtime
    st.cache_resource.clear()
    runtime.store.dispose()


def _tickets_page(username: str) -> AppTest:
    at = AppTest.from_file(DASHBOARD, default_timeout=30).run()
    at.text_input(key="login_username").input(username)
    at.text_input(key="login_password").input(PASSWORD)
    next(b for b in at.button if b.key.startswith("FormSubmitter:login-")).click().run()
    at.switch_page("pages/tickets.py").run()
    assert not at.exception, at.exception
    return at


def test_dashboard_admin_erases_the_visitor_of_a_ticket(rt):
    seed(rt)
    at = _tickets_page("mario")
    at.text_input(key="tk_q").input("anna@").run()
    (ticket_id,) = ticket_rows(at)
    assert any("anna@example.org" in c for c in [t.value for t in at.text])  # admins see contacts
    button = at.button(key=f"tk_erase_{ticket_id}")
    button.click().run()  # without the confirmation nothing happens
    assert rt.tickets.get(ticket_id)["contact_info"] == "anna@example.org"
    at.checkbox(key=f"tk_erase_confirm_{ticket_id}").check().run()
    at.button(key=f"tk_erase_{ticket_id}").click().run()
    assert not at.exception, at.exception
    assert rt.tickets.get(ticket_id)["contact_info"] == ""
    assert found_in_database(rt.store, "anna@example.org") == []
    assert [s.value for s in at.success] == ["Dati del visitatore cancellati."]


def test_dashboard_masks_contacts_in_the_list_for_operators(rt):
    seed(rt)
    at = _tickets_page("lucia")
    assert any(" · a***@example.org · " in c for c in [t.value for t in at.text])
    assert not any("anna@example.org" in c for c in [t.value for t in at.text])
    # The ticket opened is masked too, and a search cannot confirm a guessed contact (issue "Hardening,
    # second round"); there is no erase action for non-admins.
    assert "anna@example.org" not in "\n".join(e.value for e in at.text)
    at.text_input(key="tk_q").input("anna@").run()
    assert not ticket_rows(at)
    assert not [b for b in at.button if b.key and b.key.startswith("tk_erase_")]


def test_google_sheets_get_the_tombstone_and_the_anonymised_ticket(data_dir):
    """Google's "Conversazioni" is append-only: it gets the tombstone row; its "Ticket" row is upserted again."""
    sheet = "1AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-privacy"
    with SheetsStandIn() as standin:
        standin.add_spreadsheet(sheet)
        sink = GoogleSheetsSink(sheet, api_url=standin.url, timeout_s=2.0, writes_per_window=10_000)
        rt = Runtime(Settings.from_env({"DATA_DIR": str(data_dir)}), answerer=FakeAnswerer(), sink=sink)
        try:
            sid = _closed_chat(rt, "google@example.org")
            rt.worker.drain()
            assert any(r["contact_info"] == "google@example.org" for r in standin.records(sheet, "Ticket"))
            assert rt.privacy.erase_contact("google@example.org")["sessions"] == [sid]
            rt.worker.drain()
            tickets_sheet = standin.records(sheet, "Ticket")
            assert [r["contact_info"] for r in tickets_sheet if r["session_id"] == sid] == [""]
            assert "google@example.org" not in json.dumps(tickets_sheet)
            stones = [r for r in standin.records(sheet, "Conversazioni") if r["intent_detected"] == "data_erased"]
            assert [(s["session_id"], s["user_message"]) for s in stones] == [(sid, "[DATI CANCELLATI]")]
            assert HARD not in json.dumps(stones)
        finally:
            rt.store.dispose()


# ----------------------------------------------------------------- the labels operators made from the visitor's words
def _chat(rt: Runtime, question: str, email: str) -> str:
    v = rt.chat.start_session("it", "pytest")
    rt.chat.visitor_message(v["session_id"], v["token"], question)
    rt.chat.answer_offer(v["session_id"], v["token"], True)
    rt.chat.submit_contact(v["session_id"], v["token"], "email", email)
    return v["session_id"]


def _learned(data_dir) -> str:
    return "\n".join(p.read_text("utf-8") for p in sorted(Path(data_dir).glob("learned_*.csv")))


def test_erasure_takes_the_visitors_words_out_of_the_labels_and_the_learned_files(data_dir, db_env):
    rt = Runtime(Settings.from_env({"DATA_DIR": str(data_dir), **db_env}), answerer=FakeAnswerer())
    try:
        make_operators(rt.operators)
        mario, lucia = rt.operators.by_username("mario"), rt.operators.by_username("lucia")
        by_contact_q = "Sono Carla Neri, avete visite guidate per scuole? carla.neri@example.org"
        by_session_q = "Mi chiamo Dario Fo Bianchi e vorrei sapere se il museo ha un guardaroba"
        by_contact = _chat(rt, by_contact_q, "carla.neri@example.org")
        by_session = _chat(rt, by_session_q, "dario@example.org")
        rt.learning.label(mario, by_contact_q, "it", escalate=True)  # approved: in the learned files
        rt.learning.label(lucia, by_session_q, "it", intent="guardaroba_borse")  # a proposal
        # an admin's KB entry whose text an operator edited from the visitor's question
        entry = {
            "question_it": f"{by_session_q} grande",
            "answer_it": "Sì.",
            "question_en": "a cloakroom?",
            "answer_en": "Yes.",
        }
        rt.learning.label(mario, "guardaroba grande?", "it", kb_entry=entry)
        kept = rt.learning.label(mario, "avete un guardaroba per le valigie?", "it", intent="guardaroba_borse")
        assert "carla.neri@example.org" in _learned(data_dir) and "Dario Fo Bianchi" in _learned(data_dir)

        assert rt.privacy.erase_contact("carla.neri@example.org")["labels"] == 1
        assert rt.privacy.erase_session(by_session)["labels"] == 2
        for needle in ("carla.neri@example.org", "Carla Neri", "Dario Fo Bianchi", "dario@example.org"):
            assert found_in_database(rt.store, needle) == [], needle
            assert needle.lower() not in _learned(data_dir).lower(), needle
        history = {h["id"]: h for h in rt.learning.history()}
        assert history[kept["id"]]["undone_at"] is None and "valigie" in _learned(data_dir)
        erased = [h for h in history.values() if h["id"] != kept["id"]]
        assert all(h["undone_by"] == "[erasure]" and h["operator_name"] for h in erased)
        assert by_contact != by_session
    finally:
        rt.store.dispose()


def test_retention_takes_out_the_labels_holding_a_contact_only(data_dir, db_env):
    """Retention keeps what operators taught from old conversations, unless it holds their contact."""
    rt = Runtime(
        Settings.from_env({"DATA_DIR": str(data_dir), "RETENTION_DAYS": "30", **db_env}), answerer=FakeAnswerer()
    )
    try:
        make_operators(rt.operators)
        mario = rt.operators.by_username("mario")
        old = _chat(rt, "avete un guardaroba per i passeggini?", "old.label@example.org")
        _age(rt, old, 31)
        taught = rt.learning.label(mario, "avete un guardaroba per i passeggini?", "it", intent="guardaroba_borse")
        holding = rt.learning.label(mario, "scrivete a old.label@example.org per il guardaroba", "it", escalate=True)
        assert rt.privacy.retention()["labels"] == 1
        history = {h["id"]: h for h in rt.learning.history()}
        assert history[taught["id"]]["undone_at"] is None
        assert history[holding["id"]]["undone_by"] == "[erasure]"
        assert found_in_database(rt.store, "old.label@example.org") == []
        assert "old.label" not in _learned(data_dir)
    finally:
        rt.store.dispose()
