"""Store, PostgreSQL: the Database for a country's cluster (asyncpg, a pool per process).

The repositories' SQL is the same as on SQLite: `?` placeholders are numbered here ($1, $2...),
timestamps are the same sortable UTC text. Write transactions are READ COMMITTED; the claim
locks its rows FOR UPDATE SKIP LOCKED, so several engine workers share one database. Migrations
are ivr/store/migrations/postgresql/NNNN_*.sql, applied under an advisory lock (two workers
starting at once do not both migrate).

PostgreSQL restarting (or failing over) while the engine runs: a read, or a write transaction
that cannot start, waits for the server (up to `reconnect_wait` seconds, logged once as
"unreachable ... waiting" and once as "back after"), then goes on; a statement cut off inside a
write transaction is a StoreError for that step (its transaction rolled back, so nothing half
done), which the caller retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import asyncpg

from ivr.errors import StoreError
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
         asyncpg.CannotConnectNowError, asyncpg.AdminShutdownError)


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


def _count(status: str) -> int:
    """The row count of a command status: 'UPDATE 3', 'INSERT 0 1', 'DELETE 0', 'SELECT 1'."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


class _PgTx:
    def __init__(self, conn: asyncpg.Connection, db: PostgresDatabase) -> None:
        self.conn = conn
        self.db = db

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        with self.db.errors():
            return _count(await self.conn.execute(numbered(sql), *args))

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> int:
        total = 0
        with self.db.errors():
            stmt = await self.conn.prepare(numbered(sql))
            for row in rows:
                await stmt.fetch(*row)
                total += _count(stmt.get_statusmsg())
        return total

    async def fetch(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        with self.db.errors():
            return list(await self.conn.fetch(numbered(sql), *args))

    async def fetchone(self, sql: str, args: Sequence[Any] = ()) -> Row | None:
        with self.db.errors():
            row: Row | None = await self.conn.fetchrow(numbered(sql), *args)
            return row

    async def defer(self, sql: str, args: Sequence[Any] = ()) -> None:
        await self.execute(sql, args)  # one round trip per statement either way


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

    @contextlib.contextmanager
    def errors(self) -> Any:
        """Turn the driver's errors into StoreError (naming the database, never its password)."""
        try:
            yield
        except _GONE as exc:
            raise StoreError(f"{self.url}: lost the connection to PostgreSQL: "
                             f"{exc or type(exc).__name__}") from exc
        except asyncpg.PostgresError as exc:
            raise StoreError(f"{self.url}: {exc}") from exc

    async def _patiently(self, op: Callable[[], Awaitable[_T]]) -> _T:
        """Run op; while the server is gone (restart, failover), wait for it and run op again,
        up to reconnect_wait seconds, then StoreError. op must be safe to repeat."""
        while True:
            try:
                result = await op()
            except _GONE as exc:
                now = time.monotonic()
                if self._down_since is None:
                    self._down_since = now
                    log.error("store: PostgreSQL at %s unreachable (%s); waiting up to %.0f s "
                              "for it to come back", self.url, exc or type(exc).__name__,
                              self.reconnect_wait)
                if now - self._down_since >= self.reconnect_wait:
                    raise StoreError(f"{self.url}: lost the connection to PostgreSQL: "
                                     f"{exc or type(exc).__name__}") from exc
                await asyncio.sleep(min(1.0, self.reconnect_wait))
                continue
            except asyncpg.PostgresError as exc:
                raise StoreError(f"{self.url}: {exc}") from exc
            if self._down_since is not None:
                log.warning("store: PostgreSQL at %s back after %.1f s; resuming", self.url,
                            time.monotonic() - self._down_since)
                self._down_since = None
            return result

    async def _begin(self) -> tuple[asyncpg.Connection, Any]:
        """A pooled connection in a new transaction (a dead one is dropped and another tried)."""
        conn = await self.pool.acquire()
        try:
            tr = conn.transaction()
            await tr.start()
        except BaseException:
            with contextlib.suppress(*_GONE, asyncpg.PostgresError):
                await self.pool.release(conn)
            raise
        return conn, tr

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[Tx]:
        conn, tr = await self._patiently(self._begin)
        try:
            try:
                yield _PgTx(conn, self)
            except BaseException:
                with contextlib.suppress(*_GONE, asyncpg.PostgresError):
                    await tr.rollback()
                raise
            with self.errors():
                await tr.commit()
        finally:
            with contextlib.suppress(*_GONE, asyncpg.PostgresError):
                await self.pool.release(conn)

    async def fetch(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        rows = await self._patiently(lambda: self.pool.fetch(numbered(sql), *args))
        return list(rows)

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
