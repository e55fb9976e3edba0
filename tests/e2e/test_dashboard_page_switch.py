"""Opening another page while the console has news (the README's former known issue, "a blank page after a
release"). In a real browser against a real `python app.py`: the operator clicks "Ticket" on the Live page and,
before the browser hears back from the server (held here, as a slow connection would), a visitor joins the
queue. The watcher in the sidebar hears the news; a look sent then would name the Live page, and Streamlit,
running it after the Ticket page, cleared the Ticket page's main area (or, folded into the click, drew the Live
page instead). The watcher sends no look while a page is being left: the Ticket page shows, stays, and the
sidebar's count shows the new visitor. The same with the browser's back button, back to the Live page."""

from __future__ import annotations

import threading

from testkit.browser import fresh_context
from testkit.dashboard import sign_in_browser, wait_for_dashboard
from testkit.support import AppServer, Visitor, add_operator, free_port, wait_until

QUESTION = "Posso prenotare una visita privata notturna per il mio matrimonio?"
CONSOLE = "(window.__spConsole || {})"


class HeldSocket:
    """Streamlit's websocket, proxied by Playwright: while `hold` is set, what the server sends waits; `release()`
    hands it over in order. What the browser sends goes through at once."""

    def __init__(self, page):
        self.hold = False
        self.waiting: list = []
        self.lock = threading.Lock()
        self.page_side = None
        page.route_web_socket("**/_stcore/stream", self._route)

    def _route(self, ws) -> None:
        server = ws.connect_to_server()
        self.page_side = ws
        ws.on_message(server.send)
        server.on_message(self._from_server)

    def _from_server(self, message) -> None:
        with self.lock:
            if self.hold:
                self.waiting.append(message)
                return
        self.page_side.send(message)

    def release(self) -> int:
        with self.lock:
            self.hold = False
            waiting, self.waiting = self.waiting, []
        for message in waiting:
            self.page_side.send(message)
        return len(waiting)


def test_news_while_the_operator_opens_another_page_leaves_that_page_whole(data_dir, shared_chromium):
    add_operator(data_dir, "mario", "Mario Rossi", "password123")
    env = {"QUEUE_TIMEOUT_S": "86400", "DASHBOARD_PORT": str(free_port())}
    with AppServer(data_dir, env=env, args=[]) as app, fresh_context(shared_chromium) as ctx:
        page = ctx.new_page()
        page.set_viewport_size({"width": 1280, "height": 800})
        socket = HeldSocket(page)
        wait_for_dashboard(app.url)  # Streamlit starts beside the app
        sign_in_browser(page, app.url + "/dashboard/", "mario")
        page.get_by_text("In coda: 0").wait_for(timeout=30_000)
        wait_until(lambda: page.evaluate(f"{CONSOLE}.asks > 0 && !{CONSOLE}.fallback"), timeout=15)
        news = page.evaluate(f"{CONSOLE}.news")

        socket.hold = True  # the server's answers are on their way, slowly
        page.get_by_role("link", name="Ticket").click()
        visitor = Visitor(app.url)
        assert visitor.say(QUESTION)["status"] == "offered"
        assert visitor.accept(True)["status"] == "waiting"
        # The watcher heard it (its long poll is plain HTTP, not held), while the browser still shows Live.
        wait_until(lambda: page.evaluate(f"{CONSOLE}.news") > news, timeout=15)
        page.wait_for_timeout(300)  # a look, had one gone out, reaches the server after the click's run
        assert page.url.endswith("/live") or page.url.endswith("/dashboard/")
        assert socket.release() > 0

        filters = page.locator('[data-testid="stMultiSelect"]').first  # the Ticket page's filters
        filters.wait_for(timeout=30_000)
        page.get_by_text("In coda: 1").wait_for(timeout=30_000)
        page.wait_for_timeout(1_500)  # what the server ran after the page's run has arrived by now
        assert filters.is_visible(), "the Ticket page lost its main area"
        assert page.url.endswith("/ticket")
        assert page.evaluate(f"{CONSOLE}.skipped") >= 1, page.evaluate(f"{CONSOLE}.log")

        # The browser's back button: the address changes at once, the page Streamlit's requests name does not.
        news, skipped = page.evaluate(f"{CONSOLE}.news"), page.evaluate(f"{CONSOLE}.skipped")
        socket.hold = True
        page.go_back()
        second = Visitor(app.url)
        assert second.say(QUESTION)["status"] == "offered"
        assert second.accept(True)["status"] == "waiting"
        wait_until(lambda: page.evaluate(f"{CONSOLE}.news") > news, timeout=15)
        page.wait_for_timeout(300)
        assert socket.release() > 0
        take = page.get_by_role("button", name="Prendi").first  # the Live page's queue
        take.wait_for(timeout=30_000)
        page.get_by_text("In coda: 2").wait_for(timeout=30_000)
        page.wait_for_timeout(1_500)
        assert take.is_visible(), "the Live page lost its main area"
        assert page.evaluate(f"{CONSOLE}.skipped") > skipped, page.evaluate(f"{CONSOLE}.log")
        visitor.close()
        second.close()
