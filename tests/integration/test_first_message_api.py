"""A new chat and its first message in one request (issue 21): `POST /api/chat/sessions` with `text`, as the
visitor page's script sends a new chat's first message. With `?stream=1`: the `session` event first, then
the answer as the LLM stand-in streams it, then the stored result; the chat is written once, at the end.
Refusals are the usual JSON errors and write nothing."""

from __future__ import annotations

import json
import sqlite3

import httpx

from testkit.inprocess import InProcessServer
from testkit.openai_standin import OpenAIStandIn
from testkit.support import read_sheet, wait_until
from tests.integration.test_stream_api import PRICE_IT, PRICE_STREAMED, QUESTION, llm_env

HARD = "Posso prenotare una visita privata notturna con il direttore per il mio matrimonio?"


def each_event(response: httpx.Response):
    """(event, data) of each server-sent event, as it arrives."""
    event = None
    for line in response.iter_lines():
        if line.startswith("event: "):
            event = line[len("event: ") :]
        elif line.startswith("data: "):
            yield event, json.loads(line[len("data: ") :])


def test_the_first_message_streams_after_the_new_chat_and_is_written_once(data_dir):
    with OpenAIStandIn(PRICE_STREAMED) as standin, InProcessServer(data_dir, env=llm_env(standin)) as srv:
        http = httpx.Client(base_url=srv.url, timeout=15)
        body = {"language": "it", "text": QUESTION, "user_agent": "venue-site/2.0"}
        unwritten = None
        with http.stream("POST", "/api/chat/sessions", params={"stream": "1"}, json=body) as r:
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
            got = []
            for event in each_event(r):
                got.append(event)
                if len(got) == 2:  # the answer is being written: the chat is not stored yet
                    sid, token = got[0][1]["session_id"], got[0][1]["token"]
                    unwritten = http.get(f"/api/chat/sessions/{sid}/messages", headers={"X-Session-Token": token})
        kinds = [e for e, _ in got]
        assert kinds[0] == "session" and kinds[-1] == "message" and set(kinds[1:-1]) == {"chunk"}
        session = got[0][1]
        assert set(session) == {"session_id", "token", "language"} and session["language"] == "it"
        assert "".join(d["text"] for e, d in got if e == "chunk") == PRICE_IT
        assert unwritten is not None and unwritten.status_code == 404
        result = got[-1][1]
        assert (result["session_id"], result["token"]) == (session["session_id"], session["token"])
        assert result["status"] == "bot" and result["intent"] == "richiesta_prezzi"
        assert [(m["seq"], m["role"]) for m in result["messages"]] == [(1, "bot"), (2, "user"), (3, "bot")]
        assert result["messages"][2]["text"] == PRICE_IT
        headers = {"X-Session-Token": session["token"]}
        polled = http.get(f"/api/chat/sessions/{session['session_id']}/messages", headers=headers).json()
        assert [m["text"] for m in polled["messages"]] == [m["text"] for m in result["messages"]]
        rows = wait_until(
            lambda: [r for r in read_sheet(data_dir, "Conversazioni") if r["session_id"] == session["session_id"]]
        )
        assert [(r["user_message"], r["intent_detected"], r["user_agent"]) for r in rows] == [
            (QUESTION, "richiesta_prezzi", "venue-site/2.0")
        ]
        http.close()


def test_without_stream_one_json_body_and_the_chat_goes_on(data_dir):
    with InProcessServer(data_dir) as srv:
        http = httpx.Client(base_url=srv.url, timeout=15)
        r = http.post("/api/chat/sessions", json={"language": "en", "text": HARD})
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
        out = r.json()
        assert out["language"] == "en" and out["status"] == "offered" and out["offer_operator"] is True
        assert [m["role"] for m in out["messages"]] == ["bot", "user", "bot"]
        headers = {"X-Session-Token": out["token"]}
        declined = http.post(
            f"/api/chat/sessions/{out['session_id']}/operator", json={"accept": False}, headers=headers
        )
        assert declined.status_code == 200 and declined.json()["status"] == "bot"
        # Without `text` the route starts an empty chat, as it always did.
        plain = http.post("/api/chat/sessions", json={"language": "it"}).json()
        assert plain["status"] == "bot" and [m["seq"] for m in plain["messages"]] == [1]
        http.close()


def test_a_refused_first_message_is_a_json_error_and_writes_nothing(data_dir):
    env = {"SESSION_RATE_PER_IP": "2", "MESSAGE_RATE_PER_IP": "0", "RATE_LIMIT_EXEMPT": ""}
    with InProcessServer(data_dir, env=env) as srv:
        http = httpx.Client(base_url=srv.url, timeout=15)
        for body, code in (
            ({"language": "it", "text": "   "}, 422),
            ({"language": "it", "text": "x" * 5000}, 422),
            ({"language": "xx", "text": QUESTION}, 422),
            ({"language": "it", "text": 7}, 422),
        ):
            for params in ({}, {"stream": "1"}):
                r = http.post("/api/chat/sessions", params=params, json=body)
                assert r.status_code == code and r.headers["content-type"].startswith("application/json"), r.text
                assert r.json()["error"]["code"]
        assert http.post("/api/chat/sessions", json={"language": "it", "text": QUESTION}).status_code == 200
        assert http.post("/api/chat/sessions", json={"language": "it", "text": QUESTION}).status_code == 200
        refused = http.post("/api/chat/sessions", params={"stream": "1"}, json={"language": "it", "text": QUESTION})
        assert refused.status_code == 429 and refused.json()["error"]["code"] == "too_many_sessions"
        assert refused.headers.get("retry-after")
        http.close()
    with sqlite3.connect(data_dir / "sportello.db") as db:
        assert db.execute("select count(*) from sessions").fetchone()[0] == 2  # the two accepted, no other
