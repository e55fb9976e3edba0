"""The visitor page is pushed to: the chat's stream carries the operator's messages and "typing", and the page's
#sp-live script shows them at once, without a Gradio round trip; the next Gradio render shows the same messages
once. An operator's message shows in under a second; a reload and a dropped connection lose nothing and show
nothing twice; an operator's text is shown as text. A streamed LLM answer grows in the page, then is there once
after a reload. On a desktop and a phone; one app for the module (its answers from the OpenAI stand-in, which
streams slowly when asked), one browser for the process, a context of its own for each page (a new conversation).
"""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Page, expect

from testkit.browser import fresh_context, visitor_page
from testkit.openai_standin import OpenAIStandIn
from testkit.support import AppServer, Operator, add_operator, wait_until
from tests.e2e.test_visitor_widget import price_answer

HARD = "Posso prenotare una visita privata notturna con il direttore per il mio matrimonio?"
HOSTILE = "<img src=x onerror=alert(1)> **grassetto** <b>b</b>"
SIZES = ((1280, 800), (390, 844))
# Seconds from the operator's send to the text on screen, per message pushed (printed: the measured number).
MEASURED: list[float] = []


@pytest.fixture(scope="module")
def standin():
    with OpenAIStandIn(price_answer()) as model:
        yield model


@pytest.fixture(scope="module")
def app(tmp_path_factory, standin):
    data_dir = tmp_path_factory.mktemp("push")
    add_operator(data_dir, "mario", "Mario Rossi", "password123", "--admin")
    env = {
        "QUEUE_TIMEOUT_S": "120",
        "OPENAI_API_KEY": "test-key",
        "OPENAI_BASE_URL": standin.base_url,
        "OPENAI_MODEL": "test-model",
    }
    with AppServer(data_dir, env=env) as srv:
        yield srv


@pytest.fixture
def mario(app):
    op = Operator(app.url, "mario")
    op.online()
    yield op
    op.close()


def bubbles(page: Page) -> list[str]:
    return page.locator("#chat .message-content").evaluate_all(
        "els => els.map(e => (e.querySelector('.sp-text') || e).innerText.replace(/\\s*\\d\\d:\\d\\d$/, '').trim())"
    )


def shows_once(page: Page, text: str, timeout: float = 5.0) -> float:
    """Seconds until `text` is in exactly one bubble (fails if it never is, or shows twice)."""
    t0 = time.monotonic()
    expect(page.locator("#chat .message-content", has_text=text)).to_have_count(1, timeout=timeout * 1000)
    return time.monotonic() - t0


def pushed(page: Page, mario: Operator, sid: str, text: str) -> float:
    """The operator sends `text`: seconds until it is on screen, once (the browser's own clock, sampled every
    frame, from just before the send)."""
    page.evaluate(
        """text => { window.__seen = null; const t0 = performance.now(); window.__t0 = t0;
        const look = () => { const hit = [...document.querySelectorAll('#chat .message-content')]
          .some(e => e.textContent.includes(text));
          if (hit) window.__seen = performance.now() - t0; else requestAnimationFrame(look); };
        look(); }""",
        text,
    )
    mario.send(sid, text)
    took = wait_until(lambda: page.evaluate("window.__seen"), timeout=10) / 1000
    shows_once(page, text)
    MEASURED.append(took)
    return took


def live_with(ctx, app, mario, size: tuple[int, int]) -> tuple[Page, str]:
    page = visitor_page(ctx, app.url, size)
    page.locator("#msg textarea").fill(HARD)
    page.locator("#send").click()
    page.locator("#offer-accept").click()
    expect(page.locator("#status")).to_contain_text("In coda", timeout=10_000)
    sid = wait_until(lambda: [s["session_id"] for s in mario.get("pending_sessions")["sessions"]])[0]
    mario.take(sid)
    expect(page.locator("#status")).to_contain_text("In chat con Mario", timeout=2_000)  # pushed, no poll
    return page, sid


def test_operator_messages_are_pushed_and_survive_reload_and_a_dropped_connection(app, mario, shared_chromium):
    for size in SIZES:
        w = size[0]
        with fresh_context(shared_chromium) as ctx:  # each its own browser storage: a new conversation
            page, sid = live_with(ctx, app, mario, size)
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))  # noqa: B023 (one page per loop)
            assert pushed(page, mario, sid, f"primo {w}") < 1.0

            # "Mario sta scrivendo…" from the stream, gone with his message; his text is text.
            mario.post("typing", {"session_id": sid})
            expect(page.locator("#chat .sp-typing")).to_have_text("Mario sta scrivendo…", timeout=1_000)
            assert pushed(page, mario, sid, f"{HOSTILE} {w}") < 1.0
            expect(page.locator("#chat .sp-typing")).to_have_count(0)
            shown = page.locator("#chat .message-content", has_text=f"{HOSTILE} {w}")
            expect(shown.locator(".sp-author")).to_contain_text("Mario")
            expect(shown.locator(".sp-avatar")).to_have_text("M")
            assert page.locator("#chat img, #chat b, #chat strong, #chat script, #chat a[href]").count() == 0
            label = shown.locator("xpath=ancestor::*[@data-testid='bot']").get_attribute("aria-label")
            assert label and "<img" in label and "Mario" in label  # a plain-text label, as the Chatbot's rows

            # The visitor answers (through the visitor API, shown by the page's script): once each, in order.
            page.locator("#msg textarea").fill(f"risposta {w}")
            page.locator("#send").click()
            expect(page.locator("#chat [data-testid='user']").last).to_contain_text(f"risposta {w}", timeout=10_000)
            expect(page.locator("#msg textarea")).to_have_value("")
            texts = bubbles(page)
            assert texts[-3:] == [f"primo {w}", f"{HOSTILE} {w}", f"risposta {w}"], texts

            # The connection drops; two messages meanwhile; it comes back: both, once each.
            ctx.set_offline(True)
            page.wait_for_timeout(300)
            mario.send(sid, f"durante {w} a")
            mario.send(sid, f"durante {w} b")
            ctx.set_offline(False)
            shows_once(page, f"durante {w} a", timeout=20)
            shows_once(page, f"durante {w} b")

            # A reload mid-chat: the conversation comes back whole, and the push goes on.
            before = bubbles(page)
            page.reload()
            expect(page.locator("#chat .message-content", has_text=f"durante {w} b")).to_have_count(1, timeout=30_000)
            assert bubbles(page) == before
            assert pushed(page, mario, sid, f"dopo {w}") < 1.0
            texts = bubbles(page)
            assert len(texts) == len(set(texts))  # nothing twice
            mario.release(sid)
            expect(page.locator("#status")).to_contain_text("chiusa", timeout=2_000)  # drawn by the script
            shown = bubbles(page)
            assert shown[: len(texts)] == texts and len(shown) == len(set(shown))
            page.reload()
            expect(page.locator("#status")).to_contain_text("chiusa", timeout=30_000)
            expect(page.locator("#chat .sp-pushed")).to_have_count(0)
            assert bubbles(page) == shown  # Gradio's own rows now: the same, once each
            assert errors == [], errors
            page.close()
    print(f"operator -> visitor page: {', '.join(f'{t * 1000:.0f} ms' for t in MEASURED)}")


def test_a_streamed_answer_grows_in_the_page_then_is_there_once(app, standin, shared_chromium):
    script = price_answer()
    answer = script[0]["content"]["answer"]
    # ~0.3 s before the first piece (as a model thinks: "writing…" shows), then 31 pieces 50 ms apart: ~1.9 s,
    # re-rendered every PARTIAL_EVERY_S (0.15 s) as it grows.
    standin.set_script([{**script[0], "delay": 0.3, "chunk_size": 12, "chunk_delay": 0.05}])
    try:
        for size in SIZES:
            with fresh_context(shared_chromium) as ctx:
                page = visitor_page(ctx, app.url, size)
                # Sample the answer's bubble every 40 ms while it is written.
                page.evaluate(
                    """() => { window.__lengths = []; window.__writing = false; setInterval(() => {
                      if (document.querySelector('#chat .sp-typing')) window.__writing = true;
                      const p = document.querySelector('#chat .sp-partial');
                      if (p) window.__lengths.push(p.textContent.length); }, 40); }"""
                )
                page.locator("#msg textarea").fill("Quanto costa il biglietto?")
                page.locator("#send").click()
                final = page.locator("#chat .message-content", has_text=answer[-30:])
                expect(final).to_have_count(1, timeout=20_000)
                expect(page.locator("#chat .sp-partial")).to_have_count(0)
                lengths = page.evaluate("window.__lengths")
                assert page.evaluate("window.__writing")  # "the assistant is writing…" while it waited
                partials = sorted({n for n in lengths if 0 < n < len(answer)})
                assert len(partials) >= 2, lengths  # it grew: at least two partial lengths before the final one
                assert lengths == sorted(lengths), lengths
                page.reload()
                expect(page.locator("#chat .message-content", has_text=answer[-30:])).to_have_count(1, timeout=30_000)
                assert bubbles(page).count(answer) == 1
                page.close()
    finally:
        standin.set_script(price_answer())


def test_a_reload_while_the_first_answer_is_written_keeps_the_new_chat(app, standin, shared_chromium):
    """The first message starts the chat (one request and one write, once the answer is in): a reload while
    the answer is still being written shows the chat once it is stored, the question and the answer once each."""
    script = price_answer()
    answer = script[0]["content"]["answer"]
    standin.set_script([{**script[0], "chunk_size": 10, "chunk_delay": 0.1}])
    try:
        with fresh_context(shared_chromium) as ctx:
            page = visitor_page(ctx, app.url, SIZES[1])
            question = "Quanto costa il biglietto?"
            page.locator("#msg textarea").fill(question)
            page.locator("#send").click()
            expect(page.locator("#chat .sp-partial")).to_be_visible(timeout=10_000)  # the answer is on its way
            page.reload()
            expect(page.locator("#chat .message-content", has_text=answer[-30:])).to_have_count(1, timeout=30_000)
            shown = bubbles(page)
            assert shown.count(question) == 1 and shown.count(answer) == 1, shown
            expect(page.locator("#notice .sp-notice")).to_have_count(0)
            page.close()
    finally:
        standin.set_script(price_answer())
