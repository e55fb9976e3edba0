"""Shared helpers for the dashboard tests: a fake clock, a deterministic
answerer and a store seeded through ChatService calls (no test here).

The seeded store (days in Europe/Rome, winter time = UTC+1):

2025-03-09  #10 "Domanda vecchia"             no answer                   (outside the period)
2025-03-10  #1  prices                         AI                          -> ai
            #2  hours, then prices             AI                          -> ai
            #3  "Posso portare il cane?"       no answer, declines         -> ai
            #4  "Posso portare il cane"        no answer, queue 90 s, live 300 s -> operator
            #5  opens the chat, types nothing                              (not counted)
2025-03-11  #6  "Do you have coach parking?"   no answer, nobody free, email -> ticket
            #7  asks for a person              queued, never taken         -> no_outcome
            #8  "POSSO PORTARE IL CANE??"      no answer, queue 30 s, live 60 s -> operator
2025-03-12 23:30Z = 03-13 00:30 in Rome: #9 prices (outside a period ending 03-12)
"""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime

import httpx

from sportello.answering.bot import NO_ANSWER, OPERATOR_REQUEST, Answer
from sportello.services.chat import ChatService
from sportello.services.operators import OperatorService
from testkit.support import ROOT, TLS, ChildServer, wait_until

D0, D1, D2, D3 = date(2025, 3, 9), date(2025, 3, 10), date(2025, 3, 11), date(2025, 3, 12)
DOG = "Posso portare il cane?"
PARKING = "Do you have coach parking?"
PASSWORD = "password123"


class Clock:
    def __init__(self, start: float):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def at(self, iso: str) -> float:
        self.now = datetime.fromisoformat(iso).replace(tzinfo=UTC).timestamp()
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


class FakeAnswerer:
    """Prices and opening hours are known; "operatore"/"human" asks for a person."""

    def answer(self, question: str, lang: str | None = None) -> Answer:
        q = question.lower()
        if "costa" in q or "price" in q:
            return Answer(True, "Il biglietto costa 10 €.", "richiesta_prezzi", "it-003", 0.9, lang or "it")
        if "orari" in q or "hours" in q:
            return Answer(True, "Aperto 9-19.", "orari", "it-004", 0.9, lang or "it")
        if "operatore" in q or "human" in q:
            return Answer(False, "", OPERATOR_REQUEST, None, 0.0, lang or "it")
        return Answer(False, "", NO_ANSWER, None, 0.0, lang or "it")

    def reload_learned(self) -> None:
        pass


def operator_id(accounts: OperatorService, username: str) -> int:
    return accounts.by_username(username)["id"]


def make_operators(accounts: OperatorService) -> dict[str, int]:
    """mario (admin) and lucia, as the API tests have them."""
    mario = accounts.add("mario", "Mario Rossi", PASSWORD, is_admin=True, max_chats=3)
    lucia = accounts.add("lucia", "Lucia Bianchi", PASSWORD, max_chats=3)
    return {"mario": mario["id"], "lucia": lucia["id"]}


def online(accounts: OperatorService, op_id: int, now: float) -> None:
    """Online, last heard from at `now` (the dashboard's heartbeat)."""
    accounts.set_status(op_id, "online")
    accounts.heartbeat(op_id, now=now)


def seed(runtime) -> dict:
    """Build the store described in the module docstring; returns the session ids."""
    clock = Clock(0)
    svc = ChatService(runtime.store, FakeAnswerer(), runtime.settings, clock=clock)
    accounts = runtime.operators
    ids = make_operators(accounts)
    mario = ids["mario"]
    out: dict = {"operators": ids}

    def start(iso: str, lang: str = "it") -> dict:
        clock.at(iso)
        return svc.start_session(lang, "pytest/1.0")

    # D0: outside the period.
    s = start("2025-03-09T12:00:00")
    svc.visitor_message(s["session_id"], s["token"], "Domanda vecchia")
    out[10] = s["session_id"]

    # D1
    s = start("2025-03-10T09:00:00")
    svc.visitor_message(s["session_id"], s["token"], "Quanto costa il biglietto?")
    out[1] = s["session_id"]

    s = start("2025-03-10T09:10:00")
    svc.visitor_message(s["session_id"], s["token"], "Quali sono gli orari?")
    clock.advance(20)
    svc.visitor_message(s["session_id"], s["token"], "E quanto costa?")
    out[2] = s["session_id"]

    s = start("2025-03-10T09:20:00")
    svc.visitor_message(s["session_id"], s["token"], DOG)
    svc.answer_offer(s["session_id"], s["token"], False)
    out[3] = s["session_id"]

    s = start("2025-03-10T10:00:00")
    svc.visitor_message(s["session_id"], s["token"], "Posso portare il cane")
    online(accounts, mario, clock.now)
    svc.answer_offer(s["session_id"], s["token"], True)
    clock.advance(90)
    online(accounts, mario, clock.now)  # still at the desk: only a present operator takes a chat
    svc.take_chat(mario, s["session_id"])
    clock.advance(100)
    svc.operator_send(mario, s["session_id"], "Sì, se piccolo e in braccio.")
    clock.advance(200)
    svc.release_chat(mario, s["session_id"], "Informazioni fornite")
    out[4] = s["session_id"]

    s = start("2025-03-10T11:00:00")  # opened, nothing typed
    out[5] = s["session_id"]

    # D2
    s = start("2025-03-11T09:00:00", "en")
    svc.visitor_message(s["session_id"], s["token"], PARKING)
    accounts.set_status(mario, "away")
    svc.answer_offer(s["session_id"], s["token"], True)  # nobody available
    svc.submit_contact(s["session_id"], s["token"], "email", "anna@example.org")
    out[6] = s["session_id"]

    s = start("2025-03-11T10:00:00")
    svc.visitor_message(s["session_id"], s["token"], "voglio parlare con un operatore")
    online(accounts, mario, clock.now)
    svc.answer_offer(s["session_id"], s["token"], True)
    out[7] = s["session_id"]  # stays waiting: nobody takes it

    s = start("2025-03-11T11:00:00")
    svc.visitor_message(s["session_id"], s["token"], "POSSO PORTARE IL CANE??")
    online(accounts, mario, clock.now)
    svc.answer_offer(s["session_id"], s["token"], True)
    clock.advance(30)
    online(accounts, mario, clock.now)  # his console beats: present (HEARTBEAT_TIMEOUT_S)
    svc.take_chat(mario, s["session_id"])
    clock.advance(20)
    svc.operator_send(mario, s["session_id"], "Certo.")
    clock.advance(40)
    svc.release_chat(mario, s["session_id"], "Informazioni fornite")
    out[8] = s["session_id"]

    # 23:30 UTC on D3 is already the next day in Rome.
    s = start("2025-03-12T23:30:00")
    svc.visitor_message(s["session_id"], s["token"], "Quanto costa il biglietto?")
    out[9] = s["session_id"]

    accounts.set_status(mario, "offline")
    return out


def ticket_rows(at) -> list[int]:
    """(AppTest) The ticket numbers the Ticket page lists, in its order."""
    return [int(b.key.removeprefix("tk_row_")) for b in at.button if b.key and b.key.startswith("tk_row_")]


class DashboardServer(ChildServer):
    """`streamlit run dashboard.py` on a free port with its own DATA_DIR; stopped with its process group."""

    name = "dashboard"
    health_path = "/_stcore/health"

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(ROOT / "dashboard.py"),
            "--server.port",
            str(self.port),
            "--server.address",
            "127.0.0.1",
            "--server.headless",
            "true",
            "--server.fileWatcherType",
            "none",
            "--browser.gatherUsageStats",
            "false",
            "--client.toolbarMode",
            "minimal",
        ]


def streamlit_healthy(url: str, timeout: float = 2.0) -> bool:
    """Whether the Streamlit dashboard at `url` (its own port, or the app's `/dashboard` proxy) answers its
    health check."""
    try:
        return httpx.get(url + "/_stcore/health", timeout=timeout, verify=TLS).status_code == 200
    except httpx.HTTPError:
        return False


def wait_for_dashboard(app_url: str, timeout: float = 60.0) -> None:
    """Until the one-port app's /dashboard/ reaches Streamlit, which the app starts beside itself (its own
    health check does not wait for it): a page opened before gets the proxy's 502 page, which never turns into
    the sign-in form."""
    wait_until(lambda: streamlit_healthy(app_url + "/dashboard"), timeout=timeout, interval=0.05)


def sign_in_browser(page, url: str, username: str, password: str = PASSWORD) -> None:
    page.goto(url)
    page.get_by_label("Nome utente").fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Entra").click()
    page.get_by_text("Live: coda e chat").wait_for(timeout=30_000)


def choose(page, box, option: str, tries: int = 5) -> None:
    """Pick `option` in a Streamlit selectbox (`box`, a locator) in a browser. A rerun that redraws the box
    can swallow the click that opens it; then the list never shows and the box is clicked again."""
    for attempt in range(tries):
        box.click()
        item = page.get_by_role("option", name=option, exact=True)
        try:
            item.wait_for(timeout=3_000)
        except Exception:
            if attempt == tries - 1:
                raise
            page.keyboard.press("Escape")
            continue
        item.click()
        return


def open_page(page, link: str, ready, timeout_ms: int = 15_000) -> None:
    """Follow the sidebar's `link` until `ready` (a locator) shows. Once: a look of the console's watcher sent
    while the page was being left lost the click or blanked the new page (the README's former known issue,
    tests/e2e/test_dashboard_page_switch.py); the watcher sends none then."""
    page.get_by_role("link", name=link).click()
    ready.wait_for(timeout=timeout_ms)
