"""A real trunk's digest auth: the carrier simulator plays a carrier that demands registration.

A second carrier simulator (a third Asterisk in the rootfs) is a registrar: it accepts the
PBX only after digest auth, and challenges every call. The PBX's trunk is rendered from
`trunk_sip` (register=yes, username, password); the survey completes over it. With a wrong
password the registration shows as rejected in `rabta asterisk status` and in the PBX's log,
and the dialer sends nothing through the trunk: its calls wait (no attempt is spent) and go
once the fixed config is deployed (`rabta dialplan deploy`). 131 s on a busy shared machine.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import time

import pytest
from support import SLOT, SURVEY_ANSWERS, SURVEY_KEYS, Citizen, transactions_for

from ivr import cli, phone, render
from ivr.cli import dialplan as cli_dialplan
from ivr.config import Settings, replace
from ivr.engine import Engine
from ivr.lab import rootfs, simulator
from ivr.store import SQLiteStore

PASSWORD = "trunk-digest-secret-42"
RESEND_S = 10


def registrar(settings: Settings) -> rootfs.Instance:
    """Start a carrier simulator that demands registration and digest auth from the PBX."""
    port = settings.carrier_sip_port + 3
    inst = rootfs.Instance(settings.rootfs, "carrier", f"{settings.node}-registrar", port,
                           settings.sip_port, settings.rtp_start + 15000)
    rootfs.render_instance(settings, inst)
    etc = inst.host_path(inst.etc)
    pj = etc / "pjsip.conf"
    text = pj.read_text()
    # The PBX must authenticate: calls are challenged, and its registration is its contact.
    text = text.replace("aors = pbx\n", "aors = pbx\nauth = pbx-auth\n", 1)
    text = text.replace("[pbx]\ntype = aor\n", "[pbx]\ntype = aor\nmax_contacts = 1\n"
                        "remove_existing = yes\n", 1)
    text += f"\n[pbx-auth]\ntype = auth\nauth_type = userpass\nusername = pbx\npassword = {PASSWORD}\n"
    pj.write_text(text)
    mods = etc / "modules.conf"
    mods.write_text(mods.read_text() + "load = res_pjsip_registrar.so\n")
    rootfs.start(inst)
    return inst


def trunk_settings(settings: Settings, port: int, password: str) -> Settings:
    return replace(settings, trunk="regtrunk",
                   trunk_sip=(f"regtrunk host=127.0.0.1:{port} register=yes username=pbx "
                              f"password={password} match=127.0.0.1",))


def registration_state(pbx: rootfs.Instance, want: str, timeout: float = 60) -> str:
    """Wait until `pjsip show registrations` shows `want`; return what it showed last.

    A nudge (`pjsip send register`) unregisters and registers again, so it is sent at most
    every RESEND_S: sent every second, it kept a slow registration (a challenge, then the
    REGISTER with digest auth, on a busy machine) from ever finishing.
    """
    deadline = time.monotonic() + timeout
    nudged = time.monotonic()
    out = ""
    while time.monotonic() < deadline:
        out = rootfs.cli(pbx, "pjsip show registrations")
        if want in out:
            return out
        if time.monotonic() - nudged >= RESEND_S:
            rootfs.cli(pbx, "pjsip send register regtrunk-reg")
            nudged = time.monotonic()
        time.sleep(0.5)
    return out


async def test_calls_complete_over_a_registering_trunk_and_a_wrong_password_shows(
        node_settings: Settings, store: SQLiteStore, capsys: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture) -> None:
    pbx = rootfs.node_for(node_settings).pbx
    reg = await asyncio.to_thread(registrar, node_settings)
    try:
        good = trunk_settings(node_settings, reg.sip_port, PASSWORD)
        await asyncio.to_thread(rootfs.render_instance, good, pbx)
        for cmd in ("module reload res_pjsip.so", "dialplan reload"):
            await asyncio.to_thread(rootfs.cli, pbx, cmd)
        out = await asyncio.to_thread(registration_state, pbx, "Registered")
        assert re.search(r"regtrunk-reg/\S+\s+\S+\s+Registered", out), out
        citizens = [Citizen(f"0304{SLOT}9{i:05d}", "answer", SURVEY_KEYS) for i in range(5)]
        book = simulator.parse_phonebook(
            "number,action,keys\n" + "".join(f"{c.number},answer,{c.keys}\n" for c in citizens))
        await asyncio.to_thread(rootfs.install_phonebook, reg, simulator.render_dialplan(book))
        txs = transactions_for(citizens, "regtrunk")
        await store.add_transactions(txs[:2], txs[0].visited_at)
        engine = Engine(good, store)
        await engine.start()
        try:
            await asyncio.wait_for(engine.dialer.run(until_idle=True), 180)
        finally:
            await engine.close()
        results = {r["ref"]: r for r in await store.results()}
        for i, c in enumerate(citizens[:2]):
            r = results[f"regtrunk-{i:03d}"]
            assert (r["status"], r["answers"]) == ("completed", SURVEY_ANSWERS), (c, r)
        assert phone.digits(phone.normalize(citizens[0].number))
        # A wrong password: rejected, in `rabta asterisk status` and in the PBX's log.
        log_path = pbx.host_path(f"{pbx.log_dir}/messages.log")
        log_start = log_path.stat().st_size
        bad = trunk_settings(node_settings, reg.sip_port, "wrong-password")
        await asyncio.to_thread(rootfs.render_instance, bad, pbx)
        await asyncio.to_thread(rootfs.cli, pbx, "module reload res_pjsip.so")
        out = await asyncio.to_thread(registration_state, pbx, "Rejected")
        assert "Rejected" in out, out
        capsys.readouterr()
        cli.asterisk_status(bad)
        status = capsys.readouterr().out
        assert re.search(r"trunk registration regtrunk-reg \(\S+\): Rejected", status), status
        log = log_path.read_text(errors="replace")[log_start:]
        lines = [line for line in log.splitlines() if "regist" in line.lower()
                 and re.search(r"401|403|fail|reject", line, re.IGNORECASE)]
        assert lines, log[-3000:]
        # Its calls wait: the engine sends nothing through the rejected trunk...
        caplog.set_level(logging.INFO, logger="scheduler.dialer")
        await store.add_transactions(txs[2:], txs[0].visited_at)
        engine = Engine(bad, store)
        await engine.start()
        dialer = asyncio.create_task(engine.dialer.run(until_idle=True))
        try:
            await asyncio.sleep(8)
            results = {r["ref"]: r for r in await store.results()}
            waiting = [results[f"regtrunk-{i:03d}"] for i in range(2, 5)]
            assert all((r["status"], r["attempts"]) == ("pending", 0) for r in waiting), waiting
            assert "trunk regtrunk registration is Rejected: its calls wait" in caplog.text
            assert not dialer.done()
            # ...and they go once the fixed config is deployed.
            args = argparse.Namespace(target="lab", templates=render.TEMPLATES, etc=None,
                                      sounds=None, no_check=True)
            assert await asyncio.to_thread(cli_dialplan.do_deploy, good, args) == 0
            await asyncio.wait_for(dialer, 120)
        finally:
            dialer.cancel()
            await engine.close()
        assert "trunk regtrunk is Registered: its calls go" in caplog.text
        results = {r["ref"]: r for r in await store.results()}
        for i in range(2, 5):
            r = results[f"regtrunk-{i:03d}"]
            assert (r["status"], r["attempts"], r["answers"]) == ("completed", 1, SURVEY_ANSWERS), r
    finally:
        await asyncio.to_thread(rootfs.stop, reg)
        await asyncio.to_thread(rootfs.render_instance, node_settings, pbx)
        for cmd in ("module reload res_pjsip.so", "dialplan reload"):
            await asyncio.to_thread(rootfs.cli, pbx, cmd)
