"""A tiny OpenAI-compatible HTTP server for tests: POST /v1/chat/completions.

Replies are scripted per test. Each script item is a dict with optional keys:
  content   the assistant message content (str, or a dict dumped as JSON), or a function of the request
            body returning one (`reply`, the default, answers like a model that follows the prompts)
  status    HTTP status (default 200); non-200 returns an OpenAI-style error body
  headers   extra response headers (e.g. {"Retry-After": "0.1"} with status 429)
  delay     seconds to wait before replying (interrupted when the server stops)
  reject_json_schema  reply 400 when the request asks for response_format json_schema
  chunk_size  with a request asking `stream: true`: characters per streamed chunk (default 8)
  chunk_delay seconds between streamed chunks (default 0)
A request with `stream: true` is answered as the real API streams: server-sent events of
`chat.completion.chunk` objects (the role, the content in pieces, finish_reason "stop"), then
`data: [DONE]`.
When the script runs out, the last item is reused. Every request body is kept
in `requests`.

The default script is `reply`: the example-generation prompt of `python -m sportello kb examples`
(sportello/services/kb_examples.py) gets deterministic questions built from the topic's KB questions
(`example_questions`); any other request gets {"found": false, ...}.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NOT_FOUND = {"found": False, "answer": "", "intent": "no_answer"}
# Deterministic rewordings of a KB question, as a model asked for "many phrasings" would write them.
TEMPLATES = {
    "it": ("Buongiorno, {q}", "scusate, {q}", "Vorrei sapere: {q}", "{q} grazie", "una domanda: {q}"),
    "en": ("Hello, {q}", "sorry, {q}", "I would like to know: {q}", "{q} thanks", "quick question: {q}"),
}
LANGUAGES = {"Italian": "it", "English": "en"}


def generation_request(body: dict) -> dict | None:
    """The JSON request of the example-generation prompt (a user message with "topic", "knowledge_base"
    and "write"), or None for any other request."""
    for m in body.get("messages") or ():
        if m.get("role") != "user":
            continue
        try:
            data = json.loads(m.get("content") or "")
        except (TypeError, json.JSONDecodeError):
            continue
        if isinstance(data, dict) and {"topic", "knowledge_base", "write"} <= set(data):
            return data
    return None


def example_questions(body: dict) -> dict:
    """{"it": [...], "en": [...]}: as many questions as asked per language, each a template applied to one of
    the topic's KB questions in that language (round robin), numbered after the templates run out."""
    request = generation_request(body) or {}
    out = {}
    for name, n in (request.get("write") or {}).items():
        lang = LANGUAGES.get(name, name)
        seeds = [q for e in request.get("knowledge_base") or () if e.get("lang") == lang for q in e.get("questions")]
        seeds = seeds or [request.get("topic", "?")]
        templates = TEMPLATES.get(lang, TEMPLATES["en"])
        questions = []
        for i in range(int(n)):
            q = seeds[i % len(seeds)].rstrip("?").lower()
            text = templates[(i // len(seeds)) % len(templates)].format(q=q) + "?"
            if i >= len(seeds) * len(templates):
                text = f"{text} ({i})"
            questions.append(text)
        out[lang] = questions
    return out


def reply(body: dict) -> dict:
    """The default reply: generated examples for the example-generation prompt, else not found."""
    return example_questions(body) if generation_request(body) else NOT_FOUND


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def _send(self, status: int, body: dict, headers: dict | None = None) -> None:
        data = json.dumps(body).encode()
        try:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, str(value))
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout): fine

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            body = {"_raw": raw.decode(errors="replace")}
        standin = self.server.standin
        item = standin._next(body)
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._send(404, {"error": {"message": f"unknown path {self.path}", "type": "not_found"}})
            return
        if item.get("delay"):
            standin._stopping.wait(item["delay"])
        fmt = (body.get("response_format") or {}).get("type")
        if item.get("reject_json_schema") and fmt == "json_schema":
            self._send(
                400,
                {"error": {"message": "response_format json_schema is not supported", "type": "invalid_request_error"}},
            )
            return
        status = item.get("status", 200)
        if status != 200:
            error = {"error": {"message": item.get("message", "scripted error"), "type": "server_error"}}
            self._send(status, error, item.get("headers"))
            return
        content = item.get("content", "")
        if callable(content):
            content = content(body)
        if not isinstance(content, str):
            content = json.dumps(content)
        if body.get("stream"):
            self._stream(body, content, int(item.get("chunk_size") or 8), float(item.get("chunk_delay") or 0))
            return
        self._send(
            200,
            {
                "id": "chatcmpl-standin",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "standin"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            },
        )

    def _stream(self, body: dict, content: str, size: int, delay: float) -> None:
        """The reply as server-sent events of chat.completion.chunk objects, as the real API streams it."""
        created = int(time.time())

        def chunk(delta: dict, finish: str | None = None) -> bytes:
            data = {
                "id": "chatcmpl-standin",
                "object": "chat.completion.chunk",
                "created": created,
                "model": body.get("model", "standin"),
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            return f"data: {json.dumps(data)}\n\n".encode()

        pieces = [content[i : i + size] for i in range(0, len(content), size)]
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()  # HTTP/1.0: the body ends when the connection closes
            self.wfile.write(chunk({"role": "assistant", "content": ""}))
            for piece in pieces:
                if delay and self.server.standin._stopping.wait(delay):
                    return
                self.wfile.write(chunk({"content": piece}))
                self.wfile.flush()
            self.wfile.write(chunk({}, "stop"))
            self.wfile.write(b"data: [DONE]\n\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout): fine


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # handler threads are joined on close
    block_on_close = True
    standin: OpenAIStandIn


class OpenAIStandIn:
    """Start with `with OpenAIStandIn() as s:`; point the SDK at `s.base_url`."""

    def __init__(self, script: list[dict] | None = None):
        self.script = list(script or [{"content": reply}])
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.standin = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="openai-standin", daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def set_script(self, script: list[dict]) -> None:
        with self._lock:
            self.script = list(script)

    def _next(self, body: dict) -> dict:
        with self._lock:
            self.requests.append(body)
            return self.script.pop(0) if len(self.script) > 1 else self.script[0]

    def start(self) -> OpenAIStandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wake handlers sleeping on a scripted delay
        self._server.shutdown()
        self._server.server_close()  # joins handler threads
        self._thread.join(timeout=5)

    def __enter__(self) -> OpenAIStandIn:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
