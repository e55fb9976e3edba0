"""Load check of the visitor page: many visitor tabs on one `app` process.

    python bench/visitor_load.py [--visitors 50,200,1000] [--duration 20] [--think 0] [--answer-delay 1.0] [--json]

Starts the app (the real `build_app`, with the lexical offline answerer slowed down by
--answer-delay seconds per answer to stand in for an LLM) in a child process
with a temporary DATA_DIR, then runs N simulated tabs that speak the page's
Gradio protocol (sportello.faces.visitor.client) like the browser does: a message goes
through the visitor REST API (`?stream=1`) as the page's script sends it (a new chat's first
message starts the chat in the same request; the next Gradio event keeps it), "talk to
a person" and the contact form go through the API too (`POST .../operator`, `.../contact`), "new
chat" is a Gradio event. The tabs first open (each
loads the page; not measured), in one load client process per 250 tabs (--procs), 50
tabs per httpx client; then, for --duration seconds, each loops the seed journey: a
question the KB answers, one it cannot, "talk to a person", then either (no operator
free) leaves an email on the contact form, or, while it waits or talks to an operator,
holds the chat's stream open as the page's #sp-live script does: a message is shown
from the stream as it arrives, a change of the chat's state is drawn as the script draws
it (the queue, the operator who joins, the release), only a change it cannot draw (a new
language, a contact form after the queue) runs the page's look (`on_tick`), while
operators (driven through the operator API) take the chat, write three messages and
release it; then a new chat. --think: the mean seconds a visitor takes before each
action (0: at once, as fast as the answers come). Then the idle phase: as many idle
tabs (chats with an open stream and nothing happening) for --idle seconds.

Prints, per level: the answers' overhead over the answerer's own time (p50/p95:
stays near 0 if slow answers run in parallel), the look's latency, operator ->
tab (from the operator's send to the tab receiving the stream's frame that carries
the message, which the page renders from the stream: p50/p95/max), errors,
the server's CPU and memory, the server CPU per idle tab per minute, the load
client's CPU (all its processes) and its own event-loop lag (p95: how late the client's
loop runs, which every time it measures includes). An answer's time starts where the
page's starts: for a chat's first message, with the chat's creation (POST
/api/chat/sessions with the text, one request). With --json the last line is one JSON object for
the largest level. The answers are also given once every tab's first message is out (the steady state after
the opening rush, when the tabs that opened together all start a chat). Visitor -> console: a tab whose chat
goes live writes once, and the operator's console (the long poll the Live page's watcher asks, then its chats'
new messages through the operator API) reads it: from the send to that read (p50/p95/max, and how many were
never read); the dashboard's own render on top of it is bench/live_console.py's.

The client runs on the same machine as the server (it competes for the CPUs). The first line gives this
machine's Python speed (ns per step of a plain loop): machines of the same kind here have differed by half, so
compare runs made on one machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sportello.faces.visitor.client import PageProtocol, VisitorTab  # noqa: E402

QUESTION = "Quanto costa il biglietto?"
HARD = "Posso prenotare una visita privata notturna con il direttore per il mio matrimonio?"
SERVER_ENV = {  # one client address for every tab: the per-address limits off
    # The lexical answerer (0.2 ms) slowed by --answer-delay stands in for an LLM, whose time is waiting on
    # the network, not CPU: the e5 answerer's encoder is CPU work behind one lock and would measure itself.
    "ANSWERER": "lexical",
    "QUEUE_TIMEOUT_S": "600",
    "OUTBOX_INTERVAL_S": "0.5",
    "SESSION_RATE_PER_IP": "0",
    "MESSAGE_RATE_PER_IP": "0",
    "STREAM_MAX_PER_CLIENT": "0",
}


# ---------------------------------------------------------------------------- server (child process)
def serve(port: int, delay: float) -> None:
    from app import build_app
    from sportello.answering.bot import build_answerer
    from sportello.config import Settings
    from sportello.faces.stream import serve as serve_app
    from sportello.runtime import Runtime

    class SlowAnswerer:
        """The offline answerer, `delay` seconds slower: a stand-in for an LLM call."""

        def __init__(self, inner, delay_s: float):
            self.inner, self.delay_s = inner, delay_s

        def answer(self, text, lang):
            time.sleep(self.delay_s)
            return self.inner.answer(text, lang)

    settings = Settings.from_env()
    runtime = Runtime(settings, answerer=SlowAnswerer(build_answerer(settings), delay))
    runtime.start()
    try:
        # timeout_keep_alive: httpx, unlike a browser, does not retry a request sent on a keep-alive connection
        # the server closed meanwhile; a longer keep-alive keeps that client artefact out of the errors.
        serve_app(
            build_app(runtime),
            runtime,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            backlog=4096,
            timeout_keep_alive=75,
        )
    finally:
        runtime.stop()


def start_server(data_dir: Path, delay: float, operators: int, max_chats: int) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "DATA_DIR": str(data_dir), **SERVER_ENV}
    for i in range(operators):
        subprocess.run(
            [sys.executable, "-m", "sportello.faces.admin", "add-operator", f"op{i}", "--name", f"Op{i} Bench"]
            + ["--password", "password123", "--max-chats", str(max_chats)],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, __file__, "serve", "--port", str(port), "--answer-delay", str(delay)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(data_dir / "server.log", "ab"),  # noqa: SIM115
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/api/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the app did not start: see " + str(data_dir / "server.log"))


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


class ProcStats:
    """CPU seconds and resident memory of the server, from /proc."""

    def __init__(self, pid: int):
        self.pid = pid
        self.tick = os.sysconf("SC_CLK_TCK")

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / self.tick

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0


# ---------------------------------------------------------------------------- load
MARKER = re.compile(r"\[op\d+-[0-9a-f]{6}-\d\]")  # an operator's message, as the bench's operators write it
V_MARKER = re.compile(r"\[v-[0-9a-f]{12}\]")  # a visitor's message in a live chat, as the bench's tabs write it
TABS_PER_CLIENT = 50  # tabs sharing one httpx client: its pool is scanned per request (one pool of 3,000: O(n^2))


class Results:
    def __init__(self):
        self.actions: list[float] = []
        self.ticks: list[float] = []
        self.received: list[tuple[str, float]] = []  # (operator message marker, wall time it reached the tab)
        self.errors: list[str] = []
        self.journeys = 0
        self.cpu_s = 0.0  # the load client's own CPU (this process)
        self.first_answers: list[float] = []  # the answers to a new chat's first message (its creation included)
        self.later_answers: list[float] = []
        self.timed_answers: list[tuple[float, float]] = []  # (wall time it came, overhead) of every answer
        self.loop_lags: list[float] = []  # the load client's own event-loop lag (seconds late for a 50 ms sleep)
        self.visitor_sent: list[tuple[str, float]] = []  # (a live chat's visitor message marker, wall time sent)


async def visitor(tab: VisitorTab, res: Results, until: float, delay: float, think: float) -> None:
    """One tab's journeys, until `until` (time.monotonic()). `think`: the mean seconds a visitor takes before
    each action (reading the answer, typing the next question), uniform in [think/2, 3 think/2]; 0: at once."""
    seen: set[str] = set()

    async def pause() -> None:
        if think > 0:
            await asyncio.sleep(min(max(0.0, until - time.monotonic()), think * random.uniform(0.5, 1.5)))

    replied: set[str] = set()
    replies: set[asyncio.Task] = set()

    async def reply(sid: str) -> None:  # a live chat: the visitor writes once, soon after the operator joins
        try:
            await asyncio.sleep(random.uniform(0.3, 1.0))
            if tab.status == "live" and tab.live.get("sid") == sid:
                marker, at = f"[v-{sid[:12]}]", time.time()
                res.actions.append(await tab.say(f"Grazie, aspetto {marker}"))
                res.visitor_sent.append((marker, at))
        except Exception as exc:  # counted, not fatal; a chat released meanwhile refuses it (409): not an error
            if "chat_closed" not in str(exc):
                res.errors.append(f"live reply: {type(exc).__name__}: {exc}"[:200])

    def joined() -> None:  # an operator joined: the visitor writes once
        sid = tab.live.get("sid")
        if tab.status == "live" and sid and sid not in replied:
            replied.add(sid)
            task = asyncio.create_task(reply(sid))
            replies.add(task)
            task.add_done_callback(replies.discard)

    async def look() -> None:  # what the page does when the chat's state changes and its script cannot draw it
        res.ticks.append(await tab.tick())
        joined()

    def shown(message: dict) -> None:  # the page shows a message from the stream as it arrives
        now = time.time()
        for marker in MARKER.findall(message.get("text") or ""):
            if marker not in seen:
                seen.add(marker)
                res.received.append((marker, now))

    async def say(text: str) -> None:
        answered = tab.status in ("bot", "offered")  # else no answerer runs (a contact's phase): not an answer
        new_chat = not tab.live.get("sid")  # the page creates the chat first (POST /api/chat/sessions)
        took = await tab.say(text)
        if answered:
            (res.first_answers if new_chat else res.later_answers).append(took - delay)
            res.timed_answers.append((time.time(), took - delay))
        else:
            res.actions.append(took)

    try:
        while time.monotonic() < until:
            await pause()
            if time.monotonic() >= until:
                break
            await say(QUESTION)
            await pause()
            if time.monotonic() >= until:
                break
            await say(HARD)
            await pause()
            if time.monotonic() >= until:
                break
            res.actions.append(await tab.ask_person())
            if tab.status == "collecting_contact":  # no operator free: the visitor leaves an email, a ticket
                await pause()
                res.actions.append(await tab.contact("email", "visitatore@example.org"))
            while time.monotonic() < until and tab.status in ("waiting", "live"):
                try:
                    await asyncio.wait_for(
                        tab.follow(look, shown, on_state=lambda _status: joined()),
                        timeout=max(0.1, until - time.monotonic()),
                    )
                except TimeoutError:
                    break
            if tab.status == "closed":
                res.journeys += 1
                res.actions.append(await tab.new_chat())
    except Exception as exc:  # counted, not fatal: the point is to see them
        res.errors.append(f"{type(exc).__name__}: {exc}"[:200])
    finally:
        await asyncio.gather(*replies, return_exceptions=True)
        res.ticks.extend(tab.look_times)  # the looks its API sends asked (a new chat, an offer)


async def tabs_run(url: str, n: int, duration: float, delay: float, think: float, ready) -> Results:
    """n tabs: opened first (each loads the page, not measured), then, once every process's tabs are open
    (`ready()` returns), their journeys for `duration` seconds."""
    res = Results()
    groups = [(n + TABS_PER_CLIENT - 1) // TABS_PER_CLIENT]
    limits = httpx.Limits(max_connections=3 * TABS_PER_CLIENT + 20, max_keepalive_connections=3 * TABS_PER_CLIENT + 20)
    clients = [httpx.AsyncClient(base_url=url, limits=limits, timeout=120) for _ in range(groups[0])]
    try:
        proto = await PageProtocol.fetch(clients[0])
        tabs = [VisitorTab(clients[i // TABS_PER_CLIENT], proto, user_agent="bench-visitor/1.0") for i in range(n)]
        gate = asyncio.Semaphore(50)

        async def open_tab(tab):
            async with gate:
                try:
                    res.actions.append(await tab.load())
                except Exception as exc:
                    res.errors.append(f"load: {type(exc).__name__}: {exc}"[:200])

        await asyncio.gather(*(open_tab(t) for t in tabs))
        await asyncio.get_running_loop().run_in_executor(None, ready)
        cpu0 = time.process_time()
        until = time.monotonic() + duration

        async def staggered(tab):
            if think <= 0:
                await asyncio.sleep(random.random() * min(3.0, duration / 4))  # tabs do not start in the same ms
            await visitor(tab, res, until, delay, think)

        async def lag_probe():  # how late this client's own loop runs: what it adds to every time it measures
            while time.monotonic() < until:
                t = time.perf_counter()
                await asyncio.sleep(0.05)
                res.loop_lags.append(time.perf_counter() - t - 0.05)

        await asyncio.gather(lag_probe(), *(staggered(t) for t in tabs))
        res.cpu_s = time.process_time() - cpu0
    finally:
        for c in clients:
            await c.aclose()
    return res


def tabs_process(url, n, duration, delay, think, seed, barrier, out) -> None:
    """A load client process of its own (the tabs of one Python process are limited to one core's worth)."""
    random.seed(seed)
    res = asyncio.run(tabs_run(url, n, duration, delay, think, barrier.wait))
    out.put(vars(res))


async def operator(
    url: str, name: str, res: Results, until: float, sent: dict[str, float], on_console: dict[str, float]
) -> None:
    """One operator through the operator API: takes waiting chats, writes three messages in each, releases it.
    Meanwhile its console asks `GET /api/operators/console` as the Live page's watcher does (a long poll that
    answers when the console's version changes) and, when it changes, reads its chats' new messages: the
    wall time a visitor's marked message is read there goes to `on_console`."""
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        r = await http.post("/api/auth/login", json={"username": name, "password": "password123"})
        http.headers["Authorization"] = f"Bearer {r.json()['token']}"

        async def op(action, body=None, method="POST", **params):
            for attempt in range(3):  # a connection dropped under load: tried again, counted
                try:
                    if body is None:
                        return await http.get("/api/operators", params={"action": action, **params})
                    return await http.request(method, "/api/operators", params={"action": action}, json=body)
                except httpx.TransportError as exc:
                    res.errors.append(f"operator {action}: {type(exc).__name__}")
                    if attempt == 2:
                        raise

        await op("set_status", {"status": "online"})
        mine: dict[str, int] = {}  # my chats (those seen live) -> the last message seq read

        async def console() -> None:
            version = ""
            while True:  # until cancelled, a moment after the level's end (the last messages read)
                try:
                    r = await http.get("/api/operators/console", params={"after": version, "wait": "5"})
                    problem = "" if r.status_code == 200 else f"console {r.status_code}"
                except httpx.TransportError as exc:
                    problem = f"console: {type(exc).__name__}"
                if problem:  # counted, then asked again a moment later (not in a tight loop)
                    res.errors.append(problem)
                    await asyncio.sleep(0.5)
                    continue
                if r.json()["version"] == version:
                    continue
                version = r.json()["version"]
                # As the Live page: what changed is read, not everything (my chats' last sequences, then only
                # the chats with new messages).
                listed = await op("my_chats")
                last = {c["session_id"]: c["last_seq"] for c in listed.json().get("chats", [])}
                for sid in [sid for sid, seq in last.items() if seq > mine.get(sid, 0)]:
                    got = await op("chat_messages", session_id=sid, after=mine.get(sid, 0))
                    now = time.time()
                    for m in got.json().get("messages", []) if got.status_code == 200 else []:
                        mine[sid] = max(mine.get(sid, 0), m["seq"])
                        for marker in V_MARKER.findall(m["text"] if m["role"] == "user" else ""):
                            on_console.setdefault(marker, now)

        watching = asyncio.create_task(console())

        async def chat(session_id: str) -> None:
            for i in range(3):
                await asyncio.sleep(1.0 + random.random())
                marker = f"[{name}-{session_id[:6]}-{i}]"
                sent[marker] = time.time()
                await op("send_message", {"session_id": session_id, "text": f"Messaggio {marker}"})
            await asyncio.sleep(0.5)
            await op("release_chat", {"session_id": session_id, "resolution_reason": "bench"}, method="PUT")

        tasks: set[asyncio.Task] = set()
        while time.monotonic() < until:
            pending = (await op("pending_sessions")).json().get("sessions", [])
            for s in pending[:2]:
                r = await op("take_chat", {"session_id": s["session_id"]})
                if r.status_code == 200:
                    task = asyncio.create_task(chat(s["session_id"]))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                elif r.status_code not in (409,):
                    res.errors.append(f"take_chat {r.status_code}")
            await asyncio.sleep(0.5)
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.sleep(3.0)
        watching.cancel()
        await asyncio.gather(watching, return_exceptions=True)


def python_speed() -> float:
    """Nanoseconds per step of a plain Python loop, the best of three: how fast this machine runs the server's
    kind of work (two machines of the same kind here have differed by half)."""
    best = float("inf")
    for _ in range(3):
        t0, total = time.perf_counter(), 0
        for i in range(1_000_000):
            total += i
        best = min(best, time.perf_counter() - t0)
    return best * 1000


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, max(0, round(p / 100 * len(values)) - 1))]


async def idle_tabs(url: str, n: int, seconds: float, stats: ProcStats) -> float:
    """Server CPU (ms) per idle tab per minute: n chats, each with its stream open and nothing happening,
    against the same server with no stream, over `seconds` each."""
    limits = httpx.Limits(max_connections=n + 20, max_keepalive_connections=n + 20)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as http:
        chats = []
        for i in range(0, n, 50):
            batch = [http.post("/api/chat/sessions", json={"language": "it"}) for _ in range(min(50, n - i))]
            chats += [r.json() for r in await asyncio.gather(*batch)]
        await asyncio.sleep(2)
        cpu0 = stats.cpu_s()
        await asyncio.sleep(seconds)
        base = stats.cpu_s() - cpu0
        opened = 0

        async def hold(chat):
            nonlocal opened
            headers = {"X-Session-Token": chat["token"]}
            async with http.stream("GET", f"/api/chat/sessions/{chat['session_id']}/stream", headers=headers) as r:
                if r.status_code == 200:
                    opened += 1
                async for _line in r.aiter_lines():
                    pass

        tasks = [asyncio.create_task(hold(c)) for c in chats]
        await asyncio.sleep(3)  # every stream open and settled
        cpu0 = stats.cpu_s()
        await asyncio.sleep(seconds)
        busy = stats.cpu_s() - cpu0
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    if opened < n:
        print(f"      idle phase: only {opened} of {n} streams opened")
    return max(0.0, busy - base) * 1000 / max(1, opened) / (seconds / 60)


async def run_level(
    url: str, n: int, duration: float, operators: int, stats: ProcStats, delay: float, think: float, procs: int
) -> dict:
    """The tabs in `procs` processes (each opens its share, then all start together), the operators here."""
    ctx = multiprocessing.get_context("fork")
    shares = [k for k in (n // procs + (1 if i < n % procs else 0) for i in range(procs)) if k]
    barrier, out = ctx.Barrier(len(shares) + 1), ctx.Queue()
    workers = [
        ctx.Process(target=tabs_process, args=(url, k, duration, delay, think, random.random(), barrier, out))
        for k in shares
    ]
    for w in workers:
        w.start()
    sent: dict[str, float] = {}
    on_console: dict[str, float] = {}
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, barrier.wait)  # every tab open
    cpu0, t0, own0, wall0 = stats.cpu_s(), time.monotonic(), time.process_time(), time.time()
    op = Results()
    until = time.monotonic() + duration
    await asyncio.gather(*(operator(url, f"op{i}", op, until, sent, on_console) for i in range(operators)))
    parts = [await loop.run_in_executor(None, out.get) for _ in workers]
    for w in workers:
        w.join()
    elapsed = time.monotonic() - t0
    cpu = stats.cpu_s() - cpu0
    res = Results()
    for part in parts:
        keys = ("actions", "ticks", "received", "errors", "loop_lags", "first_answers", "later_answers", "visitor_sent")
        keys += ("timed_answers",)
        for key in keys:
            getattr(res, key).extend(part[key])
        res.journeys += part["journeys"]
    res.errors.extend(op.errors)
    answers = res.first_answers + res.later_answers
    deliveries: dict[str, float] = {}
    for marker, when in res.received:
        if marker in sent:
            deliveries[marker] = min(deliveries.get(marker, float("inf")), when - sent[marker])
    deliveries_s = list(deliveries.values())
    to_console = [on_console[m] - t for m, t in res.visitor_sent if m in on_console]
    client_cpu = (time.process_time() - own0) + sum(p["cpu_s"] for p in parts)  # the operators' and the tabs'
    nan = float("nan")
    return {
        "visitors": n,
        "answers": len(answers),
        "answer_p50": statistics.median(answers) if answers else nan,
        "answer_p95": pct(answers, 95),
        "ticks": len(res.ticks),
        "ticks_per_s": len(res.ticks) / elapsed,
        "tick_p50": statistics.median(res.ticks) if res.ticks else nan,
        "tick_p95": pct(res.ticks, 95),
        "delivered": len(deliveries_s),
        "delivery_p50": statistics.median(deliveries_s) if deliveries_s else nan,
        "delivery_p95": pct(deliveries_s, 95),
        "delivery_max": max(deliveries_s) if deliveries_s else nan,
        "journeys": res.journeys,
        "errors": len(res.errors),
        "first_error": res.errors[0] if res.errors else "",
        "server_cpu_pct": 100 * cpu / elapsed,
        "client_cpu_pct": 100 * client_cpu / elapsed,
        "server_rss_mb": stats.rss_mb(),
        "client_lag_p95": pct(res.loop_lags, 95),
        "first_answers": res.first_answers,
        # Every tab's first message is out by then (its start staggered over 3 s, then one pause of at most
        # 1.5 think): the answers after it are the steady state, those before the opening rush.
        "steady_answers": [o for at, o in res.timed_answers if at - wall0 > 3 + 1.5 * think + delay + 1],
        "later_answers": res.later_answers,
        "to_console": to_console,
        "to_console_missed": len(res.visitor_sent) - len(to_console),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", nargs="?", default="bench", choices=["bench", "serve"])
    parser.add_argument("--visitors", default="50,200,1000", help="comma-separated levels of concurrent tabs")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per level (after the tabs are open)")
    parser.add_argument(
        "--think",
        type=float,
        default=0.0,
        help="mean seconds a visitor takes before each action (uniform in [think/2, 3 think/2]); 0: at once",
    )
    parser.add_argument("--procs", type=int, default=0, help="load client processes (0: 1 per 250 tabs, 1 to 4)")
    parser.add_argument("--idle", type=float, default=20.0, help="seconds of the idle phase (and of its baseline)")
    parser.add_argument("--answer-delay", type=float, default=1.0, help="seconds added to every answer (a slow LLM)")
    parser.add_argument("--operators", type=int, default=4)
    parser.add_argument("--max-chats", type=int, default=5)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="end with one JSON line for the largest level")
    args = parser.parse_args(argv)
    if args.mode == "serve":
        serve(args.port, args.answer_delay)
        return 0

    print(
        f"visitor page load check: answer delay {args.answer_delay}s, {args.operators} operators x "
        f'{args.max_chats} chats, messages, "talk to a person" and contacts through the API, a look on a change the script '
        f"cannot draw, tabs opened first, then "
        f"{args.duration:.0f}s per level, think {args.think:g}s, idle phase "
        f"{args.idle:.0f}s, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} (client on the same machine); "
        f"this machine's Python speed: {python_speed():.0f} ns per loop step (machines differ: compare runs on one)"
    )
    print(
        f"{'tabs':>5} {'answers':>7} {'ovh p50':>8} {'ovh p95':>8} {'looks/s':>8} {'look p50':>9} {'look p95':>9} "
        f"{'op->tab p50':>11} {'p95':>6} {'max':>6} {'chats':>6} {'errors':>6} {'cpu%':>5} {'rss MB':>7} "
        f"{'idle ms/tab/min':>15} {'client cpu%':>11} {'client lag p95':>14}"
    )
    last = None
    for n in [int(x) for x in args.visitors.split(",") if x.strip()]:
        with tempfile.TemporaryDirectory(prefix="sportello-load-") as tmp:
            proc, url = start_server(Path(tmp), args.answer_delay, args.operators, args.max_chats)
            try:
                stats = ProcStats(proc.pid)
                procs = args.procs or min(4, max(1, n // 250))
                r = asyncio.run(
                    run_level(url, n, args.duration, args.operators, stats, args.answer_delay, args.think, procs)
                )
                r["idle_ms"] = asyncio.run(idle_tabs(url, n, args.idle, stats))
                r["server_rss_mb"] = max(r["server_rss_mb"], stats.rss_mb())
            finally:
                stop_server(proc)
        print(
            f"{r['visitors']:>5} {r['answers']:>7} {r['answer_p50'] * 1000:>6.0f}ms {r['answer_p95'] * 1000:>6.0f}ms "
            f"{r['ticks_per_s']:>8.1f} {r['tick_p50'] * 1000:>7.0f}ms {r['tick_p95'] * 1000:>7.0f}ms "
            f"{r['delivery_p50']:>10.2f}s {r['delivery_p95']:>5.2f}s {r['delivery_max']:>5.2f}s "
            f"{r['journeys']:>6} {r['errors']:>6} {r['server_cpu_pct']:>5.0f} {r['server_rss_mb']:>7.0f} "
            f"{r['idle_ms']:>15.2f} {r['client_cpu_pct']:>11.0f} {r['client_lag_p95'] * 1000:>12.0f}ms",
            flush=True,
        )
        first, later = r["first_answers"], r["later_answers"]
        print(
            f"      answer overhead p50/p95: a new chat's first message (its creation included) {len(first)} answers "
            f"{pct(first, 50) * 1000:.0f}/{pct(first, 95) * 1000:.0f} ms, later messages {len(later)} answers "
            f"{pct(later, 50) * 1000:.0f}/{pct(later, 95) * 1000:.0f} ms"
        )
        steady = r["steady_answers"]
        print(
            f"      answer overhead p50/p95 once every tab's first message is out (the opening rush over): "
            f"{len(steady)} answers {pct(steady, 50) * 1000:.0f}/{pct(steady, 95) * 1000:.0f} ms"
        )
        tc = r["to_console"]
        print(
            f"      visitor -> console (the console's long poll, then its chats' new messages; the dashboard's render "
            f"is bench/live_console.py's): {len(tc)} messages p50/p95/max {pct(tc, 50) * 1000:.0f}/"
            f"{pct(tc, 95) * 1000:.0f}/{max(tc, default=float('nan')) * 1000:.0f} ms, {r['to_console_missed']} not seen"
        )
        if r["first_error"]:
            print("      first error:", r["first_error"])
        last = r
    if args.json and last is not None:

        def num(x: float, scale: float = 1.0):
            return None if x != x else round(x * scale, 1)  # NaN (nothing measured): null

        print(
            json.dumps(
                {
                    "tabs": last["visitors"],
                    "answer_overhead_p95_ms": num(last["answer_p95"], 1000),
                    "op_to_tab_p95_ms": num(last["delivery_p95"], 1000),
                    "op_to_tab_max_ms": num(last["delivery_max"], 1000),
                    "errors": last["errors"],
                    "server_rss_mb": num(last["server_rss_mb"]),
                    "idle_tab_cpu_ms_per_min": num(last["idle_ms"]),
                }
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
