"""Test support: a real app process on a free port, and small API clients."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT.parent / "shared" / "fixtures"
# The servers under test speak plain HTTP on 127.0.0.1, but httpx builds an SSL context for every client it
# makes (certifi's bundle loaded: ~17 ms of CPU each), and a run makes hundreds (each Visitor, Operator and
# health poll). This one, made as httpx makes its default, serves the testkit's clients.
TLS = httpx.create_ssl_context()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


class ChildServer:
    """A server as a child process (own process group) with its own DATA_DIR and log file.

    Subclasses give `command()` and `health_path`; `start()` waits until it answers.
    """

    name = "server"
    health_path = "/"

    def __init__(self, data_dir: Path, env: dict | None = None, port: int | None = None):
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.env = {**os.environ, "DATA_DIR": str(self.data_dir), **(env or {})}
        self.proc: subprocess.Popen | None = None
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.data_dir / f"{self.name}-{self.port}.log"

    def command(self) -> list[str]:
        raise NotImplementedError

    def start(self, timeout: float = 60.0):
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")  # noqa: SIM115
        self.proc = self._spawn()
        deadline = time.monotonic() + timeout
        # Asked every 20 ms (a refused connection costs ~1 ms), on one client: a server that starts in ~0.5 s
        # is seen ready ~40 ms sooner on average than with a look every 0.1 s.
        with httpx.Client(timeout=1, verify=TLS) as http:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited with {self.proc.returncode}: {self.log()}")
                try:
                    if http.get(self.url + self.health_path).status_code == 200:
                        return self
                except httpx.HTTPError:
                    pass
                time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"{self.name} did not start in {timeout}s: {self.log()}")

    def _spawn(self):
        return subprocess.Popen(
            self.command(),
            cwd=ROOT,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs, as in a crash."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self._close_log()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self._close_log()

    def _close_log(self) -> None:
        log = getattr(self, "_log", None)
        if log and not log.closed:
            log.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class AppServer(ChildServer):
    """`python app.py --no-dashboard` (or with `args`) as a child process.

    With `AppServer.fork = True` (the tests set it; see tests/conftest.py) the
    process is forked from `testkit.forkserver`, which has imported `app`
    once, instead of started from scratch: the same `app.main(args)` in its
    own process and process group, without the 8 s of importing Gradio.
    """

    name = "app"
    health_path = "/api/health"
    fork = False

    def __init__(self, data_dir: Path, env: dict | None = None, port: int | None = None, args: list[str] | None = None):
        super().__init__(data_dir, port=port)
        self.env.update({"PORT": str(self.port), "HOST": "127.0.0.1", "OUTBOX_INTERVAL_S": "0.2", **(env or {})})
        self.args = ["--no-dashboard"] if args is None else args

    def command(self) -> list[str]:
        return [sys.executable, str(ROOT / "app.py"), *self.args]

    def _spawn(self):
        if not self.fork:
            return super()._spawn()
        from testkit.forkserver import fork_server

        self._log.flush()
        return fork_server().spawn(self.args, self.env, ROOT, self.log_path)


# uvicorn closes a keep-alive connection after 5 s idle: a client that reuses one just then gets
# "Server disconnected without sending a response". Drop idle connections well before that.
KEEPALIVE = httpx.Limits(keepalive_expiry=2.0)


def add_operator(
    data_dir: Path, username: str, name: str, password: str = "password123", *extra: str, env: dict | None = None
) -> dict:
    """An operator account, created in this process as the admin CLI creates it (same
    settings, same `OperatorService.add`), without the second it takes to start Python.

    `extra` takes the CLI's options: `--admin`, `--max-chats N`. `add_operator_cli`
    runs the real command line.
    """
    from sportello.config import Settings
    from sportello.runtime import operator_accounts

    is_admin = "--admin" in extra
    max_chats = None
    if "--max-chats" in extra:
        max_chats = int(extra[extra.index("--max-chats") + 1])
    unknown = [x for x in extra if x not in ("--admin", "--max-chats") and x != str(max_chats)]
    if unknown:
        raise ValueError(f"add_operator: unsupported options {unknown}; use add_operator_cli")
    settings = Settings.from_env({**os.environ, "DATA_DIR": str(data_dir), **(env or {})})
    with operator_accounts(settings) as accounts:
        return accounts.add(username, name, password, is_admin=is_admin, max_chats=max_chats)


def add_operator_cli(
    data_dir: Path, username: str, name: str, password: str = "password123", *extra: str, env: dict | None = None
) -> subprocess.CompletedProcess:
    """`python -m sportello admin add-operator ...`: the real command line (`admin_cli`), its status checked."""
    done = admin_cli(data_dir, "add-operator", username, "--name", name, "--password", password, *extra, env=env)
    assert done.returncode == 0, done.stderr
    return done


def run_main(main, argv: list[str], *, env: dict | None = None, drop: tuple[str, ...] = (), stdin: str = ""):
    """A command line's `main(argv)` run in this process as `python -m ...` runs it in a child, without the
    seconds a new Python takes to import the app: the environment is this process's with `env` on top (less
    the names starting with one of `drop`), stdin, stdout and stderr are its own, and a SystemExit is the
    exit status (its message, if any, goes to stderr as Python prints it). Returns a CompletedProcess of
    text. The environment is restored afterwards."""
    saved = dict(os.environ)
    out, err = io.StringIO(), io.StringIO()
    os.environ.update(env or {})
    for name in [n for n in os.environ if drop and n.startswith(drop)]:
        del os.environ[name]
    old_stdin = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as exc:
                code = exc.code
                if code is not None and not isinstance(code, int):
                    print(code, file=sys.stderr)
                    code = 1
    finally:
        sys.stdin = old_stdin
        os.environ.clear()
        os.environ.update(saved)
    return subprocess.CompletedProcess(argv, code or 0, out.getvalue(), err.getvalue())


def admin_cli(data_dir: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """`python -m sportello admin ARGS` with DATA_DIR (and `env`), in this process (`run_main`)."""
    from sportello.__main__ import main

    return run_main(main, ["admin", *args], env={"DATA_DIR": str(data_dir), **(env or {})})


def read_sheet(data_dir: Path, worksheet: str) -> list[dict]:
    path = Path(data_dir) / "sheets" / f"{worksheet}.csv"
    if not path.exists():
        return []
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


class Visitor:
    def __init__(self, base_url: str, language: str = "it", user_agent: str = "pytest-visitor/1.0"):
        self.http = httpx.Client(base_url=base_url, timeout=15, limits=KEEPALIVE, verify=TLS)
        r = self.http.post("/api/chat/sessions", json={"language": language, "user_agent": user_agent})
        r.raise_for_status()
        self.start = r.json()
        self.session_id = self.start["session_id"]
        self.token = self.start["token"]
        self.headers = {"X-Session-Token": self.token}

    def say(self, text, expect: int = 200) -> dict:
        r = self.http.post(f"/api/chat/sessions/{self.session_id}/messages", json={"text": text}, headers=self.headers)
        assert r.status_code == expect, r.text
        return r.json()

    def accept(self, accept: bool = True, expect: int = 200) -> dict:
        r = self.http.post(
            f"/api/chat/sessions/{self.session_id}/operator", json={"accept": accept}, headers=self.headers
        )
        assert r.status_code == expect, r.text
        return r.json()

    def contact(self, method: str, value: str, expect: int = 200) -> dict:
        r = self.http.post(
            f"/api/chat/sessions/{self.session_id}/contact",
            json={"method": method, "value": value},
            headers=self.headers,
        )
        assert r.status_code == expect, r.text
        return r.json()

    def poll(self, after: int = 0) -> dict:
        r = self.http.get(
            f"/api/chat/sessions/{self.session_id}/messages", params={"after": after}, headers=self.headers
        )
        assert r.status_code == 200, r.text
        return r.json()

    def close(self) -> None:
        self.http.close()


class Operator:
    def __init__(self, base_url: str, username: str, password: str = "password123"):
        self.http = httpx.Client(base_url=base_url, timeout=15, limits=KEEPALIVE, verify=TLS)
        r = self.http.post("/api/auth/login", json={"username": username, "password": password})
        assert r.status_code == 200, r.text
        self.token = r.json()["token"]
        self.http.headers["Authorization"] = f"Bearer {self.token}"

    def get(self, action: str, expect: int = 200, **params) -> dict:
        r = self.http.get("/api/operators", params={"action": action, **params})
        assert r.status_code == expect, r.text
        return r.json()

    def post(self, action: str, body: dict, expect: int = 200, method: str = "POST") -> dict:
        r = self.http.request(method, "/api/operators", params={"action": action}, json=body)
        assert r.status_code == expect, r.text
        return r.json()

    def online(self) -> dict:
        return self.post("set_status", {"status": "online"})

    def take(self, session_id: str, expect: int = 200) -> dict:
        return self.post("take_chat", {"session_id": session_id}, expect)

    def send(self, session_id: str, text: str, expect: int = 200) -> dict:
        return self.post("send_message", {"session_id": session_id, "text": text}, expect)

    def release(self, session_id: str, reason: str = "risolto", expect: int = 200) -> dict:
        return self.post("release_chat", {"session_id": session_id, "resolution_reason": reason}, expect, method="PUT")

    def close(self) -> None:
        self.http.close()
