"""CLI, serving: `rabta run` (dial until idle or stopped), `rabta serve` (engine + web) and
`rabta web` (the dashboard and API alone)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from ivr.cli.common import EXIT_OK, add_command, port_number, run_loop, web_site
from ivr.cli.progress import Progress
from ivr.config import Settings
from ivr.models import FINAL
from ivr.store import open_store

log = logging.getLogger("rabta")


def register(sub: Any) -> None:
    """Add `run`, `web` and `serve` to the `rabta` parser's subcommands."""
    r = add_command(
        sub, "run", help="run the engine: FastAGI + dialer",
        description="Listen for FastAGI, connect to every PBX node's AMI and dial what is due, "
                    "within the calling window. Without --until-idle it runs until Ctrl-C or "
                    "SIGTERM; answers already given are stored either way.",
        examples=["rabta run --until-idle", "rabta run --no-progress 2>>/var/log/rabta.log"],
        func=lambda args, settings: run_loop(settings, do_run(
            settings, until_idle=args.until_idle, show_progress=not args.no_progress)))
    r.add_argument("--until-idle", action="store_true",
                   help="exit when nothing is pending, scheduled or on the line")
    r.add_argument("--no-progress", action="store_true", help="no progress bar")

    w = add_command(
        sub, "web", help="serve only the officials' dashboard and API (no engine: no "
                         "calls are placed; click-to-call needs `serve`)",
        description="Serve the dashboard (/login), the intake API (/api/v1) and the cases on "
                    "web_host:web_port, without the engine: nothing is dialled.",
        examples=["rabta web", "rabta web --port 8081"],
        func=lambda args, settings: run_loop(settings, do_web(settings)))
    s = add_command(
        sub, "serve", help="run the engine continuously with /metrics and /healthz "
                           "on web_host:web_port (Ctrl-C to stop)",
        description="The production mode: the engine (FastAGI + dialer) and the web (dashboard, "
                    "API, click-to-call, /metrics, /healthz) in one process, until stopped.",
        examples=["rabta serve", "RABTA_WEB_HOST=0.0.0.0 rabta serve --port 8443"],
        func=lambda args, settings: run_loop(settings, do_run(
            settings, until_idle=False, show_progress=False, serve_web=True)))
    for p in (w, s):
        p.add_argument("--port", dest="web_port", type=port_number,
                       help="web port (default: the web_port setting, 8080)")


async def do_run(settings: Settings, *, until_idle: bool, show_progress: bool = True,
                 serve_web: bool = False) -> int:
    """Run the engine (FastAGI + dialer) until idle or interrupted."""
    from ivr.engine import Engine  # imported here: only commands that dial need the stack

    async with await open_store(settings.db_url) as store:
        counts = await store.status_counts()
        total = sum(counts.values())
        bar = Progress(total, "calls") if show_progress and total else None
        state = {"t": 0.0}

        def progress(dialer: Any) -> None:
            if bar is None or time.monotonic() - state["t"] < 1.0:
                return
            state["t"] = time.monotonic()
            asyncio.get_running_loop().create_task(_refresh(dialer))

        async def _refresh(dialer: Any) -> None:
            c = await store.status_counts()
            done = sum(c.get(s, 0) for s in FINAL)
            assert bar is not None
            bar.update(done, f"done · {dialer.calls.in_flight} on the line · "
                             f"{c.get('scheduled', 0)} to retry")

        try:
            async with Engine(settings, store, progress=progress) as engine, \
                    contextlib.AsyncExitStack() as stack:
                if serve_web:
                    from ivr.web.app import create_app

                    await stack.enter_async_context(web_site(
                        create_app(settings, store, engine), settings, settings.web_host,
                        settings.web_port))
                    log.info("web on http://%s:%d (/login, /api/v1, /metrics, /healthz)",
                             settings.web_host, settings.web_port)
                if until_idle:
                    await engine.run_until_idle()
                else:
                    await engine.dialer.run(until_idle=False)
        finally:
            if bar:
                c = await store.status_counts()
                bar.update(sum(c.get(s, 0) for s in FINAL), "done", force=True)
                bar.close()
    return EXIT_OK


async def do_web(settings: Settings, stop: asyncio.Event | None = None) -> int:
    """Serve the dashboard and API alone (no engine) until interrupted or `stop` is set."""
    from ivr.web.app import create_app

    async with await open_store(settings.db_url) as store, \
            web_site(create_app(settings, store), settings, settings.web_host, settings.web_port):
        log.info("web on http://%s:%d (/login, /cases, /api/v1); no engine", settings.web_host,
                 settings.web_port)
        await (stop or asyncio.Event()).wait()
    return EXIT_OK
