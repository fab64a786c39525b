"""Store, engines: open the database a URL names, SQLite or PostgreSQL.

Its own module so that `database.py` (the seam both engines implement) and `postgres.py` (which
imports that seam) never import each other.
"""

from __future__ import annotations

from ivr.store.database import Database, DatabaseUrl, SQLiteDatabase, parse_url

__all__ = ["open_database"]


async def open_database(url: str | DatabaseUrl, *, migrate: bool = True,
                        blocking: bool = False) -> Database:
    """Open the database a URL names (creating and migrating it unless migrate=False).

    blocking: SQLite in the calling thread, for a process without an event loop (see
    SQLiteDatabase.open); PostgreSQL has no such mode (asyncpg needs the loop).
    """
    parsed = parse_url(url) if isinstance(url, str) else url
    if parsed.scheme == "sqlite":
        return await SQLiteDatabase.open(parsed, migrate=migrate, blocking=blocking)
    # asyncpg only where it is used: the classic AGI script runs where it is not installed
    from ivr.store.postgres import PostgresDatabase

    return await PostgresDatabase.open(parsed, migrate=migrate)
