"""Store, results: what the officials' dashboard reads (migration 0009). The end of the road.

A repository over a Database (either engine), with the answers it is built from. Results by
group come from the per-day sums that triggers keep as answers are written: result_days (day,
district, service) for province-wide views, result_cells (down to office and official) for the
drill-down, so a page over millions of answers reads thousands of rows; the live overview reads
today's few hundred rows of overview_days, which triggers keep as calls and answers are
written; the per-response export streams transactions with their latest rating and bribe
answers. Every figure an official or an operator sees (overview, /results, the exports, the
JSON API, `rabta report`) is read from the result sums, so they agree (migration 0051);
`rabta report` adds how far each group's transactions got (transaction_counts). Every query
takes the caller's Scope (ivr.results) and applies it in SQL.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import date, datetime
from typing import Any

from ivr.models import FINAL, OPEN
from ivr.results import GROUPS, Filters, GroupSums, Scope
from ivr.store.database import Database, Repository, Tx
from ivr.store.database import ts as _ts

_SUMS = ("rated", "rated_w", "rated_w2", "satisfied_w", "rating_sum_w", "bribe_n", "bribe_w",
         "bribe_w2", "bribe_yes_w")
_SELECT_SUMS = ", ".join(f"SUM({c}) AS {c}" for c in _SUMS)
_PAGE = 5000  # rows per query of the response export

_W = "(1.0 / t.selection_probability)"


def _add(columns: tuple[str, ...], table: str = "overview_days") -> str:
    return ("ON CONFLICT (day, district, service) DO UPDATE SET "
            + ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in columns))


def _overview_rebuild(db: Database) -> tuple[str]:
    """The recount of the overview's per-day call counts (as migration 0009's backfill).

    The answer sums of overview_days are no longer kept (migration 0051): the overview's shares
    are read from result_days, as /results reads them.
    """
    return (
        f"INSERT INTO overview_days (day, district, service, calls, answered, completed) "
        f"SELECT {db.local_date('a.started_at')}, t.district, t.service, COUNT(*), "
        f"COUNT(a.answered_at), COUNT(*) FILTER (WHERE a.result = 'completed') "
        f"FROM attempts a JOIN transactions t ON t.id = a.transaction_id GROUP BY 1, 2, 3 "
        f"{_add(('calls', 'answered', 'completed'))}",
    )


def _where(filters: Filters, scope: Scope, prefix: str = "") -> tuple[list[str], list[Any]]:
    """Return SQL conditions and their arguments for the filters and the scope (no dates)."""
    where: list[str] = []
    args: list[Any] = []
    if scope.services is not None:
        if not scope.services:
            where.append("1 = 0")
        else:
            where.append(f"{prefix}service IN ({','.join('?' * len(scope.services))})")
            args.extend(scope.services)
    if scope.district is not None:
        where.append(f"{prefix}district = ?")
        args.append(scope.district)
    for name in GROUPS:
        value = getattr(filters, name)
        if value is not None:
            where.append(f"{prefix}{name} = ?")
            args.append(value)
    return where, args


def _offset_modifier(minutes: int) -> str:
    return f"{minutes:+d} minutes"


class ResultsRepository(Repository):
    """Answers read back; results, overview and response export queries (answers are written
    by CallsRepository.save_answer)."""

    # ------------------------------------------------------------------ answers

    async def answer_rows(self, attempt_id: int) -> list[dict[str, Any]]:
        """Return the answer rows of one attempt, in the order given, with their stamps."""
        rows = [dict(r) for r in await self.db.fetch(
            "SELECT question, value, answered_at, survey, survey_version, prompts FROM answers "
            "WHERE attempt_id = ? ORDER BY id", (attempt_id,))]
        for r in rows:
            r["prompts"] = json.loads(r["prompts"])
        return rows

    async def answers_for_attempt(self, attempt_id: int) -> dict[str, str]:
        """Return the answers given during one attempt."""
        return {r[0]: r[1] for r in await self.db.fetch(
            "SELECT question, value FROM answers WHERE attempt_id = ? ORDER BY id",
            (attempt_id,))}

    async def results(self) -> list[dict[str, Any]]:
        """Return one row per transaction with its answers (the latest per question)."""
        sql = f"""
            SELECT t.office, t.ref, t.district, t.service, t.official, t.status, t.attempts,
                   t.last_outcome, t.visited_at, t.language, t.closed_reason,
                   t.selection_probability,
                   EXISTS (SELECT 1 FROM attempts a WHERE a.transaction_id = t.id
                           AND a.answered_at IS NOT NULL) AS answered,
                   (SELECT {self.db.json_object('l.question', 'l.value')} FROM answers l
                    WHERE l.transaction_id = t.id AND l.id = (
                        SELECT MAX(m.id) FROM answers m WHERE m.transaction_id = t.id
                        AND m.question = l.question)) AS answers
            FROM transactions t ORDER BY t.office, t.ref"""
        out = []
        for r in await self.db.fetch(sql):
            d = dict(r)
            d["answers"] = json.loads(d["answers"] or "{}")
            d["answered"] = bool(d["answered"])
            out.append(d)
        return out

    # ------------------------------------------------------------------ local days

    async def set_results_offset(self, minutes: int) -> bool:
        """Set the local day's UTC offset (the `timezone` setting); rebuild the sums if it changed."""
        modifier = _offset_modifier(minutes)
        if await self.db.fetchval("SELECT modifier FROM results_clock WHERE id = 1") == modifier:
            return False
        async with self.db.write() as tx:
            await tx.execute("UPDATE results_clock SET modifier = ? WHERE id = 1", (modifier,))
            await self._rebuild(tx)
        return True

    async def rebuild_results(self) -> None:
        """Recompute every result cell from the answers (after a repair, or a new offset)."""
        async with self.db.write() as tx:
            await self._rebuild(tx)

    async def _rebuild(self, tx: Tx) -> None:
        w = "(1.0 / t.selection_probability)"
        await tx.execute("DELETE FROM result_cells")
        await tx.execute("DELETE FROM result_days")  # refilled by the cells' trigger
        await tx.execute("DELETE FROM overview_days")
        for sql in _overview_rebuild(self.db):
            await tx.execute(sql)
        await tx.execute(
            f"INSERT INTO result_cells (day, district, service, office, official, "
            f"{', '.join(_SUMS)}) "
            f"SELECT {self.db.local_date('t.visited_at')}, t.district, "
            f"t.service, t.office, t.official, SUM(s.rated), SUM(s.rated * {w}), "
            f"SUM(s.rated * {w} * {w}), SUM(s.satisfied * {w}), SUM(s.rated * {w} * s.rating), "
            f"SUM(s.bribe), SUM(s.bribe * {w}), SUM(s.bribe * {w} * {w}), "
            f"SUM(s.bribe_yes * {w}) "
            f"FROM answers a JOIN transactions t ON t.id = a.transaction_id "
            f"JOIN answer_scores s ON s.question = a.question AND s.value = a.value "
            f"WHERE a.id = (SELECT MAX(l.id) FROM answers l WHERE "
            f"l.transaction_id = a.transaction_id AND l.question = a.question) "
            f"GROUP BY 1, 2, 3, 4, 5")

    # ------------------------------------------------------------------ results

    async def result_groups(self, filters: Filters, scope: Scope) -> list[tuple[str, GroupSums]]:
        """Return the sums per group (district/service/office/official, or per local day).

        Days are filters.start..filters.end inclusive (local dates of the visit); by=week is
        read per day (the caller folds days into weeks).
        """
        column = filters.by if filters.by in GROUPS else "day"
        # The small per-(day, district, service) table serves whatever needs no office or
        # official; only those go to the per-official cells.
        fine = column in ("office", "official") or filters.office or filters.official
        table = "result_cells" if fine else "result_days"
        where, args = _where(filters, scope)
        if filters.start is not None:
            where.append("day >= ?")
            args.append(filters.start.isoformat())
        if filters.end is not None:
            where.append("day <= ?")
            args.append(filters.end.isoformat())
        sql = (f"SELECT {column} AS grp, {_SELECT_SUMS} FROM {table} "
               f"{'WHERE ' + ' AND '.join(where) if where else ''} "
               f"GROUP BY {column} ORDER BY {column}")
        return [(r["grp"], GroupSums.of(r)) for r in await self.db.fetch(sql, args)]

    async def filter_choices(self, scope: Scope, district: str | None = None,
                             limit: int = 500) -> dict[str, list[str]]:
        """Return the districts, services (and, within one district, offices) that have answers
        in a scope, sorted: the choices of the results filters. Offices only when a district
        is given (the official's scope or the filter); at most `limit` of each."""
        where, args = _where(Filters(), scope)
        cond = f"WHERE {' AND '.join(where)}" if where else ""
        out: dict[str, list[str]] = {}
        for column in ("district", "service"):
            rows = await self.db.fetch(f"SELECT DISTINCT {column} AS v FROM result_days {cond} "
                                       f"ORDER BY 1 LIMIT ?", (*args, limit))
            out[column] = [r["v"] for r in rows if r["v"]]
        district = scope.district or district
        if district is not None:
            where, args = _where(Filters(district=district), scope)
            rows = await self.db.fetch(f"SELECT DISTINCT office AS v FROM result_cells "
                                       f"WHERE {' AND '.join(where)} ORDER BY 1 LIMIT ?",
                                       (*args, limit))
            out["office"] = [r["v"] for r in rows if r["v"]]
        return out

    # ------------------------------------------------------------------ overview

    async def transaction_counts(self, by: str, scope: Scope) -> dict[str, dict[str, int]]:
        """Return per group (district/service/office/official) how far its transactions got.

        transactions, attempts (dials), answered (at least one call picked up), each final
        status, and pending (not final yet). Counted in SQL: nothing is loaded per row.
        """
        if by not in GROUPS:
            raise ValueError(f"cannot group by {by!r}")
        where, args = _where(Filters(), scope, "t.")
        finals = sorted(s.value for s in FINAL)
        opens = sorted(s.value for s in OPEN)
        status_sums = ", ".join(f"COUNT(*) FILTER (WHERE t.status = '{s}') AS {s}" for s in finals)
        sql = (f"SELECT t.{by} AS grp, COUNT(*) AS transactions, "
               f"COALESCE(SUM(t.attempts), 0) AS attempts, "
               f"COUNT(*) FILTER (WHERE EXISTS (SELECT 1 FROM attempts a "
               f"WHERE a.transaction_id = t.id AND a.answered_at IS NOT NULL)) AS answered, "
               f"{status_sums}, "
               f"COUNT(*) FILTER (WHERE t.status IN ({','.join('?' * len(opens))})) AS pending "
               f"FROM transactions t {'WHERE ' + ' AND '.join(where) if where else ''} "
               f"GROUP BY t.{by}")
        rows = await self.db.fetch(sql, (*opens, *args))
        return {r["grp"]: {k: int(r[k]) for k in r.keys() if k != "grp"} for r in rows}

    # ------------------------------------------------------------------ overview

    async def overview_counts(self, day: date, start: datetime, end: datetime, scope: Scope, *,
                              since: date | None = None) -> dict[str, Any]:
        """Return one local day's figures for the live overview, within a scope.

        transactions: visits in [start, end), the day's UTC bounds (from a covering index);
        calls: attempts started that day, and of those answered and completed (overview_days);
        sums: the ratings and bribe answers of the visits of days `since`..`day` (default: that
        day alone), the latest answer per question (result_days: the sums /results reads, so
        both show one figure);
        in_progress: calls on the line now.
        """
        where, args = _where(Filters(), scope)
        extra = "".join(f" AND {w}" for w in where)
        visits = await self.db.fetchval(
            f"SELECT COUNT(*) FROM transactions {self.db.hint('transactions_visited')} "
            f"WHERE visited_at >= ? AND visited_at < ?{extra}", (_ts(start), _ts(end), *args))
        row = await self.db.fetchone(
            f"SELECT COALESCE(SUM(calls), 0), COALESCE(SUM(answered), 0), "
            f"COALESCE(SUM(completed), 0) "
            f"FROM overview_days WHERE day = ?{extra}", (day.isoformat(), *args))
        assert row is not None
        sums = await self.db.fetchone(
            f"SELECT {_SELECT_SUMS} FROM result_days WHERE day >= ? AND day <= ?{extra}",
            ((since or day).isoformat(), day.isoformat(), *args))
        where, args = _where(Filters(), scope, "t.")
        on_line = await self.db.fetchval(
            f"SELECT COUNT(*) FROM attempts a JOIN transactions t ON t.id = a.transaction_id "
            f"WHERE a.ended_at IS NULL{''.join(f' AND {w}' for w in where)}", args)
        return {"transactions": int(visits), "calls": int(row[0]), "answered": int(row[1]),
                "completed": int(row[2]), "in_progress": int(on_line),
                "sums": GroupSums.of(sums)}

    async def calls_by_hour(self, start: datetime, end: datetime, scope: Scope
                            ) -> list[tuple[str, int, int]]:
        """Return (UTC hour "YYYY-MM-DDTHH", calls placed, calls answered) for the calls started
        in [start, end), within a scope (the attempts_started index bounds the scan)."""
        where, args = _where(Filters(), scope, "t.")
        rows = await self.db.fetch(
            f"SELECT substr(a.started_at, 1, 13) AS h, COUNT(*) AS calls, "
            f"COUNT(a.answered_at) AS answered FROM attempts a "
            f"JOIN transactions t ON t.id = a.transaction_id "
            f"WHERE a.started_at >= ? AND a.started_at < ?"
            f"{''.join(f' AND {w}' for w in where)} GROUP BY 1 ORDER BY 1",
            (_ts(start), _ts(end), *args))
        return [(r["h"], int(r["calls"]), int(r["answered"])) for r in rows]

    async def calls_by_district(self, day: date, scope: Scope) -> dict[str, dict[str, int]]:
        """Return per district one local day's calls, answered and completed (overview_days)."""
        where, args = _where(Filters(), scope)
        rows = await self.db.fetch(
            f"SELECT district, COALESCE(SUM(calls), 0) AS calls, "
            f"COALESCE(SUM(answered), 0) AS answered, COALESCE(SUM(completed), 0) AS completed "
            f"FROM overview_days WHERE day = ?{''.join(f' AND {w}' for w in where)} "
            f"GROUP BY district", (day.isoformat(), *args))
        return {r["district"]: {k: int(r[k]) for k in ("calls", "answered", "completed")}
                for r in rows}

    # ------------------------------------------------------------------ responses

    async def responses(self, filters: Filters, scope: Scope, start: datetime | None,
                        end: datetime | None, limit: int) -> AsyncIterator[dict[str, Any]]:
        """Yield answered transactions visited in [start, end) with their latest rating and bribe."""
        where, args = _where(filters, scope, "t.")
        if start is not None:
            where.append("t.visited_at >= ?")
            args.append(_ts(start))
        if end is not None:
            where.append("t.visited_at < ?")
            args.append(_ts(end))
        latest = ("(SELECT value FROM answers x WHERE x.transaction_id = t.id AND x.question = '{q}' "
                  "ORDER BY x.id DESC LIMIT 1)")
        base = (f"SELECT t.id, t.office, t.ref, t.district, t.service, t.official, "
                f"t.visited_at, t.mobile, t.status, t.selection_probability, "
                f"{latest.format(q='rating')} AS rating, {latest.format(q='bribe')} AS bribe "
                f"FROM transactions t "
                f"WHERE EXISTS (SELECT 1 FROM answers e WHERE e.transaction_id = t.id)"
                f"{''.join(f' AND {w}' for w in where)}")
        # Pages by (visited_at, id): no cursor stays open across the caller's awaits, so the
        # engine's writes never wait behind a long export.
        after: tuple[str, int] = ("", 0)
        left = limit
        while left > 0:
            rows = await self.db.fetch(
                f"{base} AND (t.visited_at, t.id) > (?, ?) ORDER BY t.visited_at, t.id LIMIT ?",
                (*args, *after, min(left, _PAGE)))
            for row in rows:
                yield dict(row)
            if len(rows) < min(left, _PAGE):
                return
            left -= len(rows)
            after = (rows[-1]["visited_at"], rows[-1]["id"])
