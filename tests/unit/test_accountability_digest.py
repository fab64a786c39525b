"""The daily digest: the pure builder (new alerts against the day before, overdue and waiting
counts), each official's digest cut to their scope, delivery to files under the home and back
(no path tricks), `rabta accountability digest`, and "your digest" on the live overview."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from casedata import seed
from watchdata import seed_weeks
from web_support import NOW, Clock, add_user, signed_in, start_client

from ivr import cli
from ivr.accountability import digest
from ivr.accounts import Role
from ivr.config import Settings
from ivr.services import digests
from ivr.store import SQLiteStore, open_store

pytest_plugins = ["web_fixtures"]

KARACHI = ZoneInfo("Asia/Karachi")
LATER = NOW + timedelta(days=8)
TUESDAY = date(2024, 4, 30)  # watchdata's rising week: its visits are on this day


def _alerts(week: str, *offices: str) -> dict[str, object]:
    return {"week": week, "alpha": 0.05,
            "alerts": [{"office": o, "district": "D", "reason": f"{o} rose"} for o in offices]}


def test_new_alerts_are_those_the_day_before_did_not_have() -> None:
    d = digest.build("amna", "district", "results of all services in D", TUESDAY, NOW,
                     alerts_through_day=_alerts("2024-04-29", "A", "B"),
                     alerts_day_before=_alerts("2024-04-29", "A"),
                     overdue={"D": {"overdue": 3, "at_department": 2, "at_oversight": 1}},
                     waiting=[{"district": "D", "new": 4, "under_review": 1}])
    assert [a["office"] for a in d.new_alerts] == ["B"] and d.week_alerts == 2
    assert d.overdue == {"overdue": 3, "at_department": 2, "at_oversight": 1}
    assert d.waiting == {"new": 4, "under_review": 1} and not d.quiet
    text = digest.to_text(d)
    assert "2024-04-30" in text and "- B (D), week of 2024-04-29: B rose" in text
    assert "Overdue cases: 3 (now with the department: 2; with oversight: 1)" in text
    assert "Cases waiting (the overdue included): 4 not yet reviewed, 1 under review" in text


def test_on_a_monday_every_alert_of_the_new_week_is_new() -> None:
    d = digest.build("o", "oversight", "everything", date(2024, 4, 29), NOW,
                     alerts_through_day=_alerts("2024-04-29", "A"),
                     alerts_day_before=_alerts("2024-04-22", "A"), overdue={}, waiting=[])
    assert [a["office"] for a in d.new_alerts] == ["A"]
    quiet = digest.build("o", "oversight", "everything", date(2024, 4, 29), NOW,
                         alerts_through_day=_alerts("2024-04-29"),
                         alerts_day_before=_alerts("2024-04-22"), overdue={}, waiting=[])
    assert quiet.quiet and "New bribe-rate alerts: none." in digest.to_text(quiet)


def test_the_digest_tells_of_yesterday_in_local_time() -> None:
    # 2024-05-01 20:00 UTC is already 2 May in Karachi: yesterday is 1 May
    assert digest.day_of(datetime(2024, 5, 1, 20, 0, tzinfo=UTC), KARACHI) == date(2024, 5, 1)
    assert digest.day_of(datetime(2024, 5, 1, 18, 0, tzinfo=UTC), KARACHI) == date(2024, 4, 30)


async def _officials(store: SQLiteStore) -> None:
    await add_user(store, "o", Role.OVERSIGHT)
    await add_user(store, "police", Role.DEPARTMENT, ("Police",))
    await add_user(store, "lahore", Role.DISTRICT, ("Lahore",))
    await add_user(store, "gujrat", Role.DISTRICT, ("Gujrat",))
    await add_user(store, "gone", Role.DISTRICT, ("Lahore",))
    await store.set_user_disabled("gone", True)
    await add_user(store, "sup", Role.SUPERVISOR)
    await add_user(store, "entry", Role.DATAENTRY)


async def test_each_official_gets_their_scope_only(store: SQLiteStore,
                                                   web_settings: Settings) -> None:
    await seed(store, web_settings.rootfs, NOW)
    await seed_weeks(store, NOW)
    await _officials(store)
    built = {d.username: d for d in await digests.build(store, web_settings, TUESDAY, LATER)}
    assert set(built) == {"o", "police", "lahore", "gujrat"}  # not disabled, not other roles
    offices = {u: [a["office"] for a in d.new_alerts] for u, d in built.items()}
    assert offices == {"o": ["DC Office Lahore", "DC Office Multan"],
                       "police": ["DC Office Multan"], "lahore": ["DC Office Lahore"],
                       "gujrat": []}
    assert built["gujrat"].quiet and built["lahore"].overdue["overdue"] > 0
    assert built["o"].overdue["overdue"] > built["lahore"].overdue["overdue"]
    # the next day: the same alerts are no longer new, but still this week's
    later = {d.username: d for d in await digests.build(store, web_settings,
                                                         TUESDAY + timedelta(days=1), LATER)}
    assert later["o"].new_alerts == [] and later["o"].week_alerts == 2


async def test_delivered_as_files_and_read_back(store: SQLiteStore, web_settings: Settings,
                                                tmp_path: Path) -> None:
    await seed(store, web_settings.rootfs, NOW)
    await _officials(store)
    await add_user(store, "../../etc/x", Role.OVERSIGHT)
    built = await digests.build(store, web_settings, TUESDAY, LATER)
    paths = digests.deliver(built, tmp_path)
    assert len(paths) == 5 and all(p.is_file() for p in paths)
    root = (tmp_path / digests.DIRECTORY).resolve()
    assert all(p.resolve().is_relative_to(root) for p in paths)
    assert (tmp_path / "digests" / "lahore" / "2024-04-30.txt").read_text().startswith(
        "Rabta daily digest for lahore, 2024-04-30")
    assert digests.latest(tmp_path, "lahore")["day"] == "2024-04-30"  # type: ignore[index]
    assert digests.latest(tmp_path, "../../etc/x")["username"] == "../../etc/x"  # type: ignore[index]
    assert digests.latest(tmp_path, "sup") is None  # none was built for a supervisor
    # a later day's replaces it as the latest; a second run of a day replaces its file
    digests.deliver(await digests.build(store, web_settings, TUESDAY + timedelta(days=1), LATER),
                    tmp_path)
    assert digests.latest(tmp_path, "lahore")["day"] == "2024-05-01"  # type: ignore[index]
    assert not list((tmp_path / "digests").rglob("*.part"))


async def test_the_overview_shows_your_digest(store: SQLiteStore,
                                              web_settings: Settings) -> None:
    await seed(store, web_settings.rootfs, NOW)
    await seed_weeks(store, NOW)
    await _officials(store)
    async with start_client(store, web_settings, Clock(LATER), session_hours=2000,
                            session_idle_minutes=10**6) as client:
        await signed_in(client, "lahore")
        before = await (await client.get("/overview")).text()
        digests.deliver(await digests.build(store, web_settings, TUESDAY, LATER),
                        web_settings.home)
        after = await (await client.get("/overview")).text()
        await signed_in(client, "police")
        police = await (await client.get("/overview")).text()
    assert 'id="no-digest"' in before
    assert "Of 2024-04-30" in after and 'class="digest-alert">DC Office Lahore' in after
    assert "DC Office Multan" not in after  # Lahore's officer: not Multan's alert
    assert 'class="digest-alert">DC Office Multan' in police


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for var in [v for v in os.environ if v.startswith("RABTA_")]:
        monkeypatch.delenv(var)
    monkeypatch.setenv("RABTA_HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    old_term = signal.getsignal(signal.SIGTERM)

    async def fill() -> None:
        store = await open_store(tmp_path / "rabta.db")
        await seed(store, tmp_path / "rootfs", NOW)
        await seed_weeks(store, NOW)
        await _officials(store)
        await store.close()
    asyncio.run(fill())
    yield tmp_path
    signal.signal(signal.SIGTERM, old_term)


def test_the_command_shows_then_sends(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["accountability", "digest", "--date", "2024-04-30"]) == 0
    out = capsys.readouterr()
    assert "Rabta daily digest for lahore, 2024-04-30" in out.out and "not sent" in out.err
    assert not (home / "digests").exists()
    assert cli.main(["accountability", "digest", "--date", "2024-04-30", "--send"]) == 0
    assert "delivered 4 digests" in capsys.readouterr().err
    data = json.loads((home / "digests" / "police" / "2024-04-30.json").read_text())
    assert [a["office"] for a in data["new_alerts"]] == ["DC Office Multan"]


@pytest.mark.parametrize("day", ["2024-02-30", "tomorrow", "2099-01-01"])
def test_a_bad_date_is_a_clear_error(home: Path, capsys: pytest.CaptureFixture[str],
                                     day: str) -> None:
    assert cli.main(["accountability", "digest", "--date", day]) == 2
    err = capsys.readouterr().err
    assert "--date" in err and "Traceback" not in err
