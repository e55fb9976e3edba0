"""The dashboard in a real browser (Playwright + Debian chromium), against a
real `python app.py --no-dashboard` and `streamlit run dashboard.py` on the
same DATA_DIR: sign in, take a chat a visitor opened through the API, reply
(the visitor API returns the reply), see the visitor's answer appear by
itself, release."""

from __future__ import annotations

import time

import httpx

from sportello.services import operators as ops
from sportello.store.database import Store
from testkit.browser import chromium
from testkit.dashboard import DashboardServer, sign_in_browser
from testkit.support import AppServer, Visitor, free_port, wait_until

HARD = "Posso prenotare una visita privata notturna per il mio matrimonio?"


def test_operator_takes_replies_and_releases_in_the_browser(data_dir, tmp_path):
    store = Store(f"sqlite:///{data_dir / 'sportello.db'}")
    ops.add_operator(store, "mario", "Mario Rossi", "password123")
    store.dispose()
    with AppServer(data_dir, args=["--no-dashboard"]) as app, DashboardServer(data_dir) as dash, chromium() as ctx:
        page = ctx.new_page()
        page.set_viewport_size({"width": 1440, "height": 1000})
        sign_in_browser(page, dash.url, "mario")

        visitor = Visitor(app.url)
        assert visitor.say(HARD)["status"] == "offered"
        assert visitor.accept(True)["status"] == "waiting"  # mario is online: signing in set it

        page.get_by_text(HARD).first.wait_for(timeout=15_000)  # the queue refreshes by itself
        page.get_by_role("button", name="Prendi").click()
        page.get_by_text("Mario si è unito alla chat.").wait_for(timeout=15_000)
        assert visitor.poll()["status"] == "live"

        page.get_by_label("Risposta").fill("Buongiorno, sono Mario: mi dica pure.")
        page.get_by_role("button", name="Invia", exact=True).click()
        replies = wait_until(lambda: [m for m in visitor.poll()["messages"] if m["role"] == "operator"], timeout=15)
        assert [(m["author"], m["text"]) for m in replies] == [("Mario", "Buongiorno, sono Mario: mi dica pure.")]

        # The visitor's answer appears without any click, as text (the tag is not interpreted).
        answer = "Grazie! <b>Sabato</b> sera va bene?"
        sent_at = time.monotonic()
        visitor.say(answer)
        page.get_by_text(answer).wait_for(timeout=15_000)
        assert time.monotonic() - sent_at < 10
        page.screenshot(path=str(tmp_path / "live.png"))

        page.get_by_text("Rilascia").first.click()  # open the expander
        page.get_by_role("button", name="Rilascia").click()
        page.get_by_text("Chat chiusa: ticket #").wait_for(timeout=30_000)  # a loaded CI machine takes longer
        snap = visitor.poll()
        assert snap["status"] == "closed" and snap["ticket_id"]
        visitor.close()


def test_app_serves_the_dashboard_on_its_own_port_and_beside(data_dir):
    """One port (as on Hugging Face Spaces): /dashboard/ is proxied by the app, websocket included."""
    port = free_port()
    app = AppServer(data_dir, env={"DASHBOARD_PORT": str(port)}, args=[])
    with app:
        beside = f"http://127.0.0.1:{port}/dashboard"
        wait_until(lambda: _healthy(beside), timeout=60, interval=0.2)
        assert _healthy(app.url + "/dashboard")  # the same, through the app's port
        assert httpx.get(app.url + "/api/health").status_code == 200
        with chromium() as ctx:
            page = ctx.new_page()
            ws_urls = []
            page.on("websocket", lambda ws: ws_urls.append(ws.url))
            page.goto(app.url + "/dashboard/")
            # Streamlit renders its widgets only once its websocket is connected.
            page.get_by_label("Nome utente").wait_for(timeout=30_000)
            assert any(u.startswith(f"ws://127.0.0.1:{app.port}/dashboard/_stcore/stream") for u in ws_urls), ws_urls
            page.goto(app.url + "/")  # and the visitor page is still at /
            page.locator("#msg textarea").wait_for(timeout=30_000)
    wait_until(lambda: not _healthy(beside), timeout=15)  # stopped with the app


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url + "/_stcore/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
