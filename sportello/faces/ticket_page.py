"""The visitor's ticket page: `GET /ticket/<token>` (a small server-rendered HTML page, not
Gradio, with the chat's look, Italian or English by the ticket's language, phone-friendly), its thread as
JSON (`GET /api/ticket/<token>`) and the reply (`POST /api/ticket/<token>/replies` `{"text"}` → 201).

Every text the visitor or an operator wrote is HTML-escaped; the page's one script (a nonce in its
Content-Security-Policy) posts the reply with fetch and reads the answer as text, never as HTML. The link is a
secret: the page is sent with `Referrer-Policy: no-referrer`, `Cache-Control: no-store` and `noindex`. An
unknown, expired or revoked link is a bare 404 (same body for each).
"""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations.
import html
import json
import secrets
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from sportello.domain import DomainError, NotFound
from sportello.domain.ticket_texts import NOT_FOUND, page_text
from sportello.faces.client_address import client_address
from sportello.services.ticket_replies import TicketReplies

PAGE_HEADERS = {
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex, nofollow",
    "X-Frame-Options": "DENY",
}
COLOR_DEFAULT = "#0b5394"

STYLE = """
:root { --sp-primary: %(color)s; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; background: #f4f5f7;
       color: #1f2328; }
main { max-width: 760px; margin: 0 auto; padding: 16px; }
header { display: flex; align-items: baseline; justify-content: space-between; gap: 8px; flex-wrap: wrap; }
h1 { font-size: 1.3rem; margin: 8px 0; color: var(--sp-primary); }
.venue { color: #57606a; font-size: .95rem; }
.status { font-size: .9rem; color: #57606a; }
.thread { display: flex; flex-direction: column; gap: 10px; margin: 16px 0; }
.msg { max-width: 85%%; padding: 10px 14px; border-radius: 16px; white-space: pre-wrap; overflow-wrap: anywhere;
       background: #fff; border: 1px solid #d0d7de; }
.msg .who { display: block; font-size: .8rem; color: #57606a; margin-bottom: 2px; }
.msg.visitor { align-self: flex-end; background: var(--sp-primary); color: #fff; border-color: transparent; }
.msg.visitor .who { color: rgba(255,255,255,.85); }
.msg.question { align-self: flex-end; background: #e7eef7; }
.empty { color: #57606a; font-style: italic; }
form { display: flex; flex-direction: column; gap: 8px; position: sticky; bottom: 0; background: #f4f5f7;
       padding: 8px 0; }
textarea { width: 100%%; min-height: 90px; padding: 10px; font: inherit; border: 1px solid #d0d7de;
           border-radius: 12px; resize: vertical; }
button { align-self: flex-end; min-width: 120px; min-height: 44px; padding: 8px 18px; border: 0; border-radius: 22px;
         background: var(--sp-primary); color: #fff; font: inherit; font-weight: 600; cursor: pointer; }
button:disabled { opacity: .6; }
#notice { min-height: 1.4em; font-size: .95rem; }
#notice.error { color: #b42318; }
@media (max-width: 480px) { main { padding: 10px; } .msg { max-width: 95%%; } }
"""

SCRIPT = """
const form = document.getElementById("reply-form");
const notice = document.getElementById("notice");
form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const box = document.getElementById("reply-text");
  const button = form.querySelector("button");
  const text = box.value.trim();
  if (!text) return;
  if (text.length > %(max)d) { notice.className = "error"; notice.textContent = %(too_long)s; return; }
  button.disabled = true; notice.className = ""; notice.textContent = %(sending)s;
  try {
    const r = await fetch(%(action)s, {method: "POST", headers: {"Content-Type": "application/json"},
                                       body: JSON.stringify({text}), credentials: "omit"});
    if (r.status === 201) { notice.textContent = %(sent)s; box.value = ""; location.reload(); return; }
    let message = %(error)s;
    try { const body = await r.json(); if (body.error && body.error.message) message += " " + body.error.message; }
    catch (e) {}
    notice.className = "error"; notice.textContent = message;
  } catch (e) {
    notice.className = "error"; notice.textContent = %(error)s;
  } finally { button.disabled = false; }
});
"""


def _e(text: object) -> str:
    return html.escape(str(text or ""), quote=True)


def _js(text: str) -> str:
    """A JS string literal that is safe inside a <script> element."""
    return json.dumps(text).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_page(thread: dict, token: str, color: str = "") -> tuple[str, str]:
    """The page's HTML and the nonce its Content-Security-Policy allows for the script."""
    t = thread["ticket"]
    lang = t["language"]

    def tx(key: str, **kw) -> str:
        return page_text(lang, key, **kw)

    items = [
        f'<div class="msg question"><span class="who">{_e(tx("question"))}</span>{_e(t["question"])}</div>'
        if t["question"]
        else ""
    ]
    for r in thread["replies"]:
        who = tx("you") if r["author"] == "visitor" else (r["name"] or tx("operator"))
        items.append(
            f'<div class="msg {_e(r["author"])}" data-reply="{int(r["id"])}">'
            f'<span class="who">{_e(who)}</span>{_e(r["text"])}</div>'
        )
    if not thread["replies"]:
        items.append(f'<p class="empty">{_e(tx("empty"))}</p>')
    nonce = secrets.token_urlsafe(16)
    script = SCRIPT % {
        "max": int(thread["max_length"]),
        "too_long": _js(tx("too_long", max=thread["max_length"])),
        "sending": _js(tx("sending")),
        "sent": _js(tx("sent")),
        "error": _js(tx("error")),
        "action": _js(f"/api/ticket/{token}/replies"),
    }
    title = tx("title", id=t["id"])
    venue = thread.get("venue") or ""
    page = f"""<!doctype html>
<html lang="{_e(lang)}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<title>{_e(title)}{" · " + _e(venue) if venue else ""}</title>
<style nonce="{nonce}">{STYLE % {"color": color or COLOR_DEFAULT}}</style>
</head>
<body>
<main>
<header>
<h1>{_e(title)}</h1>
<span class="venue">{_e(venue)}</span>
</header>
<div class="status">{_e(tx("status"))}: <span id="ticket-status">{_e(tx("st_" + t["status"]))}</span></div>
<section class="thread" id="thread">
{"".join(items)}
</section>
<form id="reply-form" method="post">
<label for="reply-text"><strong>{_e(tx("reply"))}</strong></label>
<textarea id="reply-text" name="text" maxlength="{int(thread["max_length"])}"
 placeholder="{_e(tx("placeholder"))}" required></textarea>
<div id="notice" role="status" aria-live="polite"></div>
<button type="submit" id="reply-send">{_e(tx("send"))}</button>
</form>
</main>
<script nonce="{nonce}">{script}</script>
</body>
</html>"""
    return page, nonce


def not_found_page() -> HTMLResponse:
    return HTMLResponse(f"<!doctype html><title>{NOT_FOUND}</title><p>{NOT_FOUND}</p>", 404, headers=PAGE_HEADERS)


def create_ticket_router(replies: TicketReplies, json_body, settings) -> APIRouter:
    """`/ticket/<token>` and `/api/ticket/<token>[/replies]`; `json_body`: the API's body dependency."""
    router = APIRouter()

    @router.get("/ticket/{token}", include_in_schema=False)
    def ticket_page(token: str, request: Request):
        try:
            thread = replies.thread(token, client=client_address(request))
        except NotFound:
            return not_found_page()
        except DomainError as exc:  # too many wrong links from this address
            return Response(str(exc.message), status_code=429, media_type="text/plain", headers=PAGE_HEADERS)
        page, nonce = render_page(thread, token, getattr(settings, "venue_primary_color", ""))
        csp = (
            f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; connect-src 'self'; "
            "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
        )
        return HTMLResponse(page, headers={**PAGE_HEADERS, "Content-Security-Policy": csp})

    @router.get("/api/ticket/{token}")
    def ticket_thread(token: str, request: Request):
        return JSONResponse(replies.thread(token, client=client_address(request)), headers=PAGE_HEADERS)

    @router.post("/api/ticket/{token}/replies", status_code=201)
    def ticket_visitor_reply(token: str, request: Request, data: dict[str, Any] = Depends(json_body)):  # noqa: B008
        return replies.visitor_reply(token, data.get("text"), client=client_address(request))

    return router
