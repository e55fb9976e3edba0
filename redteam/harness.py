"""What every probe shares: the app under test, its operators, results, small HTTP helpers.

The target is always a `python app.py` this suite starts itself, on 127.0.0.1, on a free port, with
its own temporary DATA_DIR; operators are created with the real command line
(`python -m sportello admin add-operator`, password on stdin). Nothing else is ever contacted.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
PASSWORD = "redteam-pass-123"
# One fake client address per probe (127.0.0.1 is a trusted proxy by default, so the app believes
# X-Forwarded-For from it): the per-IP quotas of one probe never spend another's.
_ADDRESSES = iter(f"198.51.100.{i}" for i in range(1, 250))
_ADDRESS_LOCK = threading.Lock()


def fresh_address() -> str:
    with _ADDRESS_LOCK:
        return next(_ADDRESSES)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


@dataclass
class Result:
    name: str
    status: str  # PASS, FAIL, SKIP
    evidence: str

    def line(self) -> str:
        return f"{self.status} {self.name}: {self.evidence}"


def passed(name: str, evidence: str) -> Result:
    return Result(name, "PASS", evidence)


def failed(name: str, evidence: str) -> Result:
    return Result(name, "FAIL", evidence)


def verdict(name: str, ok: bool, evidence: str) -> Result:
    return Result(name, "PASS" if ok else "FAIL", evidence)


def run(cmd: list[str], env: dict, *, stdin: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        cmd, cwd=ROOT, env=env, input=stdin, capture_output=True, text=True, timeout=timeout, check=False
    )


def base_env(data_dir: Path, port: int, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPORTELLO_", "ADMIN_", "GOOGLE_", "OPENAI_"))}
    env.pop("DATABASE_URL", None)
    env.pop("SHEET_ID", None)
    env.update(
        {
            "DATA_DIR": str(data_dir),
            "PORT": str(port),
            "HOST": HOST,
            "DASHBOARD_PORT": str(free_port()),
            "ANSWERER": "lexical",  # deterministic and quick to load; the learned KB is read by it too
            "PASSWORD_SCRYPT_N": "16384",  # sign-in sprays stay fast; the limits do not depend on it
            "OUTBOX_INTERVAL_S": "0.2",
            "PYTHONUNBUFFERED": "1",
            **extra,
        }
    )
    return env


class App:
    """`python app.py` as a child in its own process group, with its own DATA_DIR and log."""

    def __init__(self, data_dir: Path, *, dashboard: bool = True, env: dict | None = None):
        self.data_dir = Path(data_dir)
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.env = base_env(self.data_dir, self.port, **(env or {}))
        self.dashboard = dashboard
        self.proc: subprocess.Popen | None = None
        self.log_path = self.data_dir.parent / f"app-{self.port}.log"
        self._log = None

    def cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        return run([sys.executable, "-m", "sportello", "admin", *args], self.env, stdin=stdin)

    def add_operator(self, username: str, name: str, *extra: str) -> None:
        r = self.cli("add-operator", username, "--name", name, *extra, stdin=PASSWORD + "\n")
        if r.returncode != 0:
            raise RuntimeError(f"add-operator {username} failed: {r.stderr.strip()[-500:]}")

    def spawn(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")  # noqa: SIM115
        args = [] if self.dashboard else ["--no-dashboard"]
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "app.py"), *args],
            cwd=ROOT,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        paths = ["/api/health"] + (["/dashboard/_stcore/health"] if self.dashboard else [])
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"app.py exited with {self.proc.returncode}: {self.log()[-1500:]}")
            try:
                if all(httpx.get(self.url + p, timeout=2).status_code == 200 for p in paths):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"app.py not ready in {timeout}s: {self.log()[-1500:]}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(10)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(10)
        if self._log and not self._log.closed:
            self._log.close()

    # ------------------------------------------------------------------ read-only views of DATA_DIR
    @property
    def db_path(self) -> Path:
        return self.data_dir / "sportello.db"

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        """sqlite3 read-only (mode=ro): the probe never writes to the store."""
        conn = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=10)
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()

    def client(self, address: str | None = None, timeout: float = 15) -> httpx.Client:
        headers = {"X-Forwarded-For": address or fresh_address()}
        return httpx.Client(base_url=self.url, timeout=timeout, headers=headers)


class Visitor:
    """The visitor REST API, from one (fake) client address."""

    def __init__(self, app: App, language: str = "it", address: str | None = None):
        self.http = app.client(address)
        r = self.http.post("/api/chat/sessions", json={"language": language, "user_agent": "redteam/1.0"})
        r.raise_for_status()
        body = r.json()
        self.session_id = body["session_id"]
        self.http.headers["X-Session-Token"] = body["token"]

    def say(self, text: str) -> dict:
        r = self.http.post(f"/api/chat/sessions/{self.session_id}/messages", json={"text": text})
        r.raise_for_status()
        return r.json()

    def ask_person_and_leave(self, method: str, value: str) -> dict | None:
        """Accept the operator; when nobody is free, leave the contact. Returns the contact reply."""
        r = self.http.post(f"/api/chat/sessions/{self.session_id}/operator", json={"accept": True})
        r.raise_for_status()
        if r.json().get("status") == "waiting":
            return None
        r = self.http.post(f"/api/chat/sessions/{self.session_id}/contact", json={"method": method, "value": value})
        r.raise_for_status()
        return r.json()

    def close(self) -> None:
        self.http.close()


def login(app: App, username: str, address: str | None = None) -> httpx.Client:
    http = app.client(address)
    r = http.post("/api/auth/login", json={"username": username, "password": PASSWORD})
    if r.status_code != 200:
        http.close()
        raise RuntimeError(f"login {username}: {r.status_code} {r.text[:200]}")
    http.headers["Authorization"] = f"Bearer {r.json()['token']}"
    return http


@dataclass
class Context:
    """The shared app (started once, lazily) and what the seed phase left for the probes."""

    tmp: Path
    app: App | None = None
    seed: dict = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    cleanups: list = field(default_factory=list)

    def new_dir(self, name: str) -> Path:
        path = self.tmp / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def close(self) -> None:
        for fn in reversed(self.cleanups):
            try:
                fn()
            except Exception as exc:  # cleanup must go on
                print(f"cleanup: {exc}", file=sys.stderr)
        if self.app:
            self.app.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


def make_context() -> Context:
    return Context(Path(tempfile.mkdtemp(prefix="sportello-redteam-")))


def deadline_loop(seconds: float, count: int):
    """Yields 0..count-1 while less than `seconds` passed: every loop of the suite is bounded twice."""
    end = time.monotonic() + seconds
    for i in range(count):
        if time.monotonic() > end:
            return
        yield i
