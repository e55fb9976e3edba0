"""Ticket follow-up by mail: the operator replies from the ticket,
the reply goes by email; the visitor reads the thread and answers on the
ticket page that the mail links to.

Queueing: `TicketReplies.reply` checks the text and the ticket's address and
writes the reply row, which is also its mail job (state `queued`), with the
ticket change, in one transaction. Nothing is sent inside it.

Sending: `MailWorker` (a daemon thread run by the outbox leader, beside the
delivery worker) takes the due jobs one at a time:

1. `claim` counts the attempt in the row and stores a fresh link token (its
   hash), and COMMITS, before anything leaves;
2. the mail goes over SMTP with the Message-ID fixed when the row was written
   (`<ticket-T.reply-R.CREATED@domain>`);
3. only once the server accepted it (250 after DATA) is the row marked `sent`,
   and the `ticket_reply_sent` sheet row recorded, in one transaction.

A permanent refusal (5xx, a bad address) marks the job `failed` with the
server's reason (a `ticket_reply_failed` sheet row); it is never retried. A
transient one (server down, 4xx, dropped connection, authentication) is
retried with exponential backoff (MAIL_RETRY_BASE_S doubling up to
MAIL_RETRY_MAX_S) until MAIL_MAX_ATTEMPTS, then marked failed.

Exactly once, and the residual window: a crash before step 3 leaves the job
queued with `attempts` > 0, so it is sent again after the restart. If the
crash came before the server's 250 (the usual case: the connection drops and
the server discards the message) the mail arrives once. If it came in the
short window between the server's 250 and the COMMIT of step 3, the visitor
gets the mail twice; both copies carry the same Message-ID, which mail
programs use to recognise (and many to hide) the duplicate. SMTP offers no way
to ask a server whether it already has a message, so this window cannot be
closed from the sending side: it is at-least-once there, exactly-once
everywhere else.

The link: `PUBLIC_URL/ticket/<token>`, `secrets.token_urlsafe(32)`, stored as
its SHA-256, bound to one ticket, valid TICKET_LINK_TTL_DAYS, compared in
constant time, revoked by erasure (the rows are deleted). An unknown, expired
or revoked link is NotFound (404) and nothing more; too many of them from one
address within RATE_WINDOW_S are refused (429).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime

from sportello.config import Settings
from sportello.domain import Conflict, NotFound, TicketStatus, ValidationError, iso
from sportello.domain.events import Event, EventKind
from sportello.domain.hours import zone
from sportello.domain.states import ContactMethod
from sportello.domain.ticket_texts import MAIL, lang_of
from sportello.domain.validation import validate_email, validate_text
from sportello.services import alerts
from sportello.services.events import record
from sportello.services.scheduler import Worker
from sportello.services.throttle import RateLimit, too_many
from sportello.services.ticket_lifecycle import responded, status_change
from sportello.services.tickets import upsert_sheet_row
from sportello.sinks.mail import MailError, SmtpConfig, SmtpMailer, address, compose
from sportello.store import ticket_replies as replies
from sportello.store import tickets as ticket_table
from sportello.store.database import Store

log = logging.getLogger("sportello.mail")

DAY_S = 86400.0
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{20,100}$")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def backoff_s(attempts: int, base_s: float, max_s: float) -> float:
    """The wait after the `attempts`-th failed attempt: base, 2x base, 4x base, ... at most max."""
    return min(max_s, base_s * 2 ** min(max(attempts - 1, 0), 30))


def message_id(reply_id: int, ticket_id: int, created_at: float, sender: str) -> str:
    """The mail's Message-ID, derived from the job row (stable across attempts and restarts)."""
    try:
        domain = address(sender).domain
    except ValueError:
        domain = "localhost"
    return f"<ticket-{ticket_id}.reply-{reply_id}.{int(created_at)}@{domain}>"


def mail_address(ticket: dict) -> str:
    """The ticket's email address, or a ValidationError saying why there is none."""
    if ticket.get("contact_method") != ContactMethod.EMAIL:
        raise ValidationError("the visitor left no email address on this ticket", code="invalid_email")
    try:
        value = validate_email(ticket.get("contact_info") or "")
        address(value)
    except (ValidationError, ValueError):
        raise ValidationError("the ticket's email address is not valid", code="invalid_email") from None
    return value


class TicketReplies:
    """Replies on tickets for the faces (the API, the dashboard, the ticket page) and the mail worker."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
        on_commit: Callable[[], None] = lambda: None,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self._store = store
        self.settings = settings
        self.clock = clock
        self.on_commit = on_commit
        self.monotonic = monotonic
        s = settings
        self._misses = RateLimit(s.ticket_link_misses_per_ip, s.rate_window_s, clock=monotonic)
        self._visitor_writes = RateLimit(s.message_rate_per_ip, s.rate_window_s, clock=monotonic)
        self._blocked: OrderedDict[str, float] = OrderedDict()  # address -> monotonic time its block ends
        self._blocked_lock = threading.Lock()

    # ------------------------------------------------------------- the operator
    @property
    def mail_configured(self) -> bool:
        return bool(self.settings.smtp_url)

    def reply(self, ticket_id: int, operator: dict, text: object) -> dict:
        """Queue the operator's reply by email: {"reply_id", "state"}."""
        if not self.mail_configured:
            raise Conflict("mail is not configured (set SMTP_URL)", code="mail_not_configured")
        text = validate_text(text, self.settings.max_message_len)
        now = self.clock()
        with self._store.write() as conn:
            ticket = ticket_table.get(conn, ticket_id, for_update=True)
            if ticket is None:
                raise NotFound(f"ticket {ticket_id} not found", code="unknown_ticket")
            mail_address(ticket)  # refused now, with a clear error, rather than failed later
            reply_id = replies.insert(
                conn,
                {
                    "ticket_id": ticket_id,
                    "author": replies.OPERATOR,
                    "operator_id": operator["id"],
                    "text": text,
                    "created_at": now,
                    "state": replies.QUEUED,
                    "next_attempt_at": now,
                },
            )
            mid = message_id(reply_id, ticket_id, now, self.settings.mail_from or "sportello@localhost")
            replies.set_values(conn, reply_id, {"message_id": mid})
            # a reply is the ticket's first response (service levels)
            t = ticket_table.set_values(conn, ticket_id, {"updated_at": now, **responded(ticket, now)})
            upsert_sheet_row(conn, t, now)
        self.on_commit()
        return {"reply_id": reply_id, "state": replies.QUEUED}

    def list(self, ticket_id: int) -> list[dict]:
        """A ticket's replies, oldest first: author, operator_name, text, state, error, times (ISO)."""
        with self._store.read() as conn:
            if ticket_table.get(conn, ticket_id) is None:
                raise NotFound(f"ticket {ticket_id} not found", code="unknown_ticket")
            rows = replies.for_ticket(conn, ticket_id)
        return [
            {
                "id": r["id"],
                "author": r["author"],
                "operator_name": r["operator_name"] if r["author"] == replies.OPERATOR else "",
                "text": r["text"],
                "created_at": iso(r["created_at"]),
                "state": r["state"],
                "error": r["error"],
                "attempts": r["attempts"],
                "sent_at": iso(r["sent_at"]),
            }
            for r in rows
        ]

    def awaiting_answer(self, ticket_ids: list[int] | None = None) -> set[int]:
        """The tickets the visitor answered last (the dashboard's badge)."""
        with self._store.read() as conn:
            return replies.awaiting_answer(conn, ticket_ids)

    # ------------------------------------------------------------- the visitor
    def _check_blocked(self, key: str) -> None:
        with self._blocked_lock:
            until = self._blocked.get(key)
            if until is not None and until <= self.monotonic():
                self._blocked.pop(key, None)
                until = None
        if until is not None:
            raise too_many(
                "too_many_link_misses",
                "Troppi link non validi.",
                "Too many invalid links.",
                until - self.monotonic(),
            )

    def _miss(self, key: str) -> NotFound:
        wait = self._misses.hit(key)
        if wait > 0:
            with self._blocked_lock:
                self._blocked[key] = self.monotonic() + wait
                while len(self._blocked) > 10_000:
                    self._blocked.popitem(last=False)
        return NotFound("not found", code="not_found")

    def _ticket_of(self, conn, token: object, client: str | None) -> dict:
        """The ticket a live link opens, else NotFound (after counting the miss against `client`)."""
        key = client or "?"
        exempt = client in self.settings.rate_limit_exempt
        if not exempt:
            self._check_blocked(key)
        found = None
        if isinstance(token, str) and TOKEN_RE.match(token):
            wanted = token_hash(token)
            found = replies.token_ticket(conn, wanted, self.clock())
            if found is not None and not hmac.compare_digest(found[0], wanted):
                found = None
        ticket = ticket_table.get(conn, found[1]) if found is not None else None
        if ticket is None:
            raise (NotFound("not found", code="not_found") if exempt else self._miss(key))
        return ticket

    def ticket_id_for(self, token: object, client: str | None = None) -> int:
        with self._store.read() as conn:
            return self._ticket_of(conn, token, client)["id"]

    def thread(self, token: object, client: str | None = None) -> dict:
        """What the ticket page shows: the ticket (no contact) and its replies, oldest first."""
        with self._store.read() as conn:
            t = self._ticket_of(conn, token, client)
            rows = replies.for_ticket(conn, t["id"])
        return {
            "ticket": {
                "id": t["id"],
                "status": t["status"],
                "language": lang_of(t["language"]),
                "question": t["original_question"],
                "created_at": t["created_at"],
            },
            "replies": [
                {
                    "id": r["id"],
                    "author": r["author"],
                    "name": r["operator_name"] if r["author"] == replies.OPERATOR else "",
                    "text": r["text"],
                    "at": iso(r["created_at"]),
                }
                for r in rows
            ],
            "max_length": self.settings.max_message_len,
            "venue": self.settings.venue_name,
        }

    def visitor_reply(self, token: object, text: object, client: str | None = None) -> dict:
        """The visitor's reply from the ticket page: into the ticket (reopened when resolved), flagged
        for its operator (awaiting_answer), a `ticket_visitor_reply` sheet row."""
        key = client or "?"
        text = validate_text(text, self.settings.max_message_len)
        now = self.clock()
        with self._store.write() as conn:
            t = self._ticket_of(conn, token, client)
            if client not in self.settings.rate_limit_exempt:
                wait = self._visitor_writes.hit(key)
                if wait > 0:
                    raise too_many("too_many_messages", "Troppe risposte.", "Too many replies.", wait)
            t = ticket_table.get(conn, t["id"], for_update=True)
            reply_id = replies.insert(
                conn,
                {
                    "ticket_id": t["id"],
                    "author": replies.VISITOR,
                    "text": text,
                    "created_at": now,
                    "state": replies.RECEIVED,
                },
            )
            values: dict = {"updated_at": now}
            if t["status"] in (TicketStatus.RESOLVED, TicketStatus.PENDING):  # open again (life cycle)
                values |= status_change(conn, t, TicketStatus.OPEN, now)
            t = ticket_table.set_values(conn, t["id"], values)
            upsert_sheet_row(conn, t, now)
            alerts.visitor_replied(conn, t, now)  # the staff alert, in this transaction
            record(conn, Event(EventKind.TICKET_VISITOR_REPLY, t["session_id"], now, text=text, ticket_id=t["id"]))
        self.on_commit()
        return {"reply_id": reply_id, "state": replies.RECEIVED, "status": t["status"]}

    # ------------------------------------------------------------- the mail worker's steps
    def due(self, limit: int = 20) -> list[int]:
        with self._store.read() as conn:
            return replies.due(conn, self.clock(), limit)

    def next_due_at(self) -> float | None:
        with self._store.read() as conn:
            return replies.next_due_at(conn)

    def send_one(self, reply_id: int, mailer) -> str:
        """One attempt at one job (see the module's docstring); its state afterwards ("" when it was
        no longer queued)."""
        s = self.settings
        now = self.clock()
        token = secrets.token_urlsafe(32)
        expires_at = now + s.ticket_link_ttl_days * DAY_S
        with self._store.write() as conn:
            job = replies.claim(conn, reply_id)
            if job is None:
                return ""
            ticket = ticket_table.get(conn, job["ticket_id"])
            if ticket is not None:
                replies.add_token(conn, token_hash(token), ticket["id"], expires_at)
        # Committed: the attempt is counted and the link works before the mail leaves.
        attempt = job["attempts"] + 1
        try:
            if ticket is None:
                raise MailError("the ticket no longer exists", permanent=True)
            msg = self._compose(job, ticket, token, expires_at)
        except (ValidationError, ValueError) as exc:
            return self._failed(job, ticket, f"invalid message: {exc}")
        except MailError as exc:
            return self._failed(job, ticket, str(exc))
        try:
            mailer.send(msg)
        except MailError as exc:
            if exc.permanent:
                return self._failed(job, ticket, str(exc))
            if attempt >= s.mail_max_attempts:
                return self._failed(job, ticket, f"gave up after {attempt} attempts: {exc}")
            delay = backoff_s(attempt, s.mail_retry_base_s, s.mail_retry_max_s)
            with self._store.write() as conn:
                replies.set_values(conn, reply_id, {"error": str(exc)[:2000], "next_attempt_at": self.clock() + delay})
            log.warning("reply %s to ticket %s not sent (%s); retrying in %.1fs", reply_id, ticket["id"], exc, delay)
            return replies.QUEUED
        sent_at = self.clock()
        with self._store.write() as conn:
            if replies.claim_done(conn, reply_id, replies.SENT, sent_at, ""):
                record(
                    conn,
                    Event(
                        EventKind.TICKET_REPLY_SENT,
                        ticket["session_id"],
                        sent_at,
                        text=job["text"],
                        operator=job["operator_name"],
                        ticket_id=ticket["id"],
                    ),
                )
        self.on_commit()
        log.info("reply %s to ticket %s sent (%s)", reply_id, ticket["id"], job["message_id"])
        return replies.SENT

    def _failed(self, job: dict, ticket: dict | None, reason: str) -> str:
        now = self.clock()
        with self._store.write() as conn:
            if replies.claim_done(conn, job["id"], replies.FAILED, None, reason[:2000]) and ticket is not None:
                record(
                    conn,
                    Event(
                        EventKind.TICKET_REPLY_FAILED,
                        ticket["session_id"],
                        now,
                        text=job["text"],
                        reply=reason[:500],
                        operator=job["operator_name"],
                        ticket_id=ticket["id"],
                    ),
                )
        self.on_commit()
        log.error("reply %s to ticket %s failed: %s", job["id"], job["ticket_id"], reason)
        return replies.FAILED

    def _compose(self, job: dict, ticket: dict, token: str, expires_at: float):
        s = self.settings
        lang = lang_of(ticket["language"])
        venue = s.venue_name or "Sportello"
        expires = datetime.fromtimestamp(expires_at, tz=zone(s.timezone, or_utc=True)).strftime("%Y-%m-%d")
        fields = {
            "venue": venue,
            "id": ticket["id"],
            "text": job["text"],
            "signature": job["operator_name"],
            "link": f"{s.public_base_url}/ticket/{token}",
            "expires": expires,
        }
        return compose(
            sender=s.mail_from or "sportello@localhost",
            sender_name=f"{job['operator_name']} - {venue}" if job["operator_name"] else venue,
            to=mail_address(ticket),
            reply_to=s.mail_reply_to,
            subject=MAIL[lang]["subject"].format(**fields),
            body=MAIL[lang]["body"].format(**fields),
            message_id=job["message_id"],
            date=job["created_at"],
        )


class MailWorker(Worker):
    """Sends the due mail jobs, in a daemon thread (run by the outbox leader, see runtime.py)."""

    thread_name = "mail-worker"

    def __init__(self, service: TicketReplies, mailer, *, interval_s: float = 1.0, batch: int = 20):
        super().__init__(batch=batch, interval_s=interval_s)
        self.service = service
        self.mailer = mailer
        self.lock = threading.Lock()  # one step at a time (the thread, or a direct call)

    @classmethod
    def from_settings(cls, service: TicketReplies, settings: Settings) -> MailWorker | None:
        """The worker for SMTP_URL (None when mail is not configured)."""
        if not settings.smtp_url:
            return None
        config = SmtpConfig.parse(settings.smtp_url)
        log.info("mail: replies go through %s", config.target)  # never the credentials
        return cls(service, SmtpMailer(config), interval_s=min(1.0, max(0.05, settings.mail_retry_base_s / 2)))

    def step(self) -> int:
        """Attempt every due job once; how many were attempted."""
        with self.lock:
            ids = self.service.due(self.batch)
            for reply_id in ids:
                if self.stopping:
                    break
                self.service.send_one(reply_id, self.mailer)
            return len(ids)
