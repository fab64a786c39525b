"""Store, copy: move a whole store from one database to another (SQLite to PostgreSQL, say).

Both are migrated to the same version first; a target that already holds data is refused
unless `force` (then it is emptied). Tables go in foreign-key order with their ids; the
roll-up tables the triggers keep (result_cells, result_days, overview_days) are then replaced
by the source's own rows, so the copy is exact. Every table is checked afterwards: row count
and a checksum that does not depend on row order or on the engine (the sum of each row's
SHA-256, over a canonical text of its values).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ivr.errors import InputError, StoreError
from ivr.store.database import Database

# Parents before children; tables not named here (a newer area's) follow, by name.
# (The results' settings first: the triggers read them as attempts and answers come in.)
ORDER = ("answer_scores", "results_clock", "transactions", "attempts", "answers", "dnc",
         "users", "sessions", "api_keys", "audit_log", "cases", "case_events", "direct_calls",
         "prompt_versions")
DERIVED = ("result_cells", "result_days", "overview_days")  # kept by triggers; copied last
SEEDED = ("answer_scores", "results_clock")  # filled by the migrations themselves
PAGE = 5000


@dataclass(frozen=True, slots=True)
class TableCheck:
    """One table's figures on both sides."""

    table: str
    source_rows: int
    target_rows: int
    source_sum: str
    target_sum: str

    @property
    def ok(self) -> bool:
        return (self.source_rows, self.source_sum) == (self.target_rows, self.target_sum)


def _canon(value: Any) -> Any:
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, bool):
        return int(value)
    return value


async def _pages(db: Database, table: str, columns: list[str]) -> Any:
    """Yield a table's rows in pages (by id where there is one)."""
    cols = ", ".join(columns)
    if "id" in columns:
        after = -1
        while True:
            rows = await db.fetch(
                f"SELECT {cols} FROM {table} WHERE id > ? ORDER BY id LIMIT ?", (after, PAGE))
            if not rows:
                return
            yield rows
            after = rows[-1][columns.index("id")]
    else:
        order = ", ".join(str(i + 1) for i in range(len(columns)))
        offset = 0
        while True:
            rows = await db.fetch(
                f"SELECT {cols} FROM {table} ORDER BY {order} LIMIT ? OFFSET ?", (PAGE, offset))
            if not rows:
                return
            yield rows
            offset += len(rows)


async def checksum(db: Database, table: str, columns: list[str]) -> tuple[int, str]:
    """Return a table's row count and its order-independent checksum (hex)."""
    total, count = 0, 0
    async for rows in _pages(db, table, columns):
        for r in rows:
            text = json.dumps([_canon(r[i]) for i in range(len(columns))], ensure_ascii=False)
            total += int.from_bytes(hashlib.sha256(text.encode()).digest()[:16], "big")
            count += 1
    return count, f"{total % (1 << 128):032x}"


async def count_rows(db: Database) -> dict[str, int]:
    """Return each table's row count."""
    return {t: int(await db.fetchval(f"SELECT COUNT(*) FROM {t}"))
            for t in await db.tables()}


def _order(tables: dict[str, list[str]]) -> list[str]:
    known = [t for t in ORDER if t in tables]
    rest = sorted(t for t in tables if t not in ORDER and t not in DERIVED)
    return known + rest


async def copy_store(source: Database, target: Database, *, force: bool = False,
                     progress: Callable[[str, int, int], None] | None = None
                     ) -> list[TableCheck]:
    """Copy every table from source to target and check them; return each table's check.

    Raises InputError if the target holds data and force is False, StoreError if the two
    schemas differ or a table does not match after the copy.
    """
    if source.url == target.url:
        raise InputError("the source and the target are the same database")
    src_tables, dst_tables = await source.tables(), await target.tables()
    if set(src_tables) != set(dst_tables):
        only_src = sorted(set(src_tables) - set(dst_tables))
        only_dst = sorted(set(dst_tables) - set(src_tables))
        raise StoreError(f"the schemas differ: only in the source {only_src}, only in the "
                         f"target {only_dst} (run `rabta db migrate` on both)")
    for t, cols in src_tables.items():
        if set(cols) != set(dst_tables[t]):
            raise StoreError(f"table {t}: the columns differ between source and target")
    held = {t: n for t, n in (await count_rows(target)).items() if n and t not in SEEDED}
    if held and not force:
        what = ", ".join(f"{t}: {n} rows" for t, n in sorted(held.items()))
        raise InputError(f"the target already holds data ({what}); copy into an empty "
                         f"database, or pass --force to replace it")
    order = _order(src_tables)
    async with target.write() as tx:  # children first; the roll-ups last of all
        for t in [*reversed(order), *DERIVED]:
            await tx.execute(f"DELETE FROM {t}")
    totals = await count_rows(source)
    everything = sum(totals[t] for t in [*order, *DERIVED])
    done = 0

    async def one(t: str) -> None:
        nonlocal done
        async for rows in _pages(source, t, src_tables[t]):
            await target.bulk_insert(t, src_tables[t], [tuple(r) for r in rows])
            done += len(rows)
            if progress:
                progress(t, done, everything)

    for t in order:
        await one(t)
        if "id" in src_tables[t]:
            await target.reset_ids(t)
    for d in DERIVED:  # what the triggers made of the copied rows gives way to the source's own
        async with target.write() as tx:
            await tx.execute(f"DELETE FROM {d}")
        await one(d)
        if d == "result_cells":  # its trigger has filled result_days as the cells came in
            async with target.write() as tx:
                await tx.execute("DELETE FROM result_days")
    checks = []
    for t in [*order, *DERIVED]:
        n1, s1 = await checksum(source, t, src_tables[t])
        n2, s2 = await checksum(target, t, src_tables[t])
        checks.append(TableCheck(t, n1, n2, s1, s2))
    bad = [c.table for c in checks if not c.ok]
    if bad:
        raise StoreError(f"copied, but these tables do not match: {', '.join(bad)}")
    return checks
