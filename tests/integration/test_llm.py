"""LLM answerer: the real openai SDK against a local OpenAI-compatible stand-in."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from sportello.answering.bot import NO_ANSWER, OPERATOR_REQUEST, RetrievalAnswerer, build_answerer
from sportello.answering.llm import LLMAnswerer, is_grounded, parse_reply
from sportello.config import Settings
from testkit.openai_standin import OpenAIStandIn

KB = Path(__file__).resolve().parents[2] / "data" / "faq.csv"
PRICE_EN = (
    "A full-price ticket costs €9, the reduced ticket is €7 (ages 18 to 25 and over 65), "
    "and entry is free for under-18s."
)


@pytest.fixture(scope="module")
def offline():
    return RetrievalAnswerer.from_csv(KB)


@pytest.fixture
def standin():
    server = OpenAIStandIn().start()
    yield server
    server.stop()
    assert not [t for t in threading.enumerate() if t.name == "openai-standin"]


@pytest.fixture
def make_llm(standin, offline):
    made = []

    def make(**kwargs):
        kwargs.setdefault("request_timeout", 2.0)
        kwargs.setdefault("total_timeout", 4.0)
        llm = LLMAnswerer(offline, api_key="test-key", base_url=standin.base_url, model="test-model", **kwargs)
        made.append(llm)
        return llm

    yield make
    for llm in made:
        llm.close()


def test_structured_answer_is_used(standin, make_llm):
    standin.set_script([{"content": {"found": True, "answer": PRICE_EN, "intent": "richiesta_prezzi"}}])
    ans = make_llm().answer("how much do I pay to get into the museum?", "en")
    assert ans.found and ans.intent == "richiesta_prezzi"
    assert ans.answer == PRICE_EN
    assert ans.source_id == "en-005" and ans.lang == "en"
    assert 0.5 <= ans.confidence <= 1.0
    req = standin.requests[0]
    assert req["model"] == "test-model"
    assert req["response_format"]["type"] == "json_schema"
    assert req["response_format"]["json_schema"]["schema"]["required"] == ["found", "answer", "intent"]
    prompt = req["messages"][0]["content"]
    assert "richiesta_prezzi" in prompt and "€9" in prompt  # the retrieved entry is in the prompt
    assert req["messages"][-1] == {"role": "user", "content": "how much do I pay to get into the museum?"}


def test_ungrounded_answer_is_not_found(standin, make_llm):
    invented = "A ticket costs €25 and includes a free dinner with the director."
    standin.set_script([{"content": {"found": True, "answer": invented, "intent": "richiesta_prezzi"}}])
    ans = make_llm().answer("how much is a ticket?", "en")
    assert not ans.found and ans.intent == NO_ANSWER and ans.answer == ""


def test_intent_outside_retrieved_entries_is_not_found(standin, make_llm):
    standin.set_script([{"content": {"found": True, "answer": PRICE_EN, "intent": "made_up_intent"}}])
    ans = make_llm().answer("how much is a ticket?", "en")
    assert not ans.found and ans.intent == NO_ANSWER


def test_model_saying_not_found_escalates(standin, make_llm):
    standin.set_script([{"content": {"found": False, "answer": "", "intent": "no_answer"}}])
    ans = make_llm().answer("how much is a ticket?", "en")
    assert not ans.found and ans.intent == NO_ANSWER


def test_server_without_json_schema_falls_back_to_plain_json(standin, make_llm):
    reply = {"found": True, "answer": PRICE_EN, "intent": "richiesta_prezzi"}
    standin.set_script([{"reject_json_schema": True, "content": "```json\n" + json.dumps(reply) + "\n```"}])
    llm = make_llm()
    ans = llm.answer("how much is a ticket?", "en")
    assert ans.found and ans.intent == "richiesta_prezzi" and ans.answer == PRICE_EN
    assert standin.requests[0]["response_format"]["type"] == "json_schema"
    assert "response_format" not in standin.requests[1]
    # Remembered: the next question goes straight to plain JSON.
    llm.answer("what does a ticket cost?", "en")
    assert len(standin.requests) == 3 and "response_format" not in standin.requests[2]


def test_malformed_json_falls_back_to_offline(standin, make_llm, offline):
    standin.set_script([{"content": '{"found": true, "answer": "The museum'}])
    ans = make_llm().answer("quanto costa il biglietto?", "it")
    assert ans == offline.answer("quanto costa il biglietto?", "it")
    assert ans.found and ans.intent == "richiesta_prezzi"
    assert len(standin.requests) == 1


def test_wrong_shape_falls_back_to_offline(standin, make_llm, offline):
    standin.set_script([{"content": {"found": "maybe", "answer": 3}}])
    ans = make_llm().answer("quanto costa il biglietto?", "it")
    assert ans == offline.answer("quanto costa il biglietto?", "it")


def test_slow_server_falls_back_within_the_bound(standin, make_llm, offline):
    standin.set_script([{"delay": 5, "content": {"found": True, "answer": PRICE_EN, "intent": "richiesta_prezzi"}}])
    llm = make_llm(request_timeout=0.5, total_timeout=1.0)
    start = time.monotonic()
    ans = llm.answer("quanto costa il biglietto?", "it")
    elapsed = time.monotonic() - start
    assert elapsed < 1.5
    assert ans == offline.answer("quanto costa il biglietto?", "it")


def test_total_bound_covers_the_plain_json_retry(standin, make_llm):
    # First call is rejected slowly, the retry is slow too: the total budget still holds.
    standin.set_script([{"delay": 0.6, "reject_json_schema": True}, {"delay": 5, "content": "{}"}])
    llm = make_llm(request_timeout=0.8, total_timeout=1.0)
    start = time.monotonic()
    ans = llm.answer("how much is a ticket?", "en")
    assert time.monotonic() - start < 1.6
    assert ans.found and ans.intent == "richiesta_prezzi"  # offline answer


def test_server_error_falls_back_to_offline(standin, make_llm, offline):
    standin.set_script([{"status": 500, "message": "model crashed"}])
    ans = make_llm().answer("where can I park my car?", "en")
    assert ans == offline.answer("where can I park my car?", "en")
    assert ans.intent == "parcheggio"
    assert len(standin.requests) == 1  # no retries eating the time budget


def test_unreachable_server_falls_back(offline):
    llm = LLMAnswerer(offline, base_url="http://127.0.0.1:9/v1", request_timeout=1.0, total_timeout=2.0)
    try:
        ans = llm.answer("where can I park my car?", "en")
    finally:
        llm.close()
    assert ans.found and ans.intent == "parcheggio"


def test_rules_run_before_the_model(standin, make_llm):
    llm = make_llm()
    assert llm.answer("voglio parlare con un operatore").intent == OPERATOR_REQUEST
    assert llm.answer("ciao").intent == "saluto"
    assert llm.answer("").found is False
    assert standin.requests == []


def test_build_answerer_picks_llm_when_configured(standin, tmp_path):
    base = Settings.from_env({"DATA_DIR": str(tmp_path)}, kb_path=KB)
    assert isinstance(build_answerer(base), RetrievalAnswerer)
    with_url = Settings.from_env({"DATA_DIR": str(tmp_path), "OPENAI_BASE_URL": standin.base_url}, kb_path=KB)
    llm = build_answerer(with_url)
    try:
        assert isinstance(llm, LLMAnswerer)
        standin.set_script([{"content": {"found": True, "answer": PRICE_EN, "intent": "richiesta_prezzi"}}])
        assert llm.answer("how much is a ticket?", "en").answer == PRICE_EN
    finally:
        llm.close()


def test_parse_reply_tolerates_chatter_and_rejects_garbage():
    assert parse_reply('Sure! {"found": true, "answer": "x", "intent": "y"} hope it helps') == {
        "found": True,
        "answer": "x",
        "intent": "y",
    }
    for bad in ("", "no json here", "[1, 2]", '{"found": 1, "answer": "", "intent": ""}', '{"found": tru'):
        with pytest.raises(ValueError):
            parse_reply(bad)


def test_grounding_check():
    source = ["Il biglietto intero costa €9, il ridotto €7. Scriva a info@museovalmora.it."]
    assert is_grounded("Il biglietto intero costa €9 e il ridotto €7.", source)
    assert not is_grounded("Il biglietto intero costa €12.", source)  # number not in the KB
    assert not is_grounded("Scriva a direttore@museovalmora.it per il biglietto.", source)
    assert not is_grounded("Parking is free for everyone on weekends near the cathedral.", source)
    assert not is_grounded("", source)
