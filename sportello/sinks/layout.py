"""The seed's sheet layout: worksheet names, headers, cell escaping, the
"Conversazioni" row of each event and the "Ticket" row of each ticket.

Pure functions (no store, no network): the service that records an event
(`sportello.services.events`) or changes a ticket (`sportello.services.tickets`,
`sportello.services.privacy`) lays out its row here and hands it to the store,
which puts it in the outbox in the same transaction; every sink applies
`safe_cell`; `sportello.sinks.erasure` blanks cells by these headers.
"""

from __future__ import annotations

from sportello.domain.events import Event, EventKind
from sportello.domain.formats import iso

CONVERSATIONS = "Conversazioni"
TICKETS = "Ticket"

CONVERSATION_HEADER = [
    "timestamp",
    "session_id",
    "user_message",
    "bot_reply",
    "intent_detected",
    "user_agent",
]
TICKET_HEADER = [
    "id",
    "session_id",
    "status",
    "contact_method",
    "contact_info",
    "operator_name",
    "original_question",
    "conversation_transcript",
    "resolution_reason",
    "started_at",
    "ended_at",
    "conversation_history",
    "created_at",
    "updated_at",
]
# Appended worksheets carry the outbox event id in a trailing column, so a
# sink can tell a row it already wrote from a new one after a crash or a
# dropped connection (exactly once). Upserted worksheets are keyed by id.
EVENT_ID = "event_id"
HEADERS = {
    CONVERSATIONS: CONVERSATION_HEADER + [EVENT_ID],
    TICKETS: TICKET_HEADER,
}
# The columns a row's values fill, per worksheet (the event id is the sink's, not the row's).
ROW_HEADERS = {CONVERSATIONS: CONVERSATION_HEADER, TICKETS: TICKET_HEADER}
FORMULA_PREFIXES = ("=", "+", "-", "@")
# OWASP "CSV Injection": a cell, or a line inside a cell, that starts with one of
# these may be read as a formula (a TAB or CR before one is skipped by some readers).
FORMULA_TRIGGERS = (*FORMULA_PREFIXES, "\t", "\r")

# What the bot_reply cell says while the visitor talks to the queue or to a person.
AWAITING_OPERATOR = "[Attesa operatore]"
# The user_message cell of the tombstone row of an erased session (privacy).
ERASED_MARK = "[DATI CANCELLATI]"


def safe_cell(value: object) -> str:
    """Text for a cell that can never be read as a formula by a spreadsheet.

    Line endings become LF (a bare CR is a row break to many readers, and the
    csv module quotes a field only for the line terminator it writes, LF), NULs
    are dropped, and every line of the cell that starts with a formula trigger
    gets a leading `'`. Idempotent: an escaped cell is returned unchanged.
    """
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    if "\x00" in text:
        text = text.replace("\x00", "")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "\n" in text:
        return "\n".join(_safe_line(line) for line in text.split("\n"))
    return _safe_line(text)


def _safe_line(line: str) -> str:
    return "'" + line if line.startswith(FORMULA_TRIGGERS) else line


def conversation_cells(e: Event) -> tuple[str, str, str]:
    """(user_message, bot_reply, user_agent) of the event's "Conversazioni" row."""
    k, ua = e.kind, e.user_agent
    if k in (EventKind.AI_ANSWERED, EventKind.AI_NO_ANSWER, EventKind.OPERATOR_REQUESTED, EventKind.CONTACT_PROMPT):
        return e.text, e.reply, ua
    if k in (EventKind.QUEUED, EventKind.NO_OPERATOR):
        return f"[RICHIESTA OPERATORE] {e.question}", e.reply, ua
    if k == EventKind.OFFER_DECLINED:
        return "[OPERATORE RIFIUTATO]", e.reply, ua
    if k == EventKind.QUEUE_MESSAGE:
        return f"[IN CODA] {e.text}", AWAITING_OPERATOR, ua
    if k == EventKind.QUEUE_TIMEOUT:
        return f"[TIMEOUT CODA] {e.question}", e.reply, ua
    if k == EventKind.TICKET_CREATED:
        return (
            f"[TICKET #{e.ticket_id}] {e.question}",
            f"🎫 Ticket #{e.ticket_id} aperto - contatto: {e.contact_method}",
            ua,
        )
    if k == EventKind.HANDOVER:
        return f"[HANDOVER] {e.question}", f"🔄 Chat presa da {e.operator}", f"Handover to {e.operator}"
    if k == EventKind.LIVE_VISITOR_MESSAGE:
        return f"[CHAT LIVE] {e.text}", AWAITING_OPERATOR, f"Chat Live con {e.operator}"
    if k == EventKind.OPERATOR_MESSAGE:
        return "[OPERATORE]", f"👨‍💼 {e.operator}: {e.text}", f"Chat Live - {e.operator}"
    if k == EventKind.CHAT_COMPLETED:
        return "[CONVERSAZIONE COMPLETA]", f"[CHAT LIVE COMPLETATA] {e.transcript}", f"Operatore: {e.operator}"
    if k == EventKind.TRANSFERRED:
        return f"[TRASFERIMENTO] {e.question}", f"🔄 {e.reply}", f"Transfer {e.text} -> {e.operator}"
    if k == EventKind.RATING:
        who = f"Operatore: {e.operator}" if e.operator else "AI"
        return "[VALUTAZIONE]", f"rating {e.reply}: {e.text}" if e.text else f"rating {e.reply}", who
    if k == EventKind.ERASED:
        # The tombstone: an appended sheet (Google) cannot be rewritten safely, so this row says
        # which session was erased, when (the timestamp) and why, without any of the data.
        return ERASED_MARK, f"🗑 Dati del visitatore cancellati ({e.reply})", ""
    # Ticket follow-up by mail
    if k == EventKind.TICKET_REPLY_SENT:
        return f"[RISPOSTA EMAIL #{e.ticket_id}]", f"✉️ {e.operator}: {e.text}", f"Email - {e.operator}"
    if k == EventKind.TICKET_REPLY_FAILED:
        return f"[EMAIL NON INVIATA #{e.ticket_id}]", f"⚠️ {e.operator}: {e.reply}", f"Email - {e.operator}"
    if k == EventKind.TICKET_VISITOR_REPLY:
        return f"[RISPOSTA TICKET #{e.ticket_id}] {e.text}", AWAITING_OPERATOR, "Pagina ticket"
    if k == EventKind.CALL_LOGGED:
        after = f" - prossimo tentativo {e.question}" if e.question else ""
        return f"[CHIAMATA TICKET #{e.ticket_id}] {e.text}", f"📞 {e.reply}{after}", f"Operatore: {e.operator}"
    if k == EventKind.TICKET_STATUS_CHANGED:
        return f"[TICKET #{e.ticket_id}] {e.text} -> {e.reply}", f"🎫 Stato: {e.reply}", f"Operatore: {e.operator}"
    if k == EventKind.ALERT_SENT:
        where = f"#{e.ticket_id} " if e.ticket_id is not None else ""
        return f"[AVVISO] {where}{e.text}", f"🔔 Avviso inviato: {e.reply}", ""
    raise ValueError(f"no layout for event kind {k!r}")


def conversation_row(e: Event) -> list:
    """The event's row of the "Conversazioni" worksheet, in CONVERSATION_HEADER order."""
    user_message, bot_reply, user_agent = conversation_cells(e)
    return [iso(e.at), e.session_id, user_message, bot_reply, e.intent, user_agent]


def conversation_dict(e: Event) -> dict:
    """The same row keyed by CONVERSATION_HEADER."""
    return dict(zip(CONVERSATION_HEADER, conversation_row(e), strict=True))


def ticket_row(t: dict) -> list:
    """A ticket (its fields, times as ISO text) as its row of the "Ticket" worksheet, in TICKET_HEADER
    order: the id as text, a missing time as ""."""
    row = [t[name] if t[name] is not None else "" for name in TICKET_HEADER]
    row[0] = str(t["id"])
    return row
