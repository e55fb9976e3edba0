"""The app in the test process: a `Runtime` and its API served by uvicorn in a thread.

`InProcessServer` has the interface of `testkit.support.AppServer` (`.url`,
`.port`, `.data_dir`, `.env`, `start()`/`stop()`, a context manager, `log()`),
so the HTTP clients (`Visitor`, `Operator`) and the assertions do not change.
It starts in well under a second instead of the seconds an `app.py` process
needs to import Gradio, so tests that only need the REST API and the
background work (outbox worker, queue sweeper) use it. What needs a real
process (SIGKILL, two processes on one database, the Gradio page in a browser,
the one-port app with the dashboard) uses `AppServer`.

The visitor page is not mounted unless `with_page=True` (that imports Gradio).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from pathlib import Path

import uvicorn

from sportello.answering.bot import Answerer, KBError, RetrievalAnswerer
from sportello.config import Settings
from sportello.runtime import Runtime
from testkit.support import free_port

_ANSWERERS: dict[tuple, RetrievalAnswerer] = {}
_ANSWERERS_LOCK = threading.Lock()


def shared_offline_answerer(settings: Settings) -> Answerer | None:
    """One offline answerer per knowledge-base file (as it is on disk), shared by the
    in-process servers: building its index is most of a Runtime's start-up.

    None when the settings choose the LLM answerer: the Runtime then builds its own.
    """
    if settings.openai_api_key or settings.openai_base_url:
        return None
    path = Path(settings.kb_path).resolve()
    try:
        st = path.stat()
    except OSError:
        return None
    key = (str(path), st.st_mtime_ns, st.st_size)
    with _ANSWERERS_LOCK:
        answerer = _ANSWERERS.get(key)
        if answerer is None:
            try:
                answerer = _ANSWERERS[key] = RetrievalAnswerer.from_csv(path)
            except KBError:
                return None  # an unusable KB: the Runtime builds what the app would (build_answerer)
        return answerer


class QuickServer(uvicorn.Server):
    """uvicorn's server, stopped without its fixed pauses: its main loop looks for `should_exit` every 0.1 s
    and its shutdown sleeps 0.1 s before waiting for the connections; a test stops hundreds of servers, where
    these 0.2 s were a tenth of the integration tests' time. Here the loop looks every 10 ms and the
    shutdown's pause is 10 ms (it only lets the connections see their shutdown)."""

    async def main_loop(self) -> None:
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + 1) % 864000
            await asyncio.sleep(0.01)
            # uvicorn's on_tick does its per-second work when counter % 10 == 0: keep it at its own pace.
            should_exit = self.should_exit or (counter % 10 == 0 and await self.on_tick(counter // 10))

    async def shutdown(self, sockets=None) -> None:
        """uvicorn 0.54's `Server.shutdown`, with 10 ms pauses instead of 100 ms."""
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        await asyncio.sleep(0.01)
        deadline = time.monotonic() + self.config.timeout_graceful_shutdown
        while (self.server_state.connections or self.server_state.tasks) and not self.force_exit:
            if time.monotonic() > deadline:
                for t in self.server_state.tasks:
                    t.cancel(msg="Task cancelled, timeout graceful shutdown exceeded")
                break
            await asyncio.sleep(0.01)
        for server in self.servers:
            await server.wait_closed()
        if not self.force_exit:
            await self.lifespan.shutdown()


class InProcessServer:
    """The REST API (and optionally the visitor page) of a `Runtime`, on a free loopback port."""

    name = "app-inprocess"
    health_path = "/api/health"

    def __init__(
        self,
        data_dir: Path,
        env: dict | None = None,
        port: int | None = None,
        *,
        with_page: bool = False,
        answerer: Answerer | None = None,
    ):
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "DATA_DIR": str(self.data_dir),
            "PORT": str(self.port),
            "HOST": "127.0.0.1",
            "OUTBOX_INTERVAL_S": "0.2",
            **(env or {}),
        }
        self.with_page = with_page
        self._answerer = answerer
        self.log_path = self.data_dir / f"{self.name}-{self.port}.log"
        self.settings: Settings | None = None
        self.runtime: Runtime | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._log_handler: logging.Handler | None = None
        self._old_level: int | None = None

    # ------------------------------------------------------------ lifecycle
    def start(self, timeout: float = 30.0) -> InProcessServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._capture_log()
        try:
            self.settings = Settings.from_env(self.env)
            answerer = self._answerer or shared_offline_answerer(self.settings)
            self.runtime = Runtime(self.settings, answerer=answerer)
            s = self.settings
            self.runtime.operators.ensure_first_operator(s.admin_username, s.admin_password, s.admin_name)
            self.runtime.start()
            config = uvicorn.Config(
                self._app(),
                host="127.0.0.1",
                port=self.port,
                log_level="warning",
                timeout_graceful_shutdown=3,
                proxy_headers=False,  # the app reads X-Forwarded-For itself, from TRUSTED_PROXIES only
                lifespan="on" if self.with_page else "off",
            )
            self._server = QuickServer(config)
            self._thread = threading.Thread(target=self._server.run, name=f"{self.name}-{self.port}", daemon=True)
            self._thread.start()
            deadline = time.monotonic() + timeout
            while not self._server.started:
                if not self._thread.is_alive():
                    raise RuntimeError(f"{self.name} did not start: {self.log()}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.name} did not start in {timeout}s: {self.log()}")
                time.sleep(0.01)
        except BaseException:
            self.stop()
            raise
        return self

    def _app(self):
        if self.with_page:
            from app import build_app  # imports Gradio: only when the page is wanted

            return build_app(self.runtime)
        from sportello.faces.api import create_api

        return create_api(self.runtime)

    def stop(self) -> None:
        if self.runtime is not None:
            self.runtime.feed.close()  # open visitor streams end first (as app.py's server does)
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(15)
            if self._thread.is_alive():  # pragma: no cover - a stuck connection
                self._server.force_exit = True
                self._thread.join(5)
            self._thread = None
        self._server = None
        if self.runtime is not None:
            self.runtime.stop()
            self.runtime = None
        self._release_log()

    def __enter__(self) -> InProcessServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------ log
    def _capture_log(self) -> None:
        """What the app process would log (the `sportello` loggers, INFO and up) goes to `log_path`."""
        handler = logging.FileHandler(self.log_path, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.setLevel(logging.INFO)
        logger = logging.getLogger("sportello")
        self._old_level = logger.level
        if logger.getEffectiveLevel() > logging.INFO:
            logger.setLevel(logging.INFO)
        logger.addHandler(handler)
        self._log_handler = handler

    def _release_log(self) -> None:
        if self._log_handler is not None:
            logger = logging.getLogger("sportello")
            logger.removeHandler(self._log_handler)
            self._log_handler.close()
            self._log_handler = None
            if self._old_level is not None:
                logger.setLevel(self._old_level)

    def log(self) -> str:
        if self._log_handler is not None:
            self._log_handler.flush()
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""
