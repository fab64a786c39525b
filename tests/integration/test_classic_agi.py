"""The classic AGI transport end to end: `AGI(rabta-agi,<attempt>)`, one process per call.

A node of its own is brought up with agi_transport = "classic": Asterisk runs the survey as a
Python script inside its rootfs (pyst2 on stdin/stdout), writing to the same database as the
engine. Real SIP calls to scripted citizens must then be stored exactly as with FastAGI:
completed surveys, an invalid key then a valid one, silence then an answer, a hang-up mid-way
(partial kept, called back once) and in the greeting. The engine's FastAGI server must see no
connection at all: every answer came through the classic script.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from support import SLOT, TEST_NODE, Citizen, carrier_cdr_counts, install_phonebook, run_until_idle
from test_e2e_survey import check_every_behaviour

from ivr import cli, phone
from ivr.config import Settings, load_settings
from ivr.flows.definitions import load_surveys
from ivr.lab import rootfs
from ivr.models import Transaction
from ivr.store import SQLiteStore

_SHIFT = 1000 * SLOT
CLASSIC_NODE = {**TEST_NODE, "node": f"rabta-classic{SLOT or ''}", "sip_port": 5660 + _SHIFT,
                "carrier_sip_port": 5670 + _SHIFT, "ami_port": 5638 + _SHIFT,
                "agi_port": 4693 + _SHIFT, "agi_transport": "classic"}

# What every scripted call does before the service questions, and what it stores: the bundled
# surveys open with the visit confirmation ("press 1 if correct").
OPENING: tuple[str, ...] = ("1",)
OPENING_ANSWERS: dict[str, str] = {"visit_confirmed": "1"}


def keys(*steps: str) -> str:
    """Return the phone book keys for a citizen who, after the opening, does steps in order.

    A digit step is "wait for the prompt to end, then press it" (`s4`); any other step is
    passed as it is (`swwwww`: silence after the prompt, `sh`: hang up after it).
    """
    return "".join(f"s{s}" if s.isdigit() else s for s in (*OPENING, *steps))


def answers(**given: str) -> dict[str, str]:
    """Return the answers stored for a citizen who went through the opening and gave these."""
    return {**OPENING_ANSWERS, **given} if given or OPENING_ANSWERS else {}


C, P = "completed", "partial"
# citizen, expected status, attempts, answers (police survey)
CASES: list[tuple[Citizen, str, int, dict[str, str]]] = [
    (Citizen("03005557000", "answer", keys("5", "2")), C, 1, answers(rating="5", bribe="2")),
    (Citizen("03005557001", "answer", keys("3", "2")), C, 1, answers(rating="3", bribe="2")),
    (Citizen("03005557002", "answer", keys("1", "1", "2", "2")), C, 1,
     answers(rating="1", bribe="1", bribe_amount="2", complaint_offer="2")),
    (Citizen("03005557003", "answer", keys("7", "4", "2")), C, 1,  # invalid key, then valid
     answers(rating="4", bribe="2")),
    (Citizen("03005557004", "answer", keys("swwwww", "3", "2")), C, 1,  # silence, asked again
     answers(rating="3", bribe="2")),
    (Citizen("03005557005", "answer", keys("4", "sh")), P, 2, answers(rating="4")),  # hangs up
    (Citizen("03005557006", "answer", keys(), hangup_s="2"), P, 2, {}),  # in the greeting
]


def _transactions(citizens: list[Citizen]) -> list[Transaction]:
    visited = datetime.now(UTC) - timedelta(hours=3)
    return [Transaction(office="classic-office", ref=f"classic-{i:03d}", name="",
                        mobile=phone.normalize(c.number), service="police", district="Lahore",
                        official="official-1", visited_at=visited, language=("en", "ur")[i % 2])
            for i, c in enumerate(citizens)]


@pytest.fixture(scope="module")
def classic_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Bring up a node whose PBX runs surveys through the classic AGI script (fail loudly)."""
    if os.geteuid() != 0:
        pytest.fail("integration tests need root (chroot + mount)")
    home = tmp_path_factory.mktemp("rabta-classic-home")
    env = {k: v for k, v in os.environ.items() if k == "RABTA_CACHE"}
    settings = load_settings(env=env, overrides={**CLASSIC_NODE, "home": str(home)})
    cli.asterisk_up(settings, quiet=True)
    try:
        yield settings
    finally:
        cli.asterisk_down(settings, quiet=True)
    mount = settings.rootfs / str(home.resolve()).lstrip("/")
    assert not rootfs._mounted(mount), "asterisk down left the database bind-mounted"


@pytest.fixture
async def classic_store(classic_settings: Settings) -> AsyncIterator[SQLiteStore]:
    """The node's own database: the one the classic script writes to."""
    s = await SQLiteStore.open(classic_settings.db_path)
    try:
        yield s
    finally:
        await s.close()


def test_dialplan_and_rootfs_run_the_classic_script(classic_settings: Settings) -> None:
    pbx = rootfs.node_for(classic_settings).pbx
    dialplan = rootfs.cli(pbx, f"dialplan show s@{rootfs.V.CTX_SURVEY}")
    assert "AGI(rabta-agi,${RABTA_ATTEMPT})" in dialplan
    assert "agi://" not in dialplan
    script = pbx.host_path(f"{rootfs.agi_dir(pbx)}/{rootfs.CLASSIC_SCRIPT}")
    assert os.access(script, os.X_OK)
    # The database directory is visible inside the rootfs at its own path.
    assert rootfs._mounted(classic_settings.rootfs / str(classic_settings.home).lstrip("/"))


async def test_classic_transport_stores_exactly_what_citizens_did(
        classic_settings: Settings, classic_store: SQLiteStore) -> None:
    citizens = [c for c, *_ in CASES]
    install_phonebook(classic_settings, citizens)
    txs = _transactions(citizens)
    assert await classic_store.add_transactions(txs, txs[0].visited_at) == (len(txs), 0)
    before = carrier_cdr_counts(classic_settings)

    engine = await run_until_idle(classic_settings, classic_store)

    after = carrier_cdr_counts(classic_settings)
    results = {r["ref"]: r for r in await classic_store.results()}
    problems = []
    for tx, (citizen, status, attempts, want_answers) in zip(txs, CASES, strict=True):
        got = results[tx.ref]
        want = {"status": status, "attempts": attempts, "last_outcome": "answered",
                "answers": want_answers}
        have = {k: got[k] for k in want}
        if have != want:
            problems.append(f"{citizen}: expected {want}, got {have}")
        dialled = after[phone.digits(tx.mobile)] - before[phone.digits(tx.mobile)]
        if dialled != attempts:
            problems.append(f"{citizen}: carrier saw {dialled} call(s), store has {attempts}")
    assert not problems, "\n".join(problems)
    # Nothing went through FastAGI: every answer above was written by the classic script.
    assert engine.agi.stats.accepted == 0
    async with classic_store._db.execute(
            "SELECT DISTINCT survey, survey_version FROM answers") as cur:
        police = load_surveys().surveys["police"]
        assert [tuple(r) for r in await cur.fetchall()] == [("police", police.version)]


async def test_classic_transport_passes_the_same_end_to_end_test(
        classic_settings: Settings, classic_store: SQLiteStore) -> None:
    # test_e2e_survey.py's every phone book behaviour, word for word, over the classic script.
    engine = await check_every_behaviour(classic_settings, classic_store)
    assert engine.agi.stats.accepted == 0  # no survey went through FastAGI
