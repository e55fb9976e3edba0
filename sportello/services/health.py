"""Health: can this process do its job? Used by GET /api/health (and a load balancer's probe).

Each check returns `{"ok": bool, ...figures}`; the report is healthy only when every check is.

- database: one tiny committed write (the `health_probe` kv row), waiting at most HEALTH_DB_TIMEOUT_S
  for a lock: a locked, read-only or full database, or a PostgreSQL that is down, fails it.
- disk: free space in DATA_DIR at least HEALTH_MIN_FREE_MB (SQLite, the CSV sheets and the logs live there).
- outbox: pending rows (count, age of the oldest) under HEALTH_OUTBOX_MAX_BACKLOG and HEALTH_OUTBOX_MAX_AGE_S,
  and the worker not stopped on a permanent error.
- knowledge_base: the KB loaded with at least one entry (otherwise every question goes to a person).
- dashboard: when app.py supervises the operator dashboard, its process runs and answers.

The report is computed at most once per HEALTH_CACHE_S (the database check is a committed write: a flood of
/api/health requests must not become a flood of writes). The report for anonymous callers holds verdicts and
figures only; `details()` (operators) adds the outbox
worker's status (sink, target, last error), which is configuration.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable
from typing import Any

from sportello.config import Settings
from sportello.store.database import Store, describe_db_error
from sportello.store.outbox import pending_summary

log = logging.getLogger("sportello.health")


class HealthService:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        worker: Callable[[], Any],
        answerer: Callable[[], Any],
        dashboard: Callable[[], Any],
        clock: Callable[[], float] = time.time,
    ):
        self.store = store
        self.settings = settings
        self._worker = worker
        self._answerer = answerer
        self._dashboard = dashboard
        self.clock = clock
        self._lock = threading.Lock()
        self._cached: tuple[float, dict] | None = None

    # ------------------------------------------------------------------ checks
    def check_database(self) -> dict:
        t0 = time.monotonic()
        try:
            self.store.probe_write(self.settings.health_db_timeout_s)
        except Exception as exc:
            log.warning("health: the database takes no write: %s", describe_db_error(exc))
            return {"ok": False, "error": "database not writable", "ms": round((time.monotonic() - t0) * 1000)}
        return {"ok": True, "ms": round((time.monotonic() - t0) * 1000)}

    def check_disk(self) -> dict:
        try:
            free_mb = shutil.disk_usage(self.settings.data_dir).free / (1024 * 1024)
        except OSError:
            return {"ok": False, "error": "data directory unreadable"}
        ok = free_mb >= self.settings.health_min_free_mb
        return {"ok": ok, "free_mb": round(free_mb), **({} if ok else {"error": "low disk space"})}

    def check_outbox(self) -> dict:
        try:
            count, oldest = pending_summary(self.store)
        except Exception as exc:
            return {"ok": False, "error": f"outbox unreadable ({type(exc).__name__})"}
        age = max(0.0, self.clock() - oldest) if oldest is not None else 0.0
        worker = self._worker()
        stopped = bool(getattr(worker, "stopped_on_error", False))
        problems = []
        if count > self.settings.health_outbox_max_backlog:
            problems.append("backlog too large")
        if age > self.settings.health_outbox_max_age_s:
            problems.append("oldest row too old")
        if stopped:
            problems.append("sheet sink stopped on an error")
        out = {"ok": not problems, "backlog": count, "oldest_age_s": round(age, 1)}
        if problems:
            out["error"] = "; ".join(problems)
        return out

    def check_knowledge_base(self) -> dict:
        answerer = self._answerer()
        if getattr(answerer, "kb_problem", None):
            return {"ok": False, "error": "knowledge base unusable: every question goes to an operator"}
        retrieval = getattr(answerer, "offline", answerer)
        entries = getattr(retrieval, "entries", None)
        if entries is not None and len(entries) == 0:
            return {"ok": False, "entries": 0, "error": "knowledge base empty: every question goes to an operator"}
        return {"ok": True, **({"entries": len(entries)} if entries is not None else {})}

    def check_dashboard(self) -> dict | None:
        dashboard = self._dashboard()
        if dashboard is None:
            return None
        status = dashboard.status()
        return {"ok": bool(status.get("running")), "restarts": status.get("restarts", 0)} | (
            {} if status.get("running") else {"error": "operator dashboard not running"}
        )

    # ------------------------------------------------------------------ reports
    def report(self) -> dict:
        """{"ok", "failing": [names], "checks": {name: {...}}} — safe for anonymous callers."""
        with self._lock:  # one computation at a time; the others get its result
            now = time.monotonic()
            if self._cached is not None and now - self._cached[0] < self.settings.health_cache_s:
                return dict(self._cached[1])
            report = self._compute()
            self._cached = (time.monotonic(), report)
            return dict(report)

    def _compute(self) -> dict:
        checks = {
            "database": self.check_database(),
            "disk": self.check_disk(),
            "outbox": self.check_outbox(),
            "knowledge_base": self.check_knowledge_base(),
        }
        dashboard = self.check_dashboard()
        if dashboard is not None:
            checks["dashboard"] = dashboard
        failing = [name for name, c in checks.items() if not c["ok"]]
        return {"ok": not failing, "failing": failing, "checks": checks}

    def details(self) -> dict:
        """What operators may see besides the report: the outbox worker's status (sink, target, errors)."""
        return {"outbox": self._worker().status()}
