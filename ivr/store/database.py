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
import contextlib
import os
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

from ivr.errors import ConfigError, StoreError
from ivr.log import getLogger

if TYPE_CHECKING:  # imported where used: the classic AGI script runs without asyncio
    import aiosqlite

log = getLogger(__name__)
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
    from urllib.parse import urlsplit  # PostgreSQL only: not on the classic AGI script's start

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
        from urllib.parse import urlsplit

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

    async def defer(self, sql: str, args: Sequence[Any] = ()) -> None:
        """Run a statement whose outcome nobody reads, at the latest before the commit.

        SQLite sends it with the transaction's next statement or its COMMIT, in the same trip
        to the database's thread; an error in it fails the transaction all the same.
        """

    async def fetch_many(self, queries: Sequence[tuple[str, Sequence[Any]]]) -> list[list[Row]]:
        """Run several queries, in order; return each one's rows. SQLite: in one trip."""

    async def fetch_last(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        """Run the transaction's last statement (a query, or one with RETURNING); return its rows.

        Nothing may follow it. SQLite sends it with what is deferred and the COMMIT, in one
        trip to the database's thread.
        """


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


T = TypeVar("T")


class _SQLiteTx:
    """One IMMEDIATE transaction in as few trips to aiosqlite's thread as it takes.

    Each trip costs CPU on both sides of the thread hop (bench/cpu_per_call.py), and a survey
    call writes a dozen times: BEGIN IMMEDIATE goes with the first statement, statements
    deferred (`defer`) go with the next one or with the COMMIT. A transaction of deferred
    statements only (an answer, a state change) is one trip in all.
    """

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn
        self._queued: list[tuple[str, Sequence[Any]]] = [("BEGIN IMMEDIATE", ())]
        self._begun = False  # BEGIN has gone to the database
        self._committed = False  # fetch_last sent the COMMIT

    async def _trip(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run what is queued, then fn, on the connection's thread in one call."""
        if self._committed:
            raise RuntimeError("a statement after fetch_last: the transaction is committed")
        queued, self._queued = self._queued, []
        self._begun = True

        def work(db: sqlite3.Connection) -> T:
            for sql, args in queued:
                db.execute(sql, args)
            return fn(db)

        return await self.conn._execute(work, self.conn._conn)  # type: ignore[no-untyped-call,no-any-return]

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        return await self._trip(lambda db: db.execute(sql, args).rowcount)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> int:
        rows = list(rows)

        def many(db: sqlite3.Connection) -> int:
            before = db.total_changes
            db.executemany(sql, rows)
            return db.total_changes - before

        return await self._trip(many)

    async def fetch(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        return await self._trip(lambda db: db.execute(sql, args).fetchall())

    async def fetchone(self, sql: str, args: Sequence[Any] = ()) -> Row | None:
        rows = await self.fetch(sql, args)
        return rows[0] if rows else None

    async def fetch_many(self, queries: Sequence[tuple[str, Sequence[Any]]]) -> list[list[Row]]:
        return await self._trip(lambda db: [db.execute(q, a).fetchall() for q, a in queries])

    async def defer(self, sql: str, args: Sequence[Any] = ()) -> None:
        if self._committed:
            raise RuntimeError("a statement after fetch_last: the transaction is committed")
        self._queued.append((sql, args))

    async def fetch_last(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        def last(db: sqlite3.Connection) -> list[Row]:
            rows = db.execute(sql, args).fetchall()
            db.execute("COMMIT")
            return rows

        rows = await self._trip(last)
        self._committed = True
        return rows

    async def commit(self) -> None:
        """Send what is still queued and COMMIT (nothing at all if nothing was ever sent, or
        if fetch_last sent it)."""
        if self._committed:
            return
        if not self._begun and len(self._queued) == 1:
            self._queued = []
            return
        await self._trip(lambda db: db.execute("COMMIT"))

    async def rollback(self) -> None:
        """Roll back whatever reached the database (nothing queued is sent)."""
        self._queued = []
        if self._begun:
            await self.conn._execute(_rollback, self.conn._conn)  # type: ignore[no-untyped-call]


def _rollback(db: sqlite3.Connection) -> None:
    if db.in_transaction:  # a BEGIN that failed (busy) left none
        db.execute("ROLLBACK")


class _Done:
    """An aiosqlite-style result that is already there: await it, or `async with` it."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __await__(self) -> Generator[Any, None, Any]:
        return self.value
        yield  # a generator that never suspends

    async def __aenter__(self) -> Any:
        return self.value

    async def __aexit__(self, *exc: object) -> None:
        await self.value.close()


class _BlockingCursor:
    """An sqlite3 cursor with aiosqlite's awaitable methods, which never suspend."""

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()


class _BlockingConnection:
    """The subset of aiosqlite.Connection the SQLite database uses, over a plain sqlite3
    connection in the calling thread: every awaitable finishes at once, so a process that runs
    one survey session (the classic AGI script) needs neither asyncio nor a thread. A coroutine
    that only awaits these runs without an event loop (ivr.asterisk.agi.script.run_blocking)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._connection: sqlite3.Connection | None = conn

    @property
    def _conn(self) -> sqlite3.Connection:
        if self._connection is None:
            raise ValueError("no active connection")
        return self._connection

    async def _execute(self, fn: Callable[..., T], *args: Any) -> T:
        return fn(*args)

    @property
    def row_factory(self) -> Any:
        return self._conn.row_factory

    @row_factory.setter
    def row_factory(self, factory: Any) -> None:
        self._conn.row_factory = factory

    @property
    def in_transaction(self) -> bool:
        return self._conn.in_transaction

    @property
    def total_changes(self) -> int:
        return self._conn.total_changes

    def execute(self, sql: str, args: Sequence[Any] = ()) -> _Done:
        return _Done(_BlockingCursor(self._conn.execute(sql, args)))

    async def execute_fetchall(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        return self._conn.execute(sql, args).fetchall()

    async def executescript(self, script: str) -> None:
        self._conn.executescript(script)

    async def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class _NoLock:
    """The write lock of a database only one coroutine uses (a blocking connection)."""

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc: object) -> None:
        return None


class SQLiteDatabase(Database):
    """The embedded engine: one connection per process (WAL, synchronous=NORMAL, busy_timeout,
    foreign keys); aiosqlite runs it on its own thread, and write transactions take turns."""

    dialect = "sqlite"

    def __init__(self, conn: aiosqlite.Connection, url: DatabaseUrl) -> None:
        self.conn = conn  # aiosqlite's, or a _BlockingConnection (the same methods)
        self.url = url
        assert url.path is not None
        self.path: Path = url.path
        # One connection is shared by every coroutine of the engine: write transactions
        # take turns, or one coroutine's BEGIN would land inside another's.
        self._write_lock: Any
        if isinstance(conn, _BlockingConnection):
            self._write_lock = _NoLock()
        else:
            import asyncio

            self._write_lock = asyncio.Lock()

    @property
    def blocking(self) -> bool:
        """Tell whether this database runs in the calling thread, without an event loop."""
        return isinstance(self.conn, _BlockingConnection)

    @classmethod
    async def open(cls, url: DatabaseUrl, *, migrate: bool = True,
                   blocking: bool = False) -> SQLiteDatabase:
        """Open (creating if needed, owner-only) and, unless told not to, migrate.

        blocking: a plain sqlite3 connection in the calling thread (one survey session per
        process: the classic AGI script), whose awaitables never suspend; else aiosqlite's.
        """
        path = url.path
        assert path is not None
        try:
            if not path.parent.exists():
                path.parent.mkdir(parents=True, mode=0o700)  # names and numbers of citizens
            if not path.exists():
                os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))  # -wal/-shm inherit it
        except OSError as exc:
            raise StoreError(f"{path}: cannot create the database: {exc.strerror}") from None
        conn: aiosqlite.Connection
        try:
            if blocking:  # typed as aiosqlite's: it has the methods this class uses
                conn = cast("aiosqlite.Connection",
                            _BlockingConnection(sqlite3.connect(path, isolation_level=None)))
            else:
                import aiosqlite

                conn = await aiosqlite.connect(path, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"{path}: cannot open the database: {exc}") from None
        try:
            conn.row_factory = sqlite3.Row  # what aiosqlite.Row is
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
        async with self._write_lock:
            tx = _SQLiteTx(self.conn)
            try:
                yield tx
                await tx.commit()
            except sqlite3.Error as exc:
                await tx.rollback()
                raise StoreError(f"{self.path}: {exc}") from exc
            except BaseException:
                await tx.rollback()
                raise

    @contextlib.asynccontextmanager
    async def raw_write(self) -> AsyncIterator[aiosqlite.Connection]:
        """Hold the write lock for one IMMEDIATE transaction on the raw connection."""
        if self.blocking:
            raise StoreError("raw_write needs aiosqlite's connection, not a blocking one")
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
        # One trip to the connection's thread (aiosqlite's cursor would take three: execute,
        # fetchall, close), as inside a write transaction (_SQLiteTx._trip).
        def rows(db: sqlite3.Connection) -> list[Row]:
            return db.execute(sql, args).fetchall()

        try:
            return await self.conn._execute(rows, self.conn._conn)  # type: ignore[no-untyped-call,no-any-return]
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
