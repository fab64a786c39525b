"""Store, database: the one seam between the repositories and a database engine.

A `Database` is a connection (SQLite) or a pool (PostgreSQL) with, written once: the write
transaction (`async with db.write() as tx`), reads outside one (`db.fetch`), the timestamp
codec (`ts` / `parse_ts`: sortable UTC text on both engines, so copies compare byte for byte),
numbered migrations and the few places where the two SQL dialects differ (`db.hint`,
`db.json_object`). Repositories write their SQL once, with `?` placeholders; the PostgreSQL
database numbers them. Which engine: a URL (`sqlite:///path` or `postgresql://...`).
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
import os
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

import aiosqlite

from ivr.errors import ConfigError, StoreError

log = logging.getLogger(__name__)
_T = TypeVar("_T")

MIGRATIONS = Path(__file__).parent / "migrations"
_TS = "%Y-%m-%dT%H:%M:%S.%fZ"



class Row(Protocol):
    """One result row: aiosqlite.Row and asyncpg.Record both read by name and by index."""

    def __getitem__(self, key: str | int) -> Any: ...

    def keys(self) -> Iterable[str]: ...


def ts(dt: datetime) -> str:
    """Format an aware datetime as the store's sortable UTC text."""
    if dt.tzinfo is None:
        raise StoreError("naive datetime given to the store")
    return dt.astimezone(UTC).strftime(_TS)


def parse_ts(text: str | None) -> datetime | None:
    """Read the store's UTC text back into an aware datetime."""
    if text is None:
        return None
    if len(text) == 27 and text[-1] == "Z":  # the store's own text: parsed without strptime
        return datetime.fromisoformat(text)
    return datetime.strptime(text, _TS).replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class DatabaseUrl:
    """A parsed `database_url`: which engine, and where."""

    scheme: str  # sqlite | postgresql
    path: Path | None  # sqlite only
    dsn: str  # postgresql only (the URL as given)

    def __str__(self) -> str:
        return f"sqlite:///{self.path}" if self.scheme == "sqlite" else _redact(self.dsn)


def _redact(dsn: str) -> str:
    parts = urlsplit(dsn)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return parts._replace(netloc=netloc).geturl()
    return dsn


def parse_url(url: str) -> DatabaseUrl:
    """Parse `sqlite:///absolute/path` or `postgresql://user@host:port/db`; ConfigError if neither."""
    url = url.strip()
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite://")
        if path in ("/", "") or path.endswith("/"):
            raise ConfigError(f"database_url {url!r}: no database file after sqlite:///")
        # sqlite:////abs/path (four slashes, as db_url writes an absolute path) is /abs/path too
        return DatabaseUrl("sqlite", Path("/" + path.lstrip("/")), "")
    if url.startswith(("postgresql://", "postgres://")):
        parts = urlsplit(url)
        try:
            parts.port  # noqa: B018 - raises ValueError for a bad port
        except ValueError:
            raise ConfigError(f"database_url {_redact(url)!r}: the port is not a number") from None
        if not parts.path.strip("/") and not parts.hostname:
            raise ConfigError(f"database_url {_redact(url)!r}: names neither a host nor a database")
        return DatabaseUrl("postgresql", None, url)
    raise ConfigError(
        f"database_url {_redact(url)!r} is not understood: use sqlite:///path/to/rabta.db "
        f"or postgresql://user:password@host:5432/dbname")


class Tx(Protocol):
    """One write transaction: every statement in it commits together or not at all."""

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        """Run one statement; return how many rows it changed."""

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> int:
        """Run one statement per row; return how many rows they changed in all."""

    async def fetch(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        """Run a query (or a statement with RETURNING); return its rows."""

    async def fetchone(self, sql: str, args: Sequence[Any] = ()) -> Row | None:
        """Return the first row, or None."""


class Database(abc.ABC):
    """A connection or pool to one database, with the write transaction and migrations."""

    dialect: str  # sqlite | postgresql
    url: DatabaseUrl

    @abc.abstractmethod
    def write(self) -> contextlib.AbstractAsyncContextManager[Tx]:
        """One write transaction: commit at the end, roll back and re-raise on any error."""

    async def transact(self, body: Callable[[Tx], Awaitable[_T]], *,
                       idempotent: bool = False) -> _T:
        """Run body in one write transaction; return what it returns.

        Unlike `write()`, the transaction can be run again: on PostgreSQL, one whose connection
        broke before its commit (nothing of it landed) runs once more on a fresh connection, and
        so does one cut off during the commit itself if the caller says it is idempotent. body
        must do nothing outside the transaction it is given.
        """
        async with self.write() as tx:
            return await body(tx)

    @abc.abstractmethod
    async def fetch(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        """Run one read outside a write transaction; return its rows."""

    async def fetchone(self, sql: str, args: Sequence[Any] = ()) -> Row | None:
        """Return the first row of a read, or None."""
        rows = await self.fetch(sql, args)
        return rows[0] if rows else None

    async def fetchval(self, sql: str, args: Sequence[Any] = ()) -> Any:
        """Return the first column of the first row of a read, or None."""
        row = await self.fetchone(sql, args)
        return None if row is None else row[0]

    @abc.abstractmethod
    async def close(self) -> None:
        """Close the connection or pool."""

    @abc.abstractmethod
    async def migrate(self) -> list[int]:
        """Apply every numbered migration not yet applied, each in its own transaction."""

    @abc.abstractmethod
    async def applied_migrations(self) -> dict[int, str]:
        """Return the applied migrations' versions with when they were applied."""

    @abc.abstractmethod
    async def tables(self) -> dict[str, list[str]]:
        """Return every table of the schema (not schema_migrations) with its columns, in order."""

    async def bulk_insert(self, table: str, columns: Sequence[str],
                          rows: Sequence[Sequence[Any]]) -> None:
        """Insert rows as they are (ids included), in one transaction, the engine's fastest way."""
        marks = ", ".join("?" * len(columns))
        async with self.write() as tx:
            await tx.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)

    async def reset_ids(self, table: str) -> None:
        """After rows came in with their ids: new rows get ids after the largest (SQLite's
        INTEGER PRIMARY KEY does so by itself)."""
        return None

    def migration_files(self) -> list[Path]:
        """Return this engine's numbered migration files, in order."""
        return _migration_files(self.dialect)

    # ---------------------------------------------------------------- dialect differences

    def hint(self, index: str) -> str:
        """An index hint for the planner (SQLite's INDEXED BY); nothing where there is none."""
        return f"INDEXED BY {index}" if self.dialect == "sqlite" else ""

    def for_update(self) -> str:
        """The suffix that locks the rows a SELECT reads until the write transaction ends
        (PostgreSQL's FOR UPDATE); nothing on SQLite, whose write transaction holds the
        whole database already."""
        return " FOR UPDATE" if self.dialect == "postgresql" else ""

    def week_start(self, day: str) -> str:
        """The Monday (YYYY-MM-DD text) of the week of a YYYY-MM-DD text column."""
        if self.dialect == "sqlite":
            return (f"date({day}, '-' || ((CAST(strftime('%w', {day}) AS INTEGER) + 6) % 7) "
                    f"|| ' days')")
        return f"to_char(date_trunc('week', CAST({day} AS date)), 'YYYY-MM-DD')"

    def json_object(self, key: str, value: str) -> str:
        """The aggregate that folds key/value rows into one JSON object (text)."""
        if self.dialect == "sqlite":
            return f"json_group_object({key}, {value})"
        return f"json_object_agg({key}, {value})::text"

    def local_date(self, expr: str) -> str:
        """The local date (YYYY-MM-DD text) of a stored UTC time, by results_clock's offset."""
        if self.dialect == "sqlite":
            return f"date({expr}, (SELECT modifier FROM results_clock))"
        return f"rabta_local_date({expr})"  # a function of the PostgreSQL migration 0009

    def raise_store_error(self, exc: BaseException) -> StoreError:
        """The StoreError an engine's own error becomes."""
        return StoreError(f"{self.url}: {exc}")


def _migration_files(dialect: str) -> list[Path]:
    """SQLite's migrations are migrations/NNNN_*.sql; PostgreSQL's are migrations/postgresql/."""
    folder = MIGRATIONS if dialect == "sqlite" else MIGRATIONS / "postgresql"
    return sorted(folder.glob("[0-9][0-9][0-9][0-9]_*.sql"))


# ------------------------------------------------------------------------------ SQLite


class _SQLiteTx:
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        cur = await self.conn.execute(sql, args)
        return cur.rowcount

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> int:
        before = self.conn.total_changes
        await self.conn.executemany(sql, rows)
        return self.conn.total_changes - before

    # One trip to aiosqlite's thread per query (execute, fetch and close there at once): each
    # trip costs CPU on both sides, and a survey call makes dozens of them.
    async def fetch(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        return list(await self.conn.execute_fetchall(sql, args))

    async def fetchone(self, sql: str, args: Sequence[Any] = ()) -> Row | None:
        rows = await self.conn.execute_fetchall(sql, args)
        return next(iter(rows), None)


class SQLiteDatabase(Database):
    """The embedded engine: one connection per process (WAL, synchronous=NORMAL, busy_timeout,
    foreign keys); aiosqlite runs it on its own thread, and write transactions take turns."""

    dialect = "sqlite"

    def __init__(self, conn: aiosqlite.Connection, url: DatabaseUrl) -> None:
        self.conn = conn
        self.url = url
        assert url.path is not None
        self.path: Path = url.path
        # One connection is shared by every coroutine of the engine: write transactions
        # take turns, or one coroutine's BEGIN would land inside another's.
        self._write_lock = asyncio.Lock()

    @classmethod
    async def open(cls, url: DatabaseUrl, *, migrate: bool = True) -> SQLiteDatabase:
        """Open (creating if needed, owner-only) and, unless told not to, migrate."""
        path = url.path
        assert path is not None
        try:
            if not path.parent.exists():
                path.parent.mkdir(parents=True, mode=0o700)  # names and numbers of citizens
            if not path.exists():
                os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))  # -wal/-shm inherit it
        except OSError as exc:
            raise StoreError(f"{path}: cannot create the database: {exc.strerror}") from None
        try:
            conn = await aiosqlite.connect(path, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"{path}: cannot open the database: {exc}") from None
        try:
            conn.row_factory = aiosqlite.Row
            for pragma in ("journal_mode = WAL", "synchronous = NORMAL", "busy_timeout = 10000",
                           "foreign_keys = ON"):
                await conn.execute(f"PRAGMA {pragma}")
        except sqlite3.Error as exc:
            await conn.close()
            raise StoreError(f"{path}: cannot open the database: {exc}") from None
        db = cls(conn, url)
        if migrate:
            try:
                await db.migrate()
            except BaseException:
                await conn.close()  # or its worker thread keeps the process alive at exit
                raise
        return db

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[Tx]:
        async with self.raw_write() as conn:
            yield _SQLiteTx(conn)

    @contextlib.asynccontextmanager
    async def raw_write(self) -> AsyncIterator[aiosqlite.Connection]:
        """Hold the write lock for one IMMEDIATE transaction on the raw connection."""
        async with self._write_lock:
            await self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except sqlite3.Error as exc:
                await self.conn.execute("ROLLBACK")
                raise StoreError(f"{self.path}: {exc}") from exc
            except BaseException:
                await self.conn.execute("ROLLBACK")
                raise
            await self.conn.execute("COMMIT")

    async def fetch(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        try:
            async with self.conn.execute(sql, args) as cur:
                return list(await cur.fetchall())
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: {exc}") from exc

    async def close(self) -> None:
        await self.conn.close()

    async def tables(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for row in await self.fetch(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
                "AND name != 'schema_migrations' ORDER BY name"):
            name = str(row[0])
            out[name] = [r[0] for r in await self.fetch(
                "SELECT name FROM pragma_table_info(?) ORDER BY cid", (name,))]
        return out

    async def applied_migrations(self) -> dict[int, str]:
        await self.conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")
        async with self.conn.execute("SELECT version, applied_at FROM schema_migrations") as cur:
            return {r[0]: r[1] for r in await cur.fetchall()}

    async def migrate(self) -> list[int]:
        done = await self.applied_migrations()
        applied = []
        for file in self.migration_files():
            version = int(file.name[:4])
            if version in done:
                continue
            script = (f"BEGIN IMMEDIATE;\n{file.read_text()}\n"
                      f"INSERT INTO schema_migrations VALUES ({version}, "
                      f"'{ts(datetime.now(UTC))}');\nCOMMIT;")
            try:
                await self.conn.executescript(script)
            except sqlite3.Error as exc:
                if self.conn.in_transaction:
                    await self.conn.execute("ROLLBACK")
                raise StoreError(f"migration {file.name} failed: {exc}") from None
            log.info("store: applied migration %s", file.name)
            applied.append(version)
        return applied


class Repository:
    """One area's queries over a Database (the Store facade combines every area over one)."""

    def __init__(self, db: Database) -> None:
        self.db = db
