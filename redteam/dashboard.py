"""Findings seen through the operator dashboard, driven by Debian's chromium (Playwright).

- visitor_markdown: a visitor's `![x](url)` / `[text](url)` must stay text on every page.
- teach_unreviewed: a non-admin's new KB entry must not change the next visitor's answer (until an admin
  approves it).
- undo_by_other: a non-admin cannot undo another operator's label.
- dashboard_signin_spray: 25 usernames sprayed from one address end in a lockout.

All browser work runs in one thread (Playwright's sync API is bound to its thread).
"""

from __future__ import annotations

import contextlib
import time

import httpx

from redteam import seed as S
from redteam.harness import PASSWORD, Context, Result, Visitor, failed, passed, verdict

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--disable-quic"]
PAGES = ("Live", "Ticket", "Conversazioni", "Analisi")


class Browser:
    """One chromium for the whole suite; a fresh context (no shared cookies) per operator."""

    def __init__(self):
        from playwright.sync_api import sync_playwright

        self._pw = sync_playwright().start()
        self.browser = self._pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)

    def page(self):
        context = self.browser.new_context()
        context.set_default_timeout(20_000)
        return context.new_page()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.browser.close()
        with contextlib.suppress(Exception):
            self._pw.stop()


def browser(ctx: Context) -> Browser:
    if "browser" not in ctx.seed:
        ctx.seed["browser"] = Browser()
        ctx.cleanups.append(ctx.seed["browser"].close)
    return ctx.seed["browser"]


def sign_in(ctx: Context, username: str):
    app = S.start_main_app(ctx)
    page = browser(ctx).page()
    page.goto(app.url + "/dashboard/")
    page.get_by_label("Nome utente").fill(username)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Entra").click()
    page.get_by_text("Live: coda e chat").wait_for()
    return page


def open_page(page, title: str) -> None:
    # Client-side navigation: a fresh URL would start a new Streamlit session, signed out.
    # Not "networkidle": the Live page's check ticks every 0.5 s, so the network is never idle.
    link = page.locator('[data-testid="stSidebarNav"] a', has_text=title).first
    href = link.get_attribute("href") or ""
    link.click()
    page.wait_for_url("**" + href.rsplit("/", 1)[-1])
    page.locator('[data-testid="stMain"]').wait_for()
    time.sleep(1.0)  # the page's first run


def label(page, question_start: str, option: str, kb: dict | None = None) -> str:
    """On Analisi, label the unanswered question that starts with `question_start`; returns the notice.
    Tried twice: Streamlit may redraw the page under the first try."""
    try:
        return _label(page, question_start, option, kb)
    except Exception:
        time.sleep(1.0)
        return _label(page, question_start, option, kb)


def _label(page, question_start: str, option: str, kb: dict | None) -> str:
    open_page(page, "Live")
    open_page(page, "Analisi")
    head = page.get_by_text(f"Etichetta: {question_start}").first
    head.wait_for()
    head.click()
    box = page.locator('[data-testid="stExpander"]', has_text=f"Etichetta: {question_start}").first
    select = box.locator('[data-testid="stSelectbox"]').first
    for attempt in range(5):  # a rerun that redraws the box can swallow the click that opens it, or close the list
        select.click()
        page.keyboard.type(option)
        try:
            page.locator("[role=option]", has_text=option).first.click(
                timeout=3_000
            )  # a click: Enter is lost in a rerun
            break
        except Exception:
            if attempt == 4:
                raise
            page.keyboard.press("Escape")
    box.get_by_role("button", name="Salva etichetta").and_(box.locator("button:enabled")).wait_for(timeout=10_000)
    if kb:
        for field, value in kb.items():
            box.get_by_label(field, exact=True).fill(value)
    box.get_by_role("button", name="Salva etichetta").click()
    notice = page.locator('[data-testid="stAlert"], [data-testid="stToast"]').last
    with contextlib.suppress(Exception):
        notice.wait_for(timeout=8_000)
    time.sleep(0.5)
    texts = page.locator('[data-testid="stAlert"], [data-testid="stToast"]').all_inner_texts()
    return " | ".join(t.strip() for t in texts)[:200]


def admin_page(ctx: Context):
    """The admin's signed-in page, shared by the probes of the browser lane."""
    if "admin_page" not in ctx.seed:
        ctx.seed["admin_page"] = sign_in(ctx, S.ADMIN)
    return ctx.seed["admin_page"]


def erasure_labels(ctx: Context) -> None:
    """An admin labels the two questions that hold a visitor's contact and name (for privacy.py)."""
    if ctx.seed.get("erasure_labelled"):
        return
    page = admin_page(ctx)
    label(page, S.ERASE_EMAIL_Q[:20], "persona")
    label(page, S.ERASE_PHONE_Q[:20], "persona")
    ctx.seed["erasure_labelled"] = True


# ---------------------------------------------------------------------------------------------- probes
def visitor_markdown(ctx: Context) -> Result:
    name = "visitor_markdown"
    app = S.start_main_app(ctx)
    beacon = ctx.seed["beacon"]
    payload, img, link = ctx.seed["markdown"]
    beacon_host = link.split("/")[2]  # host:port of the beacon
    page = admin_page(ctx)
    try:
        # With an operator online, one more visitor waits in the Live queue with the payload.
        v = Visitor(app)
        try:
            v.say(payload)
            v.http.post(f"/api/chat/sessions/{v.session_id}/operator", json={"accept": True})
        finally:
            v.close()
        found = []
        for title in PAGES:
            open_page(page, title)
            time.sleep(1.0)
            imgs = page.locator(f'img[src^="{img}"]').count()
            # Any link to the beacon's host: a Markdown link, or a bare address GFM would autolink.
            links = page.locator(f'a[href*="{beacon_host}"], a[href^="mailto:"]').count()
            if imgs or links:
                found.append(f"{title}: {imgs} <img>, {links} <a>")
    finally:
        ctx.seed.pop("admin_page", None)
        page.context.close()
    fetched = [h for h in beacon.hits if h.startswith("/x.png")]
    ok = not found and not fetched
    evidence = "; ".join(found) or "no <img>/<a> from the payload on " + ", ".join(PAGES)
    return verdict(name, ok, f"{evidence}; beacon requests: {len(fetched)}")


def teach_unreviewed(ctx: Context) -> Result:
    name = "teach_unreviewed"
    app = S.start_main_app(ctx)
    page = sign_in(ctx, S.OPERATOR)
    try:
        kb = {
            "Risposta (italiano)": f"Sì, {S.TEACH_MARK} in biglietteria.",
            "Domanda (inglese)": "Do you have the RTQ99 notebook for school classes?",
            "Risposta (inglese)": f"Yes, {S.TEACH_MARK} at the ticket desk.",
        }
        notice = label(page, S.TEACH_Q[:20], "nuova voce KB", kb)
    finally:
        page.context.close()
    rows = app.query("SELECT id, operator_name, undone_at FROM labels WHERE question = ?", (S.TEACH_Q,))
    ctx.seed["taught_label"] = rows[0][0] if rows else None
    # The app reloads the learned files within about a second: ask for up to 4 s.
    served = None
    end = time.monotonic() + 4
    while time.monotonic() < end and served is None:
        v = Visitor(app)
        try:
            texts = [m["text"] for m in v.say(S.TEACH_Q)["messages"] if m["role"] == "bot"]
        finally:
            v.close()
        served = next((t for t in texts if S.TEACH_MARK in t), None)
        time.sleep(0.7)
    if not rows:
        return failed(name, f"could not set up: the non-admin's label was not stored (dashboard said {notice!r})")
    if served:
        return failed(name, f"a non-admin's KB entry (label #{rows[0][0]}) answered the next visitor: {served[:80]!r}")
    return passed(name, f"label #{rows[0][0]} stored; the next visitors within 4 s got no taught answer")


def undo_by_other(ctx: Context) -> Result:
    name = "undo_by_other"
    app = S.start_main_app(ctx)
    label_id = ctx.seed.get("taught_label")
    if label_id is None:
        rows = app.query("SELECT id FROM labels WHERE operator_name = 'Lucia Bianchi' ORDER BY id LIMIT 1")
        if not rows:
            teach_unreviewed(ctx)
            label_id = ctx.seed.get("taught_label")
        else:
            label_id = rows[0][0]
    if label_id is None:
        return failed(name, "could not set up: no label by the non-admin rt_lucia")
    page = sign_in(ctx, S.OTHER)
    offered = False
    try:
        open_page(page, "Analisi")
        undo_box = page.get_by_text("Etichetta da annullare")
        with contextlib.suppress(Exception):
            undo_box.first.wait_for(timeout=6_000)
        if undo_box.count():
            undo_box.first.locator("xpath=ancestor::*[@data-testid='stSelectbox'][1]").click()
            page.keyboard.type(f"#{label_id} ")
            option = page.locator("[role=option]", has_text=f"#{label_id} ")
            with contextlib.suppress(Exception):
                option.first.wait_for(timeout=3_000)
            if option.count():
                option.first.click()
                offered = True
                page.get_by_role("button", name="Annulla etichetta").click()
                time.sleep(2.0)
    finally:
        page.context.close()
    undone = app.query("SELECT undone_at, undone_by FROM labels WHERE id = ?", (label_id,))
    if undone and undone[0][0] is not None:
        return failed(name, f"non-admin rt_marco undid rt_lucia's label #{label_id} (undone_by={undone[0][1]!r})")
    how = "refused" if offered else "not offered"
    return passed(name, f"undo of rt_lucia's label #{label_id} by rt_marco {how}; the label stays active")


def dashboard_signin_spray(ctx: Context) -> Result:
    name = "dashboard_signin_spray"
    app = S.start_main_app(ctx)
    page = browser(ctx).page()
    texts: list[str] = []
    try:
        page.goto(app.url + "/dashboard/")
        user = page.get_by_label("Nome utente")
        user.wait_for()
        end = time.monotonic() + 25
        attempts = 0
        for i in range(26):
            if time.monotonic() > end:
                break
            user.fill(f"rt_spray_{i:02d}")
            page.get_by_label("Password", exact=True).fill("wrong-password-1")
            page.get_by_role("button", name="Entra").click()
            alert = page.locator('[data-testid="stAlert"]').first
            alert.wait_for()
            time.sleep(0.3)
            attempts += 1
        time.sleep(1.0)
        texts = page.locator('[data-testid="stAlert"]').all_inner_texts()
    finally:
        page.context.close()
    last = " ".join(texts).strip()
    locked = any(w in last.lower() for w in ("troppi", "too many", "bloccat", "locked"))
    # The API tells whether the address (not the names) was locked, for the evidence only.
    api = httpx.post(
        app.url + "/api/auth/login", json={"username": "rt_spray_x", "password": "wrong-password-1"}, timeout=10
    ).status_code
    return verdict(
        name,
        locked,
        f"{attempts} wrong sign-ins with distinct usernames from 127.0.0.1; last message {last[:90]!r} (API after: {api})",
    )
