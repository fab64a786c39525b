"""Docker made real: both images of asterisk-docker/ built with podman, a survey run through them.

No registry: the base images are debootstrap'd Debians imported into podman, the engine's wheels
come from the host (ivr.lab.podman). The configs are what `rabta dialplan render --target
dedicated --out ... --carrier ...` writes, the prompts what `rabta prompts build --sounds ...`
installs: the steps asterisk-docker/README.md gives a Docker user. Then three containers, host
networking, ports moved by RABTA_TEST_SLOT: the PBX and the carrier simulator (the Asterisk
image, each with its rendered /etc/asterisk mounted read-only) and the engine (`rabta serve`, the
image's own command, RABTA_HOME mounted from the host). Transactions go in with `rabta import`
in a throw-away engine container. The store (read from the host) must hold every answer as the
scripted citizens pressed it, and the carrier's CDRs must show each number dialled as often as
the store has attempts. Without podman this test FAILS: it never skips.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import SLOT, TEST_NODE, Citizen, transactions_for

from ivr import phone
from ivr.lab import podman, simulator
from ivr.models import FINAL
from ivr.store import open_store

_SHIFT = 1000 * SLOT
NODE: dict[str, Any] = {
    **TEST_NODE, "node": f"rabta-docker{SLOT or ''}", "sip_port": 5760 + _SHIFT,
    "carrier_sip_port": 5770 + _SHIFT, "ami_port": 5738 + _SHIFT, "agi_port": 4793 + _SHIFT,
    "web_port": 5790 + _SHIFT, "rtp_start": 40000,
}
NAMES = {role: f"rabta-docker{SLOT}-{role}" for role in ("pbx", "carrier", "engine")}
C, U = "completed", "unreachable"
OK = {"visit_confirmed": "1"}
# citizen, expected status, attempts, last outcome, answers
CASES: list[tuple[Citizen, str, int, str, dict[str, str]]] = [
    (Citizen("03005556001", "answer", "s1s5s2"), C, 1, "answered", {**OK, "rating": "5", "bribe": "2"}),
    (Citizen("03005556002", "answer", "s1s2s1"), C, 1, "answered", {**OK, "rating": "2", "bribe": "1"}),
    (Citizen("+923005556003", "answer", "s1s4s2"), C, 1, "answered", {**OK, "rating": "4", "bribe": "2"}),
    (Citizen("03005556004", "busy"), U, 3, "busy", {}),
]
CONFIG_IN = "/etc/rabta/rabta.toml"
HOME_IN = "/var/lib/rabta"


def toml_value(value: object) -> str:
    """Write a setting's value as TOML (strings, numbers, booleans and lists of them)."""
    return json.dumps(list(value) if isinstance(value, tuple) else value)


def rabta(args: list[str], env: dict[str, str]) -> str:
    """Run the host's `rabta` CLI (this checkout) as a Docker user would, before `compose up`."""
    res = subprocess.run([sys.executable, "-m", "ivr.cli", *args], capture_output=True, text=True,
                         env=env, timeout=600, check=False)
    assert res.returncode == 0, f"rabta {' '.join(args)}: {res.stdout}\n{res.stderr}"
    return res.stdout


def chown_tree(path: Path, uid: int) -> None:
    for p in [path, *path.rglob("*")]:
        os.chown(p, uid, uid)


def wait_booted(name: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not podman.running(name):
            raise AssertionError(f"{name} exited while starting:\n{podman.logs(name)}")
        if podman.exec_in(name, "asterisk", "-rx", "core waitfullybooted").returncode == 0:
            return
        time.sleep(0.5)
    raise AssertionError(f"{name} did not boot in {timeout:.0f} s:\n{podman.logs(name)}")


async def read_results(db: Path) -> dict[str, dict[str, Any]]:
    async with await open_store(db) as store:
        return {r["ref"]: r for r in await store.results()}


def carrier_cdrs(master: Path) -> Counter[str]:
    counts: Counter[str] = Counter()
    if master.exists():
        for row in csv.reader(master.read_text().splitlines()):
            if len(row) > 2:
                counts[row[2]] += 1  # dst: the extension the PBX dialled
    return counts


@pytest.fixture
def containers() -> Iterator[dict[str, str]]:
    """The containers' names; each is removed afterwards, pass or fail (a leftover first)."""
    if shutil.which("podman") is None:
        pytest.fail("podman is missing: run `make setup` (apt-get install podman runc)")
    if os.geteuid() != 0:
        pytest.fail("the podman test needs root (debootstrap, podman import)")
    for name in NAMES.values():
        podman.remove(name)
    try:
        yield NAMES
    finally:
        for name in NAMES.values():
            print(f"===== {name}\n{podman.logs(name)[-4000:]}")  # shown if the test failed
            podman.remove(name)


def test_survey_end_to_end_through_both_images(containers: dict[str, str], tmp_path: Path) -> None:
    t0 = time.monotonic()
    cache = Path(os.environ.get("RABTA_CACHE") or Path.home() / ".cache" / "rabta")
    asterisk_image, engine_image = podman.build_all(cache)
    built = time.monotonic() - t0

    # The Docker user's steps: a rabta.toml, then render and prompts (asterisk-docker/README.md).
    secret = secrets.token_urlsafe(24)
    config = tmp_path / "rabta.toml"
    config.write_text("".join(f"{k} = {toml_value(v)}\n" for k, v in
                              {**NODE, "ami_secret": secret}.items()))
    home = tmp_path / "home"
    home.mkdir()
    env = {"PATH": os.environ["PATH"], "HOME": str(Path.home()), "RABTA_CONFIG": str(config),
           "RABTA_HOME": str(home),
           **{k: v for k, v in os.environ.items() if k == "RABTA_CACHE"}}
    citizens = [c for c, *_ in CASES]
    book = tmp_path / "phonebook.csv"
    with book.open("w", newline="") as f:
        csv.writer(f).writerows([simulator.COLUMNS, *[
            (c.number, c.action, c.keys, c.ring_s, c.hangup_s) for c in citizens]])
    rendered = tmp_path / "rendered"
    out = rabta(["dialplan", "render", "--target", "dedicated", "--out", str(rendered / "pbx"),
                 "--carrier", str(rendered / "carrier"), "--phonebook", str(book)], env)
    assert f"{len(citizens)} citizen(s)" in out, out
    rabta(["prompts", "build", "--sounds", str(rendered / "sounds")], env)
    logs = {role: tmp_path / "logs" / role for role in ("pbx", "carrier")}
    for d in logs.values():
        (d / "cdr-csv").mkdir(parents=True)
    for d in (rendered / "pbx", rendered / "carrier", *logs.values()):
        chown_tree(d, podman.ASTERISK_UID)  # the image's `asterisk` user; manager.conf is 0600
    chown_tree(home, podman.ENGINE_UID)
    os.chown(config, podman.ENGINE_UID, podman.ENGINE_UID)
    config.chmod(0o600)  # it holds the AMI secret

    sounds = [(d, f"/usr/share/asterisk/sounds/{d.parent.name}/rabta", "ro")
              for d in sorted((rendered / "sounds").glob("*/rabta"))]
    assert sounds, "rabta prompts build --sounds installed nothing"
    podman.run_detached(containers["pbx"], asterisk_image, volumes=[
        (rendered / "pbx", "/etc/asterisk", "ro"), (logs["pbx"], "/var/log/asterisk", "rw"),
        *sounds])
    podman.run_detached(containers["carrier"], asterisk_image, volumes=[
        (rendered / "carrier", "/etc/asterisk", "ro"), (logs["carrier"], "/var/log/asterisk", "rw")])
    wait_booted(containers["pbx"])
    wait_booted(containers["carrier"])

    txs = transactions_for(citizens, "docker")
    rows = io.StringIO()
    w = csv.writer(rows)
    w.writerow(["ref", "name", "mobile", "service", "office", "district", "official",
                "visited_at", "language"])
    for tx in txs:
        w.writerow([tx.ref, tx.name, tx.mobile, tx.service, tx.office, tx.district, tx.official,
                    tx.visited_at.isoformat(), tx.language])
    sheet = tmp_path / "transactions.csv"
    sheet.write_text(rows.getvalue())
    engine_env = {"RABTA_CONFIG": CONFIG_IN}
    engine_vols = [(home, HOME_IN, "rw"), (config, CONFIG_IN, "ro")]
    res = podman.run_once(engine_image, ["rabta", "import", "/tmp/transactions.csv"],
                          env=engine_env, volumes=[*engine_vols, (sheet, "/tmp/transactions.csv", "ro")])
    assert res.returncode == 0 and f"{len(txs)} imported" in res.stdout, res.stdout + res.stderr

    podman.run_detached(containers["engine"], engine_image, env=engine_env, volumes=engine_vols)
    started = time.monotonic()
    results: dict[str, dict[str, Any]] = {}
    healthy = False
    while time.monotonic() - started < 240:
        assert podman.running(containers["engine"]), podman.logs(containers["engine"])
        if not healthy:  # the engine has its store open and AMI connected
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{NODE['web_port']}/healthz",
                                            timeout=2) as r:
                    healthy = r.status == 200
            except OSError:
                pass
        if healthy:  # only now: the engine (uid 10001) has made the WAL files, not root
            results = asyncio.run(read_results(home / "rabta.db"))
            if len(results) == len(txs) and all(r["status"] in FINAL for r in results.values()):
                break
        time.sleep(2)
    survey_s = time.monotonic() - started
    podman.remove(containers["engine"])
    assert healthy, "the engine container's /healthz never said ok (no AMI to the PBX container?)"

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the carrier's CDRs are complete once it has no calls
        out = podman.exec_in(containers["carrier"], "asterisk", "-rx", "core show channels count")
        if out.stdout.strip().startswith("0 active channels"):
            break
        time.sleep(0.5)
    dialled = carrier_cdrs(logs["carrier"] / "cdr-csv" / "Master.csv")

    problems = []
    for tx, (citizen, status, attempts, outcome, answers) in zip(txs, CASES, strict=True):
        got = results.get(tx.ref)
        if got is None:
            problems.append(f"{citizen}: not in the store")
            continue
        want = {"status": status, "attempts": attempts, "last_outcome": outcome, "answers": answers}
        have = {k: got[k] for k in want}
        if have != want:
            problems.append(f"{citizen}: expected {want}, got {have}")
        calls = dialled[phone.digits(tx.mobile)]
        if calls != attempts:
            problems.append(f"{citizen}: the carrier saw {calls} call(s), the store has {attempts}")
    assert not problems, "\n".join(problems)
    print(f"images ready in {built:.0f} s; surveys done in {survey_s:.0f} s; "
          f"whole test {time.monotonic() - t0:.0f} s")
