"""The visitor's chat page (Gradio). Calls only the service layer."""

from __future__ import annotations

import gradio as gr

from core.domain import DomainError
from core.flow import ChatService


def build_page(service: ChatService) -> gr.Blocks:
    with gr.Blocks(title="Sportello") as page:
        gr.Markdown("## Sportello")
        state = gr.State({})
        chat = gr.Chatbot(label="Chat")
        box = gr.Textbox(label="Messaggio / Message", submit_btn=True)

        def send(text, st, history, request: gr.Request):
            history = list(history or [])
            if not st:
                ua = request.headers.get("user-agent", "") if request else ""
                st = service.start_session("it", ua)
            try:
                result = service.visitor_message(st["session_id"], st["token"], text)
            except DomainError as exc:
                history.append({"role": "assistant", "content": exc.message})
                return "", st, history
            for m in result["messages"]:
                history.append({"role": "user" if m["role"] == "user" else "assistant", "content": m["text"]})
            return "", st, history

        box.submit(send, [box, state, chat], [box, state, chat])
    return page
