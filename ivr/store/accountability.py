"""Store, accountability: what the integrity checks, scorecards, deadlines and the monthly
report read, and the escalations the deadline rule writes (migration 0030).

A repository over the store's Database (either engine; a base of the Store facade), beside
the road. The rules are pure (ivr.accountability); this module only counts and records; every
escalation and its audit entry are written in one transaction. Scopes are passed as in ivr/store/cases.py:
`services` (None: all) and `district` (None: all).
"""

from __future__ import annotations

import contextlib
import json
import random
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import aiosqlite

from ivr.accountability.arms import FIRST_CALL, Experiment, assign, first_call_delay
from ivr.accountability.deadlines import Deadline, Level, decide
from ivr.accountability.integrity import INVALID_CAUSES, OfficeCounts, Visit
from ivr.cases import BRIBE_QUESTION, BRIBE_YES, CaseAction, CaseStatus
from ivr.errors import InputError, StoreError
from ivr.store.database import Repository, Tx, parse_ts

_ACTOR = "system:deadlines"
_RANDOM = random.SystemRandom()  # arms: unpredictable, so nobody can steer one
_SUMS = ("rated", "rated_w", "rated_w2", "satisfied_w", "bribe_n", "bribe_w", "bribe_w2",
         "bribe_yes_w")


def _ts(dt: datetime) -> str:
    if dt.tzinfo is None:
        raise StoreError("naive datetime given to the store")
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(text: str | None) -> datetime | None:
    return parse_ts(text) if text else None


def _scope(services: Sequence[str] | None, district: str | None) -> tuple[str, list[Any]]:
    clauses, params = ["1 = 1"], list[Any]()
    if services is not None:
        clauses.append(f"t.service IN ({', '.join('?' * len(services)) or 'NULL'})")
        params.extend(services)
    if district is not None:
        clauses.append("t.district = ?")
        params.append(district)
    return " AND ".join(clauses), params


class AccountabilityMixin(Repository):
    """Integrity counts, scorecard sums, deadlines, escalations and arms (a base of Store)."""

    if TYPE_CHECKING:  # the Store's raw SQLite access, for code not yet on self.db

        @property
        def _db(self) -> aiosqlite.Connection: ...

        def _write(self) -> contextlib.AbstractAsyncContextManager[aiosqlite.Connection]: ...

    # ------------------------------------------------------------------ integrity

    async def integrity_counts(self, start: datetime, end: datetime, *,
                               services: Sequence[str] | None = None) -> list[OfficeCounts]:
        """Return each office's transactions visited in [start, end) and what the calls found."""
        where, params = _scope(services, None)
        causes = ", ".join(str(c) for c in INVALID_CAUSES)
        sql = (f"SELECT t.office, MIN(t.district), COUNT(*), "
               f"COUNT(*) FILTER (WHERE t.attempts > 0), "
               f"COUNT(*) FILTER (WHERE EXISTS (SELECT 1 FROM attempts a "
               f"WHERE a.transaction_id = t.id AND a.cause IN ({causes}))), "
               f"COUNT(*) FILTER (WHERE t.status = 'unreachable' "
               f"AND COALESCE(t.closed_reason, '') != 'not_me'), "
               f"COUNT(*) FILTER (WHERE COALESCE(t.closed_reason, '') = 'not_me') "
               f"FROM transactions t WHERE t.visited_at >= ? AND t.visited_at < ? AND {where} "
               f"GROUP BY t.office ORDER BY MIN(t.district), t.office")
        return [OfficeCounts(r[0], r[1], int(r[2]), int(r[3] or 0), int(r[4] or 0),
                             int(r[5] or 0), int(r[6] or 0))
                for r in await self.db.fetch(sql, [_ts(start), _ts(end), *params])]

    async def repeated_visits(self, start: datetime, end: datetime, *,
                              services: Sequence[str] | None = None) -> list[Visit]:
        """Return the visits in [start, end) of every number entered twice or more in it."""
        where, params = _scope(services, None)
        s, e = _ts(start), _ts(end)
        sql = (f"SELECT t.mobile, t.office, t.district, t.service, t.official, t.visited_at "
               f"FROM transactions t WHERE t.visited_at >= ? AND t.visited_at < ? AND {where} "
               f"AND t.mobile IN (SELECT t.mobile FROM transactions t WHERE t.visited_at >= ? "
               f"AND t.visited_at < ? AND {where} GROUP BY t.mobile HAVING COUNT(*) >= 2)")
        return [Visit(r[0], r[1], r[2], r[3], r[4], _parse(r[5]) or start)
                for r in await self.db.fetch(sql, [s, e, *params, s, e, *params])]

    # ------------------------------------------------------------------ scorecards

    async def scorecard_sums(self, by: str, start: date, end: date, *,
                             services: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """Return the results sums per office (with its district) or per official (with its
        office and district) for visits on local days start..end, over the whole province."""
        if by not in ("office", "official"):
            raise ValueError(f"scorecard by {by!r}")
        keys = "office, MIN(district) AS district" if by == "office" else \
            "official, office, MIN(district) AS district"
        group = "office" if by == "office" else "office, official"
        where, params = _scope(services, None)
        if by == "official":
            where += " AND t.official != ''"
        sums = ", ".join(f"SUM({c}) AS {c}" for c in _SUMS)
        sql = (f"SELECT {keys}, {sums} FROM result_cells t WHERE t.day >= ? AND t.day <= ? "
               f"AND {where} GROUP BY {group} ORDER BY {group}")
        return [dict(r) for r in await self.db.fetch(
            sql, [start.isoformat(), end.isoformat(), *params])]

    async def weekly_sums(self, by: str, start: date, end: date, *,
                          services: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """Return scorecard_sums per (week's Monday, office or official), oldest week first."""
        if by not in ("office", "official"):
            raise ValueError(f"scorecard by {by!r}")
        keys = "t.office, MIN(t.district) AS district" if by == "office" else \
            "t.official, t.office, MIN(t.district) AS district"
        group = "week, t.office" if by == "office" else "week, t.office, t.official"
        where, params = _scope(services, None)
        if by == "official":
            where += " AND t.official != ''"
        sums = ", ".join(f"SUM(t.{c}) AS {c}" for c in _SUMS)
        sql = (f"SELECT {self.db.week_start('t.day')} AS week, {keys}, {sums} "
               f"FROM result_cells t WHERE t.day >= ? AND t.day <= ? AND {where} "
               f"GROUP BY {group} ORDER BY {group}")
        return [dict(r) for r in await self.db.fetch(
            sql, [start.isoformat(), end.isoformat(), *params])]

    async def weekly_bribes(self, start: date, end: date, *,
                            services: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """Return bribe answers and weighted yes per (office, week's Monday), local days."""
        where, params = _scope(services, None)
        sql = (f"SELECT t.office, MIN(t.district) AS district, "
               f"{self.db.week_start('t.day')} AS week, "
               f"SUM(t.bribe_n) AS n, SUM(t.bribe_w) AS w, SUM(t.bribe_yes_w) AS yes_w "
               f"FROM result_cells t WHERE t.day >= ? AND t.day <= ? AND {where} "
               f"GROUP BY t.office, week ORDER BY week, t.office")
        return [dict(r) for r in await self.db.fetch(
            sql, [start.isoformat(), end.isoformat(), *params])]

    # ------------------------------------------------------------------ deadlines

    async def apply_deadlines(self, now: datetime, default: Deadline,
                              per_service: Mapping[str, Deadline]) -> list[dict[str, Any]]:
        """Escalate every overdue open report one level (rule: deadlines.decide); return them.

        The clock of a report starts at its first "yes" bribe answer. Each escalation is a
        case_escalations row and an audit_log entry, in one transaction; two callers at once
        take turns (PostgreSQL: an advisory lock), so each escalation is audited once.
        """
        sql = (f"SELECT t.id, t.service, t.district, COALESCE(c.status, 'new') AS status, "
               f"(SELECT MIN(a.answered_at) FROM answers a WHERE a.transaction_id = t.id "
               f"AND a.question = '{BRIBE_QUESTION}' AND a.value = '{BRIBE_YES}') AS reported, "
               f"(SELECT MAX(e.level) FROM case_escalations e WHERE e.transaction_id = t.id) "
               f"AS level, (SELECT MAX(e.at) FROM case_escalations e "
               f"WHERE e.transaction_id = t.id) AS escalated_at "
               f"FROM transactions t LEFT JOIN cases c ON c.transaction_id = t.id "
               f"WHERE t.id IN (SELECT transaction_id FROM answers WHERE question = "
               f"'{BRIBE_QUESTION}' AND value = '{BRIBE_YES}') "
               f"AND COALESCE(c.status, 'new') != 'action_taken'")
        done = []
        async with self.db.write() as tx:
            if self.db.dialect == "postgresql":  # web requests applying at once take turns
                await tx.execute("SELECT pg_advisory_xact_lock(hashtext('rabta-deadlines'))")
            rows = await tx.fetch(sql)
            at = _ts(now)
            for r in rows:
                reported = _parse(r["reported"])
                if reported is None:
                    continue
                decision = decide(CaseStatus(r["status"]), reported, Level(r["level"] or 0),
                                  _parse(r["escalated_at"]),
                                  per_service.get(r["service"], default), now)
                if decision.escalate_to is None or decision.due_at is None:
                    continue
                record = {"transaction_id": r["id"], "level": int(decision.escalate_to),
                          "to": decision.escalate_to.name.lower(), "stage": decision.stage,
                          "due_at": _ts(decision.due_at)}
                if not await tx.execute(
                        "INSERT INTO case_escalations (transaction_id, level, at, stage, due_at, "
                        "actor) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                        (r["id"], int(decision.escalate_to), at, decision.stage,
                         record["due_at"], _ACTOR)):
                    continue
                await tx.execute(
                    "INSERT INTO audit_log (at, actor, action, detail) VALUES (?, ?, ?, ?)",
                    (at, _ACTOR, "case_escalated", json.dumps(record)))
                done.append(record)
        return done

    async def escalated_reports(self, level: Level, *, services: Sequence[str] | None = None,
                                district: str | None = None) -> list[dict[str, Any]]:
        """Return open reports now at exactly `level`, in a scope, with their escalation trail."""
        where, params = _scope(services, district)
        sql = (f"SELECT t.id, t.office, t.service, t.district, t.official, t.visited_at, "
               f"COALESCE(c.status, 'new') AS case_status, e.level, e.at AS escalated_at, "
               f"e.stage, e.due_at FROM case_escalations e "
               f"JOIN transactions t ON t.id = e.transaction_id "
               f"LEFT JOIN cases c ON c.transaction_id = t.id "
               f"WHERE e.level = ? AND COALESCE(c.status, 'new') != 'action_taken' "
               f"AND NOT EXISTS (SELECT 1 FROM case_escalations h WHERE "
               f"h.transaction_id = e.transaction_id AND h.level > e.level) AND {where} "
               f"ORDER BY e.due_at, t.id")
        rows = [dict(r) for r in await self.db.fetch(sql, [int(level), *params])]
        for row in rows:
            row["trail"] = [dict(x) for x in await self.db.fetch(
                "SELECT level, at, stage, due_at, actor FROM case_escalations "
                "WHERE transaction_id = ? ORDER BY level", (row["id"],))]
        return rows

    async def overdue_by_district(self, *, services: Sequence[str] | None = None,
                                  district: str | None = None) -> dict[str, dict[str, int]]:
        """Return per district the open reports escalated (overdue): at department, at oversight."""
        where, params = _scope(services, district)
        sql = (f"SELECT t.district, COUNT(*) FILTER (WHERE m.level = 1), "
               f"COUNT(*) FILTER (WHERE m.level = 2) FROM "
               f"(SELECT transaction_id, MAX(level) AS level FROM case_escalations "
               f"GROUP BY transaction_id) m JOIN transactions t ON t.id = m.transaction_id "
               f"LEFT JOIN cases c ON c.transaction_id = t.id "
               f"WHERE COALESCE(c.status, 'new') != 'action_taken' AND {where} "
               f"GROUP BY t.district")
        return {r[0]: {"overdue": int(r[1] or 0) + int(r[2] or 0),
                       "at_department": int(r[1] or 0), "at_oversight": int(r[2] or 0)}
                for r in await self.db.fetch(sql, params)}

    # ------------------------------------------------------------------ the monthly report

    async def monthly_figures(self, start: datetime, end: datetime, first_day: date,
                              last_day: date, district: str | None = None,
                              services: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """Return per district: transactions entered, citizens contacted, responses, the
        results sums (local visit days first_day..last_day) and actions taken by kind."""
        where, d_params = _scope(services, district)
        d_where = f"AND {where}"
        s, e = _ts(start), _ts(end)
        out: dict[str, dict[str, Any]] = {}

        def row(name: str) -> dict[str, Any]:
            return out.setdefault(name, {"district": name, "transactions": 0, "contacted": 0,
                                         "responses": 0, **{c: 0 for c in _SUMS},
                                         **{a.value: 0 for a in CaseAction}})
        for r in await self.db.fetch(
                f"SELECT t.district, COUNT(*), "
                f"COUNT(*) FILTER (WHERE EXISTS (SELECT 1 FROM attempts a "
                f"WHERE a.transaction_id = t.id AND a.answered_at IS NOT NULL)), "
                f"COUNT(*) FILTER (WHERE EXISTS (SELECT 1 FROM answers a "
                f"WHERE a.transaction_id = t.id AND a.question IN ('rating', 'bribe'))) "
                f"FROM transactions t WHERE t.visited_at >= ? AND t.visited_at < ? {d_where} "
                f"GROUP BY t.district", [s, e, *d_params]):
            row(r[0]).update(transactions=int(r[1]), contacted=int(r[2] or 0),
                             responses=int(r[3] or 0))
        sums = ", ".join(f"SUM({c})" for c in _SUMS)
        for r in await self.db.fetch(
                f"SELECT t.district, {sums} FROM result_days t WHERE t.day >= ? AND t.day <= ? "
                f"{d_where} GROUP BY t.district",
                [first_day.isoformat(), last_day.isoformat(), *d_params]):
            row(r[0]).update({c: r[i + 1] or 0 for i, c in enumerate(_SUMS)})
        for r in await self.db.fetch(
                f"SELECT t.district, c.action, COUNT(*) FROM cases c "
                f"JOIN transactions t ON t.id = c.transaction_id "
                f"WHERE c.closed_at >= ? AND c.closed_at < ? AND c.action IS NOT NULL {d_where} "
                f"GROUP BY t.district, c.action", [s, e, *d_params]):
            row(r[0])[r[1]] = int(r[2])
        return [out[k] for k in sorted(out)]

    # ------------------------------------------------------------------ randomised arms

    async def start_experiment(self, experiment: Experiment, now: datetime) -> None:
        """Start an experiment (InputError if one of that name exists), audited."""
        async with self.db.write() as tx:
            if not await tx.execute(
                    "INSERT INTO experiments (name, arms, started_at) VALUES (?, ?, ?) "
                    "ON CONFLICT (name) DO NOTHING",
                    (experiment.name, json.dumps(list(experiment.arms)), _ts(now))):
                raise InputError(f"experiment {experiment.name!r} exists already "
                                 "(a stopped one keeps its name and its data)")
            await tx.execute(
                "INSERT INTO audit_log (at, actor, action, detail) VALUES (?, ?, ?, ?)",
                (_ts(now), "cli", "experiment_start",
                 json.dumps({"name": experiment.name, "arms": list(experiment.arms)})))

    async def stop_experiment(self, name: str, now: datetime) -> bool:
        """Stop a running experiment; False if there is no such running experiment."""
        async with self.db.write() as tx:
            n = await tx.execute("UPDATE experiments SET stopped_at = ? WHERE name = ? AND "
                                 "stopped_at IS NULL", (_ts(now), name))
            if n == 1:
                await tx.execute(
                    "INSERT INTO audit_log (at, actor, action, detail) VALUES (?, ?, ?, ?)",
                    (_ts(now), "cli", "experiment_stop", json.dumps({"name": name})))
            return n == 1

    async def experiments(self) -> list[dict[str, Any]]:
        """Return every experiment, running first, with how many transactions each arm has."""
        return [{**dict(r), "arms": json.loads(r["arms"])} for r in await self.db.fetch(
            "SELECT e.name, e.arms, e.started_at, e.stopped_at, "
            "(SELECT COUNT(*) FROM transaction_arms a WHERE a.experiment = e.name) AS n "
            "FROM experiments e ORDER BY e.stopped_at IS NOT NULL, e.started_at")]

    async def arm_counts(self, name: str, *, services: Sequence[str] | None = None,
                         district: str | None = None) -> tuple[list[str], dict[str, dict[str, int]]]:
        """Return an experiment's arms and, per arm: assigned, completed, rated, satisfied,
        bribe_n, bribe_yes (the latest answer to each question counts). InputError if unknown."""
        raw = await self.db.fetchval("SELECT arms FROM experiments WHERE name = ?", (name,))
        if raw is None:
            raise InputError(f"experiment {name[:40]!r}: no such experiment")
        arms = json.loads(raw)
        where, params = _scope(services, district)
        latest = ("(SELECT s.{col} FROM answers l JOIN answer_scores s ON s.question = l.question "
                  "AND s.value = l.value WHERE l.transaction_id = t.id AND l.question = '{q}' "
                  "ORDER BY l.id DESC LIMIT 1)")
        sql = (f"SELECT x.arm, COUNT(*), COUNT(*) FILTER (WHERE t.status = 'completed'), "
               f"COUNT(*) FILTER (WHERE {latest.format(col='rated', q='rating')} = 1), "
               f"COUNT(*) FILTER (WHERE {latest.format(col='satisfied', q='rating')} = 1), "
               f"COUNT(*) FILTER (WHERE {latest.format(col='bribe', q='bribe')} = 1), "
               f"COUNT(*) FILTER (WHERE {latest.format(col='bribe_yes', q='bribe')} = 1) "
               f"FROM transaction_arms x JOIN transactions t ON t.id = x.transaction_id "
               f"WHERE x.experiment = ? AND {where} GROUP BY x.arm")
        out: dict[str, dict[str, int]] = {}
        for r in await self.db.fetch(sql, [name, *params]):
            out[r[0]] = dict(zip(("assigned", "completed", "rated", "satisfied", "bribe_n",
                                  "bribe_yes"), (int(r[k] or 0) for k in range(1, 7)), strict=True))
        return arms, out

    async def arm_rows(self, name: str) -> list[dict[str, Any]]:
        """Return one row per transaction of an experiment, for causal analysis (no numbers,
        no names): its arm, when and where, how the calls went, and its latest answers."""
        return [dict(r) for r in await self.db.fetch(
            "SELECT t.id AS transaction_id, x.arm, t.visited_at, t.district, t.service, "
            "t.office, t.official, t.status, t.attempts, t.selection_probability, "
            "CASE WHEN EXISTS (SELECT 1 FROM attempts a WHERE a.transaction_id = t.id "
            "AND a.answered_at IS NOT NULL) THEN 1 ELSE 0 END AS contacted, "
            "(SELECT l.value FROM answers l WHERE l.transaction_id = t.id AND "
            "l.question = 'rating' ORDER BY l.id DESC LIMIT 1) AS rating, "
            "(SELECT l.value FROM answers l WHERE l.transaction_id = t.id AND "
            "l.question = 'bribe' ORDER BY l.id DESC LIMIT 1) AS bribe "
            "FROM transaction_arms x JOIN transactions t ON t.id = x.transaction_id "
            "WHERE x.experiment = ? ORDER BY t.id", (name,))]


async def assign_arms(tx: Tx, created_at: str, inserted: int) -> int:
    """Give the `inserted` transactions just created (at `created_at`) one arm of each running
    experiment (ivr.accountability.arms.assign, from the system's random source). Called by
    the intake's insert, inside its write transaction (either engine); returns how many arms
    were stored."""
    if inserted <= 0:
        return 0
    running = [Experiment(r[0], tuple(json.loads(r[1]))) for r in await tx.fetch(
        "SELECT name, arms FROM experiments WHERE stopped_at IS NULL ORDER BY name")]
    if not running:
        return 0
    new = [(r[0], r[1]) for r in await tx.fetch(
        "SELECT id, visited_at FROM transactions t WHERE t.id > "
        "(SELECT MAX(id) FROM transactions) - ? AND t.created_at = ? AND NOT EXISTS "
        "(SELECT 1 FROM transaction_arms x WHERE x.transaction_id = t.id)",
        (inserted, created_at))]
    drawn = assign(running, len(new), _RANDOM)
    rows = [(tx_id, name, arm) for (tx_id, _), arms in zip(new, drawn, strict=True)
            for name, arm in arms.items()]
    await tx.executemany("INSERT INTO transaction_arms (transaction_id, experiment, arm) "
                         "VALUES (?, ?, ?)", rows)
    # first_call: the arm is the first call's delay after the visit (never before now)
    now = _parse(created_at)
    times = []
    for (tx_id, visited), arms in zip(new, drawn, strict=True):
        delay = first_call_delay(arms.get(FIRST_CALL, ""))
        visit = _parse(visited)
        if delay is not None and visit is not None and now is not None:
            times.append((_ts(max(now, visit + delay)), tx_id))
    if times:
        await tx.executemany("UPDATE transactions SET next_try_at = ? WHERE id = ?", times)
    return len(rows)
