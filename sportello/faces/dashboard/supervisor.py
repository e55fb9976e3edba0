"""Supervise the operator dashboard (Streamlit) as a child of `python app.py`.

- The child runs in its own process group (a Ctrl-C in the terminal reaches the app, which stops it; the
  whole Streamlit tree is stopped with one killpg) and, on Linux, gets SIGTERM if the app dies (even by
  SIGKILL), so it never outlives the app.
- It is restarted when it exits, with exponential backoff (1 s doubling to DASHBOARD_RESTART_MAX_S; back to
  1 s after it has run for a minute).
- The port: if DASHBOARD_PORT is taken (e.g. by a dashboard left over from an earlier run) another free
  port is used, so the proxy never forwards to a process that is not our child. The proxy reads `port`.
- A dashboard that stops answering its health URL for `hung_s` (DASHBOARD_HUNG_S), or never answers
  within STARTUP_S of its start, is killed and restarted like one that died. `status()` reports it not
  running as soon as it has not answered for `hung_s`, or, never having answered since its start, does not
  answer once ANSWER_GRACE_S have passed.
- `stop()` ends it (SIGTERM to its group, SIGKILL after a grace period); app.py calls it on every exit path
  (normal return, SIGTERM, SIGINT, exceptions) and registers it with atexit.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("sportello.dashboard")
STABLE_S = 60.0  # a child that ran this long resets the backoff
STARTUP_S = 90.0  # a child that has not answered its health URL this long after its start is hung
# ... and is reported not running (GET /api/health) when it has not answered a probe this long after its
# start and does not answer one now: a dashboard frozen before its first probe is not counted healthy while
# the restart waits for STARTUP_S.
ANSWER_GRACE_S = 15.0
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never through an HTTP proxy


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Nothing listens on `port` (connections in TIME_WAIT do not count, as for a server binding it)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


class DashboardSupervisor:
    """Runs `command(port)` and keeps it running until `stop()`."""

    def __init__(
        self,
        command: Callable[[int], list[str]],
        port: int,
        *,
        cwd: Path | str | None = None,
        env: dict | None = None,
        max_backoff_s: float = 30.0,
        grace_s: float = 5.0,
        health_url: Callable[[int], str] | None = None,
        hung_s: float = 30.0,
    ):
        self.command = command
        self.port = port
        self.cwd = cwd
        self.env = env
        self.max_backoff_s = max(1.0, max_backoff_s)
        self.grace_s = grace_s
        self.health_url = health_url
        self.hung_s = hung_s
        self._answered_at: float | None = None  # last time it answered its health URL (since this start)
        self._probed_at = 0.0
        self.restarts = 0
        self.proc: subprocess.Popen | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> DashboardSupervisor:
        self._choose_port()
        self._spawn()
        self._thread = threading.Thread(target=self._watch, name="dashboard-supervisor", daemon=True)
        self._thread.start()
        atexit.register(self.stop)
        return self

    def _choose_port(self) -> None:
        if not port_is_free(self.port):
            new = free_port()
            log.warning(
                "dashboard port %s is taken by another process (a stale dashboard?); using port %s", self.port, new
            )
            self.port = new

    def _spawn(self) -> None:
        with self._lock:
            if self._stop.is_set():
                return
            log.info("starting the operator dashboard on port %s", self.port)
            self.proc = subprocess.Popen(
                self.command(self.port),
                cwd=self.cwd,
                env=self.env,
                start_new_session=True,
                preexec_fn=_die_with_parent if os.name == "posix" else None,  # noqa: PLW1509
            )
            self._started_at = time.monotonic()
            self._answered_at = None

    def _watch(self) -> None:
        delay = 1.0
        while not self._stop.is_set():
            proc = self.proc
            if proc is None:
                return
            while proc.poll() is None:
                if self._stop.wait(0.2):
                    return
                if self._hung():
                    log.warning(
                        "operator dashboard (pid %s) has not answered for %.0f s; killing it", proc.pid, self.hung_s
                    )
                    self._kill_group(proc, signal.SIGKILL)
                    proc.wait(5)
            ran = time.monotonic() - self._started_at
            if ran >= STABLE_S:
                delay = 1.0
            log.warning(
                "operator dashboard (pid %s) exited with %s after %.0f s; restarting in %.0f s",
                proc.pid,
                proc.returncode,
                ran,
                delay,
            )
            self._kill_group(proc, signal.SIGKILL)  # what it left behind, if anything
            if self._stop.wait(delay):
                return
            delay = min(delay * 2, self.max_backoff_s)
            self._choose_port()
            self.restarts += 1
            try:
                self._spawn()
            except OSError:
                log.exception("could not start the operator dashboard")

    def _hung(self) -> bool:
        """Probe the health URL (at most once a second); True when it stopped answering for hung_s."""
        if self.health_url is None or self.hung_s <= 0:
            return False
        now = time.monotonic()
        if now - self._probed_at < 1.0:
            return False
        self._probed_at = now
        if self._probe(min(2.0, self.hung_s)):
            return False
        if self._answered_at is None:
            return time.monotonic() - self._started_at > max(STARTUP_S, self.hung_s)
        return time.monotonic() - self._answered_at > self.hung_s

    def _probe(self, timeout_s: float) -> bool:
        """One request to the health URL; True (and the time noted) when it answered 200."""
        try:
            with _DIRECT.open(self.health_url(self.port), timeout=timeout_s) as r:
                ok = r.status == 200
        except OSError:
            ok = False
        if ok:
            self._answered_at = time.monotonic()
        return ok

    @staticmethod
    def _kill_group(proc: subprocess.Popen, sig: int) -> None:
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def stop(self) -> None:
        """Stop the dashboard and its process group; idempotent."""
        self._stop.set()
        with self._lock:
            proc = self.proc
        if proc is not None:
            if proc.poll() is None:
                self._kill_group(proc, signal.SIGTERM)
                try:
                    proc.wait(self.grace_s)
                except subprocess.TimeoutExpired:
                    pass
            self._kill_group(proc, signal.SIGKILL)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:  # pragma: no cover
                log.error("operator dashboard (pid %s) did not exit", proc.pid)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5)

    # ------------------------------------------------------------------ status
    def status(self) -> dict:
        proc = self.proc
        running = proc is not None and proc.poll() is None and not self._stop.is_set()
        if running and self.health_url is not None:
            now = time.monotonic()
            if self._answered_at is not None:
                running = now - self._answered_at <= self.hung_s
            elif now - self._started_at > ANSWER_GRACE_S:  # never answered since this start: ask it once now
                running = self._probe(1.0)
        return {"running": running, "restarts": self.restarts, "port": self.port}
