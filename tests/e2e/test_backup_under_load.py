"""A backup taken while visitors and an operator chat, restored into a fresh DATA_DIR: nothing acknowledged
before the backup is missing, and the restored app resumes the outbox without writing a row twice."""

from __future__ import annotations

import json
import shutil
import threading

import httpx
from sqlalchemy import create_engine, select

from sportello.config import Settings
from sportello.store.tables import messages, outbox
from testkit.support import AppServer, Operator, Visitor, add_operator, admin_cli, read_sheet, wait_until

HARD = "Posso prenotare una visita privata notturna con il direttore per il mio matrimonio?"


def _admin(data_dir, *args: str) -> dict:
    """`python -m sportello admin ARGS` run by this process (its main(): another process than the app's)."""
    done = admin_cli(data_dir, *args, env={"DATABASE_URL": ""})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_backup_under_load_restores_every_acknowledged_message_and_no_row_twice(data_dir, tmp_path):
    add_operator(data_dir, "mario", "Mario Rossi", "password123", "--max-chats", "50")
    acked: list[tuple[str, int, str]] = []  # (session, seq, text), in the order the server acknowledged them
    lock = threading.Lock()
    stop = threading.Event()

    def chatter(url: str, op: Operator):
        while not stop.is_set():
            try:
                v = Visitor(url)
                v.say(HARD)
                v.accept()
                op.take(v.session_id)
                for i in range(15):
                    if stop.is_set():
                        return
                    text = f"messaggio {i} di {v.session_id[:6]}"
                    out = v.say(text)
                    with lock:
                        acked.append((v.session_id, out["messages"][0]["seq"], text))
                op.release(v.session_id)
            except (httpx.HTTPError, AssertionError):
                if not stop.is_set():
                    raise

    with AppServer(data_dir, env={"MESSAGE_RATE_PER_IP": "0", "SESSION_RATE_PER_IP": "0"}) as srv:
        op = Operator(srv.url, "mario")
        op.online()
        threads = [threading.Thread(target=chatter, args=(srv.url, op), daemon=True) for _ in range(3)]
        for t in threads:
            t.start()
        wait_until(lambda: len(acked) > 60, timeout=60)
        with lock:
            before = list(acked)  # acknowledged before the backup started
        made = _admin(data_dir, "backup", str(tmp_path / "backups") + "/")
        wait_until(lambda: len(acked) > len(before) + 30, timeout=60)  # the load went on during and after it
        stop.set()
        for t in threads:
            t.join(30)
        wait_until(lambda: not _pending(Settings.from_env({"DATA_DIR": str(data_dir)}).database_url), timeout=30)

    backup = made["backup"]
    found = _admin(data_dir, "verify", backup)
    assert found["ok"] and found["rows"]["messages"] >= len(before)

    # A fresh DATA_DIR holding the sheet as it is now (a Google sheet outlives the server; here the CSV files).
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    shutil.copytree(data_dir / "sheets", fresh / "sheets")
    restored = _admin(fresh, "restore", backup)
    assert restored["rows"]["messages"] == found["rows"]["messages"]
    url = Settings.from_env({"DATA_DIR": str(fresh)}).database_url
    pending = _pending(url)
    # Rows not yet sent when the backup was taken (usually some; none when the worker drained the outbox just
    # before): the old app sent them after the backup, and the restored app must not write them twice.
    engine = create_engine(url)
    with engine.connect() as conn:
        stored = {(r.session_id, r.seq): r.text for r in conn.execute(select(messages))}
    for session_id, seq, text in before:
        assert stored.get((session_id, seq)) == text

    sheet_before = [r["event_id"] for r in read_sheet(fresh, "Conversazioni")]
    assert set(pending) <= set(sheet_before)  # the old app sent them after the backup
    with AppServer(fresh):
        wait_until(lambda: not _pending(url), timeout=30)  # the outbox resumes
    ids = [r["event_id"] for r in read_sheet(fresh, "Conversazioni")]
    assert len(ids) == len(set(ids)) == len(sheet_before)  # nothing written twice
    with engine.connect() as conn:
        sent = {
            r.event_id for r in conn.execute(select(outbox.c.event_id).where(outbox.c.worksheet == "Conversazioni"))
        }
    assert sent <= set(ids)
    engine.dispose()


def _pending(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [
                r.event_id
                for r in conn.execute(
                    select(outbox.c.event_id).where(outbox.c.status == "pending", outbox.c.worksheet == "Conversazioni")
                )
            ]
    finally:
        engine.dispose()
