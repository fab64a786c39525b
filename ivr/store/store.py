"""Store: the facade that puts every area's repository over one Database.

Callers that need one area can take that repository (or a Protocol of the methods they call);
the engine, the CLI and the web edge take the Store, which is all of them over one connection or
pool. A new area (e.g. ivr/store/sms.py) is a `Repository` subclass with its own module and
migrations; adding it to the bases below puts its methods on the Store.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import aiosqlite

from ivr.errors import StoreError
from ivr.store.accountability import AccountabilityMixin
from ivr.store.accounts import AccountsRepository
from ivr.store.calls import CallsRepository
from ivr.store.cases import CasesRepository
from ivr.store.database import Database, SQLiteDatabase
from ivr.store.dnc import DncRepository
from ivr.store.engines import open_database
from ivr.store.pacing import PacingRepository
from ivr.store.prompts import PromptsRepository
from ivr.store.results import ResultsRepository


class Store(CallsRepository, ResultsRepository, DncRepository, AccountsRepository,
            CasesRepository, PromptsRepository, AccountabilityMixin, PacingRepository):
    """Every area's queries over one Database (SQLite or PostgreSQL)."""

    def __init__(self, db: Database) -> None:
        super().__init__(db)

    @classmethod
    async def open(cls, where: Path | str, *, migrate: bool = True) -> Store:
        """Open (and migrate) the store at a SQLite path or a database URL."""
        return cls(await open_database(url_of(where), migrate=migrate))

    async def close(self) -> None:
        """Close the connection or pool."""
        await self.db.close()

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def migrate(self) -> list[int]:
        """Apply every numbered migration not yet applied."""
        return await self.db.migrate()

    @property
    def dialect(self) -> str:
        return self.db.dialect

    @property
    def path(self) -> Path:
        """The SQLite file (StoreError on PostgreSQL)."""
        return self._sqlite().path

    # For tests and benchmarks written against the SQLite store: its raw connection and write
    # transaction. Product code goes through the repositories.
    @property
    def _db(self) -> aiosqlite.Connection:
        return self._sqlite().conn

    def _write(self) -> contextlib.AbstractAsyncContextManager[aiosqlite.Connection]:
        return self._sqlite().raw_write()

    async def _tx(self, statements: Iterable[tuple[str, Sequence[Any]]]) -> list[int]:
        """Run statements in one write transaction; return each statement's rowcount."""
        counts = []
        async with self.db.write() as tx:
            for sql, args in statements:
                counts.append(await tx.execute(sql, args))
        return counts

    def _sqlite(self) -> SQLiteDatabase:
        if not isinstance(self.db, SQLiteDatabase):
            raise StoreError(f"{self.db.url}: not a SQLite database")
        return self.db


def url_of(where: Path | str) -> str:
    """A database URL from a URL or a SQLite file's path."""
    text = str(where)
    return text if "://" in text else f"sqlite:///{Path(text).absolute()}"


async def open_store(where: Path | str) -> Store:
    """Open the store at a SQLite path or a database URL (sqlite:///... or postgresql://...)."""
    return await Store.open(where)
