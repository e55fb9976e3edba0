"""A Server-Sent Events client for tests: the visitor stream (GET /api/chat/sessions/{id}/stream) read in a
thread, its frames queued as (event, id, data)."""

from __future__ import annotations

import json
import queue
import threading
import time

import httpx

from testkit.support import TLS


class Stream:
    """An SSE client in a thread: frames land in `frames` as (event, id, data)."""

    def __init__(self, url: str, session_id: str, token: str | None, after: int = 0, via: str = "header", **headers):
        self.frames: queue.Queue = queue.Queue()
        self.status: int | None = None
        self.ready = threading.Event()
        self.done = threading.Event()
        self._stop = False
        params = {"after": after}
        if via == "query" and token:
            params["token"] = token
        elif token:
            headers["X-Session-Token"] = token
        self._args = (f"{url}/api/chat/sessions/{session_id}/stream", params, headers)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        assert self.ready.wait(10)

    def _run(self):
        url, params, headers = self._args
        try:
            with httpx.Client(timeout=httpx.Timeout(10, read=30), verify=TLS) as http:
                with http.stream("GET", url, params=params, headers=headers) as r:
                    self.status = r.status_code
                    self.body = r.read() if r.status_code != 200 else b""
                    self.ready.set()
                    if r.status_code != 200:
                        return
                    event, seq, data = "message", None, None
                    for line in r.iter_lines():
                        if self._stop:
                            return
                        if line.startswith("event:"):
                            event = line[6:].strip()
                        elif line.startswith("id:"):
                            seq = int(line[3:].strip())
                        elif line.startswith("data:"):
                            data = json.loads(line[5:])
                        elif line == "" and data is not None:
                            self.frames.put((event, seq, data))
                            event, seq, data = "message", None, None
        except httpx.HTTPError:
            pass
        finally:
            self.ready.set()
            self.done.set()

    def next(self, kind: str, timeout: float = 5.0, where=lambda d: True):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {kind} frame in {timeout}s")
            try:
                event, seq, data = self.frames.get(timeout=left)
            except queue.Empty:
                continue
            if event == kind and where(data):
                return seq, data

    def messages(self, settle: float = 0.3) -> list[dict]:
        out, deadline = [], time.monotonic() + settle
        while time.monotonic() < deadline:
            try:
                event, _seq, data = self.frames.get(timeout=0.05)
            except queue.Empty:
                continue
            if event == "message":
                out.append(data)
            elif event == "state":
                self.state = data
        return out

    def close(self):
        self._stop = True
