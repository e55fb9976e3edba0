"""Throughput and latency of the live-chat flow through the HTTP API, next to raw SQLite.

One run does, in this order:

1. raw SQLite on this machine, in this process, in the same directory as the app's database
   (WAL, synchronous=FULL, one message-sized row per insert): one transaction per message, then
   batched commits. This is the ceiling the app is compared with (`app/raw`).
2. starts the app (`python app.py --no-dashboard`, one or more processes on one database), creates the
   operators, and opens the live sessions once (visitor asks, accepts an operator, an operator takes).
3. closed loop, for each value of --sessions: every session's visitor posts a message and waits for the
   reply, then its operator posts one, and again, for --seconds.
4. open loop, for each value of --rate: messages are scheduled at a fixed rate (visitor and operator
   messages alternate over 2 x --open-sessions senders, one connection each). Latency is measured from
   the *scheduled* send time, so a server that falls behind shows it (no coordinated omission). Sends
   still pending --grace seconds after the last scheduled one are not sent: they are counted as
   `unsent`, with their wait so far as a lower bound of their latency (percentiles marked `>`).
5. after each phase, counts the rows of `messages` in the database (read directly, not through the
   app) and checks that the new rows equal the messages acknowledged with 200: `persisted` is `yes`
   only then. A message POST that fails at connection level is an error, never retried; it may or may
   not have been committed: `yes (+n)` says n of them were. During the phase, every
   --check-every-th acknowledged message is looked up in the database right after its 200: one missing
   then was acknowledged before it was committed (`persisted` is then `NO (n late)`).

Connections: one keep-alive HTTP/1.1 connection per visitor and per operator console, as browsers
would. A connection idle for more than 2 s is reopened before its next request (uvicorn closes idle
keep-alive connections after 5 s). Only idempotent setup requests (login, status, session creation)
are retried after a connection-level error; a session whose setup fails half-way is abandoned and a
new one is opened in its place.

The bench stops the servers it started and deletes its data directory (and its PostgreSQL database)
on exit, on an error and on Ctrl-C / SIGTERM (--keep keeps the data directory for a look at the logs).

    python bench/flow_throughput.py              # the full run (about 2.5 minutes)
    python bench/flow_throughput.py --quick      # a smoke run, under 60 s

Flags:
    --sessions 50,200        closed-loop phases: number of live sessions, one phase per value (0: none)
    --seconds 15             length of each closed-loop phase
    --rate 250,500,1000      open-loop phases: messages/s, one phase per value (empty: none)
    --open-seconds 10        length of each open-loop phase (the schedule; plus up to --grace to drain)
    --open-sessions 200      live sessions the open loop sends over (2 senders each: visitor, operator)
    --grace 10               seconds after the last scheduled send after which pending sends are dropped
    --raw-seconds 3          length of each raw SQLite measurement (0: skip)
    --raw-batch 100          rows per commit in the batched raw SQLite measurement
    --processes 1            app processes on the same database, each on its own port; visitors and
                             operator consoles are spread over them
    --database-url URL       PostgreSQL server (e.g. postgresql://postgres@127.0.0.1:5432/test): the bench
                             creates its own database there and drops it at the end
    --timeout 30             seconds before a request counts as a (connection-level) error
    --check-every 20         look every 20th acknowledged message up in the database right after its ack
                             (0: never); one found missing then was acknowledged before it was committed
    --keep                   keep the data directory (server logs, SQLite database)
    --data-root DIR          where the data directory is made (default: the system's temp dir); e.g. /dev/shm
                             (memory, fsync is free) separates the CPU cost from the disk's
    --quick                  --sessions 50 --seconds 4 --rate 250,500,1000 --open-seconds 3
                             --open-sessions 50 --grace 2 --raw-seconds 0.5
    --quotas                 check the per-client quotas on every request (RATE_LIMIT_EXEMPT empty, limits
                             too high to refuse) instead of exempting 127.0.0.1

The app runs with RATE_LIMIT_EXEMPT=127.0.0.1 (every simulated visitor comes from there) and
MAX_MESSAGES_PER_SESSION=0 (a long phase would otherwise fill its sessions); everything else is default.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from testkit.databases import postgres_database  # noqa: E402
from testkit.support import AppServer, add_operator  # noqa: E402

HARD = "Posso prenotare una visita privata notturna con il direttore per il mio matrimonio?"
PASSWORD = "password123"
SESSIONS_PER_OPERATOR = 100
MAX_CHATS = 150  # headroom for sessions abandoned after a failed setup


# ---------------------------------------------------------------------------- the HTTP client
class ConnectionLost(Exception):
    """The request failed at connection level: no (complete) response was read."""


class Conn:
    """A minimal keep-alive HTTP/1.1 JSON client on one socket.

    httpx's async client costs more CPU per request than the server does, so on a 2-core machine it
    would measure itself; this one is nearly free. It reopens a connection idle for more than
    `idle_s` before using it (the server may have closed it), and after any connection-level error.
    Only a request sent with `retry=True` is sent again after such an error: never a message.
    """

    def __init__(self, url: str, timeout: float = 30.0, idle_s: float = 2.0):
        self.host, port = url.removeprefix("http://").split(":")
        self.port = int(port)
        self.timeout = timeout
        self.idle_s = idle_s
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.last_used = 0.0
        self.reconnects = 0

    async def request(
        self, method: str, path: str, body: dict | None = None, headers: dict | None = None, *, retry: bool = False
    ) -> tuple[int, object]:
        attempts = 3 if retry else 1
        for attempt in range(attempts):
            try:
                if self.writer is None or time.monotonic() - self.last_used > self.idle_s:
                    await self._connect()
                return await asyncio.wait_for(self._exchange(method, path, body, headers), self.timeout)
            except (TimeoutError, OSError, EOFError, asyncio.IncompleteReadError, ConnectionLost) as exc:
                self.close()
                if attempt + 1 == attempts:
                    kind = type(exc).__name__ if not isinstance(exc, ConnectionLost) else str(exc)
                    raise ConnectionLost(kind) from exc
                await asyncio.sleep(0.05 * (attempt + 1))
        raise AssertionError("unreachable")

    async def _connect(self) -> None:
        if self.writer is not None:
            self.reconnects += 1
        self.close()
        self.reader, self.writer = await asyncio.wait_for(asyncio.open_connection(self.host, self.port), self.timeout)

    async def _exchange(self, method: str, path: str, body: dict | None, headers: dict | None):
        data = json.dumps(body or {}).encode()
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        head += f"Content-Length: {len(data)}\r\n\r\n"
        self.writer.write(head.encode() + data)
        await self.writer.drain()
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionLost("server closed the connection")
        parts = status_line.split()
        if len(parts) < 2 or not parts[1].isdigit():
            raise ConnectionLost(f"bad status line {status_line[:40]!r}")
        length, close = 0, False
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "connection" and value.strip().lower() == "close":
                close = True
        payload = await self.reader.readexactly(length)
        self.last_used = time.monotonic()
        if close:
            self.close()
        try:
            return int(parts[1]), json.loads(payload or b"null")
        except ValueError:
            return int(parts[1]), payload.decode(errors="replace")

    def close(self) -> None:
        if self.writer is not None:
            with contextlib.suppress(Exception):
                self.writer.close()
        self.reader = self.writer = None


# ---------------------------------------------------------------------------- numbers
def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    values = sorted(values)
    return values[max(0, min(len(values) - 1, math.ceil(p / 100 * len(values)) - 1))]


@dataclass
class Phase:
    kind: str  # closed | open
    load: str
    sent: int = 0
    ok: int = 0
    errors: Counter = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)  # acknowledged messages, seconds
    by_side: dict[str, list[float]] = field(default_factory=lambda: {"visitor": [], "operator": []})
    unsent_waits: list[float] = field(default_factory=list)  # open loop: lower bounds of the unsent
    lags: list[float] = field(default_factory=list)  # open loop: actual send - scheduled send
    elapsed: float = 0.0
    db_new: int | None = None
    client_cpu: float = 0.0  # share of one core used by this process during the phase
    server_cpu: float = 0.0  # share of one core used by the app processes (all of them)
    server_cpu_s: float = 0.0  # app CPU seconds during the phase
    server_runq: float = 0.0  # app threads' wait for a CPU per second (other work on the machine)
    tag: str = ""  # prefix of this phase's message texts (unique per phase)
    checker: AckCheck | None = None

    def record(self, operator_side: bool, latency: float) -> None:
        self.latencies.append(latency)
        self.by_side["operator" if operator_side else "visitor"].append(latency)

    def error(self, kind: str) -> None:
        self.errors[kind] += 1

    @property
    def rate(self) -> float:
        return self.ok / self.elapsed if self.elapsed else 0.0

    def percentile(self, p: float) -> str:
        values = self.latencies + self.unsent_waits
        if not values:
            return "-"
        v = pct(values, p)
        mark = ">" if self.unsent_waits and v >= min(self.unsent_waits) else ""
        return f"{mark}{v * 1000:.0f}" if v >= 0.1 else f"{mark}{v * 1000:.1f}"

    @property
    def persisted(self) -> str:
        if self.db_new is None:
            return "?"
        if self.checker and self.checker.missing:
            return f"NO ({len(self.checker.missing)} late)"
        if self.db_new == self.ok:
            return "yes"
        lost = sum(n for kind, n in self.errors.items() if kind.startswith("connection"))
        if self.ok < self.db_new <= self.ok + lost:  # some messages whose connection failed were committed
            return f"yes (+{self.db_new - self.ok})"
        return f"NO ({self.db_new - self.ok:+d})"


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of processes (from /proc), in seconds; 0 where unreadable."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total / os.sysconf("SC_CLK_TCK")


def runq_waits(pids: list[int]) -> dict[str, int]:
    """Per thread of the processes, the nanoseconds it spent runnable but waiting for a CPU
    (/proc/PID/task/TID/schedstat), held by other processes or by the process's own other threads."""
    waits = {}
    for pid in pids:
        for stat in Path(f"/proc/{pid}/task").glob("*/schedstat"):
            try:
                waits[str(stat.parent)] = int(stat.read_text().split()[1])
            except (OSError, IndexError, ValueError):
                pass
    return waits


def runq_wait_seconds(before: dict[str, int], after: dict[str, int]) -> float:
    """Run-queue wait between two `runq_waits` snapshots (threads that ended meanwhile are not counted)."""
    return sum(ns - before.get(tid, 0) for tid, ns in after.items()) / 1e9


class AckCheck:
    """Every `every`-th acknowledged message is looked up in the database (directly, on another connection)
    as soon as its 200 arrives: a message acknowledged before its transaction committed may be missing then.
    (Found proves nothing about the instant of the ack; missing proves the ack came first.)"""

    def __init__(self, engine, every: int):
        self.engine = engine
        self.every = every
        self.acks = 0
        self.checked = 0
        self.missing: list[tuple[str, str]] = []
        self.tasks: set[asyncio.Task] = set()

    def after_ack(self, session_id: str, text: str) -> None:
        self.acks += 1
        if self.acks % self.every == 0:
            task = asyncio.ensure_future(asyncio.to_thread(self._check, session_id, text))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    def _check(self, session_id: str, text: str) -> None:
        from sqlalchemy import text as sql

        with self.engine.connect() as conn:
            found = conn.execute(
                sql("SELECT count(*) FROM messages WHERE session_id = :s AND text = :t"), {"s": session_id, "t": text}
            ).scalar_one()
        self.checked += 1
        if not found:
            self.missing.append((session_id, text))

    async def drain(self) -> None:
        while self.tasks:
            await asyncio.gather(*list(self.tasks))


# ---------------------------------------------------------------------------- raw SQLite
MESSAGES_DDL = """CREATE TABLE messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT, session_id VARCHAR(32) NOT NULL, seq INTEGER NOT NULL,
    role VARCHAR(16) NOT NULL, author VARCHAR(128) NOT NULL, text TEXT NOT NULL, intent VARCHAR(64) NOT NULL,
    created_at FLOAT NOT NULL, CONSTRAINT uq_messages_session_seq UNIQUE (session_id, seq))"""


def raw_sqlite(directory: Path, seconds: float, batch: int) -> float:
    """Rows/s committed by sqlite3 with the app's pragmas, `batch` message rows per transaction."""
    path = directory / f"raw-{batch}.db"
    con = sqlite3.connect(path, isolation_level=None)
    try:
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=FULL")
        con.execute("PRAGMA foreign_keys=ON")
        con.execute(MESSAGES_DDL)
        sessions = [f"{i:032x}" for i in range(200)]
        sql = "INSERT INTO messages (session_id, seq, role, author, text, intent, created_at) VALUES (?,?,?,?,?,?,?)"
        n = 0
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            con.execute("BEGIN IMMEDIATE")
            for _ in range(batch):
                con.execute(sql, (sessions[n % 200], n // 200 + 1, "user", "Utente", f"domanda {n}", "", time.time()))
                n += 1
            con.execute("COMMIT")
        return n / (time.perf_counter() - t0)
    finally:
        con.close()
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)


def measure_raw(raw: dict[str, list[float]], directory: Path, args) -> None:
    raw.setdefault("1 tx/msg", []).append(raw_sqlite(directory, args.raw_seconds, 1))
    raw.setdefault(f"{args.raw_batch}/commit", []).append(raw_sqlite(directory, args.raw_seconds, args.raw_batch))


# ---------------------------------------------------------------------------- the flow
@dataclass
class Live:
    sid: str
    visitor_headers: dict
    op_headers: dict
    visitor: Conn
    console: Conn


async def open_live_session(visitor: Conn, console: Conn, op_headers: dict) -> tuple[str, dict]:
    """bot -> offered -> waiting -> live. Raises on any failure (the caller abandons the session)."""
    code, s = await visitor.request("POST", "/api/chat/sessions", {"language": "it", "user_agent": "bench"}, retry=True)
    if code != 200:
        raise RuntimeError(f"create session: {code} {s}")
    headers = {"X-Session-Token": s["token"]}
    sid = s["session_id"]
    code, r = await visitor.request("POST", f"/api/chat/sessions/{sid}/messages", {"text": HARD}, headers)
    if code != 200:
        raise RuntimeError(f"first message: {code} {r}")
    code, r = await visitor.request("POST", f"/api/chat/sessions/{sid}/operator", {"accept": True}, headers)
    if code != 200 or r.get("status") != "waiting":
        raise RuntimeError(f"accept operator: {code} {r}")
    code, r = await console.request("POST", "/api/operators?action=take_chat", {"session_id": sid}, op_headers)
    if code != 200:
        raise RuntimeError(f"take chat: {code} {r}")
    return sid, headers


async def setup(urls: list[str], n_sessions: int, n_ops: int, timeout: float) -> tuple[list[Live], int]:
    """Log the operators in, then open `n_sessions` live sessions. Returns them and the abandoned count."""
    op_headers = []
    for i in range(n_ops):
        c = Conn(urls[i % len(urls)], timeout)
        code, r = await c.request("POST", "/api/auth/login", {"username": f"op{i}", "password": PASSWORD}, retry=True)
        if code != 200:
            raise RuntimeError(f"login op{i}: {code} {r}")
        h = {"Authorization": "Bearer " + r["token"]}
        code, r = await c.request("POST", "/api/operators?action=set_status", {"status": "online"}, h, retry=True)
        if code != 200:
            raise RuntimeError(f"set_status op{i}: {code} {r}")
        c.close()
        op_headers.append(h)
    sem = asyncio.Semaphore(50)
    abandoned = 0

    async def one(i: int) -> Live:
        nonlocal abandoned
        # Visitors on every process; the operator console of a session on the next one, so that with
        # two processes each serves both kinds of message.
        visitor = Conn(urls[i % len(urls)], timeout)
        console = Conn(urls[(i + 1) % len(urls)], timeout)
        oh = op_headers[i % n_ops]
        async with sem:
            for attempt in range(3):
                try:
                    sid, vh = await open_live_session(visitor, console, oh)
                    return Live(sid, vh, oh, visitor, console)
                except (ConnectionLost, RuntimeError):
                    abandoned += 1
                    if attempt == 2:
                        raise
        raise AssertionError("unreachable")

    lives = await asyncio.gather(*(one(i) for i in range(n_sessions)))
    return list(lives), abandoned


async def send(live: Live, operator_side: bool, text: str, phase: Phase) -> bool:
    """One message, never retried. Records the outcome in `phase`; True when acknowledged."""
    phase.sent += 1
    try:
        if operator_side:
            code, r = await live.console.request(
                "POST", "/api/operators?action=send_message", {"session_id": live.sid, "text": text}, live.op_headers
            )
        else:
            code, r = await live.visitor.request(
                "POST", f"/api/chat/sessions/{live.sid}/messages", {"text": text}, live.visitor_headers
            )
    except ConnectionLost as exc:
        phase.error(f"connection: {exc}")
        return False
    if code != 200:
        error = r.get("error") if isinstance(r, dict) else None
        detail = error.get("code", "") if isinstance(error, dict) else str(error or "")
        phase.error(f"http {code} {detail}".strip())
        return False
    phase.ok += 1
    if phase.checker:
        phase.checker.after_ack(live.sid, text)
    return True


async def closed_loop(lives: list[Live], seconds: float, tag: str, checker: AckCheck | None = None) -> Phase:
    phase = Phase("closed", f"{len(lives)} sessions", tag=tag, checker=checker)
    deadline = time.perf_counter() + seconds

    async def converse(live: Live) -> None:
        n = 0
        while time.perf_counter() < deadline:
            n += 1
            for operator_side, text in ((False, f"{tag} domanda {n}"), (True, f"{tag} risposta {n}")):
                t = time.perf_counter()
                if await send(live, operator_side, text, phase):
                    phase.record(operator_side, time.perf_counter() - t)

    t0 = time.perf_counter()
    await asyncio.gather(*(converse(live) for live in lives))
    phase.elapsed = time.perf_counter() - t0
    return phase


async def open_loop(
    lives: list[Live], rate: float, seconds: float, grace: float, tag: str, checker: AckCheck | None = None
) -> Phase:
    """Message k is scheduled at t0 + k/rate and sent by sender k mod N (N = 2 per session)."""
    phase = Phase("open", f"{rate:g} msg/s", tag=tag, checker=checker)
    senders = [(live, side) for live in lives for side in (False, True)]
    n = len(senders)
    total = int(round(rate * seconds))
    t0 = time.perf_counter() + 0.05
    hard_deadline = t0 + seconds + grace

    async def sender(j: int) -> None:
        live, operator_side = senders[j]
        for k in range(j, total, n):
            scheduled = t0 + k / rate
            now = time.perf_counter()
            if now > hard_deadline:  # the rest of this sender's schedule is never sent
                phase.unsent_waits.extend(now - (t0 + kk / rate) for kk in range(k, total, n))
                return
            if scheduled > now:
                await asyncio.sleep(scheduled - now)
            phase.lags.append(time.perf_counter() - scheduled)
            if await send(live, operator_side, f"{tag} messaggio {k}", phase):
                phase.record(operator_side, time.perf_counter() - scheduled)

    await asyncio.gather(*(sender(j) for j in range(n)))
    phase.elapsed = time.perf_counter() - t0
    return phase


# ---------------------------------------------------------------------------- the run
def count_messages(engine) -> int:
    from sqlalchemy import text

    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM messages")).scalar_one())


def git_head() -> str:
    try:
        head = subprocess.run(
            ["git", "log", "-1", "--format=%h %cd", "--date=format:%Y-%m-%d %H:%M"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True)
        return head + (" (+uncommitted changes)" if dirty.stdout.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "?"


def ints(value: str) -> list[int]:
    return [int(x) for x in value.split(",") if x.strip()]


def floats(value: str) -> list[float]:
    return [float(x) for x in value.split(",") if x.strip()]


FULL = dict(
    sessions=[50, 200],
    seconds=15.0,
    rate=[250.0, 500.0, 1000.0],
    open_seconds=10.0,
    open_sessions=200,
    grace=10.0,
    raw_seconds=3.0,
)
QUICK = dict(
    sessions=[50],
    seconds=4.0,
    rate=[250.0, 500.0, 1000.0],
    open_seconds=3.0,
    open_sessions=50,
    grace=2.0,
    raw_seconds=0.5,
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The flags; those given explicitly win over --quick's values."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sessions", type=ints)
    p.add_argument("--seconds", type=float)
    p.add_argument("--rate", type=floats)
    p.add_argument("--open-seconds", type=float)
    p.add_argument("--open-sessions", type=int)
    p.add_argument("--grace", type=float)
    p.add_argument("--raw-seconds", type=float)
    p.add_argument("--raw-batch", type=int, default=100)
    p.add_argument("--processes", type=int, default=1)
    p.add_argument("--database-url", default="")
    p.add_argument("--timeout", type=float, default=30)
    p.add_argument("--check-every", type=int, default=20)
    p.add_argument("--keep", action="store_true")
    p.add_argument("--data-root", default="")
    p.add_argument("--quick", action="store_true")
    p.add_argument(
        "--quotas",
        action="store_true",
        help="check the per-client quotas on every request (limits too high to refuse) instead of exempting 127.0.0.1",
    )
    p.add_argument(
        "--server", choices=["uvicorn", "granian"], default="uvicorn", help="the ASGI server (serve_with.py)"
    )
    args = p.parse_args(argv)
    for name, value in (QUICK if args.quick else FULL).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    args.sessions = [s for s in args.sessions if s > 0]
    return args


class GranianAppServer(AppServer):
    """app.py served by Granian instead of uvicorn (bench/serve_with.py)."""

    def command(self) -> list[str]:
        return [sys.executable, str(ROOT / "bench" / "serve_with.py"), "granian", *self.args]


async def load(args, urls: list[str], n_ops: int, engine, pids: list[int]) -> tuple[list[Phase], float, int]:
    want = max([*args.sessions, args.open_sessions if args.rate else 0])
    t = time.perf_counter()
    lives, abandoned = await setup(urls, want, n_ops, args.timeout)
    setup_s = time.perf_counter() - t
    plan = [("closed", s) for s in args.sessions] + [("open", r) for r in args.rate]
    phases = []
    try:
        for kind, x in plan:
            before = count_messages(engine)
            cpu0, srv0, t0 = time.process_time(), cpu_seconds(pids), time.perf_counter()
            wait0 = runq_waits(pids)
            checker = AckCheck(engine, args.check_every) if args.check_every > 0 else None
            tag = f"p{len(phases)}"
            if kind == "closed":
                phase = await closed_loop(lives[:x], args.seconds, tag, checker)
            else:
                phase = await open_loop(lives[: args.open_sessions], x, args.open_seconds, args.grace, tag, checker)
            if checker:
                await checker.drain()
            wall = time.perf_counter() - t0
            phase.client_cpu = (time.process_time() - cpu0) / wall
            phase.server_cpu_s = cpu_seconds(pids) - srv0
            phase.server_cpu = phase.server_cpu_s / wall
            phase.server_runq = runq_wait_seconds(wait0, runq_waits(pids)) / wall
            phase.db_new = count_messages(engine) - before
            phases.append(phase)
            print(f"  {kind:6} {phase.load:>12}: {phase.rate:7.0f} msg/s  p99 {phase.percentile(99)} ms", flush=True)
    finally:
        for live in lives:
            live.visitor.close()
            live.console.close()
    return phases, setup_s, abandoned


def report(
    args, phases: list[Phase], raw: dict[str, list[float]], setup_s: float, abandoned: int, sessions: int
) -> None:
    backend = "postgresql" if args.database_url else "sqlite"
    print()
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"commit {git_head()}  backend={backend} processes={args.processes} cores={os.cpu_count()} load avg {load}")
    print(f"setup: {sessions} live sessions in {setup_s:.1f} s ({abandoned} abandoned and replaced)")
    head = (
        f"{'phase':<7}{'load':>13}{'sent':>8}{'ok':>8}{'err':>6}{'msg/s':>8}{'p50':>7}{'p95':>7}{'p99':>7}"
        f"{'max':>7}  {'db rows':>8}  {'persisted':<9}{'cpu app/bench':>14}{'app ms/msg':>11}{'app runq':>9}"
    )
    print(head)
    print("-" * len(head))
    for name, values in raw.items():
        each = " / ".join(f"{v:.0f}" for v in values)
        print(f"{'raw':<7}{name:>13}{'':>8}{'':>8}{'':>6}{statistics.mean(values):8.0f}  (before / after: {each})")
    for ph in phases:
        print(
            f"{ph.kind:<7}{ph.load:>13}{ph.sent:>8}{ph.ok:>8}{sum(ph.errors.values()):>6}{ph.rate:8.0f}"
            f"{ph.percentile(50):>7}{ph.percentile(95):>7}{ph.percentile(99):>7}{ph.percentile(100):>7}"
            f"  {ph.db_new if ph.db_new is not None else '?':>8}  {ph.persisted:<9}"
            f"{f'{ph.server_cpu * 100:.0f}%/{ph.client_cpu * 100:.0f}%':>14}"
            f"{ph.server_cpu_s * 1000 / ph.ok if ph.ok else 0:11.2f}{ph.server_runq * 100:8.0f}%"
        )
    print(
        "latencies in ms, of acknowledged messages; open loop: from the scheduled send time. cpu: share of one core"
        " (app processes / this bench); app ms/msg: app CPU time per acknowledged message (PostgreSQL's not counted);"
        " app runq: time the app's threads were runnable but waiting for a CPU, per second (other processes, the bench"
        " and the app's own threads competing for the cores)"
    )
    for ph in phases:
        notes = []
        if ph.errors:
            notes.append("errors: " + ", ".join(f"{k} x{v}" for k, v in ph.errors.most_common(4)))
        if ph.unsent_waits:
            notes.append(f"unsent: {len(ph.unsent_waits)} (still queued {args.grace:g} s after the schedule ended)")
        if ph.kind == "closed" and all(ph.by_side.values()):
            notes.append(
                "p50/p99 "
                + ", ".join(f"{k} {pct(v, 50) * 1000:.1f}/{pct(v, 99) * 1000:.1f} ms" for k, v in ph.by_side.items())
            )
        if ph.checker and ph.checker.missing:
            notes.append(
                f"{len(ph.checker.missing)} of {ph.checker.checked} sampled messages NOT in the database"
                f" right after their ack, e.g. {ph.checker.missing[0]}"
            )
        if ph.kind == "open" and ph.lags:
            notes.append(f"client send lag p99 {pct(ph.lags, 99) * 1000:.1f} ms")
        if notes:
            print(f"  {ph.kind} {ph.load}: " + "; ".join(notes))
    checked = sum(ph.checker.checked for ph in phases if ph.checker)
    if checked:
        late = sum(len(ph.checker.missing) for ph in phases if ph.checker)
        print(f"ack-time check: {checked} sampled messages looked up right after their 200, {late} missing")
    one_tx, batched = (statistics.mean(raw[k]) if raw.get(k) else 0 for k in ("1 tx/msg", f"{args.raw_batch}/commit"))
    closed = [ph for ph in phases if ph.kind == "closed"]
    if closed and (one_tx or batched) and backend == "sqlite":
        print("app/raw SQLite (closed loop):")
        for ph in closed:
            parts = []
            if one_tx:
                parts.append(f"{ph.rate / one_tx * 100:.1f} % of 1 tx/msg")
            if batched:
                parts.append(f"{ph.rate / batched * 100:.1f} % of {args.raw_batch}/commit")
            print(f"  {ph.load}: " + ", ".join(parts))


def _sigterm(_signum, _frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _sigterm)
    with contextlib.ExitStack() as stack:
        data_dir = Path(tempfile.mkdtemp(prefix="sportello-bench-", dir=args.data_root or None))
        if args.keep:
            stack.callback(print, f"data directory kept: {data_dir}")
        else:
            stack.callback(shutil.rmtree, data_dir, ignore_errors=True)

        raw: dict[str, list[float]] = {}
        if args.raw_seconds > 0:
            print("raw SQLite ...", flush=True)
            measure_raw(raw, data_dir, args)

        env = {"DATABASE_URL": ""}
        if args.database_url:  # a fresh database on that server, dropped at the end
            fresh = postgres_database(args.database_url)
            env["DATABASE_URL"] = next(fresh)
            stack.callback(next, fresh, None)
        sessions = max([*args.sessions, args.open_sessions if args.rate else 0])
        n_ops = max(1, math.ceil(sessions / SESSIONS_PER_OPERATOR))
        for i in range(n_ops):
            add_operator(data_dir, f"op{i}", f"Operatore {i}", PASSWORD, "--max-chats", str(MAX_CHATS), env=env)

        from sqlalchemy import create_engine

        from sportello.config import Settings

        url = Settings.from_env({**os.environ, "DATA_DIR": str(data_dir), **env}).database_url
        engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
        stack.callback(engine.dispose)

        app_env = {
            **env,
            "LOG_LEVEL": "WARNING",
            "RATE_LIMIT_EXEMPT": "127.0.0.1",
            "MAX_MESSAGES_PER_SESSION": "0",
        }
        if args.quotas:  # every request checks its quota in the counter store; none is refused
            app_env.update(RATE_LIMIT_EXEMPT="", MESSAGE_RATE_PER_IP="1000000000", SESSION_RATE_PER_IP="1000000000")
        server_class = GranianAppServer if args.server == "granian" else AppServer
        servers = [server_class(data_dir, env=app_env) for _ in range(args.processes)]
        for s in servers:
            stack.callback(s.stop)
        print(f"starting {len(servers)} app process(es) ...", flush=True)
        t = time.perf_counter()
        with ThreadPoolExecutor(len(servers)) as pool:
            list(pool.map(lambda s: s.start(), servers))
        print(f"  started in {time.perf_counter() - t:.1f} s", flush=True)
        try:
            phases, setup_s, abandoned = asyncio.run(
                load(args, [s.url for s in servers], n_ops, engine, [s.proc.pid for s in servers])
            )
        except Exception:
            for s in servers:
                print(f"--- last lines of {s.log_path.name}:\n{s.log()[-1500:]}", file=sys.stderr)
            raise
        if args.raw_seconds > 0:  # again, on the now idle machine: the disk may have changed meanwhile
            for s in servers:
                s.stop()
            print("raw SQLite again ...", flush=True)
            measure_raw(raw, data_dir, args)
        report(args, phases, raw, setup_s, abandoned, sessions)
        bad = [ph for ph in phases if not ph.persisted.startswith("yes")]
        return 1 if bad else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted: servers stopped, data removed", file=sys.stderr)
        sys.exit(130)
