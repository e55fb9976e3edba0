"""Wiring: settings -> store, answerer, sink, outbox worker, services.

`Runtime` is what `app.py`, the dashboards and the tests build. The faces
use its services only (`chat`, `operators`, `tickets`, `reports`,
`conversation_log`), never the store. `start()` runs the background threads
(outbox worker, queue-timeout sweeper); the dashboards do not start them, the
app process does.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from sportello.answering.bot import Answerer, SilentAnswerer, build_answerer
from sportello.config import Settings
from sportello.services.chat import ChatService
from sportello.services.conversation_log import ConversationLog
from sportello.services.feedback import FeedbackService
from sportello.services.health import HealthService
from sportello.services.learning import Learning
from sportello.services.notes import NotesService
from sportello.services.operators import OperatorService
from sportello.services.privacy import PrivacyService
from sportello.services.reports import Reports
from sportello.services.tickets import TicketService
from sportello.sinks.sheets import Sink, build_sink
from sportello.store.database import DatabaseUnavailable as DatabaseUnavailable  # for app.py
from sportello.store.database import Store, open_store
from sportello.store.leader import Leadership
from sportello.store.outbox import OutboxWorker, prune_sent

log = logging.getLogger("sportello")
RETENTION_EVERY_S = 3600.0  # how often the sweeper runs the retention pass (when RETENTION_DAYS > 0)
PRUNE_EVERY_S = 3600.0  # how often it deletes the outbox rows sent OUTBOX_KEEP_SENT_DAYS ago (when > 0)


class Runtime:
    def __init__(
        self,
        settings: Settings | None = None,
        *,
        answerer: Answerer | None = None,
        sink: Sink | None = None,
        store: Store | None = None,
    ):
        self.settings = settings or Settings.from_env()
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.store = store or open_store(self.settings.database_url, self.settings.db_start_timeout_s)
        self.answerer = answerer or build_answerer(self.settings)
        self.sink = sink or build_sink(self.settings)
        self.worker = self._new_worker()
        self.chat = ChatService(self.store, self.answerer, self.settings, on_commit=lambda: self.worker.wake())
        self.operators = OperatorService(self.store, self.settings, clock=self.chat.clock)
        self.tickets = TicketService(self.store)
        self.feedback = FeedbackService(
            self.store, self.settings, clock=self.chat.clock, on_commit=lambda: self.worker.wake()
        )
        self.notes = NotesService(self.store, clock=self.chat.clock)
        self.reports = Reports(self.store)
        self.conversation_log = ConversationLog(self.store)
        self.learning = Learning(self.store, self.answerer, self.settings, clock=self.chat.clock)
        # The dashboard supervisor, when app.py runs one (it sets this); checked by /api/health.
        self.dashboard = None
        self.health = HealthService(
            self.store, self.settings, lambda: self.worker, lambda: self.answerer, lambda: self.dashboard
        )
        self.privacy = PrivacyService(
            self.store,
            self.settings,
            clock=self.chat.clock,
            on_commit=lambda: self.worker.wake(),
            sheets_guard=lambda: self.worker._lock,  # no batch in flight while the local sheets are rewritten
        )
        self.leadership: Leadership | None = None
        self._stop = threading.Event()
        self._sweeper: threading.Thread | None = None

    def _new_worker(self) -> OutboxWorker:
        return OutboxWorker(
            self.store,
            self.sink,
            interval_s=self.settings.outbox_interval_s,
            batch_size=self.settings.outbox_batch_size,
        )

    def _elected(self) -> None:
        self.worker = self._new_worker()
        self.worker.start()

    def _deposed(self) -> None:
        self.worker.stop()

    def start(self) -> Runtime:
        """Start the background work. Of several processes sharing the database,
        only the one elected leader drains the outbox (see sportello.store.leader)."""
        if self.leadership is None:
            self.leadership = Leadership(self.store.engine, self._elected, self._deposed).start()
        if self._sweeper is None:
            self._stop.clear()
            self._sweeper = threading.Thread(target=self._sweep, name="queue-sweeper", daemon=True)
            self._sweeper.start()
        return self

    def _sweep(self) -> None:
        next_retention = 0.0  # the first pass right after start, then every RETENTION_EVERY_S
        next_prune = 0.0  # likewise, every PRUNE_EVERY_S
        while not self._stop.wait(1.0):
            try:
                self.chat.expire_waiting()
            except Exception:
                log.exception("queue sweep failed")
            if self.settings.retention_days > 0 and time.monotonic() >= next_retention:
                next_retention = time.monotonic() + RETENTION_EVERY_S
                try:
                    self.privacy.retention()
                except Exception:
                    log.exception("retention pass failed")
            if self.settings.outbox_keep_sent_days > 0 and time.monotonic() >= next_prune:
                next_prune = time.monotonic() + PRUNE_EVERY_S
                try:
                    prune_sent(self.store, self.settings.outbox_keep_sent_days * 86400)  # sent_at is wall clock
                except Exception:
                    log.exception("outbox prune failed")

    def stop(self) -> None:
        self._stop.set()
        if self._sweeper is not None:
            self._sweeper.join(5)
            self._sweeper = None
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
def operator_accounts(settings: Settings | None = None) -> Iterator[OperatorService]:
    """Only the operator accounts, for the admin command line: no answerer, no
    sink, no background work. The store is closed on exit."""
    settings = settings or Settings.from_env()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = Store(settings.database_url)
    try:
        yield OperatorService(store, settings)
    finally:
        store.dispose()


@contextmanager
def privacy_tools(settings: Settings | None = None) -> Iterator[PrivacyService]:
    """Only erasure and retention, for the admin command line: no answerer, no sink,
    no background work (the app's outbox worker sends the tombstones). The store is
    closed on exit."""
    settings = settings or Settings.from_env()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = Store(settings.database_url)
    try:
        yield PrivacyService(store, settings)
    finally:
        store.dispose()
