"""bench/pggen.py, the benchmarks' data made inside PostgreSQL: the fast load (triggers off,
sums recounted afterwards) leaves the same rows and the same result sums as the same rows
written with the triggers on, as live calls write them; and its pending rows are those
`Store.add_transactions` writes."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import pggen

from ivr.models import Transaction
from ivr.store import open_store

N = 3000
SUMS = ("rated", "rated_w", "rated_w2", "satisfied_w", "rating_sum_w", "bribe_n", "bribe_w",
        "bribe_w2", "bribe_yes_w")


async def _table(url: str, sql: str) -> list[tuple[Any, ...]]:
    con = await asyncpg.connect(url)
    try:
        return [tuple(round(v, 9) if isinstance(v, float) else v for v in r)
                for r in await con.fetch(sql)]
    finally:
        await con.close()


@pytest.fixture
async def two(pg_url: str, pg_cluster: Any) -> tuple[str, str]:
    other = pg_cluster.create(f"{pg_url.rsplit('/', 1)[1]}_b", template="rabta_template")
    return pg_url, other


async def test_fast_load_gives_the_sums_the_triggers_keep(two: tuple[str, str]) -> None:
    fast, live = two
    await pggen.results_data(fast, N)
    await pggen.results_data(live, N, triggers=True)
    for sql in (
        "SELECT * FROM transactions ORDER BY id",
        "SELECT * FROM attempts ORDER BY id",
        "SELECT * FROM answers ORDER BY id",
        "SELECT * FROM result_cells ORDER BY day, district, service, office, official",
        "SELECT * FROM result_days ORDER BY day, district, service",
        "SELECT * FROM overview_days ORDER BY day, district, service",
    ):
        a, b = await _table(fast, sql), await _table(live, sql)
        assert a and a == b, sql
    # the shape: the default survey's answers, every sum filled, weights of 1 and 2
    answers = await _table(fast, "SELECT COUNT(*) FROM answers")
    assert abs(answers[0][0] / N - pggen.ANSWERS_PER_CALL) < 0.05
    cells = await _table(fast, f"SELECT {', '.join(f'SUM({c})' for c in SUMS)}, "
                         f"COUNT(DISTINCT district), COUNT(DISTINCT service) FROM result_cells")
    assert cells[0][0] == N and cells[0][5] == N and cells[0][-2:] == (36, 10)
    assert N < cells[0][1] < 2 * N
    calls = await _table(fast, "SELECT SUM(calls), SUM(answered), SUM(completed) "
                               "FROM overview_days")
    assert calls == [(N, N, N)]
    # the store keeps writing after the load: the id sequences were moved past the rows
    store = await open_store(fast)
    try:
        await store.save_answer(N, "complaint_offer", "2", datetime(2026, 11, 28, tzinfo=UTC))
    finally:
        await store.close()


async def test_a_trigger_it_does_not_know_stops_the_load(pg_url: str) -> None:
    con = await asyncpg.connect(pg_url)
    await con.execute("CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS "
                      "$$ BEGIN RETURN NULL; END $$")
    await con.execute("CREATE TRIGGER more AFTER INSERT ON answers FOR EACH ROW "
                      "EXECUTE FUNCTION f()")
    await con.close()
    with pytest.raises(RuntimeError, match="recount would miss"):
        await pggen.results_data(pg_url, 10)


async def test_pending_rows_are_those_the_intake_writes(two: tuple[str, str]) -> None:
    made, added = two
    await pggen.pending_data(made, N)
    store = await open_store(added)
    try:
        visited = datetime.fromisoformat(pggen.PENDING_VISITED)
        await store.add_transactions([Transaction(**pggen.pending_row(i), visited_at=visited)
                                      for i in range(N)],
                                     datetime.fromisoformat(pggen.PENDING_STAMP))
    finally:
        await store.close()
    sql = "SELECT * FROM transactions ORDER BY ref"
    a, b = await _table(made, sql), await _table(added, sql)
    assert len(a) == N
    assert sorted(r[1:] for r in a) == sorted(r[1:] for r in b)  # all but the id
