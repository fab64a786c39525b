"""A pooled PostgreSQL connection that breaks (the server gone, asyncpg out of step with it, a
statement interrupted) is terminated, never pooled again; the caller gets a StoreError, or the
transaction runs once more on a fresh connection when that is safe (nothing of it committed, or
the caller says it is idempotent). Against a fake pool, so each way of breaking is certain;
tests/unit/test_pg_restart.py does the same against a real server.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import asyncpg
import pytest

from ivr.errors import StoreConnectionLost, StoreError
from ivr.store.database import Tx, parse_url
from ivr.store.postgres import PostgresDatabase

OUT_OF_STEP = asyncpg.InternalClientError(
    "cannot switch to state 12; another operation (2) is in progress")
Fault = Callable[[str], BaseException | None]  # the statement -> what it raises (None: runs)


class FakeConn:
    """One pooled connection; `fault` says what a statement raises."""

    def __init__(self, n: int, fault: Fault | None = None) -> None:
        self.n = n
        self.fault = fault
        self.ran: list[str] = []
        self.terminated = False
        self.detached = False
        self.committed: list[list[str]] = []
        self._pending: list[str] = []

    async def _run(self, sql: str) -> None:
        if self.terminated:
            raise asyncpg.InterfaceError("connection has been released back to the pool")
        self.ran.append(sql)
        exc = self.fault(sql) if self.fault else None
        if exc is not None:
            if isinstance(exc, OSError | asyncpg.PostgresConnectionError):
                self.detached = True  # as asyncpg's connection_lost: back to the pool already
            raise exc
        if sql == "BEGIN":
            self._pending = []
        elif sql == "COMMIT":
            self.committed.append(self._pending)
        elif sql != "ROLLBACK":
            self._pending.append(sql)

    def transaction(self) -> FakeTr:
        return FakeTr(self)

    async def execute(self, sql: str, *args: Any) -> str:
        await self._run(sql)
        return "INSERT 0 1"

    async def fetch(self, sql: str, *args: Any) -> list[tuple[int]]:
        await self._run(sql)
        return [(self.n,)]

    async def fetchrow(self, sql: str, *args: Any) -> tuple[int]:
        await self._run(sql)
        return (self.n,)

    def is_closed(self) -> bool:
        return self.terminated

    def terminate(self) -> None:
        if self.detached:  # asyncpg's PoolConnectionProxy after the server closed it
            raise asyncpg.InterfaceError("cannot call Connection.terminate(): connection has "
                                         "been released back to the pool")
        self.terminated = True


class FakeTr:
    def __init__(self, conn: FakeConn) -> None:
        self.conn = conn

    async def start(self) -> None:
        await self.conn._run("BEGIN")

    async def commit(self) -> None:
        await self.conn._run("COMMIT")

    async def rollback(self) -> None:
        await self.conn._run("ROLLBACK")


class FakePool:
    """Hands out the given connections in order, then healthy ones; records releases."""

    def __init__(self, *conns: FakeConn) -> None:
        self.queue = list(conns)
        self.made: list[FakeConn] = []
        self.pooled: list[FakeConn] = []  # released while still usable

    async def acquire(self) -> FakeConn:
        conn = self.queue.pop(0) if self.queue else FakeConn(100 + len(self.made))
        self.made.append(conn)
        return conn

    async def release(self, conn: FakeConn) -> None:
        if not conn.terminated and not conn.detached:
            self.pooled.append(conn)


def fails_once(on: str, exc: BaseException) -> Fault:
    """A fault: the first statement starting with `on` raises exc; everything else runs."""
    fired: list[bool] = []

    def fault(sql: str) -> BaseException | None:
        if sql.startswith(on) and not fired:
            fired.append(True)
            return exc
        return None
    return fault


def db_over(pool: FakePool, reconnect_wait: float = 0.2) -> PostgresDatabase:
    return PostgresDatabase(pool, parse_url("postgresql://rabta@db1/rabta"),  # type: ignore[arg-type]
                            reconnect_wait=reconnect_wait)


async def insert(tx: Tx) -> int:
    return await tx.execute("INSERT INTO answers VALUES (?)", (1,))


async def test_an_out_of_step_connection_mid_transaction_is_dropped_and_the_write_runs_again(
        caplog: pytest.LogCaptureFixture) -> None:
    broken = FakeConn(1, fails_once("INSERT", OUT_OF_STEP))
    pool = FakePool(broken)
    with caplog.at_level(logging.WARNING, logger="ivr.store.postgres"):
        assert await db_over(pool).transact(insert) == 1
    assert broken.terminated and broken not in pool.pooled  # never handed out again
    fresh = pool.made[1]
    assert fresh.committed == [["INSERT INTO answers VALUES ($1)"]]  # landed once, fresh
    assert broken.committed == []
    said = [r.getMessage() for r in caplog.records]
    assert any("running the transaction again on a fresh connection" in m for m in said), said
    assert not any(r.exc_info for r in caplog.records)


async def test_a_connection_broken_while_idle_in_the_pool_is_replaced_before_begin() -> None:
    stale = FakeConn(1, fails_once("BEGIN", OUT_OF_STEP))
    pool = FakePool(stale)
    async with db_over(pool).write() as tx:  # plain write(): no error reaches the caller
        await insert(tx)
    assert stale.terminated and stale not in pool.pooled
    assert pool.made[1].committed == [["INSERT INTO answers VALUES ($1)"]]
    assert pool.pooled == [pool.made[1]]


@pytest.mark.parametrize("exc", [
    OUT_OF_STEP,
    asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
    asyncpg.AdminShutdownError("terminating connection due to administrator command"),
    ConnectionResetError(104, "Connection reset by peer"),
])
async def test_in_plain_write_a_broken_statement_is_a_store_error_and_the_connection_goes(
        exc: BaseException) -> None:
    broken = FakeConn(1, fails_once("INSERT", exc))
    pool = FakePool(broken)
    with pytest.raises(StoreConnectionLost, match="lost the connection to PostgreSQL") as err:
        async with db_over(pool).write() as tx:
            await insert(tx)
    assert not err.value.maybe_committed
    assert (broken.terminated or broken.detached) and broken not in pool.pooled
    assert "ROLLBACK" not in broken.ran  # a broken connection is not asked for anything more


async def test_a_commit_cut_off_is_not_run_again_unless_the_write_is_idempotent() -> None:
    cut = FakeConn(1, fails_once("COMMIT", OUT_OF_STEP))
    pool = FakePool(cut)
    with pytest.raises(StoreConnectionLost) as err:  # it may have landed: not run twice
        await db_over(pool).transact(insert)
    assert err.value.maybe_committed and cut.terminated
    assert len(pool.made) == 1

    cut = FakeConn(1, fails_once("COMMIT", OUT_OF_STEP))
    pool = FakePool(cut)
    assert await db_over(pool).transact(insert, idempotent=True) == 1
    assert cut.terminated and pool.made[1].committed == [["INSERT INTO answers VALUES ($1)"]]


async def test_a_transaction_broken_twice_is_a_store_error_for_the_caller() -> None:
    pool = FakePool(FakeConn(1, fails_once("INSERT", OUT_OF_STEP)),
                    FakeConn(2, fails_once("INSERT", OUT_OF_STEP)))
    with pytest.raises(StoreError, match="lost the connection"):
        await db_over(pool).transact(insert)
    assert all(c.terminated for c in pool.made) and not pool.pooled


async def test_a_statement_interrupted_mid_way_leaves_its_connection_terminated() -> None:
    started = asyncio.Event()

    async def hang(tx: Tx) -> int:
        started.set()
        return await tx.execute("SELECT pg_sleep(60)")

    conn = FakeConn(1)
    original = conn._run

    async def slow(sql: str) -> None:
        await original(sql)
        if "pg_sleep" in sql:
            await asyncio.sleep(60)
    conn._run = slow  # type: ignore[method-assign]
    pool = FakePool(conn)
    task = asyncio.create_task(db_over(pool).transact(hang))
    await started.wait()
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert conn.terminated and conn not in pool.pooled  # its answer may still be on the wire


async def test_the_servers_own_error_answer_keeps_the_connection() -> None:
    conn = FakeConn(1, fails_once("INSERT", asyncpg.UniqueViolationError("duplicate key")))
    pool = FakePool(conn)
    with pytest.raises(StoreError, match="duplicate key") as err:
        await db_over(pool).transact(insert)
    assert not isinstance(err.value, StoreConnectionLost)  # a bad statement: not run again
    assert conn.ran[-1] == "ROLLBACK" and not conn.terminated and pool.pooled == [conn]
    assert len(pool.made) == 1


async def test_a_bad_argument_is_a_store_error_at_once_not_a_wait_for_the_server() -> None:
    bad = asyncpg.exceptions._base.DataError("invalid input for query argument $1: 'x'")
    pool = FakePool(FakeConn(1, fails_once("SELECT", bad)))
    async with asyncio.timeout(1):  # reconnect_wait is 60 s: no waiting happened
        with pytest.raises(StoreError, match="invalid input"):
            await db_over(pool, reconnect_wait=60).fetch("SELECT 1")


async def test_a_read_on_a_broken_connection_is_read_again_on_a_fresh_one(
        caplog: pytest.LogCaptureFixture) -> None:
    broken = FakeConn(1, fails_once("SELECT", OUT_OF_STEP))
    pool = FakePool(broken)
    with caplog.at_level(logging.WARNING, logger="ivr.store.postgres"):
        assert await db_over(pool).fetch("SELECT n FROM t") == [(101,)]
    assert broken.terminated and broken not in pool.pooled
    assert not caplog.records  # one broken connection is not the server being away


async def test_a_server_that_stays_away_is_waited_for_then_a_store_error(
        caplog: pytest.LogCaptureFixture) -> None:
    class Down(FakePool):
        async def acquire(self) -> FakeConn:
            raise ConnectionRefusedError(111, "Connect call failed")

    with caplog.at_level(logging.WARNING, logger="ivr.store.postgres"):
        with pytest.raises(StoreError, match="lost the connection to PostgreSQL") as err:
            await db_over(Down(), reconnect_wait=0.3).fetch("SELECT 1")
    assert not isinstance(err.value, StoreConnectionLost)  # given up: transact won't wait again
    said = [r.getMessage() for r in caplog.records]
    assert any("unreachable" in m and "Connect call failed" in m for m in said), said


async def test_a_survey_stopped_by_the_store_is_one_error_line_not_a_traceback(
        caplog: pytest.LogCaptureFixture) -> None:
    from ivr.asterisk.agi.channel import AGIChannel, run_handler

    async def survey(channel: AGIChannel) -> None:
        raise StoreError("postgresql://rabta@db1/rabta: lost the connection to PostgreSQL: x")

    channel = AGIChannel(asyncio.StreamReader(), None,  # type: ignore[arg-type]
                         {"agi_network_script": "survey", "agi_arg_1": "7"})
    log = logging.getLogger("test.fastagi")
    with caplog.at_level(logging.INFO, logger="test.fastagi"):
        assert await run_handler(channel, survey, transport="FastAGI", log=log) == "error"
    [record] = caplog.records
    assert record.levelno == logging.ERROR and record.exc_info is None
    assert "attempt 7: survey stopped, the store failed: " in record.getMessage()
