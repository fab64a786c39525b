"""Resources that open and close support `async with`: the store, the FastAGI server, AMI, the
engine; leaving the block (or failing to start) closes what was opened."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest
from test_ami_wrapper import FakeAMI

from ivr.asterisk.agi.server import FastAGIServer
from ivr.asterisk.ami import AMI
from ivr.config import load_settings
from ivr.engine import Engine
from ivr.errors import AMIConnectionError
from ivr.store import open_store


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _accepts(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    return True


async def test_store_closes_at_the_end_of_the_block(tmp_path: Path) -> None:
    async with await open_store(tmp_path / "x.db") as store:
        assert await store.status_counts() == {}
    with pytest.raises(ValueError, match="no active connection"):
        await store.status_counts()


async def test_fastagi_server_listens_inside_the_block_only() -> None:
    port = _free_port()
    async with FastAGIServer({}, port=port) as server:
        assert server.port == port
        assert await _accepts(port)
    assert not await _accepts(port)


async def test_ami_logs_in_on_entry_and_closes_on_exit() -> None:
    fake = FakeAMI()
    await fake.start()
    try:
        async with AMI("127.0.0.1", fake.port, "rabta", "s3cret", name="t") as ami:
            assert ami.connected
            assert [a["Action"] for a in fake.actions][:1] == ["Login"]
        assert not ami.connected
    finally:
        fake.cut()
        assert fake.server is not None
        fake.server.close()


async def test_an_engine_that_cannot_start_closes_what_it_opened(tmp_path: Path) -> None:
    agi_port = _free_port()
    settings = load_settings(env={}, overrides={
        "home": str(tmp_path), "database": str(tmp_path / "x.db"), "ami_secret": "s",
        "agi_port": agi_port, "ami_port": _free_port()})  # nothing answers on AMI
    async with await open_store(settings.db_path) as store:
        with pytest.raises(AMIConnectionError, match="no PBX node answers"):
            async with Engine(settings, store):
                raise AssertionError("the block must not run")  # pragma: no cover
    assert not await _accepts(agi_port)  # the FastAGI server it had started is closed
