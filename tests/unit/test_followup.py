"""Closing the loop: the follow-up call after a case reaches action taken (store and web).

A case moved to action taken plans one follow-up transaction of the same citizen (service
`followup`, linked to the report); the dialer's claim takes it although the visit is old and
the citizen was surveyed on the report (policy.at_dial's follow-up path), never past the
do-not-call list; its answer shows on the case and in the actions report.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from casedata import Report, seed
from storehelpers import sql, value
from web_support import NOW, Clock, add_user, signed_in, start_client

from ivr.accounts import Role
from ivr.cases import FOLLOWUP_SERVICE, CaseAction, CaseStatus
from ivr.config import Settings
from ivr.store import SQLiteStore
from ivr.store.database import ts

pytestmark = pytest.mark.both_backends

pytest_plugins = ["web_fixtures"]

R, T = CaseStatus.UNDER_REVIEW, CaseStatus.ACTION_TAKEN
DAY = 86400.0


@pytest.fixture
async def reports(store: SQLiteStore, web_settings: Settings) -> list[Report]:
    return await seed(store, web_settings.rootfs, NOW)


async def _close(store: SQLiteStore, tx: int, action: CaseAction = CaseAction.WARNING,
                 followup_in: timedelta | None = timedelta(days=7)) -> None:
    await store.change_case(tx, "user:amna", R, None, None, "looking", NOW)
    await store.change_case(tx, "user:amna", T, action, None, "done", NOW,
                            followup_at=NOW + followup_in if followup_in is not None else None)


async def _followups(store: SQLiteStore) -> list[tuple[Any, ...]]:
    return await sql(store, "SELECT followup_of, service, mobile, status, next_try_at, sampled, "
                            "language FROM transactions WHERE followup_of IS NOT NULL")


async def _answer(store: SQLiteStore, tx: int, value_: str) -> None:
    """The citizen answers the follow-up call (written as the survey would)."""
    attempt = await value(
        store, "INSERT INTO attempts (transaction_id, number, node, started_at, answered_at, "
        "ended_at, outcome, result) SELECT id, mobile, 'pbx', ?, ?, ?, 'answered', 'completed' "
        "FROM transactions WHERE followup_of = ? RETURNING id",
        (ts(NOW), ts(NOW), ts(NOW), tx))
    await store.save_answer(attempt, "resolved", value_, NOW, survey="followup",
                            survey_version=1)


async def test_action_taken_plans_one_followup_of_the_same_citizen(
        store: SQLiteStore, reports: list[Report]) -> None:
    report = reports[0]
    await _close(store, report.id)
    rows = await _followups(store)
    assert rows == [(report.id, FOLLOWUP_SERVICE, report.mobile, "pending",
                     ts(NOW + timedelta(days=7)), 1, "ur")]
    # A note on the closed case plans nothing more; the case page says when it is due.
    await store.change_case(report.id, "user:amna", T, None, None, "a note", NOW,
                            followup_at=NOW)
    assert len(await _followups(store)) == 1
    shown = await store.bribe_report(report.id)
    assert shown is not None and shown["followup"]["status"] == "pending"
    assert shown["followup"]["answer"] is None
    # Moving a case to under review plans none; nor does closing without followup_at.
    await _close(store, reports[1].id, followup_in=None)
    assert len(await _followups(store)) == 1
    assert (await store.bribe_report(reports[2].id) or {})["followup"] is None


async def test_the_claim_takes_a_followup_past_the_age_and_cooldown_rules(
        store: SQLiteStore, reports: list[Report]) -> None:
    report = reports[0]
    await _close(store, report.id, followup_in=timedelta(0))
    # The dialer's rules: visits older than an hour expire, one survey per citizen per 30
    # days (the citizen answered the report's call two hours ago). An ordinary visit of the
    # same citizen, due now, is refused by both; the follow-up is dialled.
    later = NOW + timedelta(minutes=1)
    claimed = await store.claim_due(later, 10, expire_before=later - timedelta(hours=1),
                                    cooldown_since=later - timedelta(days=30))
    followup = await value(store, "SELECT id FROM transactions WHERE followup_of = ?",
                           (report.id,))
    assert [a.transaction_id for a in claimed] == [followup]
    assert claimed[0].number == report.mobile
    # Every other due visit closed as expired (too old), none dialled.
    assert await value(store, "SELECT COUNT(*) FROM transactions WHERE followup_of IS NULL "
                              "AND status = 'dialing'") == 0


async def test_a_followup_is_not_claimed_early_nor_to_a_do_not_call_number(
        store: SQLiteStore, reports: list[Report]) -> None:
    first, second = reports[0], reports[1]
    await _close(store, first.id, followup_in=timedelta(days=7))
    await _close(store, second.id, followup_in=timedelta(0))
    await store.dnc_add([second.mobile], "optout", NOW)
    assert await store.claim_due(NOW + timedelta(days=6), 10, services_only=[FOLLOWUP_SERVICE]
                                 ) == []
    status = await value(store, "SELECT status FROM transactions WHERE followup_of = ?",
                         (second.id,))
    assert status == "opted_out"  # the do-not-call list still holds
    claimed = await store.claim_due(NOW + timedelta(days=7, seconds=1), 10,
                                    services_only=[FOLLOWUP_SERVICE],
                                    expire_before=NOW, cooldown_since=NOW - timedelta(days=30))
    assert len(claimed) == 1 and claimed[0].number == first.mobile


async def test_the_answer_shows_on_the_case_and_in_the_actions_report(
        store: SQLiteStore, reports: list[Report]) -> None:
    a, b, c = reports[0], reports[1], reports[2]
    await _close(store, a.id, CaseAction.WARNING)
    await _close(store, b.id, CaseAction.WARNING)
    await _close(store, c.id, CaseAction.SUSPENSION)
    await _answer(store, a.id, "1")
    await _answer(store, b.id, "2")
    got = await store.bribe_report(a.id)
    assert got is not None and got["followup"]["answer"] == "resolved"
    assert (await store.bribe_report(b.id) or {})["followup"]["answer"] == "not_resolved"
    rows = {r["action"]: r for r in await store.followups_by_action()}
    assert rows["warning"] == {"action": "warning", "closed": 2, "followups": 2,
                               "resolved": 1, "not_resolved": 1}
    assert rows["suspension"] == {"action": "suspension", "closed": 1, "followups": 1,
                                  "resolved": 0, "not_resolved": 0}
    # Scoped like the rest of the report: the district's own cases only.
    scoped = {r["action"]: r for r in await store.followups_by_action(district=c.district)}
    assert scoped["warning"]["closed"] == sum(
        1 for r in (a, b) if r.district == c.district)
    # The follow-up's answer is not a result: the results' sums hold rating and bribe only.
    assert await value(store, "SELECT COUNT(*) FROM result_cells WHERE service = ?",
                       (FOLLOWUP_SERVICE,)) == 0


async def test_the_case_form_plans_the_followup_and_the_page_shows_the_answer(
        store: SQLiteStore, reports: list[Report], web_settings: Settings,
        clock: Clock) -> None:
    report = reports[0]
    await add_user(store, "boss", Role.OVERSIGHT)
    async with start_client(store, web_settings, clock, followup_delay_days=2.5) as client:
        c: TestClient[Any, Any] = client
        csrf = await signed_in(c, "boss")
        for data in ({"to": "under_review"}, {"to": "action_taken", "action": "transfer"}):
            r = await c.post(f"/cases/{report.id}", data={"csrf_token": csrf, **data},
                             allow_redirects=False)
            assert r.status == 303
        assert [row[4] for row in await _followups(store)] == [
            ts(NOW + timedelta(days=2.5))]
        page = await (await c.get(f"/cases/{report.id}")).text()
        assert 'id="followup"' in page and "resolved, says the citizen" not in page
        await _answer(store, report.id, "1")
        page = await (await c.get(f"/cases/{report.id}")).text()
        assert "resolved, says the citizen" in page
        js = await (await c.get("/api/v1/reports/actions")).json()
        transfer = next(r for r in js["followups"] if r["action"] == "transfer")
        assert (transfer["closed"], transfer["resolved"]) == (1, 1)
        actions = await (await c.get("/reports/actions")).text()
        assert 'id="followups"' in actions
