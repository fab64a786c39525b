"""`rabta db copy`: a finished campaign moves from SQLite to PostgreSQL, every table checked;
a target that holds data is refused unless --force; a malformed URL is a clear error."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from results_support import Visit, survey
from storehelpers import sql

from ivr.accounts import Role
from ivr.cases import CaseAction, CaseStatus
from ivr.cli import db as cli_db
from ivr.config import Settings
from ivr.errors import ConfigError, InputError, StoreError
from ivr.models import Outcome, Transaction, TxStatus
from ivr.store import Store, open_database, open_store
from ivr.store.copy import checksum, copy_store

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


async def finished_campaign(store: Store) -> None:
    """Calls answered, one unreachable, a bribe report with its case, accounts, keys, DNC."""
    visits = [Visit(rating="5"), Visit(rating="2", bribe="1"), Visit(official="Sana", rating="4"),
              Visit(service="Pension", bribe="2")]
    ids = await survey(store, visits, NOW)
    await store.add_transactions([Transaction(
        office="DC Office Lahore", ref="NOANS", name="Bilal", mobile="+923001112223",
        service="Domicile", district="Lahore", official="Ali", visited_at=NOW)], NOW)
    [a] = await store.claim_due(NOW + timedelta(minutes=1), 1)
    await store.attempt_failed(a.id, Outcome.NO_ANSWER, NOW, next_status=TxStatus.UNREACHABLE,
                               next_try_at=None)
    await store.dnc_add(["+923009999999"], "admin", NOW, note="asked")
    uid = await store.add_user("Amina", "hash", Role.SUPERVISOR, ("Lahore",), NOW)
    assert uid is not None
    await store.add_api_key("keyhash", "DC Office Lahore", "intake", NOW)
    await store.audit("user:amina", "login_ok", {"ip": "127.0.0.1"}, NOW)
    await store.change_case(ids[1], "user:amina", CaseStatus.UNDER_REVIEW, None, None, "look",
                            NOW)
    await store.change_case(ids[1], "user:amina", CaseStatus.ACTION_TAKEN, CaseAction.WARNING,
                            None, "warned", NOW)


async def test_a_finished_campaign_copies_to_postgresql_and_every_table_matches(
        tmp_path: Path, pg_url: str) -> None:
    source = await open_store(tmp_path / "demo.db")
    try:
        await finished_campaign(source)
        before = await source.results()
    finally:
        await source.close()
    src = await open_database(f"sqlite:///{tmp_path / 'demo.db'}")
    dst = await open_database(pg_url)
    seen: list[tuple[str, int, int]] = []
    try:
        checks = await copy_store(src, dst, progress=lambda t, d, n: seen.append((t, d, n)))
        assert all(c.ok for c in checks)
        rows = {c.table: c.target_rows for c in checks}
        assert (rows["transactions"], rows["case_events"], rows["dnc"]) == (5, 2, 1)
        assert rows["answers"] >= 5 and rows["users"] == 1 and rows["audit_log"] >= 3
        assert rows["result_cells"] > 0 and rows["overview_days"] > 0
        assert seen[-1][1] == seen[-1][2]  # the bar reached its end
        # A row changed on one side only shows in that table's checksum.
        cols = (await dst.tables())["dnc"]
        good = await checksum(dst, "dnc", cols)
        async with dst.write() as tx:
            await tx.execute("UPDATE dnc SET note = 'changed'")
        assert await checksum(dst, "dnc", cols) != good
        # Refused into a database that holds data; replaced with --force.
        with pytest.raises(InputError, match="already holds data"):
            await copy_store(src, dst)
        assert all(c.ok for c in await copy_store(src, dst, force=True))
    finally:
        await src.close()
        await dst.close()
    copied = await open_store(pg_url)
    try:
        assert await copied.results() == before
        # New rows get new ids after the copied ones (the sequences were moved on).
        await copied.add_transactions([Transaction(
            office="X", ref="NEW", name="", mobile="+923001234567", service="Domicile",
            district="Lahore", official="", visited_at=NOW)], NOW)
        assert max(r[0] for r in await sql(copied, "SELECT id FROM transactions")) == 6
    finally:
        await copied.close()


async def test_copy_refuses_the_same_database_and_different_schemas(tmp_path: Path) -> None:
    a = await open_database(f"sqlite:///{tmp_path / 'a.db'}")
    b = await open_database(f"sqlite:///{tmp_path / 'b.db'}", migrate=False)
    try:
        with pytest.raises(InputError, match="same database"):
            await copy_store(a, a)
        with pytest.raises(StoreError, match="schemas differ"):
            await copy_store(a, b)
    finally:
        await a.close()
        await b.close()


@pytest.mark.parametrize("url", ["mysql://x/y", "sqlite://relative.db", "sqlite:///",
                                 "postgresql://h:port/db", "rabta.db"])
def test_a_malformed_database_url_is_a_clear_error(url: str) -> None:
    with pytest.raises(ConfigError, match="database_url"):
        cli_db._url(Settings(), url)


def test_db_status_and_migrate_on_postgresql(pg_cluster: object, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    url = pg_cluster.create("status_test")  # type: ignore[attr-defined]
    ns = argparse.Namespace(url=url)
    assert cli_db._status(Settings(), ns) == 1  # an empty database: everything pending
    assert "PENDING" in capsys.readouterr().out
    assert cli_db._migrate(Settings(), ns) == 0
    assert "applied 0001" in capsys.readouterr().out
    assert cli_db._status(Settings(), ns) == 0
    assert "up to date" in capsys.readouterr().out
    assert cli_db._migrate(Settings(), ns) == 0
    assert "up to date" in capsys.readouterr().out


async def test_an_unreachable_postgresql_is_a_clear_error() -> None:
    with pytest.raises(StoreError, match="cannot connect to PostgreSQL"):
        await open_store("postgresql://rabta@127.0.0.1:1/rabta")


def test_rabta_db_copy_prints_a_bar_and_every_table(
        tmp_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio

    async def seed() -> None:
        s = await open_store(tmp_path / "demo.db")
        try:
            await finished_campaign(s)
        finally:
            await s.close()
    asyncio.run(seed())
    ns = argparse.Namespace(source=f"sqlite:///{tmp_path / 'demo.db'}", target=pg_url,
                            force=True, no_progress=False)
    assert cli_db._copy(Settings(), ns) == 0
    out, err = capsys.readouterr()
    assert "copy [" in err and "every table matches" in out
    assert "transactions" in out and "result_days" in out


def test_every_migration_exists_for_both_engines() -> None:
    """A migration written for SQLite only would leave PostgreSQL stores without its tables."""
    from ivr.store.database import MIGRATIONS

    lite = {f.name[:4] for f in MIGRATIONS.glob("[0-9][0-9][0-9][0-9]_*.sql")}
    pg = {f.name[:4] for f in (MIGRATIONS / "postgresql").glob("[0-9][0-9][0-9][0-9]_*.sql")}
    assert lite == pg, f"only SQLite: {sorted(lite - pg)}; only PostgreSQL: {sorted(pg - lite)}"
