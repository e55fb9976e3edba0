"""The Google Sheets path across a crash: a real app process SIGKILLed while a batch is in flight
to the local Sheets v4 stand-in, then restarted (the rest is in tests/integration/test_google_sheets.py)."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import create_engine, select

from sportello.sinks.layout import CONVERSATIONS
from sportello.store.tables import outbox
from testkit.sheets_standin import SheetsStandIn
from testkit.support import AppServer, Operator, Visitor, add_operator, wait_until

SHEET = "1AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-sportello"
HARD = "Posso prenotare una visita privata notturna con il direttore per il mio matrimonio?"


@pytest.fixture
def standin():
    s = SheetsStandIn().start()
    s.add_spreadsheet(SHEET)
    yield s
    s.stop()


def app_env(standin: SheetsStandIn, **extra) -> dict:
    return {"SHEETS_API_URL": standin.url, "SHEET_ID": SHEET, "GOOGLE_SERVICE_ACCOUNT_JSON": "", **extra}


def sheet_event_ids(standin: SheetsStandIn) -> list[str]:
    return [r["event_id"] for r in standin.records(SHEET, CONVERSATIONS)]


def outbox_event_ids(engine, worksheet: str = CONVERSATIONS) -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.execute(select(outbox.c.event_id).where(outbox.c.worksheet == worksheet).order_by(outbox.c.id))
            .scalars()
            .all()
        )


def test_sigkill_mid_backlog_then_restart_sends_every_row_once_in_order(standin, data_dir):
    add_operator(data_dir, "mario", "Mario Rossi", "password123", "--max-chats", "10")
    env = app_env(standin, OUTBOX_BATCH_SIZE="15")
    engine = create_engine(f"sqlite:///{data_dir / 'sportello.db'}")
    srv = AppServer(data_dir, env=env).start()
    try:
        mario = Operator(srv.url, "mario")
        mario.online()
        visitors = [Visitor(srv.url) for _ in range(3)]
        for v in visitors:
            v.say(HARD)
            v.accept(True)
            mario.take(v.session_id)
        wait_until(lambda: len(sheet_event_ids(standin)) >= 6, timeout=30)
        # The next append is written by the sheet but its answer never comes back...
        standin.inject("hold", path_contains="Conversazioni")
        latencies = []
        for i in range(12):
            for v in visitors:
                t0 = time.monotonic()
                v.say(f"messaggio {i}")
                latencies.append(time.monotonic() - t0)
            mario.send(visitors[i % 3].session_id, f"risposta {i}")
        wait_until(standin.held.is_set, timeout=30)
        assert max(latencies) < 2.0  # the chat does not wait for the sheet
        with engine.connect() as conn:
            pending = conn.execute(select(outbox.c.id).where(outbox.c.status == "pending")).all()
        assert len(pending) > 15  # a backlog of more than one batch
        srv.kill()  # ...because the app is SIGKILLed while the request is in flight
    finally:
        srv.kill()
        standin.release()
    assert len(sheet_event_ids(standin)) > 6  # the held batch did reach the sheet

    standin.inject("drop", path_contains="Conversazioni")  # and the first retry loses its answer too
    with AppServer(data_dir, env=env):
        expected = outbox_event_ids(engine)
        wait_until(lambda: len(sheet_event_ids(standin)) >= len(expected), timeout=30)
        time.sleep(0.5)  # anything sent twice would show up now
        with engine.connect() as conn:
            assert conn.execute(select(outbox.c.id).where(outbox.c.status == "pending")).all() == []
    assert sheet_event_ids(standin) == expected
    engine.dispose()
