"""Limits at the edge: Gradio's body size, slow bodies through the dashboard proxy, Gradio's 500s,
unmetered writes, a username anyone can lock, and the security headers."""

from __future__ import annotations

import contextlib
import socket
import threading
import time

import httpx

from redteam import seed as S
from redteam.harness import HOST, PASSWORD, Context, Result, Visitor, deadline_loop, fresh_address, verdict

MB = 1024 * 1024


def gradio_body_limit(ctx: Context) -> Result:
    """3 parallel 50 MB JSON bodies to /gradio_api/queue/join must be refused (413), not accepted."""
    name = "gradio_body_limit"
    app = S.start_main_app(ctx)
    body = b'{"data":["' + b"a" * (50 * MB) + b'"],"fn_index":0,"session_hash":"redteam0001"}'
    outcomes: list[str] = []

    def send() -> None:
        try:
            r = httpx.post(
                app.url + "/gradio_api/queue/join",
                content=body,
                headers={"Content-Type": "application/json"},
                timeout=25,
            )
            outcomes.append(str(r.status_code))
        except httpx.HTTPError as exc:
            outcomes.append(f"closed ({type(exc).__name__})")

    threads = [threading.Thread(target=send) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    accepted = [o for o in outcomes if o.startswith("2")]
    return verdict(name, not accepted and len(outcomes) == 3, f"3 x 50 MB bodies -> {', '.join(outcomes)}")


def slow_bodies(ctx: Context) -> Result:
    """110 connections each sending 1 byte of a declared 1 MB body must not starve /dashboard/."""
    name = "slow_bodies"
    app = S.start_main_app(ctx)
    socks: list[socket.socket] = []
    request = (
        f"POST /dashboard/ HTTP/1.1\r\nHost: {HOST}:{app.port}\r\nContent-Type: application/octet-stream\r\n"
        f"Content-Length: {MB}\r\n\r\nx"
    ).encode()
    try:
        for _ in deadline_loop(8, 110):
            s = socket.create_connection((HOST, app.port), timeout=5)
            s.sendall(request)
            socks.append(s)
        time.sleep(1.0)
        started = time.monotonic()
        try:
            r = httpx.get(app.url + "/dashboard/", timeout=5)
            got = f"{r.status_code} in {time.monotonic() - started:.1f}s"
            ok = r.status_code == 200
        except httpx.HTTPError as exc:
            got = f"{type(exc).__name__} after {time.monotonic() - started:.1f}s"
            ok = False
    finally:
        for s in socks:
            with contextlib.suppress(OSError):
                s.close()
    return verdict(name, ok, f"{len(socks)} slow POSTs held open; GET /dashboard/ -> {got}")


def gradio_500(ctx: Context) -> Result:
    name = "gradio_500"
    app = S.start_main_app(ctx)
    seen = []

    def probe(what: str, **request) -> None:
        try:
            with app.client() as http:
                seen.append((what, http.post(**request).status_code))
        except httpx.HTTPError as exc:  # closed without an answer: not a clean 4xx either
            seen.append((what, f"no response ({type(exc).__name__})"))

    probe(
        "component_server without component_id",
        url="/gradio_api/component_server",
        files={"fn_name": (None, "x"), "data": (None, "{}")},
    )
    probe(
        "queue/join fn_index=10**9",
        url="/gradio_api/queue/join",
        json={"data": [], "fn_index": 10**9, "session_hash": "redteam0002", "event_data": None, "trigger_id": None},
    )
    bad = [f"{what} -> {code}" for what, code in seen if not isinstance(code, int) or code >= 500]
    return verdict(name, not bad, "; ".join(bad) or ", ".join(f"{w} -> {c}" for w, c in seen))


def headers(ctx: Context) -> Result:
    name = "headers"
    app = S.start_main_app(ctx)
    problems = []
    with app.client() as http:
        for path in ("/", "/api/health", "/api/chat/hours", "/dashboard/"):
            r = http.get(path)
            if r.headers.get("x-content-type-options", "").lower() != "nosniff":
                problems.append(f"{path} ({r.status_code}) lacks X-Content-Type-Options: nosniff")
        r = http.get("/api/docs")
        csp = r.headers.get("content-security-policy", "")
        if r.headers.get("x-frame-options", "").upper() not in ("DENY", "SAMEORIGIN") and "frame-ancestors" not in csp:
            problems.append(f"/api/docs ({r.status_code}) can be framed")
    return verdict(name, not problems, "; ".join(problems) or "nosniff everywhere, /api/docs not framable")


def unmetered_writes(ctx: Context) -> Result:
    """300 language switches (each a database write) in a burst: some must be refused (429)."""
    name = "unmetered_writes"
    app = S.start_main_app(ctx)
    v = Visitor(app, address=fresh_address())
    codes: dict[int, int] = {}
    started = time.monotonic()
    try:
        for i in deadline_loop(3, 300):
            r = v.http.post(f"/api/chat/sessions/{v.session_id}/language", json={"language": ("en", "it")[i % 2]})
            codes[r.status_code] = codes.get(r.status_code, 0) + 1
    finally:
        v.close()
    took = time.monotonic() - started
    written = codes.get(200, 0)
    summary = ", ".join(f"{c}x{n}" for c, n in sorted(codes.items()))
    return verdict(
        name, 429 in codes, f"{written} language switches written in {took:.1f}s from one visitor ({summary})"
    )


def username_lockout(ctx: Context) -> Result:
    """5 wrong guesses from one address must not lock the owner out when she comes with the right password."""
    name = "username_lockout"
    app = S.start_main_app(ctx)
    attacker, owner = fresh_address(), fresh_address()
    codes = []
    with app.client(attacker) as http:
        for _ in deadline_loop(15, 6):
            codes.append(
                http.post("/api/auth/login", json={"username": S.VICTIM, "password": "guess-guess"}).status_code
            )
    with app.client(owner) as http:
        r = http.post("/api/auth/login", json={"username": S.VICTIM, "password": PASSWORD})
    return verdict(
        name,
        r.status_code == 200,
        f"{len(codes)} wrong guesses from {attacker} -> {codes}; right password from {owner} -> {r.status_code}",
    )
