"""sportello.sinks.layout: every event kind is laid out as the seed's "Conversazioni" row.

The expected rows are the strings the flow wrote before events existed (each
`tx.row(...)` call of sportello/services/chat.py), spelled out literally. The
migration that backfills events from old outbox rows must undo that layout:
laying out the backfilled event gives back the row.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from sportello.domain.events import AI_KINDS, FIXED_INTENTS, Event, EventKind
from sportello.sinks import layout, sheets
from sportello.sinks.erasure import anonymise_values
from sportello.sinks.layout import CONVERSATION_HEADER, conversation_dict, conversation_row, safe_cell

AT = 1741600800.0  # 2025-03-10T10:00:00Z
TS = "2025-03-10T10:00:00Z"
SID = "0123456789abcdef0123456789abcdef"
UA = "Mozilla/5.0 (pytest)"
Q = "Posso portare il cane?"

# kind -> (the event's fields, the row's user_message, bot_reply, intent_detected, user_agent)
CASES: dict[EventKind, tuple[dict, list[str]]] = {
    EventKind.AI_ANSWERED: (
        {"intent": "orari", "text": "Quali sono gli orari?", "reply": "Aperto 9-19."},
        ["Quali sono gli orari?", "Aperto 9-19.", "orari", UA],
    ),
    EventKind.AI_NO_ANSWER: (
        {"intent": "no_answer", "text": Q, "reply": "Non lo so: vuoi parlare con una persona?"},
        [Q, "Non lo so: vuoi parlare con una persona?", "no_answer", UA],
    ),
    EventKind.OPERATOR_REQUESTED: (
        {"intent": "operator_request", "text": "voglio un operatore", "reply": "Ti passo una persona?"},
        ["voglio un operatore", "Ti passo una persona?", "operator_request", UA],
    ),
    EventKind.OFFER_DECLINED: (
        {"reply": "Va bene, chiedimi pure."},
        ["[OPERATORE RIFIUTATO]", "Va bene, chiedimi pure.", "operator_declined", UA],
    ),
    EventKind.QUEUED: (
        {"question": Q, "reply": "Sei in coda, posizione 1."},
        [f"[RICHIESTA OPERATORE] {Q}", "Sei in coda, posizione 1.", "operator_queue", UA],
    ),
    EventKind.NO_OPERATOR: (
        {"question": Q, "reply": "Nessun operatore: lasciaci un contatto."},
        [f"[RICHIESTA OPERATORE] {Q}", "Nessun operatore: lasciaci un contatto.", "operator_unavailable", UA],
    ),
    EventKind.QUEUE_MESSAGE: (
        {"text": "ci siete?"},
        ["[IN CODA] ci siete?", "[Attesa operatore]", "queue_user_message", UA],
    ),
    EventKind.QUEUE_TIMEOUT: (
        {"question": Q, "reply": "Nessuno è libero: lasciaci un contatto."},
        [f"[TIMEOUT CODA] {Q}", "Nessuno è libero: lasciaci un contatto.", "queue_timeout", UA],
    ),
    EventKind.CONTACT_PROMPT: (
        {"text": "non so", "reply": "Scrivi un'email o un telefono."},
        ["non so", "Scrivi un'email o un telefono.", "contact_prompt", UA],
    ),
    EventKind.TICKET_CREATED: (
        {"question": Q, "ticket_id": 12, "contact_method": "email"},
        [f"[TICKET #12] {Q}", "🎫 Ticket #12 aperto - contatto: email", "ticket_created", UA],
    ),
    EventKind.HANDOVER: (
        {"question": Q, "operator": "Mario"},
        [f"[HANDOVER] {Q}", "🔄 Chat presa da Mario", "chat_handover", "Handover to Mario"],
    ),
    EventKind.LIVE_VISITOR_MESSAGE: (
        {"text": "grazie!", "operator": "Mario"},
        ["[CHAT LIVE] grazie!", "[Attesa operatore]", "live_chat_user_message", "Chat Live con Mario"],
    ),
    EventKind.OPERATOR_MESSAGE: (
        {"text": "Sì, se piccolo: e in braccio.", "operator": "Mario"},
        ["[OPERATORE]", "👨‍💼 Mario: Sì, se piccolo: e in braccio.", "live_chat_operator_message", "Chat Live - Mario"],
    ),
    EventKind.CHAT_COMPLETED: (
        {"transcript": "[11:00] Utente: ciao\n[11:01] Mario: ciao", "operator": "Mario", "ticket_id": 3},
        [
            "[CONVERSAZIONE COMPLETA]",
            "[CHAT LIVE COMPLETATA] [11:00] Utente: ciao\n[11:01] Mario: ciao",
            "live_chat_operator",
            "Operatore: Mario",
        ],
    ),
    EventKind.TRANSFERRED: (
        {"question": "Posso portare il cane?", "operator": "Lucia", "text": "Mario", "reply": "Ora l'assiste Lucia."},
        [
            "[TRASFERIMENTO] Posso portare il cane?",
            "🔄 Ora l'assiste Lucia.",
            "chat_transfer",
            "Transfer Mario -> Lucia",
        ],
    ),
    EventKind.RATING: (  # the satisfaction rating: the visitor's 1-5 rating after the chat
        {"reply": "4/5", "text": "=gentile", "operator": "Mario"},
        ["[VALUTAZIONE]", "rating 4/5: =gentile", "satisfaction_rating", "Operatore: Mario"],
    ),
    # The tombstone of an erased session (privacy): which session, when and why, without the data.
    EventKind.ERASED: (
        {"reply": "richiesta"},
        ["[DATI CANCELLATI]", "🗑 Dati del visitatore cancellati (richiesta)", "data_erased", ""],
    ),
    # Ticket follow-up by mail
    EventKind.TICKET_REPLY_SENT: (
        {"text": "Sì, =apriamo alle 9", "operator": "Mario Rossi", "ticket_id": 7},
        ["[RISPOSTA EMAIL #7]", "✉️ Mario Rossi: Sì, =apriamo alle 9", "ticket_reply_sent", "Email - Mario Rossi"],
    ),
    EventKind.TICKET_REPLY_FAILED: (
        {"text": "Sì", "reply": "550 mailbox unavailable", "operator": "Mario Rossi", "ticket_id": 7},
        [
            "[EMAIL NON INVIATA #7]",
            "⚠️ Mario Rossi: 550 mailbox unavailable",
            "ticket_reply_failed",
            "Email - Mario Rossi",
        ],
    ),
    EventKind.TICKET_VISITOR_REPLY: (
        {"text": "Grazie!", "ticket_id": 7},
        ["[RISPOSTA TICKET #7] Grazie!", "[Attesa operatore]", "ticket_visitor_reply", "Pagina ticket"],
    ),
    # Tickets followed to closure.
    EventKind.CALL_LOGGED: (
        {"ticket_id": 7, "text": "richiamare", "reply": "no_answer (1)", "question": TS, "operator": "Mario"},
        [
            "[CHIAMATA TICKET #7] richiamare",
            f"📞 no_answer (1) - prossimo tentativo {TS}",
            "call_logged",
            "Operatore: Mario",
        ],
    ),
    EventKind.TICKET_STATUS_CHANGED: (
        {"ticket_id": 7, "text": "open", "reply": "pending", "operator": "Mario"},
        ["[TICKET #7] open -> pending", "🎫 Stato: pending", "ticket_status_changed", "Operatore: Mario"],
    ),
    EventKind.ALERT_SENT: (
        {"ticket_id": 7, "text": "new_ticket", "reply": "webhook"},
        ["[AVVISO] #7 new_ticket", "🔔 Avviso inviato: webhook", "alert_sent", ""],
    ),
}
# Rows newer than migration 0003's backfill (no old outbox row holds one).
AFTER_0003 = {EventKind.ERASED}


def event(kind: EventKind) -> Event:
    return Event(kind, SID, AT, user_agent=UA, **CASES[kind][0])


def test_every_kind_has_a_case():
    assert set(CASES) == set(EventKind)
    assert set(FIXED_INTENTS) | AI_KINDS == set(EventKind)


@pytest.mark.parametrize("kind", list(EventKind))
def test_row_of_each_kind_is_the_seeds(kind):
    assert conversation_row(event(kind)) == [TS, SID, *CASES[kind][1]]
    assert conversation_dict(event(kind)) == dict(zip(CONVERSATION_HEADER, [TS, SID, *CASES[kind][1]], strict=True))


def test_fixed_intents_are_filled_and_checked():
    assert Event(EventKind.HANDOVER, SID, AT).intent == "chat_handover"
    assert Event("queued", SID, AT).kind is EventKind.QUEUED  # a stored kind comes back as the enum
    with pytest.raises(ValueError):
        Event(EventKind.QUEUED, SID, AT, intent="orari")
    with pytest.raises(ValueError):
        Event("not_a_kind", SID, AT)
    assert Event(EventKind.AI_ANSWERED, SID, AT, intent="orari").intent == "orari"


def test_timestamp_is_iso_utc_seconds():
    e = Event(EventKind.QUEUE_MESSAGE, SID, AT + 0.75, text="x")
    assert conversation_row(e)[0] == TS


def test_safe_cell_and_the_layout_lives_in_layout_only():
    assert safe_cell("=1+1") == "'=1+1" and safe_cell(None) == "" and safe_cell(3) == "3"
    assert safe_cell("-x") == "'-x"
    assert layout.HEADERS[layout.CONVERSATIONS] == [*CONVERSATION_HEADER, "event_id"]
    # the sink module no longer re-exports the layout (one home for each name)
    for name in ("CONVERSATIONS", "TICKETS", "CONVERSATION_HEADER", "TICKET_HEADER", "FORMULA_PREFIXES"):
        assert not hasattr(sheets, name), name


def test_the_ticket_row_follows_the_ticket_header():
    """One layout for the "Ticket" row: built from TICKET_HEADER, read back by the erasure by name."""
    t = {name: f"<{name}>" for name in layout.TICKET_HEADER} | {"id": 7, "started_at": None, "notes": "x"}
    row = layout.ticket_row(t)
    assert dict(zip(layout.TICKET_HEADER, row, strict=True)) == {
        **{name: f"<{name}>" for name in layout.TICKET_HEADER},
        "id": "7",
        "started_at": "",
    }
    erased = anonymise_values(layout.TICKETS, row)
    assert dict(zip(layout.TICKET_HEADER, erased, strict=True))["contact_info"] == ""
    assert dict(zip(layout.TICKET_HEADER, erased, strict=True))["status"] == "<status>"


def _migration():
    path = Path(layout.__file__).resolve().parents[1] / "store" / "migrations" / "versions" / "0003_events.py"
    spec = importlib.util.spec_from_file_location("migration_0003", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# Tombstones (erased) are newer than migration 0003: no old outbox row holds one. Later rows (ratings,
# transfers) are read back too, for a database downgraded and upgraded again.
@pytest.mark.parametrize("kind", [k for k in EventKind if k not in AFTER_0003])
def test_backfill_undoes_the_layout(kind):
    """Migration 0003 reads old outbox rows back into events: laid out again, they are the same row."""
    original = event(kind)
    row = conversation_row(original)
    values = _migration().from_row("e1", SID, json.dumps(row, ensure_ascii=False), AT, UA)
    assert values.pop("id") == "e1"
    assert values["kind"] == str(kind)
    back = Event(**values)
    assert conversation_row(back) == row
    # Not in their rows: the resolved ticket's id (a completed chat), the text of a reply that was not sent.
    if kind not in (EventKind.CHAT_COMPLETED, EventKind.TICKET_REPLY_FAILED):
        assert back == original


def test_backfill_of_an_unknown_intent_is_an_ai_answer_and_bad_rows_are_skipped():
    m = _migration()
    row = [TS, SID, "domanda", "risposta", "mostre", "ua"]
    assert m.from_row("e2", SID, json.dumps(row), AT, "")["kind"] == "ai_answered"
    assert m.from_row("e3", SID, "not json", AT, "") is None
    assert m.from_row("e4", None, json.dumps(["t", ""]), AT, "") is None
