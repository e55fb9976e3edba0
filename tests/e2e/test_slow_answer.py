"""A slow LLM answer does not hold up other visitors: a real app process against a slow OpenAI stand-in."""

from __future__ import annotations

import threading
import time

import httpx

from sportello.answering.kb import read_kb
from testkit.openai_standin import OpenAIStandIn
from testkit.support import ROOT, AppServer, Visitor, wait_until

DELAY_S = 3.0


def _price_answer_it() -> str:
    entries = read_kb(ROOT / "data" / "faq.csv").entries
    return next(e.answer for e in entries if e.intent == "richiesta_prezzi" and e.lang == "it")


def test_slow_answers_run_in_parallel_and_do_not_block_others(data_dir):
    answer = _price_answer_it()
    # Every model call takes DELAY_S, well inside the answerer's 8 s bound, then answers from the KB entry.
    script = [{"delay": DELAY_S, "content": {"found": True, "answer": answer, "intent": "richiesta_prezzi"}}]
    with OpenAIStandIn(script) as standin:
        env = {"OPENAI_API_KEY": "test-key", "OPENAI_BASE_URL": standin.base_url, "OPENAI_MODEL": "test-model"}
        with AppServer(data_dir, env=env) as srv:
            slow = [Visitor(srv.url), Visitor(srv.url)]
            results: dict[int, tuple[float, dict]] = {}

            def ask(i: int, text: str) -> None:
                start = time.monotonic()
                out = slow[i].say(text)
                results[i] = (time.monotonic() - start, out)

            threads = [
                threading.Thread(target=ask, args=(0, "Quanto costa il biglietto d'ingresso?")),
                threading.Thread(target=ask, args=(1, "Quanto si paga per entrare al museo?")),
            ]
            for t in threads:
                t.start()
            wait_until(lambda: len(standin.requests) >= 2, timeout=DELAY_S)  # both are waiting on the model

            # Meanwhile another visitor starts a chat and asks for a person (a rule: no model call),
            # and the API's health check answers: neither waits for the slow answers.
            start = time.monotonic()
            other = Visitor(srv.url)
            out = other.say("Voglio parlare con un operatore")
            other_s = time.monotonic() - start
            health = httpx.get(f"{srv.url}/api/health", timeout=5)
            in_flight = sum(t.is_alive() for t in threads)

            for t in threads:
                t.join(timeout=DELAY_S + 10)
            for v in (*slow, other):
                v.close()

    assert out["offer_operator"] is True and other_s < 1.0, (other_s, out)
    assert health.status_code == 200
    assert in_flight == 2  # the quick requests really ran while both slow ones were in flight
    assert sorted(results) == [0, 1]
    for elapsed, reply in results.values():
        assert reply["intent"] == "richiesta_prezzi" and reply["messages"][-1]["text"] == answer
        # In parallel: each takes about DELAY_S, not 2 x DELAY_S as it would one after the other.
        assert DELAY_S - 0.2 <= elapsed < 2 * DELAY_S - 0.5, elapsed
