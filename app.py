"""Start Sportello: the visitor page (/), the REST API (/api/) and the
operator dashboard (/dashboard/, proxied to Streamlit on DASHBOARD_PORT) on
one port.

    python app.py [--port 7860] [--host 0.0.0.0] [--no-dashboard]
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys

import gradio as gr
from fastapi import FastAPI

from sportello.config import ROOT, SettingError, Settings, child_env
from sportello.faces.api import create_api
from sportello.faces.dashboard.supervisor import DashboardSupervisor
from sportello.faces.proxy import DashboardProxy
from sportello.faces.stream import serve
from sportello.faces.visitor.page import build_page, mount_options
from sportello.logs import setup_logging
from sportello.runtime import DatabaseUnavailable, Runtime

log = logging.getLogger("sportello")
DASHBOARD_PATH = "/dashboard"


def build_app(runtime: Runtime, *, with_page: bool = True) -> FastAPI:
    """The API, with the visitor page mounted at `/` on the same server."""
    app = create_api(runtime)
    if with_page:
        app = gr.mount_gradio_app(app, build_page(runtime.chat, feedback=runtime.feedback), path="/", **mount_options())
    return app


def dashboard_command(port: int) -> list[str]:
    script = ROOT / "dashboard.py"
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(script),
        "--server.port",
        str(port),
        # Loopback only: the way in is the proxy at /dashboard/ (body cap, anti-framing headers).
        "--server.address",
        "127.0.0.1",
        # Served under /dashboard/ so the app can proxy it on its own port (one-port hosts).
        "--server.baseUrlPath",
        DASHBOARD_PATH.strip("/"),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
        "--client.toolbarMode",
        "minimal",
    ]


def start_dashboard(settings: Settings) -> DashboardSupervisor | None:
    """The operator dashboard (Streamlit), supervised: restarted when it dies, stopped with the app."""
    if not (ROOT / "dashboard.py").exists():
        return None
    return DashboardSupervisor(
        dashboard_command,
        settings.dashboard_port,
        cwd=ROOT,
        env=child_env(DATA_DIR=str(settings.data_dir)),
        max_backoff_s=settings.dashboard_restart_max_s,
        health_url=lambda port: f"http://127.0.0.1:{port}{DASHBOARD_PATH}/_stcore/health",
        hung_s=settings.dashboard_hung_s,
    ).start()


def public_urls(host: str, port: int, with_dashboard: bool) -> dict[str, str]:
    """The addresses a person opens: the visitor page, the dashboard (through this port) and the API."""
    shown = "localhost" if host in ("0.0.0.0", "::", "") else host
    base = f"http://{shown}:{port}"
    urls = {"visitor page": f"{base}/", "API": f"{base}/api/ (docs: {base}/api/docs)"}
    if with_dashboard:
        urls["operator dashboard"] = f"{base}{DASHBOARD_PATH}/"
    return urls


def log_urls(host: str, port: int, dashboard) -> None:
    """The start log names what to open (Streamlit's own port is internal: loopback, behind the proxy)."""
    for name, url in public_urls(host, port, dashboard is not None).items():
        log.info("Sportello %s: %s", name, url)
    if dashboard is None:
        log.info("Sportello operator dashboard: not started (--no-dashboard)")


def _exit_on_sigterm(signum, _frame):
    # uvicorn handles SIGTERM while it serves and re-raises it when it is done; this handler turns it
    # (and a SIGTERM during start-up) into SystemExit so that main's `finally` stops the dashboard.
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, help="port (default: $PORT or 7860)")
    parser.add_argument("--host", help="address to bind (default: $HOST or 0.0.0.0)")
    parser.add_argument("--no-dashboard", action="store_true", help="do not start the operator dashboard")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingError as exc:  # one line naming the setting, no traceback
        print(f"sportello: cannot start: {exc}", file=sys.stderr)
        return 2
    setup_logging(settings)  # LOG_LEVEL, LOG_FORMAT (plain or json), request ids, secrets masked
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        runtime = Runtime(settings)
    except DatabaseUnavailable as exc:
        log.error("%s", exc)
        return 3
    runtime.operators.ensure_first_operator(settings.admin_username, settings.admin_password, settings.admin_name)
    runtime.start()
    dashboard = None
    try:
        dashboard = None if args.no_dashboard else start_dashboard(settings)
        runtime.attach_dashboard(dashboard)
        app = build_app(runtime)
        if dashboard is not None:
            app = DashboardProxy(
                app,
                lambda: dashboard.port,
                prefix=DASHBOARD_PATH,
                max_body_bytes=settings.dashboard_max_body_bytes,
                trusted_proxies=settings.trusted_proxies,
                read_timeout_s=settings.body_read_timeout_s,
            )
        log_urls(args.host or settings.host, args.port or settings.port, dashboard)
        serve(  # uvicorn.run, the visitor streams ended first at shutdown
            app,
            runtime,
            host=args.host or settings.host,
            port=args.port or settings.port,
            log_level="warning",
            log_config=None,  # uvicorn logs through the root logger (setup_logging): one format
            timeout_graceful_shutdown=3,
            proxy_headers=False,  # the app reads X-Forwarded-For itself, from TRUSTED_PROXIES only
            # A websocket message (the dashboard's, through the proxy) is refused while it is read past this.
            ws_max_size=max(64 * 1024, settings.dashboard_max_body_bytes),
        )
    finally:
        if dashboard is not None:
            dashboard.stop()
        runtime.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
