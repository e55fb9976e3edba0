"""Privacy (GDPR): erase a visitor's data, keep conversations only as long
as RETENTION_DAYS says, and mask contacts where they are not needed.

Erasure (`erase_session`, `erase_contact`, `retention`) anonymises, in ONE
write transaction per batch of sessions:

- the session (its original question, the user agent);
- its messages (every text, the visitor's and the replies quoting it);
- its events (text, reply, question, transcript, user agent; kind, intent
  and time stay, so the analytics still count the conversation);
- its tickets (contact, original question, transcript, AI history,
  resolution, internal notes; status, method and times stay), whose
  "Ticket" sheet rows are upserted again, anonymised, through the outbox;
- its outbox rows, sent or not (a pending row leaves without the data);

- the labels operators made from the visitor's words (the learning loop):
  on request, a label whose question (or a KB entry's text) is a message of
  an erased session, or holds the erased contact or a contact of an erased
  session's ticket; by retention, a label that holds such a contact. Their
  texts are blanked and they are withdrawn (undone "by" `LABELS_ERASED_BY`);
  kind, intent, status, author and times stay, for the audit;

and records a tombstone event (`EventKind.ERASED`): its "Conversazioni" row
says which session was erased, when and why, without the data, because an
appended Google worksheet cannot be rewritten safely. After the commit the
local sheets (`$DATA_DIR/sheets/*.csv`) are rewritten without the data
(`sportello.sinks.erasure`), the learned files are regenerated from the
labels left (`relearn`), the in-process caches of visitor questions are
emptied, and SQLite's WAL is checkpointed and truncated (with
`secure_delete` on, the database file keeps no erased bytes either).

What stays: counts, intents, statuses, times, the operator's name, the
session id (random, not personal) and the tombstone.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from sportello.answering.retrieval_text import stem
from sportello.config import Settings
from sportello.domain import NotFound, ValidationError
from sportello.domain.events import ERASED_BY_RETENTION, ERASED_ON_REQUEST, ERASED_TEXT, Event, EventKind
from sportello.domain.states import Role, State
from sportello.domain.validation import validate_email, validate_phone
from sportello.services.events import record
from sportello.services.learning import write_learned_files
from sportello.services.reports import normalize_question
from sportello.services.tickets import upsert_sheet_row
from sportello.sinks.erasure import anonymise_values, erase_csv_sessions
from sportello.store import alerts as alert_table
from sportello.store import calls as call_table
from sportello.store import events as event_table
from sportello.store import labels as label_table
from sportello.store import outbox
from sportello.store import ticket_replies as ticket_reply_table  # replies, mail jobs, links
from sportello.store import tickets as ticket_table
from sportello.store.database import Store
from sportello.store.events import blanked, escape_like
from sportello.store.tables import messages, notes, ratings, sessions, tickets

log = logging.getLogger("sportello.privacy")

DAY_S = 86400.0
BATCH = 10  # sessions per transaction: a retention pass never holds the write lock for long
# States a conversation is over in: closed, or left by the visitor before any operator was involved.
ENDED_STATES = (State.CLOSED, State.BOT, State.OFFERED, State.COLLECTING_CONTACT)
LABELS_ERASED_BY = "[erasure]"  # who "undid" a label erasure withdrew
# A visitor's message found inside a longer label text (an edited question) counts from this length:
# a short one ("sì", "grazie") would match unrelated labels.
MIN_CONTAINED = 16


def _norm(text: str | None) -> str:
    return " ".join(str(text or "").split()).casefold()


def labels_holding(rows: list[dict], needles: list[str], texts: list[str]) -> list[int]:
    """The ids of the labels (`store.labels.texts` rows) holding a needle (an email or phone, anywhere in
    their texts) or a visitor's message (a whole text, or inside a longer one)."""
    needles = [n for n in map(_norm, needles) if n]
    texts_set = {t for t in map(_norm, texts) if t}
    long_texts = [t for t in texts_set if len(t) >= MIN_CONTAINED]
    found = []
    for row in rows:
        fields = [f for f in (_norm(row[c]) for c in label_table.TEXT_COLUMNS) if f]
        if any(f in texts_set or any(n in f for n in needles) or any(t in f for t in long_texts) for f in fields):
            found.append(row["id"])
    return found


def contact_needles(contact: str) -> list[str]:
    """What to look for: the contact as given and as the flow stored it (a valid email or phone only,
    so that a typo can never match, and erase, half the database)."""
    raw = (contact or "").strip()
    for check in (validate_email, validate_phone):
        try:
            normal = check(raw)
        except ValidationError:
            continue
        return sorted({raw, normal})
    raise ValidationError("give a valid email address or phone number", code="invalid_contact")


class PrivacyService:
    """Erasure and retention for the faces (admin CLI, dashboard) and the runtime's sweeper."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
        on_commit: Callable[[], None] = lambda: None,
        sheets_guard: Callable[[], AbstractContextManager] = nullcontext,
        relearn: Callable[[], object] | None = None,
    ):
        self._store = store
        self.settings = settings
        self.clock = clock
        self.on_commit = on_commit
        # Regenerates the learned files after labels were erased: the runtime passes `Learning.sync`
        # (its answerer reloads at once); alone (the admin command) the files are written, and every
        # answerer notices them within its reload interval.
        self.relearn = relearn or (lambda: write_learned_files(store, settings))
        # Held while the local sheets are rewritten: the runtime passes its outbox worker's batch lock,
        # so a batch claimed before the erasure committed (old payloads) is written before the rewrite.
        self.sheets_guard = sheets_guard

    # ------------------------------------------------------------- the commands
    def erase_session(self, session_id: str) -> dict:
        """Erase one conversation's data (by its session id)."""
        with self._store.read() as conn:
            if conn.execute(select(sessions.c.id).where(sessions.c.id == session_id)).first() is None:
                raise NotFound("unknown session", code="unknown_session")
        return self._erase([session_id], ERASED_ON_REQUEST, match_texts=True)

    def erase_contact(self, contact: str) -> dict:
        """Erase every conversation the email or phone number appears in (its ticket, its messages)."""
        needles = contact_needles(contact)
        with self._store.read() as conn:
            ids = self._sessions_mentioning(conn, needles)
        return self._erase(ids, ERASED_ON_REQUEST, needles=needles, match_texts=True)

    def retention(self, days: float | None = None) -> dict:
        """Anonymise the conversations ended more than `days` (default RETENTION_DAYS) ago; 0 keeps all."""
        days = self.settings.retention_days if days is None else days
        if not days or days <= 0:
            return self._report([])
        cutoff = self.clock() - days * DAY_S
        with self._store.read() as conn:
            ids = event_table.ended_unerased_sessions(conn, cutoff, [str(s) for s in ENDED_STATES])
        return self._erase(ids, ERASED_BY_RETENTION, skip_erased=True)

    # ------------------------------------------------------------- the work
    @staticmethod
    def _sessions_mentioning(conn: Connection, needles: list[str]) -> list[str]:
        found: set[str] = set()
        for needle in needles:
            like = f"%{escape_like(needle)}%"
            found |= ticket_table.sessions_mentioning(conn, like)
            found |= event_table.sessions_mentioning(conn, like)
            found.update(
                conn.execute(
                    select(sessions.c.id).where(sessions.c.original_question.ilike(like, escape="\\"))
                ).scalars()
            )
            found.update(
                conn.execute(
                    select(messages.c.session_id).where(messages.c.text.ilike(like, escape="\\")).distinct()
                ).scalars()
            )
        return sorted(found)

    def _erase(
        self,
        session_ids: list[str],
        reason: str,
        *,
        skip_erased: bool = False,
        needles: list[str] = (),
        match_texts: bool = False,
    ) -> dict:
        """`needles`: the contact asked for (looked for in the labels too); `match_texts`: the labels
        made from the sessions' messages are erased too (on request; retention keeps what was taught
        from old conversations unless it holds a contact)."""
        started = time.perf_counter()
        done: list[str] = []
        counts = {"tickets": 0, "messages": 0, "events": 0, "outbox_rows": 0, "labels": 0}
        longest = 0.0
        for i in range(0, len(session_ids), BATCH):
            batch = session_ids[i : i + BATCH]
            tx_started = time.perf_counter()
            with self._store.write() as conn:
                ids = self._lock(conn, batch, skip_erased)
                if ids:
                    now = self.clock()
                    counts["labels"] += self._erase_labels(conn, ids, list(needles), match_texts, now)
                    for key, n in self._anonymise(conn, ids, reason, now).items():
                        counts[key] += n
            longest = max(longest, time.perf_counter() - tx_started)
            done += ids
            if ids:
                self.on_commit()
        with self.sheets_guard():
            sheet_rows = erase_csv_sessions(self.settings.sheets_dir, done)
        if done:
            self._forget(counts["labels"])
        report = self._report(sorted(done), sheet_rows=sheet_rows, **counts)
        report["ms"] = round((time.perf_counter() - started) * 1000, 1)
        report["longest_transaction_ms"] = round(longest * 1000, 1)
        if done:
            log.info("privacy: erased %d session(s) (%s): %s", len(done), reason, json.dumps(report))
        return report

    def _forget(self, labels_erased: int) -> None:
        """After the commits: the copies of the erased data outside the tables."""
        if labels_erased:
            try:
                self.relearn()  # the learned files, without the erased labels
            except Exception:
                log.exception("privacy: could not regenerate the learned files after erasing labels")
        # In-process caches keyed by visitor questions (the reports' grouping, the answerer's stems);
        # the reports' day cache drops itself when it sees the tombstone (any process).
        normalize_question.cache_clear()
        stem.cache_clear()
        # SQLite: the WAL still holds the pages as they were before the erasure.
        if not self._store.checkpoint():
            log.warning("privacy: the WAL checkpoint was busy; erased data may stay in the WAL until the next one")

    @staticmethod
    def _erase_labels(conn: Connection, ids: list[str], needles: list[str], match_texts: bool, now: float) -> int:
        """Blank and withdraw the labels holding the sessions' data (before their messages are blanked)."""
        contacts = conn.execute(select(tickets.c.contact_info).where(tickets.c.session_id.in_(ids))).scalars()
        needles = needles + [c for c in contacts if c]
        texts: list[str] = []
        if match_texts:
            texts += conn.execute(
                select(messages.c.text).where(messages.c.session_id.in_(ids), messages.c.role == Role.USER)
            ).scalars()
            texts += conn.execute(select(sessions.c.original_question).where(sessions.c.id.in_(ids))).scalars()
        if not needles and not texts:
            return 0
        found = labels_holding(label_table.texts(conn), needles, texts)
        return label_table.erase(conn, found, ERASED_TEXT, now, LABELS_ERASED_BY)

    @staticmethod
    def _report(ids: list[str], **counts) -> dict:
        return {
            "sessions": ids,
            "tickets": 0,
            "messages": 0,
            "events": 0,
            "outbox_rows": 0,
            "labels": 0,
            "sheet_rows": 0,
            **counts,
        }

    @staticmethod
    def _lock(conn: Connection, ids: list[str], skip_erased: bool) -> list[str]:
        """Lock the sessions' rows (concurrent passes of several processes wait, then see the erasure)."""
        locked = list(conn.execute(select(sessions.c.id).where(sessions.c.id.in_(ids)).with_for_update()).scalars())
        if skip_erased and locked:
            erased = event_table.erased_among(conn, locked)
            locked = [s for s in locked if s not in erased]
        return sorted(locked)

    @staticmethod
    def _anonymise(conn: Connection, ids: list[str], reason: str, now: float) -> dict:
        conn.execute(
            update(sessions)
            .where(sessions.c.id.in_(ids))
            .values(original_question=blanked(sessions.c.original_question, ERASED_TEXT), user_agent="")
        )
        n_messages = conn.execute(
            update(messages).where(messages.c.session_id.in_(ids)).values(text=ERASED_TEXT)
        ).rowcount
        conn.execute(notes.delete().where(notes.c.session_id.in_(ids)))  # operators' internal notes (console)
        # the visitor's comment on the satisfaction rating; the score stays
        conn.execute(update(ratings).where(ratings.c.session_id.in_(ids)).values(comment=""))
        n_events = event_table.anonymise_sessions(conn, ids, ERASED_TEXT)
        # The operators' notes on call backs; the staff alerts' payloads (they quote the question).
        call_table.erase_sessions(conn, ids)
        alert_table.erase_sessions(conn, ids, ERASED_TEXT)
        # Outbox rows first: the tickets' new (anonymised) upserts below need no rewrite.
        n_outbox = outbox.rewrite_payloads(conn, ids, anonymise_values)
        erased_tickets = ticket_table.anonymise_sessions(conn, ids, ERASED_TEXT, now)
        for t in erased_tickets:
            upsert_sheet_row(conn, t, now)
        # The tickets' replies, their mail jobs (a queued mail is never sent) and the visitor's links.
        ticket_reply_table.erase_tickets(conn, [t["id"] for t in erased_tickets])
        for session_id in ids:
            record(conn, Event(EventKind.ERASED, session_id, now, reply=reason))
        return {"tickets": len(erased_tickets), "messages": n_messages, "events": n_events, "outbox_rows": n_outbox}
