"""The embed widget: one `<script src="https://HOST/widget.js"></script>` on a venue's own site adds a launcher
bubble that opens the visitor page (served by Sportello, in an iframe, in its compact `?embed=1` mode) in a
floating panel.

- `GET /widget.js`: the script. It reads its options from its own tag (`data-lang`, `data-color`,
  `data-position`, `data-title`), builds the bubble and the panel in a shadow root (the venue's CSS does not reach
  them), creates the iframe on the first open only (a page view costs Sportello nothing), closes on Esc (also
  when the focus is inside the chat: the page posts `sportello:close` to its parent) and on its close button,
  gives the focus back to the bubble, and reopens after a reload of the venue's page when it was open. The
  conversation survives a reload in the chat's own storage, or, where the browser refuses a frame on another site
  its storage, in the venue site's (the page's STORAGE_SHIM posts Gradio's encrypted state, the widget keeps it
  and hands it back in the frame address's fragment). Every text it shows is set with `textContent`.
- `EmbedHeaders`: the visitor page may be framed by the sites in `EMBED_ORIGINS` only
  (`Content-Security-Policy: frame-ancestors 'self' …`); with the setting empty any site may (as before). The API
  and the dashboard keep refusing frames (faces/api.py `SecurityHeaders`, faces/proxy.py).
"""

from __future__ import annotations

import json

from fastapi import APIRouter
from fastapi.responses import Response

from sportello.config import visitor_color

# Everything the widget itself says, in Italian and English (the chat's own texts are the page's).
LABELS: dict[str, dict[str, str]] = {
    "open": {"it": "Apri la chat con il museo", "en": "Open the chat with the museum"},
    "close": {"it": "Chiudi la chat", "en": "Close the chat"},
    "title": {"it": "Sportello informazioni", "en": "Visitor help desk"},
    "frame": {"it": "Chat con il museo", "en": "Chat with the museum"},
}

WIDGET_JS = r"""(function () {
  'use strict';
  var CFG = __CONFIG__;
  var me = document.currentScript;
  if (!me || window.__sportelloWidget) return;
  window.__sportelloWidget = true;
  var base = me.src.replace(/\/widget\.js(?:[?#].*)?$/, '');
  var origin = new URL(base, location.href).origin;
  var data = me.dataset || {};
  var want = (data.lang || document.documentElement.lang || navigator.language || 'it').slice(0, 2).toLowerCase();
  var lang = want === 'en' ? 'en' : 'it';
  var color = /^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$/.test(data.color || '') ? data.color : CFG.color;
  var left = data.position === 'left';
  var L = function (key) { return CFG.labels[key][lang]; };
  var KEY = 'sportello-widget-open';
  var STATE = 'sportello-widget-state';  // the chat's (encrypted) state when its frame may not keep it itself

  var host = document.createElement('div');
  host.id = 'sportello-widget';
  var root = host.attachShadow({ mode: 'open' });
  var side = left ? 'left' : 'right';
  var style = document.createElement('style');
  style.textContent = [
    ':host { all: initial; }',
    '.launcher { position: fixed; bottom: 20px; ' + side + ': 20px; z-index: 2147483000; width: 60px;',
    '  height: 60px; border-radius: 50%; border: 0; background: ' + color + '; color: #fff; cursor: pointer;',
    '  box-shadow: 0 4px 14px rgba(0,0,0,.3); display: flex; align-items: center; justify-content: center; }',
    '.launcher:focus-visible, .close:focus-visible { outline: 3px solid #111; outline-offset: 3px; }',
    '.launcher svg { width: 30px; height: 30px; fill: currentColor; }',
    '.panel { position: fixed; bottom: 92px; ' + side + ': 20px; z-index: 2147483001; width: 400px;',
    '  height: min(680px, calc(100vh - 112px)); background: #fff; border-radius: 14px; overflow: hidden;',
    '  box-shadow: 0 10px 40px rgba(0,0,0,.35); display: flex; flex-direction: column;',
    '  font: 15px/1.3 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }',
    '.panel[hidden] { display: none; }',
    '.bar { display: flex; align-items: center; justify-content: space-between; gap: 8px; padding: 8px 8px 8px 14px;',
    '  background: ' + color + '; color: #fff; }',
    '.bar h2 { margin: 0; font-size: 15px; font-weight: 600; white-space: nowrap; overflow: hidden;',
    '  text-overflow: ellipsis; }',
    '.close { border: 0; background: transparent; color: #fff; width: 36px; height: 36px; border-radius: 8px;',
    '  cursor: pointer; font-size: 24px; line-height: 1; flex: none; }',
    '.close:hover { background: rgba(255,255,255,.18); }',
    'iframe { border: 0; width: 100%; flex: 1 1 auto; min-height: 0; display: block; }',
    '@media (max-width: 520px) {',
    '  .panel { left: 0; right: 0; bottom: 0; top: 0; width: auto; height: auto; border-radius: 0; }',
    '}'
  ].join('\n');
  root.appendChild(style);

  var launcher = document.createElement('button');
  launcher.type = 'button';
  launcher.className = 'launcher';
  launcher.setAttribute('aria-label', L('open'));
  launcher.setAttribute('aria-expanded', 'false');
  launcher.setAttribute('aria-controls', 'sportello-panel');
  launcher.innerHTML = '<svg viewBox="0 0 24 24" aria-hidden="true" focusable="false"><path d="M4 3h16a2 2 0 0 1 ' +
    '2 2v11a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2zm3 6.5a1.5 1.5 0 1 0 0 .01zm5 0a1.5 1.5 0 1 0 ' +
    '0 .01zm5 0a1.5 1.5 0 1 0 0 .01z"/></svg>';

  var panel = document.createElement('div');
  panel.className = 'panel';
  panel.id = 'sportello-panel';
  panel.hidden = true;
  panel.setAttribute('role', 'dialog');
  panel.setAttribute('aria-label', data.title || CFG.name || L('title'));
  var bar = document.createElement('div');
  bar.className = 'bar';
  var heading = document.createElement('h2');
  heading.textContent = data.title || CFG.name || L('title');
  var close = document.createElement('button');
  close.type = 'button';
  close.className = 'close';
  close.setAttribute('aria-label', L('close'));
  close.textContent = '\u00d7';
  bar.appendChild(heading);
  bar.appendChild(close);
  panel.appendChild(bar);
  root.appendChild(panel);
  root.appendChild(launcher);

  var frame = null;
  function remember(open) {
    try { if (open) sessionStorage.setItem(KEY, '1'); else sessionStorage.removeItem(KEY); } catch (e) { /* off */ }
  }
  function open(focus) {
    if (!frame) {
      frame = document.createElement('iframe');
      frame.title = L('frame');
      var state = null;
      try { state = localStorage.getItem(STATE); } catch (e) { /* off */ }
      frame.src = base + '/?embed=1&lang=' + lang + (state ? '#sp=' + encodeURIComponent(state) : '');
      frame.allow = 'clipboard-write';
      panel.appendChild(frame);
    }
    panel.hidden = false;
    launcher.setAttribute('aria-expanded', 'true');
    remember(true);
    if (focus !== false) setTimeout(function () { frame.focus(); }, 0);
  }
  function shut() {
    if (panel.hidden) return;
    panel.hidden = true;
    launcher.setAttribute('aria-expanded', 'false');
    remember(false);
    launcher.focus();
  }
  launcher.addEventListener('click', function () { if (panel.hidden) open(); else shut(); });
  close.addEventListener('click', shut);
  document.addEventListener('keydown', function (e) { if (e.key === 'Escape') shut(); });
  root.addEventListener('keydown', function (e) { if (e.key === 'Escape') shut(); });
  window.addEventListener('message', function (e) {
    if (e.origin !== origin || !frame || e.source !== frame.contentWindow) return;
    if (e.data === 'sportello:close') shut();
    else if (e.data && e.data.sportello === 'store' && typeof e.data.data === 'object') {
      try { localStorage.setItem(STATE, JSON.stringify(e.data.data)); } catch (err) { /* off */ }
    }
  });
  window.SportelloWidget = { open: open, close: shut };
  function mount() {
    document.body.appendChild(host);
    var was = false;
    try { was = sessionStorage.getItem(KEY) === '1'; } catch (e) { /* off */ }
    if (was) open(false);
  }
  if (document.body) mount(); else document.addEventListener('DOMContentLoaded', mount);
})();
"""


def widget_script(settings) -> str:
    """The script, with the venue's name and colour (VENUE_NAME, VENUE_PRIMARY_COLOR) and the labels."""
    config = {
        "color": visitor_color(settings),
        "name": getattr(settings, "venue_name", "") or "",
        "labels": LABELS,
    }
    # json.dumps escapes quotes; "<" is escaped too so that no "</script>" can appear in the served text.
    return WIDGET_JS.replace("__CONFIG__", json.dumps(config, ensure_ascii=True).replace("<", "\\u003c"))


def create_widget_router(settings) -> APIRouter:
    router = APIRouter()
    script = widget_script(settings).encode("utf-8")

    @router.get("/widget.js", include_in_schema=False)
    def widget_js():
        # Short cache: a venue's page picks up a new colour or version within minutes.
        return Response(
            script,
            media_type="text/javascript; charset=utf-8",
            headers={"Cache-Control": "public, max-age=300", "Cross-Origin-Resource-Policy": "cross-origin"},
        )

    return router


def frame_ancestors(origins: tuple[str, ...]) -> bytes | None:
    """The CSP that lets these sites (and Sportello itself) frame the page; None: any site may."""
    if not origins:
        return None
    return ("frame-ancestors 'self' " + " ".join(origins)).encode("ascii")


class EmbedHeaders:
    """Pure ASGI middleware: the visitor page's routes (everything but `/api/` and `/dashboard/`, which refuse
    frames themselves) say which sites may frame them, from EMBED_ORIGINS. A response with a policy of its own
    (the visitor's ticket page: no frames at all) keeps it."""

    def __init__(self, app, origins: tuple[str, ...], skip: tuple[str, ...] = ("/api/", "/dashboard")):
        self.app = app
        self.csp = frame_ancestors(origins)
        self.skip = skip

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or self.csp is None or scope["path"].startswith(self.skip):
            await self.app(scope, receive, send)
            return

        async def send_with_csp(message):
            headers = message.get("headers") or ()
            if message["type"] == "http.response.start" and not any(
                k.lower() == b"content-security-policy" for k, _ in headers
            ):
                message = {**message, "headers": [*headers, (b"content-security-policy", self.csp)]}
            await send(message)

        await self.app(scope, receive, send_with_csp)
