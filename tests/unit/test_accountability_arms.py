"""Randomised arms: the draw is balanced (chi-square over a large synthetic assignment), every
transaction entered while an experiment runs has its arm stored, results per arm carry
intervals and the difference's interval, and the export has one row per transaction."""

from __future__ import annotations

import csv
import io
import random
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from storehelpers import sql
from web_support import NOW, Clock, add_user, signed_in, start_client

from ivr.accountability.arms import Experiment, assign, balance, compare, newcombe, parse_experiment
from ivr.accounts import Role
from ivr.cli import accountability as cli_accountability
from ivr.config import Settings
from ivr.errors import InputError
from ivr.models import Transaction, TxStatus
from ivr.store import SQLiteStore

pytest_plugins = ["web_fixtures"]
pytestmark = pytest.mark.both_backends  # the store tests run on SQLite and PostgreSQL

GREETING = Experiment("greeting", ("formal", "warm"))
FIRST_CALL = Experiment("first_call", ("2h", "24h", "48h"))


def test_a_large_assignment_is_balanced() -> None:
    drawn = assign([GREETING, FIRST_CALL], 200_000, random.Random(16))
    for e in (GREETING, FIRST_CALL):
        counts = {a: sum(1 for d in drawn if d[e.name] == a) for a in e.arms}
        test = balance(counts)
        assert test["df"] == len(e.arms) - 1
        assert test["p_value"] > 0.001, (e.name, counts, test)
    # the two experiments are drawn independently: greeting x first_call is balanced too
    cells = {(g, f): 0 for g in GREETING.arms for f in FIRST_CALL.arms}
    for d in drawn:
        cells[(d["greeting"], d["first_call"])] += 1
    assert balance({f"{g}/{f}": n for (g, f), n in cells.items()})["p_value"] > 0.001


def test_a_broken_assignment_fails_the_balance_check() -> None:
    assert balance({"formal": 10_300, "warm": 9_700})["p_value"] < 0.001
    assert balance({"formal": 0, "warm": 0})["p_value"] is None


def test_newcombes_interval_matches_the_published_example() -> None:
    # Newcombe (1998), Statistics in Medicine 17:873, example (a): 56/70 - 48/80,
    # method 10 (hybrid score): 0.0524 to 0.3339.
    low, high = newcombe(48, 80, 56, 70)
    assert low == pytest.approx(0.0524, abs=1e-4) and high == pytest.approx(0.3339, abs=1e-4)


@pytest.mark.parametrize(("name", "arms", "says"), [
    ("Greeting", ["a", "b"], "lower-case"), ("greeting", ["a"], "2 to 10"),
    ("greeting", ["a", "a"], "differ"), ("greeting", ["a", "b c"], "arm")])
def test_parse_experiment_refuses_clearly(name: str, arms: list[str], says: str) -> None:
    with pytest.raises(InputError, match=says):
        parse_experiment(name, arms)


def test_compare_gives_each_arm_and_the_difference_from_control() -> None:
    counts = {"formal": {"assigned": 100, "completed": 60, "rated": 60, "satisfied": 30,
                         "bribe_n": 60, "bribe_yes": 6},
              "warm": {"assigned": 100, "completed": 75, "rated": 75, "satisfied": 45,
                       "bribe_n": 75, "bribe_yes": 9}}
    out = compare(["formal", "warm"], counts)
    warm = out["arms"][1]
    assert warm["completed"]["value"] == 0.75 and out["control"] == "formal"
    d = warm["completed"]["difference"]
    assert d["value"] == 0.15 and d["low"] < 0.15 < d["high"]
    assert "difference" not in out["arms"][0]["completed"]
    assert out["balance"]["p_value"] == 1.0


def _txs(start: int, n: int) -> list[Transaction]:
    return [Transaction(office="DC Office Lahore", ref=f"A-{i}", name="", mobile=f"+92300{i:07d}",
                        service="Domicile", district="Lahore", official="x",
                        visited_at=NOW - timedelta(hours=1)) for i in range(start, start + n)]


async def test_every_transaction_entered_while_it_runs_has_its_arm(store: SQLiteStore) -> None:
    await store.add_transactions(_txs(0, 10), NOW)  # before: no arms
    await store.start_experiment(GREETING, NOW)
    with pytest.raises(InputError, match="exists"):
        await store.start_experiment(GREETING, NOW)
    for batch in range(4):  # four intake batches of 5,000
        new, known = await store.add_transactions(_txs(10 + batch * 5000, 5000), NOW)
        assert (new, known) == (5000, 0)  # the intake's count is unchanged by the arms
    await store.add_transactions(_txs(10, 100), NOW)  # known again: no second arm
    assert await sql(store, "SELECT COUNT(*), COUNT(DISTINCT transaction_id) "
                            "FROM transaction_arms") == [(20_000, 20_000)]
    names, counts = await store.arm_counts("greeting")
    assert names == ["formal", "warm"]
    assert balance({a: counts[a]["assigned"] for a in names})["p_value"] > 1e-6
    assert await store.stop_experiment("greeting", NOW)
    await store.add_transactions(_txs(30_000, 10), NOW)  # after: no arms
    assert sum(c["assigned"] for c in (await store.arm_counts("greeting"))[1].values()) == 20_000


async def _answered(store: SQLiteStore, n: int) -> None:
    await store.start_experiment(GREETING, NOW - timedelta(hours=2))
    await store.add_transactions(_txs(0, n), NOW - timedelta(hours=2))
    for i in range(n):
        [attempt] = await store.claim_due(NOW + timedelta(minutes=i), 1)
        await store.survey_started(attempt.id, NOW)
        await store.save_answer(attempt.id, "rating", "5" if i % 2 else "2", NOW)
        await store.save_answer(attempt.id, "bribe", "1" if i % 5 == 0 else "2", NOW)
        await store.finish_call(attempt.id, TxStatus.COMPLETED, NOW)


async def test_results_and_export_by_role(store: SQLiteStore, web_settings: Settings) -> None:
    await _answered(store, 40)
    async with start_client(store, web_settings, Clock(NOW)) as client:
        await add_user(store, "o", Role.OVERSIGHT)
        await signed_in(client, "o")
        listing = await (await client.get("/api/v1/accountability/arms")).json()
        assert [e["name"] for e in listing["experiments"]] == ["greeting"]
        body = await (await client.get("/api/v1/accountability/arms?experiment=greeting")).json()
        assert sum(a["assigned"] for a in body["arms"]) == 40
        assert sum(a["satisfied"]["of"] for a in body["arms"]) == 40
        assert body["arms"][1]["satisfied"]["difference"] is not None
        response = await client.get("/export/arms.csv?experiment=greeting")
        rows = list(csv.DictReader(io.StringIO(await response.text())))
        assert len(rows) == 40 and {r["arm"] for r in rows} == {"formal", "warm"}
        assert "mobile" not in rows[0] and rows[0]["contacted"] == "1"
        missing = await client.get("/api/v1/accountability/arms?experiment=nope")
        assert missing.status == 400 and "no such experiment" in await missing.text()


async def test_a_district_officer_may_see_results_but_not_export_rows(
        client: TestClient[Any, Any], store: SQLiteStore) -> None:
    await _answered(store, 4)
    await add_user(store, "d", Role.DISTRICT)
    await signed_in(client, "d")
    assert (await client.get("/api/v1/accountability/arms?experiment=greeting")).status == 200
    assert (await client.get("/export/arms.csv?experiment=greeting")).status == 403


def test_the_cli_starts_lists_and_reports(tmp_path: Any, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    from ivr import cli
    for var in [v for v in __import__("os").environ if v.startswith("RABTA_")]:
        monkeypatch.delenv(var)
    monkeypatch.setenv("RABTA_HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    db = ["--database", str(tmp_path / "x.db")]
    assert cli.main([*db, "experiments", "start", "greeting", "formal", "warm"]) == 0
    assert "control: formal" in capsys.readouterr().out
    assert cli.main([*db, "experiments", "list"]) == 0
    assert "greeting: formal, warm (running" in capsys.readouterr().out
    assert cli.main([*db, "experiments", "results", "greeting"]) == 0
    assert '"control": "formal"' in capsys.readouterr().out
    assert cli.main([*db, "experiments", "start", "Bad", "a", "b"]) == 2
    assert "lower-case" in capsys.readouterr().err
    assert cli.main([*db, "experiments", "stop", "greeting"]) == 0
    assert cli.main([*db, "experiments", "stop", "greeting"]) == 2
    assert cli_accountability.__doc__ and "experiments" in cli_accountability.__doc__


async def test_first_call_arms_set_the_first_call_time(store: SQLiteStore) -> None:
    with pytest.raises(InputError, match="delay"):
        parse_experiment("first_call", ["2h", "soon"])
    await store.start_experiment(parse_experiment("first_call", ["2h", "24h"]), NOW)
    await store.add_transactions(_txs(0, 200), NOW)  # visited an hour before NOW
    arms = {r["transaction_id"]: r["arm"] for r in await store.arm_rows("first_call")}
    early = await store.claim_due(NOW + timedelta(hours=1, minutes=1), 500)
    assert {a.transaction_id for a in early} == {t for t, a in arms.items() if a == "2h"}
    late = await store.claim_due(NOW + timedelta(hours=23, minutes=1), 500)
    assert {a.transaction_id for a in late} == {t for t, a in arms.items() if a == "24h"}
    assert 50 < len(early) < 150  # both arms drawn (a 1-in-10^12 chance otherwise)
