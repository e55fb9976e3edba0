"""The offer of a person is shown by the page's script, with no Gradio event (issue 21: a Gradio look cost the
server several times an API message, and every escalated question asked one): the status line and the offer's
buttons show as the answer arrives; then answering the offer (a Gradio click) draws the page from the chat again,
"no" back to the assistant's layout too (`data-seq`: a value equal to the last one Gradio drew would have left the
offer on screen). Real Chromium, desktop and phone, axe on the offer, with no venue colour set: the page's
default colour (config.DEFAULT_PRIMARY_COLOR; Gradio's own indigo failed axe's colour contrast)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from testkit.axe import assert_accessible
from testkit.browser import fresh_context, visitor_page
from testkit.support import AppServer, Operator, add_operator

QUESTION = "Quali sono gli orari di apertura?"
HARD = "Posso prenotare una visita privata notturna con il direttore per il mio matrimonio?"
OFFERED_IT = "Vuole parlare con un operatore del museo?"
SIZES = ((1280, 800), (390, 844))


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("offer")
    add_operator(data_dir, "mario", "Mario Rossi", "password123", "--admin")
    with AppServer(data_dir, env={"QUEUE_TIMEOUT_S": "120"}) as srv:
        op = Operator(srv.url, "mario")
        op.online()
        try:
            yield srv
        finally:
            op.close()


def send(page: Page, text: str) -> None:
    page.locator("#msg textarea").fill(text)
    page.locator("#send").click()


def phase(page: Page, name: str, timeout: float = 10_000) -> None:
    expect(page.locator("#status .sp-phase")).to_have_attribute("data-phase", name, timeout=timeout)


@pytest.mark.parametrize("size", SIZES, ids=["desktop", "phone"])
def test_an_offer_of_a_person_shows_without_a_gradio_event_and_answering_it_redraws_the_page(
    app, shared_chromium, size
):
    with fresh_context(shared_chromium) as ctx:
        page = visitor_page(ctx, app.url, size)
        send(page, QUESTION)  # the chat starts (and is kept by a look): answered, no offer
        expect(page.locator("#chat .message-content", has_text="dalle 9:30")).to_have_count(1, timeout=10_000)
        page.wait_for_timeout(1000)  # the look that keeps the new chat (asked as it started) is done
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
        page.locator("#offer-accept").click()
        phase(page, "waiting")
        expect(page.locator("#status")).to_contain_text("In coda")
        expect(page.locator("#offer-accept")).to_be_hidden()
