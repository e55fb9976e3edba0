"""The offer of a person and what follows it are drawn by the page's script, with no Gradio event (issue 21: a
Gradio event cost the server several times an API message): the offer's status line and buttons as the answer
arrives; "no" (a Gradio click) draws the page from the chat again, back to the assistant's layout too (`data-seq`:
a value equal to the last one Gradio drew would have left the offer on screen); "yes" through the visitor API, the
queue, the operator who joins, the release and the rating form drawn from the chat's stream; the rating, a Gradio
click, reads the chat first. Real Chromium, desktop and phone, axe on the offer and the release, with no venue
colour set: the page's default colour (config.DEFAULT_PRIMARY_COLOR; Gradio's own indigo failed axe's colour
contrast)."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from testkit.axe import assert_accessible
from testkit.browser import fresh_context, visitor_page
from testkit.support import AppServer, Operator, add_operator, wait_until
from tests.e2e.gradio_events import GradioEvents

QUESTION = "Quali sono gli orari di apertura?"
HARD = "Posso prenotare una visita privata notturna con il direttore per il mio matrimonio?"
OFFERED_IT = "Vuole parlare con un operatore del museo?"
SIZES = ((1280, 800), (390, 844))
SHOTS = Path(os.environ.get("SPORTELLO_SHOTS", tempfile.gettempdir()))  # where the screenshots go


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("offer")
    add_operator(data_dir, "mario", "Mario Rossi", "password123", "--admin")
    with AppServer(data_dir, env={"QUEUE_TIMEOUT_S": "120"}) as srv:
        op = Operator(srv.url, "mario")
        op.online()
        srv.mario = op
        try:
            yield srv
        finally:
            op.close()


def send(page: Page, text: str) -> None:
    page.locator("#msg textarea").fill(text)
    page.locator("#send").click()


def bubbles(page: Page) -> list[str]:
    return page.locator("#chat .message-content").evaluate_all(
        "els => els.map(e => (e.querySelector('.sp-text') || e).innerText.replace(/\\s*\\d\\d:\\d\\d$/, '').trim())"
    )


def phase(page: Page, name: str, timeout: float = 10_000) -> None:
    expect(page.locator("#status .sp-phase")).to_have_attribute("data-phase", name, timeout=timeout)


@pytest.mark.parametrize("size", SIZES, ids=["desktop", "phone"])
def test_the_offer_the_queue_the_operator_and_the_release_show_without_a_gradio_event(app, shared_chromium, size):
    with fresh_context(shared_chromium) as ctx:
        page = visitor_page(ctx, app.url, size)
        events = GradioEvents(page)
        send(page, QUESTION)  # the chat starts (and is kept by a look): answered, no offer
        expect(page.locator("#chat .message-content", has_text="dalle 9:30")).to_have_count(1, timeout=10_000)
        events.settled()  # the look that keeps the new chat (asked as it started), if any, is done
        page.reload()  # the chat is kept; drawn by Gradio from it: the "rate" button is offered
        expect(page.locator("#chat .message-content", has_text="dalle 9:30")).to_have_count(1, timeout=30_000)
        expect(page.locator("#status .sp-phase")).to_have_attribute("data-rate", "can")
        gradio: list[str] = []
        page.on("request", lambda r: gradio.append(r.url) if "/gradio_api/" in r.url else None)

        send(page, HARD)
        expect(page.locator("#offer-accept")).to_be_visible(timeout=10_000)
        expect(page.locator("#offer-decline")).to_be_visible()
        expect(page.locator("#status .sp-status-offered")).to_have_text(OFFERED_IT)
        phase(page, "offered")
        expect(page.locator("#status .sp-phase")).to_have_attribute("data-rate", "none")  # as view.rate_phase
        expect(page.locator("#chat .message-content", has_text=HARD)).to_have_count(1)
        page.wait_for_timeout(500)  # a look would be asked 30 ms after the answer
        assert gradio == [], f"the offer asked Gradio: {gradio}"
        assert_accessible(page, f"the offer shown by the script at {size}")

        # "No": Gradio's click draws the page from the chat: back to the assistant, the offer gone.
        page.locator("#offer-decline").click()
        phase(page, "bot")
        expect(page.locator("#offer-accept")).to_be_hidden()
        expect(page.locator("#status .sp-status")).to_have_count(0)
        expect(page.locator("#chat .message-content", has_text=HARD)).to_have_count(1)  # once: the script's copy went

        # Offered again, then "yes": in the queue.
        gradio.clear()
        send(page, HARD)
        expect(page.locator("#offer-accept")).to_be_visible(timeout=10_000)
        page.wait_for_timeout(300)
        assert gradio == [], f"the second offer asked Gradio: {gradio}"
        gradio.clear()
        app.mario.online()  # (present: seen within the last minutes)
        before = {s["session_id"] for s in app.mario.get("pending_sessions")["sessions"]}
        page.locator("#offer-accept").click()  # through the visitor API: the queue drawn by the script
        phase(page, "waiting")
        expect(page.locator("#status")).to_contain_text("In coda per un operatore: posizione")
        expect(page.locator("#offer-accept")).to_be_hidden()
        expect(page.locator("#chat .message-content", has_text="La metto in contatto")).to_have_count(1)

        # The operator joins, writes, releases: each drawn by the script from the chat's stream.
        sid = wait_until(
            lambda: [
                s["session_id"] for s in app.mario.get("pending_sessions")["sessions"] if s["session_id"] not in before
            ]
        )[0]
        app.mario.take(sid)
        phase(page, "live", timeout=3_000)
        expect(page.locator("#status")).to_have_text("In chat con Mario.")
        app.mario.send(sid, "Eccomi, sono Mario dello staff.")
        expect(page.locator("#chat .message-content", has_text="dello staff")).to_have_count(1, timeout=3_000)
        app.mario.release(sid)
        phase(page, "closed", timeout=3_000)
        expect(page.locator("#status")).to_have_text(
            re.compile(r"La conversazione è chiusa\. Numero della richiesta: \d+\.")
        )
        expect(page.locator("#status .sp-phase")).to_have_attribute("data-rate", "open")  # the rating form shows
        expect(page.locator("#rating")).to_be_visible()
        expect(page.locator("#new-chat")).to_be_visible()
        expect(page.locator("#msg textarea")).to_be_hidden()
        page.wait_for_timeout(500)
        assert gradio == [], f"the queue, the operator or the release asked Gradio: {gradio}"
        texts = bubbles(page)
        for once in ("La metto in contatto", "Ora l'assiste", "dello staff"):  # each message once
            assert sum(once in t for t in texts) == 1, (once, texts)
        assert_accessible(page, f"the release drawn by the script at {size}")

        # The rating (a Gradio click) reads the chat first: it stays closed, rated.
        page.locator("#rate-score label").nth(3).click()
        page.locator("#rate-submit").click()
        expect(page.locator("#status .sp-phase")).to_have_attribute("data-rate", "done", timeout=10_000)
        phase(page, "closed")
        page.reload()  # Gradio's own rows: the same messages, once each
        phase(page, "closed", timeout=30_000)
        expect(page.locator("#chat .sp-pushed")).to_have_count(0)
        assert bubbles(page) == texts


@pytest.mark.parametrize("size", SIZES, ids=["desktop", "phone"])
def test_with_nobody_free_the_contact_form_and_the_ticket_show_without_a_gradio_event(app, shared_chromium, size):
    app.mario.post("set_status", {"status": "offline"})
    try:
        with fresh_context(shared_chromium) as ctx:
            page = visitor_page(ctx, app.url, size)
            events = GradioEvents(page)
            send(page, HARD)
            expect(page.locator("#offer-accept")).to_be_visible(timeout=10_000)
            events.settled()  # the look that keeps the new chat, if any, is done
            gradio: list[str] = []
            page.on("request", lambda r: gradio.append(r.url) if "/gradio_api/" in r.url else None)

            page.locator("#offer-accept").click()  # through the visitor API: the contact form drawn by the script
            phase(page, "collecting_contact")
            expect(page.locator("#status")).to_have_text(
                "Nessun operatore disponibile: ci lasci un contatto e la ricontatteremo."
            )
            expect(page.locator("#contact-value input")).to_be_visible()
            page.wait_for_timeout(300)
            assert gradio == [], f"the contact form asked Gradio: {gradio}"

            # A phone too short: the API refuses it, Gradio's click says why, in Italian, under the field.
            page.locator("#contact-method label", has_text="Telefono").click()
            page.locator("#contact-value input").fill("12345")
            page.locator("#contact-submit").click()
            expect(page.locator("#contact-error")).to_contain_text("troppo corto", timeout=10_000)
            assert gradio, "the refused contact was not handed to Gradio's click"
            phase(page, "collecting_contact")

            # Corrected: Gradio's send (an error is on screen), the ticket. A second chat's contact, with Enter,
            # goes through the API.
            page.locator("#contact-value input").fill("+39 333 123 4567")
            page.locator("#contact-submit").click()
            phase(page, "closed")
            expect(page.locator("#status")).to_contain_text("Numero della richiesta:")
            page.locator("#new-chat").click()
            phase(page, "bot")
            send(page, HARD)
            expect(page.locator("#offer-accept")).to_be_visible(timeout=10_000)
            events.settled()
            page.locator("#offer-accept").click()
            phase(page, "collecting_contact")
            page.locator("#contact-method label", has_text="Email").click()
            gradio.clear()
            page.locator("#contact-value input").fill("anna@example.org")
            page.locator("#contact-value input").press("Enter")
            phase(page, "closed")
            expect(page.locator("#status")).to_have_text(
                re.compile(r"La conversazione è chiusa\. Numero della richiesta: \d+\.")
            )
            expect(page.locator("#status .sp-phase")).to_have_attribute("data-rate", "none")  # no operator: no rating
            expect(
                page.locator("#chat .message-content", has_text="le scriveremo all'indirizzo anna@example.org")
            ).to_have_count(1)
            expect(page.locator("#new-chat")).to_be_visible()
            page.wait_for_timeout(500)
            assert gradio == [], f"the contact asked Gradio: {gradio}"
            assert_accessible(page, f"the ticket drawn by the script at {size}")
            page.reload()  # Gradio's own rows: the ticket's message once
            phase(page, "closed", timeout=30_000)
            expect(page.locator("#chat .message-content", has_text="le scriveremo all'indirizzo")).to_have_count(1)
    finally:
        app.mario.online()


@pytest.mark.parametrize("size", SIZES, ids=["desktop", "phone"])
def test_a_hedged_answer_says_what_it_does_not_know_and_offers_a_person(app, shared_chromium, size):
    """Issue 25: tours asked in a language the guided-tour answer does not name. The visitor reads the answer, a
    plain "no information about giapponese" and the offer of a person; no suggestion repeats the same entry."""
    with fresh_context(shared_chromium) as ctx:
        page = visitor_page(ctx, app.url, size)
        send(page, "fate visite guidate in giapponese?")
        reply = page.locator("#chat .message-content", has_text="Non ho informazioni su giapponese")
        expect(reply).to_have_count(1, timeout=10_000)
        expect(reply).to_contain_text("Le visite guidate")  # what is known comes first
        expect(page.locator("#offer-accept")).to_be_visible()
        expect(page.locator("#status .sp-status-offered")).to_have_text(OFFERED_IT)
        expect(page.locator("#chip-0")).to_be_hidden()
        assert_accessible(page, f"a hedged answer at {size}")
        page.screenshot(path=str(SHOTS / f"visitor-hedged-{size[0]}.png"))
        page.locator("#offer-decline").click()
        phase(page, "bot")
        send(page, "can we book a guided tour in japanese?")  # in English too, answered in English
        expect(
            page.locator("#chat .message-content", has_text="I don't have information about japanese")
        ).to_have_count(1, timeout=10_000)
        expect(page.locator("#offer-accept")).to_be_visible()
