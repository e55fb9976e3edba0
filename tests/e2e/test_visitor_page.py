"""The visitor page in a real headless chromium, against a real `python app.py`.

The operator side is driven through the operator API (testkit.support.Operator).
"""

from __future__ import annotations

import time

from playwright.sync_api import Page, expect

from testkit.browser import fresh_context
from testkit.support import read_sheet, wait_until

HARD = "Posso prenotare una visita privata notturna con il direttore per il mio matrimonio?"
XSS = "<img src=x onerror=alert(1)>"


def open_page(ctx, url: str, accept_language: str | None = "it-IT,it;q=0.9", width: int = 1000) -> Page:
    page = ctx.new_page()
    page.set_viewport_size({"width": width, "height": 900})
    if accept_language:
        page.set_extra_http_headers({"Accept-Language": accept_language})
    dialogs: list[str] = []
    errors: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.dialogs, page.errors = dialogs, errors  # type: ignore[attr-defined]
    page.goto(url + "/")
    expect(page.locator("#chat .message").first).to_be_visible(timeout=30_000)
    return page


def say(page: Page, text: str) -> None:
    box = page.locator("#msg textarea")
    box.fill(text)
    page.locator("#send").click()
    if text.strip() and len(text) <= 2000:
        # Sent, never dropped: a click while the previous event still runs waits for it (trigger_mode
        # "always_last", tests/e2e/test_visitor_widget.py), then the box empties.
        expect(box).to_have_value("", timeout=15_000)


def bubbles(page: Page) -> list[str]:
    """The text of each bubble, without the assistant's badge, the operator's name and the time."""
    return page.locator("#chat .message-content").evaluate_all(
        "els => els.map(e => (e.querySelector('.sp-text') || e).innerText.replace(/\\s*\\d\\d:\\d\\d$/, '').trim())"
    )


def the_only_pending(operator) -> str:
    sessions = wait_until(lambda: operator.get("pending_sessions")["sessions"])
    assert len(sessions) == 1, sessions
    return sessions[0]["session_id"]


def test_seed_scenario_answer_operator_live_chat_and_close(server, data_dir, mario, shared_chromium):
    with fresh_context(shared_chromium) as ctx:
        page = open_page(ctx, server.url)
        chat, status = page.locator("#chat"), page.locator("#status")
        expect(chat).to_contain_text("Buongiorno! Sono l'assistente virtuale del museo")
        expect(page.locator("#chip-0")).to_have_text("Quanto costa il biglietto?")
        expect(page.locator("#ask-person")).to_have_text("Parla con una persona")

        # 1. a question the knowledge base answers (asked through a suggested-question chip)
        page.locator("#chip-0").click()
        expect(chat).to_contain_text("€", timeout=15_000)
        assert bubbles(page)[1] == "Quanto costa il biglietto?"
        expect(page.locator("#offer")).to_be_hidden()

        # 2. one it cannot answer: the page says so and offers an operator
        mario.online()
        say(page, HARD)
        expect(page.locator("#offer-accept")).to_have_text("Parla con un operatore", timeout=15_000)
        expect(page.locator("#offer-decline")).to_have_text("No, grazie")
        expect(page.locator("#offer-suggest")).to_be_hidden()  # nothing in the KB is close to this one
        expect(chat).to_contain_text("non ho trovato una risposta sicura")
        page.locator("#offer-accept").click()
        expect(status).to_contain_text("In coda per un operatore: posizione 1.")
        expect(page.locator("#offer")).to_be_hidden()
        session_id = the_only_pending(mario)

        # 3. a reload keeps the conversation and the place in the queue
        page.reload()
        expect(status).to_contain_text("posizione 1", timeout=30_000)
        expect(chat).to_contain_text(HARD)
        assert the_only_pending(mario) == session_id

        # 4. the operator takes the chat: the page shows it by itself
        mario.take(session_id)
        expect(chat).to_contain_text("Ora l'assiste Mario.", timeout=3_000)
        expect(status).to_contain_text("In chat con Mario.")
        expect(page.locator("#ask-person")).to_be_hidden()

        # 5. operator messages appear without any click within 2 s
        for text in ("Buongiorno, sono Mario. Mi dica pure.", "Per quale data sarebbe?"):
            started = time.monotonic()
            mario.send(session_id, text)
            expect(page.locator("#chat .message-content").last).to_contain_text(text, timeout=2_000)
            assert time.monotonic() - started < 2.0
        assert "Buongiorno, sono Mario. Mi dica pure." in bubbles(page)
        mine = page.locator("#chat .message-content", has_text="Mi dica pure.")
        expect(mine.locator(".sp-author")).to_contain_text("Mario")

        # 6. the visitor replies; the operator reads it; the bot stays silent
        say(page, "Vorrei sapere se è possibile per sabato.")
        seen = wait_until(
            lambda: (
                [
                    m["text"]
                    for m in mario.get("chat_messages", session_id=session_id)["messages"]
                    if m["role"] == "user"
                ][-1:]
                == ["Vorrei sapere se è possibile per sabato."]
            )
        )
        assert seen
        time.sleep(0.6)
        assert bubbles(page)[-1] == "Vorrei sapere se è possibile per sabato."
        # (the README's screenshots are taken by tests/e2e/test_visitor_experience.py)

        # 7. the operator releases: the page shows the chat is closed, a new one can start
        mario.release(session_id, "informazioni fornite")
        expect(status).to_contain_text("La conversazione è chiusa.", timeout=3_000)
        expect(chat).to_contain_text("Mario ha chiuso la conversazione.")
        expect(page.locator("#composer")).to_be_hidden()
        expect(page.locator("#new-chat")).to_have_text("Nuova conversazione")

        # the sheet's user_agent column is the browser's own user agent
        user_agent = page.evaluate("navigator.userAgent")
        rows = wait_until(lambda: [r for r in read_sheet(data_dir, "Conversazioni") if r["session_id"] == session_id])
        assert rows[0]["user_message"] == "Quanto costa il biglietto?"
        assert rows[0]["user_agent"] == user_agent and "Chrome" in user_agent

        page.locator("#new-chat").click()
        expect(page.locator("#composer")).to_be_visible()
        expect(page.locator("#chat .message-content")).to_have_count(1)
        expect(status).to_be_hidden()
        assert not page.dialogs and not page.errors


def test_did_you_mean_suggestion_answers_in_one_click(server, data_dir, shared_chromium):
    with fresh_context(shared_chromium) as ctx:
        page = open_page(ctx, server.url, accept_language="en-GB,en;q=0.9")
        say(page, "how long can I stay tonight?")
        expect(page.locator("#offer-accept")).to_have_text("Talk to an operator", timeout=15_000)
        suggest = page.locator("#offer-suggest")
        expect(suggest).to_have_text("What are your opening hours?")  # the question alone
        expect(page.locator("#chat")).to_contain_text("Perhaps you meant: “What are your opening hours?”")

        suggest.click()
        expect(page.locator("#chat")).to_contain_text("The museum is open Tuesday to Sunday", timeout=15_000)
        expect(page.locator("#offer")).to_be_hidden()
        assert bubbles(page)[-2] == "What are your opening hours?"

        def with_intent() -> list[dict] | None:  # both rows: the outbox may send them in two batches
            rows = [r for r in read_sheet(data_dir, "Conversazioni") if r["intent_detected"]]
            return rows if len(rows) >= 2 else None

        rows = wait_until(with_intent)
        assert [r["intent_detected"] for r in rows][-2:] == ["no_answer", "orari_apertura"]
        assert not page.dialogs and not page.errors


def test_no_operator_contact_form_to_ticket_on_a_phone(server, data_dir, mario, shared_chromium):
    with fresh_context(shared_chromium) as ctx:
        # the browser's language picks English; the visible switch goes back to Italian
        page = open_page(ctx, server.url, accept_language="en-GB,en;q=0.9", width=375)
        expect(page.locator("#chat")).to_contain_text("Hello! I'm the museum's virtual assistant.")
        expect(page.locator("#ask-person")).to_have_text("Talk to a person")
        page.locator("#lang-switch label", has_text="Italiano").click()
        expect(page.locator("#ask-person")).to_have_text("Parla con una persona")
        expect(page.locator("#chat")).to_contain_text("Buongiorno! Sono l'assistente virtuale")

        # "talk to a person" at any time: first, what it is about; nobody is online
        page.locator("#ask-person").click()
        expect(page.locator("#status")).to_contain_text("Scriva in breve di che cosa si tratta", timeout=10_000)
        say(page, "Vorrei un rimborso del biglietto")
        expect(page.locator("#contact")).to_be_visible(timeout=10_000)
        expect(page.locator("#chat")).to_contain_text("nessun operatore è disponibile")
        expect(page.locator("#status")).to_contain_text("Nessun operatore disponibile")

        # inline validation, nothing lost
        page.locator("#contact-value input").fill("anna@example")
        page.locator("#contact-submit").click()
        expect(page.locator("#contact-error")).to_contain_text("non sembra valido")
        expect(page.locator("#contact")).to_be_visible()
        assert mario.http.get("/api/tickets").json()["tickets"] == []

        page.locator("#contact-method label", has_text="Telefono").click()
        page.locator("#contact-value input").fill("+39 333 123 4567")
        page.locator("#contact-submit").click()
        expect(page.locator("#status")).to_contain_text("Numero della richiesta:", timeout=10_000)
        tickets = mario.http.get("/api/tickets").json()["tickets"]
        assert len(tickets) == 1 and tickets[0]["contact_info"] == "+393331234567"
        ticket_id = tickets[0]["id"]
        expect(page.locator("#status")).to_contain_text(f"Numero della richiesta: {ticket_id}.")
        expect(page.locator("#chat")).to_contain_text(f"Abbiamo aperto la richiesta n. {ticket_id}")
        expect(page.locator("#contact")).to_be_hidden()

        # usable on a phone: nothing wider than the screen, the essentials on screen
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        assert tickets[0]["original_question"] == "Vorrei un rimborso del biglietto"

        # a reload still shows the ticket number; then a new conversation
        page.reload()
        expect(page.locator("#status")).to_contain_text(f"Numero della richiesta: {ticket_id}.", timeout=30_000)
        page.locator("#new-chat").click()
        expect(page.locator("#ask-person")).to_be_visible()
        assert wait_until(lambda: read_sheet(data_dir, "Ticket"))[0]["status"] == "open"
        assert not page.dialogs and not page.errors


def test_visitor_and_operator_text_is_shown_literally(server, mario, shared_chromium):
    with fresh_context(shared_chromium) as ctx:
        page = open_page(ctx, server.url)
        chat = page.locator("#chat")
        mario.online()

        # empty messages are ignored; long ones refused with a note (and kept in the box)
        before = len(bubbles(page))
        say(page, "   ")
        expect(page.locator("#notice")).to_contain_text("Scriva prima un messaggio")  # a hint, not an error
        time.sleep(0.3)
        assert len(bubbles(page)) == before
        long_text = "a" * 2001
        say(page, long_text)
        expect(page.locator("#notice")).to_contain_text("troppo lungo (2001 caratteri): il massimo è 2000")
        assert page.locator("#msg textarea").input_value() == long_text
        assert len(bubbles(page)) == before

        say(page, XSS)
        expect(page.locator("#chat .message-content", has_text=XSS)).to_have_count(1, timeout=15_000)
        expect(page.locator("#notice")).to_be_hidden()
        expect(page.locator("#chat .message-content")).to_have_count(before + 2, timeout=15_000)  # the reply
        markup = "**grassetto** [link](javascript:alert(2)) <b>b</b> &lt;"
        say(page, markup)
        expect(page.locator("#chat .message-content")).to_have_count(before + 4, timeout=15_000)
        assert bubbles(page)[before : before + 3 : 2] == [XSS, markup]

        # the same from an operator
        page.locator("#offer-accept, #ask-person").locator("visible=true").first.click()
        session_id = the_only_pending(mario)
        mario.take(session_id)
        expect(chat).to_contain_text("Ora l'assiste Mario.", timeout=3_000)
        mario.send(session_id, "<script>alert(3)</script><img src=x onerror=alert(4)> _corsivo_")
        expect(chat).to_contain_text("<script>alert(3)</script><img src=x onerror=alert(4)> _corsivo_", timeout=2_000)

        time.sleep(0.5)  # leave any handler the time to fire
        assert chat.locator("img").count() == 0
        assert chat.locator("script, b, strong, em, a[href]").count() == 0
        assert page.dialogs == [] and page.errors == []
