"""Test helpers: queries only tests need, on either engine (the product's SQL is in ivr/store)."""

from __future__ import annotations

from typing import Any

from ivr.store import Store


async def sql(store: Store, statement: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Run one statement (`?` placeholders) in a write transaction; return its rows as tuples."""
    async with store.db.write() as tx:
        return [tuple(r) for r in await tx.fetch(statement, args)]


async def value(store: Store, statement: str, args: tuple[Any, ...] = ()) -> Any:
    """The first column of the first row of a query, or None."""
    rows = await sql(store, statement, args)
    return rows[0][0] if rows else None
