"""The two ways to push to the visitor page, measured side by side on one bare server (no database):

    python bench/push_designs.py [--tabs 200] [--idle 20]

(a) `sse`: one Server-Sent Events stream per tab, a plain Starlette StreamingResponse (what
    GET /api/chat/sessions/{id}/stream is), keep-alive every 20 s;
(b) `gradio`: one long-lived Gradio streaming event per tab (an async generator, concurrency_limit=None,
    yielding only on change), read through Gradio's own /gradio_api/queue/data stream.

Each tab waits on an asyncio.Event (standing in for the change feed); POST /wake/{key} sets it. Prints, per
design: server CPU per idle tab per minute (over --idle seconds, minus the same server with no tab), the
server's memory with every tab open, and wake -> tab latency (p50/max over 20 wakes).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from visitor_load import ProcStats  # noqa: E402

from sportello.faces.visitor.client import PageProtocol  # noqa: E402


def serve(port: int) -> None:
    import gradio as gr
    import uvicorn
    from fastapi import FastAPI
    from fastapi.responses import StreamingResponse

    app = FastAPI()
    events: dict[str, asyncio.Event] = {}

    def event(key: str) -> asyncio.Event:
        return events.setdefault(key, asyncio.Event())

    @app.post("/wake/{key}")
    async def wake(key: str):
        event(key).set()
        return {}

    @app.get("/sse/{key}")
    async def sse(key: str):
        async def frames():
            ev = event(key)
            yield "retry: 1000\n\n"
            while True:
                try:
                    await asyncio.wait_for(ev.wait(), 20)
                except TimeoutError:
                    yield ": keepalive\n\n"
                    continue
                ev.clear()
                yield f"event: message\ndata: {key}\n\n"

        return StreamingResponse(frames(), media_type="text/event-stream")

    with gr.Blocks() as demo:
        key_box = gr.Textbox(elem_id="key")
        out = gr.Textbox(elem_id="out")

        async def follow(key: str):
            ev = event(key)
            while True:
                await ev.wait()
                ev.clear()
                yield f"{key} {time.time()}"  # a new value: Gradio sends only what changed

        key_box.submit(follow, key_box, out, concurrency_limit=None, api_name="follow", show_progress="hidden")
    demo.queue(default_concurrency_limit=None)
    app = gr.mount_gradio_app(app, demo, path="/")
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", backlog=4096)


async def hold_sse(http, key, seen):
    async with http.stream("GET", f"/sse/{key}") as r:
        async for line in r.aiter_lines():
            if line.startswith("data:"):
                seen[key].set()


async def hold_gradio(http, proto, key, seen):
    fn_index, trigger_id = proto.events["follow"]
    session = secrets.token_hex(6)
    body = {"data": [key], "fn_index": fn_index, "trigger_id": trigger_id, "session_hash": session}
    r = await http.post("/gradio_api/queue/join", json=body)
    r.raise_for_status()
    async with http.stream("GET", "/gradio_api/queue/data", params={"session_hash": session}) as r:
        async for line in r.aiter_lines():
            if line.startswith("data:") and '"process_generating"' in line:
                seen[key].set()


async def measure(url: str, design: str, tabs: int, idle: float, stats: ProcStats) -> dict:
    limits = httpx.Limits(max_connections=2 * tabs + 20, max_keepalive_connections=2 * tabs + 20)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=httpx.Timeout(30, read=None)) as http:
        proto = await PageProtocol.fetch(http) if design == "gradio" else None
        await asyncio.sleep(1)
        cpu0 = stats.cpu_s()
        await asyncio.sleep(idle)
        base = stats.cpu_s() - cpu0
        keys = [f"k{i}" for i in range(tabs)]
        seen = {k: asyncio.Event() for k in keys}
        if design == "sse":
            tasks = [asyncio.create_task(hold_sse(http, k, seen)) for k in keys]
        else:
            tasks = [asyncio.create_task(hold_gradio(http, proto, k, seen)) for k in keys]
        await asyncio.sleep(3 + tabs / 200)
        cpu0 = stats.cpu_s()
        await asyncio.sleep(idle)
        busy = stats.cpu_s() - cpu0
        rss = stats.rss_mb()
        delays = []
        lost = 0
        for k in keys[:: max(1, tabs // 20)][:20]:
            seen[k].clear()
            t0 = time.perf_counter()
            await http.post(f"/wake/{k}")
            try:
                await asyncio.wait_for(seen[k].wait(), 5)
                delays.append(time.perf_counter() - t0)
            except TimeoutError:
                lost += 1
        dropped = sum(1 for t in tasks if t.done())  # streams the server ended or broke during the idle time
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "design": design,
        "tabs": tabs,
        "idle_tab_cpu_ms_per_min": round(max(0.0, busy - base) * 1000 / tabs / (idle / 60), 3),
        "server_rss_mb": round(rss, 1),
        "wake_to_tab_p50_ms": round(statistics.median(delays) * 1000, 1) if delays else None,
        "wake_to_tab_max_ms": round(max(delays) * 1000, 1) if delays else None,
        "wakes_lost": lost,
        "streams_dropped": dropped,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", nargs="?", default="bench", choices=["bench", "serve"])
    parser.add_argument("--tabs", type=int, default=200)
    parser.add_argument("--idle", type=float, default=20.0)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    if args.mode == "serve":
        serve(args.port)
        return 0
    print(f"push designs: {args.tabs} idle tabs, {args.idle:.0f}s, load average {os.getloadavg()[0]:.1f}")
    for design in ("sse", "gradio"):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        proc = subprocess.Popen(
            [sys.executable, __file__, "serve", "--port", str(port)], cwd=ROOT, start_new_session=True
        )
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    httpx.get(url + "/config", timeout=1)
                    break
                except httpx.HTTPError:
                    time.sleep(0.2)
            print(json.dumps(asyncio.run(measure(url, design, args.tabs, args.idle, ProcStats(proc.pid)))), flush=True)
        finally:
            proc.terminate()
            proc.wait(15)
    return 0


if __name__ == "__main__":
    sys.exit(main())
