"""Staff alerts: a chat waiting too long, a new ticket, a visitor's reply -> a signed webhook
and/or an email to the staff address, through a durable outbox of their own.

- **Committed with their cause.** `ticket_created` (called by `sportello.services.tickets.create`) and
  `visitor_replied` (called by the email-reply code) insert the alert row in the caller's transaction;
  `AlertService.check_waiting` (a job of the outbox leader) inserts one per chat waiting longer than
  `ALERT_WAITING_S`, once per chat (a unique `dedupe_key`).
- **Delivered in the background.** `AlertService.drain_once` runs in the outbox leader's alert scheduler
  (`sportello.runtime`), never in a chat's request: an unreachable receiver delays nothing but alerts.
- **Exactly once by id.** Each alert has a `delivery_id`, sent as `X-Sportello-Delivery` on every attempt
  (`sportello.sinks.webhook`). An attempt is counted before the request leaves; the alert is marked
  delivered only after a 2xx, so a crash between the two sends the same id again and the receiver drops
  the duplicate. A failure is retried with exponential backoff and jitter (`RETRY_BASE_S`..`RETRY_MAX_S`).
- **Traced.** A delivered alert records an `alert_sent` event (a "Conversazioni" row) in the transaction
  that marks it sent. With no channel configured, alerts are marked `skipped`.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable

from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from sportello.config import Settings
from sportello.domain import State, iso
from sportello.domain.events import Event, EventKind
from sportello.domain.queue import queue_cutoff
from sportello.domain.tickets import AlertChannel, AlertKind
from sportello.services.events import record
from sportello.sinks.mail import SmtpConfig, SmtpMailer, compose
from sportello.sinks.webhook import WebhookSender
from sportello.store import alerts as alert_table
from sportello.store.database import Store

log = logging.getLogger("sportello.alerts")

RETRY_BASE_S = 5.0
RETRY_MAX_S = 900.0
EXCERPT = 200  # characters of the visitor's question an alert quotes


def _excerpt(text: str) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= EXCERPT else text[: EXCERPT - 1] + "…"


def _ticket_alert(conn: Connection, kind: AlertKind, ticket: dict, now: float, text: str) -> str:
    payload = {
        "kind": kind.value,
        "at": iso(now),
        "text": text,
        "ticket_id": ticket["id"],
        "session_id": ticket["session_id"],
        "ticket": {
            "id": ticket["id"],
            "status": ticket["status"],
            "contact_method": ticket["contact_method"],
            "language": ticket.get("language", ""),
            "question": _excerpt(ticket.get("original_question", "")),
        },
    }
    return alert_table.insert(conn, kind.value, payload, now, session_id=ticket["session_id"], ticket_id=ticket["id"])


def ticket_created(conn: Connection, ticket: dict, now: float) -> str:
    """A visitor left a contact: alert the staff (in `conn`'s transaction); return the delivery id."""
    text = f"🎫 Nuovo ticket #{ticket['id']} ({ticket['contact_method']}): {_excerpt(ticket['original_question'])}"
    return _ticket_alert(conn, AlertKind.NEW_TICKET, ticket, now, text)


def visitor_replied(conn: Connection, ticket: dict, now: float | None = None) -> str:
    """A visitor answered on `ticket`: alert the staff (in `conn`'s transaction); return the delivery id."""
    text = f"✉️ Il visitatore ha risposto sul ticket #{ticket['id']}"
    return _ticket_alert(conn, AlertKind.VISITOR_REPLIED, ticket, time.time() if now is None else now, text)


def backoff_s(attempts: int) -> float:
    """The wait before the next attempt after `attempts` failed ones: exponential, capped, with jitter."""
    delay = min(RETRY_MAX_S, RETRY_BASE_S * 2 ** min(max(attempts, 1) - 1, 20))
    return delay / 2 + random.uniform(0, delay / 2)


class AlertService:
    """Raises the periodic alerts and delivers the alert outbox (run by the outbox leader)."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
        webhook: WebhookSender | None = None,
        email_sender: Callable[[str, str, str, str], None] | None = None,
        batch: int = 50,
    ):
        """`email_sender(to, subject, text, delivery_id)`: sends one alert email (default: over SMTP_URL, the
        server of the ticket replies, `sportello.sinks.mail`, when ALERT_EMAIL and SMTP_URL are set)."""
        self._store = store
        self.settings = settings
        self.clock = clock
        self.batch = batch
        if webhook is None and settings.alert_webhook_url:
            webhook = WebhookSender(
                settings.alert_webhook_url, settings.alert_webhook_secret, settings.alert_webhook_format
            )
        self.webhook = webhook
        if email_sender is None and settings.alert_email and settings.smtp_url:
            email_sender = SmtpAlertMail(settings)
        self.email_sender = email_sender
        if settings.alert_email and email_sender is None:
            log.warning("ALERT_EMAIL is set but SMTP_URL is not: alerts go to the webhook only")

    def channels(self) -> list[AlertChannel]:
        """The channels alerts are delivered to, in order."""
        out = []
        if self.webhook is not None:
            out.append(AlertChannel.WEBHOOK)
        if self.settings.alert_email and self.email_sender is not None:
            out.append(AlertChannel.EMAIL)
        return out

    # ------------------------------------------------------------- raising
    def check_waiting(self) -> int:
        """One alert per chat waiting `ALERT_WAITING_S` or longer (and not timed out yet); return how many."""
        limit = self.settings.alert_waiting_s
        if limit <= 0 or not self.channels():
            return 0
        now = self.clock()
        raised = 0
        try:
            with self._store.write() as conn:
                for s in alert_table.waiting_unalerted(conn, State.WAITING, now - limit, AlertKind.CHAT_WAITING):
                    if s["waiting_since"] <= queue_cutoff(now, self.settings.queue_timeout_s):
                        continue  # timed out: the sweeper asks for a contact (a ticket alert follows)
                    waited = int(now - s["waiting_since"])
                    payload = {
                        "kind": AlertKind.CHAT_WAITING.value,
                        "at": iso(now),
                        "text": f"⏳ Una chat attende da {waited} s: {_excerpt(s['original_question'])}",
                        "session_id": s["id"],
                        "waiting_s": waited,
                        "question": _excerpt(s["original_question"]),
                    }
                    alert_table.insert(
                        conn,
                        AlertKind.CHAT_WAITING.value,
                        payload,
                        now,
                        session_id=s["id"],
                        dedupe_key=f"{AlertKind.CHAT_WAITING.value}:{s['id']}",
                    )
                    raised += 1
        except IntegrityError:  # another process raised the same alert first
            return 0
        return raised

    # ------------------------------------------------------------- delivering
    def drain_once(self) -> int:
        """Deliver the due alerts; return how many were delivered (or skipped: no channel)."""
        now = self.clock()
        with self._store.read() as conn:
            due = alert_table.due(conn, now, self.batch)
        channels = self.channels()
        done_n = 0
        for alert in due:
            if not channels:
                with self._store.write() as conn:
                    alert_table.mark_sent(conn, alert["id"], now, status="skipped")
                done_n += 1
                continue
            done = list(alert["channels_done"])
            try:
                for channel in channels:
                    if channel in done:
                        continue
                    with self._store.write() as conn:  # counted before the request leaves
                        alert_table.count_attempt(conn, alert["id"])
                    self._deliver(channel, alert)
                    done.append(channel.value)
                    if len(done) < len(channels):
                        with self._store.write() as conn:
                            alert_table.mark_channel(conn, alert["id"], done)
            except Exception as exc:  # WebhookError, a MailError, a refused connection: retried later
                self._failed(alert, exc)
                continue
            self._delivered(alert, done, self.clock())
            done_n += 1
        return done_n

    def _failed(self, alert: dict, exc: Exception) -> None:
        """A delivery that failed: retried after a backoff, unless the mail server refused the message for
        good (`MailError.permanent`: a bad address), which no retry can change."""
        with self._store.write() as conn:
            if getattr(exc, "permanent", False):
                alert_table.note_failure(conn, alert["id"], str(exc), alert["next_attempt_at"])
                alert_table.mark_sent(conn, alert["id"], self.clock(), status="failed")
                log.error("alert %s refused for good: %s", alert["delivery_id"], exc)
                return
            wait = backoff_s(alert["attempts"] + 1)
            alert_table.note_failure(conn, alert["id"], str(exc), self.clock() + wait)
        log.warning("alert %s not delivered (%s); retrying in %.0fs", alert["delivery_id"], exc, wait)

    def _deliver(self, channel: AlertChannel, alert: dict) -> None:
        payload = alert["payload"]
        if channel == AlertChannel.WEBHOOK:
            self.webhook.send(alert["delivery_id"], payload)
        elif channel == AlertChannel.EMAIL:
            subject = payload.get("text", "")[:120]
            self.email_sender(self.settings.alert_email, subject, payload.get("text", ""), alert["delivery_id"])

    def _delivered(self, alert: dict, done: list[str], now: float) -> None:
        """Mark the alert sent and record its `alert_sent` event, in one transaction."""
        with self._store.write() as conn:
            alert_table.mark_channel(conn, alert["id"], done)
            alert_table.mark_sent(conn, alert["id"], now)
            if alert["session_id"]:
                record(
                    conn,
                    Event(
                        EventKind.ALERT_SENT,
                        alert["session_id"],
                        now,
                        text=alert["kind"],
                        reply=",".join(done),
                        ticket_id=alert["ticket_id"],
                    ),
                )

    def backlog(self) -> int:
        with self._store.read() as conn:
            return alert_table.backlog(conn)


class SmtpAlertMail:
    """An alert by email to ALERT_EMAIL over SMTP_URL (`sportello.sinks.mail`): plain text, one message per
    alert, its Message-ID derived from the delivery id (the same on every retry, for a mail client to dedupe)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.mailer = SmtpMailer(SmtpConfig.parse(settings.smtp_url))

    def __call__(self, to: str, subject: str, text: str, delivery_id: str) -> None:
        sender = self.settings.mail_from or "sportello@localhost"
        msg = compose(
            sender=sender,
            sender_name=self.settings.venue_name or "Sportello",
            to=to,
            subject=subject,
            body=text,
            message_id=f"<alert-{delivery_id}@{sender.rpartition('@')[2].rstrip('>') or 'localhost'}>",
        )
        self.mailer.send(msg)
