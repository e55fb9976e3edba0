"""The visitor page is pushed to (the chat's stream, not a timer): an operator's message shows in under a
second; a reload and a dropped connection lose nothing and show nothing twice. On a desktop and a phone."""

from __future__ import annotations

import time

from playwright.sync_api import Page, expect

from testkit.browser import chromium
from testkit.support import wait_until

HARD = "Posso prenotare una visita privata notturna con il direttore per il mio matrimonio?"


def bubbles(page: Page) -> list[str]:
    return page.locator("#chat .message-content").evaluate_all(
        "els => els.map(e => (e.querySelector('.sp-text') || e).innerText.replace(/\\s*\\d\\d:\\d\\d$/, '').trim())"
    )


def shows_once(page: Page, text: str, timeout: float = 5.0) -> float:
    """Seconds until `text` is in exactly one bubble (fails if it never is, or shows twice)."""
    t0 = time.monotonic()
    expect(page.locator("#chat .message-content", has_text=text)).to_have_count(1, timeout=timeout * 1000)
    return time.monotonic() - t0


def live_with(ctx, server, mario, size: tuple[int, int]) -> tuple[Page, str]:
    page = ctx.new_page()
    page.set_viewport_size({"width": size[0], "height": size[1]})
    page.set_extra_http_headers({"Accept-Language": "it-IT,it;q=0.9"})
    page.goto(server.url + "/")
    expect(page.locator("#chat .message").first).to_be_visible(timeout=30_000)
    page.locator("#msg textarea").fill(HARD)
    page.locator("#send").click()
    page.locator("#offer-accept").click()
    expect(page.locator("#status")).to_contain_text("In coda", timeout=10_000)
    sid = wait_until(lambda: [s["session_id"] for s in mario.get("pending_sessions")["sessions"]])[0]
    mario.take(sid)
    expect(page.locator("#status")).to_contain_text("In chat con Mario", timeout=2_000)  # pushed, no poll
    return page, sid


def test_operator_messages_are_pushed_and_survive_reload_and_a_dropped_connection(server, mario):
    mario.online()
    for size in ((1280, 800), (390, 844)):
        with chromium() as ctx:  # each its own browser storage: a new conversation
            page, sid = live_with(ctx, server, mario, size)
            mario.send(sid, f"primo {size[0]}")
            assert shows_once(page, f"primo {size[0]}") < 1.0

            # The connection drops; two messages meanwhile; it comes back: both, once each.
            ctx.set_offline(True)
            page.wait_for_timeout(300)
            mario.send(sid, f"durante {size[0]} a")
            mario.send(sid, f"durante {size[0]} b")
            ctx.set_offline(False)
            shows_once(page, f"durante {size[0]} a", timeout=20)
            shows_once(page, f"durante {size[0]} b")

            # A reload mid-chat: the conversation comes back whole, and the push goes on.
            before = bubbles(page)
            page.reload()
            expect(page.locator("#chat .message-content", has_text=f"durante {size[0]} b")).to_have_count(
                1, timeout=30_000
            )
            assert bubbles(page) == before
            mario.send(sid, f"dopo {size[0]}")
            assert shows_once(page, f"dopo {size[0]}") < 1.0
            texts = bubbles(page)
            assert len(texts) == len(set(texts))  # nothing twice
            mario.release(sid)
            expect(page.locator("#status")).to_contain_text("chiusa", timeout=2_000)
            page.close()
