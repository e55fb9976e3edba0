"""What the visitor page shows, computed from the service's snapshots.

Pure functions and plain data, no Gradio: the page (sportello.faces.visitor.page) wires
them to components. Everything here is presentation: the flow's rules stay in
`sportello.services.chat.ChatService`.

Text safety: every piece of text that comes from a visitor, an operator or the
knowledge base goes through `html.escape` before it reaches a component that
renders HTML (the Chatbot renders HTML even with `render_markdown=False`, see
docs/visitor-page.md), so `<img src=x onerror=...>` or `**bold**` is shown
literally.
"""

from __future__ import annotations

import html
import os
import re
import secrets
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sportello.domain.texts import t as flow_text

LIVE_STATES = ("waiting", "live")  # states in which the page polls for news
MAX_SUGGESTED = 3  # suggested questions shown as buttons beside "talk to a person"

# Everything the page itself says (the flow's own messages live in sportello.domain.texts).
UI: dict[str, dict[str, str]] = {
    "title": {"it": "Sportello informazioni", "en": "Visitor help desk"},
    "subtitle": {
        "it": "L'assistente virtuale del museo risponde subito; se serve, la passa a una persona.",
        "en": "The museum's virtual assistant answers right away and hands you to a person if needed.",
    },
    "chat_label": {"it": "Conversazione", "en": "Conversation"},
    # labels read by screen readers (the components show none): never Gradio's "Radio", "Textbox"
    "message_label": {"it": "Il suo messaggio", "en": "Your message"},
    "you": {"it": "Lei", "en": "You"},
    "score_label": {"it": "Voto da 1 a 5", "en": "Rating from 1 to 5"},
    "placeholder": {"it": "Scriva qui la sua domanda…", "en": "Type your question here…"},
    "send": {"it": "Invia", "en": "Send"},
    "ask_person": {"it": "Parla con una persona", "en": "Talk to a person"},
    "accept": {"it": "Parla con un operatore", "en": "Talk to an operator"},
    "decline": {"it": "No, grazie", "en": "No, thanks"},
    "suggested": {"it": "Domande frequenti", "en": "Frequent questions"},
    "new_chat": {"it": "Nuova conversazione", "en": "New conversation"},
    "language": {"it": "Lingua", "en": "Language"},
    "typing": {"it": "…", "en": "…"},
    "typing_bot": {"it": "L'assistente sta scrivendo…", "en": "The assistant is writing…"},
    # status line
    "status_offered": {
        "it": "Vuole parlare con un operatore del museo?",
        "en": "Would you like to talk to a member of the museum staff?",
    },
    "status_waiting": {
        "it": "In coda per un operatore: posizione {position}.",
        "en": "Waiting for an operator: position {position} in the queue.",
    },
    "wait_unknown": {
        "it": "Un operatore le risponderà appena possibile.",
        "en": "An operator will answer you as soon as possible.",
    },
    "wait_short": {"it": "Attesa stimata: meno di un minuto.", "en": "Estimated wait: less than a minute."},
    "wait_minutes": {"it": "Attesa stimata: circa {minutes} min.", "en": "Estimated wait: about {minutes} min."},
    "status_live": {"it": "In chat con {name}.", "en": "Chatting with {name}."},
    "status_contact": {
        "it": "Nessun operatore disponibile: ci lasci un contatto e la ricontatteremo.",
        "en": "No operator available: leave a contact and we will get back to you.",
    },
    "status_contact_closed": {
        "it": "Il servizio è chiuso ora: torniamo {when}. Ci lasci un contatto e la ricontatteremo.",
        "en": "The help desk is closed now: we are back {when}. Leave a contact and we will get back to you.",
    },
    "status_contact_closed_unknown": {
        "it": "Il servizio è chiuso ora: ci lasci un contatto e la ricontatteremo.",
        "en": "The help desk is closed now: leave a contact and we will get back to you.",
    },
    "status_closed": {"it": "La conversazione è chiusa.", "en": "This conversation is closed."},
    "status_ticket": {"it": "Numero della richiesta: {ticket_id}.", "en": "Request number: {ticket_id}."},
    "status_topic": {
        "it": "Scriva in breve di che cosa si tratta: poi la metto in contatto con una persona.",
        "en": "Tell me briefly what it is about: then I'll put you in touch with a person.",
    },
    "cancel": {"it": "Annulla", "en": "Cancel"},
    "bot_badge": {"it": "Assistente virtuale", "en": "Virtual assistant"},
    "typing_operator": {"it": "{name} sta scrivendo…", "en": "{name} is typing…"},
    "hint_empty": {
        "it": "Scriva prima un messaggio, poi prema Invia.",
        "en": "Type a message first, then press Send.",
    },
    "banner_closed": {
        "it": "Gli operatori non sono in servizio ora: torniamo {when}. L'assistente virtuale risponde comunque.",
        "en": "Our staff are away right now: we are back {when}. The virtual assistant still answers.",
    },
    "banner_closed_unknown": {
        "it": "Gli operatori non sono in servizio ora. L'assistente virtuale risponde comunque.",
        "en": "Our staff are away right now. The virtual assistant still answers.",
    },
    # rating
    "rate_open": {"it": "Valuti la conversazione", "en": "Rate this conversation"},
    "rate_title": {"it": "Com'è andata? Dia un voto da 1 a 5.", "en": "How did it go? Rate it from 1 to 5."},
    "rate_comment": {"it": "Un commento (facoltativo)", "en": "A comment (optional)"},
    "rate_submit": {"it": "Invia la valutazione", "en": "Send rating"},
    "rate_thanks": {"it": "Grazie per la sua valutazione!", "en": "Thank you for your rating!"},
    # contact form
    "contact_title": {"it": "Come possiamo ricontattarla?", "en": "How can we get back to you?"},
    "contact_method": {"it": "Contatto", "en": "Contact"},
    "email": {"it": "Email", "en": "Email"},
    "phone": {"it": "Telefono", "en": "Phone"},
    "contact_value": {"it": "Email o numero di telefono", "en": "Email address or phone number"},
    "contact_submit": {"it": "Invia il contatto", "en": "Send contact"},
    # notices (errors shown to the visitor)
    "err_message_too_long": {
        "it": "Il messaggio è troppo lungo ({length} caratteri): il massimo è {limit}. Può accorciarlo?",
        "en": "Your message is too long ({length} characters): the limit is {limit}. Could you shorten it?",
    },
    "err_invalid_email": {
        "it": "Questo indirizzo email non sembra valido: lo controlli, per favore.",
        "en": "This email address does not look valid: please check it.",
    },
    "err_invalid_phone": {
        "it": "Questo numero di telefono non sembra valido: usi solo cifre, spazi e un eventuale +.",
        "en": "This phone number does not look valid: use digits, spaces and an optional +.",
    },
    "err_phone_too_short": {
        "it": "Questo numero di telefono è troppo corto: servono almeno 6 cifre.",
        "en": "This phone number is too short: it needs at least 6 digits.",
    },
    "err_phone_too_long": {
        "it": "Questo numero di telefono è troppo lungo: al massimo 15 cifre.",
        "en": "This phone number is too long: at most 15 digits.",
    },
    "err_invalid_score": {"it": "Scelga un voto da 1 a 5.", "en": "Please choose a rating from 1 to 5."},
    "err_comment_too_long": {
        "it": "Il commento è troppo lungo: al massimo 500 caratteri.",
        "en": "The comment is too long: at most 500 characters.",
    },
    "err_already_rated": {
        "it": "Questa conversazione è già stata valutata: grazie!",
        "en": "This conversation has already been rated: thank you!",
    },
    "err_nothing_to_rate": {
        "it": "Potrà valutare la conversazione dopo una risposta.",
        "en": "You can rate the conversation after an answer.",
    },
    "err_empty_contact": {
        "it": "Scriva un indirizzo email o un numero di telefono.",
        "en": "Please type an email address or a phone number.",
    },
    "err_too_many_sessions": {
        "it": "Troppe nuove conversazioni da questa rete: riprovi tra un minuto.",
        "en": "Too many new conversations from this network: please try again in a minute.",
    },
    "err_too_many_messages": {
        "it": "Troppi messaggi in poco tempo: attenda qualche secondo e riprovi.",
        "en": "Too many messages in a short time: please wait a few seconds and try again.",
    },
    "err_session_full": {
        "it": "Questa conversazione ha raggiunto il numero massimo di messaggi: ne può iniziare una nuova.",
        "en": "This conversation has reached its maximum number of messages: you can start a new one.",
    },
    "err_chat_closed": {
        "it": "Questa conversazione è chiusa: ne può iniziare una nuova.",
        "en": "This conversation is closed: you can start a new one.",
    },
    "err_wrong_state": {
        "it": "La conversazione è cambiata nel frattempo: ecco la situazione aggiornata.",
        "en": "The conversation changed in the meantime: here is where it stands now.",
    },
    "err_session_lost": {
        "it": "La conversazione precedente non è più disponibile: ne iniziamo una nuova.",
        "en": "The previous conversation is no longer available: let's start a new one.",
    },
    "err_generic": {
        "it": "Qualcosa non ha funzionato. Riprovi tra qualche istante.",
        "en": "Something went wrong. Please try again in a moment.",
    },
}

# Suggested questions (chips): phrased as in the knowledge base so they are answered.
SUGGESTIONS: dict[str, list[str]] = {
    "it": [
        "Quanto costa il biglietto?",
        "Quali sono gli orari di apertura?",
        "Fate visite guidate?",
        "Dove si trova il museo?",
    ],
    "en": [
        "How much is a ticket?",
        "What are your opening hours?",
        "Do you run guided tours?",
        "Where is the museum?",
    ],
}

# Error codes of sportello.domain.DomainError -> the notice shown to the visitor.
ERROR_NOTICES = {
    "message_too_long": "err_message_too_long",
    "invalid_email": "err_invalid_email",
    "invalid_phone": "err_invalid_phone",
    "invalid_method": "err_empty_contact",
    "phone_too_short": "err_phone_too_short",
    "phone_too_long": "err_phone_too_long",
    "invalid_score": "err_invalid_score",
    "comment_too_long": "err_comment_too_long",
    "already_rated": "err_already_rated",
    "nothing_to_rate": "err_nothing_to_rate",
    "chat_closed": "err_chat_closed",
    "too_many_sessions": "err_too_many_sessions",
    "too_many_messages": "err_too_many_messages",
    "session_full": "err_session_full",
    "wrong_state": "err_wrong_state",
    "unknown_session": "err_session_lost",
    "bad_session_token": "err_session_lost",
}
SESSION_LOST = ("unknown_session", "bad_session_token")


def ui(key: str, lang: str, **kwargs) -> str:
    entry = UI[key]
    text = entry.get(lang, entry["it"])
    return text.format(**kwargs) if kwargs else text


def error_notice(code: str, lang: str, **kwargs) -> str:
    return ui(ERROR_NOTICES.get(code, "err_generic"), lang, **kwargs)


_LANG_RE = re.compile(r"^\s*([A-Za-z]{1,8})(?:-[A-Za-z0-9]{1,8})*\s*(?:;\s*q\s*=\s*([0-9.]+))?\s*$")


def language_from_header(accept_language: str | None, default: str = "it") -> str:
    """The visitor's preferred language among it/en from Accept-Language.

    Languages are taken by decreasing q; a visitor whose browser prefers
    neither (e.g. "de-DE,de;q=0.9,en;q=0.8") gets the first of the two it
    lists, otherwise Italian.
    """
    prefs: list[tuple[float, int, str]] = []
    for i, part in enumerate((accept_language or "").split(",")[:20]):
        m = _LANG_RE.match(part)
        if not m:
            continue
        try:
            q = float(m.group(2)) if m.group(2) is not None else 1.0
        except ValueError:
            continue
        prefs.append((-q, i, m.group(1).lower()))
    for _q, _i, lang in sorted(prefs):
        if lang in ("it", "en"):
            return lang
    return default


# ---------------------------------------------------------------------------- view state
def new_view(lang: str) -> dict:
    """A tab's view before any session exists: the greeting is shown locally
    and the session is created on the visitor's first action, so page views
    (and crawlers) do not write to the database."""
    return {
        "sid": None,
        "token": None,
        "lang": lang,
        "status": "bot",
        "last_seq": 0,
        "msgs": [local_greeting(lang)],
        "queue_position": None,
        "estimated_wait_s": None,
        "operator_name": None,
        "ticket_id": None,
        "pending": None,
        "notice": "",
        "contact_error": "",
        "operator_typing": False,
        "rated": False,
        "rating_open": False,
        "suggestions": [],  # the questions offered as buttons beside "talk to a person" (at most 3)
    }


def local_greeting(lang: str) -> dict:
    return {"seq": 0, "role": "bot", "author": "", "text": flow_text("greeting", lang), "created_at": None}


def merge_messages(current: list[dict], new: list[dict]) -> list[dict]:
    """Messages by seq, without duplicates (a poll and an action may both bring one)."""
    by_seq = {m["seq"]: m for m in current}
    for m in new:
        by_seq[m["seq"]] = {k: m.get(k) for k in ("seq", "role", "author", "text", "created_at")}
    return [by_seq[s] for s in sorted(by_seq)]


def apply_snapshot(view: dict, snap: dict) -> dict:
    """Fold a `ChatService.visitor_poll` snapshot into the view (returns a new dict)."""
    view = dict(view)
    view["msgs"] = merge_messages([m for m in view["msgs"] if m["seq"] > 0], snap.get("messages", []))
    view["last_seq"] = max(view["last_seq"], int(snap.get("last_seq") or 0))
    for key in ("status", "queue_position", "estimated_wait_s", "operator_name", "ticket_id"):
        view[key] = snap.get(key)
    view["operator_typing"] = bool(snap.get("operator_typing"))
    view["suggestions"] = suggested_questions(snap.get("suggestions"))
    if snap.get("language") in ("it", "en"):
        view["lang"] = snap["language"]
    return view


def suggested_questions(suggestions: object) -> list[str]:
    """The questions of a poll's `suggestions` ([{intent, question}]), at most MAX_SUGGESTED, for the buttons."""
    if not isinstance(suggestions, list):
        return []
    questions = [s.get("question") for s in suggestions if isinstance(s, dict)]
    return [q for q in questions if isinstance(q, str) and q][:MAX_SUGGESTED]


def session_of(view: dict) -> dict:
    """What the browser keeps across reloads (localStorage, encrypted by Gradio)."""
    if view.get("sid") and view.get("token"):
        return {"sid": view["sid"], "token": view["token"]}
    return {}


# ---------------------------------------------------------------------------- rendering
def esc(text: object) -> str:
    return html.escape(str(text or ""), quote=False)


def clock_of(created_at: str | None, tz: str) -> str:
    """'14:05' in the venue's time zone, from the service's ISO timestamp ('' when unknown)."""
    if not created_at:
        return ""
    try:
        when = datetime.fromisoformat(created_at.replace("Z", "+00:00"))
        return when.astimezone(ZoneInfo(tz)).strftime("%H:%M")
    except (ValueError, KeyError):
        return ""


def _time(m: dict, tz: str) -> str:
    hhmm = clock_of(m.get("created_at"), tz)
    return f'<span class="sp-time">{esc(hhmm)}</span>' if hhmm else ""


def seq_class(m: dict) -> str:
    """The class that names a message's sequence in the Chatbot (`sp-s7`): the page's #sp-live script
    (page.py LIVE_JS) shows a pushed message until the Chatbot shows it, then removes its own copy."""
    seq = m.get("seq")
    return f" sp-s{int(seq)}" if isinstance(seq, int) and seq > 0 else ""


def chat_messages(view: dict, tz: str = "Europe/Rome") -> list[dict]:
    """The Chatbot value: every text escaped; our own markup only around it. Each kind of
    message has its own look: the assistant's badge, the operator's initial and name,
    system notices centred and small (see CSS in page.py), and the time of each.

    While an answer is on its way: the visitor's message and "the assistant is writing…", or, when the
    answerer streams, the answer so far (`pending_answer`). "Mario is typing…" is not here: the page's
    #sp-live script shows it from the chat's stream (page.py LIVE_JS)."""
    out: list[dict] = []
    lang = view.get("lang") or "it"
    badge = f'<span class="sp-bot">{esc(ui("bot_badge", lang))}</span>'
    for m in view["msgs"]:
        role, text, mark = m["role"], esc(m["text"]), seq_class(m)
        stamp = _time(m, tz)
        if role == "user":
            out.append({"role": "user", "content": f'<span class="sp-text{mark}">{text}</span>{stamp}'})
        elif role == "operator":
            name = esc(m["author"])
            initial = esc((m["author"] or "?")[:1].upper())
            head = f'<span class="sp-author"><span class="sp-avatar" aria-hidden="true">{initial}</span>{name}</span>'
            out.append({"role": "assistant", "content": f'{head}<span class="sp-text{mark}">{text}</span>{stamp}'})
        elif role == "system":
            out.append({"role": "assistant", "content": f'<span class="sp-system{mark}">{text}{stamp}</span>'})
        else:
            out.append({"role": "assistant", "content": f'{badge}<span class="sp-text{mark}">{text}</span>{stamp}'})
    if view.get("pending"):
        out.append({"role": "user", "content": esc(view["pending"])})
        if view["status"] in ("bot", "offered"):
            partial = view.get("pending_answer") or ""
            if partial:  # the answer so far, as the answerer streams it
                body = f'{badge}<span class="sp-text sp-partial">{esc(partial)}</span>'
            else:
                body = f'<span class="sp-typing">{esc(ui("typing_bot", lang))}</span>'
            out.append({"role": "assistant", "content": body})
    return out


def rate_phase(view: dict) -> str:
    """The rating form: "open" (shown), "can" (the "rate" button is offered), "done", "none"."""
    if view.get("rated"):
        return "done"
    status = view.get("status")
    if status == "closed" and view.get("operator_name"):
        return "open"
    if status == "bot" and any(m["role"] == "user" for m in view["msgs"]):
        return "open" if view.get("rating_open") else "can"
    return "none"


def banner_text(opening: dict | None, lang: str) -> str:
    """The 'we are back on Monday at 9:00' banner ('' while the desk is open)."""
    if not opening or opening.get("open", True):
        return ""
    if opening.get("back"):
        return ui("banner_closed", lang, when=opening["back"])
    return ui("banner_closed_unknown", lang)


def wait_text(estimated_wait_s: float | None, lang: str) -> str:
    if estimated_wait_s is None:
        return ui("wait_unknown", lang)
    if estimated_wait_s < 60:
        return ui("wait_short", lang)
    return ui("wait_minutes", lang, minutes=round(estimated_wait_s / 60))


def status_html(view: dict) -> str:
    """The status line under the chat (empty while the assistant is in charge)."""
    lang, status = view["lang"], view["status"]
    if status == "offered":
        parts = [ui("status_offered", lang)]
    elif status == "waiting":
        parts = [
            ui("status_waiting", lang, position=view.get("queue_position") or 1),
            wait_text(view.get("estimated_wait_s"), lang),
        ]
    elif status == "live":
        parts = [ui("status_live", lang, name=view.get("operator_name") or "")]
    elif status == "asking_topic":
        parts = [ui("status_topic", lang)]
    elif status == "collecting_contact":  # out of hours (`closed_back` set by the actions): say the desk is closed
        back = view.get("closed_back")
        if back is None:
            parts = [ui("status_contact", lang)]
        else:
            parts = [
                ui("status_contact_closed", lang, when=back) if back else ui("status_contact_closed_unknown", lang)
            ]
    elif status == "closed":
        parts = [ui("status_closed", lang)]
        if view.get("ticket_id"):
            parts.append(ui("status_ticket", lang, ticket_id=view["ticket_id"]))
    else:
        return ""
    body = " ".join(esc(p) for p in parts)
    return f'<div class="sp-status sp-status-{esc(status)}" role="status" aria-live="polite">{body}</div>'


def notice_html(text: str, kind: str = "error") -> str:
    if not text:
        return ""
    return f'<div class="sp-notice sp-notice-{esc(kind)}" role="alert">{esc(text)}</div>'


def polls(view: dict) -> bool:
    """Whether the page polls for news: only while waiting for or talking to an
    operator (the rest of the layout follows the phase marker: page.py _phase_html and page.css)."""
    return view["status"] in LIVE_STATES


# ---------------------------------------------------------------------------- browser state secret
def browser_state_secret(data_dir: Path) -> str:
    """The key Gradio uses to encrypt the session kept in the visitor's
    localStorage. Kept in DATA_DIR so a restart does not forget visitors."""
    path = Path(data_dir) / "visitor_state.key"
    try:
        value = path.read_text(encoding="ascii").strip()
        if len(value) >= 32:
            return value
    except OSError:
        pass
    value = secrets.token_urlsafe(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(value)
    os.replace(tmp, path)
    return path.read_text(encoding="ascii").strip()
