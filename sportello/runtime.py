"""Wiring: settings -> store, answerer, sink, delivery worker, services, scheduler.

`Runtime` is what `app.py`, the dashboards and the tests build. Everything is
wired once, here: one clock for every service, the worker's batch lock handed
to privacy through a public attribute, the dashboard supervisor (when app.py
runs one) attached by app.py alone (`attach_dashboard`). The faces use its services only (`chat`,
`operators`, `tickets`, `reports`, `conversation_log`), never the store.
`start()` runs the background work (the outbox delivery worker, under
leadership, and the scheduler of periodic jobs); the dashboards do not start
it, the app process does.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sportello.answering.bot import Answerer, SilentAnswerer, build_answerer
from sportello.config import Settings
from sportello.services.alerts import AlertService
from sportello.services.backup import BackupError, BackupService
from sportello.services.callbacks import CallbackService
from sportello.services.chat import ChatService
from sportello.services.console_versions import ConsoleVersions
from sportello.services.conversation_log import ConversationLog
from sportello.services.delivery import Leadership, OutboxWorker
from sportello.services.feed import ChangeFeed
from sportello.services.feedback import FeedbackService
from sportello.services.health import HealthService
from sportello.services.learning import Learning
from sportello.services.metrics import MeteredAnswerer, MeteredSink, MetricsService
from sportello.services.notes import NotesService
from sportello.services.operators import OperatorService
from sportello.services.privacy import PrivacyService
from sportello.services.reports import Reports
from sportello.services.scheduler import Job, Scheduler
from sportello.services.throttle import LoginGuard, VisitorQuotas
from sportello.services.ticket_replies import MailWorker, TicketReplies
from sportello.services.tickets import TicketService
from sportello.sinks.factory import build_sink
from sportello.sinks.sheets import Sink
from sportello.store.database import DatabaseUnavailable as DatabaseUnavailable  # for app.py
from sportello.store.database import Store, open_store
from sportello.store.leader import make_lock
from sportello.store.limits import DatabaseCounters, RedisCounters
from sportello.store.outbox import prune_sent

log = logging.getLogger("sportello")
SWEEP_EVERY_S = 0.0  # the queue-timeout sweep runs at every tick of the scheduler (1 s)
RETENTION_EVERY_S = 3600.0  # how often the retention pass runs (when RETENTION_DAYS > 0)
PRUNE_EVERY_S = 3600.0  # how often the outbox rows sent OUTBOX_KEEP_SENT_DAYS ago are deleted (when > 0)
LIMITS_PRUNE_EVERY_S = 60.0  # how often the expired counters of the limits are deleted
BACKUP_CHECK_EVERY_S = 60.0  # how often the outbox leader checks whether a backup is due (BACKUP_EVERY_H > 0)
ALERTS_TICK_S = 0.5  # how often the outbox leader delivers the due staff alerts and checks the waiting chats


class Runtime:
    def __init__(
        self,
        settings: Settings | None = None,
        *,
        answerer: Answerer | None = None,
        sink: Sink | None = None,
        store: Store | None = None,
        clock: Callable[[], float] = time.time,
    ):
        """`clock`: the wall clock every service reads (tests pass a fake one)."""
        self.settings = settings or Settings.from_env()
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.store = store or open_store(self.settings.database_url, self.settings.db_start_timeout_s)
        self.answerer = answerer or build_answerer(self.settings)
        self.sink = sink or build_sink(self.settings)
        self.clock = clock
        self.dashboard: Any = None  # see attach_dashboard
        self.worker = self._new_worker()
        wake = self.wake_worker
        self.metrics = MetricsService(self.store, self.settings, clock=clock)  # /metrics; counts answers and rows
        # One change feed per process: the writes of this process wake their chats' streams at once, a watcher
        # finds those of other processes (services/feed.py).
        self.feed = ChangeFeed(self.store, interval_s=self.settings.feed_interval_s, clock=clock)
        # Quotas and sign-in lockouts count together across processes (the dashboard's included).
        s = self.settings
        self.counters = RedisCounters(s.redis_url) if s.redis_url else DatabaseCounters(self.store)
        quotas = VisitorQuotas(s, counters=self.counters)
        self.chat = ChatService(
            self.store,
            MeteredAnswerer(self.answerer),
            self.settings,
            clock=clock,
            on_commit=wake,
            on_change=self.feed.notify,
            quotas=quotas,
        )
        # The operators' consoles of this process read the queue once per change, all together.
        self.console_versions = ConsoleVersions(self.chat.view, self.feed)
        self.operators = OperatorService(
            self.store, self.settings, clock=clock, guard=LoginGuard(s, counters=self.counters)
        )
        self.tickets = TicketService(self.store, clock=clock, tz=self.settings.timezone)
        # a rating counts with the chat's other changes
        self.feedback = FeedbackService(self.store, self.settings, clock=clock, on_commit=wake, quotas=quotas)
        self.notes = NotesService(self.store, clock=clock)
        self.reports = Reports(self.store, clock=clock)
        self.conversation_log = ConversationLog(self.store)
        self.learning = Learning(self.store, self.answerer, self.settings, clock=clock)
        self.health = HealthService(
            self.store, self.settings, lambda: self.worker, lambda: self.answerer, lambda: self.dashboard, clock=clock
        )
        self.privacy = PrivacyService(
            self.store,
            self.settings,
            clock=clock,
            on_commit=wake,
            sheets_guard=lambda: self.worker.batch_lock,  # no batch in flight while the local sheets are rewritten
            relearn=self.learning.sync,  # labels erased: the learned files regenerated, this answerer reloaded
        )
        # Mail and ticket follow-up: replies by email, sent by the outbox leader's mail worker.
        self.mail_worker: MailWorker | None = None
        self.ticket_replies = TicketReplies(self.store, self.settings, clock=clock, on_commit=self._wake_after_reply)
        # Phone call-backs, and the staff alerts delivered by the outbox leader (alert_scheduler).
        self.callbacks = CallbackService(self.store, delay_s=self.settings.callback_delay_min * 60, clock=clock)
        self.alerts = AlertService(self.store, self.settings, clock=clock)
        self.alert_scheduler = Scheduler(
            [Job("alert delivery", 0.0, self.alerts.drain_once), Job("waiting alerts", 0.0, self.alerts.check_waiting)],
            tick_s=ALERTS_TICK_S,
            name="alerts",
        )
        self.leadership: Leadership | None = None
        self.scheduler = Scheduler(self._jobs())
        self.backups = BackupService.from_settings(self.settings)
        self.backup_scheduler = Scheduler(
            [Job("scheduled backup", BACKUP_CHECK_EVERY_S, self._scheduled_backup)] if self.backups.every_h > 0 else [],
            name="backups",
        )

    def attach_dashboard(self, dashboard: Any) -> None:
        """The dashboard supervisor app.py runs (None: none runs): /api/health checks it. Set by
        app.py once the dashboard has started, which is after the runtime opened the database."""
        self.dashboard = dashboard

    def wake_worker(self) -> None:
        """After a commit: the delivery worker sends the new rows now rather than at its next poll."""
        self.worker.wake()

    def _wake_after_reply(self) -> None:
        self.wake_worker()
        if self.mail_worker is not None:
            self.mail_worker.wake()

    def _jobs(self) -> list[Job]:
        jobs = [
            Job("queue sweep", SWEEP_EVERY_S, self.chat.expire_waiting),
            Job("limits prune", LIMITS_PRUNE_EVERY_S, self.counters.prune),
        ]
        if self.settings.retention_days > 0:
            jobs.append(Job("retention pass", RETENTION_EVERY_S, self.privacy.retention))
        keep_s = self.settings.outbox_keep_sent_days * 86400  # sent_at is wall clock
        if keep_s > 0:
            jobs.append(Job("outbox prune", PRUNE_EVERY_S, lambda: prune_sent(self.store, keep_s)))
        return jobs

    def _scheduled_backup(self) -> None:
        """A backup when one is due, made by one process only: the outbox leader."""
        if self.leadership is None or not self.leadership.is_leader:
            return
        try:
            self.backups.tick()
        except BackupError as exc:  # e.g. PostgreSQL without pg_dump: said once, not every minute
            log.warning("scheduled backups are off: %s", exc)
            self.backup_scheduler.jobs.clear()

    def _new_worker(self) -> OutboxWorker:
        return OutboxWorker(
            self.store,
            MeteredSink(self.sink),
            interval_s=self.settings.outbox_interval_s,
            batch_size=self.settings.outbox_batch_size,
        )

    def _elected(self) -> None:
        self.worker = self._new_worker()
        self.worker.start()
        self.mail_worker = MailWorker.from_settings(self.ticket_replies, self.settings)
        if self.mail_worker is not None:
            self.mail_worker.start()
        self.alert_scheduler.start()

    def _deposed(self) -> None:
        self.alert_scheduler.stop()
        self.worker.stop()
        if self.mail_worker is not None:
            self.mail_worker.stop()
            self.mail_worker = None

    def start(self) -> Runtime:
        """Start the background work. Of several processes sharing the database,
        only the one elected leader drains the outbox (see sportello.services.delivery.Leadership)."""
        if self.leadership is None:
            self.leadership = Leadership(make_lock(self.store.engine), self._elected, self._deposed).start()
        self.scheduler.start()
        if self.backup_scheduler.jobs:
            self.backup_scheduler.start()
        return self

    def stop(self) -> None:
        self.feed.close()  # open streams end (app.py closes it earlier, when the server starts its shutdown)
        self.scheduler.stop()
        self.backup_scheduler.stop()
        if self.leadership is not None:
            if self.leadership.is_leader:
                self.worker.stop()
                self.worker.drain()  # best effort: what is left is sent after a restart
            self.leadership.stop()
            self.leadership = None
        self.store.dispose()


def dashboard_runtime(settings: Settings | None = None) -> Runtime:
    """The runtime of the dashboard process. It never answers visitors, so it loads no
    knowledge base, model or LLM client; the app process runs the outbox worker and the
    queue sweeper, so nothing is started here but a one-off read that warms the Analisi
    report's day cache (`Reports.warm`)."""
    runtime = Runtime(settings or Settings.from_env(), answerer=SilentAnswerer())
    runtime.reports.warm(runtime.settings.timezone)
    return runtime


@contextmanager
def _store_only(settings: Settings | None, service: Callable[[Store, Settings], Any]) -> Iterator[Any]:
    """`service` over the store alone, for the admin command line: no answerer, no sink, no background
    work. The store is closed on exit."""
    settings = settings or Settings.from_env()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = Store(settings.database_url)
    try:
        yield service(store, settings)
    finally:
        store.dispose()


def operator_accounts(settings: Settings | None = None):
    """Only the operator accounts (an OperatorService), for the admin command line."""
    return _store_only(settings, OperatorService)


def privacy_tools(settings: Settings | None = None):
    """Only erasure and retention (a PrivacyService), for the admin command line; the app's outbox
    worker sends the tombstones."""
    return _store_only(settings, PrivacyService)


def learning_tools(settings: Settings | None = None):
    """Only the learning loop over the store (a Learning with no answerer), for `kb examples`: it stores the
    generated examples as proposals for an admin's review."""
    return _store_only(settings, lambda store, s: Learning(store, SilentAnswerer(), s))
