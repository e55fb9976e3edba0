"""A new chat's first message in a real browser (issue 21): the page's script starts the chat with it in one
request (`POST /api/chat/sessions?stream=1`) and keeps it itself, with no Gradio event: in the tab (its #sp-live
value, which the next Gradio event adopts) and in the browser's storage (`sportello-visitor-chat`), where the page's
load finds it. A reload then shows the conversation, also one made while the answer is still being written (the
load waits for it). At a desktop's and a phone's size."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect

from testkit.browser import fresh_context, visitor_page
from testkit.fakes import PRICE_A, PRICE_Q, FakeAnswerer
from testkit.inprocess import InProcessServer

SIZES = [(1280, 800), (390, 844)]


class SlowAnswerer(FakeAnswerer):
    """The fake answerer, 1.5 s slow (an LLM)."""

    def answer(self, text, lang=None):
        time.sleep(1.5)
        return super().answer(text, lang)


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    answerer = SlowAnswerer({PRICE_Q: ("richiesta_prezzi", PRICE_A)})
    with InProcessServer(tmp_path_factory.mktemp("first"), with_page=True, answerer=answerer) as server:
        yield server


@pytest.mark.parametrize("size", SIZES, ids=["desktop", "phone"])
def test_the_first_message_keeps_its_chat_with_no_gradio_event(srv, shared_chromium, size):
    with fresh_context(shared_chromium) as ctx:
        page = visitor_page(ctx, srv.url, size)
        gradio: list[str] = []
        page.on("request", lambda r: gradio.append(r.url) if "/gradio_api/" in r.url else None)
        page.locator("#msg textarea").fill(PRICE_Q)
        page.locator("#send").click()
        expect(page.locator("#chat .message-content", has_text=PRICE_A[-30:])).to_have_count(1, timeout=15_000)
        expect(page.locator("#status .sp-phase")).to_have_attribute("data-rate", "can")  # "rate" offered
        expect(page.locator("#rate-open")).to_be_visible()
        page.wait_for_timeout(500)
        assert gradio == [], f"the first message asked Gradio: {gradio}"
        kept = page.evaluate("JSON.parse(localStorage.getItem('sportello-visitor-chat'))")
        assert set(kept) == {"sid", "token"}

        page.reload()  # the page's load finds the chat in the browser's storage: whole, in Gradio's own rows
        expect(page.locator("#chat .message-row:not(.sp-pushed) .sp-s3")).to_have_count(1, timeout=30_000)
        expect(page.locator("#chat .message-content", has_text=PRICE_A[-30:])).to_have_count(1)
        expect(page.locator("#chat .message-content", has_text=PRICE_Q)).to_have_count(1)
        # Gradio keeps it now (its own state): the script's copy is gone
        page.wait_for_function("localStorage.getItem('sportello-visitor-chat') === null", timeout=5_000)

        page.close()


@pytest.mark.parametrize("size", SIZES, ids=["desktop", "phone"])
def test_a_reload_while_the_first_answer_is_written_finds_the_chat_whole(srv, shared_chromium, size):
    with fresh_context(shared_chromium) as ctx:
        page = visitor_page(ctx, srv.url, size)
        page.locator("#msg textarea").fill(PRICE_Q)
        page.locator("#send").click()
        page.wait_for_function("localStorage.getItem('sportello-visitor-chat') !== null", timeout=5_000)
        page.reload()  # the answer takes 1.5 s: the load waits for the chat's first write
        expect(page.locator("#chat .message-content", has_text=PRICE_A[-30:])).to_have_count(1, timeout=30_000)
        expect(page.locator("#chat .message-content", has_text=PRICE_Q)).to_have_count(1)
        page.close()
