"""Issue 22's staff bugs, in a real browser (the AppTests in tests/integration/test_dashboard_bugs.py check
the same rules on the page scripts): the sign-in page names a real command; a ticket saved as "risolto"
stays "risolto" when a note is added after; an operator who closes the console's tab without "Esci" stops
counting as present within HEARTBEAT_TIMEOUT_S, so a visitor who asks for a person then is not queued for
nobody."""

from __future__ import annotations

from testkit.browser import fresh_context
from testkit.dashboard import DashboardServer, choose, open_page, sign_in_browser
from testkit.support import AppServer, Visitor, add_operator, wait_until

HARD = "Posso prenotare una visita privata notturna per il mio matrimonio?"
BEAT_S = 3.0


def status_of(page, tid: int) -> str:
    """The status the ticket's form shows (the selectbox's text and its input's value)."""
    return page.locator(f'[class*="st-key-tk_edit_status_{tid}"]').evaluate(
        "el => el.innerText + ' ' + [...el.querySelectorAll('input')].map((i) => i.value).join(' ')"
    )


def test_sign_in_help_ticket_status_kept_and_a_closed_tab_is_no_longer_present(data_dir, shared_chromium):
    add_operator(data_dir, "mario", "Mario Rossi", "password123")
    env = {"HEARTBEAT_TIMEOUT_S": str(BEAT_S)}
    with (
        AppServer(data_dir, env=env, args=["--no-dashboard"]) as app,
        DashboardServer(data_dir, env=env) as dash,
        fresh_context(shared_chromium) as ctx,
    ):
        page = ctx.new_page()
        page.set_viewport_size({"width": 1280, "height": 800})
        page.goto(dash.url)
        page.get_by_label("Nome utente").wait_for(timeout=30_000)
        body = page.inner_text("body")
        assert "python -m sportello admin add-operator" in body and "sportello.faces.admin" not in body

        # Nobody online: the visitor leaves a contact, an open ticket.
        visitor = Visitor(app.url)
        assert visitor.say(HARD)["status"] == "offered"
        assert visitor.accept(True)["status"] != "waiting"
        tid = visitor.contact("email", "anna@example.org")["ticket"]["id"]
        visitor.close()

        sign_in_browser(page, dash.url, "mario")
        open_page(page, "Ticket", page.get_by_role("button", name=f"#{tid} · aperto"))
        page.get_by_role("button", name=f"#{tid} · aperto").click()
        choose(page, page.locator(f'[class*="st-key-tk_edit_status_{tid}"]'), "risolto")
        page.get_by_role("button", name="Salva").first.click()
        page.get_by_role("button", name=f"#{tid} · risolto").wait_for(timeout=30_000)
        assert "risolto" in status_of(page, tid)  # the form shows what was saved
        page.locator(f'[class*="st-key-tk_edit_note_{tid}"] textarea').fill("Richiamata, tutto chiarito.")
        page.get_by_role("button", name="Salva").first.click()
        page.get_by_text("Richiamata, tutto chiarito.").first.wait_for(timeout=30_000)
        assert "risolto" in status_of(page, tid)  # the note did not write the old status back
        page.get_by_role("button", name=f"#{tid} · risolto").wait_for(timeout=30_000)

        # A console of its own (a new tab signs in and lands on Live): mario is present, a visitor who asks
        # for a person waits for him.
        page.close()
        page = ctx.new_page()
        page.set_viewport_size({"width": 1280, "height": 800})
        sign_in_browser(page, dash.url, "mario")
        waiting = Visitor(app.url)
        waiting.say(HARD)
        assert waiting.accept(True)["status"] == "waiting"
        # The tab is closed without "Esci": within HEARTBEAT_TIMEOUT_S he no longer counts as present, and the
        # visitor waiting for him gets the honest answer (the contact form), as does the next one.
        page.close()
        wait_until(lambda: waiting.poll()["status"] != "waiting", timeout=BEAT_S * 5, interval=0.25)
        late = Visitor(app.url)
        late.say(HARD)
        assert late.accept(True)["status"] != "waiting"
        for v in (waiting, late):
            v.close()
