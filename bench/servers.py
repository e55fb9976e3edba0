"""uvicorn or Granian: the whole app (`python app.py`, dashboard and proxy included) under each, in one run.

    python bench/servers.py [--pages 20] [--throughput]

For each server (bench/serve_with.py swaps only the final `uvicorn.run`), on a fresh DATA_DIR:
1. the page loading: GET / (the visitor page's HTML), then the visitor page in headless chromium
   until the greeting shows, and the dashboard through the app's /dashboard/ proxy (its websocket
   included) until the Live page shows, each --pages times (p50 / p95);
2. the limits that must hold whatever the server: a body over MAX_BODY_BYTES is 413, a body not whole
   within BODY_READ_TIMEOUT_S is 408, the API is not framable (X-Frame-Options), the dashboard's
   websocket works through the proxy;
3. with --throughput: bench/flow_throughput.py --quick --server NAME (the message API, closed and
   open loop), its summary lines.
"""

from __future__ import annotations

import argparse
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.dashboard_render import percentile  # noqa: E402
from testkit.browser import chromium  # noqa: E402
from testkit.dashboard import sign_in_browser  # noqa: E402
from testkit.support import AppServer, add_operator, free_port  # noqa: E402

ENV = {"BODY_READ_TIMEOUT_S": "1", "MAX_BODY_BYTES": "65536"}


class Served(AppServer):
    """`python app.py` (with the dashboard) under the server named."""

    def __init__(self, server: str, data_dir: Path):
        super().__init__(data_dir, env={**ENV, "DASHBOARD_PORT": str(free_port())}, args=[])
        self.server = server

    def command(self) -> list[str]:
        return [sys.executable, str(ROOT / "bench" / "serve_with.py"), self.server, *self.args]


def status_of(port: int, data: bytes, wait_s: float = 5.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=wait_s) as s:
        s.sendall(data)
        try:
            return s.recv(65536).split(b"\r\n", 1)[0]
        except (ConnectionResetError, TimeoutError):
            return b"(no answer)"


def post_head(path: str, length: int) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


def visitor_page(page, url: str) -> None:
    page.goto(url + "/")
    page.wait_for_selector("#chat .message", timeout=60_000)


def timed(n: int, ctx, load) -> list[float] | str:
    """The seconds `load(page)` took, n times in a new page each; the error when it failed."""
    out = []
    for _ in range(n):
        page = ctx.new_page()
        t = time.perf_counter()
        try:
            load(page)
        except Exception as exc:  # noqa: BLE001 (reported)
            return f"FAILED: {type(exc).__name__}: {str(exc).splitlines()[0]}"
        finally:
            page.close()
        out.append(time.perf_counter() - t)
    return out


def ms(values: list[float] | str) -> str:
    if isinstance(values, str):
        return values
    return f"p50 {percentile(values, 50) * 1000:.0f} ms, p95 {percentile(values, 95) * 1000:.0f} ms"


def one(server: str, pages: int) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"sportello-{server}-") as tmp:
        data_dir = Path(tmp) / "data"
        data_dir.mkdir()
        add_operator(data_dir, "mario", "Mario Rossi")
        app = Served(server, data_dir)
        t0 = time.perf_counter()
        app.start(timeout=300)
        try:
            httpx.get(app.url + "/dashboard/_stcore/health", timeout=120)  # the dashboard is up too
            out = {"start_s": time.perf_counter() - t0}
            with httpx.Client(base_url=app.url, timeout=30) as http:
                http.get("/")
                html = []
                for _ in range(pages * 5):
                    t = time.perf_counter()
                    assert http.get("/").status_code == 200
                    html.append(time.perf_counter() - t)
                out["html"] = html
                api = http.post("/api/chat/sessions", json={"language": "it"})
                out["frame_header"] = api.headers.get("x-frame-options")
                assets = re.findall(r'(?:src|href)="\.?/?((?:assets|static)/[^"]+)"', http.get("/").text)
                out["assets"] = sorted({http.get("/" + a).status_code for a in assets[:10]})
            out["413"] = status_of(app.port, post_head("/api/chat/sessions", 200_000) + b"x" * 200_000)
            t = time.perf_counter()
            out["408"] = status_of(app.port, post_head("/api/chat/sessions", 1000) + b"{")
            out["408_s"] = time.perf_counter() - t
            with chromium() as ctx:
                out["visitor"] = timed(pages, ctx, lambda page: visitor_page(page, app.url))
                out["dashboard"] = timed(
                    max(1, pages // 4), ctx, lambda page: sign_in_browser(page, app.url + "/dashboard/", "mario")
                )
        finally:
            app.stop()
    return out


def throughput(server: str) -> list[str]:
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "flow_throughput.py"),
            "--quick",
            "--server",
            server,
            "--raw-seconds",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    return [line for line in proc.stdout.splitlines() if line.strip()][-12:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=20)
    parser.add_argument("--throughput", action="store_true")
    parser.add_argument("--servers", default="uvicorn,granian")
    args = parser.parse_args(argv)
    for server in args.servers.split(","):
        r = one(server, args.pages)
        print(f"== {server}: started (with the dashboard) in {r['start_s']:.1f} s")
        print(f"  GET / (visitor page HTML):         {ms(r['html'])}  (n={len(r['html'])})")
        print(f"  the page's assets (JS, CSS), HTTP status: {r['assets']}")
        print(f"  visitor page in chromium:          {ms(r['visitor'])}")
        print(f"  dashboard via the proxy, sign-in:  {ms(r['dashboard'])}")
        print(
            f"  limits: big body -> {r['413'].decode()}; slow body -> {r['408'].decode()} after "
            f"{r['408_s']:.1f} s; API X-Frame-Options: {r['frame_header']}"
        )
        if args.throughput:
            for line in throughput(server):
                print("  " + line)
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
