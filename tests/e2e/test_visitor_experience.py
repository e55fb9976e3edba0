"""The visitor's experience (venue branding, business hours, the chat's phases, rating) in a real headless
chromium against a real `python app.py`: desktop (1280x800) and phone (390x844). One app per module (a venue
with its name and colour, always open) plus one outside business hours; each test opens its own page.
"""

from __future__ import annotations

import os
import tempfile
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect

from testkit.axe import assert_accessible
from testkit.browser import fresh_context
from testkit.support import AppServer, Operator, add_operator, wait_until

HARD = "Posso prenotare una visita privata notturna con il direttore per il mio matrimonio?"
# The README's screenshots are retaken with SPORTELLO_SHOTS=docs/img; by default they go to a temp dir,
# so that running the tests never changes tracked files.
SHOTS = Path(os.environ.get("SPORTELLO_SHOTS", tempfile.gettempdir()))
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
COLOR = "#0b5394"


@pytest.fixture(scope="module")
def venue(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("venue")
    add_operator(data_dir, "mario", "Mario Rossi")
    env = {"QUEUE_TIMEOUT_S": "120", "VENUE_NAME": "Museo Civico di Valmora", "VENUE_PRIMARY_COLOR": COLOR}
    with AppServer(data_dir, env=env) as srv:
        yield srv


@pytest.fixture(scope="module")
def closed(tmp_path_factory):
    """A desk closed all day today (a holiday): back tomorrow at 9:00."""
    data_dir = tmp_path_factory.mktemp("closed")
    today = datetime.now(ZoneInfo("Europe/Rome")).date().isoformat()
    env = {"BUSINESS_HOURS": "mon-sun 09:00-18:00", "HOLIDAYS": today}
    with AppServer(data_dir, env=env) as srv:
        yield srv


@pytest.fixture
def browser(shared_chromium):
    """A context of each test's own: no conversation of another test (clearing a shared context's localStorage
    raced Gradio writing its state back, and a phone test once found the last test's ticket, its textbox hidden)."""
    with fresh_context(shared_chromium) as ctx:
        yield ctx


@pytest.fixture
def mario(venue):
    op = Operator(venue.url, "mario")
    yield op
    op.post("set_status", {"status": "offline"})
    op.close()


def open_page(ctx, url: str, viewport: dict, lang: str = "it-IT,it;q=0.9") -> Page:
    page = ctx.new_page()
    page.set_viewport_size(viewport)
    page.set_extra_http_headers({"Accept-Language": lang})
    page.errors = []  # type: ignore[attr-defined]
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.goto(url + "/")
    expect(page.locator("#chat .message").first).to_be_visible(timeout=30_000)
    return page


def say(page: Page, text: str) -> None:
    page.locator("#msg textarea").fill(text)
    page.locator("#send").click()


def in_viewport(page: Page, selector: str) -> bool:
    box = page.locator(selector).bounding_box()
    vp = page.viewport_size
    return (
        bool(box)
        and box["y"] >= 0
        and box["y"] + box["height"] <= vp["height"]
        and box["x"] + box["width"] <= vp["width"]
    )


def assert_in_view(page: Page, *selectors: str) -> None:
    """Each control needed next is on screen, whole, without scrolling (its bounding box inside the viewport)."""
    out = [(s, page.locator(s).bounding_box()) for s in selectors if not in_viewport(page, s)]
    assert not out, f"not in view at {page.viewport_size}: {out}"
    assert page.evaluate("document.scrollingElement.scrollTop") == 0


def assert_plain_labels(page: Page, lang: str) -> None:
    """`<html lang>` is the chosen language; no aria-label holds markup; no Gradio English name for a control."""
    assert page.evaluate("document.documentElement.lang") == lang
    labels = page.evaluate("[...document.querySelectorAll('[aria-label]')].map(e => e.getAttribute('aria-label'))")
    assert not [x for x in labels if "<" in x or "'s message" in x or x == "chatbot conversation"], labels
    names = page.evaluate(
        "[...document.querySelectorAll('[data-testid=block-info]')].filter(e => e.closest('#news, #moved') === null)"
        ".map(e => e.textContent.trim())"
    )
    assert not {"Radio", "Textbox", "Chatbot"} & set(names), names


def no_gradio_error(page: Page) -> None:
    assert page.locator(".toast-body, .error").count() == 0 or not page.locator(".toast-body").is_visible()
    assert not page.get_by_text("didn't return enough output values").count()


def test_desktop_topic_first_live_chat_typing_looks_and_rating(venue, browser, mario):
    page = open_page(browser, venue.url, DESKTOP)
    chat, status = page.locator("#chat"), page.locator("#status")
    # the venue's name and colour
    expect(page.locator(".sp-header h1")).to_have_text("Museo Civico di Valmora")
    color = page.evaluate("getComputedStyle(document.querySelector('#send')).backgroundColor")
    assert color == "rgb(11, 83, 148)", color
    expect(page.locator(".sp-banner")).to_have_count(0)  # no business hours set: always open
    assert_in_view(page, "#msg textarea", "#send", "#ask-person", "#chip-0")
    font = page.evaluate("getComputedStyle(document.querySelector('#chat .sp-text')).fontFamily")
    assert font.startswith("system-ui") and "Montserrat" not in font, font
    for label in ("Italiano", "English"):  # the language switch is whole
        assert page.locator(f"#lang-switch label:has-text('{label}')").evaluate("e => e.clientWidth > 60"), label

    # an empty or all-spaces send: a gentle hint, nothing sent, the chat stays
    before = page.locator("#chat .message-content").count()
    say(page, "    ")
    expect(page.locator("#notice .sp-notice-hint")).to_have_text("Scriva prima un messaggio, poi prema Invia.")
    time.sleep(0.3)
    assert page.locator("#chat .message-content").count() == before
    no_gradio_error(page)

    # "talk to a person" before any question: what is it about?
    mario.online()
    page.locator("#ask-person").click()
    expect(status).to_contain_text("Scriva in breve di che cosa si tratta", timeout=10_000)
    expect(chat).to_contain_text("di che cosa si tratta")
    expect(page.locator("#offer-decline")).to_have_text("No, grazie")
    expect(page.locator("#offer-accept")).to_be_hidden()
    assert_in_view(page, "#offer-decline", "#msg textarea", "#send")
    assert mario.get("pending_sessions")["sessions"] == []
    say(page, "Ho dimenticato un ombrello nel guardaroba")
    expect(status).to_contain_text("In coda per un operatore: posizione 1.", timeout=10_000)
    assert_in_view(page, "#status", "#msg textarea", "#send")
    pending = wait_until(lambda: mario.get("pending_sessions")["sessions"])
    assert pending[0]["original_question"] == "Ho dimenticato un ombrello nel guardaroba"
    sid = pending[0]["session_id"]

    # each kind of message has its look; system lines are centred, with a time
    mario.take(sid)
    system = page.locator("#chat .sp-system", has_text="Ora l'assiste Mario.")
    expect(system).to_be_visible(timeout=3_000)
    # measured once laid out: a chat redraw between the check and the measure can hand over a detached line (0 wide)
    centre = wait_until(
        lambda: system.evaluate(
            "e => { const r = e.getBoundingClientRect(), w = document.querySelector('#chat .message-wrap')"
            ".getBoundingClientRect(); return r.width > 0 ? [r.x + r.width / 2, w.x + w.width / 2] : null; }"
        ),
        timeout=3,
    )
    assert abs(centre[0] - centre[1]) < 60, centre  # centred, not on the assistant's side
    expect(page.locator("#chat .sp-bot").first).to_have_text("Assistente virtuale")
    expect(page.locator("#chat .sp-time").first).to_have_text(__import__("re").compile(r"^\d\d:\d\d$"))

    # the operator types: "Mario sta scrivendo…" within the poll, gone with the message
    mario.post("typing", {"session_id": sid})
    expect(chat.locator(".sp-typing")).to_have_text("Mario sta scrivendo…", timeout=2_000)
    mario.send(sid, "Buongiorno! Di che colore è l'ombrello?")
    op_msg = page.locator("#chat .message-content", has_text="Di che colore")
    expect(op_msg.locator(".sp-avatar")).to_have_text("M", timeout=2_000)
    expect(op_msg.locator(".sp-author")).to_contain_text("Mario")
    expect(chat.locator(".sp-typing")).to_have_count(0)
    say(page, "Blu, con il manico di legno.")
    expect(page.locator("#chat .message-content").last).to_contain_text("Blu, con il manico di legno.", timeout=5_000)
    expect(page.locator("#chat .message-content").last.locator(".sp-time")).to_be_visible(timeout=5_000)  # stored
    assert_in_view(page, "#status", "#msg textarea", "#send")
    expect(page.locator("#status .sp-phase")).to_have_attribute("data-busy", "0")  # Send is not busy any more
    assert_plain_labels(page, "it")
    assert_accessible(page, "the visitor page, desktop, Italian, live chat")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "visitor-page.png"))

    # released: the rating form; a 4 with a comment, then thanks and no form
    ticket_id = mario.release(sid, "trovato")["ticket"]["id"]
    expect(page.locator("#rating")).to_be_visible(timeout=10_000)
    assert_in_view(page, "#rate-score", "#rate-comment textarea", "#rate-submit", "#new-chat")
    page.locator("#rate-score label", has_text="4").click()
    page.locator("#rate-comment textarea").fill("Gentilissimo")
    page.locator("#rate-submit").click()
    expect(page.locator("#notice")).to_contain_text("Grazie per la sua valutazione!", timeout=5_000)
    expect(page.locator("#rating")).to_be_hidden()
    ticket = mario.http.get(f"/api/tickets/{ticket_id}").json()["ticket"]
    assert (ticket["rating"], ticket["rating_comment"]) == (4, "Gentilissimo")

    # an AI-resolved conversation can be rated too ("rate this conversation")
    page.locator("#new-chat").click()
    expect(page.locator("#rate-open")).to_be_hidden()  # nothing asked yet
    page.locator("#chip-0").click()
    expect(chat).to_contain_text("€", timeout=15_000)
    assert_in_view(page, "#rate-open", "#ask-person", "#msg textarea")
    page.locator("#rate-open").click()
    expect(page.locator("#rating")).to_be_visible()
    assert_in_view(page, "#rate-score", "#rate-submit", "#msg textarea")
    page.locator("#rate-score label", has_text="5").click()
    page.locator("#rate-submit").click()
    expect(page.locator("#notice")).to_contain_text("Grazie per la sua valutazione!", timeout=5_000)
    expect(page.locator("#rate-open")).to_be_hidden()
    no_gradio_error(page)
    assert not page.errors
    page.close()


def test_phone_offer_contact_form_in_view_language_switch_and_texts(venue, browser):
    page = open_page(browser, venue.url, PHONE)
    # the language switch is whole on screen
    for label in ("Italiano", "English"):
        item = page.locator(f"#lang-switch label:has-text('{label}')")
        assert in_viewport(page, f"#lang-switch label:has-text('{label}')"), label
        assert item.evaluate("e => e.scrollWidth <= e.clientWidth + 1 && e.clientWidth > 40"), label  # not squeezed
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    assert_in_view(page, "#msg textarea", "#send", "#ask-person")
    assert_plain_labels(page, "it")
    assert_accessible(page, "the visitor page, phone, Italian")
    say(page, HARD)  # nobody online: the offer, then the contact form
    expect(page.locator("#offer-accept")).to_be_visible(timeout=15_000)
    assert_in_view(page, "#offer-accept", "#offer-decline", "#msg textarea", "#send")
    page.locator("#offer-accept").click()
    expect(page.locator("#contact")).to_be_visible(timeout=10_000)
    assert_in_view(page, "#contact-method", "#contact-value input", "#contact-submit", "#msg textarea")
    expect(page.locator("#status")).to_contain_text("ci lasci un contatto e la ricontatteremo")

    # "123" is too short, said as such
    page.locator("#contact-method label", has_text="Telefono").click()
    page.locator("#contact-value input").fill("123")
    page.locator("#contact-submit").click()
    expect(page.locator("#contact-error")).to_have_text(
        "Questo numero di telefono è troppo corto: servono almeno 6 cifre."
    )
    assert_in_view(page, "#contact-error", "#contact-value input", "#contact-submit")
    page.screenshot(path=str(SHOTS / "visitor-phone.png"))
    # an email: "all'indirizzo", never "la richiameremo"
    page.locator("#contact-method label", has_text="Email").click()
    page.locator("#contact-value input").fill("anna@example.org")
    page.locator("#contact-submit").click()
    expect(page.locator("#chat")).to_contain_text("le scriveremo all'indirizzo anna@example.org", timeout=10_000)
    assert "richiameremo" not in page.locator("#chat").inner_text()
    assert_in_view(page, "#new-chat", "#status")
    # English mid-chat: the page's language, its labels and axe in English
    page.locator("#lang-switch label", has_text="English").click()
    expect(page.locator("#new-chat")).to_have_text("New conversation")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    assert_plain_labels(page, "en")
    assert_accessible(page, "the visitor page, phone, English, after a ticket")
    assert not page.errors
    page.close()


def test_phone_did_you_mean_is_a_labelled_lighter_button(venue, browser):
    page = open_page(browser, venue.url, PHONE, lang="en-GB,en;q=0.9")
    say(page, "how long can I stay tonight?")
    suggest, decline = page.locator("#offer-suggest"), page.locator("#offer-decline")
    expect(suggest).to_have_text("What are your opening hours?", timeout=15_000)  # the question alone
    expect(decline).to_have_text("No, thanks")
    bg = suggest.evaluate("e => getComputedStyle(e).backgroundColor")
    assert bg in ("rgba(0, 0, 0, 0)", "transparent"), bg
    assert bg != decline.evaluate("e => getComputedStyle(e).backgroundColor")
    assert suggest.evaluate("e => getComputedStyle(e).borderStyle") == "dashed"
    suggest.click()
    expect(page.locator("#chat")).to_contain_text("The museum is open Tuesday to Sunday", timeout=15_000)
    assert not page.errors
    page.close()


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_suggested_questions_are_buttons_that_ask_in_one_click(venue, browser, viewport):
    """Issue 25: up to 3 questions beside "talk to a person"; side by side on a wide screen, stacked on a phone,
    never past the screen's edge; one click asks one."""
    page = open_page(browser, venue.url, viewport, lang="en-GB,en;q=0.9")
    say(page, "how long can I stay tonight?")
    expect(page.locator("#offer-suggest")).to_have_text("What are your opening hours?", timeout=15_000)
    buttons = page.locator("#offer .sp-suggest:visible")
    expect(buttons).to_have_count(3)
    accept, decline = page.locator("#offer-accept"), page.locator("#offer-decline")
    expect(accept).to_be_visible()
    boxes = [buttons.nth(i).bounding_box() for i in range(3)]
    for box in [*boxes, accept.bounding_box(), decline.bounding_box()]:
        assert box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"] + 0.5, box
    tops = [b["y"] for b in boxes]
    if viewport is PHONE:  # one under the other, full width
        assert tops == sorted(tops) and len(set(tops)) == 3
        assert all(b["width"] > viewport["width"] * 0.8 for b in boxes)
    else:  # one line
        assert max(tops) - min(tops) < 2
    assert_in_view(page, "#offer-suggest", "#offer-suggest-1", "#offer-suggest-2", "#offer-accept", "#msg textarea")
    line = float(buttons.nth(0).evaluate("e => parseFloat(getComputedStyle(e).lineHeight)"))
    assert all(b["height"] <= 2 * line + 16 for b in boxes), (boxes, line)  # at most two lines, never six
    below = max(b["y"] + b["height"] for b in boxes)
    assert accept.bounding_box()["y"] >= below - 1  # "talk to a person" on the next line, with "no thanks"
    assert abs(accept.bounding_box()["y"] - decline.bounding_box()["y"]) < 2
    if viewport is DESKTOP:  # English on a desktop (Italian and the phone: the tests above)
        assert_plain_labels(page, "en")
        assert_accessible(page, "the visitor page, desktop, English, the offer")
    name = "desktop" if viewport is DESKTOP else "phone"
    page.screenshot(path=str(SHOTS / f"visitor-suggestions-{name}.png"))
    question = buttons.nth(1).inner_text()
    buttons.nth(1).click()
    expect(page.locator("#offer")).to_be_hidden(timeout=15_000)
    expect(page.locator("#chat")).to_contain_text(question)
    assert not page.errors
    page.close()


def test_outside_business_hours_banner_and_straight_to_the_contact_form(closed, browser):
    page = open_page(browser, closed.url, PHONE)
    expect(page.locator(".sp-banner")).to_contain_text("torniamo domani alle 9:00")
    assert_in_view(page, ".sp-banner", "#msg textarea", "#send", "#ask-person")  # the banner hides nothing
    page.locator("#lang-switch label", has_text="English").click()
    expect(page.locator(".sp-banner")).to_contain_text("we are back tomorrow at 9:00")
    page.locator("#lang-switch label", has_text="Italiano").click()
    # Italian again before going on (the switch is a round trip: a click before it is back was answered in English)
    expect(page.locator(".sp-banner")).to_contain_text("torniamo domani alle 9:00")
    page.locator("#ask-person").click()  # closed: what it is about first (the ticket needs it), then the form
    expect(page.locator("#chat")).to_contain_text("di che cosa si tratta", timeout=10_000)
    say(page, "Ho perso un ombrello")
    expect(page.locator("#contact")).to_be_visible(timeout=10_000)
    expect(page.locator("#chat")).to_contain_text("In questo momento il servizio è chiuso: torniamo domani alle 9:00.")
    assert_in_view(page, ".sp-banner", "#contact-value input", "#contact-submit", "#msg textarea")
    assert not page.errors
    page.close()
