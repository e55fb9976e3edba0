"""The LLM answerer streaming (issue 21): the real openai SDK with `stream=True` against the stand-in's
server-sent events; the checks of the whole reply still decide the answer kept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sportello.answering.bot import NO_ANSWER, RetrievalAnswerer, answer_chunks
from sportello.answering.llm import AnswerText, LLMAnswerer
from testkit.openai_standin import OpenAIStandIn

KB = Path(__file__).resolve().parents[2] / "data" / "faq.csv"
PRICE_EN = (
    "A full-price ticket costs €9, the reduced ticket is €7 (ages 18 to 25 and over 65), "
    "and entry is free for under-18s."
)
QUESTION = "how much do I pay to get into the museum?"


def run(gen):
    """(the pieces yielded, the value returned) of an answer generator."""
    pieces = []
    while True:
        try:
            pieces.append(next(gen))
        except StopIteration as stop:
            return pieces, stop.value


@pytest.fixture(scope="module")
def offline():
    return RetrievalAnswerer.from_csv(KB)


@pytest.fixture
def llm(offline):
    with OpenAIStandIn() as standin:
        made = LLMAnswerer(
            offline, api_key="k", base_url=standin.base_url, model="m", request_timeout=2.0, total_timeout=4.0
        )
        made.standin = standin
        yield made
        made.close()


def test_the_answer_streams_in_pieces_and_is_checked_whole(llm):
    reply = {"found": True, "intent": "richiesta_prezzi", "answer": PRICE_EN}
    llm.standin.set_script([{"content": reply, "chunk_size": 5}])
    pieces, answer = run(llm.answer_stream(QUESTION, "en"))
    assert len(pieces) > 5 and "".join(pieces) == PRICE_EN
    assert answer.found and answer.answer == PRICE_EN and answer.intent == "richiesta_prezzi"
    assert llm.standin.requests[-1]["stream"] is True
    schema = llm.standin.requests[-1]["response_format"]["json_schema"]["schema"]
    assert list(schema["properties"]) == ["found", "intent", "answer"]  # the entry is named before the text


def test_a_streamed_answer_that_fails_the_checks_is_not_kept(llm):
    llm.standin.set_script([{"content": {"found": True, "intent": "richiesta_prezzi", "answer": "It costs €99."}}])
    pieces, answer = run(llm.answer_stream(QUESTION, "en"))
    assert "".join(pieces) == "It costs €99."  # shown while it was written (provisional) ...
    assert not answer.found and answer.intent == NO_ANSWER  # ... but not grounded: not kept


def test_not_found_streams_nothing_and_errors_fall_back_offline(llm, offline):
    llm.standin.set_script([{"content": {"found": False, "intent": "no_answer", "answer": ""}}])
    pieces, answer = run(llm.answer_stream(QUESTION, "en"))
    assert pieces == [] and not answer.found
    llm.standin.set_script([{"status": 500}])
    pieces, answer = run(llm.answer_stream(QUESTION, "en"))
    assert pieces == [] and answer == offline.answer(QUESTION, "en")


def test_plain_json_servers_stream_too(llm):
    reply = {"found": True, "answer": PRICE_EN, "intent": "richiesta_prezzi"}  # any key order
    llm.standin.set_script([{"reject_json_schema": True, "content": reply, "chunk_size": 7}])
    pieces, answer = run(llm.answer_stream(QUESTION, "en"))
    assert "".join(pieces) == PRICE_EN and answer.found
    assert "response_format" not in llm.standin.requests[-1]


def test_an_answerer_that_does_not_stream_gives_its_text_once(offline):
    pieces, answer = run(answer_chunks(offline, "Quanto costa il biglietto?", "it"))
    assert answer.found and pieces == [answer.answer]


def test_answer_text_decodes_escapes_cut_anywhere():
    reply = json.dumps({"found": True, "intent": "x", "answer": 'Sì: "10 €"\nok \\ fine 😀'})
    for size in (1, 2, 3, 7):
        text = AnswerText()
        out = "".join(text.feed(reply[i : i + size]) for i in range(0, len(reply), size))
        assert out == 'Sì: "10 €"\nok \\ fine 😀', size  # a surrogate pair is never cut
        assert text.text == reply
    assert AnswerText().feed('{"found": false, "answer": "no"}') == ""
