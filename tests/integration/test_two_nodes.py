"""Two PBX nodes (two Asterisk instances in the rootfs, each with its carrier simulator) behind
one engine. One node is killed during the run; all the work is completed by the other."""

from __future__ import annotations

import asyncio
import shutil
import sys
from pathlib import Path

from support import (
    SLOT,
    Citizen,
    carrier_cdr_counts,
    install_phonebook,
    run_until_idle,
    transactions_for,
    wait_carrier_idle,
)

from ivr import phone
from ivr.accounts import Role
from ivr.config import Settings, replace
from ivr.engine import Engine
from ivr.lab import rootfs
from ivr.store import SQLiteStore

N = 60


async def test_work_flows_to_the_surviving_node(node_settings: Settings, second_node: Settings,
                                                store: SQLiteStore) -> None:
    citizens = [Citizen(f"0302555{i:04d}", "answer", "s1s2s2", ring_s="1") for i in range(N)]
    for s in (node_settings, second_node):
        install_phonebook(s, citizens)
    txs = transactions_for(citizens, "twonode")
    await store.add_transactions(txs, txs[0].visited_at)
    before = [carrier_cdr_counts(s) for s in (node_settings, second_node)]
    settings = replace(node_settings, max_concurrent=15, calls_per_second=10.0, nodes=(
        f"{node_settings.node}-pbx@127.0.0.1:{node_settings.ami_port}",
        f"{second_node.node}-pbx@127.0.0.1:{second_node.ami_port}"))
    engine = Engine(settings, store)
    await engine.start()
    assert all(a.connected for a in engine.amis)
    try:
        dialer = asyncio.create_task(engine.dialer.run(until_idle=True))
        async with asyncio.timeout(60):
            while len(await _answered_by_node(store)) < 2:  # noqa: ASYNC110 - both are working
                await asyncio.sleep(0.2)
        rootfs.kill(rootfs.node_for(node_settings).pbx)  # node 1 dies for good
        await asyncio.wait_for(dialer, 420)
    finally:
        await engine.close()
        await asyncio.to_thread(rootfs.start, rootfs.node_for(node_settings).pbx)

    results = {r["ref"]: r for r in await store.results()}
    unfinished = {ref: (r["status"], r["attempts"], r.get("outcome")) for ref, r in results.items()
                  if r["status"] != "completed"}
    assert not unfinished, unfinished
    assert all(r["answers"] == {"visit_confirmed": "1", "rating": "2", "bribe": "2"}
               for r in results.values())
    by_node = await _answered_by_node(store)
    survivor = f"{second_node.node}-pbx"
    assert by_node[survivor] > by_node.get(f"{node_settings.node}-pbx", 0)
    # No attempt dialled twice: across both carriers, calls seen <= attempts recorded.
    for s in (node_settings, second_node):
        wait_carrier_idle(s)
    after = [carrier_cdr_counts(s) for s in (node_settings, second_node)]
    for t in txs:
        d = phone.digits(t.mobile)
        seen = sum(a[d] - b[d] for a, b in zip(after, before, strict=True))
        assert seen <= results[t.ref]["attempts"], (t.mobile, seen, results[t.ref]["attempts"])


async def _answered_by_node(store: SQLiteStore) -> dict[str, int]:
    async with store._db.execute(
            "SELECT node, COUNT(*) FROM attempts WHERE answered_at IS NOT NULL "
            "GROUP BY node") as cur:
        return {r[0]: r[1] for r in await cur.fetchall()}


async def test_a_complaint_recorded_on_another_node_plays_on_the_dashboard(
        node_settings: Settings, second_node: Settings, store: SQLiteStore,
        tmp_path: Path) -> None:
    """A citizen's complaint is recorded on the second node's PBX; the dashboard plays it from
    where this host reads that node's spool (node_recordings; here a copy after the call), with
    no lab rootfs of its own to look in. 67 s on a busy machine."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
    from web_support import Clock, add_user, signed_in, start_client

    citizen = Citizen(f"0307{SLOT}1{0:05d}", "answer", "s1s3s1s3s1sp#")  # police: a complaint
    install_phonebook(second_node, [citizen])
    txs = transactions_for([citizen], "remote-rec")
    await store.add_transactions(txs, txs[0].visited_at)
    remote = f"{second_node.node}-pbx"
    settings = replace(node_settings, nodes=(f"{remote}@127.0.0.1:{second_node.ami_port}",))
    await run_until_idle(settings, store, timeout=120)
    (result,) = await store.results()
    complaint = result["answers"].get("complaint", "")
    assert result["status"] == "completed" and complaint.endswith("-complaint.wav"), result
    # "Copy after the call": the remote PBX's spool file lands in a directory of this host.
    pbx = rootfs.node_for(second_node).pbx
    spool = pbx.host_path(pbx.spec().layout.spool_dir)
    copied = tmp_path / "pbx-b-spool"
    copied.mkdir()
    name = complaint.rsplit("/", 1)[1]
    shutil.copyfile(spool / name, copied / name)
    web = replace(settings, cache=tmp_path / "no-rootfs-here",
                  node_recordings=(f"{remote}={copied}",))
    stored = await store.transaction(txs[0].office, txs[0].ref)
    assert stored is not None and stored.id is not None
    async with store._db.execute("SELECT id FROM answers WHERE question = 'complaint' "
                                 "AND transaction_id = ?", (stored.id,)) as cur:
        (row,) = await cur.fetchall()
    await add_user(store, "boss", Role.OVERSIGHT)
    async with start_client(store, web, Clock()) as client:
        await signed_in(client, "boss")
        response = await client.get(f"/cases/{stored.id}/recordings/{row[0]}")
        assert response.status == 200, await response.text()
        assert await response.read() == (copied / name).read_bytes()
        without = replace(web, node_recordings=())  # the node's spool unknown: not found
    async with start_client(store, without, Clock()) as client:
        await signed_in(client, "boss")
        assert (await client.get(f"/cases/{stored.id}/recordings/{row[0]}")).status == 404
