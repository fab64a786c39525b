"""A carrier that speaks only TLS with SRTP: the survey completes over it.

The test makes a self-signed certificate. A carrier simulator (a third Asterisk in the rootfs)
takes calls only over TLS and only with SDES-SRTP media; the PBX's trunk is rendered from
`trunk_sip` (transport=tls, srtp=yes, certificate paths on the host, copied into the rootfs
by the lab). SRTP is mandatory on both sides (no optimistic fallback), so a completed survey
is one that ran over TLS with encrypted media.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

from support import SLOT, SURVEY_ANSWERS, SURVEY_KEYS, Citizen, transactions_for

from ivr.config import Settings, replace
from ivr.engine import Engine
from ivr.lab import rootfs, simulator
from ivr.store import SQLiteStore


def self_signed(where: Path) -> tuple[Path, Path]:
    cert, key = where / "carrier.crt", where / "carrier.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


def tls_carrier(settings: Settings, cert: Path, key: Path) -> tuple[rootfs.Instance, int]:
    """Start a carrier simulator that takes calls over TLS with SRTP only."""
    inst = rootfs.Instance(settings.rootfs, "carrier", f"{settings.node}-tls",
                           settings.carrier_sip_port + 4, settings.sip_port,
                           settings.rtp_start + 20000)
    tls_port = settings.carrier_sip_port + 5
    rootfs.render_instance(settings, inst)
    etc = inst.host_path(inst.etc)
    (etc / "certs").mkdir(exist_ok=True)
    shutil.copyfile(cert, etc / "certs" / cert.name)
    shutil.copyfile(key, etc / "certs" / key.name)
    pj = etc / "pjsip.conf"
    text = pj.read_text().replace(
        "aors = pbx\n", "aors = pbx\ntransport = transport-tls\nmedia_encryption = sdes\n"
                        "media_encryption_optimistic = no\n", 1)
    text += (f"\n[transport-tls]\ntype = transport\nprotocol = tls\nbind = 127.0.0.1:{tls_port}\n"
             f"cert_file = {inst.etc}/certs/{cert.name}\npriv_key_file = {inst.etc}/certs/{key.name}\n"
             f"method = tlsv1_2\n")
    pj.write_text(text)
    rootfs.start(inst)
    return inst, tls_port


async def test_the_survey_completes_over_tls_with_srtp(node_settings: Settings, store: SQLiteStore,
                                                      tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    pbx = rootfs.node_for(node_settings).pbx
    carrier, tls_port = await asyncio.to_thread(tls_carrier, node_settings, cert, key)
    try:
        s = replace(node_settings, trunk="tlstrunk",
                    trunk_sip=(f"tlstrunk host=127.0.0.1:{tls_port} transport=tls "
                               f"tls_cert={cert} tls_key={key} srtp=yes match=127.0.0.1",))
        await asyncio.to_thread(rootfs.render_instance, s, pbx)
        assert f"cert_file = {pbx.etc}/certs/{cert.name}" in (
            pbx.host_path(pbx.etc) / "pjsip.conf").read_text()  # the lab copied it in
        # A new transport needs a restart (PJSIP does not add transports on a reload).
        await asyncio.to_thread(rootfs.stop, pbx)
        await asyncio.to_thread(rootfs.start, pbx)
        shown = await asyncio.to_thread(rootfs.cli, pbx, "pjsip show transports")
        assert "transport-tls" in shown and "tls" in shown
        citizens = [Citizen(f"0305{SLOT}6{i:05d}", "answer", SURVEY_KEYS) for i in range(2)]
        book = simulator.parse_phonebook(
            "number,action,keys\n" + "".join(f"{c.number},answer,{c.keys}\n" for c in citizens))
        await asyncio.to_thread(rootfs.install_phonebook, carrier, simulator.render_dialplan(book))
        txs = transactions_for(citizens, "tls")
        await store.add_transactions(txs, txs[0].visited_at)
        engine = Engine(s, store)
        await engine.start()
        try:
            await asyncio.wait_for(engine.dialer.run(until_idle=True), 180)
        finally:
            await engine.close()
        results = {r["ref"]: r for r in await store.results()}
        for i, c in enumerate(citizens):
            r = results[f"tls-{i:03d}"]
            assert (r["status"], r["answers"]) == ("completed", SURVEY_ANSWERS), (c, r)
    finally:
        await asyncio.to_thread(rootfs.stop, carrier)
        await asyncio.to_thread(rootfs.render_instance, node_settings, pbx)
        await asyncio.to_thread(rootfs.stop, pbx)
        await asyncio.to_thread(rootfs.start, pbx)
