"""Operator -> tab across two app processes on one PostgreSQL (issue 21).

    python bench/cross_process.py [--database-url postgresql://postgres@127.0.0.1:5432/test]
                                  [--chats 20] [--idle-tabs 200] [--messages 300] [--rate 10] [--json]

Creates a new database on the server of --database-url (dropped at the end) and starts two app processes on
it (`python app.py --no-dashboard`: A and B). Opens --chats live chats: each visitor starts on A and asks for a
person, an operator takes the chat through A, and the chat's stream (GET /api/chat/sessions/{id}/stream) is
held on B; plus --idle-tabs chats with their stream open on B and nothing happening. Then the operators send
--messages messages through A, about --rate a second in all, at random intervals; each is timed from just
before the operator's HTTP call to the moment B's stream delivers the frame that carries it (B's change feed
finds A's commit: one query every FEED_INTERVAL_S for all of B's streams). Prints p50 / p95 / max, errors and
the CPU of each process; with --json the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from testkit.databases import postgres_database  # noqa: E402
from testkit.support import AppServer, add_operator  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from visitor_load import HARD, SERVER_ENV  # noqa: E402  (the same question; the per-address limits off)


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, max(0, round(p / 100 * len(values)) - 1))] if values else float("nan")


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def hold_stream(http: httpx.AsyncClient, chat: dict, arrived: dict[str, float], opened: asyncio.Event, errors):
    """Read the chat's stream on B; note when each operator message (by its text) arrives."""
    headers = {"X-Session-Token": chat["token"]}
    try:
        async with http.stream("GET", f"/api/chat/sessions/{chat['session_id']}/stream", headers=headers) as r:
            if r.status_code != 200:
                errors.append(f"stream {r.status_code}")
                opened.set()
                return
            event = None
            async for line in r.aiter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    if event == "state":
                        opened.set()
                    elif event == "message":
                        text = json.loads(line[6:]).get("text") or ""
                        if text.startswith("[bench "):
                            arrived.setdefault(text, time.time())
                    event = None
    except (httpx.HTTPError, asyncio.CancelledError):
        pass


async def run(a_url: str, b_url: str, chats: int, idle: int, messages: int, rate: float, operators: int) -> dict:
    limits = httpx.Limits(max_connections=chats + idle + 50, max_keepalive_connections=chats + idle + 50)
    errors: list[str] = []
    async with (
        httpx.AsyncClient(base_url=a_url, timeout=30, limits=limits) as a,
        httpx.AsyncClient(base_url=b_url, timeout=None, limits=limits) as b,
    ):
        ops = []
        for i in range(operators):
            r = await a.post("/api/auth/login", json={"username": f"op{i}", "password": "password123"})
            headers = {"Authorization": f"Bearer {r.json()['token']}"}
            await a.post("/api/operators", params={"action": "set_status"}, json={"status": "online"}, headers=headers)
            ops.append(headers)

        async def new_chat() -> dict:
            chat = (await a.post("/api/chat/sessions", json={"language": "it"})).json()
            return chat

        live = [await new_chat() for _ in range(chats)]
        owner: dict[str, dict] = {}
        for i, chat in enumerate(live):
            sid, headers = chat["session_id"], {"X-Session-Token": chat["token"]}
            await a.post(f"/api/chat/sessions/{sid}/messages", json={"text": HARD}, headers=headers)
            await a.post(f"/api/chat/sessions/{sid}/operator", json={"accept": True}, headers=headers)
            op = ops[i % operators]
            r = await a.post("/api/operators", params={"action": "take_chat"}, json={"session_id": sid}, headers=op)
            if r.status_code != 200:
                errors.append(f"take_chat {r.status_code}")
            owner[sid] = op
        quiet = [await new_chat() for _ in range(idle)]
        arrived: dict[str, float] = {}
        opened = [asyncio.Event() for _ in live + quiet]
        tasks = [
            asyncio.create_task(hold_stream(b, chat, arrived, ev, errors))
            for chat, ev in zip(live + quiet, opened, strict=True)
        ]
        await asyncio.wait_for(asyncio.gather(*(ev.wait() for ev in opened)), timeout=60)
        await asyncio.sleep(1)
        pids = {"a": A.proc.pid, "b": B.proc.pid}
        cpu0 = {k: cpu_s(p) for k, p in pids.items()}
        t0 = time.monotonic()
        sent: dict[str, float] = {}

        async def send(i: int) -> None:
            chat = random.choice(live)
            text = f"[bench {i}] Buongiorno, come posso aiutarla?"
            sent[text] = time.time()
            r = await a.post(
                "/api/operators",
                params={"action": "send_message"},
                json={"session_id": chat["session_id"], "text": text},
                headers=owner[chat["session_id"]],
            )
            if r.status_code != 200:
                errors.append(f"send_message {r.status_code}")

        pending = []
        for i in range(messages):
            pending.append(asyncio.create_task(send(i)))
            await asyncio.sleep(random.expovariate(rate))
        await asyncio.gather(*pending)
        deadline = time.monotonic() + 5
        while len(arrived) < len(sent) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        elapsed = time.monotonic() - t0
        cpu = {k: (cpu_s(p) - cpu0[k]) / elapsed * 100 for k, p in pids.items()}
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    delays = [arrived[k] - sent[k] for k in sent if k in arrived]
    lost = len(sent) - len(delays)
    if lost:
        errors.append(f"{lost} messages never reached the tab")
    return {
        "chats": chats,
        "idle_tabs": idle,
        "messages": len(sent),
        "op_to_tab_p50_ms": round(statistics.median(delays) * 1000, 1) if delays else None,
        "op_to_tab_p95_ms": round(pct(delays, 95) * 1000, 1) if delays else None,
        "op_to_tab_max_ms": round(max(delays) * 1000, 1) if delays else None,
        "errors": len(errors),
        "error_kinds": sorted(set(errors))[:5],
        "cpu_a_pct": round(cpu["a"]),
        "cpu_b_pct": round(cpu["b"]),
    }


A: AppServer
B: AppServer


def main() -> None:
    global A, B
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--chats", type=int, default=20)
    parser.add_argument("--idle-tabs", type=int, default=200)
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--rate", type=float, default=10.0, help="operator messages per second, in all")
    parser.add_argument("--operators", type=int, default=4)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    gen = postgres_database(args.database_url)
    url = next(gen)
    try:
        with tempfile.TemporaryDirectory(prefix="sportello-xproc-") as tmp:
            data = Path(tmp)
            env = {**SERVER_ENV, "DATABASE_URL": url}
            max_chats = str(max(1, -(-args.chats // args.operators)))
            for i in range(args.operators):
                add_operator(data, f"op{i}", f"Op{i} Bench", "password123", "--max-chats", max_chats, env=env)
            A = AppServer(data, env=env).start()
            try:
                B = AppServer(data, env=env).start()
                try:
                    out = asyncio.run(
                        run(A.url, B.url, args.chats, args.idle_tabs, args.messages, args.rate, args.operators)
                    )
                finally:
                    B.stop()
            finally:
                A.stop()
    finally:
        gen.close()
    print(
        f"two processes on PostgreSQL: {out['chats']} live chats (streams on B, operators on A), "
        f"{out['idle_tabs']} idle streams on B, {out['messages']} operator messages at about {args.rate}/s"
    )
    print(
        f"operator (A) -> tab (B): p50 {out['op_to_tab_p50_ms']} ms, p95 {out['op_to_tab_p95_ms']} ms, "
        f"max {out['op_to_tab_max_ms']} ms; errors {out['errors']} {out['error_kinds']}; "
        f"CPU A {out['cpu_a_pct']} %, B {out['cpu_b_pct']} %"
    )
    if args.json:
        print(json.dumps({k: v for k, v in out.items() if k != "error_kinds"}))


if __name__ == "__main__":
    main()
