"""Store, SQLite: transactions in, due work out, attempts and answers recorded as they happen.

WAL journal, synchronous=NORMAL, busy_timeout and foreign keys; numbered migrations applied
atomically. One connection per process (aiosqlite runs it on its own thread), so the dialer and
the FastAGI flows of one engine share it and writes are serialised.

Every state change is a guarded UPDATE (`... AND status = 'dialing'`), so events that race
(the OriginateResponse and the FastAGI session of the same call) can arrive in any order.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite

from ivr.errors import StoreError
from ivr.models import FINAL, Attempt, Outcome, Transaction, TxStatus
from ivr.store.accountability import AccountabilityMixin, assign_arms
from ivr.store.accounts import AccountsMixin
from ivr.store.cases import CasesMixin
from ivr.store.prompts import PromptsMixin
from ivr.store.results import ResultsMixin

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
_FINAL = "(" + ", ".join(f"'{s.value}'" for s in sorted(FINAL)) + ")"


def ts(dt: datetime) -> str:
    """Format an aware datetime as the store's sortable UTC text."""
    if dt.tzinfo is None:
        raise StoreError("naive datetime given to the store")
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_ts(text: str | None) -> datetime | None:
    """Read the store's UTC text back into an aware datetime."""
    if text is None:
        return None
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


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


class SQLiteStore(AccountsMixin, CasesMixin, ResultsMixin, PromptsMixin, AccountabilityMixin):
    """The embedded store."""

    def __init__(self, db: aiosqlite.Connection, path: Path) -> None:
        self._db = db
        self.path = path
        # One connection is shared by every coroutine of the engine: write transactions
        # take turns, or one coroutine's BEGIN would land inside another's.
        self._write_lock = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def _write(self) -> AsyncIterator[aiosqlite.Connection]:
        """Hold the write lock for one IMMEDIATE transaction; commit, or roll back and re-raise."""
        async with self._write_lock:
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except sqlite3.Error as exc:
                await self._db.execute("ROLLBACK")
                raise StoreError(f"{self.path}: {exc}") from exc
            except BaseException:
                await self._db.execute("ROLLBACK")
                raise
            await self._db.execute("COMMIT")

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    async def open(cls, path: Path) -> SQLiteStore:
        """Open (creating if needed) and migrate the database at path."""
        try:
            if not path.parent.exists():
                path.parent.mkdir(parents=True, mode=0o700)  # names and numbers of citizens
            if not path.exists():
                os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))  # -wal/-shm inherit it
        except OSError as exc:
            raise StoreError(f"{path}: cannot create the database: {exc.strerror}") from None
        try:
            db = await aiosqlite.connect(path, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"{path}: cannot open the database: {exc}") from None
        try:
            db.row_factory = aiosqlite.Row
            for pragma in ("journal_mode = WAL", "synchronous = NORMAL", "busy_timeout = 10000",
                           "foreign_keys = ON"):
                await db.execute(f"PRAGMA {pragma}")
        except sqlite3.Error as exc:
            await db.close()
            raise StoreError(f"{path}: cannot open the database: {exc}") from None
        store = cls(db, path)
        try:
            await store.migrate()
        except BaseException:
            await db.close()  # or its worker thread keeps the process alive at exit
            raise
        return store

    async def close(self) -> None:
        """Close the connection."""
        await self._db.close()

    async def __aenter__(self) -> SQLiteStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def migrate(self) -> list[int]:
        """Apply every numbered migration not yet applied, each in its own transaction."""
        await self._db.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")
        async with self._db.execute("SELECT version FROM schema_migrations") as cur:
            done = {r[0] for r in await cur.fetchall()}
        applied = []
        for file in sorted(MIGRATIONS.glob("[0-9][0-9][0-9][0-9]_*.sql")):
            version = int(file.name[:4])
            if version in done:
                continue
            script = (f"BEGIN IMMEDIATE;\n{file.read_text()}\n"
                      f"INSERT INTO schema_migrations VALUES ({version}, "
                      f"'{ts(datetime.now(UTC))}');\nCOMMIT;")
            try:
                await self._db.executescript(script)
            except sqlite3.Error as exc:
                if self._db.in_transaction:
                    await self._db.execute("ROLLBACK")
                raise StoreError(f"migration {file.name} failed: {exc}") from None
            log.info("store: applied migration %s", file.name)
            applied.append(version)
        return applied

    async def _tx(self, statements: Iterable[tuple[str, Sequence[Any]]]) -> list[int]:
        """Run statements in one write transaction; return each statement's rowcount."""
        counts = []
        async with self._write() as db:
            for sql, args in statements:
                cur = await db.execute(sql, args)
                counts.append(cur.rowcount)
        return counts

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
        async with self._write() as db:
            before = db.total_changes
            await db.executemany(
                "INSERT INTO transactions (office, ref, name, mobile, service, district, "
                "official, visited_at, language, next_try_at, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (office, ref) DO NOTHING",
                rows)
            inserted = db.total_changes - before
            await assign_arms(db, stamp, inserted)  # randomised arms of running experiments (issue 16)
        return inserted, len(rows) - inserted

    # ------------------------------------------------------------------ dialer

    async def claim_due(self, now: datetime, limit: int, node: str = "", *,
                        expire_before: datetime | None = None,
                        cooldown_since: datetime | None = None,
                        services_only: Sequence[str] | None = None,
                        services_except: Sequence[str] = (),
                        route: Callable[[str], str | None] | None = None,
                        sampled_only: bool = False) -> list[Attempt]:
        """Atomically take up to limit due transactions and write one attempt row for each.

        Checked here, at dial time, for each candidate: the do-not-call list (-> opted_out),
        age (visited before expire_before -> expired), and the citizen's cooldown (surveyed
        on another transaction since cooldown_since -> expired). A citizen already on the
        line for another transaction waits. services_only / services_except carry the
        calling windows the dialer's policy computed for now. route(number) names the trunk
        for a number, or None when no trunk can take it now (the row stays due, unclaimed).
        sampled_only: only transactions the day's sample has kept (when sampling is on).
        """
        if limit <= 0:
            return []
        stamp = ts(now)
        where = ["status IN ('pending', 'scheduled')", "next_try_at <= ?"]
        args: list[Any] = [stamp]
        if services_only is not None:
            if not services_only:
                return []
            where.append(f"service IN ({','.join('?' * len(services_only))})")
            args.extend(services_only)
        if services_except:
            where.append(f"service NOT IN ({','.join('?' * len(services_except))})")
            args.extend(services_except)
        if sampled_only:
            where.append("sampled = 1")
        claimed: list[Attempt] = []
        async with self._write() as db:
            async with db.execute(
                # The partial due-index is already in (next_try_at, rowid) order: no sort, however
                # many are pending. Without the hint the planner may pick the status index and
                # sort every due row (measured: bench/claim_latency.py).
                f"SELECT id, mobile, language, visited_at FROM transactions "
                f"INDEXED BY transactions_due "
                f"WHERE {' AND '.join(where)} ORDER BY next_try_at, id LIMIT ?",
                (*args, limit * 2)) as cur:
                due = await cur.fetchall()
            numbers = sorted({r["mobile"] for r in due})
            blocked: set[str] = set()
            busy: set[str] = set()
            if numbers:
                marks = ",".join("?" * len(numbers))
                async with db.execute(f"SELECT number FROM dnc WHERE number IN ({marks})",
                                      numbers) as cur:
                    blocked = {r[0] for r in await cur.fetchall()}
                async with db.execute(
                    f"SELECT DISTINCT mobile FROM transactions WHERE mobile IN ({marks}) "
                    f"AND status IN ('dialing', 'in_call')", numbers) as cur:
                    busy = {r[0] for r in await cur.fetchall()}
            for row in due:
                if len(claimed) >= limit:
                    break
                reason = None
                if row["mobile"] in blocked:
                    reason, status = "dnc", "opted_out"
                elif expire_before is not None and row["visited_at"] < ts(expire_before):
                    reason, status = "too_old", "expired"
                elif cooldown_since is not None and await self._surveyed_since(
                        db, row["mobile"], row["id"], cooldown_since):
                    reason, status = "cooldown", "expired"
                if reason is not None:
                    await db.execute(
                        "UPDATE transactions SET status = ?, closed_reason = ?, updated_at = ? "
                        "WHERE id = ?", (status, reason, stamp, row["id"]))
                    log.info("transaction %d not called: %s", row["id"], reason)
                    continue
                if row["mobile"] in busy:
                    continue  # one call per citizen at a time; the cooldown decides afterwards
                trunk = route(row["mobile"]) if route is not None else ""
                if trunk is None:
                    continue  # every trunk this number may use is full: it waits its turn
                busy.add(row["mobile"])
                await db.execute(
                    "UPDATE transactions SET status = 'dialing', attempts = attempts + 1, "
                    "updated_at = ? WHERE id = ?", (stamp, row["id"]))
                cur = await db.execute(
                    "INSERT INTO attempts (transaction_id, number, node, trunk, started_at) "
                    "VALUES (?, ?, ?, ?, ?)", (row["id"], row["mobile"], node, trunk, stamp))
                assert cur.lastrowid is not None
                claimed.append(Attempt(cur.lastrowid, row["id"], row["mobile"], now,
                                       row["language"], trunk=trunk))
        return claimed

    # ------------------------------------------------------------------ sampling

    async def unsampled(self, limit: int = 50_000) -> list[dict[str, Any]]:
        """Return pending transactions not yet put through a day's sample, oldest visit first."""
        async with self._db.execute(
                "SELECT id, office, official, visited_at FROM transactions "
                "INDEXED BY transactions_unsampled WHERE sampled = 0 AND status = 'pending' "
                "ORDER BY visited_at, id LIMIT ?", (limit,)) as cur:
            rows = [dict(r) for r in await cur.fetchall()]
        for r in rows:
            r["visited_at"] = parse_ts(r["visited_at"])
        return rows

    async def intake_counts(self, start: datetime, end: datetime) -> tuple[int, int, int]:
        """Return (visits, already sampled, selected) for visits in [start, end)."""
        async with self._db.execute(
                "SELECT COUNT(*), COALESCE(SUM(sampled), 0), "
                "COALESCE(SUM(sampled = 1 AND COALESCE(closed_reason, '') != 'not_sampled'), 0) "
                "FROM transactions WHERE visited_at >= ? AND visited_at < ?",
                (ts(start), ts(end))) as cur:
            row = await cur.fetchone()
        assert row is not None
        return int(row[0]), int(row[1]), int(row[2])

    async def apply_sample(self, chosen: dict[int, float], left_out: Iterable[int],
                           now: datetime) -> None:
        """Mark a batch sampled in one transaction: chosen ones keep their place in the queue
        with their selection probability; the others close as expired (not_sampled)."""
        stamp = ts(now)
        async with self._write() as db:
            await db.executemany(
                "UPDATE transactions SET sampled = 1, selection_probability = ?, updated_at = ? "
                "WHERE id = ? AND sampled = 0", [(p, stamp, i) for i, p in chosen.items()])
            await db.executemany(
                "UPDATE transactions SET sampled = 1, status = 'expired', "
                "closed_reason = 'not_sampled', updated_at = ? "
                "WHERE id = ? AND sampled = 0 AND status = 'pending'",
                [(stamp, i) for i in left_out])

    @staticmethod
    async def _surveyed_since(db: aiosqlite.Connection, mobile: str, tx_id: int,
                              since: datetime) -> bool:
        async with db.execute(
            "SELECT 1 FROM transactions o JOIN attempts a ON a.transaction_id = o.id "
            "WHERE o.mobile = ? AND o.id != ? AND a.answered_at >= ? LIMIT 1",
            (mobile, tx_id, ts(since))) as cur:
            return await cur.fetchone() is not None

    async def live_summary(self, now: datetime, day_start: datetime) -> dict[str, Any]:
        """Return what an operator watches: statuses, due now, in flight per node, today's outcomes."""
        summary: dict[str, Any] = {"statuses": await self.status_counts()}
        async with self._db.execute(
                "SELECT COUNT(*), MIN(next_try_at) FROM transactions "
                "WHERE status IN ('pending', 'scheduled')") as cur:
            waiting, next_at = await cur.fetchone()  # type: ignore[misc]
        async with self._db.execute(
                "SELECT COUNT(*) FROM transactions WHERE status IN ('pending', 'scheduled') "
                "AND next_try_at <= ?", (ts(now),)) as cur:
            due = (await cur.fetchone())[0]  # type: ignore[index]
        summary.update(waiting=waiting, due_now=due, next_due_at=next_at)
        async with self._db.execute(
                "SELECT node, COUNT(*) FROM attempts WHERE ended_at IS NULL GROUP BY node") as cur:
            summary["in_flight_by_node"] = {r[0] or "-": r[1] for r in await cur.fetchall()}
        async with self._db.execute(
                "SELECT trunk, COUNT(*) FROM attempts WHERE ended_at IS NULL GROUP BY trunk") as cur:
            summary["in_flight_by_trunk"] = {r[0] or "-": r[1] for r in await cur.fetchall()}
        async with self._db.execute(
                "SELECT trunk, COUNT(*) FROM attempts WHERE started_at >= ? GROUP BY trunk",
                (ts(day_start),)) as cur:
            summary["attempts_today_by_trunk"] = {r[0] or "-": r[1] for r in await cur.fetchall()}
        async with self._db.execute(
                "SELECT COALESCE(outcome, 'in_progress'), COUNT(*) FROM attempts "
                "WHERE started_at >= ? GROUP BY 1", (ts(day_start),)) as cur:
            summary["attempts_today"] = {r[0]: r[1] for r in await cur.fetchall()}
        async with self._db.execute(
                "SELECT COALESCE(result, 'in_call'), COUNT(*) FROM attempts "
                "WHERE answered_at >= ? GROUP BY 1", (ts(day_start),)) as cur:
            summary["surveys_today"] = {r[0]: r[1] for r in await cur.fetchall()}
        return summary

    # ------------------------------------------------------------------ do-not-call

    async def dnc_add(self, numbers: Iterable[str], source: str, now: datetime,
                      note: str = "") -> int:
        """Put numbers (E.164) on the do-not-call list; return how many were new."""
        rows = [(n, source, ts(now), note) for n in numbers]
        async with self._write() as db:
            before = db.total_changes
            await db.executemany(
                "INSERT INTO dnc (number, source, added_at, note) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (number) DO NOTHING", rows)
            return db.total_changes - before

    async def dnc_add_for_attempt(self, attempt_id: int, source: str, now: datetime,
                                  note: str = "") -> bool:
        """Put the number of an attempt's transaction on the do-not-call list; True if new."""
        async with self._write() as db:
            cur = await db.execute(
                "INSERT INTO dnc (number, source, added_at, note) SELECT t.mobile, ?, ?, ? "
                "FROM attempts a JOIN transactions t ON t.id = a.transaction_id WHERE a.id = ? "
                "ON CONFLICT (number) DO NOTHING", (source, ts(now), note, attempt_id))
            return cur.rowcount == 1

    async def dnc_remove(self, number: str) -> bool:
        """Take a number off the do-not-call list."""
        async with self._write() as db:
            cur = await db.execute("DELETE FROM dnc WHERE number = ?", (number,))
            return cur.rowcount == 1

    async def dnc_list(self) -> list[dict[str, Any]]:
        """Return the do-not-call list, newest first."""
        async with self._db.execute(
                "SELECT number, source, added_at, note FROM dnc ORDER BY added_at DESC") as cur:
            return [dict(r) for r in await cur.fetchall()]

    async def next_due_at(self) -> datetime | None:
        """Return when the earliest waiting transaction becomes due, or None."""
        async with self._db.execute(
            "SELECT MIN(next_try_at) FROM transactions WHERE status IN ('pending', 'scheduled')"
        ) as cur:
            row = await cur.fetchone()
        return parse_ts(row[0]) if row else None

    async def status_counts(self) -> dict[str, int]:
        """Return how many transactions are in each status."""
        async with self._db.execute(
            "SELECT status, COUNT(*) FROM transactions GROUP BY status") as cur:
            return {r[0]: r[1] for r in await cur.fetchall()}

    async def attempt_answered(self, attempt_id: int, now: datetime) -> None:
        """Record that the citizen picked up (from AMI or from the FastAGI session)."""
        stamp = ts(now)
        await self._tx([
            ("UPDATE attempts SET outcome = 'answered', answered_at = COALESCE(answered_at, ?) "
             "WHERE id = ? AND ended_at IS NULL", (stamp, attempt_id)),
            ("UPDATE transactions SET status = 'in_call', last_outcome = 'answered', "
             "updated_at = ? WHERE id = (SELECT transaction_id FROM attempts WHERE id = ?) "
             "AND status = 'dialing'", (stamp, attempt_id)),
        ])

    async def attempt_failed(self, attempt_id: int, outcome: Outcome, now: datetime, *,
                             next_status: TxStatus, next_try_at: datetime | None,
                             reason: int | None = None, cause: int | None = None) -> bool:
        """Close an unanswered attempt and move its transaction on; False if it was answered."""
        stamp = ts(now)
        async with self._write() as db:
            cur = await db.execute(
                "UPDATE attempts SET outcome = ?, reason = ?, cause = ?, ended_at = ? "
                "WHERE id = ? AND answered_at IS NULL AND ended_at IS NULL",
                (outcome.value, reason, cause, stamp, attempt_id))
            if cur.rowcount != 1:
                return False  # answered, or already closed: a stale report changes nothing
            cur = await db.execute(
                "UPDATE transactions SET status = ?, last_outcome = ?, next_try_at = ?, "
                "updated_at = ? WHERE id = (SELECT transaction_id FROM attempts WHERE id = ?) "
                "AND status = 'dialing'",
                (next_status.value, outcome.value, ts(next_try_at) if next_try_at else stamp,
                 stamp, attempt_id))
            return cur.rowcount == 1

    async def attempt_not_sent(self, attempt_id: int, now: datetime) -> None:
        """Undo an attempt whose Originate was never sent: no dial happened, none is counted."""
        async with self._write() as db:
            cur = await db.execute(
                "DELETE FROM attempts WHERE id = ? AND answered_at IS NULL "
                "AND NOT EXISTS (SELECT 1 FROM answers WHERE attempt_id = ?) "
                "RETURNING transaction_id", (attempt_id, attempt_id))
            row = await cur.fetchone()
            if row is not None:
                await db.execute(
                    "UPDATE transactions SET status = 'scheduled', attempts = attempts - 1, "
                    "next_try_at = ?, updated_at = ? WHERE id = ? AND status = 'dialing'",
                    (ts(now), ts(now), row[0]))

    async def open_attempts(self) -> list[tuple[int, int, str, bool]]:
        """Return (attempt id, transaction attempts, status, answered) of attempts not ended."""
        async with self._db.execute(
            "SELECT a.id, t.attempts, t.status, a.answered_at IS NOT NULL FROM attempts a "
            "JOIN transactions t ON t.id = a.transaction_id WHERE a.ended_at IS NULL "
            "ORDER BY a.id") as cur:
            return [(r[0], r[1], r[2], bool(r[3])) for r in await cur.fetchall()]

    async def attempt_row(self, attempt_id: int) -> Attempt:
        """Return one attempt as the dialer knows it."""
        async with self._db.execute(
            "SELECT a.id, a.transaction_id, a.number, a.started_at, t.language, a.trunk "
            "FROM attempts a JOIN transactions t ON t.id = a.transaction_id WHERE a.id = ?",
            (attempt_id,)) as cur:
            r = await cur.fetchone()
        if r is None:
            raise StoreError(f"no attempt {attempt_id}")
        started = parse_ts(r[3])
        assert started is not None
        return Attempt(r[0], r[1], r[2], started, r[4], trunk=r[5])

    # ------------------------------------------------------------------ survey

    async def survey_started(self, attempt_id: int, now: datetime) -> SurveyContext:
        """Mark the call answered and return what the flow needs; StoreError if unknown."""
        await self.attempt_answered(attempt_id, now)
        async with self._db.execute(
            "SELECT a.id, t.id, t.office, t.service, t.district, t.visited_at, t.language, "
            "t.status FROM attempts a JOIN transactions t ON t.id = a.transaction_id "
            "WHERE a.id = ?", (attempt_id,)) as cur:
            row = await cur.fetchone()
        if row is None:
            raise StoreError(f"no attempt {attempt_id}")
        return SurveyContext(row[0], row[1], row[2], row[3], row[4], parse_ts(row[5]) or now,
                             row[6], TxStatus(row[7]))

    async def save_answer(self, attempt_id: int, question: str, value: str,
                          now: datetime, *, survey: str | None = None,
                          survey_version: int | None = None,
                          prompts: Sequence[str] = ()) -> None:
        """Store one answer the moment it is given (a later answer to the same question wins).

        survey, survey_version: the definition that asked; prompts: the prompt ids played.
        """
        await self._tx([(
            "INSERT INTO answers (attempt_id, transaction_id, question, value, answered_at, "
            "survey, survey_version, prompts) "
            "SELECT ?, transaction_id, ?, ?, ?, ?, ?, ? FROM attempts WHERE id = ? "
            "ON CONFLICT (attempt_id, question) DO UPDATE SET value = excluded.value, "
            "answered_at = excluded.answered_at, survey = excluded.survey, "
            "survey_version = excluded.survey_version, prompts = excluded.prompts",
            (attempt_id, question, value, ts(now), survey, survey_version,
             json.dumps(list(prompts)), attempt_id))])

    async def answer_rows(self, attempt_id: int) -> list[dict[str, Any]]:
        """Return the answer rows of one attempt, in the order given, with their stamps."""
        async with self._db.execute(
            "SELECT question, value, answered_at, survey, survey_version, prompts FROM answers "
            "WHERE attempt_id = ? ORDER BY id", (attempt_id,)) as cur:
            rows = [dict(r) for r in await cur.fetchall()]
        for r in rows:
            r["prompts"] = json.loads(r["prompts"])
        return rows

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
        async with self._write() as db:
            cur = await db.execute(
                "UPDATE attempts SET ended_at = ?, result = ?, cause = COALESCE(cause, ?) "
                "WHERE id = ? AND ended_at IS NULL AND answered_at IS NOT NULL",
                (stamp, result.value, cause, attempt_id))
            changed = cur.rowcount == 1
            if changed:
                callback = 1 if status is TxStatus.SCHEDULED else 0
                await db.execute(
                    "UPDATE transactions SET status = ?, updated_at = ?, "
                    "callbacks = callbacks + ?, next_try_at = COALESCE(?, next_try_at), "
                    "closed_reason = COALESCE(?, closed_reason) "
                    "WHERE id = (SELECT transaction_id FROM attempts WHERE id = ?) "
                    f"AND status NOT IN {_FINAL}",
                    (status.value, stamp, callback, ts(next_try_at) if next_try_at else None,
                     closed_reason, attempt_id))
        return changed

    async def set_language(self, transaction_id: int, language: str, now: datetime) -> bool:
        """Store the language a citizen chose on the call; False if the transaction is unknown."""
        async with self._write() as db:
            cur = await db.execute(
                "UPDATE transactions SET language = ?, updated_at = ? WHERE id = ?",
                (language, ts(now), transaction_id))
            return cur.rowcount == 1

    async def attempt_counts(self, attempt_id: int) -> tuple[int, int]:
        """Return (attempts, call-backs used) of the transaction an attempt belongs to."""
        async with self._db.execute(
            "SELECT t.attempts, t.callbacks FROM attempts a JOIN transactions t "
            "ON t.id = a.transaction_id WHERE a.id = ?", (attempt_id,)) as cur:
            row = await cur.fetchone()
        if row is None:
            raise StoreError(f"no attempt {attempt_id}")
        return int(row[0]), int(row[1])

    async def answers_for_attempt(self, attempt_id: int) -> dict[str, str]:
        """Return the answers given during one attempt."""
        async with self._db.execute(
            "SELECT question, value FROM answers WHERE attempt_id = ? ORDER BY id",
            (attempt_id,)) as cur:
            return {r[0]: r[1] for r in await cur.fetchall()}

    # ------------------------------------------------------------------ reading

    async def transaction(self, office: str, ref: str) -> Transaction | None:
        """Return one transaction by its office reference."""
        async with self._db.execute(
            "SELECT * FROM transactions WHERE office = ? AND ref = ?", (office, ref)) as cur:
            row = await cur.fetchone()
        return _tx_from_row(row) if row else None

    async def attempts_of(self, transaction_id: int) -> list[dict[str, Any]]:
        """Return the attempt rows of one transaction, oldest first."""
        async with self._db.execute(
            "SELECT * FROM attempts WHERE transaction_id = ? ORDER BY id",
            (transaction_id,)) as cur:
            return [dict(r) for r in await cur.fetchall()]

    async def results(self) -> list[dict[str, Any]]:
        """Return one row per transaction with its answers (the latest per question)."""
        sql = """
            SELECT t.office, t.ref, t.district, t.service, t.official, t.status, t.attempts,
                   t.last_outcome, t.visited_at, t.language, t.closed_reason,
                   t.selection_probability,
                   EXISTS (SELECT 1 FROM attempts a WHERE a.transaction_id = t.id
                           AND a.answered_at IS NOT NULL) AS answered,
                   (SELECT json_group_object(question, value) FROM (
                        SELECT question, value, MAX(id) FROM answers
                        WHERE transaction_id = t.id GROUP BY question)) AS answers
            FROM transactions t ORDER BY t.office, t.ref"""
        async with self._db.execute(sql) as cur:
            rows = await cur.fetchall()
        out = []
        for r in rows:
            d = dict(r)
            d["answers"] = json.loads(d["answers"] or "{}")
            d["answered"] = bool(d["answered"])
            out.append(d)
        return out


def _tx_from_row(row: Any) -> Transaction:
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


async def open_store(path: Path) -> SQLiteStore:
    """Open the embedded store at path."""
    return await SQLiteStore.open(path)
