"""Issue 22: the dashboard's sign-in survives a reload (F5) and a deep link, in a real browser (Playwright +
Debian chromium) on the one-port app (/dashboard/ proxied): an HttpOnly, SameSite=Strict cookie holds the
session token, "Esci" clears it and revokes the token."""

from __future__ import annotations

import httpx

from testkit.browser import fresh_context
from testkit.dashboard import sign_in_browser, wait_for_dashboard
from testkit.support import AppServer, add_operator, free_port, wait_until

COOKIE = "sportello_session"


def test_sign_in_survives_a_reload_and_a_deep_link_and_esci_ends_it(data_dir, shared_chromium):
    add_operator(data_dir, "mario", "Mario Rossi", "password123")
    app = AppServer(data_dir, env={"DASHBOARD_PORT": str(free_port())}, args=[])
    with app, fresh_context(shared_chromium) as ctx:
        dash = app.url + "/dashboard/"
        wait_for_dashboard(app.url)
        page = ctx.new_page()
        page.set_viewport_size({"width": 1280, "height": 800})
        sign_in_browser(page, dash, "mario")
        cookie = wait_until(lambda: next((c for c in ctx.cookies() if c["name"] == COOKIE), None), timeout=15)
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        token = cookie["value"]
        assert page.evaluate("document.cookie").find(COOKIE) == -1  # no script reads it

        page.reload()  # F5: still signed in
        page.get_by_text("Live: coda e chat").wait_for(timeout=30_000)
        page.goto(dash + "ticket")  # a deep link, opened directly
        page.get_by_role("heading", name="Ticket").wait_for(timeout=30_000)
        page.get_by_role("button", name="Esci").wait_for(timeout=30_000)

        page.get_by_role("button", name="Esci").click()
        page.get_by_label("Nome utente").wait_for(timeout=30_000)
        wait_until(lambda: not [c for c in ctx.cookies() if c["name"] == COOKIE], timeout=15)
        seen = httpx.get(app.url + "/api/operators?action=status", headers={"Authorization": f"Bearer {token}"})
        assert seen.status_code == 401  # revoked, not only forgotten
        page.reload()
        page.get_by_label("Nome utente").wait_for(timeout=30_000)
