"""Store, PostgreSQL: the Database for a country's cluster (asyncpg, a pool per process).

The repositories' SQL is the same as on SQLite: `?` placeholders are numbered here ($1, $2...),
timestamps are the same sortable UTC text. Write transactions are READ COMMITTED; the claim
locks its rows FOR UPDATE SKIP LOCKED, so several engine workers share one database. Migrations
are ivr/store/migrations/postgresql/NNNN_*.sql, applied under an advisory lock (two workers
starting at once do not both migrate).

PostgreSQL restarting (or failing over) while the engine runs: a read, or a write transaction
that cannot start, waits for the server (up to `reconnect_wait` seconds, logged once as
"unreachable ... waiting" and once as "back after"), then goes on. A connection whose statement
ended in anything but the server's own error answer (the server gone, asyncpg's protocol out of
step with it: `InternalClientError: cannot switch to state 12; another operation (2) is in
progress`, which a server's FATAL arriving at an idle pooled connection leaves behind, or the
task cancelled mid-statement) is terminated, never pooled again. A statement cut off that way
inside a write transaction is a StoreConnectionLost for that step (its transaction rolled back
with the connection, so nothing half done); `transact()` runs such a transaction once more on
a fresh connection, since none of it committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import asyncpg

from ivr.errors import StoreConnectionLost, StoreError
from ivr.store.database import Database, DatabaseUrl, Row, Tx, ts

log = logging.getLogger(__name__)
_T = TypeVar("_T")


class _OneLine(logging.Filter):
    """asyncpg's pool logs each failed reconnect while the server is away with a traceback;
    the store says what happened itself, so the pool's warning keeps one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            record.msg = f"{record.getMessage()}: {record.exc_info[1]}"
            record.args = None
            record.exc_info = record.exc_text = None
        return True


logging.getLogger("asyncpg.pool").addFilter(_OneLine())

_MIGRATION_LOCK = 0x5261627461  # pg_advisory_xact_lock key: "Rabta"
RECONNECT_WAIT_S = 60.0  # how long a read or a new transaction waits for PostgreSQL to return
_TOKENS = re.compile(r"'(?:[^']|'')*'|\?")  # string literals pass through; ? is a placeholder
# Errors that mean the server is gone (restart, failover, network), not a bad statement.
_GONE = (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError,
         asyncpg.CannotConnectNowError, asyncpg.AdminShutdownError, asyncpg.CrashShutdownError)


def _lost(exc: BaseException) -> bool:
    """Whether exc means the connection cannot be trusted any more: the server gone, or asyncpg
    out of step with it (InternalClientError). Not a bad argument: asyncpg's client-side
    DataError is an InterfaceError too, and a ValueError."""
    return (isinstance(exc, (*_GONE, asyncpg.InternalClientError))
            and not isinstance(exc, ValueError))


@functools.lru_cache(maxsize=2048)
def numbered(sql: str) -> str:
    """Turn the repositories' `?` placeholders into PostgreSQL's $1, $2, ..."""
    n = 0

    def sub(m: re.Match[str]) -> str:
        nonlocal n
        if m.group(0) != "?":
            return m.group(0)
        n += 1
        return f"${n}"
    return _TOKENS.sub(sub, sql)


def _why(exc: BaseException) -> str:
    """What broke, in one line: the driver's own message under a StoreConnectionLost."""
    cause = exc.__cause__ if isinstance(exc, StoreConnectionLost) and exc.__cause__ else exc
    return str(cause) or type(cause).__name__


def _count(status: str) -> int:
    """The row count of a command status: 'UPDATE 3', 'INSERT 0 1', 'DELETE 0', 'SELECT 1'."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


class _Lease:
    """One pooled connection, held for a read or a write transaction.

    A statement that ends in anything but the server's own error answer (the connection lost,
    asyncpg out of step, the task cancelled mid-statement) marks the connection cut: release()
    then terminates it instead of pooling it again.
    """

    def __init__(self, conn: asyncpg.Connection, db: PostgresDatabase) -> None:
        self.conn = conn
        self.db = db
        self.cut = False
        self.committing = False

    @contextlib.contextmanager
    def step(self) -> Iterator[None]:
        """Run one statement: the driver's errors become StoreError (StoreConnectionLost if the
        connection broke); the connection is marked cut unless the statement ended in step."""
        if self.cut:
            raise StoreConnectionLost(f"{self.db.url}: lost the connection to PostgreSQL "
                                      f"earlier in this transaction")
        in_step = False
        try:
            yield
            in_step = True
        except asyncpg.PostgresError as exc:
            if _lost(exc):
                raise self.db.lost(exc, maybe_committed=self.committing) from exc
            in_step = not self.conn.is_closed()  # the server answered: still in step
            raise StoreError(f"{self.db.url}: {exc}") from exc
        except (*_GONE, asyncpg.InternalClientError) as exc:
            if _lost(exc):
                raise self.db.lost(exc, maybe_committed=self.committing) from exc
            raise StoreError(f"{self.db.url}: {exc}") from exc  # a bad argument
        finally:
            if not in_step:
                self.cut = True

    async def release(self) -> None:
        """Give the connection back to the pool, or terminate it if it was cut."""
        if self.cut:
            log.debug("store: dropping a broken connection to PostgreSQL at %s", self.db.url)
            # Frees its place in the pool (a new one is made on demand). A connection the
            # server closed has already given its place back: its proxy says so.
            with contextlib.suppress(asyncpg.InterfaceError):
                self.conn.terminate()
        try:
            await self.db.pool.release(self.conn)
        except Exception as exc:  # the pool terminates one it cannot reset
            log.debug("store: a connection to %s could not be reset (%s); dropped",
                      self.db.url, exc)


class _PgTx(_Lease):
    def __init__(self, conn: asyncpg.Connection, db: PostgresDatabase) -> None:
        super().__init__(conn, db)
        self.tr = conn.transaction()

    async def begin(self) -> None:
        with self.step():
            await self.tr.start()

    async def commit(self) -> None:
        self.committing = True
        with self.step():
            await self.tr.commit()

    async def rollback(self) -> None:
        """Roll back; a cut connection is not asked (its transaction ends with it)."""
        if self.cut:
            return
        done = False
        try:
            await self.tr.rollback()
            done = True
        except Exception as exc:  # whatever it was, the connection is not reused
            log.debug("store: rollback on %s failed (%s)", self.db.url, exc)
        finally:
            if not done:
                self.cut = True

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        with self.step():
            return _count(await self.conn.execute(numbered(sql), *args))

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> int:
        total = 0
        with self.step():
            stmt = await self.conn.prepare(numbered(sql))
            for row in rows:
                await stmt.fetch(*row)
                total += _count(stmt.get_statusmsg())
        return total

    async def fetch(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        with self.step():
            return list(await self.conn.fetch(numbered(sql), *args))

    async def fetchone(self, sql: str, args: Sequence[Any] = ()) -> Row | None:
        with self.step():
            row: Row | None = await self.conn.fetchrow(numbered(sql), *args)
            return row

    async def defer(self, sql: str, args: Sequence[Any] = ()) -> None:
        await self.execute(sql, args)  # one round trip per statement either way

    async def fetch_many(self, queries: Sequence[tuple[str, Sequence[Any]]]) -> list[list[Row]]:
        return [await self.fetch(q, a) for q, a in queries]

    async def fetch_last(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        return await self.fetch(sql, args)  # the commit is a round trip of its own here


class PostgresDatabase(Database):
    """A pool of connections to one PostgreSQL database."""

    dialect = "postgresql"

    def __init__(self, pool: asyncpg.Pool, url: DatabaseUrl,
                 reconnect_wait: float = RECONNECT_WAIT_S) -> None:
        self.pool = pool
        self.url = url
        self.reconnect_wait = reconnect_wait
        self._down_since: float | None = None  # monotonic time the server was first missed

    @classmethod
    async def open(cls, url: DatabaseUrl, *, migrate: bool = True, min_size: int = 1,
                   max_size: int = 10) -> PostgresDatabase:
        """Connect a pool (StoreError naming the server if it cannot) and, unless told not
        to, migrate."""
        try:
            pool = await asyncpg.create_pool(url.dsn, min_size=min_size, max_size=max_size,
                                             command_timeout=60)
        except (*_GONE, asyncpg.PostgresError) as exc:
            raise StoreError(f"{url}: cannot connect to PostgreSQL: "
                             f"{exc or type(exc).__name__}") from None
        assert pool is not None
        db = cls(pool, url)
        if migrate:
            try:
                await db.migrate()
            except BaseException:
                await pool.close()
                raise
        return db

    def lost(self, exc: BaseException, *, maybe_committed: bool = False) -> StoreConnectionLost:
        """The StoreConnectionLost a broken connection's error becomes (naming the database,
        never its password)."""
        return StoreConnectionLost(f"{self.url}: lost the connection to PostgreSQL: "
                                   f"{exc or type(exc).__name__}",
                                   maybe_committed=maybe_committed)

    @contextlib.contextmanager
    def errors(self) -> Iterator[None]:
        """Turn the driver's errors into StoreError (naming the database, never its password)."""
        try:
            yield
        except (*_GONE, asyncpg.InternalClientError) as exc:
            if _lost(exc):
                raise self.lost(exc) from exc
            raise StoreError(f"{self.url}: {exc}") from exc
        except asyncpg.PostgresError as exc:
            raise StoreError(f"{self.url}: {exc}") from exc

    async def _patiently(self, op: Callable[[], Awaitable[_T]]) -> _T:
        """Run op; if its connection broke, run it again at once on a fresh one (the pool may
        hold one that broke while idle); while the server is gone (restart, failover), wait
        for it and run op again, up to reconnect_wait seconds, then StoreError. op must be safe
        to repeat."""
        fresh_tried = False
        while True:
            try:
                result = await op()
            except StoreConnectionLost as exc:
                if not fresh_tried:
                    fresh_tried = True
                    continue
                now = time.monotonic()
                if self._down_since is None:
                    self._down_since = now
                    log.error("store: PostgreSQL at %s unreachable (%s); waiting up to %.0f s "
                              "for it to come back", self.url, _why(exc), self.reconnect_wait)
                if now - self._down_since >= self.reconnect_wait:
                    raise StoreError(str(exc)) from exc  # not to be retried again by transact
                await asyncio.sleep(min(1.0, self.reconnect_wait))
                continue
            if self._down_since is not None:
                log.warning("store: PostgreSQL at %s back after %.1f s; resuming", self.url,
                            time.monotonic() - self._down_since)
                self._down_since = None
            return result

    async def _lease(self) -> _Lease:
        with self.errors():
            return _Lease(await self.pool.acquire(), self)

    async def _begin(self) -> _PgTx:
        """A pooled connection in a new transaction (a broken one is terminated)."""
        with self.errors():
            tx = _PgTx(await self.pool.acquire(), self)
        begun = False
        try:
            await tx.begin()
            begun = True
        finally:
            if not begun:
                await tx.release()
        return tx

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[Tx]:
        tx = await self._patiently(self._begin)
        try:
            try:
                yield tx
            except BaseException:
                await tx.rollback()
                raise
            await tx.commit()
        finally:
            await tx.release()

    async def transact(self, body: Callable[[Tx], Awaitable[_T]], *,
                       idempotent: bool = False) -> _T:
        try:
            async with self.write() as tx:
                return await body(tx)
        except StoreConnectionLost as exc:
            if exc.maybe_committed and not idempotent:
                raise
            log.warning("store: %s; running the transaction again on a fresh connection", exc)
        async with self.write() as tx:
            return await body(tx)

    async def _read(self, sql: str, args: Sequence[Any]) -> list[Row]:
        lease = await self._lease()
        try:
            with lease.step():
                return list(await lease.conn.fetch(numbered(sql), *args))
        finally:
            await lease.release()

    async def fetch(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        return await self._patiently(lambda: self._read(sql, args))

    async def close(self) -> None:
        await self.pool.close()

    async def tables(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for r in await self.fetch(
                "SELECT table_name, column_name FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND table_name != 'schema_migrations' "
                "ORDER BY table_name, ordinal_position"):
            out.setdefault(r[0], []).append(r[1])
        return out

    async def bulk_insert(self, table: str, columns: Sequence[str],
                          rows: Sequence[Sequence[Any]]) -> None:
        """COPY the rows in (row triggers fire, as for INSERT)."""
        with self.errors():
            async with self.pool.acquire() as conn, conn.transaction():
                with contextlib.suppress(ValueError):  # COPY is binary; citext's is text's
                    await conn.set_type_codec(
                        "citext", schema=await conn.fetchval("SELECT current_schema()"),
                        encoder=lambda v: str(v).encode(), decoder=bytes.decode,
                        format="binary")
                await conn.copy_records_to_table(table, columns=list(columns),
                                                 records=[tuple(r) for r in rows])

    async def reset_ids(self, table: str) -> None:
        """Move the table's id sequence past the largest id (the table must have an id)."""
        with self.errors():
            await self.pool.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT COALESCE(MAX(id), 0) + 1 FROM {table}), false) "
                f"WHERE pg_get_serial_sequence('{table}', 'id') IS NOT NULL")

    async def applied_migrations(self) -> dict[int, str]:
        with self.errors():
            await self.pool.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")
            return {r[0]: r[1] for r in await self.pool.fetch(
                "SELECT version, applied_at FROM schema_migrations")}

    async def migrate(self) -> list[int]:
        applied = []
        with self.errors():
            async with self.pool.acquire() as conn:
                for file in self.migration_files():
                    version = int(file.name[:4])
                    async with conn.transaction():
                        await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
                        await conn.execute(
                            "CREATE TABLE IF NOT EXISTS schema_migrations "
                            "(version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")
                        if await conn.fetchval(
                                "SELECT 1 FROM schema_migrations WHERE version = $1", version):
                            continue
                        try:
                            await conn.execute(file.read_text())
                        except asyncpg.PostgresError as exc:
                            raise StoreError(f"migration postgresql/{file.name} failed: "
                                             f"{exc}") from None
                        await conn.execute("INSERT INTO schema_migrations VALUES ($1, $2)",
                                           version, ts(datetime.now(UTC)))
                    log.info("store: applied migration postgresql/%s", file.name)
                    applied.append(version)
        return applied
