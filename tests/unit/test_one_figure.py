"""One figure everywhere: the overview, /results, its exports, the JSON API and `rabta report`.

The data has what made them disagree before: a citizen called back (two answers to each
question; only the latest counts), sampling weights (1/p), and small groups (withheld, and the
next smallest with them so the total does not give them away). Every reader must show the same
figures, and `rabta report` must withhold what the dashboard withholds.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import signal
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from results_support import many, survey
from web_support import Clock, add_user, signed_in, start_client

from ivr import cli
from ivr.accounts import Role
from ivr.config import Settings
from ivr.models import Transaction, TxStatus
from ivr.reports import COUNTS, FIGURE_COLUMNS
from ivr.results import GROUPS
from ivr.store import SQLiteStore, open_store

pytest_plugins = ["web_fixtures"]

FIGURES = ("responses", "rank", "suppressed", "satisfaction", "mean_rating", "bribe_rate")
FSD = dict(district="Faisalabad", office="DC Office Faisalabad", official="Sana")
MULTAN = dict(district="Multan", office="DC Office Multan", official="Asad", service="Police")
SIALKOT = dict(district="Sialkot", office="DC Office Sialkot", official="Hina", service="Health")


async def _called_back(store: SQLiteStore, clock: Clock) -> None:
    """A Lahore citizen answers 1 and "yes, a bribe", hangs up, is called back and answers 5, no."""
    now = clock()
    tx = Transaction(office="DC Office Lahore", ref="CB-1", name="", mobile="+923009990001",
                     service="Domicile", district="Lahore", official="Bilal",
                     visited_at=now - timedelta(hours=2))
    await store.add_transactions([tx], now)
    for rating, bribe, result in (("1", "1", TxStatus.PARTIAL), ("5", "2", TxStatus.COMPLETED)):
        [attempt] = await store.claim_due(now, 1)
        await store.survey_started(attempt.id, now)
        await store.save_answer(attempt.id, "rating", rating, now)
        await store.save_answer(attempt.id, "bribe", bribe, now)
        await store.finish_call(attempt.id, result, now,
                                next_status=TxStatus.SCHEDULED if result is TxStatus.PARTIAL
                                else None, next_try_at=now)


async def seed(store: SQLiteStore, clock: Clock) -> None:
    """Lahore 12 answers (one called back, three sampled at 1 in 4), Faisalabad 15 (four at 1
    in 2, one visited yesterday), Multan 11, Sialkot 4 (withheld; Multan, the next smallest,
    with it); one Lahore visit not yet called. All answered today."""
    await _called_back(store, clock)
    today = clock() - timedelta(hours=2)
    visits = (many(8, rating="5", bribe="2", visited_at=today)
              + many(3, rating="2", bribe="1", visited_at=today)
              + many(7, **FSD, rating="5", bribe="2", visited_at=today)
              + many(7, **FSD, rating="3", bribe="1", visited_at=today)
              + many(4, **MULTAN, rating="4", bribe="1", visited_at=today)
              + many(7, **MULTAN, rating="1", bribe="2", visited_at=today)
              + many(4, **SIALKOT, rating="5", bribe="2", visited_at=today)
              # visited last evening (21:00 in Karachi), called today
              + many(1, **FSD, rating="5", bribe="2", visited_at=clock() - timedelta(hours=20)))
    weights = {0: 0.25, 1: 0.25, 2: 0.25, 11: 0.5, 12: 0.5, 18: 0.5, 19: 0.5}
    await survey(store, visits, clock(), probabilities=weights)
    await store.add_transactions([Transaction(
        office="DC Office Lahore", ref="later", name="", mobile="+923009990002",
        service="Domicile", district="Lahore", official="Bilal",
        visited_at=today)], clock())


async def _web(settings: Settings, clock: Clock) -> dict[str, Any]:
    """Seed the store, then read the overview, the API and the CSV export as oversight."""
    store = await open_store(settings.db_path)
    try:
        await seed(store, clock)
        day = clock().date()  # 17:00 in Karachi: the same date
        since = (day - timedelta(days=1)).isoformat()
        async with start_client(store, settings, clock) as c:
            await add_user(store, "oversight", Role.OVERSIGHT)
            await signed_in(c, "oversight")
            got: dict[str, Any] = {
                "overview": await (await c.get("/api/v1/overview")).json(),
                "today": await (await c.get("/api/v1/results", params={
                    "from": since, "to": day.isoformat()})).json()}
            for by in GROUPS:
                got[by] = await (await c.get("/api/v1/results", params={"by": by})).json()
                body = await (await c.get("/export/results.csv", params={"by": by})).read()
                got[f"{by}.csv"] = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
        return got
    finally:
        await store.close()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An isolated RABTA_HOME and cwd for `rabta` run in-process; returns the database path."""
    for var in [v for v in os.environ if v.startswith("RABTA_")]:
        monkeypatch.delenv(var)
    monkeypatch.setenv("RABTA_HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    old_term = signal.getsignal(signal.SIGTERM)  # main() installs its own SIGTERM handler
    yield tmp_path / "t.db"
    signal.signal(signal.SIGTERM, old_term)


def _report(db: Path, capsys: pytest.CaptureFixture[str], by: str, fmt: str) -> str:
    capsys.readouterr()
    assert cli.main(["--database", str(db), "report", "--by", by, "--format", fmt]) == 0
    return capsys.readouterr().out


def _figures(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in FIGURES}


def test_every_reader_shows_the_same_figures(home: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings(home=tmp_path / "home", cache=tmp_path / "cache", database=str(home))
    web = asyncio.run(_web(settings, Clock()))

    # The overview's shares are exactly those /results gives for yesterday's and today's visits.
    overview, today = web["overview"], web["today"]["total"]
    assert (overview["figures_from"], overview["figures_to"]) == (
        web["today"]["filters"]["from"], web["today"]["filters"]["to"])
    assert overview["satisfaction"] == today["satisfaction"]
    assert overview["bribe_rate"] == today["bribe_rate"]
    assert overview["mean_rating"] == today["mean_rating"]
    assert overview["satisfaction"]["n"] == 12 + 15 + 11 + 4  # the call-back counted once

    for by in GROUPS:
        api = web[by]
        report = json.loads(_report(home, capsys, by, "json"))
        *rows, total = report
        assert total[by] == "TOTAL" and _figures(total) == _figures(api["total"]), by
        assert _figures(api["total"]) == _figures(today)  # all visits are today's or yesterday's
        shown = {r[by]: _figures(r) for r in rows}
        assert {r["group"]: _figures(r) for r in api["rows"]} == shown, by
        # The CSV export and `rabta report --format csv` print the same figure cells.
        header, *lines = _report(home, capsys, by, "csv").splitlines()
        assert header.split(",") == [by, *COUNTS, *FIGURE_COLUMNS]
        report_cells = {r[0]: r[1 + len(COUNTS):] for r in csv.reader(lines)}
        export_header, *export_rows = web[f"{by}.csv"]
        assert export_header == [by, *FIGURE_COLUMNS]
        assert {r[0]: r[1:] for r in export_rows} == report_cells, by

    lahore = {r["group"]: r for r in web["district"]["rows"]}["Lahore"]
    # Latest answers only, weighted: 3 fives at w=4, 5 fives and the call-back's 5 at w=1,
    # 3 twos at w=1: 18 / 21 satisfied (unweighted it would be 9 / 12).
    assert lahore["responses"] == 12
    assert lahore["satisfaction"]["value"] == round(18 / 21, 4)
    assert lahore["bribe_rate"]["value"] == round(3 / 21, 4)


def test_report_withholds_small_groups_as_the_dashboard_does(
        home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings(home=tmp_path / "home", cache=tmp_path / "cache", database=str(home))
    asyncio.run(_web(settings, Clock()))

    rows = {r["district"]: r for r in json.loads(_report(home, capsys, "district", "json"))}
    assert rows["Sialkot"]["responses"] == 4 and rows["Sialkot"]["suppressed"]
    assert rows["Sialkot"]["satisfaction"] == {"n": 4, "value": None, "low": None, "high": None,
                                               "suppressed": True}
    assert rows["Sialkot"]["mean_rating"] is None and rows["Sialkot"]["rank"] is None
    # Multan has 11 answers, but with the total shown it would give Sialkot's 4 away.
    assert rows["Multan"]["suppressed"] and rows["Multan"]["satisfaction"]["value"] is None
    assert not rows["Lahore"]["suppressed"] and rows["Lahore"]["rank"] is not None
    # How far transactions got is no answer: it is shown for every group.
    assert (rows["Lahore"]["transactions"], rows["Lahore"]["pending"]) == (13, 1)
    assert (rows["Sialkot"]["transactions"], rows["Sialkot"]["completed"]) == (4, 4)

    table = _report(home, capsys, "district", "table")
    lines = {line.split("|")[0].strip(): line for line in table.splitlines() if "|" in line}
    assert "withheld" in lines["Sialkot"] and "%" not in lines["Sialkot"]
    assert "withheld" in lines["Multan"] and "%" not in lines["Multan"]
    assert "%" in lines["Lahore"] and "%" in lines["TOTAL"]
    assert "fewer than 10 answers" in table

    csv_rows = {r[0]: dict(zip(["district", *COUNTS, *FIGURE_COLUMNS], r, strict=True))
                for r in csv.reader(_report(home, capsys, "district", "csv").splitlines()[1:])}
    assert (csv_rows["Sialkot"]["satisfaction"], csv_rows["Sialkot"]["bribe_rate"],
            csv_rows["Sialkot"]["suppressed"]) == ("", "", "1")
