"""Faults at start-up. A corrupt SQLite file or a PostgreSQL that is down: `python app.py` says what is wrong
in one line, retries with backoff for DB_START_TIMEOUT_S, then exits non-zero without a traceback. (An empty
or binary knowledge base: tests/integration/test_empty_knowledge_base.py.)

The `python app.py` processes are forked from testkit.forkserver (app imported once)."""

from __future__ import annotations

import sqlite3
import time

import pytest

from sportello.store.database import Store
from testkit.support import ROOT, AppServer, free_port


def _run_app_until_exit(data_dir, env: dict, timeout: float = 60.0) -> tuple[int, str, float]:
    from testkit.forkserver import fork_server

    data_dir.mkdir(parents=True, exist_ok=True)
    app = AppServer(data_dir, env=env)  # for its environment and log path
    server = fork_server() if AppServer.fork else None  # started once, before the clock starts
    t0 = time.monotonic()
    if server is not None:
        proc = server.spawn(app.args, app.env, ROOT, app.log_path)
    else:
        import subprocess

        with open(app.log_path, "ab") as log:
            proc = subprocess.Popen(app.command(), cwd=ROOT, env=app.env, stdout=log, stderr=subprocess.STDOUT)
    try:
        code = proc.wait(timeout)
    except Exception:
        import os
        import signal

        os.kill(proc.pid, signal.SIGKILL)
        raise
    return code, app.log_path.read_text(errors="replace"), time.monotonic() - t0


@pytest.mark.parametrize("fault", ["corrupt_sqlite", "locked_sqlite", "postgres_down"])
def test_a_database_that_cannot_be_opened_is_one_clear_line_and_a_bounded_retry(data_dir, fault):
    # Attempts at 0, 0.5 and 1.5 s (backoff 0.5 s doubling), the last at the deadline; a locked file holds each
    # attempt up to a quarter of the time left on its lock (0.5 s at least): a longer window for the same retries.
    env = {"DB_START_TIMEOUT_S": "3" if fault == "locked_sqlite" else "2"}
    locker = None
    if fault == "corrupt_sqlite":
        (data_dir / "sportello.db").write_bytes(b"this is not a database\x00" * 400)
    elif fault == "locked_sqlite":  # another process holds the write lock (e.g. a stuck backup job)
        Store(f"sqlite:///{data_dir / 'sportello.db'}").dispose()
        (data_dir / "sportello.db").unlink()  # a fresh file: the app must write its schema
        locker = sqlite3.connect(data_dir / "sportello.db", isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")
    else:
        env["DATABASE_URL"] = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
    try:
        code, log, elapsed = _run_app_until_exit(data_dir, env)
    finally:
        if locker is not None:
            locker.close()
    print(f"\n{fault}: exit {code} after {elapsed:.1f} s")
    assert code != 0, log
    assert "Traceback" not in log, log
    assert log.count("retrying") >= 2, log  # it retried, with backoff
    assert "database" in log.lower(), log
    assert elapsed < 15, (elapsed, log)
    last = [line for line in log.splitlines() if line.strip()][-1]
    assert "giving up" in last, log
