"""The edge, second round: bodies capped and timed on every route (the visitor page's Gradio routes
and the /dashboard/ proxy too), Gradio's bad requests answered 4xx JSON, and the security headers.
Every target is 127.0.0.1; every loop is bounded."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
import uvicorn

from sportello.faces.proxy import DashboardProxy
from testkit.inprocess import InProcessServer
from testkit.support import free_port

TIMED = {"BODY_READ_TIMEOUT_S": "1"}


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    """The app with the visitor page mounted (Gradio), bodies capped at 64 KiB and read within 1 s."""
    data_dir = tmp_path_factory.mktemp("edge") / "data"
    with InProcessServer(data_dir, env=TIMED, with_page=True) as srv:
        yield srv


def raw(port: int, head: bytes, body: bytes = b"", wait_s: float = 5.0) -> tuple[int, dict, bytes]:
    """Send bytes on a socket; the status, headers and body of the answer (read until it closes)."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait_s) as s:
        s.sendall(head + body)
        data = b""
        try:
            while chunk := s.recv(65536):
                data += chunk
                if b"\r\n\r\n" in data:
                    top, _, rest = data.partition(b"\r\n\r\n")
                    length = [int(v) for k, v in _headers(top).items() if k == "content-length"]
                    if length and len(rest) >= length[0]:
                        break
        except (ConnectionResetError, TimeoutError):
            pass
    top, _, rest = data.partition(b"\r\n\r\n")
    return int(top.split(b" ")[1]), _headers(top), rest


def _headers(top: bytes) -> dict:
    lines = top.decode("latin-1").split("\r\n")[1:]
    return {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}


def post_head(path: str, length: int | None, content_type: str = "application/json") -> bytes:
    size = f"Content-Length: {length}\r\n" if length is not None else "Transfer-Encoding: chunked\r\n"
    return f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n{size}\r\n".encode()


def json_error(status: int, body: bytes) -> str:
    err = json.loads(body)["error"]
    assert err["message"], err
    return err["code"]


# ---------------------------------------------------------------- (1) Gradio bodies are capped
def test_a_huge_declared_body_to_gradio_is_refused_before_it_is_read(page):
    t0 = time.monotonic()
    status, headers, body = raw(page.port, post_head("/gradio_api/queue/join", 50 * 1024 * 1024), b"{")
    assert status == 413 and headers["content-type"].startswith("application/json"), (status, body[:200])
    assert json_error(status, body) == "body_too_large"
    assert time.monotonic() - t0 < 3


def test_a_huge_chunked_body_to_gradio_is_cut_while_it_streams_in(page):
    chunk = b"x" * 16384
    pieces = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(8)) + b"0\r\n\r\n"  # 128 KiB
    status, headers, body = raw(page.port, post_head("/gradio_api/queue/join", None), pieces)
    assert status == 413, (status, body[:300])
    assert json_error(status, body) == "body_too_large"


def test_the_cap_holds_on_every_gradio_route(page):
    for path in ("/gradio_api/run/predict", "/gradio_api/component_server", "/gradio_api/queue/join", "/"):
        status, _, body = raw(page.port, post_head(path, 10 * 1024 * 1024))
        assert status == 413, (path, status, body[:200])


# ---------------------------------------------------------------- (2) slow bodies
def test_a_slow_body_is_refused_after_the_read_timeout_on_every_route(page):
    for path in ("/api/chat/sessions", "/gradio_api/queue/join"):
        t0 = time.monotonic()
        with socket.create_connection(("127.0.0.1", page.port), timeout=10) as s:
            s.sendall(post_head(path, 1000))
            s.sendall(b"{")
            data = s.recv(65536)
        assert data.startswith(b"HTTP/1.1 408"), (path, data[:300])
        assert 0.8 < time.monotonic() - t0 < 5
        assert json.loads(data.partition(b"\r\n\r\n")[2])["error"]["code"] == "body_timeout"


class _Upstream(BaseHTTPRequestHandler):
    """The stand-in of Streamlit: reads the body it is sent, answers a line."""

    protocol_version = "HTTP/1.1"

    def _answer(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b"ok"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args):
        pass


async def _nothing(scope, receive, send):  # the app behind the proxy (never reached here)
    await send({"type": "http.response.start", "status": 404, "headers": []})
    await send({"type": "http.response.body", "body": b""})


@pytest.fixture
def proxied():
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    upstream.daemon_threads = True
    threading.Thread(target=upstream.serve_forever, args=(0.05,), daemon=True).start()  # shutdown() in 0.05 s
    port = free_port()
    app = DashboardProxy(_nothing, upstream.server_address[1], max_body_bytes=1024 * 1024, read_timeout_s=30)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(500):
        if server.started:
            break
        time.sleep(0.01)
    yield port
    server.should_exit = True
    thread.join(10)
    upstream.shutdown()
    upstream.server_close()


def test_slow_bodies_do_not_starve_the_dashboard_proxy(proxied):
    slow = []
    try:
        for _ in range(110):  # one byte each of a declared 1 MB body, then silence
            s = socket.create_connection(("127.0.0.1", proxied), timeout=10)
            s.sendall(post_head("/dashboard/_stcore/upload", 1_000_000, "application/octet-stream") + b"x")
            slow.append(s)
        time.sleep(0.5)
        t0 = time.monotonic()
        r = httpx.get(f"http://127.0.0.1:{proxied}/dashboard/", timeout=10)
        assert r.status_code == 200 and r.text == "ok"
        assert time.monotonic() - t0 < 2
    finally:
        for s in slow:
            s.close()


def test_a_slow_body_through_the_proxy_is_refused_after_the_timeout():
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    threading.Thread(target=upstream.serve_forever, args=(0.05,), daemon=True).start()  # shutdown() in 0.05 s
    port = free_port()
    app = DashboardProxy(_nothing, upstream.server_address[1], read_timeout_s=1)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(500):
            if server.started:
                break
            time.sleep(0.01)
        t0 = time.monotonic()
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(post_head("/dashboard/x", 1000) + b"x")
            data = s.recv(65536)
        assert data.startswith(b"HTTP/1.1 408"), data[:300]
        assert time.monotonic() - t0 < 5
    finally:
        server.should_exit = True
        thread.join(10)
        upstream.shutdown()
        upstream.server_close()


# ---------------------------------------------------------------- (3) Gradio's bad requests are 4xx JSON
def test_component_server_without_component_id_is_a_clean_4xx(page):
    with httpx.Client(base_url=page.url, timeout=10) as http:
        r = http.post(
            "/gradio_api/component_server",
            files={"data": (None, "null"), "fn_name": (None, "x"), "session_hash": (None, "abc")},
        )
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:300])
    assert r.headers["content-type"].startswith("application/json")


def test_queue_join_with_an_unknown_fn_index_is_a_clean_4xx(page):
    with httpx.Client(base_url=page.url, timeout=10) as http:
        r = http.post(
            "/gradio_api/queue/join", json={"data": [], "fn_index": 10**9, "session_hash": "abc", "trigger_id": 1}
        )
        ok = http.get("/gradio_api/info")
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:300])
    assert r.headers["content-type"].startswith("application/json")
    assert ok.status_code == 200


# ---------------------------------------------------------------- (4) headers
def test_nosniff_everywhere_and_no_framing_of_the_api(page):
    with httpx.Client(base_url=page.url, timeout=10) as http:
        home, health, docs = http.get("/"), http.get("/api/health"), http.get("/api/docs")
        missing = http.get("/api/nothing-here")
    for r in (home, health, docs, missing):
        assert r.headers.get("x-content-type-options") == "nosniff", (r.url, r.headers)
    for r in (health, docs, missing):
        assert r.headers.get("x-frame-options") == "DENY", r.url
        assert "frame-ancestors 'none'" in r.headers.get("content-security-policy", ""), r.url
    # The visitor page stays embeddable in a venue's site (README "Visitor page").
    assert "x-frame-options" not in home.headers
    assert "frame-ancestors" not in home.headers.get("content-security-policy", "")


def test_the_dashboard_proxy_says_nosniff(proxied):
    r = httpx.get(f"http://127.0.0.1:{proxied}/dashboard/", timeout=10)
    assert r.headers.get("x-content-type-options") == "nosniff"
    assert r.headers.get("x-frame-options") == "DENY"
