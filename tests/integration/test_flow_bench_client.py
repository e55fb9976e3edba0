"""bench/flow_throughput.py's HTTP client: it reconnects after the server closed a keep-alive connection,
retries only what it is told is idempotent, and never sends a message twice."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("flow_throughput", ROOT / "bench" / "flow_throughput.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("flow_throughput", module)
    spec.loader.exec_module(module)
    return module


class TinyServer:
    """HTTP/1.1 on localhost: answers `{"n": <requests seen>}`; `idle_close_s` closes a connection idle that long
    (as uvicorn does after 5 s); `drop_after_read` closes without answering once a request is read."""

    def __init__(self, idle_close_s: float = 0.1, drop_after_read: bool = False):
        self.idle_close_s = idle_close_s
        self.drop_after_read = drop_after_read
        self.requests = 0
        self.connections = 0

    async def __aenter__(self):
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc):
        self.server.close()
        await self.server.wait_closed()

    async def handle(self, reader, writer):
        self.connections += 1
        try:
            while True:
                try:
                    line = await asyncio.wait_for(reader.readline(), self.idle_close_s)
                except TimeoutError:
                    return
                if not line:
                    return
                length = 0
                while (h := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = h.decode().partition(":")
                    if name.lower() == "content-length":
                        length = int(value)
                await reader.readexactly(length)
                self.requests += 1
                if self.drop_after_read:
                    return
                body = b'{"n": %d}' % self.requests
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
                await writer.drain()
        finally:
            writer.close()


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 10))


def test_idle_connection_is_reopened_before_use(bench):
    async def go():
        async with TinyServer(idle_close_s=0.1) as srv:
            conn = bench.Conn(srv.url, timeout=2, idle_s=0.05)
            assert await conn.request("GET", "/") == (200, {"n": 1})
            await asyncio.sleep(0.3)  # the server has closed it by now
            assert await conn.request("POST", "/m", {"text": "x"}) == (200, {"n": 2})
            assert srv.connections == 2 and conn.reconnects == 1
            conn.close()

    run(go())


def test_connection_closed_by_server_retried_only_when_idempotent(bench):
    async def go():
        async with TinyServer(idle_close_s=0.1) as srv:
            conn = bench.Conn(srv.url, timeout=2, idle_s=60)  # no proactive reconnect: hit the closed socket
            await conn.request("GET", "/")
            await asyncio.sleep(0.3)
            with pytest.raises(bench.ConnectionLost):
                await conn.request("POST", "/m", {"text": "x"})
            assert srv.requests == 1
            await conn.request("GET", "/")  # the next request opens a new connection
            await asyncio.sleep(0.3)
            assert await conn.request("POST", "/auth/login", {}, retry=True) == (200, {"n": 3})
            conn.close()

    run(go())


def test_message_lost_mid_request_is_an_error_never_a_second_post(bench):
    async def go():
        async with TinyServer(drop_after_read=True) as srv:
            conn = bench.Conn(srv.url, timeout=2)
            live = bench.Live("s1", {}, {}, conn, conn)
            phase = bench.Phase("closed", "1 session")
            assert await bench.send(live, False, "ciao", phase) is False
            assert srv.requests == 1  # received once, and not sent again
            assert phase.ok == 0 and phase.sent == 1
            assert dict(phase.errors) == {"connection: server closed the connection": 1}
            conn.close()

    run(go())


def test_percentiles_and_unsent_marks(bench):
    assert bench.pct([0.3, 0.1, 0.2, 0.4], 50) == 0.2
    assert bench.pct([0.3, 0.1, 0.2, 0.4], 100) == 0.4
    assert bench.pct(list(range(1, 101)), 99) == 99
    phase = bench.Phase("open", "1000 msg/s", ok=3, latencies=[0.010, 0.020, 0.030], unsent_waits=[2.0])
    assert phase.percentile(50) == "20.0"
    assert phase.percentile(100) == ">2000"
    phase.db_new = 3
    assert phase.persisted == "yes"
    phase.db_new = 4
    assert phase.persisted == "NO (+1)"
    phase.error("connection: TimeoutError")  # a message whose answer never came may have been committed
    assert phase.persisted == "yes (+1)"
    phase.db_new = 2
    assert phase.persisted == "NO (-1)"


def test_quick_values_give_way_to_explicit_flags(bench):
    args = bench.parse_args(["--quick", "--raw-seconds", "0", "--rate", ""])
    assert args.raw_seconds == 0 and args.rate == [] and args.sessions == [50] and args.seconds == 4
    assert bench.parse_args([]).sessions == [50, 200]


def test_ack_check_reports_a_message_missing_right_after_its_ack(bench, tmp_path):
    import sqlite3

    from sqlalchemy import create_engine

    db = tmp_path / "s.db"
    con = sqlite3.connect(db)
    con.execute(bench.MESSAGES_DDL)
    con.execute("INSERT INTO messages VALUES (1, 's1', 1, 'user', 'Utente', 'p0 domanda 1', '', 0)")
    con.commit()
    con.close()
    engine = create_engine(f"sqlite:///{db}")

    async def go():
        check = bench.AckCheck(engine, every=1)
        check.after_ack("s1", "p0 domanda 1")
        check.after_ack("s1", "p0 domanda 2")
        await check.drain()
        return check

    check = run(go())
    engine.dispose()
    assert check.checked == 2 and check.missing == [("s1", "p0 domanda 2")]
    phase = bench.Phase("closed", "1 session", ok=2, db_new=2, checker=check)
    assert phase.persisted == "NO (1 late)"


def test_raw_sqlite_commits_rows_and_leaves_no_file(bench, tmp_path):
    assert bench.raw_sqlite(tmp_path, 0.05, 10) > 0
    assert list(tmp_path.iterdir()) == []
