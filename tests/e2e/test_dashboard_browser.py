"""The dashboard in a real browser (Playwright + Debian chromium), against a
real `python app.py --no-dashboard` and `streamlit run dashboard.py` on the
same DATA_DIR: the operator inbox's journey (take, type, Enter, release, the
Ticket page) with the controls in view and axe-core at 1280x800 and 390x844.
Then the console (desktop and phone): the waiting count and its alert, the
chat view, internal notes, a transfer, the ticket and log pages' labels, and
the start log's URLs."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect

from testkit.axe import assert_accessible
from testkit.browser import fresh_context
from testkit.dashboard import DashboardServer, open_page, sign_in_browser, streamlit_healthy
from testkit.support import AppServer, Operator, Visitor, add_operator, free_port, wait_until

SHOTS = Path(os.environ.get("SPORTELLO_SHOTS", tempfile.gettempdir()))  # where the console screenshots go
HARD = "Posso prenotare una visita privata notturna per il mio matrimonio?"


def in_view(page, locator, what: str) -> dict:
    """The element's box, asserted inside the viewport: visible without scrolling."""
    try:
        box = wait_until(lambda: locator.bounding_box(timeout=30_000), timeout=30, interval=0.1)
    except Exception as e:  # what the page showed instead, for the report
        page.screenshot(path=str(SHOTS / "in-view-failure.png"))
        raise AssertionError(f"{what} not shown: {e}; the page said: {page.inner_text('body')[:1500]!r}") from e
    size = page.viewport_size
    assert box["x"] >= 0 and box["y"] >= 0, (what, box)
    assert box["x"] + box["width"] <= size["width"] + 1 and box["y"] + box["height"] <= size["height"] + 1, (
        what,
        box,
        size,
    )
    return box


def reply_box(page):
    return page.locator('[class*="st-key-reply_text_"] textarea').first


def sidebar_folded(page) -> None:
    """On a narrow screen Streamlit folds the sidebar away (an animation, ~0.3 s): until it is out of view."""
    sidebar = page.locator('[data-testid="stSidebar"]')
    wait_until(lambda: (b := sidebar.bounding_box()) is None or b["x"] + b["width"] <= 0, timeout=10, interval=0.05)


def test_inbox_take_type_enter_release_and_the_ticket_page(data_dir, shared_chromium):
    """The operator inbox at 1280x800 and 390x844: a visitor waits → in the list ("Prendi" in view) → taken →
    the thread, the reply box and "Rilascia" in view → "typing" reaches the visitor while the operator types
    → Enter sends, Shift+Enter is a new line → released; axe-core finds nothing serious on the Live and
    Ticket pages; the Ticket page lists the ticket and opens it with its form in view."""
    add_operator(data_dir, "mario", "Mario Rossi", "password123")
    with (
        AppServer(data_dir, args=["--no-dashboard"]) as app,
        DashboardServer(data_dir) as dash,
        fresh_context(shared_chromium) as ctx,
    ):
        page = ctx.new_page()
        page.set_viewport_size({"width": 1280, "height": 800})
        page.goto(dash.url)  # the sign-in page: Streamlit's own strings in Italian, nothing serious for axe
        page.get_by_label("Nome utente").wait_for(timeout=30_000)
        page.get_by_role("button", name="Mostra la password").wait_for(timeout=30_000)
        assert_accessible(page, "the sign-in page")
        sign_in_browser(page, dash.url, "mario")
        assert page.evaluate("document.documentElement.lang") == "it"
        assert page.locator('[data-testid="stSkipToContent"]').inner_text() == "Vai al contenuto principale"

        visitor = Visitor(app.url)
        assert visitor.say(HARD)["status"] == "offered"
        assert visitor.accept(True)["status"] == "waiting"  # mario is online: signing in set it
        page.get_by_text(HARD).first.wait_for(timeout=30_000)  # the list refreshes by itself
        take = page.get_by_role("button", name="Prendi")
        in_view(page, take, "Prendi")
        assert take.inner_text() == "Prendi"  # never cut to "Pr…"
        labels = page.locator('[data-testid="stMetricLabel"]')
        assert labels.first.inner_text() == "Operatori online"  # never "Operatori on…"
        assert labels.evaluate_all("els => els.every(e => e.scrollWidth <= e.clientWidth + 1)")
        assert_accessible(page, "the Live page with a visitor waiting")
        take.click()
        page.get_by_text("Ora l'assiste Mario.").wait_for(timeout=30_000)
        assert visitor.poll()["status"] == "live"
        in_view(page, reply_box(page), "the reply box")
        in_view(page, page.get_by_role("button", name="Rilascia"), "Rilascia")
        page.locator('[class*="st-key-inbox_visitor"]').get_by_text("Lingua ora: italiano").wait_for(timeout=30_000)

        # Typing reaches the visitor while the operator types, before anything is sent.
        reply_box(page).click()
        page.keyboard.type("Buongiorno, sono Mario", delay=40)
        assert wait_until(lambda: visitor.poll()["operator_typing"], timeout=10)
        page.keyboard.press("Shift+Enter")  # a new line, not a send
        page.keyboard.type("mi dica pure.")
        assert [m for m in visitor.poll()["messages"] if m["role"] == "operator"] == []
        page.keyboard.press("Enter")
        replies = wait_until(lambda: [m for m in visitor.poll()["messages"] if m["role"] == "operator"], timeout=15)
        assert [(m["author"], m["text"]) for m in replies] == [("Mario", "Buongiorno, sono Mario\nmi dica pure.")]

        # The visitor's answer appears without any click, as text (the tag is not interpreted).
        answer = "Grazie! <b>Sabato</b> sera va bene?"
        visitor.say(answer)
        page.get_by_text(answer).wait_for(timeout=30_000)
        switched = visitor.http.post(
            f"/api/chat/sessions/{visitor.session_id}/language", json={"language": "en"}, headers=visitor.headers
        )
        assert switched.status_code == 200  # the visitor switches language: the pane follows
        page.locator('[class*="st-key-inbox_visitor"]').get_by_text("Lingua ora: inglese").wait_for(timeout=30_000)
        assert_accessible(page, "the Live page with a chat open")

        # The phone: the open thread first, its reply box and "Rilascia" in view, nothing wider than the screen.
        page.set_viewport_size({"width": 390, "height": 844})
        sidebar_folded(page)
        in_view(page, reply_box(page), "the reply box on a phone")
        in_view(page, page.get_by_role("button", name="Rilascia"), "Rilascia on a phone")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1
        page.set_viewport_size({"width": 1280, "height": 800})

        page.get_by_role("button", name="Rilascia").click()  # the popover: the reason, then release
        page.get_by_role("button", name="Rilascia").last.click()
        page.get_by_text("Chat chiusa: ticket #").wait_for(timeout=30_000)
        snap = visitor.poll()
        assert snap["status"] == "closed" and snap["ticket_id"]
        visitor.close()

        # The Ticket page: the list beside the ticket opened, its form in view, no English, nothing serious.
        open_page(page, "Ticket", page.get_by_role("button", name=f"#{snap['ticket_id']} · risolto"))
        page.get_by_text(f"Ticket #{snap['ticket_id']}").wait_for(timeout=30_000)
        in_view(page, page.locator('[class*="st-key-tk_edit_status_"]').first, "the ticket's status")
        in_view(page, page.get_by_role("button", name=f"#{snap['ticket_id']} · risolto"), "the list's row")
        assert_accessible(page, "the Ticket page")
        page.set_viewport_size({"width": 390, "height": 844})
        sidebar_folded(page)
        in_view(page, page.get_by_role("button", name=f"#{snap['ticket_id']} · risolto"), "the row on a phone")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1
        assert_accessible(page, "the Ticket page on a phone")


def test_app_serves_the_dashboard_on_its_own_port_and_beside(data_dir, shared_chromium):
    """One port (as on Hugging Face Spaces): /dashboard/ is proxied by the app, websocket included."""
    port = free_port()
    app = AppServer(data_dir, env={"DASHBOARD_PORT": str(port)}, args=[])
    with app:
        beside = f"http://127.0.0.1:{port}/dashboard"
        wait_until(lambda: streamlit_healthy(beside), timeout=60, interval=0.05)
        assert streamlit_healthy(app.url + "/dashboard")  # the same, through the app's port
        assert httpx.get(app.url + "/api/health").status_code == 200
        # The start log names what to open: the visitor page, the dashboard through the app's port, the API.
        log = app.log()
        assert f"Sportello visitor page: http://127.0.0.1:{app.port}/" in log, log
        assert f"Sportello operator dashboard: http://127.0.0.1:{app.port}/dashboard/" in log
        assert f"Sportello API: http://127.0.0.1:{app.port}/api/" in log
        with fresh_context(shared_chromium) as ctx:
            page = ctx.new_page()
            ws_urls = []
            page.on("websocket", lambda ws: ws_urls.append(ws.url))
            page.goto(app.url + "/dashboard/")
            # Streamlit renders its widgets only once its websocket is connected.
            page.get_by_label("Nome utente").wait_for(timeout=30_000)
            assert any(u.startswith(f"ws://127.0.0.1:{app.port}/dashboard/_stcore/stream") for u in ws_urls), ws_urls
            page.goto(app.url + "/")  # and the visitor page is still at /
            page.locator("#msg textarea").wait_for(timeout=30_000)
        # A websocket message over DASHBOARD_MAX_BODY_BYTES (1 MiB) is refused: 1009, message too big.
        stream = f"ws://127.0.0.1:{app.port}/dashboard/_stcore/stream"
        with ws_connect(stream, origin=f"http://127.0.0.1:{app.port}", max_size=None) as ws:
            ws.send(b"x" * (2 * 1024 * 1024))
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009, closed.value
        assert streamlit_healthy(app.url + "/dashboard")  # the dashboard itself is unharmed
    wait_until(lambda: not streamlit_healthy(beside), timeout=15)  # stopped with the app


# Records the desktop notifications the page creates (the dashboard asks for permission,
# which the test grants) so that the test can read them back.
RECORD_NOTIFICATIONS = """
(() => {
  const Real = window.Notification;
  if (!Real) return;
  window.__notified = [];
  function Recorder(title, options) { window.__notified.push(title + " | " + ((options || {}).body || "")); }
  Recorder.permission = "granted";
  Recorder.requestPermission = () => Promise.resolve("granted");
  window.Notification = Recorder;
})();
"""


def _box(page, prefix: str):
    """The element's box; None while Streamlit re-renders it (a rerun replaces the DOM), so wait for one."""
    bubble = page.locator(f'[class*="st-key-{prefix}"] [data-testid="stChatMessage"]').last
    return wait_until(bubble.bounding_box, timeout=10, interval=0.1)


def test_console_chat_view_alert_notes_transfer_and_labels(data_dir, tmp_path, shared_chromium):
    add_operator(data_dir, "mario", "Mario Rossi", "password123")
    add_operator(data_dir, "lucia", "Lucia Bianchi", "password123")
    with (
        AppServer(data_dir, args=["--no-dashboard"]) as app,
        DashboardServer(data_dir) as dash,
        fresh_context(shared_chromium) as ctx,
    ):
        ctx.add_init_script(RECORD_NOTIFICATIONS)
        page = ctx.new_page()
        page.set_viewport_size({"width": 1280, "height": 800})
        sign_in_browser(page, dash.url, "mario")
        sidebar = page.locator('[data-testid="stSidebar"]')
        sidebar.get_by_text("In coda: 0").wait_for(timeout=30_000)
        # The count has been seen (0: the baseline, no alert) and the page's watcher looks for news: the next
        # growth alerts.
        wait_until(lambda: page.evaluate("(window.__spConsole || {}).looks > 0"), timeout=15, interval=0.1)

        # A visitor starts waiting: the sidebar's count follows within seconds, with a sound and a notification.
        visitor = Visitor(app.url)
        visitor.say(HARD)
        started = time.monotonic()
        visitor.accept(True)
        sidebar.get_by_text("In coda: 1").wait_for(timeout=10_000)
        assert time.monotonic() - started < 8
        wait_until(lambda: page.evaluate("window.__sportelloAlerts || 0") >= 1, timeout=10)
        notified = wait_until(lambda: page.evaluate("window.__notified || []"), timeout=10)
        assert notified == ["Sportello: visitatore in attesa | In coda: 1"]

        page.get_by_role("button", name="Prendi").click()
        page.get_by_text("Ora l'assiste Mario.").wait_for(timeout=30_000)
        reply_box(page).fill("Buongiorno, sono Mario.")
        reply_box(page).press("Enter")
        # in the chat view (not the reply box, which may still hold it while the rerun clears it)
        page.get_by_text("Buongiorno, sono Mario.", exact=True).and_(page.locator("span")).wait_for(timeout=30_000)
        raw = "Grazie! <b>Sabato</b> va bene?"
        visitor.say(raw)
        page.get_by_text(raw).wait_for(timeout=30_000)  # as text: the tag is not interpreted
        # A chat view: the visitor on the left, the operator on the right, the system notice centred.
        user, operator = _box(page, "msg-user-"), _box(page, "msg-operator-")
        assert operator["x"] > user["x"] + 50, (user, operator)
        assert operator["x"] + operator["width"] > user["x"] + user["width"] + 50, (user, operator)
        notice = page.locator('[class*="st-key-msg-system-"] [data-testid="stText"]').first
        system = wait_until(notice.bounding_box, timeout=10, interval=0.1)
        assert abs((system["x"] + system["width"] / 2) - (user["x"] + operator["x"] + operator["width"]) / 2) < 80
        page.screenshot(path=str(SHOTS / "console-desktop.png"))

        # An internal note: shown to operators, never to the visitor.
        page.get_by_text("Note interne (solo operatori)").first.click()
        page.get_by_label("Nota per i colleghi (il visitatore non la vede)").fill("Cliente abituale, è gentile")
        page.get_by_role("button", name="Aggiungi nota").click()
        page.get_by_text("Nota aggiunta.").wait_for(timeout=30_000)
        page.get_by_text("Cliente abituale, è gentile").wait_for(timeout=30_000)
        assert all("Cliente abituale" not in m["text"] for m in visitor.poll()["messages"])

        # The phone: the console fits the width, the reply box is reachable.
        page.set_viewport_size({"width": 390, "height": 844})
        send = reply_box(page)
        send.scroll_into_view_if_needed()
        box = wait_until(send.bounding_box, timeout=10, interval=0.1)
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390, box
        assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1
        bubble = _box(page, "msg-operator-")
        frame = wait_until(page.locator('[class*="st-key-transcript_"]').first.bounding_box, timeout=10, interval=0.1)
        assert bubble["x"] + bubble["width"] <= frame["x"] + frame["width"] + 1, (bubble, frame)  # not clipped
        sidebar_folded(page)  # the picture once the sidebar is out of view
        page.screenshot(path=str(SHOTS / "console-phone.png"))
        page.set_viewport_size({"width": 1280, "height": 800})

        # Transfer to lucia (online, with room): the visitor is told, the chat leaves mario's console.
        lucia = Operator(app.url, "lucia")
        lucia.online()
        # The popover (lucia appears within 3 s). Opened again if it was drawn while the page still laid itself
        # out for the new window size (its content then sits outside the viewport), as an operator would.
        confirm = page.locator('[class*="st-key-transfer_"]:not([class*="st-key-transfer_to_"]) button')
        for attempt in range(3):
            page.get_by_role("button", name="Trasferisci").click()
            try:
                confirm.click(timeout=6_000)
                break
            except PlaywrightTimeout:
                if attempt == 2:
                    raise
                page.keyboard.press("Escape")
        page.get_by_text("Chat passata a Lucia.").wait_for(timeout=30_000)
        assert visitor.poll()["messages"][-1]["text"] == "Ora l'assiste Lucia."
        page.get_by_text("Nessuna chat aperta.").first.wait_for(timeout=30_000)
        ticket = lucia.release(visitor.session_id)["ticket"]

        # Tickets: the just-resolved ticket is in the default list; its channel has a name; no English widget text.
        # (the Live page's visitor pane lists the ticket too: the filter, which only the Ticket page has, says it)
        open_page(page, "Ticket", page.locator('[data-testid="stMultiSelect"]').first)
        page.get_by_text(f"Ticket #{ticket['id']}").wait_for(timeout=30_000)
        page.get_by_text("Canale: Chat dal vivo").wait_for(timeout=30_000)
        page.get_by_text("Cliente abituale, è gentile").wait_for(timeout=30_000)  # the chat's note, in the ticket
        page.locator('[data-testid="stMultiSelect"]').first.click()
        page.wait_for_timeout(500)
        body = page.inner_text("body")
        assert "live_chat" not in body and "Select all" not in body and "Choose options" not in body
        page.keyboard.press("Escape")

        # Conversazioni: times in the venue's zone, and the filter's placeholder in Italian.
        open_page(page, "Conversazioni", page.get_by_text("Orari nel fuso del museo (Europe/Rome)."))
        multiselect = page.locator('[data-testid="stMultiSelect"]').first
        wait_until(lambda: "Scegli uno o più…" in multiselect.inner_html(), timeout=15)
        assert "Choose options" not in page.content()
        lucia.close()
        visitor.close()
