"""A new chat's first message in a real browser (issue 21): the page's script starts the chat with it in one
request (`POST /api/chat/sessions?stream=1`); its look keeps the chat while the answer is written, or, when
the look cannot (the chat was started by another app process, so this one does not know it yet), once it is
written. Either way a reload then shows the conversation. At a desktop's and a phone's size."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect

from testkit.browser import fresh_context, visitor_page
from testkit.fakes import PRICE_A, PRICE_Q, FakeAnswerer
from testkit.inprocess import InProcessServer


class SlowAnswerer(FakeAnswerer):
    """The fake answerer, 1.5 s slow (an LLM): the page's look comes while the first answer is on its way."""

    def answer(self, text, lang=None):
        time.sleep(1.5)
        return super().answer(text, lang)


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    answerer = SlowAnswerer({PRICE_Q: ("richiesta_prezzi", PRICE_A)})
    with InProcessServer(tmp_path_factory.mktemp("first"), with_page=True, answerer=answerer) as server:
        yield server


@pytest.mark.parametrize("size", [(1280, 800), (390, 844)])
def test_the_first_message_keeps_its_chat_even_when_the_look_comes_from_another_process(srv, shared_chromium, size):
    asked: list[str] = []

    def elsewhere(session_id, token, wait_s=0.0):  # as in a process that did not start the chat
        asked.append(session_id)
        return False

    srv.runtime.chat.starting = elsewhere
    with fresh_context(shared_chromium) as ctx:
        page = visitor_page(ctx, srv.url, size)
        page.locator("#msg textarea").fill(PRICE_Q)
        page.locator("#send").click()
        expect(page.locator("#chat .message-content", has_text=PRICE_A[-30:])).to_have_count(1, timeout=15_000)
        assert asked  # the look came while the answer was written, and could not keep the chat then
        # The chat is kept all the same: the page's look renders it (the answer, message 3, in the Chatbot's
        # own rows, not the script's copy), and a reload finds it, each message once.
        expect(page.locator("#chat .message-row:not(.sp-pushed) .sp-s3")).to_have_count(1, timeout=10_000)
        page.reload()
        expect(page.locator("#chat .message-content", has_text=PRICE_A[-30:])).to_have_count(1, timeout=30_000)
        expect(page.locator("#chat .message-content", has_text=PRICE_Q)).to_have_count(1)
        page.close()
