"""Playwright driving Debian's chromium (no browser download).

Use as a context manager: `with chromium() as browser: page = browser.new_page()`, a browser with a profile
of its own. Tests that open several (a module's, its steps) share one browser instead:
`with chromium_browser() as browser:` once (tests/e2e/conftest.py's `shared_chromium`), then
`with fresh_context(browser) as ctx:` each, with cookies, storage and cache of its own as with a new
profile, without a launch: a test's first page costs ~0.85 s and ~1.3 s of CPU less (measured on the
visitor page: 1.85 s / 3.2 cpu-s with a new browser, 1.0 s / 1.9 cpu-s with a new context).
If chromium is missing the test fails with a clear message (never skips).
"""

from __future__ import annotations

import shutil
import tempfile
from contextlib import contextmanager

from playwright.sync_api import Page, expect, sync_playwright

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    # No TurboFan: V8 runs the pages' JavaScript (Gradio's, Streamlit's) in its interpreter and baseline compiler
    # only. The same JavaScript semantics; a test's pages live seconds, too short for optimised code to pay for
    # its compiling, which on this 2-core machine takes CPU from the servers under test. Measured, one worker:
    # test_visitor_page + test_visitor_widget 45 -> 38 s, test_visitor_experience + test_visitor_push 53.5 -> 50.6 s,
    # the dashboard's browser tests (signin_cookie, bugs_browser, live_push_browser) 54 -> 50 s.
    "--js-flags=--no-opt",
]


def _require_chromium() -> None:
    if not shutil.which("chromium") and not __import__("os").path.exists(CHROMIUM):
        raise AssertionError("Debian's chromium is required for browser tests: apt-get install chromium")


@contextmanager
def chromium(headless: bool = True):
    _require_chromium()
    with tempfile.TemporaryDirectory(prefix="sportello-chromium-") as profile:
        with sync_playwright() as pw:
            context = pw.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, headless=headless, args=ARGS
            )
            try:
                yield context
            finally:
                context.close()


def visitor_page(ctx, url: str, size: tuple[int, int], accept_language: str = "it-IT,it;q=0.9") -> Page:
    """A new tab of `ctx` on the visitor page at `url`, `size` (width, height) big, once its greeting shows."""
    page = ctx.new_page()
    page.set_viewport_size({"width": size[0], "height": size[1]})
    page.set_extra_http_headers({"Accept-Language": accept_language})
    page.goto(url + "/")
    expect(page.locator("#chat .message").first).to_be_visible(timeout=30_000)
    return page


@contextmanager
def chromium_browser(headless: bool = True):
    """A chromium for several tests: open each one's pages in `fresh_context(browser)`."""
    _require_chromium()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=headless, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def fresh_context(browser):
    """A new context of `browser`: its own cookies, storage and cache, as a new profile; closed at the end."""
    context = browser.new_context()
    try:
        yield context
    finally:
        context.close()
