"""The embed widget on a venue's own site, in a real headless chromium: the sample page (docs/embed/sample.html)
served from another site (http://localhost:PORT, the app at http://127.0.0.1:PORT), its one `<script>` tag
pointing at the app. The bubble opens the chat in a floating panel (keyboard, Esc, the close button), the visitor
chats with the bot inside it, a reload of the venue's page keeps the conversation, axe finds nothing serious on
the page with the panel open, inside or outside the frame. And, on the page itself, Send pressed again while the
answer is on its way is not lost. One app for the module (its answers from the OpenAI stand-in, so that one can
be slow), one browser, a context of its own per test.
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from sportello.answering.kb import read_kb
from testkit.axe import assert_accessible
from testkit.browser import fresh_context
from testkit.openai_standin import OpenAIStandIn
from testkit.support import AppServer

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "docs" / "embed" / "sample.html"
SHOTS = Path(os.environ.get("SPORTELLO_SHOTS", tempfile.gettempdir()))
COLOR = "#0b5394"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def venue_site():
    """The venue's own site: the sample page, its widget tag pointing at the app (filled in by `app`)."""
    page = {"html": b""}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            body = {"/": page["html"], "/en": page["html"].replace(b'data-lang="it"', b'data-lang="en"')}.get(
                self.path, b"not found"
            )
            self.send_response(200 if body != b"not found" else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)  # shutdown() in 0.05 s
    thread.start()
    # "localhost", not 127.0.0.1: another site than the app's, as a venue's domain is
    site = {"url": f"http://localhost:{server.server_address[1]}", "page": page}
    yield site
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def price_answer(delay: float = 0.0) -> list[dict]:
    entries = read_kb(ROOT / "data" / "faq.csv").entries
    answer = next(e.answer for e in entries if e.intent == "richiesta_prezzi" and e.lang == "it")
    return [{"delay": delay, "content": {"found": True, "answer": answer, "intent": "richiesta_prezzi"}}]


@pytest.fixture(scope="module")
def standin():
    with OpenAIStandIn(price_answer()) as model:
        yield model


@pytest.fixture(scope="module")
def app(tmp_path_factory, venue_site, standin):
    data_dir = tmp_path_factory.mktemp("widget")
    env = {
        "VENUE_NAME": "Museo Civico di Valmora",
        "VENUE_PRIMARY_COLOR": COLOR,
        "EMBED_ORIGINS": venue_site["url"],
        "OPENAI_API_KEY": "test-key",
        "OPENAI_BASE_URL": standin.base_url,
        "OPENAI_MODEL": "test-model",
    }
    with AppServer(data_dir, env=env) as srv:
        html = SAMPLE.read_text(encoding="utf-8").replace("https://chat.museo.example", srv.url)
        venue_site["page"]["html"] = html.encode("utf-8")
        yield srv


@pytest.fixture
def browser(shared_chromium):
    """A context of each test's own (cookies, storage): no conversation of another test is kept."""
    with fresh_context(shared_chromium) as ctx:
        yield ctx


def test_the_sample_page_is_the_readme_snippet(app, venue_site):
    tags = re.findall(r"<script [^>]*widget\.js[^>]*></script>", SAMPLE.read_text(encoding="utf-8"))
    assert len(tags) == 1, tags
    r = httpx.get(app.url + "/widget.js")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/javascript")
    assert COLOR in r.text and "Museo Civico di Valmora" in r.text
    page = httpx.get(app.url + "/")  # the page may be framed by the venue's site only
    assert page.headers["content-security-policy"] == f"frame-ancestors 'self' {venue_site['url']}"
    api = httpx.get(app.url + "/api/chat/hours")  # the API still may not be framed at all
    assert api.headers["content-security-policy"] == "frame-ancestors 'none'"


def test_bubble_opens_the_chat_on_the_venue_site_keyboard_esc_reload(app, venue_site, browser):
    page = browser.new_page()
    page.set_viewport_size(DESKTOP)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(venue_site["url"] + "/")
    launcher = page.locator("#sportello-widget .launcher")
    expect(launcher).to_be_visible(timeout=10_000)
    assert launcher.get_attribute("aria-label") == "Apri la chat con il museo"
    assert launcher.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(11, 83, 148)"
    assert page.locator("#sportello-widget iframe").count() == 0  # nothing loaded before the first open

    # keyboard: Tab reaches the bubble, Enter opens the panel
    page.keyboard.press("Tab")
    assert launcher.evaluate("e => e.getRootNode().activeElement === e")
    page.keyboard.press("Enter")
    panel = page.locator("#sportello-widget .panel")
    expect(panel).to_be_visible()
    assert launcher.get_attribute("aria-expanded") == "true"
    frame = page.frame_locator("#sportello-widget iframe")
    expect(frame.locator("#chat .message").first).to_be_visible(timeout=30_000)
    expect(frame.locator("#chat")).to_contain_text("Buongiorno! Sono l'assistente virtuale")
    inner = next(f for f in page.frames if f.url.startswith(app.url))
    assert inner.evaluate("document.documentElement.lang") == "it"
    assert inner.evaluate("document.documentElement.classList.contains('sp-embed')")

    # a question answered by the bot inside the panel; the composer in view in the panel
    frame.locator("#msg textarea").fill("Quanto costa il biglietto?")
    frame.locator("#send").click()
    expect(frame.locator("#chat")).to_contain_text("€", timeout=15_000)
    box, send = panel.bounding_box(), frame.locator("#send").bounding_box()
    assert box["y"] >= 0 and box["y"] + box["height"] <= DESKTOP["height"] and box["x"] + box["width"] <= 1280
    assert box["y"] <= send["y"] and send["y"] + send["height"] <= box["y"] + box["height"], (box, send)
    assert_accessible(page, "the venue's page with the widget open")
    assert_accessible(inner, "the chat inside the widget")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "widget.png"))

    # Esc inside the chat closes the panel; the focus goes back to the bubble
    frame.locator("#msg textarea").focus()
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    assert launcher.evaluate("e => e.getRootNode().activeElement === e")
    assert launcher.get_attribute("aria-expanded") == "false"

    # reopened, then a reload of the venue's page: the panel is open again with the conversation
    launcher.click()
    expect(panel).to_be_visible()
    page.reload()
    expect(page.locator("#sportello-widget .panel")).to_be_visible(timeout=10_000)
    expect(frame.locator("#chat")).to_contain_text("Quanto costa il biglietto?", timeout=30_000)
    expect(frame.locator("#chat")).to_contain_text("€")

    # the close button
    page.locator("#sportello-widget .close").click()
    expect(page.locator("#sportello-widget .panel")).to_be_hidden()
    assert not errors, errors
    page.close()


def test_on_a_phone_the_panel_is_the_whole_screen_in_english(app, venue_site, browser):
    page = browser.new_page()
    page.set_viewport_size(PHONE)
    page.goto(venue_site["url"] + "/en")  # the snippet with data-lang="en": the labels and the chat in English
    launcher = page.locator("#sportello-widget .launcher")
    expect(launcher).to_have_attribute("aria-label", "Open the chat with the museum")
    launcher.click()
    panel = page.locator("#sportello-widget .panel")
    expect(panel).to_be_visible()
    assert panel.bounding_box() == {"x": 0, "y": 0, "width": PHONE["width"], "height": PHONE["height"]}
    frame = page.frame_locator("#sportello-widget iframe")
    expect(frame.locator("#chat")).to_contain_text("How can I help you?", timeout=30_000)
    for selector in ("#msg textarea", "#send", "#ask-person"):
        box = frame.locator(selector).bounding_box()
        assert box and 0 <= box["y"] and box["y"] + box["height"] <= PHONE["height"], (selector, box)
    close = page.locator("#sportello-widget .close")
    expect(close).to_have_attribute("aria-label", "Close the chat")
    close.click()
    expect(panel).to_be_hidden()
    page.close()


def test_send_pressed_while_the_answer_is_on_its_way_is_not_lost(app, standin, browser):
    """Gradio ignored a second Send while the first still ran: now it waits for the answer, then goes."""
    standin.set_script(price_answer(delay=2.0) + price_answer())  # the first answer slow, the second at once
    page = browser.new_page()
    page.set_viewport_size(DESKTOP)
    page.goto(app.url + "/")
    expect(page.locator("#chat .message").first).to_be_visible(timeout=30_000)
    box, send = page.locator("#msg textarea"), page.locator("#send")
    box.fill("Quanto costa il biglietto?")
    send.click()
    expect(page.locator("#chat .sp-typing")).to_be_visible(timeout=5_000)  # the answer is on its way
    assert send.evaluate("e => getComputedStyle(e).cursor") == "progress"  # Send says it is busy
    box.fill("E per i bambini?")
    send.click()
    expect(box).to_have_value("E per i bambini?")  # waiting, in the box, with the answer still to come
    users = page.locator("#chat [data-testid='user']")
    expect(users).to_have_count(2, timeout=15_000)  # then it went by itself
    expect(users.nth(1)).to_contain_text("E per i bambini?")
    expect(box).to_have_value("")
    expect(page.locator("#chat .sp-typing")).to_have_count(0, timeout=15_000)
    # (the second answer may still be streaming in, its row a bot row already: the send is over when no row is partial)
    expect(page.locator("#chat .sp-partial")).to_have_count(0, timeout=15_000)
    expect(page.locator("#chat [data-testid='bot']")).to_have_count(3)  # the greeting and two answers
    expect(page.locator("#status .sp-phase")).to_have_attribute("data-busy", "0")
    expect(send).not_to_have_css("cursor", "progress")
    standin.set_script(price_answer())
    page.close()
