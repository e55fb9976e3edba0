"""The periodic jobs of the app process, in one daemon thread.

The runtime lists the jobs (the queue-timeout sweep every second, the retention pass and the
outbox prune every hour when they are switched on; the scheduled backup in a scheduler of its own, so
that a long backup never delays the sweep) and starts the schedulers; the dashboards
never run one. A job that fails is logged and runs again at its next turn; the first turn of
each job comes right after the start.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

log = logging.getLogger("sportello")


@dataclass(frozen=True)
class Job:
    name: str  # for the log: "<name> failed"
    every_s: float
    run: Callable[[], object]


class Scheduler:
    def __init__(
        self,
        jobs: Sequence[Job],
        *,
        tick_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        name: str = "queue-sweeper",
    ):
        self.jobs = list(jobs)
        self.name = name
        self.tick_s = tick_s
        self.clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Scheduler:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        due = [0.0] * len(self.jobs)  # each job's first turn: the first tick
        while not self._stop.wait(self.tick_s):
            for i, job in enumerate(self.jobs):
                if self.clock() < due[i]:
                    continue
                due[i] = self.clock() + job.every_s
                try:
                    job.run()
                except Exception:
                    log.exception("%s failed", job.name)


class Worker:
    """A background loop in one daemon thread that works in steps: `step()` does one batch and says how
    much it did; a full batch (`batch`) is followed by the next at once, otherwise the thread waits
    `wait_s()` or until `wake()`. `woken()` runs after a wake-up (e.g. to let more work gather).
    The outbox delivery worker and the mail worker are two of these."""

    thread_name = "worker"

    def __init__(self, *, batch: int, interval_s: float):
        self.batch = batch
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def step(self) -> int:
        raise NotImplementedError

    def wait_s(self) -> float:
        return self.interval_s

    def woken(self) -> None:
        """After a wake-up, before the next step."""

    def start(self):
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
            self._thread.start()
        return self

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                done = self.step()
            except Exception:
                log.exception("%s step failed", self.thread_name)
                done = 0
            if done >= self.batch:
                continue  # a backlog: the next batch at once
            woken = self._wake.wait(self.wait_s())
            self._wake.clear()
            if woken and not self._stop.is_set():
                self.woken()
