"""Browser tier helpers: start a real `rabta web` on a seeded temp store, launch Debian's
headless Chromium, sign in. Used by conftest.py's fixtures and by screenshots.py."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from casedata import Report, seed
from chromium import LAUNCH_ARGS, chromium_path
from playwright.sync_api import Browser, Page, Playwright
from resultsdata import made_up, seed_known

from ivr.accounts import Role, hash_password
from ivr.cases import CaseAction, CaseStatus
from ivr.config import Settings
from ivr.store import open_store

PASSWORD = "browser test password"
# username -> (role, scope)
USERS: dict[str, tuple[Role, tuple[str, ...]]] = {
    "oversight": (Role.OVERSIGHT, ()),
    "department": (Role.DEPARTMENT, ("Police",)),
    "district": (Role.DISTRICT, ("Lahore",)),
    "supervisor": (Role.SUPERVISOR, ()),
    "telephony": (Role.TELEPHONY, ()),
    "dataentry": (Role.DATAENTRY, ("DC Office Lahore",)),
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Site:
    """The running `rabta web` process and what it was seeded with."""

    url: str
    home: Path
    cache: Path
    reports: list[Report]
    day: str = ""  # the local day (the default time zone) the answers were seeded on


    def report(self, ref: str) -> Report:
        return next(r for r in self.reports if r.ref == ref)


# Cases moved along for the screenshots: ref -> [(status, action, note)]
SAMPLE_CASES: dict[str, list[tuple[CaseStatus, CaseAction | None, str]]] = {
    "LHR-101": [(CaseStatus.UNDER_REVIEW, None, "File requested from the DC office")],
    "MUL-201": [(CaseStatus.UNDER_REVIEW, None, "Citizen called back, confirmed"),
                (CaseStatus.ACTION_TAKEN, CaseAction.SHOW_CAUSE, "Show-cause notice served")],
    "SKT-301": [(CaseStatus.UNDER_REVIEW, None, "Checked with the SHO"),
                (CaseStatus.ACTION_TAKEN, CaseAction.GRIEVANCE_REDRESSED, "Fee refunded")],
}


async def _prepare(home: Path, cache: Path, cases: bool, results: str) -> tuple[list[Report], str]:
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    store = await open_store(home / "rabta.db")
    try:
        now = datetime.now(UTC)
        reports = await seed(store, cache / "rootfs", now)
        if results == "known":
            await seed_known(store, now)
        elif results == "made-up":
            await made_up(store, now)
        hashed = hash_password(PASSWORD)
        for name, (role, scope) in USERS.items():
            await store.add_user(name, hashed, role, scope, now)
        by_ref = {r.ref: r for r in reports}
        for ref, steps in SAMPLE_CASES.items() if cases else ():
            for status, action, note in steps:
                await store.change_case(by_ref[ref].id, "user:oversight", status, action, None,
                                        note, now)
        return reports, now.astimezone(ZoneInfo(Settings.timezone)).date().isoformat()
    finally:
        await store.close()


def _env(home: Path, cache: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RABTA_")}
    env.update(RABTA_HOME=str(home), RABTA_CACHE=str(cache), RABTA_WEB_PORT=str(port),
               RABTA_WEB_HOST="127.0.0.1")
    return env


def start_site(tmp: Path, cases: bool = False, results: str = ""
               ) -> tuple[Site, subprocess.Popen[bytes]]:
    """Seed a store under tmp and start `rabta web` on it. cases: move some cases along;
    results: also store tests/resultsdata.py's "known" answers or its "made-up" month."""
    home, cache = tmp / "home", tmp / "cache"
    home.mkdir(parents=True, exist_ok=True)
    # In a thread of its own: Playwright's sync API keeps an event loop running in this one.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        reports, day = pool.submit(asyncio.run, _prepare(home, cache, cases, results)).result()
    port = free_port()
    rabta = Path(sys.executable).with_name("rabta")
    log = (tmp / "web.log").open("wb")
    proc = subprocess.Popen([str(rabta), "web"], env=_env(home, cache, port), stdout=log,
                            stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while True:
        if proc.poll() is not None:
            pytest.fail(f"`rabta web` exited: {(tmp / 'web.log').read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                pytest.fail("`rabta web` did not listen within 30 s")
            time.sleep(0.1)
    return Site(f"http://127.0.0.1:{port}", home, cache, reports, day), proc


def stop_site(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def launch(p: Playwright) -> Browser:
    """Launch Debian's headless Chromium; fail loudly if it cannot start."""
    path = chromium_path()
    try:
        return p.chromium.launch(executable_path=path, headless=True, args=LAUNCH_ARGS)
    except Exception as exc:  # whatever Playwright raises, the run must fail
        pytest.fail(f"Chromium ({path}) could not start: {exc}")


def sign_in(page: Page, site: Site, username: str) -> None:
    """Sign in through the login form, as an official would."""
    page.goto(f"{site.url}/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)  # the overview (or the role's landing)
