"""A Gradio render that read the chat before a change the page's script then drew does not leave the old state on
screen: the visitor switches language while an operator talks to them (the switch reads the chat, then comes back
only after the release is drawn, and so does the look the stream's new language asks), the operator releases the
chat meanwhile (the script draws the release from the stream at once); the older render ("live") lands after it
(most runs; it prints what it saw), and the page ends closed, in English. Two safeguards make it so: the render's
new #sp-live value runs the script again, which reads the stream from the render's sequence (what saves it here:
it passes with `stale` off too), and LIVE_JS `stale` asks one more look when a render older than what the script
drew lands without a new #sp-live value. At a desktop's size (the same at a phone's)."""

from __future__ import annotations

import threading

from playwright.sync_api import expect

from sportello.faces.visitor.actions import VisitorActions
from testkit.browser import fresh_context, visitor_page
from testkit.inprocess import InProcessServer
from testkit.support import Operator, add_operator, wait_until
from tests.e2e.gradio_events import GradioEvents

PHASES = """() => {
  window.__phases = [];
  new MutationObserver(() => {
    const p = document.querySelector('#status .sp-phase');
    const now = p ? p.dataset.phase : '';
    if (window.__phases[window.__phases.length - 1] !== now) window.__phases.push(now);
  }).observe(document.querySelector('#status'), { subtree: true, childList: true, attributes: true });
}"""
HARD = "Posso prenotare una visita privata notturna con il direttore per il mio matrimonio?"


def test_a_release_drawn_while_an_older_render_is_on_its_way_stays_on_screen(tmp_path, shared_chromium, monkeypatch):
    add_operator(tmp_path, "mario", "Mario Rossi")
    with InProcessServer(tmp_path, with_page=True) as srv, fresh_context(shared_chromium) as ctx:
        mario = Operator(srv.url, "mario")
        mario.online()
        page = visitor_page(ctx, srv.url, (1280, 800))
        events = GradioEvents(page)
        page.locator("#msg textarea").fill(HARD)
        page.locator("#send").click()
        page.locator("#offer-accept").click()
        expect(page.locator("#status")).to_contain_text("In coda", timeout=10_000)
        sid = wait_until(lambda: [s["session_id"] for s in mario.get("pending_sessions")["sessions"]])[0]
        mario.take(sid)
        expect(page.locator("#status")).to_contain_text("In chat con Mario", timeout=5_000)

        switched: list[str] = []
        looks: list[str] = []
        held = [0]  # the calls held back by `drawn`, not returned yet
        switch, read = VisitorActions.set_language, VisitorActions.poll

        drawn = threading.Event()  # the page shows the release the script drew

        def hold() -> None:
            held[0] += 1
            try:
                drawn.wait(10)
            finally:
                held[0] -= 1

        def slow_switch(self, view, lang):  # the language switch reads the chat, then comes back after the release
            out = switch(self, view, lang)
            switched.append(out["status"])
            hold()
            return out

        def slow_poll(self, view):  # and so does the look the stream's new language asks
            out = read(self, view)
            looks.append(out["status"] if out else "")
            hold()
            return out

        page.evaluate(PHASES)  # the phases #status shows, in order
        monkeypatch.setattr(VisitorActions, "set_language", slow_switch)
        monkeypatch.setattr(VisitorActions, "poll", slow_poll)
        page.locator("#lang-switch label", has_text="English").click()
        wait_until(lambda: switched, timeout=10)
        assert switched == ["live"]
        mario.release(sid)  # meanwhile: the script draws the release from the stream
        expect(page.locator("#status")).to_contain_text("closed", timeout=5_000)
        drawn.set()  # now the older renders ("live") land

        def after_release() -> list[str]:
            phases = page.evaluate("window.__phases")
            return phases[phases.index("closed") :]

        # The held renders come back with the chat as it was ("live"): they land after the release (mostly: under
        # load Gradio has been seen to apply none of them, then there is nothing to undo), and do not stay.
        # Once they are back, their renders applied, and whatever these ask (one more look: `stale`) done too: no
        # Gradio event on its way for 1 s (a look is asked 30 ms after what calls for it).
        wait_until(lambda: held[0] == 0, timeout=10)
        events.settled(quiet_s=1.0)
        print(f"phases after the release was drawn: {after_release()}")
        expect(page.locator("#status")).to_contain_text("This conversation is closed")  # ... and did not stay
        expect(page.locator("#status .sp-phase")).to_have_attribute("data-phase", "closed")
        assert after_release()[-1] == "closed", after_release()
        expect(page.locator("#new-chat")).to_be_visible()
        mario.close()
