"""The visitor's ticket page in a real browser: read, reply, an expired link, a wrong token;
at 1280x800 and 390x844."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import create_engine, update

from sportello.store.tables import ticket_tokens
from testkit.browser import fresh_context
from testkit.inprocess import InProcessServer
from testkit.smtp import SmtpServer
from testkit.support import Operator, Visitor, add_operator


@pytest.mark.parametrize("size", [(1280, 800), (390, 844)])
def test_ticket_page_read_reply_expired_and_wrong(data_dir, tmp_path, size, shared_chromium):
    add_operator(data_dir, "mario", "Mario Rossi")
    with (
        SmtpServer(tmp_path / "smtp") as smtp,
        InProcessServer(
            data_dir, env={"SMTP_URL": smtp.url, "MAIL_FROM": "help@museo.example", "VENUE_NAME": "Museo Civico"}
        ) as srv,
    ):
        v = Visitor(srv.url, language="it")
        v.say("Voglio parlare con un operatore")
        v.accept(True)
        ticket = v.contact("email", "anna@example.org")["ticket"]
        op = Operator(srv.url, "mario")
        op.http.post(
            f"/api/tickets/{ticket['id']}/replies", json={"text": "Ciao <img src=x onerror=alert(1)> a presto"}
        ).raise_for_status()
        [msg] = smtp.wait_for(1)
        link = next(w for w in msg.get_content().split() if "/ticket/" in w)
        path = link[link.index("/ticket/") :]
        with fresh_context(shared_chromium) as browser:
            page = browser.new_page()
            page.set_viewport_size({"width": size[0], "height": size[1]})
            dialogs = []
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.goto(srv.url + path)
            assert page.locator("h1").inner_text() == f"Il tuo ticket #{ticket['id']}"
            assert "Ciao <img src=x onerror=alert(1)> a presto" in page.locator("#thread").inner_text()
            assert page.locator("#thread img").count() == 0
            page.screenshot(path=str(tmp_path / f"ticket-{size[0]}.png"))
            page.fill("#reply-text", "Grazie! <b>Domenica</b> siete aperti?")
            page.click("#reply-send")
            # a locator, not wait_for_function: the page's CSP (no unsafe-eval) refuses Playwright's string polling
            expect(page.locator("#thread .msg.visitor")).to_have_count(1, timeout=10_000)
            assert "<b>Domenica</b>" in page.locator("#thread .msg.visitor").inner_text()
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= size[0]  # no sideways scrolling on a phone
            assert dialogs == []
            assert srv.runtime.ticket_replies.awaiting_answer() == {ticket["id"]}
            # A wrong token and an expired link: a bare 404, nothing of the ticket.
            wrong = page.goto(srv.url + path[:-3] + "xyz")
            assert wrong.status == 404 and "Ciao" not in page.content()
            engine = create_engine(srv.settings.database_url)
            with engine.begin() as conn:
                conn.execute(update(ticket_tokens).values(expires_at=1.0))
            engine.dispose()
            expired = page.goto(srv.url + path)
            assert expired.status == 404 and "Ciao" not in page.content() and "Domenica" not in page.content()
        op.close()
        v.close()
