"""Store, calls: transactions in, due work out, attempts recorded as they happen.

The transactions-and-attempts repository (migrations 0001-0006), on either engine, with the
answers a survey session writes as they are given. Every state change is a guarded UPDATE
(`... AND status = 'dialing'`), so events that race (the OriginateResponse and the FastAGI
session of the same call) can arrive in any order.

At dial time the claim fetches the facts of each due transaction (on the do-not-call list, the
citizen's last survey, the visit's time, a call in progress), scheduler.policy.at_dial decides,
and the claim applies the decision, all in one write transaction. On PostgreSQL the due rows are
locked FOR UPDATE SKIP LOCKED, so workers sharing a database never claim the same row.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ivr.errors import StoreError
from ivr.log import getLogger
from ivr.models import FINAL, Attempt, Outcome, Transaction, TxStatus
from ivr.store.database import Repository, Row, Tx, parse_ts, ts
from scheduler import policy

log = getLogger(__name__)

# the final statuses (ivr.models.FINAL), as an SQL list
FINAL_SQL = "(" + ", ".join(f"'{s.value}'" for s in sorted(FINAL)) + ")"


@dataclass(frozen=True, slots=True)
class SurveyContext:
    """What a survey flow needs to know about the call it is running."""

    attempt_id: int
    transaction_id: int
    office: str
    service: str
    district: str
    visited_at: datetime
    language: str | None
    status: TxStatus
    attempts: int  # the transaction's attempts so far, this one included
    callbacks: int  # call-backs of an unfinished survey used so far


def _marks(n: int) -> str:
    return ",".join("?" * n)


class CallsRepository(Repository):
    """Transactions and their attempts: intake, the claim, call outcomes, sampling, status."""

    # ------------------------------------------------------------------ intake

    async def add_transactions(
            self, txs: Sequence[Transaction], now: datetime,
            not_before: Callable[[Transaction], datetime] | None = None) -> tuple[int, int]:
        """Insert transactions idempotently by (office, ref), all or none; return (new, known).

        not_before gives each transaction's first call time (policy: some hours after the
        visit); it is never earlier than now.
        """
        stamp = ts(now)
        rows = [(t.office, t.ref, t.name, t.mobile, t.service, t.district, t.official,
                 ts(t.visited_at), t.language,
                 ts(max(now, not_before(t))) if not_before else stamp, stamp, stamp)
                for t in txs]
        columns = ("office, ref, name, mobile, service, district, official, visited_at, "
                   "language, next_try_at, created_at, updated_at")
        async with self.db.write() as tx:
            if self.db.dialect == "postgresql":
                # One statement for the batch (column arrays), not one round trip per row.
                arrays = ", ".join("?::text[]" for _ in range(12))
                inserted = len(await tx.fetch(
                    f"INSERT INTO transactions ({columns}) SELECT * FROM unnest({arrays}) "
                    f"ON CONFLICT (office, ref) DO NOTHING RETURNING 1",
                    [list(col) for col in zip(*rows, strict=True)] if rows else [[]] * 12))
            else:
                inserted = await tx.executemany(
                    f"INSERT INTO transactions ({columns}) "
                    f"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                    f"ON CONFLICT (office, ref) DO NOTHING", rows)
            # randomised arms of running experiments (ivr/accountability/arms.py), same
            # transaction; imported here: a survey session (the classic AGI script) never needs it
            from ivr.store.accountability import assign_arms

            await assign_arms(tx, stamp, inserted)
        return inserted, len(rows) - inserted

    # ------------------------------------------------------------------ dialer

    async def claim_due(self, now: datetime, limit: int, node: str = "", *,
                        expire_before: datetime | None = None,
                        cooldown_since: datetime | None = None,
                        services_only: Sequence[str] | None = None,
                        services_except: Sequence[str] = (),
                        route: Callable[[str], str | None] | None = None,
                        sampled_only: bool = False, worker: str = "",
                        lease_until: datetime | None = None,
                        trunk_channels: Mapping[str, int] | None = None) -> list[Attempt]:
        """Atomically take up to limit due transactions and write one attempt row for each.

        For each candidate the facts are fetched and policy.at_dial decides: on the
        do-not-call list (-> opted_out), visited before expire_before (-> expired), the citizen
        surveyed on another transaction since cooldown_since (-> expired), or on the line for
        another transaction (waits). A follow-up about a closed case (followup_of set) is
        exempt from the age and cooldown rules, not from the others. services_only /
        services_except carry the calling windows the dialer's policy computed for now.
        route(number) names the trunk for a number, or None when no trunk can take it now
        (the row stays due, unclaimed).
        sampled_only: only transactions the day's sample has kept (when sampling is on).
        worker, lease_until: the engine worker that owns the attempts, and until when (it
        renews the lease while it lives: renew_leases).
        trunk_channels: each trunk's channel limit, shared by every worker on the database:
        the calls open on a trunk are counted in the database (claims take turns for it on
        PostgreSQL), and a number whose trunk is full waits.
        """
        if limit <= 0:
            return []
        stamp = ts(now)
        where = ["status IN ('pending', 'scheduled')", "next_try_at <= ?"]
        args: list[Any] = [stamp]
        if services_only is not None:
            if not services_only:
                return []
            where.append(f"service IN ({_marks(len(services_only))})")
            args.extend(services_only)
        if services_except:
            where.append(f"service NOT IN ({_marks(len(services_except))})")
            args.extend(services_except)
        if sampled_only:
            where.append("sampled = 1")
        max_age = (now - expire_before).total_seconds() if expire_before is not None else None
        cooldown = (now - cooldown_since).total_seconds() if cooldown_since is not None else None
        # SQLite: the partial due-index is already in (next_try_at, rowid) order: no sort,
        # however many are pending; without the hint the planner may pick the status index
        # (bench/claim_latency.py). PostgreSQL: each row is locked as it is taken (_take).
        # SQLite, in three trips to the database's thread however many are taken: the due rows
        # (with the trunks' open calls), the facts about them, then the writes with the COMMIT.
        taken: list[tuple[Row, str]] = []  # (due row, trunk)
        claimed: list[Attempt] = []
        async with self.db.write() as tx:
            open_on: dict[str, int] = {}
            count_open = ("SELECT trunk, COUNT(*) FROM attempts WHERE ended_at IS NULL "
                          "GROUP BY trunk", ())
            if trunk_channels and self.db.dialect == "postgresql":
                # workers count and claim one at a time
                await tx.execute("SELECT pg_advisory_xact_lock(hashtext('rabta-trunks'))")
            after: tuple[str, int] = ("", 0)
            window = limit * 2
            for _ in range(4):  # PostgreSQL: past rows other workers hold, up to 3 more windows
                contended = 0
                select_due = (
                    f"SELECT id, mobile, language, visited_at, next_try_at, followup_of "
                    f"FROM transactions "
                    f"{self.db.hint('transactions_due')} "
                    f"WHERE {' AND '.join(where)} AND (next_try_at, id) > (?, ?) "
                    f"ORDER BY next_try_at, id LIMIT ?", (*args, *after, window))
                if trunk_channels and after == ("", 0):  # the first window: count them too
                    counts, due = await tx.fetch_many([count_open, select_due])
                    open_on = {r[0]: int(r[1]) for r in counts}
                else:
                    due = await tx.fetch(*select_due)
                facts = await self._dial_facts(tx, due)
                for row in due:
                    if len(taken) >= limit:
                        break
                    decision = policy.at_dial(facts[row["id"]], now, max_age=max_age,
                                              cooldown=cooldown)
                    if decision != "wait" and not await self._take(tx, row):
                        contended += 1
                        continue  # another worker holds it, or has just taken it or its citizen
                    if decision in policy.CLOSES_AS:
                        await tx.defer(
                            "UPDATE transactions SET status = ?, closed_reason = ?, updated_at = ? "
                            "WHERE id = ?",
                            (policy.CLOSES_AS[decision].value, decision, stamp, row["id"]))
                        log.info("transaction %d not called: %s", row["id"], decision)
                        continue
                    if decision == "wait":
                        continue
                    trunk = route(row["mobile"]) if route is not None else ""
                    if trunk is None:
                        continue  # every trunk this number may use is full: it waits its turn
                    if trunk_channels and trunk in trunk_channels:
                        if open_on.get(trunk, 0) >= trunk_channels[trunk]:
                            continue  # full with other workers' calls: it waits its turn
                        open_on[trunk] = open_on.get(trunk, 0) + 1
                    for other in due:  # the citizen is on the line now: their other visits wait
                        if other["mobile"] == row["mobile"]:
                            f = facts[other["id"]]
                            facts[other["id"]] = policy.DialFacts(
                                f.on_dnc, f.visited_at, f.last_surveyed_at, True, f.followup)
                    await tx.defer(  # sent with the INSERT (SQLite: one trip)
                        "UPDATE transactions SET status = 'dialing', attempts = attempts + 1, "
                        "updated_at = ? WHERE id = ?", (stamp, row["id"]))
                    taken.append((row, trunk))
                if len(taken) >= limit or len(due) < window or not contended:
                    break
                after = (due[-1]["next_try_at"], due[-1]["id"])
            if taken:  # one INSERT for them all, the transaction's last statement
                lease = ts(lease_until) if lease_until else None
                ids = {r[1]: r[0] for r in await tx.fetch_last(
                    "INSERT INTO attempts (transaction_id, number, node, trunk, started_at, "
                    "worker, lease_until) VALUES "
                    + ", ".join(["(?, ?, ?, ?, ?, ?, ?)"] * len(taken))
                    + " RETURNING id, transaction_id",
                    [v for row, trunk in taken
                     for v in (row["id"], row["mobile"], node, trunk, stamp, worker, lease)])}
                claimed = [Attempt(ids[row["id"]], row["id"], row["mobile"], now,
                                   row["language"], trunk=trunk) for row, trunk in taken]
        return claimed

    async def _take(self, tx: Tx, row: Row) -> bool:
        """Lock a due row before acting on it; False if another worker has it.

        SQLite: the write transaction already holds the whole database. PostgreSQL: the row
        FOR UPDATE SKIP LOCKED, rechecked as still due (another worker may have claimed it
        since our read), and the citizen by an advisory lock, rechecked as not on the line
        now, so two workers never ring one citizen for two visits at once. Only rows acted on
        are locked: a worker claiming 7 leaves the rest to the others at once.
        """
        if self.db.dialect != "postgresql":
            return True
        if await tx.fetchone(
                "SELECT id FROM transactions WHERE id = ? AND status IN ('pending', 'scheduled') "
                "FOR UPDATE SKIP LOCKED", (row["id"],)) is None:
            return False
        free = await tx.fetchone(
            "SELECT pg_try_advisory_xact_lock(hashtextextended(?, 0)) AND NOT EXISTS ("
            "SELECT 1 FROM transactions WHERE mobile = ? AND id != ? "
            "AND status IN ('dialing', 'in_call'))", (row["mobile"], row["mobile"], row["id"]))
        return bool(free and free[0])

    @staticmethod
    async def _dial_facts(tx: Tx, due: Sequence[Row]) -> dict[int, policy.DialFacts]:
        """Fetch, for the due rows, what policy.at_dial needs: three queries, however many."""
        numbers = sorted({r["mobile"] for r in due})
        blocked: set[str] = set()
        busy: set[str] = set()
        surveyed: dict[str, list[tuple[int, str]]] = {}
        if numbers:
            marks = _marks(len(numbers))
            on_dnc, on_line, answered = await tx.fetch_many([  # SQLite: one trip
                (f"SELECT number FROM dnc WHERE number IN ({marks})", numbers),
                (f"SELECT DISTINCT mobile FROM transactions WHERE mobile IN ({marks}) "
                 f"AND status IN ('dialing', 'in_call')", numbers),
                (f"SELECT o.mobile, o.id, MAX(a.answered_at) FROM transactions o "
                 f"JOIN attempts a ON a.transaction_id = o.id WHERE o.mobile IN ({marks}) "
                 f"AND a.answered_at IS NOT NULL GROUP BY o.mobile, o.id", numbers)])
            blocked = {r[0] for r in on_dnc}
            busy = {r[0] for r in on_line}
            for r in answered:
                surveyed.setdefault(r[0], []).append((r[1], r[2]))
        out = {}
        for row in due:
            others = [at for tx_id, at in surveyed.get(row["mobile"], []) if tx_id != row["id"]]
            visited = parse_ts(row["visited_at"])
            assert visited is not None
            out[row["id"]] = policy.DialFacts(
                on_dnc=row["mobile"] in blocked, visited_at=visited,
                last_surveyed_at=parse_ts(max(others)) if others else None,
                call_in_progress=row["mobile"] in busy,
                followup=row["followup_of"] is not None)
        return out

    async def next_due_at(self) -> datetime | None:
        """Return when the earliest waiting transaction becomes due, or None."""
        return parse_ts(await self.db.fetchval(
            "SELECT MIN(next_try_at) FROM transactions WHERE status IN ('pending', 'scheduled')"))

    async def status_counts(self) -> dict[str, int]:
        """Return how many transactions are in each status."""
        return {r[0]: int(r[1]) for r in await self.db.fetch(
            "SELECT status, COUNT(*) FROM transactions GROUP BY status")}

    async def attempt_answered(self, attempt_id: int, now: datetime) -> None:
        """Record that the citizen picked up (from AMI or from the FastAGI session)."""
        async def answered(tx: Tx) -> None:  # one trip on SQLite
            await self._mark_answered(tx, attempt_id, ts(now))
        await self.db.transact(answered, idempotent=True)  # run twice, the same rows

    @staticmethod
    async def _mark_answered(tx: Tx, attempt_id: int, stamp: str) -> None:
        """Defer the two writes of an answered call (the first answered_at stays)."""
        await tx.defer(
            "UPDATE attempts SET outcome = 'answered', answered_at = COALESCE(answered_at, ?) "
            "WHERE id = ? AND ended_at IS NULL", (stamp, attempt_id))
        await tx.defer(
            "UPDATE transactions SET status = 'in_call', last_outcome = 'answered', "
            "updated_at = ? WHERE id = (SELECT transaction_id FROM attempts WHERE id = ?) "
            "AND status = 'dialing'", (stamp, attempt_id))

    async def attempt_failed(self, attempt_id: int, outcome: Outcome, now: datetime, *,
                             next_status: TxStatus, next_try_at: datetime | None,
                             reason: int | None = None, cause: int | None = None) -> bool:
        """Close an unanswered attempt and move its transaction on; False if it was answered."""
        stamp = ts(now)

        async def close(tx: Tx) -> bool:
            changed = await tx.execute(
                "UPDATE attempts SET outcome = ?, reason = ?, cause = ?, ended_at = ? "
                "WHERE id = ? AND answered_at IS NULL AND ended_at IS NULL",
                (outcome.value, reason, cause, stamp, attempt_id))
            if changed != 1:
                return False  # answered, or already closed: a stale report changes nothing
            moved = await tx.execute(
                "UPDATE transactions SET status = ?, last_outcome = ?, next_try_at = ?, "
                "updated_at = ? WHERE id = (SELECT transaction_id FROM attempts WHERE id = ?) "
                "AND status = 'dialing'",
                (next_status.value, outcome.value, ts(next_try_at) if next_try_at else stamp,
                 stamp, attempt_id))
            return moved == 1
        # Run again after a cut-off commit that landed, it changes nothing (ended_at is set).
        return await self.db.transact(close, idempotent=True)

    async def attempt_not_sent(self, attempt_id: int, now: datetime) -> None:
        """Undo an attempt whose Originate was never sent: no dial happened, none is counted."""
        async def undo(tx: Tx) -> None:
            row = await tx.fetchone(
                "DELETE FROM attempts WHERE id = ? AND answered_at IS NULL "
                "AND NOT EXISTS (SELECT 1 FROM answers WHERE attempt_id = ?) "
                "RETURNING transaction_id", (attempt_id, attempt_id))
            if row is not None:
                await tx.execute(
                    "UPDATE transactions SET status = 'scheduled', attempts = attempts - 1, "
                    "next_try_at = ?, updated_at = ? WHERE id = ? AND status = 'dialing'",
                    (ts(now), ts(now), row[0]))
        # Run again after a cut-off commit that landed, the row is gone: nothing happens.
        await self.db.transact(undo, idempotent=True)

    async def open_attempts(self, worker: str | None = None, now: datetime | None = None,
                            lease_until: datetime | None = None, *, others_only: bool = False
                            ) -> list[tuple[int, int, str, bool]]:
        """Return (attempt id, transaction attempts, status, answered) of attempts not ended.

        Without a worker: all of them (one engine). With one: those it owns, and those whose
        owner's lease ran out before now, which become its own (lease_until) in the same
        transaction, so two workers never settle one attempt; others_only: only the latter.
        """
        cols = ("SELECT a.id, t.attempts, t.status, a.answered_at IS NOT NULL FROM attempts a "
                "JOIN transactions t ON t.id = a.transaction_id WHERE a.ended_at IS NULL")
        if worker is None:
            rows = await self.db.fetch(f"{cols} ORDER BY a.id")
            return [(r[0], r[1], r[2], bool(r[3])) for r in rows]
        assert now is not None and lease_until is not None
        expired = "(lease_until IS NULL OR lease_until < ?)"
        which, args = ((f"worker != ? AND {expired}", (worker, ts(now))) if others_only
                       else (f"(worker = ? OR {expired})", (worker, ts(now))))
        async with self.db.write() as tx:
            taken = [r[0] for r in await tx.fetch(
                f"UPDATE attempts SET worker = ?, lease_until = ? WHERE ended_at IS NULL "
                f"AND {which} RETURNING id", (worker, ts(lease_until), *args))]
            if not taken:
                return []
            rows = await tx.fetch(f"{cols} AND a.id IN ({_marks(len(taken))}) ORDER BY a.id",
                                  taken)
        return [(r[0], r[1], r[2], bool(r[3])) for r in rows]

    async def renew_leases(self, worker: str, lease_until: datetime) -> int:
        """Extend the lease of every open attempt a worker owns; return how many."""
        async with self.db.write() as tx:
            return await tx.execute(
                "UPDATE attempts SET lease_until = ? WHERE worker = ? AND ended_at IS NULL",
                (ts(lease_until), worker))

    async def attempt_row(self, attempt_id: int) -> Attempt:
        """Return one attempt as the dialer knows it."""
        r = await self.db.fetchone(
            "SELECT a.id, a.transaction_id, a.number, a.started_at, t.language, a.trunk "
            "FROM attempts a JOIN transactions t ON t.id = a.transaction_id WHERE a.id = ?",
            (attempt_id,))
        if r is None:
            raise StoreError(f"no attempt {attempt_id}")
        started = parse_ts(r[3])
        assert started is not None
        return Attempt(r[0], r[1], r[2], started, r[4], trunk=r[5])

    # ------------------------------------------------------------------ survey

    async def survey_started(self, attempt_id: int, now: datetime) -> SurveyContext:
        """Mark the call answered and return what the flow needs; StoreError if unknown.

        One write transaction, one trip on SQLite: the answered mark, then the read.
        """
        async def started(tx: Tx) -> list[Row]:
            await self._mark_answered(tx, attempt_id, ts(now))
            return await tx.fetch_last(
                "SELECT a.id, t.id, t.office, t.service, t.district, t.visited_at, t.language, "
                "t.status, t.attempts, t.callbacks FROM attempts a "
                "JOIN transactions t ON t.id = a.transaction_id WHERE a.id = ?", (attempt_id,))
        rows = await self.db.transact(started, idempotent=True)  # run twice, the same rows
        if not rows:
            raise StoreError(f"no attempt {attempt_id}")
        row = rows[0]
        return SurveyContext(row[0], row[1], row[2], row[3], row[4], parse_ts(row[5]) or now,
                             row[6], TxStatus(row[7]), int(row[8]), int(row[9]))

    async def arms_of(self, transaction_id: int) -> dict[str, str]:
        """Return a transaction's arms, experiment -> arm (the survey reads it at the
        start of a call, to play the arm's greeting; ivr.store.accountability assigns them)."""
        return {r[0]: r[1] for r in await self.db.fetch(
            "SELECT experiment, arm FROM transaction_arms WHERE transaction_id = ?",
            (transaction_id,))}

    async def save_answer(self, attempt_id: int, question: str, value: str,
                          now: datetime, *, survey: str | None = None,
                          survey_version: int | None = None,
                          prompts: Sequence[str] = ()) -> None:
        """Store one answer the moment it is given (a later answer to the same question wins).

        survey, survey_version: the definition that asked; prompts: the prompt ids played.
        """
        async def upsert(tx: Tx) -> None:  # one trip on SQLite
            await tx.defer(
                "INSERT INTO answers (attempt_id, transaction_id, question, value, answered_at, "
                "survey, survey_version, prompts) "
                "SELECT ?, transaction_id, ?, ?, ?, ?, ?, ? FROM attempts WHERE id = ? "
                "ON CONFLICT (attempt_id, question) DO UPDATE SET value = excluded.value, "
                "answered_at = excluded.answered_at, survey = excluded.survey, "
                "survey_version = excluded.survey_version, prompts = excluded.prompts",
                (attempt_id, question, value, ts(now), survey, survey_version,
                 json.dumps(list(prompts)), attempt_id))
        # An upsert of the same values: safe to run again even if a cut-off commit landed.
        await self.db.transact(upsert, idempotent=True)

    async def finish_call(self, attempt_id: int, result: TxStatus, now: datetime,
                          cause: int | None = None, *, next_status: TxStatus | None = None,
                          next_try_at: datetime | None = None,
                          closed_reason: str | None = None) -> bool:
        """End an answered attempt with the survey's result; False if it was already ended.

        next_status (default: the result itself) lets policy schedule a call-back for an
        unfinished survey; it counts as one of the transaction's call-backs. closed_reason
        says why a transaction closed (e.g. `not_me`: a shared or wrong phone).
        """
        stamp = ts(now)
        status = next_status or result
        callback = 1 if status is TxStatus.SCHEDULED else 0
        move = ("UPDATE transactions SET status = ?, updated_at = ?, "
                "callbacks = callbacks + ?, next_try_at = COALESCE(?, next_try_at), "
                "closed_reason = COALESCE(?, closed_reason) "
                "WHERE id = (SELECT transaction_id FROM attempts WHERE id = ?{open}) "
                f"AND status NOT IN {FINAL_SQL}")
        move_args = (status.value, stamp, callback, ts(next_try_at) if next_try_at else None,
                     closed_reason, attempt_id)
        end = ("UPDATE attempts SET ended_at = ?, result = ?, cause = COALESCE(cause, ?) "
               "WHERE id = ? AND ended_at IS NULL AND answered_at IS NOT NULL")
        end_args = (stamp, result.value, cause, attempt_id)

        if self.db.dialect == "sqlite":
            # One trip: the transaction moves only if the attempt is still open, then the
            # attempt closes (SQLite's write transaction holds the whole database, so nothing
            # can close it in between; on PostgreSQL the attempt's row lock comes first).
            async def finish_one_trip(tx: Tx) -> bool:
                await tx.defer(move.format(
                    open=" AND ended_at IS NULL AND answered_at IS NOT NULL"), move_args)
                return bool(await tx.fetch_last(f"{end} RETURNING id", end_args))
            return await self.db.transact(finish_one_trip, idempotent=True)

        async def finish(tx: Tx) -> bool:
            changed = await tx.execute(end, end_args) == 1
            if changed:
                await tx.defer(move.format(open=""), move_args)
            return changed
        # Run again after a cut-off commit that landed, it changes nothing (ended_at is set).
        return await self.db.transact(finish, idempotent=True)

    async def set_language(self, transaction_id: int, language: str, now: datetime) -> bool:
        """Store the language a citizen chose on the call; False if the transaction is unknown."""
        async def choose(tx: Tx) -> bool:
            return await tx.execute(
                "UPDATE transactions SET language = ?, updated_at = ? WHERE id = ?",
                (language, ts(now), transaction_id)) == 1
        return await self.db.transact(choose, idempotent=True)

    async def attempt_counts(self, attempt_id: int) -> tuple[int, int]:
        """Return (attempts, call-backs used) of the transaction an attempt belongs to."""
        row = await self.db.fetchone(
            "SELECT t.attempts, t.callbacks FROM attempts a JOIN transactions t "
            "ON t.id = a.transaction_id WHERE a.id = ?", (attempt_id,))
        if row is None:
            raise StoreError(f"no attempt {attempt_id}")
        return int(row[0]), int(row[1])

    # ------------------------------------------------------------------ sampling

    async def unsampled(self, limit: int = 50_000) -> list[dict[str, Any]]:
        """Return pending transactions not yet put through a day's sample, oldest visit first."""
        rows = [dict(r) for r in await self.db.fetch(
            f"SELECT id, office, official, visited_at FROM transactions "
            f"{self.db.hint('transactions_unsampled')} WHERE sampled = 0 AND status = 'pending' "
            f"ORDER BY visited_at, id LIMIT ?", (limit,))]
        for r in rows:
            r["visited_at"] = parse_ts(r["visited_at"])
        return rows

    async def intake_counts(self, start: datetime, end: datetime) -> tuple[int, int, int]:
        """Return (visits, already sampled, selected) for visits in [start, end)."""
        row = await self.db.fetchone(
            "SELECT COUNT(*), COALESCE(SUM(sampled), 0), "
            "COUNT(*) FILTER (WHERE sampled = 1 AND COALESCE(closed_reason, '') != 'not_sampled') "
            "FROM transactions WHERE visited_at >= ? AND visited_at < ?", (ts(start), ts(end)))
        assert row is not None
        return int(row[0]), int(row[1]), int(row[2])

    async def apply_sample(self, chosen: dict[int, float], left_out: Iterable[int],
                           now: datetime) -> bool:
        """Mark a batch sampled in one transaction: chosen ones keep their place in the queue
        with their selection probability; the others close as expired (not_sampled).

        Several workers sampling at once: one batch is applied whole or not at all; a batch
        another worker has sampled meanwhile is left as that worker decided (False), so the
        day's counts the next batch is drawn against are the database's, shared by all.
        """
        stamp = ts(now)
        left_out = list(left_out)
        ids = [*chosen, *left_out]
        async with self.db.write() as tx:
            if self.db.dialect == "postgresql":  # samplers take turns
                await tx.execute("SELECT pg_advisory_xact_lock(hashtext('rabta-sample'))")
            if ids and await tx.fetchone(
                    f"SELECT 1 FROM transactions WHERE id IN ({_marks(len(ids))}) "
                    f"AND sampled = 1 LIMIT 1", ids) is not None:
                return False
            await tx.executemany(
                "UPDATE transactions SET sampled = 1, selection_probability = ?, updated_at = ? "
                "WHERE id = ? AND sampled = 0", [(p, stamp, i) for i, p in chosen.items()])
            await tx.executemany(
                "UPDATE transactions SET sampled = 1, status = 'expired', "
                "closed_reason = 'not_sampled', updated_at = ? "
                "WHERE id = ? AND sampled = 0 AND status = 'pending'",
                [(stamp, i) for i in left_out])
        return True

    # ------------------------------------------------------------------ status

    async def live_summary(self, now: datetime, day_start: datetime) -> dict[str, Any]:
        """Return what an operator watches: statuses, due now, in flight per node, today's outcomes."""
        summary: dict[str, Any] = {"statuses": await self.status_counts()}
        row = await self.db.fetchone(
            "SELECT COUNT(*), MIN(next_try_at) FROM transactions "
            "WHERE status IN ('pending', 'scheduled')")
        assert row is not None
        due = await self.db.fetchval(
            "SELECT COUNT(*) FROM transactions WHERE status IN ('pending', 'scheduled') "
            "AND next_try_at <= ?", (ts(now),))
        summary.update(waiting=int(row[0]), due_now=int(due), next_due_at=row[1])
        day = (ts(day_start),)
        for key, sql, args in (
                ("in_flight_by_node", "SELECT node, COUNT(*) FROM attempts "
                 "WHERE ended_at IS NULL GROUP BY node", ()),
                ("in_flight_by_trunk", "SELECT trunk, COUNT(*) FROM attempts "
                 "WHERE ended_at IS NULL GROUP BY trunk", ()),
                ("attempts_today_by_trunk", "SELECT trunk, COUNT(*) FROM attempts "
                 "WHERE started_at >= ? GROUP BY trunk", day)):
            summary[key] = {r[0] or "-": int(r[1]) for r in await self.db.fetch(sql, args)}
        summary["attempts_today"] = {r[0]: int(r[1]) for r in await self.db.fetch(
            "SELECT COALESCE(outcome, 'in_progress'), COUNT(*) FROM attempts "
            "WHERE started_at >= ? GROUP BY 1", day)}
        summary["surveys_today"] = {r[0]: int(r[1]) for r in await self.db.fetch(
            "SELECT COALESCE(result, 'in_call'), COUNT(*) FROM attempts "
            "WHERE answered_at >= ? GROUP BY 1", day)}
        return summary

    # ------------------------------------------------------------------ reading

    async def transaction(self, office: str, ref: str) -> Transaction | None:
        """Return one transaction by its office reference."""
        row = await self.db.fetchone(
            "SELECT * FROM transactions WHERE office = ? AND ref = ?", (office, ref))
        return _tx_from_row(row) if row else None

    async def attempts_of(self, transaction_id: int) -> list[dict[str, Any]]:
        """Return the attempt rows of one transaction, oldest first."""
        return [dict(r) for r in await self.db.fetch(
            "SELECT * FROM attempts WHERE transaction_id = ? ORDER BY id", (transaction_id,))]


def _tx_from_row(row: Row) -> Transaction:
    visited = parse_ts(row["visited_at"])
    assert visited is not None
    return Transaction(
        office=row["office"], ref=row["ref"], name=row["name"], mobile=row["mobile"],
        service=row["service"], district=row["district"], official=row["official"],
        visited_at=visited, language=row["language"], id=row["id"],
        status=TxStatus(row["status"]), attempts=row["attempts"],
        last_outcome=Outcome(row["last_outcome"]) if row["last_outcome"] else None,
        next_try_at=parse_ts(row["next_try_at"]),
    )
