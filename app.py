"""Start Sportello: the visitor page (/), the REST API (/api/) and the
operator dashboard (/dashboard/, proxied to Streamlit on DASHBOARD_PORT) on
one port.

    python app.py [--port 7860] [--host 0.0.0.0] [--no-dashboard]
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys

import gradio as gr
import uvicorn
from fastapi import FastAPI

from sportello.config import ROOT, Settings
from sportello.faces.api import create_api
from sportello.faces.proxy import DashboardProxy
from sportello.faces.visitor.page import build_page, mount_options
from sportello.runtime import Runtime

log = logging.getLogger("sportello")
DASHBOARD_PATH = "/dashboard"


def build_app(runtime: Runtime, *, with_page: bool = True) -> FastAPI:
    """The API, with the visitor page mounted at `/` on the same server."""
    app = create_api(runtime)
    if with_page:
        app = gr.mount_gradio_app(app, build_page(runtime.chat), path="/", **mount_options())
    return app


def start_dashboard(settings: Settings) -> subprocess.Popen | None:
    script = ROOT / "dashboard.py"
    if not script.exists():
        return None
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(script),
        "--server.port",
        str(settings.dashboard_port),
        "--server.address",
        settings.host,
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
    log.info("starting the operator dashboard on port %s", settings.dashboard_port)
    return subprocess.Popen(cmd, cwd=ROOT, env=dict(os.environ, DATA_DIR=str(settings.data_dir)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, help="port (default: $PORT or 7860)")
    parser.add_argument("--host", help="address to bind (default: $HOST or 0.0.0.0)")
    parser.add_argument("--no-dashboard", action="store_true", help="do not start the operator dashboard")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO"), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    settings = Settings.from_env()
    runtime = Runtime(settings)
    runtime.operators.ensure_first_operator(os.environ)
    runtime.start()
    dashboard = None if args.no_dashboard else start_dashboard(settings)
    try:
        app = build_app(runtime)
        if dashboard is not None:
            app = DashboardProxy(app, settings.dashboard_port, prefix=DASHBOARD_PATH)
        uvicorn.run(
            app,
            host=args.host or settings.host,
            port=args.port or settings.port,
            log_level="warning",
            timeout_graceful_shutdown=3,
        )
    finally:
        if dashboard is not None:
            dashboard.terminate()
            try:
                dashboard.wait(5)
            except subprocess.TimeoutExpired:
                dashboard.kill()
        runtime.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
