"""The Ticket page's "Reply by email" panel: the replies with their state and error, the visitor's
answers, and the form that queues a reply. Its own texts (it/en) live here; pages/tickets.py calls `panel`
and `replied_banner`."""

from __future__ import annotations

import streamlit as st

from sportello.domain import DomainError
from sportello.faces.dashboard import ui as ui
from sportello.faces.dashboard.texts import CANNED

TEXTS = {
    "it": {
        "title": "Risposte via email",
        "none": "Nessuna risposta ancora.",
        "visitor": "Visitatore",
        "queued": "in coda",
        "sent": "inviata",
        "failed": "NON inviata",
        "received": "ricevuta",
        "reply": "Rispondi via email",
        "send": "Invia email",
        "queued_ok": "Risposta in coda: parte tra pochi secondi.",
        "no_mail": "L'invio di email non è configurato (SMTP_URL).",
        "visitor_replied": "Il visitatore ha risposto sui ticket: {ids}",
        "awaiting": "Il visitatore ha risposto: in attesa di una tua risposta.",
        "error": "Errore",
    },
    "en": {
        "title": "Replies by email",
        "none": "No replies yet.",
        "visitor": "Visitor",
        "queued": "queued",
        "sent": "sent",
        "failed": "NOT sent",
        "received": "received",
        "reply": "Reply by email",
        "send": "Send email",
        "queued_ok": "Reply queued: it leaves in a few seconds.",
        "no_mail": "Sending email is not configured (SMTP_URL).",
        "visitor_replied": "The visitor replied on tickets: {ids}",
        "awaiting": "The visitor replied: waiting for your answer.",
        "error": "Error",
    },
}


def tx(key: str, **kw) -> str:
    return TEXTS[ui.lang()][key].format(**kw)


def replied_banner(rt, ticket_ids: list[int]) -> None:
    """A badge over the list: the tickets whose last reply is the visitor's."""
    waiting = sorted(rt.ticket_replies.awaiting_answer(ticket_ids))
    if waiting:
        st.warning(tx("visitor_replied", ids=", ".join(f"#{i}" for i in waiting)), icon=":material/mark_email_unread:")


def panel(rt, op: dict, ticket: dict, tz: str) -> None:
    service = rt.ticket_replies
    st.markdown(f"**{tx('title')}**")
    replies = service.list(ticket["id"])
    if replies and replies[-1]["author"] == "visitor":
        st.info(tx("awaiting"), icon=":material/mark_email_unread:")
    with st.container(border=True, key=f"tk_replies_{ticket['id']}"):
        if not replies:
            st.caption(tx("none"))
        for r in replies:
            who = r["operator_name"] if r["author"] == "operator" else tx("visitor")
            st.caption(ui.plain(f"{who} · {ui.clock(r['created_at'], tz)} · {tx(r['state'])}"))
            st.text(r["text"])  # text, never Markdown nor HTML
            if r["state"] == "failed" or (r["state"] == "queued" and r["error"]):
                (st.error if r["state"] == "failed" else st.warning)(ui.plain(f"{tx('error')}: {r['error']}"))
    if not service.mail_configured:
        st.caption(tx("no_mail"))
        return
    with st.form(f"tk_reply_{ticket['id']}", clear_on_submit=True):
        text = st.text_area(tx("reply"), key=f"tk_reply_text_{ticket['id']}", max_chars=rt.settings.max_message_len)
        if st.form_submit_button(tx("send"), icon=":material/send:"):
            send(service, op, ticket, text)
    lang = ticket["language"] if ticket["language"] in CANNED else "it"
    with st.expander(ui.t("canned")):  # the same canned replies as the live chat, in the ticket's language
        canned = st.selectbox(
            ui.t("canned"), CANNED[lang], key=f"tk_canned_{ticket['id']}", label_visibility="collapsed"
        )
        if st.button(ui.t("send_canned"), key=f"tk_send_canned_{ticket['id']}"):
            send(service, op, ticket, canned)


def send(service, op: dict, ticket: dict, text: str) -> None:
    """Queue `text` as the operator's reply by email; the page says so, or why not."""
    try:
        service.reply(ticket["id"], op, text)
    except DomainError as exc:
        st.error(ui.err(exc))
    else:
        ui.flash("success", tx("queued_ok"))
        st.rerun()
