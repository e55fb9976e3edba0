"""The Live page pushed (issue 21): the browser long-polls the console's version (GET /api/operators/console)
and, only when it moves, the page redraws the fragment that changed. In a real browser (Playwright + Debian
chromium), against a real `python app.py` with its dashboard behind the /dashboard/ proxy, reading what the
page's websocket carries (testkit/streamlit_runs.py): a new waiting chat and a visitor's message appear
without a full-page run, and an idle console runs nothing at all, also while its long poll comes back and
beats (HEARTBEAT_TIMEOUT_S 6 here: a beat every 2 s, inside the idle window)."""

from __future__ import annotations

import time

import httpx

from sportello.services.operators import SESSION_COOKIE
from testkit.browser import fresh_context
from testkit.dashboard import sign_in_browser, wait_for_dashboard
from testkit.streamlit_runs import StreamlitRuns
from testkit.support import AppServer, Visitor, add_operator, free_port, wait_until

QUESTION = "Posso prenotare una visita privata notturna per il mio matrimonio?"
CONSOLE = "(window.__spConsole || {})"
# The window in which an idle console must send nothing: longer than the watcher's own periods (a fallback look
# every 0.5 s, a settle look 1.5 s after news, a beat every HEARTBEAT_TIMEOUT_S / 3 = 2 s), and at least until
# one more beat went out (the long poll came back and was asked again).
IDLE_S = 2.5


class Runs(StreamlitRuns):
    """StreamlitRuns, with the time the last frame from the dashboard was handed over."""

    last = 0.0

    def received(self, payload) -> None:
        self.last = time.monotonic()
        super().received(payload)


def server_version(page, url: str) -> str:
    """The console's version as the API tells it now (the operator's sign-in cookie, no wait, no heartbeat)."""
    token = next(c["value"] for c in page.context.cookies() if c["name"] == SESSION_COOKIE)
    r = httpx.get(url + "/api/operators/console", params={"wait": "0"}, cookies={SESSION_COOKIE: token}, timeout=10)
    return r.json()["version"]


def settled(page, runs: Runs, url: str, quiet_s: float = 0.7, timeout: float = 15) -> None:
    """Until the page has nothing on its way: the watcher holds the version the API tells now (a change it has
    not heard of yet is news on its way), no look due (news is followed by a settle look 1.5 s later; the log's
    last entry is the latest look) and no frame from the dashboard for `quiet_s` (more than the fallback's 0.5 s
    between looks; a run's frames come within it). Playwright hands the websocket's frames over only while it
    runs: waited for with its own clock."""
    deadline = time.monotonic() + timeout
    while True:
        page.wait_for_timeout(100)
        due = page.evaluate(f"(({CONSOLE}).log || []).slice(-1).some((l) => l.startsWith('news'))")
        if (
            not due
            and time.monotonic() - runs.last >= quiet_s
            and page.evaluate(f"{CONSOLE}.version") == server_version(page, url)
        ):
            return
        assert time.monotonic() < deadline, ("still busy", runs.snapshot(), page.evaluate(f"{CONSOLE}.log"))


def test_news_redraws_only_its_fragment_and_an_idle_console_sends_nothing(data_dir, shared_chromium):
    add_operator(data_dir, "mario", "Mario Rossi", "password123")
    env = {"QUEUE_TIMEOUT_S": "86400", "HEARTBEAT_TIMEOUT_S": "6", "DASHBOARD_PORT": str(free_port())}
    with AppServer(data_dir, env=env, args=[]) as app, fresh_context(shared_chromium) as ctx:
        page = ctx.new_page()
        page.set_viewport_size({"width": 1440, "height": 1000})
        runs = Runs()
        page.on("websocket", runs.attach)
        wait_for_dashboard(app.url)  # Streamlit starts beside the app
        sign_in_browser(page, app.url + "/dashboard/", "mario")
        page.get_by_text("In coda: 0").wait_for(timeout=30_000)
        # The watcher long-polls the API (the sign-in cookie is its key), not the page's own fallback ticks.
        wait_until(lambda: page.evaluate(f"{CONSOLE}.asks > 0 && !{CONSOLE}.fallback"), timeout=15)
        settled(page, runs, app.url)  # the fallback's last looks ran

        # A visitor joins the queue: the queue panel and the badge show it, the page does not rerun.
        visitor = Visitor(app.url)
        assert visitor.say(QUESTION)["status"] == "offered"
        before = runs.snapshot()
        assert visitor.accept(True)["status"] == "waiting"
        page.get_by_text(QUESTION).first.wait_for(timeout=30_000)
        page.get_by_text("In coda: 1").wait_for(timeout=30_000)
        queued = runs.since(before)
        assert queued["full_runs"] == 0, queued
        assert queued["fragment_runs"] > 0, queued

        page.get_by_role("button", name="Prendi").click()
        page.get_by_text("Ora l'assiste Mario.").wait_for(timeout=30_000)
        page.get_by_text("In coda: 0").wait_for(timeout=30_000)
        settled(page, runs, app.url)  # the take's news and its settle look ran

        # Idle, with a live chat open: the browser waits on the API (which also gets the heartbeat); the page
        # runs nothing and sends nothing: neither the transcript, nor the queue, nor the badge.
        before = runs.snapshot()
        started = page.evaluate("Date.now() % 100000")  # (the log's clock)
        beat = page.evaluate(f"{CONSOLE}.lastBeat")
        page.wait_for_timeout(IDLE_S * 1000)
        wait_until(lambda: page.evaluate(f"{CONSOLE}.lastBeat") > beat, timeout=10)  # a beat went out meanwhile
        idle = runs.since(before)
        idle["log"] = [started, page.evaluate(f"{CONSOLE}.log")]  # what the watcher did since (news: its version)
        if idle["full_runs"] or idle["fragment_runs"] or idle["deltas"] or idle["texts"]:
            # (session 22's head failed here once in session 23: the page's first fallback looks, then two news, the
            # last one's settle look inside the window; the app's log says what the API answered)
            idle["app_log"] = app.log()[-3000:]
        assert idle["full_runs"] == 0, idle
        assert idle["fragment_runs"] == 0, idle
        assert idle["deltas"] == 0, idle
        assert idle["texts"] == [], idle
        assert page.evaluate("window.__spConsole.fallback") is False
        assert page.evaluate("window.__spConsole.lastBeat") > 0  # the heartbeat went with the long poll

        # The visitor writes: the transcript shows it, within a second or so, without a full-page run.
        before = runs.snapshot()
        sent = time.monotonic()
        visitor.say("Sabato sera va bene?")
        page.get_by_text("Sabato sera va bene?").wait_for(timeout=30_000)
        took = time.monotonic() - sent
        shown = runs.since(before)
        assert shown["full_runs"] == 0, shown
        assert "Sabato sera va bene?" in shown["texts"], shown
        assert "In coda: 0" not in shown["texts"], shown  # the badge was not redrawn: only the transcript
        assert took < 5, took  # a loaded test machine; the bench measures the real figure
        visitor.close()
