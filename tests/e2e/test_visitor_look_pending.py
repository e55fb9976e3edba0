"""A look asked for while another is on its way is not dropped (page.py: the look's `trigger_mode`): the chat is
released while the look the take asked for is still reading, and the page shows the release all the same. At a
desktop's size (the look is the same at a phone's: tests/e2e/test_visitor_push.py covers both sizes)."""

from __future__ import annotations

import time

from playwright.sync_api import expect

from sportello.faces.visitor.actions import VisitorActions
from testkit.browser import fresh_context, visitor_page
from testkit.inprocess import InProcessServer
from testkit.support import Operator, add_operator, wait_until

HARD = "Posso prenotare una visita privata notturna con il direttore per il mio matrimonio?"


def test_a_release_while_the_take_s_look_is_reading_is_shown(tmp_path, shared_chromium, monkeypatch):
    add_operator(tmp_path, "mario", "Mario Rossi")
    with InProcessServer(tmp_path, with_page=True) as srv, fresh_context(shared_chromium) as ctx:
        mario = Operator(srv.url, "mario")
        mario.online()
        page = visitor_page(ctx, srv.url, (1280, 800))
        page.locator("#msg textarea").fill(HARD)
        page.locator("#send").click()
        page.locator("#offer-accept").click()
        expect(page.locator("#status")).to_contain_text("In coda", timeout=10_000)
        sid = wait_until(lambda: [s["session_id"] for s in mario.get("pending_sessions")["sessions"]])[0]

        looks: list[float] = []
        read = VisitorActions.poll

        def slow_poll(self, view):  # the look reads the chat, then takes a second to come back
            out = read(self, view)
            looks.append(time.monotonic())
            time.sleep(1.0)
            return out

        monkeypatch.setattr(VisitorActions, "poll", slow_poll)
        mario.take(sid)  # the stream tells the page: a look, which reads "live" and is then slow
        wait_until(lambda: looks, timeout=10)
        mario.release(sid)  # meanwhile: the stream tells of the release, and the page asks for another look
        expect(page.locator("#status")).to_contain_text("chiusa", timeout=8_000)  # that look was not dropped
        assert len(looks) >= 2
