"""The operator dashboard (Streamlit) is a child of `python app.py`, supervised: it is restarted when it
dies, it never outlives the app (SIGTERM, SIGINT), the app never proxies to a stale process on the
dashboard port, and the /dashboard/ proxy refuses big bodies quickly and cannot be framed."""

from __future__ import annotations

import http.server
import os
import signal
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest

from testkit.support import AppServer, free_port, wait_until


def _children(pid: int) -> list[int]:
    """PIDs whose parent is `pid` (from /proc)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            out.append(int(entry.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def _is_streamlit(pid: int) -> bool:
    try:
        return b"streamlit" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _streamlit_children(app: AppServer) -> list[int]:
    return [p for p in _children(app.proc.pid) if _is_streamlit(p)]


def _port_free(port: int) -> bool:
    """Nothing listens on it (as a server binds: SO_REUSEADDR, TIME_WAIT connections do not count)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _dashboard_up(url: str) -> bool:
    try:
        return httpx.get(url + "/dashboard/_stcore/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _start_with_dashboard(data_dir, port: int, **env) -> AppServer:
    app = AppServer(data_dir, env={"DASHBOARD_PORT": str(port), **env}, args=[])
    app.start()
    try:
        wait_until(lambda: _dashboard_up(app.url), timeout=60, interval=0.05)
    except BaseException:
        _cleanup(app)
        raise
    return app


def _cleanup(app: AppServer, extra: list[int] = ()) -> None:
    pids = (_streamlit_children(app) if app.proc and app.proc.poll() is None else []) + list(extra)
    app.stop()
    for pid in pids:  # an orphan left behind by a failing run: ours, end it by its PID
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_stopping_the_app_stops_the_dashboard(data_dir, sig):
    """SIGKILL too (a crash, the OOM killer): the child gets SIGTERM when its parent dies (Linux)."""
    port = free_port()
    app = _start_with_dashboard(data_dir, port)
    children = _streamlit_children(app)
    try:
        assert children, "no streamlit child"
        t0 = time.monotonic()
        os.kill(app.proc.pid, sig)  # the app process only, as a process manager does
        app.proc.wait(20)
        wait_until(lambda: not any(_alive(p) for p in children), timeout=10)
        print(f"\n{sig.name}: app and dashboard gone in {time.monotonic() - t0:.2f} s")
        assert _port_free(port)
    finally:
        _cleanup(app, children)


def test_a_killed_dashboard_is_restarted(data_dir):
    app = _start_with_dashboard(data_dir, free_port())
    try:
        [child] = _streamlit_children(app)
        os.kill(child, signal.SIGKILL)
        t0 = time.monotonic()
        wait_until(lambda: not _dashboard_up(app.url), timeout=5, interval=0.05)
        wait_until(lambda: _dashboard_up(app.url), timeout=30, interval=0.1)
        print(f"\ndashboard back in {time.monotonic() - t0:.2f} s")
        assert _streamlit_children(app) and child not in _streamlit_children(app)
        assert httpx.get(app.url + "/api/health", timeout=10).status_code == 200
    finally:
        _cleanup(app)


def test_a_hung_dashboard_is_restarted(data_dir):
    app = _start_with_dashboard(data_dir, free_port(), DASHBOARD_HUNG_S="3")
    [child] = _streamlit_children(app)
    try:
        time.sleep(1.5)  # the supervisor probes once a second: let it see the dashboard answer
        os.kill(child, signal.SIGSTOP)  # alive, but answers nothing
        t0 = time.monotonic()
        wait_until(lambda: not _alive(child), timeout=20, interval=0.05)
        wait_until(lambda: _dashboard_up(app.url), timeout=40, interval=0.05)
        print(f"\nhung dashboard replaced in {time.monotonic() - t0:.2f} s")
        assert httpx.get(app.url + "/api/health", timeout=10).status_code == 200
    finally:
        if _alive(child):
            os.kill(child, signal.SIGKILL)
        _cleanup(app)


class _Stale(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        body = b"STALE"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_a_stale_process_on_the_dashboard_port_is_never_proxied(data_dir):
    port = free_port()
    stale = http.server.ThreadingHTTPServer(("127.0.0.1", port), _Stale)
    threading.Thread(target=stale.serve_forever, args=(0.05,), daemon=True).start()  # shutdown() in 0.05 s
    app = None
    try:
        app = _start_with_dashboard(data_dir, port)
        r = httpx.get(app.url + "/dashboard/", timeout=10)
        assert "STALE" not in r.text
        assert r.status_code == 200
    finally:
        if app is not None:
            _cleanup(app)
        stale.shutdown()
        stale.server_close()


def test_dashboard_responses_cannot_be_framed_and_big_bodies_are_refused_quickly(data_dir):
    app = _start_with_dashboard(data_dir, free_port())
    try:
        r = httpx.get(app.url + "/dashboard/", timeout=10)
        assert r.headers.get("x-frame-options") == "DENY", r.headers
        assert "frame-ancestors 'none'" in r.headers.get("content-security-policy", ""), r.headers
        r = httpx.get(app.url + "/dashboard/_stcore/health", timeout=10)
        assert r.headers.get("x-frame-options") == "DENY", r.headers
        # the visitor page stays embeddable
        assert "x-frame-options" not in httpx.get(app.url + "/", timeout=30).headers

        body = b"x" * (20 * 1024 * 1024)
        slow: list[float] = []
        done = threading.Event()

        def visitor_calls():
            with httpx.Client(base_url=app.url, timeout=30) as c:
                while not done.is_set() or not slow:  # at least one call, even when the POST is refused at once
                    t = time.monotonic()
                    c.get("/api/health")
                    slow.append(time.monotonic() - t)
                    time.sleep(0.05)

        t = threading.Thread(target=visitor_calls)
        t.start()
        t0 = time.monotonic()
        try:
            r = httpx.post(app.url + "/dashboard/upload", content=body, timeout=60)
        except httpx.HTTPError as exc:  # refused before the body was all sent
            r = exc
        elapsed = time.monotonic() - t0
        done.set()
        t.join()
        print(f"\n20 MB POST to /dashboard/: {elapsed:.2f} s; visitor max {max(slow):.3f} s over {len(slow)} calls")
        if isinstance(r, httpx.Response):
            assert r.status_code == 413, r.status_code
            assert r.headers.get("x-frame-options") == "DENY"
        assert elapsed < 3, elapsed
        assert max(slow) < 1.0, slow
    finally:
        _cleanup(app)
