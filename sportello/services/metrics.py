"""What /metrics says, in the Prometheus text format (prometheus_client).

Two kinds of figures, both right when several processes serve one database:

* Gauges (the queue and its oldest wait, live chats, operators online, the outbox backlog and its oldest
  row) are read from the database at scrape time (store/metrics_queries.py, store/outbox.py): every process
  reports the same truth.
* Counters and histograms (rows sent and failed per sink, answers per answerer and outcome, answer latency,
  HTTP requests per route and status and their latency, rate-limit refusals) are counted where they happen, in
  prometheus_client's multiprocess mode: each process writes its own file under DATA_DIR/metrics
  (`PROMETHEUS_MULTIPROC_DIR`, set through config.py) and a scrape adds them up. A process's files stay
  after it ends (its counts are not lost); the files of processes no longer running are removed when a
  runtime starts, which Prometheus sees as a counter reset.

No label ever holds personal data: sinks and answerers by their class or name, routes by their template
(`/api/chat/sessions/{session_id}/messages`), refusals by their code, outcomes from a fixed set.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, values
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from sportello.answering.bot import answer_chunks
from sportello.answering.kb import Answer, Answerer
from sportello.config import Settings, use_metrics_dir
from sportello.store import metrics_queries
from sportello.store.database import Store
from sportello.store.outbox import pending_summary

log = logging.getLogger(__name__)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
OUTCOMES = ("found", "hedged", "escalated")


class Meters:
    """The counters and histograms of this process (created once metrics are configured)."""

    def __init__(self) -> None:
        self.sink_rows = Counter(
            "sportello_outbox_rows", "Outbox rows the sink accepted (sent) or refused (failed)", ["sink", "result"]
        )
        self.answers = Counter(
            "sportello_answers",
            "Answers of the AI by outcome: found, hedged (a suggestion), escalated",
            ["answerer", "outcome"],
        )
        self.answer_seconds = Histogram(
            "sportello_answer_seconds", "Time to answer a visitor question", ["answerer"], buckets=LATENCY_BUCKETS
        )
        self.http_requests = Counter(
            "sportello_http_requests",
            "HTTP requests by route template, method and status",
            ["route", "method", "status"],
        )
        self.http_seconds = Histogram(
            "sportello_http_request_seconds",
            "HTTP request latency by route template",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
        )
        self.refusals = Counter(
            "sportello_rate_limit_refusals", "Requests refused by a rate limit or a lockout", ["code"]
        )


_meters: Meters | None = None
_dir: Path | None = None
_lock = threading.Lock()


def configure(directory: Path) -> Meters:
    """Multiprocess mode in `directory` (the first call of a process wins: prometheus_client keeps one
    directory per process). Removes the files of processes no longer running."""
    global _meters, _dir
    with _lock:
        if _meters is None:
            directory.mkdir(parents=True, exist_ok=True)
            _forget_dead(directory)
            use_metrics_dir(directory)
            if not getattr(values.ValueClass, "_multiprocess", False):
                values.ValueClass = values.MultiProcessValue()
            _dir = directory
            _meters = Meters()
        return _meters


def meters() -> Meters | None:
    """The meters, or None while no runtime configured them (then nothing is counted)."""
    return _meters


def _forget_dead(directory: Path) -> None:
    for path in directory.glob("*.db"):
        pid = path.stem.rpartition("_")[2]
        if pid.isdigit() and not _alive(int(pid)):
            path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def count_refusal(code: str) -> None:
    """A rate limit or a lockout refused a request (sportello/services/throttle.py)."""
    if _meters is not None:
        _meters.refusals.labels(code).inc()


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    """One HTTP request, by route template (never the path itself: it may hold a session id)."""
    if _meters is not None:
        _meters.http_requests.labels(route, method, str(status)).inc()
        _meters.http_seconds.labels(route, method).observe(seconds)


def outcome(answer: Answer) -> str:
    """emergency: the venue's instructions, and a person at once; hedged: an answer that says what it does not
    cover and offers a person; found: an answer; suggested: no answer, but questions the visitor may have
    meant (the buttons); escalated: a person."""
    if answer.urgent:
        return "emergency"
    if answer.hedged:
        return "hedged"
    if answer.found:
        return "found"
    return "suggested" if (answer.suggestions or answer.suggestion) else "escalated"


class MeteredAnswerer:
    """An answerer that counts its answers by outcome and times them; everything else is the inner one's."""

    def __init__(self, inner: Answerer):
        self.inner = inner
        self.label = type(inner).__name__

    def _count(self, answer: Answer, t0: float) -> None:
        if _meters is not None:
            _meters.answer_seconds.labels(self.label).observe(time.perf_counter() - t0)
            _meters.answers.labels(self.label, outcome(answer)).inc()

    def answer(self, question: str, lang: str | None = None) -> Answer:
        t0 = time.perf_counter()
        answer = self.inner.answer(question, lang)
        self._count(answer, t0)
        return answer

    def answer_stream(self, question: str, lang: str | None = None):
        """The inner answerer's stream (see bot.answer_chunks), counted once it ends."""
        t0 = time.perf_counter()
        answer = yield from answer_chunks(self.inner, question, lang)
        self._count(answer, t0)
        return answer

    def __getattr__(self, name: str):
        return getattr(self.inner, name)


class MeteredSink:
    """A sink that counts the rows it wrote and the rows of the batches that failed."""

    def __init__(self, inner):
        self.inner = inner

    def write(self, rows: Sequence) -> None:
        try:
            self.inner.write(rows)
        except BaseException:
            if _meters is not None:
                _meters.sink_rows.labels(self.inner.name, "failed").inc(len(rows))
            raise
        if _meters is not None:
            _meters.sink_rows.labels(self.inner.name, "sent").inc(len(rows))

    def __getattr__(self, name: str):
        return getattr(self.inner, name)


class DatabaseGauges:
    """The gauges, read from the database when Prometheus scrapes."""

    def __init__(self, store: Store, settings: Settings, clock: Callable[[], float]):
        self.store = store
        self.settings = settings
        self.clock = clock

    def collect(self):
        now = self.clock()
        with self.store.read() as conn:
            queued, oldest_wait = metrics_queries.queue(conn, now - self.settings.queue_timeout_s)
            live = metrics_queries.live_chats(conn)
            online = metrics_queries.operators_online(conn, now - self.settings.heartbeat_timeout_s)
        backlog, oldest_row = pending_summary(self.store)
        yield GaugeMetricFamily("sportello_queue_length", "Chats waiting for an operator", value=queued)
        yield GaugeMetricFamily(
            "sportello_queue_oldest_wait_seconds",
            "How long the oldest chat in the queue has waited (0: empty queue)",
            value=max(0.0, now - oldest_wait) if oldest_wait is not None else 0.0,
        )
        yield GaugeMetricFamily("sportello_live_chats", "Chats with an operator now", value=live)
        yield GaugeMetricFamily("sportello_operators_online", "Operators online with a fresh heartbeat", value=online)
        yield GaugeMetricFamily("sportello_outbox_backlog", "Outbox rows not sent yet", value=backlog)
        yield GaugeMetricFamily(
            "sportello_outbox_oldest_seconds",
            "Age of the oldest outbox row not sent yet (0: none)",
            value=max(0.0, now - oldest_row) if oldest_row is not None else 0.0,
        )


class MetricsService:
    """/metrics: the database gauges and the counters of every process of this DATA_DIR."""

    def __init__(self, store: Store, settings: Settings, *, clock: Callable[[], float] = time.time):
        configure(settings.data_dir / "metrics")
        self.gauges = DatabaseGauges(store, settings, clock)

    def exposition(self) -> bytes:
        registry = CollectorRegistry()
        registry.register(self.gauges)
        if _dir is not None:
            MultiProcessCollector(registry, path=str(_dir))
        return generate_latest(registry)
