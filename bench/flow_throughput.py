"""Throughput of the live-chat flow through the HTTP API.

Starts the app (one or more processes sharing one database), opens N live
sessions (visitor asks, accepts, an operator takes), then for a fixed time
every session exchanges messages both ways concurrently. Prints messages/s
and the p50/p99 latency of a message POST.

    python bench/flow_throughput.py [--sessions 200] [--seconds 20] [--processes 1]
                                    [--database-url postgresql://...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from testkit.databases import postgres_database  # noqa: E402
from testkit.support import AppServer, add_operator  # noqa: E402


class Conn:
    """A minimal keep-alive HTTP/1.1 JSON client on one socket.

    httpx's async client costs more CPU per request than the server does, so
    on a 2-core machine it would measure itself; this one is nearly free.
    """

    def __init__(self, url: str):
        self.host, port = url.removeprefix("http://").split(":")
        self.port = int(port)
        self.reader = self.writer = None

    async def request(self, method: str, path: str, body: dict | None = None, headers: dict | None = None):
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        data = json.dumps(body or {}).encode()
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        head += f"Content-Length: {len(data)}\r\n\r\n"
        self.writer.write(head.encode() + data)
        status_line = await self.reader.readline()
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        payload = await self.reader.readexactly(length)
        return int(status_line.split()[1]), json.loads(payload or b"null")

    def close(self):
        if self.writer is not None:
            self.writer.close()


HARD = "Posso prenotare una visita privata notturna con il direttore per il mio matrimonio?"


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


async def open_live_session(visitor: Conn, operator: Conn, op_headers: dict):
    _, s = await visitor.request("POST", "/api/chat/sessions", {"language": "it", "user_agent": "bench"})
    headers = {"X-Session-Token": s["token"]}
    sid = s["session_id"]
    await visitor.request("POST", f"/api/chat/sessions/{sid}/messages", {"text": HARD}, headers)
    _, r = await visitor.request("POST", f"/api/chat/sessions/{sid}/operator", {"accept": True}, headers)
    assert r["status"] == "waiting", r
    code, r = await operator.request("POST", "/api/operators?action=take_chat", {"session_id": sid}, op_headers)
    assert code == 200, r
    return sid, headers


async def run(args) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="sportello-bench-"))
    env = {}
    if args.database_url:  # a fresh database on that server, dropped at the end
        env = {"DATABASE_URL": next(fresh_database := postgres_database(args.database_url))}
    n_ops = max(1, (args.sessions + 99) // 100)
    for i in range(n_ops):
        add_operator(data_dir, f"op{i}", f"Operatore {i}", "password123", "--max-chats", "100", env=env)
    # Every simulated visitor comes from 127.0.0.1: exempt it from the per-IP limits (RATE_LIMIT_EXEMPT).
    env = {**env, "LOG_LEVEL": "WARNING", "RATE_LIMIT_EXEMPT": "127.0.0.1"}
    servers = [AppServer(data_dir, env=env).start() for _ in range(args.processes)]
    try:
        op_headers = []
        for i in range(n_ops):
            c = Conn(servers[-1].url)
            _, r = await c.request("POST", "/api/auth/login", {"username": f"op{i}", "password": "password123"})
            h = {"Authorization": "Bearer " + r["token"]}
            await c.request("POST", "/api/operators?action=set_status", {"status": "online"}, h)
            c.close()
            op_headers.append(h)
        # One connection per visitor and one per operator console (as browsers would),
        # visitors on every process, operators on the last one.
        visitors = [Conn(servers[i % len(servers)].url) for i in range(args.sessions)]
        consoles = [Conn(servers[-1].url) for _ in range(args.sessions)]
        t0 = time.perf_counter()
        sem = asyncio.Semaphore(50)

        async def opened(i):
            async with sem:
                return await open_live_session(visitors[i], consoles[i], op_headers[i % n_ops])

        live = await asyncio.gather(*(opened(i) for i in range(args.sessions)))
        setup_s = time.perf_counter() - t0

        latencies: list[float] = []
        errors = 0
        deadline = time.perf_counter() + args.seconds

        async def converse(i, sid, headers):
            nonlocal errors
            n = 0
            while time.perf_counter() < deadline:
                n += 1
                t = time.perf_counter()
                code, _ = await visitors[i].request(
                    "POST", f"/api/chat/sessions/{sid}/messages", {"text": f"domanda {n}"}, headers
                )
                latencies.append(time.perf_counter() - t)
                errors += code != 200
                t = time.perf_counter()
                code, _ = await consoles[i].request(
                    "POST",
                    "/api/operators?action=send_message",
                    {"session_id": sid, "text": f"ok {n}"},
                    op_headers[i % n_ops],
                )
                latencies.append(time.perf_counter() - t)
                errors += code != 200

        t0 = time.perf_counter()
        await asyncio.gather(*(converse(i, *s) for i, s in enumerate(live)))
        elapsed = time.perf_counter() - t0
        for c in visitors + consoles:
            c.close()
        backend = "postgresql" if args.database_url else "sqlite"
        print(f"backend={backend} processes={args.processes} live_sessions={args.sessions} duration={elapsed:.1f}s")
        print(f"setup: {args.sessions} sessions to live in {setup_s:.1f}s")
        print(f"messages: {len(latencies)}  errors: {errors}")
        print(f"throughput: {len(latencies) / elapsed:.1f} messages/s")
        print(
            f"latency: p50={statistics.median(latencies) * 1000:.1f} ms  "
            f"p99={pct(latencies, 99) * 1000:.1f} ms  max={max(latencies) * 1000:.1f} ms"
        )
    finally:
        for s in servers:
            s.stop()
        if args.database_url:
            next(fresh_database, None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--database-url", default="")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
