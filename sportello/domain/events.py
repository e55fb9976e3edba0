"""The typed events the conversation flow records, one per step.

Each transition of `sportello.services.chat.ChatService` records one event
(see `sportello.store.events`): it is stored in the `events` table, which the
analytics and the dashboard log read, and laid out as a row of the
"Conversazioni" worksheet by `sportello.sinks.layout`, in the same
transaction.

`Event.intent` is what the sheet shows as `intent_detected` and what the
dashboard filters on: the knowledge base's intent for the AI's turns, a fixed
intent for every other step (`FIXED_INTENTS`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class EventKind(StrEnum):
    # The AI's turn (intent: the answerer's).
    AI_ANSWERED = "ai_answered"  # answered from the knowledge base
    AI_NO_ANSWER = "ai_no_answer"  # no answer (or an escalation rule): a person is offered
    OPERATOR_REQUESTED = "operator_requested"  # the visitor asked for a person: a person is offered
    # The offer.
    OFFER_DECLINED = "offer_declined"
    QUEUED = "queued"  # accepted, an operator is available: the chat waits
    NO_OPERATOR = "no_operator"  # accepted, nobody is available: a contact is asked
    # Waiting, contact, ticket.
    QUEUE_MESSAGE = "queue_message"  # the visitor wrote while waiting
    QUEUE_TIMEOUT = "queue_timeout"  # nobody took the chat in time: a contact is asked
    CONTACT_PROMPT = "contact_prompt"  # the visitor wrote something that is not a contact
    TICKET_CREATED = "ticket_created"  # the visitor left a contact
    # Live chat.
    HANDOVER = "handover"  # an operator took the chat
    LIVE_VISITOR_MESSAGE = "live_visitor_message"
    OPERATOR_MESSAGE = "operator_message"
    CHAT_COMPLETED = "chat_completed"  # the operator released the chat
    # After the chat: the visitor's 1-5 rating (reply "4/5", text the optional comment).
    RATING = "satisfaction_rating"
    TRANSFERRED = "transferred"  # the operator handed the live chat to a colleague
    # Privacy: the visitor's data was erased (on request or by retention); the tombstone of the session.
    ERASED = "erased"
    # Ticket follow-up by mail: operator's reply sent or failed (text: the reply, operator,
    # ticket_id; reply: the error), the visitor's reply from the ticket page (text, ticket_id).
    TICKET_REPLY_SENT = "ticket_reply_sent"
    TICKET_REPLY_FAILED = "ticket_reply_failed"
    TICKET_VISITOR_REPLY = "ticket_visitor_reply"
    # Tickets followed to closure: a call back logged (text: the operator's note, reply: the
    # outcome, question: the next attempt's ISO time or "", operator), a status changed (text: from,
    # reply: to, operator), a staff alert delivered (text: its kind, reply: the channels).
    CALL_LOGGED = "call_logged"
    TICKET_STATUS_CHANGED = "ticket_status_changed"
    ALERT_SENT = "alert_sent"


# What replaces a visitor's text (a message, a question, a sheet cell) once their data is erased.
ERASED_TEXT = "[dati cancellati / data erased]"
# Why: on the visitor's request, or because RETENTION_DAYS passed (the tombstone's reply).
ERASED_ON_REQUEST = "richiesta"
ERASED_BY_RETENTION = "conservazione"

# The kinds whose intent is the answerer's.
AI_KINDS = frozenset({EventKind.AI_ANSWERED, EventKind.AI_NO_ANSWER, EventKind.OPERATOR_REQUESTED})

FIXED_INTENTS: dict[EventKind, str] = {
    EventKind.OPERATOR_REQUESTED: "operator_request",
    EventKind.OFFER_DECLINED: "operator_declined",
    EventKind.QUEUED: "operator_queue",
    EventKind.NO_OPERATOR: "operator_unavailable",
    EventKind.QUEUE_MESSAGE: "queue_user_message",
    EventKind.QUEUE_TIMEOUT: "queue_timeout",
    EventKind.CONTACT_PROMPT: "contact_prompt",
    EventKind.TICKET_CREATED: "ticket_created",
    EventKind.HANDOVER: "chat_handover",
    EventKind.LIVE_VISITOR_MESSAGE: "live_chat_user_message",
    EventKind.OPERATOR_MESSAGE: "live_chat_operator_message",
    EventKind.CHAT_COMPLETED: "live_chat_operator",
    EventKind.TRANSFERRED: "chat_transfer",
    EventKind.ERASED: "data_erased",
    EventKind.RATING: "satisfaction_rating",
    # Ticket follow-up by mail
    EventKind.TICKET_REPLY_SENT: "ticket_reply_sent",
    EventKind.TICKET_REPLY_FAILED: "ticket_reply_failed",
    EventKind.TICKET_VISITOR_REPLY: "ticket_visitor_reply",
    EventKind.CALL_LOGGED: "call_logged",
    EventKind.TICKET_STATUS_CHANGED: "ticket_status_changed",
    EventKind.ALERT_SENT: "alert_sent",
}


@dataclass(frozen=True)
class Event:
    """One step of one conversation.

    kind, session_id, at (epoch seconds) and intent are always set; the
    other fields are set by the kinds that have them:

    - text: what the visitor wrote (the AI's turns, queue/live messages, a non-contact) or the operator wrote;
    - reply: what the visitor was told (the AI's answer or offer, queued, no operator, declined, timeout, prompt);
    - question: the session's original question (offer accepted, timeout, ticket, handover);
    - operator: the operator's first name (live chat);
    - user_agent: the visitor's user agent (every kind);
    - ticket_id, contact_method: the ticket opened (ticket created; chat completed: the resolved ticket);
    - transcript: the live chat's transcript (chat completed);
    - transferred: operator is the new operator, text the previous one, reply what the visitor was told;
    - reply: also why the data was erased (erased: ERASED_ON_REQUEST or ERASED_BY_RETENTION);
    - rating: reply is the score ("4/5"), text the visitor's optional comment, operator who
      handled the chat ("" when the AI resolved it), ticket_id the session's ticket if any.
    """

    kind: EventKind
    session_id: str
    at: float
    intent: str = ""
    text: str = ""
    reply: str = ""
    question: str = ""
    operator: str = ""
    user_agent: str = ""
    ticket_id: int | None = None
    contact_method: str = ""
    transcript: str = ""

    def __post_init__(self) -> None:
        kind = EventKind(self.kind)
        object.__setattr__(self, "kind", kind)
        fixed = FIXED_INTENTS.get(kind)
        if fixed is not None:
            if self.intent and self.intent != fixed:
                raise ValueError(f"a {kind} event has intent {fixed!r}, not {self.intent!r}")
            object.__setattr__(self, "intent", fixed)
