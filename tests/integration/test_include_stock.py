"""The include target on Debian's own /etc/asterisk: the survey end to end over SIP.

A third Asterisk in the lab rootfs runs the config Debian's asterisk package ships (every file
as it is, `autoload = yes` and all) plus Rabta's three include files, with the `#include`
lines `rabta dialplan render --target include` prints. Two changes to the stock files, both
for a shared test machine: asterisk.conf points the directories at the instance's own (a
second Asterisk in one rootfs needs them), and manager.conf's port moves off 5038 (another
Asterisk may hold it). The carrier simulator calls the citizens; the engine dials through the
`rabta-carrier` endpoint with the `rabta-engine` AMI user; the stock contexts still load.
"""

from __future__ import annotations

import asyncio
import re
import shutil
from pathlib import Path

from support import SLOT, SURVEY_ANSWERS, SURVEY_KEYS, Citizen, install_phonebook, transactions_for

from ivr import render
from ivr.config import Settings, replace
from ivr.engine import Engine
from ivr.lab import rootfs
from ivr.store import SQLiteStore

SECRET = "stock-include-test-secret-0123456789"


def stock_node(settings: Settings) -> tuple[Settings, rootfs.Instance]:
    s = replace(settings, trunk="rabta-carrier", ami_user="rabta-engine", ami_secret=SECRET,
                sip_port=settings.sip_port + 2, ami_port=settings.ami_port + 2)
    inst = rootfs.Instance(settings.rootfs, "pbx", f"{settings.node}-stock", s.sip_port,
                           s.carrier_sip_port, settings.rtp_start + 10000)
    etc = inst.host_path(inst.etc)
    shutil.rmtree(etc, ignore_errors=True)
    shutil.copytree(settings.rootfs / "etc/asterisk", etc, symlinks=True)
    lay = inst.spec().layout
    for d in (lay.lib_dir, lay.spool_dir, lay.run_dir, lay.log_dir, lay.cache_dir):
        inst.host_path(d).mkdir(parents=True, exist_ok=True)
    (etc / "asterisk.conf").write_text(
        f"[directories]\nastetcdir => {lay.etc_dir}\nastvarlibdir => /var/lib/asterisk\n"
        f"astdbdir => {lay.lib_dir}\nastkeydir => /var/lib/asterisk\n"
        f"astdatadir => /usr/share/asterisk\nastagidir => {lay.agi_dir}\n"
        f"astspooldir => {lay.spool_dir}\nastrundir => {lay.run_dir}\nastlogdir => {lay.log_dir}\n"
        f"astsbindir => /usr/sbin\nastcachedir => {lay.cache_dir}\n"
        f"[options]\nsystemname = {inst.name}\n")
    manager = etc / "manager.conf"
    manager.write_text(re.sub(r"^port = 5038$", f"port = {s.ami_port}", manager.read_text(),
                              count=1, flags=re.MULTILINE))
    # RTP: the stock rtp.conf's 10000-20000 would overlap the lab PBX's range.
    (etc / "rtp.conf").write_text(f"[general]\nrtpstart = {inst.rtp_start}\n"
                                  f"rtpend = {inst.rtp_start + 4999}\n")
    render.render(s, "include", etc / "rabta")
    # The lines `render` prints name the files by their host path; inside the chroot the same
    # files are rabta/<name> under astetcdir.
    for name, (_custom, plain) in render.INCLUDE_FILES.items():
        with (etc / plain).open("a") as f:
            f.write(f"\n#include rabta/{name}\n")
    return s, inst


async def test_the_include_files_run_the_survey_on_debians_stock_config(
        node_settings: Settings, store: SQLiteStore) -> None:
    s, inst = stock_node(node_settings)
    await asyncio.to_thread(rootfs.start, inst)
    try:
        shown = await asyncio.to_thread(rootfs.cli, inst, "dialplan show")
        contexts = set(re.findall(r"\[ Context '([^']+)'", shown))
        assert {"rabta-survey", "rabta-inbound", "rabta-bridge"} <= contexts
        assert {"default", "demo", "public", "trunkint"} <= contexts, sorted(contexts)
        eps = await asyncio.to_thread(rootfs.cli, inst, "pjsip show endpoints")
        assert "rabta-carrier" in eps
        citizens = [Citizen(f"0303{SLOT}8{i:05d}", "answer", SURVEY_KEYS) for i in range(3)]
        install_phonebook(node_settings, citizens)
        txs = transactions_for(citizens, "stock")
        await store.add_transactions(txs, txs[0].visited_at)
        engine = Engine(replace(s, nodes=(f"{inst.name}@127.0.0.1:{s.ami_port}",)), store)
        await engine.start()
        try:
            await asyncio.wait_for(engine.dialer.run(until_idle=True), 240)
        finally:
            await engine.close()
        results = {r["ref"]: r for r in await store.results()}
        for i in range(len(citizens)):
            r = results[f"stock-{i:03d}"]
            assert (r["status"], r["answers"]) == ("completed", SURVEY_ANSWERS), r
    finally:
        await asyncio.to_thread(rootfs.stop, inst)


def test_stock_node_files_keep_every_stock_file(node_settings: Settings, tmp_path: Path) -> None:
    _s, inst = stock_node(node_settings)
    etc = inst.host_path(inst.etc)
    stock = {p.name for p in (node_settings.rootfs / "etc/asterisk").iterdir()}
    assert stock <= {p.name for p in etc.iterdir()}
    assert "#include rabta/extensions_rabta.conf" in (etc / "extensions.conf").read_text()
