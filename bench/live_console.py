"""The operator console, pushed: how soon the Live page shows what happened, and what an idle console costs.

    python bench/live_console.py [--messages 30] [--arrivals 10] [--idle 30]

`python app.py --no-dashboard` and `streamlit run dashboard.py` on one DATA_DIR; operator "mario"
signs in in headless chromium (Playwright, Debian's chromium) and takes a chat. Then:

1. visitor message -> visible: a visitor types through the REST API; the time until the text is in the
   Live page's DOM (p50 / p95 / max);
2. new waiting chat -> visible: another visitor asks for a person; the time until the question is in the
   queue panel, and until the sidebar's "In coda: n" shows the new count;
3. idle console: nothing happens for --idle seconds (one live chat open, nobody waiting); the CPU time
   of the Streamlit process (user + system, from /proc), per minute of wall time, and the number of
   fragment reruns the browser asked for (websocket frames sent).

Everything runs in temporary directories; every process is stopped at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

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
from testkit.support import AppServer, Visitor  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process and its reaped children (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime, cutime, cstime = (int(f) for f in fields[11:15])
    return (utime + stime + cutime + cstime) / TICKS


def summary(values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return f"n={len(ms)} p50={percentile(ms, 50):.0f} ms p95={percentile(ms, 95):.0f} ms max={max(ms):.0f} ms"


def run(n_messages: int, n_arrivals: int, idle_s: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="sportello-console-") as tmp:
        data_dir = Path(tmp) / "data"
        rt = runtime_for(data_dir)
        add_mario(rt)
        rt.store.dispose()
        app = AppServer(data_dir, env=ENV, args=["--no-dashboard"])
        dash = DashboardServer(data_dir, env=ENV)
        with contextlib.ExitStack() as stack, chromium() as ctx:
            for server in (app, dash):  # a loaded machine may take minutes to start them
                server.start(timeout=240)
                stack.callback(server.stop)
            page = ctx.new_page()
            page.set_viewport_size(VIEWPORT)
            frames = StreamlitRuns()
            page.on("websocket", frames.attach)
            visitor = sign_in_and_take_a_chat(page, dash.url, app.url)
            page.get_by_text("In coda: 0").wait_for(timeout=20_000)

            # 3. idle first (nothing else has happened yet): CPU and reruns asked for
            page.wait_for_timeout(3000)
            c0, f0, t0 = cpu_s(dash.proc.pid), frames.snapshot(), time.monotonic()
            page.wait_for_timeout(idle_s * 1000)  # (Playwright hands events over only while it runs)
            c1, f1, t1 = cpu_s(dash.proc.pid), frames.snapshot(), time.monotonic()
            per_min = 60 / (t1 - t0)
            idle = {"cpu_s_per_min": (c1 - c0) * per_min} | {k: (f1[k] - f0[k]) * per_min for k in f0}
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
    parser.add_argument("--idle", type=float, default=30.0)
    args = parser.parse_args(argv)
    out = run(args.messages, args.arrivals, args.idle)
    print(f"cpus={os.cpu_count()}")
    print(f"visitor message -> visible on Live:      {summary(out['messages'])}")
    print(f"new waiting chat -> in the queue panel:  {summary(out['arrivals'])}")
    print(f"new waiting chat -> sidebar count:       {summary(out['counts'])}")
    idle = out["idle"]
    print(
        f"idle console ({args.idle:.0f} s, one live chat), per minute: Streamlit CPU {idle['cpu_s_per_min']:.2f} s, "
        f"{idle['full_runs']:.0f} full runs, {idle['fragment_runs']:.0f} fragment runs, "
        f"{idle['deltas']:.0f} elements sent, {idle['bytes'] / 1024:.0f} KiB"
    )
    busy = out["busy"]
    print(
        f"while measuring 1-2 (visitor messages and arrivals): {busy['full_runs']} full runs, "
        f"{busy['fragment_runs']} fragment runs, {busy['deltas']} elements sent"
    )
    print(f"(mean message latency {statistics.mean(out['messages']) * 1000:.0f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
