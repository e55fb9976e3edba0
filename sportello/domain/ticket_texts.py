"""What the visitor reads about a ticket after the chat, in Italian and English: the reply
mail (subject and body) and the ticket page (`sportello.faces.ticket_page`)."""

from __future__ import annotations

MAIL = {
    "it": {
        "subject": "{venue}: risposta al ticket #{id}",
        "body": (
            "Buongiorno,\n\n{text}\n\n{signature}\n{venue}\n\n"
            "--\n"
            "Per rileggere la conversazione e rispondere: {link}\n"
            "(il link è personale e vale fino al {expires})\n"
            "Ticket #{id}\n"
        ),
    },
    "en": {
        "subject": "{venue}: reply to ticket #{id}",
        "body": (
            "Hello,\n\n{text}\n\n{signature}\n{venue}\n\n"
            "--\n"
            "To read the conversation and reply: {link}\n"
            "(the link is personal and valid until {expires})\n"
            "Ticket #{id}\n"
        ),
    },
}

PAGE = {
    "it": {
        "title": "Il tuo ticket #{id}",
        "question": "La tua richiesta",
        "you": "Tu",
        "operator": "Operatore",
        "reply": "Rispondi",
        "placeholder": "Scrivi la tua risposta…",
        "send": "Invia",
        "sending": "Invio…",
        "sent": "Risposta inviata.",
        "error": "Non è stato possibile inviare la risposta.",
        "too_long": "La risposta è troppo lunga (al massimo {max} caratteri).",
        "empty": "Nessuna risposta ancora.",
        "status": "Stato",
        "st_open": "aperto",
        "st_pending": "in attesa",
        "st_resolved": "risolto",
        "st_closed": "chiuso",
    },
    "en": {
        "title": "Your ticket #{id}",
        "question": "Your request",
        "you": "You",
        "operator": "Operator",
        "reply": "Reply",
        "placeholder": "Write your reply…",
        "send": "Send",
        "sending": "Sending…",
        "sent": "Reply sent.",
        "error": "The reply could not be sent.",
        "too_long": "The reply is too long (at most {max} characters).",
        "empty": "No replies yet.",
        "status": "Status",
        "st_open": "open",
        "st_pending": "pending",
        "st_resolved": "resolved",
        "st_closed": "closed",
    },
}
NOT_FOUND = "Not found"


def lang_of(language: str | None) -> str:
    return language if language in MAIL else "it"


def page_text(language: str | None, key: str, **kwargs) -> str:
    texts = PAGE[lang_of(language)]
    return texts.get(key, key).format(**kwargs)
