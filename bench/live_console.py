"""The operator console, pushed: how soon the Live page shows what happened, and what an idle console costs.

    python bench/live_console.py [--messages 30] [--arrivals 10] [--idle 60] [--standalone] [--json]

`python app.py` with its dashboard behind the /dashboard/ proxy (as it runs in production: the Live page's
watcher long-polls GET /api/operators/console, faces/console_stream.py); with `--standalone`,
`python app.py --no-dashboard` and `streamlit run dashboard.py` on its own port (no API in the page's
reach: the watcher falls back to a look every 0.5 s, what every console did before). Operator "mario"
signs in in headless chromium (Playwright, Debian's chromium) and takes a chat. Then:

1. visitor message -> visible: a visitor types through the REST API; the time until the text is in the
   Live page's DOM (p50 / p95 / max);
2. new waiting chat -> visible: another visitor asks for a person; the time until the question is in the
   queue panel, and until the sidebar's "In coda: n" shows the new count;
3. idle console: nothing happens for --idle seconds (one live chat open, nobody waiting); the CPU time
   (user + system, from /proc) of the app and of the Streamlit process, per minute of wall time, minus the
   same measured for --idle seconds before any console was open; and the Streamlit runs the page got.

The last line (with --json) is one JSON object: {"msg_p50_ms", "msg_p95_ms", "arrival_p95_ms",
"count_p95_ms", "idle_cpu_ms_per_min", "idle_app_cpu_ms_per_min", "idle_dash_cpu_ms_per_min",
"idle_fragment_runs_per_min", "load"}.

Everything runs in temporary directories; every process is stopped at the end.
"""

from __future__ import annotations

import argparse
import contextlib
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

from bench.dashboard_render import (  # noqa: E402
    ENV,
    VIEWPORT,
    add_mario,
    percentile,
    runtime_for,
    sign_in_and_take_a_chat,
)
from testkit.browser import chromium  # noqa: E402
from testkit.dashboard import DashboardServer  # noqa: E402
from testkit.streamlit_runs import StreamlitRuns  # noqa: E402
from testkit.support import AppServer, Visitor, free_port, wait_until  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process and its reaped children (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime, cutime, cstime = (int(f) for f in fields[11:15])
    return (utime + stime + cutime + cstime) / TICKS


def healthy(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def streamlit_pid(parent: int) -> int | None:
    """The Streamlit process the app supervises (a child of `parent` running `streamlit`), or None."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if ppid == parent and b"streamlit" in (entry / "cmdline").read_bytes():
                return int(entry.name)
        except (OSError, ValueError, IndexError):
            continue
    return None


def summary(values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return f"n={len(ms)} p50={percentile(ms, 50):.0f} ms p95={percentile(ms, 95):.0f} ms max={max(ms):.0f} ms"


def run(n_messages: int, n_arrivals: int, idle_s: float, standalone: bool) -> dict:
    with tempfile.TemporaryDirectory(prefix="sportello-console-") as tmp:
        data_dir = Path(tmp) / "data"
        rt = runtime_for(data_dir)
        add_mario(rt)
        rt.store.dispose()
        if standalone:
            app = AppServer(data_dir, env=ENV, args=["--no-dashboard"])
            servers = [app, DashboardServer(data_dir, env=ENV)]
        else:
            app = AppServer(data_dir, env={**ENV, "DASHBOARD_PORT": str(free_port())}, args=[])
            servers = [app]
        with contextlib.ExitStack() as stack, chromium() as ctx:
            for server in servers:  # a loaded machine may take minutes to start them
                server.start(timeout=240)
                stack.callback(server.stop)
            if standalone:
                dash_pid, dash_url = servers[1].proc.pid, servers[1].url
            else:
                dash_pid, dash_url = (
                    wait_until(lambda: streamlit_pid(app.proc.pid), timeout=60),
                    app.url + "/dashboard/",
                )
                wait_until(lambda: healthy(app.url + "/dashboard/_stcore/health"), timeout=120, interval=0.2)
            pids = {"app": app.proc.pid, "dash": dash_pid}

            def cpu() -> dict:
                return {k: cpu_s(p) for k, p in pids.items()}

            # 0. the baseline: the same processes, no console open (after their start has settled)
            time.sleep(15)
            b0, bt0 = cpu(), time.monotonic()
            time.sleep(idle_s)
            b1, bt1 = cpu(), time.monotonic()
            base = {k: (b1[k] - b0[k]) * 60 / (bt1 - bt0) for k in pids}

            page = ctx.new_page()
            page.set_viewport_size(VIEWPORT)
            frames = StreamlitRuns()
            page.on("websocket", frames.attach)
            visitor = sign_in_and_take_a_chat(page, dash_url, app.url)
            page.get_by_text("In coda: 0").wait_for(timeout=20_000)

            # 3. idle first (nothing else has happened yet): CPU and reruns asked for
            page.wait_for_timeout(3000)
            c0, f0, t0 = cpu(), frames.snapshot(), time.monotonic()
            page.wait_for_timeout(idle_s * 1000)  # (Playwright hands events over only while it runs)
            c1, f1, t1 = cpu(), frames.snapshot(), time.monotonic()
            per_min = 60 / (t1 - t0)
            idle = {f"{k}_cpu_s_per_min": (c1[k] - c0[k]) * per_min - base[k] for k in pids}
            idle |= {f"{k}_base_cpu_s_per_min": base[k] for k in pids}
            idle |= {k: (f1[k] - f0[k]) * per_min for k in f0}
            idle["console"] = page.evaluate(
                "window.__spConsole ? {asks: window.__spConsole.asks, fallback: window.__spConsole.fallback} : null"
            )
            f_busy = frames.snapshot()

            # 1. visitor message -> visible on Live
            messages = []
            for i in range(n_messages):
                page.wait_for_timeout(random.uniform(100, 700))  # not in phase with the refresh
                text = f"Messaggio di prova numero {i} ({random.randint(0, 10**9)})"
                t = time.perf_counter()
                visitor.say(text)
                page.get_by_text(text).wait_for(timeout=20_000)
                messages.append(time.perf_counter() - t)

            # 2. a new waiting chat -> its question in the queue, and the sidebar's count
            arrivals, counts, others = [], [], []
            for i in range(n_arrivals):
                page.wait_for_timeout(random.uniform(100, 700))
                other = Visitor(app.url)
                others.append(other)
                question = f"Domanda per il personale {i} ({random.randint(0, 10**9)})"
                other.say(question)  # not known: the AI offers a person, the question is what the queue shows
                t = time.perf_counter()
                assert other.accept(True)["status"] == "waiting"
                page.get_by_text(question).wait_for(timeout=20_000)
                arrivals.append(time.perf_counter() - t)
                page.get_by_text(f"In coda: {i + 1}", exact=True).wait_for(timeout=20_000)
                counts.append(time.perf_counter() - t)
            for v in (visitor, *others):
                v.close()
            busy = {k: v - f_busy[k] for k, v in frames.snapshot().items()}
    return {"messages": messages, "arrivals": arrivals, "counts": counts, "idle": idle, "busy": busy}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=30)
    parser.add_argument("--arrivals", type=int, default=10)
    parser.add_argument("--idle", type=float, default=60.0)
    parser.add_argument("--standalone", action="store_true", help="the dashboard on its own port (the fallback)")
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    args = parser.parse_args(argv)
    load = os.getloadavg()[0]
    out = run(args.messages, args.arrivals, args.idle, args.standalone)
    load = max(load, os.getloadavg()[0])
    print(f"cpus={os.cpu_count()} load(1 min)={load:.2f} mode={'standalone' if args.standalone else 'proxied'}")
    print(f"visitor message -> visible on Live:      {summary(out['messages'])}")
    print(f"new waiting chat -> in the queue panel:  {summary(out['arrivals'])}")
    print(f"new waiting chat -> sidebar count:       {summary(out['counts'])}")
    idle = out["idle"]
    print(
        f"idle console ({args.idle:.0f} s, one live chat), per minute, minus no console: "
        f"app CPU {idle['app_cpu_s_per_min'] * 1000:.0f} ms (base {idle['app_base_cpu_s_per_min'] * 1000:.0f}), "
        f"Streamlit CPU {idle['dash_cpu_s_per_min'] * 1000:.0f} ms (base {idle['dash_base_cpu_s_per_min'] * 1000:.0f}); "
        f"{idle['full_runs']:.0f} full runs, {idle['fragment_runs']:.0f} fragment runs, "
        f"{idle['deltas']:.0f} elements sent, {idle['bytes'] / 1024:.1f} KiB; watcher {idle['console']}"
    )
    busy = out["busy"]
    print(
        f"while measuring 1-2 (visitor messages and arrivals): {busy['full_runs']} full runs, "
        f"{busy['fragment_runs']} fragment runs, {busy['deltas']} elements sent"
    )
    print(f"(mean message latency {statistics.mean(out['messages']) * 1000:.0f} ms)")
    if args.json:
        ms = {k: [v * 1000 for v in out[k]] for k in ("messages", "arrivals", "counts")}
        app_ms, dash_ms = idle["app_cpu_s_per_min"] * 1000, idle["dash_cpu_s_per_min"] * 1000
        line = {
            "msg_p50_ms": round(percentile(ms["messages"], 50)),
            "msg_p95_ms": round(percentile(ms["messages"], 95)),
            "arrival_p95_ms": round(percentile(ms["arrivals"], 95)),
            "count_p95_ms": round(percentile(ms["counts"], 95)),
            "idle_cpu_ms_per_min": round(app_ms + dash_ms),
            "idle_app_cpu_ms_per_min": round(app_ms),
            "idle_dash_cpu_ms_per_min": round(dash_ms),
            "idle_fragment_runs_per_min": round(idle["fragment_runs"], 1),
            "load": round(load, 2),
        }
        print(json.dumps(line))
    return 0


if __name__ == "__main__":
    sys.exit(main())
