"""What an idle operator console costs the app: its long poll of GET /api/operators/console.

    python bench/console_poll_cost.py [--seconds 30] [--consoles 1] [--beat 5]

The API in this process (testkit/inprocess.py, background work slowed down so it does not blur the figure);
`--consoles` clients in another process ask as the dashboard's page does (after the version they have, a
heartbeat every `--beat` s, each request waiting until then). The CPU time of this process (user + system)
over `--seconds` with the consoles, minus the same without them, per console and per minute. The last line
is one JSON object: {"consoles", "idle_console_cpu_ms_per_min", "requests_per_min", "load"}.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from testkit.inprocess import InProcessServer  # noqa: E402
from testkit.support import Operator, add_operator  # noqa: E402

# The dashboard page's loop (console_watch.py), in a child process: ask, wait, ask again.
CLIENT = """
import sys, time, httpx
url, token, beat_s, n = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
clients = [httpx.Client(base_url=url, timeout=60, headers={"Authorization": "Bearer " + token}) for _ in range(n)]
import threading
count = [0]
def loop(c):
    version = ""
    while True:
        out = c.get("/api/operators/console", params={"after": version, "wait": beat_s, "beat": 1}).json()
        version = out["version"]
        count[0] += 1
for c in clients:
    threading.Thread(target=loop, args=(c,), daemon=True).start()
while True:
    time.sleep(1)
    print(count[0], flush=True)
"""


def cpu() -> float:
    t = os.times()
    return t.user + t.system


def window(seconds: float) -> float:
    c0, t0 = cpu(), time.monotonic()
    time.sleep(seconds)
    return (cpu() - c0) * 60 / (time.monotonic() - t0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--consoles", type=int, default=1)
    parser.add_argument("--beat", type=float, default=5.0, help="HEARTBEAT_TIMEOUT_S / 3, as the page asks")
    args = parser.parse_args(argv)
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="sportello-poll-") as tmp:
        data_dir = Path(tmp) / "data"
        add_operator(data_dir, "mario", "Mario Rossi")
        env = {"OUTBOX_INTERVAL_S": "3600", "QUEUE_TIMEOUT_S": "86400"}
        with InProcessServer(data_dir, env=env) as server:
            token = Operator(server.url, "mario").token
            time.sleep(2)
            base = window(args.seconds)
            client = subprocess.Popen(
                [sys.executable, "-c", CLIENT, server.url, token, str(args.beat), str(args.consoles)],
                stdout=subprocess.PIPE,
                text=True,
            )
            seen = [0]

            def read() -> None:
                for line in client.stdout:
                    seen[0] = int(line)

            threading.Thread(target=read, daemon=True).start()
            try:
                time.sleep(2)
                start = seen[0]
                busy = window(args.seconds)
                end = seen[0]
            finally:
                client.kill()
                client.wait()
    per_console = (busy - base) / args.consoles * 1000
    requests = (end - start) * 60 / args.seconds
    load = max(load, os.getloadavg()[0])
    print(f"cpus={os.cpu_count()} load(1 min)={load:.2f}")
    print(f"no console: {base * 1000:.0f} ms CPU per minute; {args.consoles} idle console(s): {busy * 1000:.0f} ms")
    print(f"per idle console: {per_console:.1f} ms of app CPU per minute, {requests / args.consoles:.1f} requests")
    line = {
        "consoles": args.consoles,
        "idle_console_cpu_ms_per_min": round(per_console, 1),
        "requests_per_min": round(requests, 1),
        "load": round(load, 2),
    }
    print(json.dumps(line))
    return 0


if __name__ == "__main__":
    sys.exit(main())
