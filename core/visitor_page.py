"""The visitor's chat page (Gradio 6). Calls only the service layer, through
core.visitor_actions; what is shown is computed by core.visitor_view.

Concurrency: every handler is `async` and runs the (blocking) service call in
one of two thread pools owned by the page: `answers` for visitor messages (they
may wait for a slow LLM) and `light` for polls and buttons. Gradio's queue is
left unbounded for these events (`concurrency_limit=None`), so a slow answer
holds one thread of `answers` and never blocks another visitor's poll. The
live poll (`gr.Timer`) runs only while the chat is waiting for or talking to an
operator, and sends only what changed.
"""

from __future__ import annotations

import asyncio
import functools
from concurrent.futures import ThreadPoolExecutor

import gradio as gr

from core.flow import ChatService
from core.visitor_actions import VisitorActions
from core.visitor_view import (
    SUGGESTIONS,
    browser_state_secret,
    chat_messages,
    esc,
    layout,
    new_view,
    notice_html,
    session_of,
    status_html,
    ui,
)

STORAGE_KEY = "sportello-visitor-session"
POLL_INTERVAL_S = 0.5

CSS = """
.gradio-container { max-width: 780px !important; margin: 0 auto !important; }
.sp-header h1 { font-size: 1.4rem; margin: 0 0 .15rem 0; }
.sp-header p { margin: 0; opacity: .8; font-size: .95rem; }
#lang-switch { flex-grow: 0 !important; }
#lang-switch .wrap { justify-content: flex-end; }
#chat { height: min(62vh, 620px) !important; }
#chat .message-content, #chat .message { overflow-wrap: anywhere; }
#chat .icon-button-wrapper.top-panel { display: none !important; }  /* the client-side "clear" button */
#lang-switch .wrap { flex-wrap: nowrap; }
.sp-author { display: block; font-weight: 600; font-size: .85em; opacity: .8; }
.sp-system { font-style: italic; opacity: .85; }
.sp-typing { letter-spacing: .2em; }
.sp-status { padding: .5rem .75rem; border-radius: .5rem; background: var(--block-background-fill);
  border: 1px solid var(--border-color-primary); font-size: .95rem; }
.sp-status-waiting { border-color: #f59e0b; }
.sp-status-live { border-color: #10b981; }
.sp-status-closed { border-color: #6b7280; }
.sp-notice-error { color: #b91c1c; font-size: .95rem; padding: .25rem .1rem; }
#contact-error .sp-notice-error { padding: 0; }
#chips { gap: .4rem; flex-wrap: wrap; }
#chips button { flex: 0 1 auto !important; min-width: 0 !important; border-radius: 999px; }
#composer { flex-wrap: nowrap !important; align-items: stretch; }
#composer #send { min-width: 72px !important; flex: 0 0 auto !important; }
#ask-person { align-self: flex-start; }
@media (max-width: 600px) {
  .gradio-container { padding: 4px 6px !important; }
  #chat { height: 58vh !important; }
  .sp-header p { display: none; }
  #offer button { min-width: 0 !important; }
}
"""


def mount_options() -> dict:
    """Keyword arguments for `gr.mount_gradio_app` (Gradio 6 takes css/theme there)."""
    return {"css": CSS, "theme": gr.themes.Soft(), "footer_links": []}


def build_page(
    service: ChatService,
    *,
    poll_interval_s: float = POLL_INTERVAL_S,
    answer_workers: int = 32,
    light_workers: int = 16,
) -> gr.Blocks:
    actions = VisitorActions(service)
    answers = ThreadPoolExecutor(max_workers=answer_workers, thread_name_prefix="visitor-answer")
    light = ThreadPoolExecutor(max_workers=light_workers, thread_name_prefix="visitor-light")
    secret = browser_state_secret(service.settings.data_dir)
    max_len = service.settings.max_message_len

    async def run(pool: ThreadPoolExecutor, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(pool, functools.partial(fn, *args))

    with gr.Blocks(title="Sportello") as page:
        view_state = gr.State(None)
        # The live poll outputs only States (cheap): `news` changes when the poll
        # brought something to show, and its change event renders it.
        news = gr.State(0)
        saved = gr.BrowserState({}, storage_key=STORAGE_KEY, secret=secret)
        with gr.Row(equal_height=True):
            header = gr.HTML("", elem_id="sp-header", js_on_load=None)
            lang = gr.Radio(
                [("Italiano", "it"), ("English", "en")],
                value="it",
                show_label=False,
                container=False,
                elem_id="lang-switch",
                min_width=180,
            )
        chat = gr.Chatbot(
            value=[],
            elem_id="chat",
            show_label=False,
            # Text is escaped by visitor_view.chat_messages: no markdown, no LaTeX, no tags.
            render_markdown=False,
            sanitize_html=True,
            allow_tags=False,
            latex_delimiters=[],
            feedback_options=None,
            buttons=[],
            autoscroll=True,
            height="min(62vh, 620px)",
        )
        status = gr.HTML("", elem_id="status", js_on_load=None, visible=False)
        notice = gr.HTML("", elem_id="notice", js_on_load=None, visible=False)
        with gr.Row(elem_id="chips") as chips_row:
            chips = [
                gr.Button(q, size="sm", elem_id=f"chip-{i}", elem_classes=["sp-chip"], min_width=0)
                for i, q in enumerate(SUGGESTIONS["it"])
            ]
        with gr.Row(elem_id="offer", visible=False) as offer_row:
            accept_btn = gr.Button(ui("accept", "it"), variant="primary", elem_id="offer-accept", min_width=120)
            decline_btn = gr.Button(ui("decline", "it"), elem_id="offer-decline", min_width=100)
        with gr.Column(elem_id="contact", visible=False) as contact_box:
            contact_title = gr.HTML("", elem_id="contact-title", js_on_load=None)
            method = gr.Radio(
                [(ui("email", "it"), "email"), (ui("phone", "it"), "phone")],
                value="email",
                show_label=False,
                container=False,
                elem_id="contact-method",
            )
            contact_value = gr.Textbox(
                show_label=False, max_lines=1, container=False, elem_id="contact-value", max_length=254
            )
            contact_error = gr.HTML("", elem_id="contact-error", js_on_load=None, visible=False)
            contact_btn = gr.Button(ui("contact_submit", "it"), variant="primary", elem_id="contact-submit")
        with gr.Row(elem_id="composer", equal_height=True) as composer:
            msg = gr.Textbox(show_label=False, container=False, lines=1, max_lines=5, scale=5, elem_id="msg")
            send_btn = gr.Button(ui("send", "it"), variant="primary", scale=0, min_width=72, elem_id="send")
        person_btn = gr.Button(ui("ask_person", "it"), size="sm", elem_id="ask-person")
        with gr.Row(elem_id="closed", visible=False) as closed_row:
            new_btn = gr.Button(ui("new_chat", "it"), variant="primary", elem_id="new-chat")
        timer = gr.Timer(poll_interval_s, active=False)

        outputs = [
            view_state,
            saved,
            header,
            lang,
            chat,
            status,
            notice,
            chips_row,
            *chips,
            offer_row,
            accept_btn,
            decline_btn,
            contact_box,
            contact_title,
            method,
            contact_value,
            contact_error,
            contact_btn,
            composer,
            msg,
            send_btn,
            person_btn,
            closed_row,
            new_btn,
            timer,
        ]

        def props(view: dict) -> dict:
            """The wanted properties of every component, by component."""
            lg, show = view["lang"], layout(view)
            p = {
                header: {
                    "value": f'<div class="sp-header"><h1>{esc(ui("title", lg))}</h1><p>{esc(ui("subtitle", lg))}</p></div>'
                },
                lang: {"value": lg},
                status: {"value": status_html(view), "visible": bool(status_html(view))},
                notice: {"value": notice_html(view.get("notice", "")), "visible": bool(view.get("notice"))},
                chips_row: {"visible": show["chips"]},
                offer_row: {"visible": show["offer"]},
                accept_btn: {"value": ui("accept", lg)},
                decline_btn: {"value": ui("decline", lg)},
                contact_box: {"visible": show["contact"]},
                contact_title: {"value": f'<p class="sp-contact-title">{esc(ui("contact_title", lg))}</p>'},
                method: {"choices": [(ui("email", lg), "email"), (ui("phone", lg), "phone")]},
                contact_value: {"placeholder": ui("contact_value", lg)},
                contact_error: {
                    "value": notice_html(view.get("contact_error", "")),
                    "visible": bool(view.get("contact_error")),
                },
                contact_btn: {"value": ui("contact_submit", lg)},
                composer: {"visible": show["input"]},
                msg: {"placeholder": ui("placeholder", lg)},
                send_btn: {"value": ui("send", lg)},
                person_btn: {"value": ui("ask_person", lg), "visible": show["ask_person"]},
                closed_row: {"visible": show["closed"]},
                new_btn: {"value": ui("new_chat", lg)},
                timer: {"active": show["poll"]},
            }
            for i, chip in enumerate(chips):
                p[chip] = {"value": SUGGESTIONS[lg][i]}
            return p

        # Gradio 6 rebuilds a per-session copy of every output component that gets
        # an update, even an empty one (gr.skip()): ~0.5-8 ms each, the Chatbot the
        # most. So the poll outputs two States only, and renders through `news`.
        tick_outputs = [view_state, news]

        def render(view: dict, extra: dict | None = None) -> dict:
            """Only what changed since this tab last rendered (cheap polls)."""
            view = dict(view)
            shown = dict(view.get("_shown") or {})
            out: dict = dict(extra or {})
            for comp, wanted in props(view).items():
                key = f"c{comp._id}"
                if shown.get(key) != wanted:
                    shown[key] = wanted
                    out[comp] = gr.Timer(active=wanted["active"]) if comp is timer else gr.update(**wanted)
            msgs = view["msgs"]
            chat_key = [len(msgs), msgs[-1]["seq"] if msgs else -1, view.get("pending"), view["status"], view["lang"]]
            if shown.get("chat") != chat_key:
                shown["chat"] = chat_key
                out[chat] = chat_messages(view)
            stored = session_of(view)
            if shown.get("saved") != stored:
                shown["saved"] = stored
                out[saved] = stored
            view["_shown"] = shown
            out[view_state] = view
            return out

        def current(view: dict | None, request: gr.Request | None) -> dict:
            if view:
                return view
            return actions.resume(None, _header(request, "accept-language"))

        # ------------------------------------------------------------------ handlers
        async def on_load(stored, request: gr.Request):
            view = await run(light, actions.resume, stored, _header(request, "accept-language"))
            return render(view)

        async def send_text(text: str, view, request: gr.Request):
            view = current(view, request)
            text = (text or "").strip() if isinstance(text, str) else ""
            if not text:  # empty messages are ignored
                yield {}
                return
            if len(text) > max_len:  # refused with a note; the text stays in the box
                yield render(actions.too_long(view, text))
                return
            pending = actions.with_pending(view, text)
            yield render(pending, {msg: ""})
            final = await run(answers, actions.send, pending, text, _header(request, "user-agent"))
            yield render(final)

        async def on_send(text, view, request: gr.Request):
            async for out in send_text(text, view, request):
                yield out

        def chip_handler(i: int):
            async def on_chip(view, request: gr.Request):
                view = current(view, request)
                async for out in send_text(SUGGESTIONS[view["lang"]][i], view, request):
                    yield out

            return on_chip

        async def on_person(view, request: gr.Request):
            view = current(view, request)
            return render(await run(light, actions.ask_person, view, _header(request, "user-agent")))

        async def on_decline(view, request: gr.Request):
            return render(await run(light, actions.decline, current(view, request)))

        async def on_contact(method_value, value, view, request: gr.Request):
            return render(await run(light, actions.contact, current(view, request), method_value, value))

        async def on_tick(view):
            if not view:
                return {}
            new = await run(light, actions.poll, view)
            if new is None:
                return {view_state: view, news: view.get("_news", 0)}
            if len(render(new)) > 1:  # something to show: `news` changes, on_news renders it
                new["_news"] = new.get("_news", 0) + 1
            return {view_state: new, news: new.get("_news", 0)}

        async def on_news(view):
            return render(view) if view else {}

        async def on_lang(value, view, request: gr.Request):
            return render(await run(light, actions.set_language, current(view, request), value))

        async def on_new(view, request: gr.Request):
            return render(actions.new_chat(current(view, request)))

        common = {"outputs": outputs, "concurrency_limit": None, "api_visibility": "private"}
        quiet = {**common, "show_progress": "hidden"}
        page.load(on_load, inputs=[saved], **quiet)
        msg.submit(on_send, inputs=[msg, view_state], **quiet)
        send_btn.click(on_send, inputs=[msg, view_state], **quiet)
        for i, chip in enumerate(chips):
            chip.click(chip_handler(i), inputs=[view_state], **quiet)
        person_btn.click(on_person, inputs=[view_state], **common)
        accept_btn.click(on_person, inputs=[view_state], **common)
        decline_btn.click(on_decline, inputs=[view_state], **common)
        contact_btn.click(on_contact, inputs=[method, contact_value, view_state], **common)
        contact_value.submit(on_contact, inputs=[method, contact_value, view_state], **common)
        lang.input(on_lang, inputs=[lang, view_state], **quiet)
        new_btn.click(on_new, inputs=[view_state], **quiet)
        timer.tick(on_tick, inputs=[view_state], **{**quiet, "outputs": tick_outputs})
        news.change(on_news, inputs=[view_state], **quiet)
    page.queue(default_concurrency_limit=None)
    page.sportello_executors = (answers, light)  # kept for shutdown and benchmarks
    return page


def _header(request: gr.Request | None, name: str) -> str:
    if request is None:
        return ""
    try:
        return request.headers.get(name, "") or ""
    except AttributeError:
        return ""


__all__ = ["build_page", "mount_options", "new_view"]
