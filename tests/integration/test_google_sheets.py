"""The Google Sheets path, end to end against the local Sheets v4 stand-in.

The real gspread client talks to `testkit.sheets_standin.SheetsStandIn`
(selected with SHEETS_API_URL, as an emulator would be). The stand-in
enforces a write quota and injects 5xx, slow answers and connections
dropped after the write; every scenario must end with each row exactly
once, in commit order.
"""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import create_engine, select

from sportello.config import Settings
from sportello.services.delivery import OutboxWorker
from sportello.sinks.factory import build_sink
from sportello.sinks.google_sheets import MAX_CELL_CHARS, GoogleSheetsSink, parse_sheet_id
from sportello.sinks.layout import CONVERSATION_HEADER, CONVERSATIONS, TICKET_HEADER, TICKETS
from sportello.sinks.sheets import CsvSink
from sportello.store.database import Store
from sportello.store.outbox import backlog, enqueue, saved_status
from sportello.store.tables import outbox
from testkit.inprocess import InProcessServer
from testkit.sheets_standin import SheetsStandIn
from testkit.support import Operator, Visitor, add_operator, wait_until

SHEET = "1AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-sportello"
HARD = "Posso prenotare una visita privata notturna con il direttore per il mio matrimonio?"
FAKE_KEY = {
    "type": "service_account",
    "project_id": "museo",
    "private_key_id": "0" * 40,
    "private_key": "-----BEGIN PRIVATE KEY-----\nTOPSECRETKEYMATERIAL\n-----END PRIVATE KEY-----\n",
    "client_email": "sportello@museo.iam.gserviceaccount.com",
    "client_id": "1",
    "token_uri": "https://oauth2.googleapis.com/token",
}


@pytest.fixture
def standin():
    s = SheetsStandIn().start()
    s.add_spreadsheet(SHEET)
    yield s
    s.stop()


@pytest.fixture
def store(tmp_path):
    s = Store(f"sqlite:///{tmp_path / 'sportello.db'}")
    yield s
    s.dispose()


def sink_for(standin: SheetsStandIn, **kw) -> GoogleSheetsSink:
    kw.setdefault("timeout_s", 2.0)
    kw.setdefault("writes_per_window", 10_000)  # the limiter has its own test; keep the others fast
    return GoogleSheetsSink(SHEET, api_url=standin.url, **kw)


def worker_for(store, sink, **kw) -> OutboxWorker:
    kw.setdefault("base_backoff_s", 0.02)
    kw.setdefault("max_backoff_s", 0.2)
    return OutboxWorker(store, sink, **kw)


def chat_rows(store: Store, n: int, sessions: int = 5, start: int = 0) -> list[str]:
    ids = []
    with store.write() as conn:
        for i in range(start, start + n):
            sid = f"session{i % sessions}"
            ids.append(
                enqueue(conn, CONVERSATIONS, [f"t{i}", sid, f"msg {i}", f"reply {i}", "intent", "ua"], session_id=sid)
            )
    return ids


def ticket_row(store: Store, ticket_id: int, status: str, transcript: str = "[10:00] Utente: ciao") -> None:
    values = [str(ticket_id), "sess", status, "email", "a@b.it", "", "domanda", transcript, "", "", "", "[]", "c", "u"]
    with store.write() as conn:
        enqueue(conn, TICKETS, values, op="upsert", row_key=str(ticket_id), session_id="sess")


def drain_all(worker: OutboxWorker, store: Store, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while backlog(store):
        assert not worker.stopped_on_error, worker.last_error
        assert time.monotonic() < deadline, f"backlog not drained: {worker.status()}"
        if worker.drain_once() == 0:
            time.sleep(0.01)


def sheet_event_ids(standin: SheetsStandIn) -> list[str]:
    return [r["event_id"] for r in standin.records(SHEET, CONVERSATIONS)]


def outbox_event_ids(store_or_engine, worksheet: str = CONVERSATIONS) -> list[str]:
    engine = getattr(store_or_engine, "engine", store_or_engine)
    with engine.connect() as conn:
        return list(
            conn.execute(select(outbox.c.event_id).where(outbox.c.worksheet == worksheet).order_by(outbox.c.id))
            .scalars()
            .all()
        )


# ------------------------------------------------------------------ configuration
def settings(tmp_path, **env) -> Settings:
    return Settings.from_env({"DATA_DIR": str(tmp_path), **env})


def test_the_settings_choose_the_sink_without_touching_the_network(tmp_path):
    assert isinstance(build_sink(settings(tmp_path)), CsvSink)

    url = f"https://docs.google.com/spreadsheets/d/{SHEET}/edit#gid=0"
    assert parse_sheet_id(url) == SHEET and parse_sheet_id(SHEET) == SHEET
    sink = build_sink(settings(tmp_path, SHEETS_API_URL="http://127.0.0.1:9", SHEET_ID=url))
    assert isinstance(sink, GoogleSheetsSink) and sink.sheet_id == SHEET and not sink.config_error

    key_file = tmp_path / "key.json"
    key_file.write_text(json.dumps(FAKE_KEY))
    for env in (
        {"GOOGLE_SERVICE_ACCOUNT_JSON": json.dumps(FAKE_KEY)},
        {"GOOGLE_APPLICATION_CREDENTIALS": str(key_file)},
    ):
        sink = build_sink(settings(tmp_path, SHEET_ID=SHEET, **env))
        assert isinstance(sink, GoogleSheetsSink) and not sink.config_error
        assert sink.service_account == FAKE_KEY["client_email"]

    cases = {
        "GOOGLE_SERVICE_ACCOUNT_JSON is not valid JSON": dict(
            SHEET_ID=SHEET, GOOGLE_SERVICE_ACCOUNT_JSON='{"type": "service_account", TOPSECRET'
        ),
        "is not a Google service-account key": dict(SHEET_ID=SHEET, GOOGLE_SERVICE_ACCOUNT_JSON='{"TOPSECRET": 1}'),
        "Cannot read the key file": dict(SHEET_ID=SHEET, GOOGLE_APPLICATION_CREDENTIALS=str(tmp_path / "nope.json")),
        "credentials are missing": dict(SHEET_ID=SHEET),
        "SHEET_ID is missing": dict(GOOGLE_SERVICE_ACCOUNT_JSON=json.dumps(FAKE_KEY)),
    }
    for expected, env in cases.items():
        sink = build_sink(settings(tmp_path, **env))
        assert isinstance(sink, GoogleSheetsSink), env
        assert expected in sink.config_error, sink.config_error
        assert "TOPSECRET" not in sink.config_error  # the key never ends up in a message


@pytest.mark.parametrize(
    "setup, expected",
    [
        ("not_shared", ["non è condiviso", "is not shared with", "share it as Editor"]),
        ("missing", ["non trovato", "not found", "SHEET_ID="]),
        ("bad_header", ["intestazione inattesa", "unexpected header", "row 1 must be"]),
    ],
)
def test_permanent_errors_stop_the_worker_with_a_clear_message_and_rows_wait(standin, store, setup, expected):
    if setup == "not_shared":
        standin.add_spreadsheet(SHEET, shared=False)
    elif setup == "missing":
        standin.spreadsheets.clear()
    else:
        standin.add_spreadsheet(SHEET, sheets={CONVERSATIONS: [["data", "sessione", "messaggio"]]})
    chat_rows(store, 3)
    worker = worker_for(store, sink_for(standin))
    assert worker.drain() == 0
    status = saved_status(store)  # what the dashboard shows
    assert status["stopped_on_error"] is True and status["backlog"] == 3
    for text in expected:
        assert text in status["last_error"], status["last_error"]
    n = len(standin.requests)
    assert worker.drain() == 0 and len(standin.requests) == n  # it does not insist


def test_a_bad_key_is_reported_at_start_up_and_the_chat_goes_on(data_dir):
    env = {"SHEET_ID": SHEET, "GOOGLE_SERVICE_ACCOUNT_JSON": "{'type': 'service_account'"}
    add_operator(data_dir, "mario", "Mario Rossi")
    with InProcessServer(data_dir, env=env) as srv:
        mario = Operator(srv.url, "mario")  # the outbox details (sink, error) are for operators only
        health = mario.http.get("/api/health").json()["outbox"]
        mario.close()
        assert health["sink"] == "google_sheets" and health["stopped_on_error"] is True
        assert "GOOGLE_SERVICE_ACCOUNT_JSON" in health["last_error"]
        v = Visitor(srv.url)
        assert v.say("Quanto costa il biglietto?")["status"] == "bot"
        store = Store(f"sqlite:///{data_dir / 'sportello.db'}", create=False)
        try:
            status = saved_status(store)
            assert status["stopped_on_error"] and "not valid JSON" in status["last_error"]
            assert status["backlog"] >= 1  # the row waits in the outbox
        finally:
            store.dispose()
        assert "GOOGLE_SERVICE_ACCOUNT_JSON" in srv.log()  # and in the start-up log


# ------------------------------------------------------------------ writing
def test_worksheets_and_headers_are_created_and_a_backlog_goes_in_few_requests(standin, store):
    ids = chat_rows(store, 1200, sessions=7)
    for t in range(1, 4):
        ticket_row(store, t, "open")
    worker = worker_for(store, sink_for(standin), batch_size=500)
    drain_all(worker, store)
    rows = standin.values(SHEET, CONVERSATIONS)
    assert rows[0] == CONVERSATION_HEADER + ["event_id"]
    assert rows[0][:6] == ["timestamp", "session_id", "user_message", "bot_reply", "intent_detected", "user_agent"]
    assert [r[6] for r in rows[1:]] == ids
    assert standin.values(SHEET, TICKETS)[0] == TICKET_HEADER
    appends = [r for r in standin.writes() if ":append" in r["path"] and "Conversazioni" in r["path"]]
    assert len(appends) == 3  # 1200 rows in 3 requests (batches of 500)
    value_writes = [r for r in standin.writes() if "/values" in r["path"]]
    assert value_writes and all(r["value_input"] == "RAW" for r in value_writes)


def test_formula_text_is_escaped_and_long_cells_fit(standin, store):
    with store.write() as conn:
        for text in ['=IMPORTXML("http://x")', "+39 06 1234", "-1", "@SUM(A1)", "ciao"]:
            enqueue(conn, CONVERSATIONS, ["t", "s", text, "r", "i", "ua"], session_id="s")
    ticket_row(store, 1, "open", transcript="x" * (MAX_CELL_CHARS + 500))
    drain_all(worker_for(store, sink_for(standin)), store)
    got = [r["user_message"] for r in standin.records(SHEET, CONVERSATIONS)]
    assert got == ['\'=IMPORTXML("http://x")', "'+39 06 1234", "'-1", "'@SUM(A1)", "ciao"]
    transcript = standin.records(SHEET, TICKETS)[0]["conversation_transcript"]
    assert len(transcript) == MAX_CELL_CHARS and transcript.endswith("truncated]")


def test_the_seed_sheet_gets_its_event_id_column_and_keeps_its_rows(standin, store):
    old = [CONVERSATION_HEADER, ["2024-01-01", "old", "vecchio", "r", "i", "ua"]]
    standin.add_spreadsheet(SHEET, sheets={CONVERSATIONS: (old, 6)})
    ids = chat_rows(store, 4)
    drain_all(worker_for(store, sink_for(standin)), store)
    rows = standin.values(SHEET, CONVERSATIONS)
    assert rows[0] == CONVERSATION_HEADER + ["event_id"]
    assert rows[1] == old[1]
    assert [r[6] for r in rows[2:]] == ids


def test_a_ticket_keeps_one_row_updated_in_place(standin, store):
    sink = sink_for(standin)
    worker = worker_for(store, sink)
    ticket_row(store, 1, "open")
    ticket_row(store, 2, "open")
    drain_all(worker, store)
    ticket_row(store, 1, "pending")
    ticket_row(store, 3, "open")
    ticket_row(store, 1, "resolved")
    drain_all(worker, store)
    # Someone sorts the sheet by hand: rows move, the sink finds them again.
    sheet = standin.sheet(SHEET, TICKETS)
    sheet.cells[1:] = sorted(sheet.cells[1:], key=lambda r: -int(r[0]))
    sink.ticket_index_ttl_s = 0
    ticket_row(store, 2, "closed")
    drain_all(worker, store)
    tickets = {r["id"]: r["status"] for r in standin.records(SHEET, TICKETS)}
    assert tickets == {"1": "resolved", "2": "closed", "3": "open"}
    assert len(standin.records(SHEET, TICKETS)) == 3


# ------------------------------------------------------------------ failures
def test_a_429_storm_ends_with_every_row_once_in_order(standin, store):
    standin.write_quota, standin.window_s = 4, 0.5
    standin.inject("status", count=6, status=429)
    sink = sink_for(standin)  # no client-side limit: let the sheet say no
    worker = worker_for(store, sink, batch_size=40)
    ids = []
    for k in range(8):  # visitors keep chatting while the sink is refused
        ids += chat_rows(store, 30, start=k * 30)
        for _ in range(3):
            worker.drain_once()
    drain_all(worker, store, timeout=30)
    throttled = [r for r in standin.requests if r["status"] == 429]
    assert len(throttled) >= 6
    assert sheet_event_ids(standin) == ids
    # a 429 surely wrote nothing: no need to read the sheet back before retrying
    assert not [r for r in standin.requests if r["method"] == "GET" and "G2" in r["path"]]


def test_the_client_side_limiter_keeps_within_quota(standin, store):
    standin.write_quota, standin.window_s = 5, 1.0
    sink = sink_for(standin, writes_per_window=5, window_s=1.0, burst=2)
    worker = worker_for(store, sink, batch_size=10)
    ids = []
    for k in range(6):
        ids += chat_rows(store, 10, start=k * 10)
        worker.drain_once()
    drain_all(worker, store, timeout=30)
    assert sheet_event_ids(standin) == ids
    assert not [r for r in standin.requests if r["status"] == 429]


def test_5xx_slow_answers_and_dropped_connections_never_duplicate_a_row(standin, store):
    sink = sink_for(standin, timeout_s=0.5)
    worker = worker_for(store, sink, batch_size=25)
    ids = chat_rows(store, 10)
    ticket_row(store, 1, "open")
    drain_all(worker, store)  # headers and a first batch

    standin.inject("status", status=500)
    standin.inject("drop", path_contains="Conversazioni")  # written, then the connection drops
    standin.inject("status", status=503)
    standin.inject("slow", delay_s=1.2, path_contains="Conversazioni")  # written, answer after the timeout
    standin.inject("drop", path_contains="Ticket")  # a new ticket's row written, answer lost
    standin.inject("status", status=502, path_contains="values:batchUpdate")
    for k in range(1, 6):
        ids += chat_rows(store, 20, start=k * 20)
        ticket_row(store, k + 1, "open")
        ticket_row(store, 1, ["open", "pending", "resolved"][k % 3])
        worker.drain_once()
    drain_all(worker, store, timeout=30)

    assert not standin.faults  # every fault was hit
    assert [r for r in standin.requests if r["method"] == "GET" and "G2" in r["path"]]  # checked before resending
    dropped = [r for r in standin.requests if r.get("dropped")]
    assert len(dropped) == 2 and all(r.get("applied") for r in dropped)
    assert sheet_event_ids(standin) == ids  # once each, in commit order
    tickets = standin.records(SHEET, TICKETS)
    assert sorted(int(t["id"]) for t in tickets) == list(range(1, 7))  # one row per ticket
    assert {t["id"]: t["status"] for t in tickets}["1"] == "resolved"
    status = saved_status(store)
    assert status["failures"] == 0 and status["backlog"] == 0 and status["stopped_on_error"] is False


# ------------------------------------------------------------------ the app, end to end
def app_env(standin: SheetsStandIn, **extra) -> dict:
    return {"SHEETS_API_URL": standin.url, "SHEET_ID": SHEET, "GOOGLE_SERVICE_ACCOUNT_JSON": "", **extra}


def test_seed_scenario_ends_with_the_expected_rows_in_the_sheet(standin, data_dir):
    add_operator(data_dir, "mario", "Mario Rossi")
    with InProcessServer(data_dir, env=app_env(standin)) as srv:
        mario = Operator(srv.url, "mario")
        mario.online()
        v = Visitor(srv.url, user_agent="Mozilla/5.0 (seed)")
        assert v.say("Quanto costa il biglietto?")["intent"] == "richiesta_prezzi"
        v.say('=HYPERLINK("http://evil")')
        assert v.say(HARD)["status"] == "offered"
        assert v.accept(True)["status"] == "waiting"
        mario.take(v.session_id)
        mario.send(v.session_id, "Buongiorno, sono Mario. Mi dica pure.")
        v.say("Vorrei sapere se è possibile per sabato.")
        ticket = mario.release(v.session_id, "informazioni fornite")["ticket"]

        def conversation():
            return [r for r in standin.records(SHEET, CONVERSATIONS) if r["session_id"] == v.session_id]

        rows = wait_until(lambda: (r := conversation()) and len(r) >= 8 and r, timeout=30)
        assert [r["intent_detected"] for r in rows] == [
            "richiesta_prezzi",
            rows[1]["intent_detected"],  # whatever the assistant made of a formula
            "no_answer",
            "operator_queue",
            "chat_handover",
            "live_chat_operator_message",
            "live_chat_user_message",
            "live_chat_operator",
        ]
        assert rows[0]["user_agent"] == "Mozilla/5.0 (seed)" and rows[0]["timestamp"].endswith("Z")
        assert rows[1]["user_message"] == '\'=HYPERLINK("http://evil")'
        assert rows[4]["user_message"] == f"[HANDOVER] {HARD}" and rows[4]["user_agent"] == "Handover to Mario"
        assert rows[5]["bot_reply"] == "👨‍💼 Mario: Buongiorno, sono Mario. Mi dica pure."
        assert rows[7]["user_message"] == "[CONVERSAZIONE COMPLETA]"
        assert standin.values(SHEET, CONVERSATIONS)[0] == CONVERSATION_HEADER + ["event_id"]
        assert outbox_event_ids(create_engine(f"sqlite:///{data_dir / 'sportello.db'}")) == sheet_event_ids(standin)

        def ticket_status():
            found = [t for t in standin.records(SHEET, TICKETS) if t["id"] == str(ticket["id"])]
            return found and found[0]["status"]

        assert wait_until(ticket_status, timeout=30) == "resolved"
        r = mario.http.patch(f"/api/tickets/{ticket['id']}", json={"status": "closed"})
        assert r.status_code == 200, r.text
        wait_until(lambda: ticket_status() == "closed", timeout=30)
        assert len(standin.records(SHEET, TICKETS)) == 1  # kept current, not appended again
        health = mario.http.get("/api/health").json()["outbox"]  # details: for operators only
        assert health["sink"] == "google_sheets" and health["ready"] is True and SHEET in health["target"]
        value_writes = [r for r in standin.writes() if "/values" in r["path"]]
        assert value_writes and all(r["value_input"] == "RAW" for r in value_writes)


def test_a_worksheet_deleted_while_running_is_created_again(standin, store):
    worker = worker_for(store, sink_for(standin))
    ids = chat_rows(store, 3)
    drain_all(worker, store)
    book = standin.spreadsheets[SHEET]
    book.sheets = [s for s in book.sheets if s.title != CONVERSATIONS]  # someone deletes it
    ids += chat_rows(store, 3, start=3)
    drain_all(worker, store)
    rows = standin.values(SHEET, CONVERSATIONS)
    assert rows[0] == CONVERSATION_HEADER + ["event_id"]
    assert [r[6] for r in rows[1:]] == ids[3:]


def test_a_service_account_key_signs_in_and_its_token_is_sent(tmp_path, store):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        .decode()
    )
    with SheetsStandIn(require_token=True) as standin:
        standin.add_spreadsheet(SHEET)
        key = {**FAKE_KEY, "private_key": pem, "token_uri": f"{standin.url}/token"}
        env = dict(SHEETS_API_URL=standin.url, SHEET_ID=SHEET, GOOGLE_SERVICE_ACCOUNT_JSON=json.dumps(key))
        sink = build_sink(settings(tmp_path, **env))
        assert isinstance(sink, GoogleSheetsSink) and sink.credentials and not sink.config_error
        ids = chat_rows(store, 5)
        drain_all(worker_for(store, sink), store)
        assert sheet_event_ids(standin) == ids
        assert len(standin.token_requests) == 1  # one token, reused for every request
        assert standin.token_requests[0]["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"

        # Without the key the same stand-in says 401: a permanent, explained error.
        chat_rows(store, 1, start=5)
        worker = worker_for(store, sink_for(standin))
        assert worker.drain() == 0 and worker.stopped_on_error
        assert "401" in worker.last_error and "service-account key" in worker.last_error
