"""Two app processes on one database: a message written through process A reaches a stream held by process B
(B's change feed finds A's commit: one query every FEED_INTERVAL_S)."""

from __future__ import annotations

import time

import pytest

from testkit.sse import Stream
from testkit.support import AppServer, Operator, Visitor, add_operator

pytestmark = pytest.mark.both_databases

HARD = "Posso prenotare una visita privata notturna con il direttore per il mio matrimonio?"


def test_a_message_written_by_one_process_reaches_a_stream_on_the_other(data_dir, db_env):
    add_operator(data_dir, "mario", "Mario Rossi", env=db_env)
    a = AppServer(data_dir, env=db_env).start()
    b = AppServer(data_dir, env=db_env).start()
    try:
        mario = Operator(a.url, "mario")
        mario.online()
        v = Visitor(a.url)
        v.say(HARD)
        v.accept()
        s = Stream(b.url, v.session_id, v.token)  # held by B
        s.next("state", where=lambda d: d["status"] == "waiting")
        mario.take(v.session_id)  # through A
        s.next("state", where=lambda d: d["status"] == "live", timeout=2)
        delays = []
        for i in range(3):
            t0 = time.monotonic()
            mario.send(v.session_id, f"da A {i}")
            _seq, msg = s.next("message", timeout=2)
            delays.append(time.monotonic() - t0)
            assert msg["text"] == f"da A {i}"
        assert max(delays) < 1.0, delays
        s.close()
        mario.close()
    finally:
        b.stop()
        a.stop()
