"""Store, results: the per-day sums the triggers keep, the overview's counts, the response export."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from results_support import VISITED, Visit, many, survey
from storehelpers import sql, value

from ivr.models import Transaction, TxStatus
from ivr.results import Filters, GroupSums, Scope
from ivr.store import SQLiteStore
from ivr.store import results as store_results
from ivr.store.sqlite import ts

pytestmark = pytest.mark.both_backends

NOW = datetime(2024, 5, 2, 7, 0, tzinfo=UTC)
ALL = Scope()


async def groups(store: SQLiteStore, by: str = "district", scope: Scope = ALL,
                 **filters: object) -> dict[str, GroupSums]:
    return dict(await store.result_groups(Filters(by=by, **filters), scope))  # type: ignore[arg-type]


async def test_each_answer_is_summed_once_per_group(store: SQLiteStore) -> None:
    await survey(store, [Visit(rating="5", bribe="1"), Visit(rating="4", bribe="2"),
                         Visit(rating="2", bribe=""), Visit(district="Multan", office="DC Multan",
                                                            rating="3", bribe="2")], NOW)
    got = await groups(store)
    lahore, multan = got["Lahore"], got["Multan"]
    assert (lahore.rated, lahore.satisfied_w, lahore.rating_sum_w) == (3, 2.0, 11.0)
    assert (lahore.bribe_n, lahore.bribe_yes_w) == (2, 1.0)
    assert (multan.rated, multan.satisfied_w, multan.bribe_n) == (1, 0.0, 1)
    assert set(await groups(store, "official")) == {"Bilal"}


async def test_keys_that_are_not_answers_count_for_nothing(store: SQLiteStore) -> None:
    await survey(store, [Visit(rating="7", bribe="3"), Visit(rating="5", bribe="")], NOW)
    (only,) = (await groups(store)).values()
    assert (only.rated, only.bribe_n) == (1, 0)


async def test_a_later_answer_replaces_the_earlier_one(store: SQLiteStore) -> None:
    """A call-back's answer, or the same question asked again, replaces the first: never both."""
    [tx_id] = await survey(store, [Visit(rating="1", bribe="1")], NOW)
    before = (await groups(store))["Lahore"]
    assert (before.rated, before.satisfied_w, before.bribe_yes_w) == (1, 0.0, 1.0)
    # the same attempt asked again (ON CONFLICT DO UPDATE)
    attempt_id = await value(store, "SELECT id FROM attempts WHERE transaction_id = ?", (tx_id,))
    await store.save_answer(attempt_id, "rating", "4", NOW)
    after = (await groups(store))["Lahore"]
    assert (after.rated, after.satisfied_w, after.rating_sum_w) == (1, 1.0, 4.0)
    # a second attempt (a call-back) answering again
    second = await value(store, "INSERT INTO attempts (transaction_id, number, started_at) "
                                "VALUES (?, '+923000000000', ?) RETURNING id", (tx_id, ts(NOW)))
    await store.save_answer(second, "bribe", "2", NOW)
    await store.save_answer(second, "rating", "5", NOW)
    final = (await groups(store))["Lahore"]
    assert (final.rated, final.rating_sum_w, final.bribe_n, final.bribe_yes_w) == (1, 5.0, 1, 0.0)
    # deleting the newest brings the previous answer back
    await sql(store, "DELETE FROM answers WHERE attempt_id = ? AND question = 'rating'", (second,))
    back = (await groups(store))["Lahore"]
    assert (back.rated, back.rating_sum_w) == (1, 4.0)
    await store.rebuild_results()
    assert (await groups(store))["Lahore"] == back  # the triggers agree with a full recount


async def test_sampled_answers_are_weighted_by_one_over_their_probability(
        store: SQLiteStore) -> None:
    await survey(store, [Visit(rating="5", bribe="1"), Visit(rating="1", bribe="2")], NOW,
                 probabilities={0: 0.25, 1: 1.0})
    (g,) = (await groups(store)).values()
    assert (g.rated, g.rated_w, g.rated_w2, g.satisfied_w) == (2, 5.0, 17.0, 4.0)
    assert (g.bribe_w, g.bribe_yes_w) == (5.0, 4.0)


async def test_day_filters_use_the_local_day_of_the_visit(store: SQLiteStore) -> None:
    late = datetime(2024, 5, 1, 20, 0, tzinfo=UTC)  # 01:00 on 2 May in Karachi
    await survey(store, [Visit(), Visit(visited_at=late)], NOW)
    days = await groups(store, "day")
    assert {d: g.rated for d, g in days.items()} == {"2024-05-01": 1, "2024-05-02": 1}
    only = await groups(store, "district", start=date(2024, 5, 2), end=date(2024, 5, 2))
    assert only["Lahore"].rated == 1
    # in UTC (offset 0) both visits fall on 1 May: the sums are rebuilt for the new offset
    assert await store.set_results_offset(0)
    assert not await store.set_results_offset(0)
    assert {d: g.rated for d, g in (await groups(store, "day")).items()} == {"2024-05-01": 2}


async def test_scope_and_filters_narrow_the_groups(store: SQLiteStore) -> None:
    await survey(store, [Visit(), Visit(service="Pension"),
                         Visit(district="Multan", office="DC Multan", service="Pension")], NOW)
    assert set(await groups(store, "service", Scope(district="Multan"))) == {"Pension"}
    assert set(await groups(store, "district", Scope(services=("Pension",)))) == {"Lahore",
                                                                                  "Multan"}
    assert await groups(store, "district", Scope(services=())) == {}
    assert set(await groups(store, "office", ALL, district="Lahore")) == {"DC Office Lahore"}
    assert await groups(store, "district", Scope(district="Multan"), district="Lahore") == {}


def _bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, datetime.min.time(), ZoneInfo("Asia/Karachi"))
    return start, start + timedelta(days=1)


async def test_overview_counts_today_within_scope(store: SQLiteStore) -> None:
    today = date(2024, 5, 2)  # NOW is 12:00 in Karachi on 2 May
    await survey(store, [Visit(visited_at=NOW - timedelta(hours=1)),
                         Visit(district="Multan", visited_at=NOW - timedelta(hours=1))], NOW)
    got = await store.overview_counts(today, *_bounds(today), ALL)
    assert {k: got[k] for k in ("transactions", "calls", "answered", "completed",
                                "in_progress")} == {"transactions": 2, "calls": 2, "answered": 2,
                                                    "completed": 2, "in_progress": 0}
    assert got["sums"].rated == 2 and got["sums"].bribe_n == 2
    multan = await store.overview_counts(today, *_bounds(today), Scope(district="Multan"))
    assert (multan["transactions"], multan["calls"], multan["sums"].rated) == (1, 1, 1)
    later = today + timedelta(days=1)
    tomorrow = await store.overview_counts(later, *_bounds(later), ALL)
    assert (tomorrow["transactions"], tomorrow["calls"], tomorrow["sums"].rated) == (0, 0, 0)


async def test_overview_figures_follow_each_call_as_it_happens(store: SQLiteStore) -> None:
    today = date(2024, 5, 2)
    visit = Transaction(office="DC Office Lahore", ref="live", name="", mobile="+923001112223",
                        service="Domicile", district="Lahore", official="Bilal",
                        visited_at=NOW - timedelta(hours=3))
    await store.add_transactions([visit], NOW)

    async def figures() -> tuple[int, ...]:
        got = await store.overview_counts(today, *_bounds(today), ALL)
        return (got["transactions"], got["calls"], got["answered"], got["completed"],
                got["in_progress"], got["sums"].rated)

    assert await figures() == (1, 0, 0, 0, 0, 0)
    [attempt] = await store.claim_due(NOW, 1)
    assert await figures() == (1, 1, 0, 0, 1, 0)
    await store.attempt_not_sent(attempt.id, NOW)  # never dialled: no call
    assert await figures() == (1, 0, 0, 0, 0, 0)
    [attempt] = await store.claim_due(NOW, 1)
    await store.survey_started(attempt.id, NOW)
    assert await figures() == (1, 1, 1, 0, 1, 0)
    await store.save_answer(attempt.id, "rating", "4", NOW)
    await store.save_answer(attempt.id, "rating", "5", NOW)  # asked again: replaces, not adds
    assert await figures() == (1, 1, 1, 0, 1, 1)
    await store.finish_call(attempt.id, TxStatus.COMPLETED, NOW)
    assert await figures() == (1, 1, 1, 1, 0, 1)
    got = await store.overview_counts(today, *_bounds(today), ALL)
    assert got["sums"].satisfied_w == 1.0 and got["sums"].rating_sum_w == 5.0
    before = await store.overview_counts(today, *_bounds(today), ALL)
    await store.rebuild_results()  # a recount from the rows agrees with the triggers
    assert await store.overview_counts(today, *_bounds(today), ALL) == before


async def test_responses_page_through_every_answered_transaction(
        store: SQLiteStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_results, "_PAGE", 3)
    await survey(store, many(7) + many(2, district="Multan"), NOW)
    await store.add_transactions([], NOW)
    rows = [r async for r in store.responses(Filters(), ALL, None, None, 100)]
    assert len(rows) == 9 and len({r["id"] for r in rows}) == 9
    assert {r["rating"] for r in rows} == {"5"} and rows[0]["mobile"].startswith("+92300")
    assert len([r async for r in store.responses(Filters(), ALL, None, None, 4)]) == 4
    multan = [r async for r in store.responses(Filters(), Scope(district="Multan"), None, None, 100)]
    assert len(multan) == 2
    none = [r async for r in store.responses(Filters(), ALL, VISITED + timedelta(hours=1), None,
                                             100)]
    assert none == []


async def test_unanswered_transactions_are_not_responses(store: SQLiteStore) -> None:
    await survey(store, [Visit(rating="", bribe="")], NOW)
    assert [r async for r in store.responses(Filters(), ALL, None, None, 10)] == []
    assert await groups(store) == {}
    assert (await store.status_counts()) == {TxStatus.COMPLETED.value: 1}


async def test_the_day_table_always_equals_the_cells_summed(store: SQLiteStore) -> None:
    [tx_id, *_] = await survey(store, [Visit(), Visit(official="Sana", rating="2"),
                                       Visit(service="Pension", bribe="1")], NOW)
    attempt_id = await value(store, "SELECT id FROM attempts WHERE transaction_id = ?", (tx_id,))
    await store.save_answer(attempt_id, "rating", "1", NOW)  # an update: a delta rolls up

    async def both() -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
        cells = await sql(
            store, "SELECT day, district, service, SUM(rated), SUM(satisfied_w), "
                   "SUM(bribe_yes_w) FROM result_cells GROUP BY 1, 2, 3 ORDER BY 1, 2, 3")
        days = await sql(
            store, "SELECT day, district, service, rated, satisfied_w, bribe_yes_w FROM "
                   "result_days WHERE rated != 0 OR bribe_n != 0 ORDER BY 1, 2, 3")
        return cells, days

    cells, days = await both()
    assert cells == days and len(days) == 2
    await store.rebuild_results()
    assert await both() == (cells, days)
    by_office = await groups(store, "district", office="DC Office Lahore")  # read from the cells
    assert by_office["Lahore"] == (await groups(store))["Lahore"]
