"""Answers streamed (issue 21): `POST /api/chat/sessions/{id}/messages?stream=1` with the LLM answerer
against the OpenAI stand-in streaming its reply (server-sent events, as the real API): the answer's text
arrives in `chunk` events while the model writes it, then the stored result in a `message` event; the
message and its sheet row are written once, at the end, as without streaming. A slow streamed answer
does not hold up another visitor."""

from __future__ import annotations

import json
import threading
import time

import httpx

from sportello.answering.kb import read_kb
from testkit.inprocess import InProcessServer
from testkit.openai_standin import OpenAIStandIn
from testkit.support import ROOT, Visitor, read_sheet, wait_until

PRICE_IT = next(
    e.answer for e in read_kb(ROOT / "data" / "faq.csv").entries if e.intent == "richiesta_prezzi" and e.lang == "it"
)
QUESTION = "Quanto costa il biglietto d'ingresso?"
# The model's reply to QUESTION, streamed in 20-character pieces 50 ms apart.
PRICE_STREAMED = [
    {
        "content": {"found": True, "intent": "richiesta_prezzi", "answer": PRICE_IT},
        "chunk_size": 20,
        "chunk_delay": 0.05,
    }
]


def events(response: httpx.Response) -> list[tuple[str, dict, float]]:
    """(event, data, seconds since the request) of each server-sent event, as they arrive."""
    out, event, t0 = [], None, time.monotonic()
    for line in response.iter_lines():
        if line.startswith("event: "):
            event = line[len("event: ") :]
        elif line.startswith("data: "):
            out.append((event, json.loads(line[len("data: ") :]), time.monotonic() - t0))
    return out


def stream_say(visitor: Visitor, text: str, **kwargs) -> tuple[int, str, list]:
    url = f"/api/chat/sessions/{visitor.session_id}/messages"
    with visitor.http.stream("POST", url, params={"stream": "1"}, json={"text": text}, headers=visitor.headers) as r:
        if r.headers["content-type"].startswith("text/event-stream"):
            return r.status_code, r.headers["content-type"], events(r)
        r.read()
        return r.status_code, r.headers["content-type"], [("json", r.json(), 0.0)]


def llm_env(standin: OpenAIStandIn) -> dict:
    return {"OPENAI_API_KEY": "test-key", "OPENAI_BASE_URL": standin.base_url, "OPENAI_MODEL": "test-model"}


def test_the_answer_streams_then_the_stored_message(data_dir):
    with OpenAIStandIn(PRICE_STREAMED) as standin, InProcessServer(data_dir, env=llm_env(standin)) as srv:
        visitor = Visitor(srv.url)
        status, ctype, got = stream_say(visitor, QUESTION)
        assert status == 200 and ctype.startswith("text/event-stream")
        chunks = [d["text"] for e, d, _ in got if e == "chunk"]
        assert len(chunks) > 3 and "".join(chunks) == PRICE_IT  # in pieces, as the model wrote them
        kinds = [e for e, _, _ in got]
        assert kinds[-1] == "message" and set(kinds[:-1]) == {"chunk"}
        first_at, last_at = got[0][2], got[-1][2]
        assert last_at - first_at > 0.3  # the first piece came well before the end
        result = got[-1][1]
        assert result["status"] == "bot" and result["intent"] == "richiesta_prezzi"
        assert [(m["role"], m["text"]) for m in result["messages"]] == [("user", QUESTION), ("bot", PRICE_IT)]
        assert standin.requests[-1]["stream"] is True
        # Stored once, as without streaming: the poll and the sheet row.
        polled = visitor.poll()["messages"]
        assert [m["text"] for m in polled[1:]] == [QUESTION, PRICE_IT]
        rows = wait_until(
            lambda: [r for r in read_sheet(data_dir, "Conversazioni") if r["session_id"] == visitor.session_id]
        )
        assert [(r["user_message"], r["intent_detected"], r["bot_reply"]) for r in rows] == [
            (QUESTION, "richiesta_prezzi", PRICE_IT)
        ]

        # Without ?stream the same route answers as before, in one JSON body.
        out = visitor.say(QUESTION)
        assert out["intent"] == "richiesta_prezzi" and out["messages"][-1]["text"] == PRICE_IT
        visitor.close()


def test_streamed_not_found_offers_a_person_and_errors_stay_json(data_dir):
    script = [{"content": {"found": False, "intent": "no_answer", "answer": ""}}]
    with OpenAIStandIn(script) as standin, InProcessServer(data_dir, env=llm_env(standin)) as srv:
        visitor = Visitor(srv.url)
        status, _, got = stream_say(visitor, QUESTION)
        assert status == 200 and [e for e, _, _ in got] == ["message"]  # no text to show before it
        assert got[-1][1]["offer_operator"] is True
        # An error before anything is sent is the usual JSON error.
        status, ctype, got = stream_say(visitor, "")
        assert status == 422 and ctype.startswith("application/json") and got[0][1]["error"]["code"]
        bad = Visitor(srv.url)
        bad.headers = {"X-Session-Token": "wrong"}
        status, ctype, _ = stream_say(bad, QUESTION)
        assert status in (401, 403) and ctype.startswith("application/json")
        visitor.close()
        bad.close()


def test_a_slow_streamed_answer_does_not_hold_up_another_visitor(data_dir):
    slow = {
        "content": {"found": True, "intent": "richiesta_prezzi", "answer": PRICE_IT},
        "chunk_size": 10,
        "chunk_delay": 0.1,  # the whole answer takes over 3 s
    }
    with OpenAIStandIn([slow]) as standin, InProcessServer(data_dir, env=llm_env(standin)) as srv:
        streaming = [Visitor(srv.url) for _ in range(3)]
        done: list[float] = []

        def ask(v: Visitor) -> None:
            t0 = time.monotonic()
            stream_say(v, QUESTION)
            done.append(time.monotonic() - t0)

        threads = [threading.Thread(target=ask, args=(v,)) for v in streaming]
        for t in threads:
            t.start()
        time.sleep(0.5)
        other = Visitor(srv.url)
        t0 = time.monotonic()
        other.poll()
        other.accept(True)  # nobody is online: the contact form, without the model
        waited = time.monotonic() - t0
        # Served while the three slow answers were still streaming (not after them), whatever the machine's load.
        assert not done and all(t.is_alive() for t in threads), f"the other visitor waited {waited:.2f} s"
        for t in threads:
            t.join(30)
        assert len(done) == 3 and min(done) > 2.0  # they were slow, and ran side by side
        for v in (*streaming, other):
            v.close()
