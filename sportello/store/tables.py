"""The tables (SQLAlchemy 2 Core). Schema changes go through migrations/."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

metadata = MetaData()

operators = Table(
    "operators",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("display_name", String(128), nullable=False),
    Column("password_hash", String(256), nullable=False),
    Column("is_admin", Boolean, nullable=False, default=False),
    Column("active", Boolean, nullable=False, default=True),
    Column("status", String(16), nullable=False, default="offline"),
    Column("last_heartbeat", Float, nullable=True),
    Column("max_chats", Integer, nullable=False, default=3),
    Column("created_at", Float, nullable=False),
)

operator_tokens = Table(
    "operator_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("operator_id", Integer, ForeignKey("operators.id"), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("token_hash", String(64), nullable=False),
    Column("status", String(24), nullable=False),
    Column("language", String(2), nullable=False),
    Column("user_agent", String(512), nullable=False, default=""),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("last_seq", Integer, nullable=False, default=0),
    Column("original_question", Text, nullable=False, default=""),
    Column("escalation_reason", String(64), nullable=False, default=""),
    Column("offered_at", Float, nullable=True),
    Column("waiting_since", Float, nullable=True),
    Column("taken_at", Float, nullable=True),
    Column("closed_at", Float, nullable=True),
    Column("operator_id", Integer, ForeignKey("operators.id"), nullable=True),
    Column("ticket_id", Integer, nullable=True),
    Column("operator_typing_at", Float, nullable=True),  # the operator's last "typing" mark (0006)
    # an emergency: first in the queue, marked URGENT in the console (0010)
    Column("urgent", Boolean, nullable=False, default=False, server_default=false()),
    # the questions offered as buttons beside "talk to a person" (JSON [{intent, question}]; "" when none) (0010)
    Column("suggestions", Text, nullable=False, default="", server_default=""),
    Index("ix_sessions_status_waiting", "status", "waiting_since"),
    Index("ix_sessions_operator", "operator_id", "status"),
    Index("ix_sessions_created_at", "created_at"),  # the Analisi period
    Index("ix_sessions_taken_at", "taken_at"),  # the last queue waits (estimated wait)
    Index("ix_sessions_updated_at", "updated_at"),  # the change feed (0013)
)

messages = Table(
    "messages",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("session_id", String(32), ForeignKey("sessions.id"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("role", String(16), nullable=False),
    Column("author", String(128), nullable=False, default=""),
    Column("text", Text, nullable=False),
    Column("intent", String(64), nullable=False, default=""),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("session_id", "seq", name="uq_messages_session_seq"),
)

tickets = Table(
    "tickets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("session_id", String(32), ForeignKey("sessions.id"), nullable=False),
    Column("original_question", Text, nullable=False, default=""),
    Column("conversation_transcript", Text, nullable=False, default=""),
    Column("operator_name", String(128), nullable=False, default=""),
    Column("started_at", Float, nullable=True),
    Column("ended_at", Float, nullable=True),
    Column("resolution_reason", Text, nullable=False, default=""),
    Column("status", String(16), nullable=False),
    Column("contact_method", String(16), nullable=False),
    Column("contact_info", String(256), nullable=False, default=""),
    Column("conversation_history", Text, nullable=False, default="[]"),
    Column("language", String(2), nullable=False, default="it"),
    Column("assigned_to", Integer, ForeignKey("operators.id"), nullable=True),
    Column("notes", Text, nullable=False, default=""),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("rating", Integer, nullable=True),  # the visitor's 1-5 satisfaction rating (0006)
    Column("rating_comment", Text, nullable=False, default="", server_default=""),
    Column("urgent", Boolean, nullable=False, default=False, server_default=false()),  # an emergency's (0010)
    # Tickets followed to closure (0012): the phone call-backs (how many, when the next is due) and the
    # service levels (the first response to the visitor, the resolution).
    Column("call_attempts", Integer, nullable=False, default=0, server_default="0"),
    Column("next_call_at", Float, nullable=True),
    Column("first_response_at", Float, nullable=True),
    Column("resolved_at", Float, nullable=True),
    Index("ix_tickets_status", "status"),
    Index("ix_tickets_session", "session_id"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(32), nullable=False, unique=True),
    Column("worksheet", String(64), nullable=False),
    Column("op", String(16), nullable=False, default="append"),  # append | upsert
    Column("row_key", String(64), nullable=False, default=""),
    Column("session_id", String(32), nullable=True),
    Column("payload", Text, nullable=False),  # JSON list of cell values
    Column("created_at", Float, nullable=False),
    Column("status", String(16), nullable=False, default="pending"),  # pending|sent|failed
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text, nullable=False, default=""),
    Column("sent_at", Float, nullable=True),
    Index("ix_outbox_status_id", "status", "id"),
)

# One row per step of a conversation (sportello.domain.events): what the
# analytics and the dashboard log read. `id` is the event id of the outbox row
# that carries the event's sheet row, written in the same transaction.
events = Table(
    "events",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("session_id", String(32), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("intent", String(64), nullable=False, default=""),
    Column("at", Float, nullable=False),
    Column("text", Text, nullable=False, default=""),
    Column("reply", Text, nullable=False, default=""),
    Column("question", Text, nullable=False, default=""),
    Column("operator", String(128), nullable=False, default=""),
    Column("user_agent", String(512), nullable=False, default=""),
    Column("ticket_id", Integer, nullable=True),
    Column("contact_method", String(16), nullable=False, default=""),
    Column("transcript", Text, nullable=False, default=""),
    # The id of the event's outbox row: the commit order, which the log is read in (the
    # outbox row itself may be pruned once sent).
    Column("seq", Integer, nullable=True),
    Index("ix_events_kind_at_intent", "kind", "at", "intent"),
    Index("ix_events_intent_seq_at", "intent", "seq", "at"),  # the log filtered on intents, newest first
    Index("ix_events_session_at", "session_id", "at"),
    Index("ix_events_at", "at"),
    Index("ix_events_seq", "seq"),
)


# Small runtime facts shared between processes (e.g. the outbox worker's
# status, which the dashboard shows): key -> JSON text.
kv = Table(
    "kv",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", Float, nullable=False),
)


# What operators taught the answerer (sportello.services.learning): one row per
# decision on a visitor question; undo marks the row, never deletes it.
labels = Table(
    "labels",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("question", Text, nullable=False),
    Column("lang", String(8), nullable=False),
    Column("kind", String(16), nullable=False),  # intent | escalate | kb_entry
    Column("intent", String(64), nullable=False, default=""),
    Column("question_it", Text, nullable=False, default=""),
    Column("question_en", Text, nullable=False, default=""),
    Column("answer_it", Text, nullable=False, default=""),
    Column("answer_en", Text, nullable=False, default=""),
    Column("operator_id", Integer, nullable=True),
    Column("operator_name", String(128), nullable=False, default=""),
    Column("created_at", Float, nullable=False),
    Column("undone_at", Float, nullable=True),
    Column("undone_by", String(128), nullable=True),
    # approved (in the learned files) | proposed (a non-admin's, waiting for an admin) | rejected (0008)
    Column("status", String(16), nullable=False, default="approved", server_default="approved"),
    Column("reviewed_by", String(128), nullable=True),
    Column("reviewed_at", Float, nullable=True),
    Index("ix_labels_created_at", "created_at"),
    Index("ix_labels_status", "status"),
)


# The visitor's satisfaction rating, one per session (sportello.services.feedback, 0006).
ratings = Table(
    "ratings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("session_id", String(32), nullable=False),
    Column("score", Integer, nullable=False),
    Column("comment", Text, nullable=False, default=""),
    Column("resolved_by", String(16), nullable=False),  # ai | operator
    Column("operator_name", String(128), nullable=False, default=""),
    Column("ticket_id", Integer, nullable=True),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("session_id", name="uq_ratings_session"),
    Index("ix_ratings_created_at", "created_at"),
)


# Internal notes operators write on a live chat or a ticket (sportello.services.notes):
# read by operators only, never shown to the visitor nor written to the sheets.
notes = Table(
    "notes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("session_id", String(32), nullable=True),
    Column("ticket_id", Integer, nullable=True),
    Column("operator_id", Integer, nullable=True),
    Column("operator_name", String(128), nullable=False, default=""),
    Column("text", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Index("ix_notes_session", "session_id", "created_at"),
    Index("ix_notes_ticket", "ticket_id", "created_at"),
)


# The per-client quotas and the sign-in lockouts shared by every process (sportello.store.limits, 0009).
# A token bucket's theoretical arrival time, or a lock's end, per key; expired rows are pruned.
limit_counters = Table(
    "limit_counters",
    metadata,
    Column("key", String(255), primary_key=True),
    Column("value", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Index("ix_limit_counters_expires_at", "expires_at"),
)

# Failed attempts, one row each, counted in a sliding window; pruned once out of it.
limit_events = Table(
    "limit_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(255), nullable=False),
    Column("at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Index("ix_limit_events_key_at", "key", "at"),
    Index("ix_limit_events_expires_at", "expires_at"),
)

# -- Mail and ticket follow-up (migration 0011) ------------------------------------------------
# A reply on a ticket: the operator's (sent by email: the row is also its mail job, see
# sportello.services.ticket_replies) or the visitor's (from the ticket page).
ticket_replies = Table(
    "ticket_replies",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ticket_id", Integer, nullable=False),
    Column("author", String(16), nullable=False),  # operator | visitor
    Column("operator_id", Integer, nullable=True),
    Column("text", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("state", String(16), nullable=False),  # queued | sent | failed (operator); received (visitor)
    Column("error", Text, nullable=False, default=""),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", Float, nullable=True),
    Column("sent_at", Float, nullable=True),
    Column("message_id", String(255), nullable=False, default=""),
    Index("ix_ticket_replies_ticket", "ticket_id", "id"),
    Index("ix_ticket_replies_due", "state", "next_attempt_at"),
)

# The visitor's links to a ticket's page: only a hash of the token is kept.
ticket_tokens = Table(
    "ticket_tokens",
    metadata,
    Column("hash", String(64), primary_key=True),
    Column("ticket_id", Integer, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("revoked_at", Float, nullable=True),
    Index("ix_ticket_tokens_ticket", "ticket_id"),
)


# Calls back to the visitors of phone tickets (sportello.services.callbacks, 0012): one row per attempt.
ticket_calls = Table(
    "ticket_calls",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ticket_id", Integer, ForeignKey("tickets.id"), nullable=False),
    Column("session_id", String(32), nullable=False),
    Column("attempt", Integer, nullable=False),  # 1 for the first call of the ticket
    Column("outcome", String(16), nullable=False),  # reached | no_answer | left_message
    Column("note", Text, nullable=False, default=""),
    Column("next_attempt_at", Float, nullable=True),
    Column("operator_id", Integer, nullable=True),
    Column("operator_name", String(128), nullable=False, default=""),
    Column("created_at", Float, nullable=False),
    Index("ix_ticket_calls_ticket", "ticket_id", "id"),
    Index("ix_ticket_calls_session", "session_id"),
)


# Staff alerts (sportello.services.alerts, 0012): a durable outbox of its own, written in the transaction
# of what caused the alert, delivered by the outbox leader's alert worker, each exactly once by
# `delivery_id` (sent to the receiver, which dedupes on it). `dedupe_key` makes an alert that a periodic
# check raises (a chat waiting too long) happen once.
alerts = Table(
    "alerts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("delivery_id", String(32), nullable=False, unique=True),
    Column("kind", String(32), nullable=False),
    Column("session_id", String(32), nullable=True),
    Column("ticket_id", Integer, nullable=True),
    Column("dedupe_key", String(96), nullable=True, unique=True),
    Column("payload", Text, nullable=False),  # JSON object: what the receiver gets
    Column("created_at", Float, nullable=False),
    Column("status", String(16), nullable=False, default="pending"),  # pending | sent | skipped
    Column("channels_done", String(64), nullable=False, default=""),  # "webhook,email": delivered so far
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", Float, nullable=False, default=0.0),
    Column("last_error", Text, nullable=False, default=""),
    Column("sent_at", Float, nullable=True),
    Index("ix_alerts_status_next", "status", "next_attempt_at"),
    Index("ix_alerts_session", "session_id"),
)
