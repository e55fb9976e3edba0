"""A visitor tab without a browser: the visitor page's Gradio events spoken
over HTTP exactly as the page's JavaScript does (POST `/gradio_api/queue/join`,
then the `/gradio_api/queue/data` event stream).

While the chat waits for or talks to an operator, `follow()` holds the chat's visitor stream open as the
page's #sp-live script does: messages as they arrive, and a look (`on_tick`) when the chat's state changes
(not when only the queue moved: the script writes the status line itself).

A message goes as the page's script sends it: through the visitor REST API (`POST /api/chat/sessions?stream=1`
with its text when the tab has no chat yet, else `POST .../messages?stream=1`), with a look when the chat's
state changed or a new chat is to be adopted; through Gradio's send only where the page keeps it (`via_api` is
False).

Used by the load benchmark (bench/visitor_load.py); a venue can also use it for
synthetic monitoring of the page.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from dataclasses import dataclass

import httpx

SKIP = {"__type__": "update"}  # gr.skip() on the wire
# The stream state's fields the page shows (page.py LIVE_SIG, with the stream's "language"): a change asks a look.
STATE_SIG = ("status", "queue_position", "estimated_wait_s", "operator_name", "ticket_id", "language")
API_PHASES = ("bot", "offered", "waiting", "live")  # where the page sends a message through the API (LIVE_JS)
FOLLOWED = ("waiting", "live")  # where the page follows the chat's stream


def drawn(status: str) -> str:
    """The status line LIVE_JS's `phase` puts on screen for a phase it draws itself (enough for `status`)."""
    return f'<div class="sp-status sp-status-{status}">'


def draws(old: list | None, new: list, opening: object = None) -> bool:
    """Whether the page's script draws this change of the chat's state itself (LIVE_JS `state` and `phase`): any
    phase but the assistant's, in the same language; a contact form only when it knows the opening hours."""
    if not old or old[5] != new[5]:
        return False
    return new[0] in ("offered", "waiting", "live", "asking_topic", "closed") or (
        new[0] == "collecting_contact" and opening is not None
    )


class PageError(RuntimeError):
    pass


@dataclass
class PageProtocol:
    """Event ids and output positions, read from the page's /config."""

    events: dict[str, tuple[int, int]]  # api_name -> (fn_index, trigger_id)
    outputs: dict[str, list[int]]  # api_name -> output component ids, in order
    on_change: dict[int, str]  # component id -> the api_name of its change listener
    ids: dict[str, int]  # elem_id -> component id
    queued: dict[str, bool]  # api_name -> goes through Gradio's queue (else /run/predict)

    @classmethod
    async def fetch(cls, http: httpx.AsyncClient) -> PageProtocol:
        r = await http.get("/config")
        r.raise_for_status()
        cfg = r.json()
        ids = {c["props"].get("elem_id"): c["id"] for c in cfg["components"] if c.get("props", {}).get("elem_id")}
        events, outputs, on_change, queued = {}, {}, {}, {}
        for dep in cfg["dependencies"]:
            target, event = dep["targets"][0]
            events[dep["api_name"]] = (dep["id"], target)
            outputs[dep["api_name"]] = dep["outputs"]
            queued[dep["api_name"]] = dep.get("queue") is not False
            if event == "change":
                on_change[target] = dep["api_name"]
        return cls(events, outputs, on_change, ids, queued)

    def position(self, api_name: str, elem_id: str) -> int | None:
        outs = self.outputs[api_name]
        cid = self.ids[elem_id]
        return outs.index(cid) if cid in outs else None


class VisitorTab:
    """One browser tab: its own Gradio session (server-side state)."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        proto: PageProtocol,
        *,
        user_agent: str = "sportello-visitor-client/1.0",
        accept_language: str = "it-IT,it;q=0.9",
    ):
        self.http = http
        self.proto = proto
        self.session_hash = secrets.token_hex(6)
        self.headers = {"user-agent": user_agent, "accept-language": accept_language}
        self.chat: list[dict] = []
        self.status_html = ""
        self.notice_html = ""
        self.notices: dict[str, str] = {}
        self.look_times: list[float] = []  # the looks this tab's API sends asked (seconds each)
        self.values: dict[int, object] = {}  # last values of components with a change listener
        self.live: dict = {}  # the #sp-live value: {"sid", "token", "on", "after"}

    async def call(self, api_name: str, data: list, timeout: float = 60.0) -> tuple[list, float]:
        """Run one event to completion, then the change listeners of the States
        it changed (as the page's JavaScript does): (output data, seconds)."""
        started = time.perf_counter()
        last, changed = await self._call_one(api_name, data, timeout)
        for state_id in changed:
            listener = self.proto.on_change.get(state_id)
            if listener:
                await self._call_one(listener, [None], timeout)
        return last, time.perf_counter() - started

    async def _call_one(self, api_name: str, data: list, timeout: float) -> tuple[list, list[int]]:
        fn_index, trigger_id = self.proto.events[api_name]
        body = {"data": data, "fn_index": fn_index, "trigger_id": trigger_id, "session_hash": self.session_hash}
        if not self.proto.queued[api_name]:
            r = await self.http.post("/gradio_api/run/predict", json=body, headers=self.headers, timeout=timeout)
            if r.status_code != 200:
                raise PageError(f"{api_name}: {r.status_code} {r.text[:200]}")
            out = r.json()
            last = out.get("data") or []
            self._absorb(api_name, last)
            return last, self._changed_values(api_name, last) + list(out.get("changed_state_ids") or [])
        r = await self.http.post("/gradio_api/queue/join", json=body, headers=self.headers, timeout=timeout)
        if r.status_code != 200:
            raise PageError(f"join {api_name}: {r.status_code} {r.text[:200]}")
        event_id = r.json()["event_id"]
        last: list = []
        changed: list[int] = []
        async with self.http.stream(
            "GET", "/gradio_api/queue/data", params={"session_hash": self.session_hash}, timeout=timeout
        ) as resp:
            async for line in resp.aiter_lines():
                if not line.startswith("data:"):
                    continue
                msg = json.loads(line[5:])
                if msg.get("event_id") != event_id:
                    continue
                kind = msg.get("msg")
                if kind == "process_generating":
                    last = msg.get("output", {}).get("data") or last
                elif kind == "process_completed":
                    if not msg.get("success", False):
                        raise PageError(f"{api_name} failed: {str(msg.get('output'))[:300]}")
                    data_out = msg.get("output", {}).get("data")
                    if data_out and not _is_diff(data_out):
                        last = data_out
                    changed = msg.get("output", {}).get("changed_state_ids") or []
                    break
        self._absorb(api_name, last)
        return last, changed + self._changed_values(api_name, last)

    def _changed_values(self, api_name: str, data: list) -> list[int]:
        """Components with a change listener whose value this output changed."""
        changed = []
        for cid, value in zip(self.proto.outputs[api_name], data, strict=False):
            if cid not in self.proto.on_change or value is None:
                continue
            if isinstance(value, dict) and value.get("__type__") == "update":
                if "value" not in value:
                    continue
                value = value["value"]
            if self.values.get(cid, value) != value:
                changed.append(cid)
            self.values[cid] = value
        return changed

    def _absorb(self, api_name: str, data: list) -> None:
        if not data or _is_diff(data):
            return
        pos = self.proto.position(api_name, "chat")
        if pos is not None and isinstance(data[pos], list):
            self.chat = data[pos]
        pos = self.proto.position(api_name, "sp-live")
        if pos is not None and data[pos] not in (None, "") and data[pos] != SKIP:
            value = data[pos].get("value") if isinstance(data[pos], dict) else data[pos]
            if isinstance(value, str) and value:
                self.live = json.loads(value)
        status = _value(self.proto.position(api_name, "status"), data)
        if status is not None:
            self.status_html = status
        for elem in ("notice", "contact-error"):
            value = _value(self.proto.position(api_name, elem), data)
            if value is not None:
                self.notices[elem] = value
        self.notice_html = "".join(self.notices.values())

    @property
    def status(self) -> str:
        for state in ("waiting", "live", "collecting_contact", "closed", "offered"):
            if f"sp-status-{state}" in self.status_html:
                return state
        return "bot"

    # the page's actions
    async def load(self, stored: dict | None = None) -> float:
        return (await self.call("on_load", [stored or {}, ""]))[1]

    async def say(self, text: str) -> float:
        """Enter or the "send" button: through the API where the page's script sends it, else Gradio's send.
        Seconds until the answer (or, live, the stored message) is shown."""
        if self.via_api(text):
            return await self.say_via_api(text.strip())
        return (await self.call("on_send", [text, None, self._live_value()]))[1]  # one event: Enter and the button

    def via_api(self, text: str) -> bool:
        """As LIVE_JS's viaApi: a message the page sends through the visitor API."""
        text = (text or "").strip()
        live = self.live
        if not text or len(text) > int(live.get("max") or 2000) or self.notice_html:
            return False
        if self.status not in API_PHASES:
            return False
        return bool(live.get("token")) if live.get("sid") else self.status == "bot"

    async def say_via_api(self, text: str) -> float:
        started = time.perf_counter()
        live = dict(self.live)
        shown = self.status
        sid = live.get("sid")
        headers = {**self.headers, "Accept": "text/event-stream"}
        if sid:
            url, body = f"/api/chat/sessions/{sid}/messages", {"text": text}
            headers["X-Session-Token"] = live.get("token")
        else:  # no chat yet: the message starts one, in the same request
            url, body = "/api/chat/sessions", {"language": "en" if live.get("lang") == "en" else "it", "text": text}
        result = None
        async with self.http.stream("POST", url, params={"stream": "1"}, json=body, headers=headers) as r:
            if r.status_code != 200:
                raise PageError(f"message: {r.status_code} {(await r.aread())[:200]!r}")
            async for kind, data in _events(r):
                if kind == "session":  # the new chat: the next Gradio event keeps it (`adopt`), no look
                    new = json.loads(data)
                    self.live = {**live, "sid": new["session_id"], "token": new["token"], "on": False, "adopt": True}
                elif kind == "message":
                    result = json.loads(data)
                elif kind == "error":
                    raise PageError(f"message: {data[:200]}")
        if result is None:
            raise PageError("message: no result")
        elapsed = time.perf_counter() - started
        # As the page: a look only when the state moved in a way its script does not draw.
        if shown == "bot" and result.get("status") == "offered" and not result.get("suggestions"):
            self.status_html = drawn("offered")  # the page's script shows an offer of a person itself (LIVE_JS)
        elif result.get("status") != shown or result.get("suggestions"):
            await self._look_after(0.03)  # the page's look, debounced
        return elapsed

    async def _look_after(self, delay: float) -> None:
        await asyncio.sleep(delay)
        self.look_times.append(await self.tick())

    async def ask_person(self) -> float:
        """ "Talk to a person" (or "yes" to the offer): through the visitor API for a chat that exists, as the
        page's script does (LIVE_JS onPerson: the new phase drawn, the stream followed), else Gradio's click."""
        live = self.live
        if not (live.get("sid") and live.get("token")) or self.status not in ("bot", "offered") or self.notice_html:
            return (await self.call("on_person", [None, self._live_value()]))[1]
        started = time.perf_counter()
        r = await self._post_chat("operator", {"accept": True})
        if r.status_code != 200:
            raise PageError(f"operator: {r.status_code} {r.text[:200]}")
        result = r.json()
        elapsed = time.perf_counter() - started
        status = result["status"]
        after = max([int(live.get("after") or 0), *(int(m["seq"]) for m in result.get("messages") or [])])
        sig = [status, result.get("queue_position"), result.get("estimated_wait_s"), None, None, live.get("lang")]
        self.live = {**live, "on": status in FOLLOWED, "after": after, "sig": sig}
        if draws(["bot", None, None, None, None, live.get("lang")], sig, result.get("opening")):
            self.status_html = drawn(status)
        else:
            await self._look_after(0.03)
        return elapsed

    async def contact(self, method: str, value: str) -> float:
        """The contact form's "send": through the visitor API for a chat that asks for one, as the page's script
        does (LIVE_JS onContact: the ticket drawn, no Gradio event), else (or refused) Gradio's click."""
        live = self.live
        if not (live.get("sid") and live.get("token")) or self.status != "collecting_contact" or self.notice_html:
            return (await self.call("on_contact", [method, value, None, self._live_value()]))[1]
        started = time.perf_counter()
        r = await self._post_chat("contact", {"method": method, "value": value})
        if r.status_code != 200 or r.json().get("status") != "closed":
            return (await self.call("on_contact", [method, value, None, self._live_value()]))[1] + (
                time.perf_counter() - started
            )
        self.status_html = drawn("closed")
        return time.perf_counter() - started

    async def tick(self) -> float:
        return (await self.call("on_tick", [None, self._live_value()]))[1]

    async def new_chat(self) -> float:
        """ "New conversation"."""
        return (await self.call("on_new", [None, self._live_value()]))[1]

    async def _post_chat(self, action: str, body: dict) -> httpx.Response:
        """`POST /api/chat/sessions/{id}/<action>` for the tab's chat, with its token, as the page's script."""
        return await self.http.post(
            f"/api/chat/sessions/{self.live['sid']}/{action}",
            json=body,
            headers={**self.headers, "X-Session-Token": self.live["token"]},
        )

    def _live_value(self) -> str:
        """The #sp-live value the page's events send (a chat its script started, to keep: `adopt`)."""
        return json.dumps(self.live) if self.live else ""

    async def follow(self, on_look, on_message=None, timeout: float = 600.0, on_state=None) -> None:
        """Hold the chat's stream while the page would (`live["on"]`), as the page's #sp-live script does:
        each message goes to `on_message(data)` as it arrives (the page shows it from the stream); a state that
        differs from the one shown is drawn as the script draws it (the queue, an operator who joins, the
        release: `status` says it, and `on_state(status)` is told), else asks a look, `await on_look()`
        (debounced 30 ms, as the page fires `on_tick`). Returns when the chat stops being followed or the server ends the stream (the caller
        reconnects if it still wants to: from the last sequence seen)."""
        live = self.live
        if not (live.get("on") and live.get("sid")):
            return
        url = f"/api/chat/sessions/{live['sid']}/stream"
        headers = {"X-Session-Token": live["token"], "Accept": "text/event-stream"}
        news = asyncio.Event()

        async def read():
            try:
                params = {"after": int(live.get("after") or 0)}
                async with self.http.stream("GET", url, params=params, headers=headers, timeout=timeout) as r:
                    if r.status_code != 200:
                        raise PageError(f"stream: {r.status_code}")
                    async for kind, text in _events(r):
                        if kind in ("message", "state"):
                            data = json.loads(text)
                            if kind == "message":
                                live["after"] = max(int(live.get("after") or 0), int(data["seq"]))
                                if on_message is not None:
                                    on_message(data)
                            else:
                                sig = [data.get(k) for k in STATE_SIG]
                                if sig != live.get("sig"):
                                    drawn_here = draws(live.get("sig"), sig)
                                    live["sig"] = sig
                                    if not drawn_here:
                                        news.set()
                                    else:
                                        self.status_html = drawn(sig[0])
                                        if on_state is not None:
                                            on_state(sig[0])
                                        if sig[0] not in FOLLOWED:  # closed: the script stops following
                                            live["on"] = False
                                            return
            finally:
                news.set()  # ended: the caller decides

        reader = asyncio.create_task(read())
        try:
            while True:
                await news.wait()
                if reader.done():
                    reader.result()  # the stream's error, if any
                    return
                await asyncio.sleep(0.03)
                news.clear()
                await on_look()
                if not (self.live.get("on") and self.live.get("sid") == live["sid"]):
                    return
        finally:
            reader.cancel()


def _value(pos: int | None, data: list) -> str | None:
    """An HTML output's new value (sent as the value, or in an update), None when the event left it as it was."""
    if pos is None:
        return None
    out = data[pos]
    if isinstance(out, dict):
        return (out.get("value") or "") if "value" in out else None
    return out if isinstance(out, str) else None


def _is_diff(data: list) -> bool:
    """Generator updates may arrive as diffs (lists of [op, path, value])."""
    return bool(data) and all(isinstance(d, list) and d and d[0] in ("replace", "append", "add") for d in data)


async def _events(r):
    """The (event, data) pairs of a text/event-stream response, as they arrive."""
    kind = ""
    async for line in r.aiter_lines():
        if line.startswith("event:"):
            kind = line[6:].strip()
        elif line.startswith("data:"):
            yield kind, line[5:]
        elif not line:
            kind = ""
