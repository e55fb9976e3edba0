"""Everything a visitor reads from the flow, in Italian and English."""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "greeting": {
        "it": "Buongiorno! Sono l'assistente virtuale del museo. Come posso aiutarla?",
        "en": "Hello! I'm the museum's virtual assistant. How can I help you?",
    },
    "no_answer": {
        "it": "Mi dispiace, non ho trovato una risposta sicura alla sua domanda. Vuole parlare con un operatore?",
        "en": "I'm sorry, I couldn't find a reliable answer to your question. Would you like to talk to an operator?",
    },
    "no_answer_suggest": {
        "it": "Non sono sicuro di aver capito. Forse voleva chiedere: «{question}». "
        "Se è così, me lo chieda pure; altrimenti, vuole parlare con un operatore?",
        "en": "I'm not sure I understood. Perhaps you meant: “{question}”. "
        "If so, just ask me that; otherwise, would you like to talk to an operator?",
    },
    "no_answer_suggestions": {
        "it": "Non sono sicuro di aver capito. Forse voleva chiedere: {questions}. "
        "Se è così, me lo chieda pure; altrimenti, vuole parlare con un operatore?",
        "en": "I'm not sure I understood. Perhaps you meant: {questions}. "
        "If so, just ask me that; otherwise, would you like to talk to an operator?",
    },
    "ask_person": {
        "it": "Certo. Vuole che la metta in contatto con un operatore?",
        "en": "Of course. Shall I put you in touch with an operator?",
    },
    "declined": {
        "it": "Va bene. Mi faccia pure un'altra domanda.",
        "en": "All right. Feel free to ask me something else.",
    },
    "queued": {
        "it": "La metto in contatto con un operatore. È in coda: posizione {position}.",
        "en": "I'm connecting you with an operator. You are in the queue: position {position}.",
    },
    "waiting_hold": {
        "it": "Il suo messaggio è stato inviato: un operatore lo leggerà appena prende la chat.",
        "en": "Your message was sent: an operator will read it as soon as they take the chat.",
    },
    "no_operator": {
        "it": "Al momento nessun operatore è disponibile. Mi lasci un'email o un numero di "
        "telefono e la ricontatteremo al più presto.",
        "en": "No operator is available right now. Leave an email address or a phone number "
        "and we will get back to you as soon as possible.",
    },
    "queue_no_operator": {
        "it": "Purtroppo in questo momento non c'è più nessun operatore disponibile. Mi lasci un'email o "
        "un numero di telefono e la ricontatteremo al più presto.",
        "en": "Unfortunately no operator is available any more right now. Leave an email address or a "
        "phone number and we will get back to you as soon as possible.",
    },
    "queue_timeout": {
        "it": "Purtroppo nessun operatore ha potuto rispondere in tempo. Mi lasci un'email o "
        "un numero di telefono e la ricontatteremo al più presto.",
        "en": "Unfortunately no operator could answer in time. Leave an email address or a "
        "phone number and we will get back to you as soon as possible.",
    },
    "contact_prompt": {
        "it": "Per favore scriva un indirizzo email o un numero di telefono validi.",
        "en": "Please type a valid email address or phone number.",
    },
    # The ticket opened, by the contact method the visitor chose (ChatService._open_ticket).
    "ticket_created_email": {
        "it": "Grazie! Abbiamo aperto la richiesta n. {ticket_id}: le scriveremo all'indirizzo {contact}.",
        "en": "Thank you! We opened request no. {ticket_id}: we will write to you at {contact}.",
    },
    "ticket_created_phone": {
        "it": "Grazie! Abbiamo aperto la richiesta n. {ticket_id}: la richiameremo al numero {contact}.",
        "en": "Thank you! We opened request no. {ticket_id}: we will call you back on {contact}.",
    },
    "ask_topic": {
        "it": "Certo, la metto in contatto con una persona. Mi scriva prima in breve di che cosa si tratta, "
        "così l'operatore potrà aiutarla subito.",
        "en": "Of course, I'll put you in touch with a person. First, tell me briefly what it is about, "
        "so that the operator can help you straight away.",
    },
    "closed_hours": {
        "it": "In questo momento il servizio è chiuso: torniamo {when}. Mi lasci un'email o un numero di "
        "telefono e la ricontatteremo al più presto.",
        "en": "We are closed right now: we are back {when}. Leave an email address or a phone number "
        "and we will get back to you as soon as possible.",
    },
    "closed_hours_unknown": {
        "it": "In questo momento il servizio è chiuso. Mi lasci un'email o un numero di telefono e la "
        "ricontatteremo al più presto.",
        "en": "We are closed right now. Leave an email address or a phone number and we will get back to "
        "you as soon as possible.",
    },
    "rating_thanks": {
        "it": "Grazie per la sua valutazione!",
        "en": "Thank you for your rating!",
    },
    "operator_joined": {
        "it": "Ora l'assiste {name}.",
        "en": "{name} is now helping you.",
    },
    "chat_closed": {
        "it": "{name} ha chiuso la conversazione. Grazie per averci contattato!",
        "en": "{name} closed the conversation. Thank you for contacting us!",
    },
}


def t(key: str, lang: str, **kwargs) -> str:
    entry = TEXTS[key]
    return entry.get(lang, entry["it"]).format(**kwargs)


def quoted(questions: list[str], lang: str) -> str:
    """«A», «B» o «C» (Italian) / “A”, “B” or “C” (English): questions quoted in a sentence."""
    marks, last = (("«", "»"), " o ") if lang == "it" else (("“", "”"), " or ")
    items = [f"{marks[0]}{q}{marks[1]}" for q in questions]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + last + items[-1]
