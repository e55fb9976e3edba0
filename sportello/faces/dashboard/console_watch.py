"""The console's watcher in the browser: it asks the API "anything new for me after version V?" and wakes
the page only when the answer is yes.

A small `st.components.v2` component (its script runs in the dashboard's page, no iframe; one loop per
page) long-polls `GET /api/operators/console?after=V` (faces/console_stream.py; same origin through the
app's /dashboard/ proxy, authorised by the operator's HttpOnly sign-in cookie, so the token never reaches a
script). The server answers when the console's version changes (or after a while with the same version:
the script asks again). On a new version it sends a trigger: the page's callback (ui.watch_ticker) looks at
its watches and reruns only the fragments whose marker changed. An idle console sends no trigger at all:
no Streamlit run, one HTTP request per WAIT_S.

The same requests carry the operator's heartbeat (`beat=1` every `beat_ms`; no request waits longer than
that): a closed tab stops beating, an open one needs no Streamlit run to stay present.

Besides news:
- while someone waits, a look every `clock_ms` (the list's waiting times);
- a look `settle_ms` after news: a fragment run cut short by a newer request is redrawn then;
- no API in reach (the dashboard opened on its own port, without the app's proxy; the cookie not set yet):
  a look every `fallback_ms`, the endpoint tried again every `retry_ms` (2 s; the server-side check, as before).

`window.__spConsole` holds the loop's state (the browser tests and the benchmark read its counters).
Only a digest, a count and figures go through here: no text of anyone.
"""

from __future__ import annotations

import time

import streamlit as st

URL = "/api/operators/console"

JS = """
export default function (component) {
  const { data, setTriggerValue, parentElement } = component;
  const s = window.__spConsole = window.__spConsole ||
    { running: false, version: null, fromData: null, asks: 0, polls: 0, looks: 0, news: 0, fallback: false };
  s.send = setTriggerValue;
  s.el = parentElement;
  s.cfg = data;
  if (data.version !== s.fromData) {  // the page drew (or re-checked) this version: watch from it
    s.fromData = data.version;
    s.version = data.version;
    if (s.abort) s.abort.abort();
  }
  if (data.drawn !== s.drawn) {  // a run drew the watcher: after the browser's back or forward, the new page is shown
    s.drawn = data.drawn;
    if (s.leaving && s.leaving.back) s.leaving = null;
  }
  if (!s.navHooked) {  // once a page: a click on a link of the sidebar's navigation to another page, back or forward
    s.navHooked = true;
    document.addEventListener("click", (ev) => {
      const a = ev.target && ev.target.closest ? ev.target.closest("a[href]") : null;
      if (!a || !a.closest('[data-testid="stSidebarNav"]')) return;
      const to = new URL(a.href, location.href).pathname;
      if (to !== location.pathname) s.leaving = { at: Date.now(), from: location.pathname };
    }, true);
    window.addEventListener("popstate", () => { s.leaving = { at: Date.now(), back: true }; });
  }
  if (s.running) return;
  s.running = true;
  const sleep = (ms) => new Promise((done) => setTimeout(done, ms));
  const NAV_MS = 15000;  // a page that never comes (the server gone): the looks resume
  const alive = () => s.el && s.el.isConnected;
  // Leaving this page: from a click on another page's link until the browser shows that page (its address
  // changes when the server's run of it starts, together with the page Streamlit's next requests name); from the
  // browser's back or forward (the address changes at once) until a run draws the watcher again. A look
  // sent in between would name the page being left: run after the new page's, it made Streamlit clear the new
  // page's main area (the README's former known issue); folded into it, it drew the old page instead. The new
  // page's run draws everything from now, so a look skipped then loses nothing.
  const leaving = () => {
    const l = s.leaving;
    if (l && (Date.now() - l.at >= NAV_MS || (!l.back && location.pathname !== l.from))) s.leaving = null;  // over
    return Boolean(s.leaving);
  };
  // The log (the last 21 entries, for the tests and a person debugging): what, when (ms, mod 100 s), a detail.
  const note = (what, detail) => {
    s.log = (s.log || []).slice(-20).concat([what + "@" + (Date.now() % 100000) + (detail ? "#" + detail : "")]);
  };
  const look = (why, detail) => {
    if (!alive()) return;
    if (leaving()) {
      s.skipped = (s.skipped || 0) + 1;
      note("leaving-" + why);
      return;
    }
    s.looks += 1;
    s.lastLook = Date.now();
    note(why, detail);
    s.send("look", why + ":" + s.looks);
  };
  const settle = () => {
    clearTimeout(s.settleTimer);
    s.settleTimer = setTimeout(() => look("settle"), s.cfg.settle_ms);
  };
  s.lastLook = Date.now();
  s.lastBeat = 0;
  (async () => {
    let failedAt = 0, waiting = 0;
    while (alive()) {
      const cfg = s.cfg;
      if (failedAt && Date.now() - failedAt < cfg.retry_ms) {  // no API: the page looks by itself
        await sleep(cfg.fallback_ms);
        look("tick");
        continue;
      }
      const ctl = new AbortController();
      s.abort = ctl;
      const now = Date.now();
      const beat = now - s.lastBeat >= cfg.beat_ms - 250;
      if (beat) s.lastBeat = now;
      let wait = Math.max(0.5, (cfg.beat_ms - (now - s.lastBeat)) / 1000);  // back before the next beat is due
      if (waiting && cfg.clock_ms) wait = Math.min(wait, Math.max(1, (cfg.clock_ms - (now - s.lastLook)) / 1000));
      let out = null, why = "";
      s.asks += 1;
      s.fallback = false;  // asking the API (a long poll may take WAIT_S to answer)
      try {
        const res = await fetch(cfg.url + "?after=" + encodeURIComponent(s.version || "") + "&wait=" + wait + "&beat=" + (beat ? 1 : 0),
                                {credentials: "same-origin", cache: "no-store", signal: ctl.signal});
        why = String(res.status);
        if (res.ok && (res.headers.get("content-type") || "").includes("json")) out = await res.json();
      } catch (e) {
        if (ctl.signal.aborted) continue;  // a newer version from the page: ask again from it
        why = (e && e.name) || "error";
      }
      if (!out || typeof out.version !== "string") {
        note("unreached", why);  // why the API was out of reach: an HTTP status or an error's name
        failedAt = Date.now();
        s.fallback = true;
        continue;
      }
      failedAt = 0;
      s.polls += 1;
      waiting = out.waiting;
      if (out.version !== s.version) {
        s.version = out.version;
        s.news += 1;
        look("news", out.version.slice(0, 6));  // (the log: which version, a digest's start)
        settle();
      } else if (waiting && cfg.clock_ms && Date.now() - s.lastLook >= cfg.clock_ms - 50) {
        look("clock");
      }
    }
    s.running = false;
  })();
}
"""

_component = st.components.v2.component("sportello_console_watch", js=JS)


def listen(version: str, on_look, *, clock_s: float, fallback_s: float, beat_s: float, key: str) -> None:
    """Watch the console from `version` (what the page is drawing); `on_look()` runs (in a callback) on news,
    on the clock while someone waits, and after news settles; the API gets the operator's heartbeat every
    `beat_s`. Draw it inside a fragment of its own."""
    _component(
        data={
            "url": URL,
            "version": version,
            "clock_ms": int(clock_s * 1000),
            "settle_ms": 1500,
            "fallback_ms": int(fallback_s * 1000),
            "retry_ms": 2000,
            "beat_ms": int(beat_s * 1000),
            "drawn": time.time_ns(),  # this run's: the browser knows a run drew the watcher (after back/forward)
        },
        key=key,
        on_look_change=on_look,
    )
