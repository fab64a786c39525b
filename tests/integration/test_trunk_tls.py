"""A carrier that speaks only TLS with SRTP: the survey completes over it.

The test makes two self-signed certificates (the carrier's and the PBX's) with openssl. A
carrier simulator (a third Asterisk in the rootfs) listens on TLS alone (no UDP transport at
all), demands the PBX's client certificate, and takes only SDES-SRTP media (no optimistic
fallback). The PBX's trunk is rendered from `trunk_sip` (transport=tls, srtp=yes, tls_cert and
tls_key on the host, tls_ca = the carrier's certificate, so the PBX verifies the carrier). Each
answered call writes into the carrier's CDR whether its signalling and its media were secure
(CHANNEL(pjsip,secure), CHANNEL(rtp,secure)), so a silent fall back to UDP or plain RTP fails
the test, as would the call not reaching this carrier at all.
"""

from __future__ import annotations

import asyncio
import csv
import subprocess
import time
from pathlib import Path

from support import SLOT, SURVEY_ANSWERS, SURVEY_KEYS, Citizen, transactions_for

from ivr import phone, render
from ivr.config import Settings, replace
from ivr.engine import Engine
from ivr.lab import rootfs, simulator
from ivr.store import SQLiteStore

SECURE = "tls=${CHANNEL(pjsip,secure)} srtp=${CHANNEL(rtp,secure)}"


def self_signed(where: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (as subject and as an IP subjectAltName)."""
    cert, key = where / f"{name}.crt", where / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


def tls_carrier(settings: Settings, cert: Path, key: Path, client_ca: Path) -> rootfs.Instance:
    """Start a carrier simulator that takes calls over TLS with SRTP only."""
    inst = rootfs.Instance(settings.rootfs, "carrier", f"{settings.node}-tls",
                           settings.carrier_sip_port + 4, settings.sip_port,
                           settings.rtp_start + 20000)
    rootfs.render_instance(settings, inst)
    pj = inst.host_path(inst.etc) / "pjsip.conf"
    text = render.drop_sections(pj.read_text(), frozenset({"transport-udp"}))  # no UDP at all
    text = text.replace("transport = transport-udp\n",
                        "transport = transport-tls\nmedia_encryption = sdes\n"
                        "media_encryption_optimistic = no\n", 1)
    text += (f"\n[transport-tls]\ntype = transport\nprotocol = tls\n"
             f"bind = 127.0.0.1:{inst.sip_port}\ncert_file = {cert}\npriv_key_file = {key}\n"
             f"method = tlsv1_2\nca_list_file = {client_ca}\nverify_client = yes\n"
             f"require_client_cert = yes\n")
    pj.write_text(rootfs.copy_certs(text, inst.rootfs, f"{inst.etc}/certs"))
    rootfs.start(inst)
    return inst


def carrier_cdrs(inst: rootfs.Instance, numbers: set[str], timeout: float = 20) -> list[list[str]]:
    """The carrier's CDR rows of these numbers, once there is one for each (or the timeout)."""
    path = inst.host_path(f"{inst.log_dir}/cdr-csv/Master.csv")
    deadline = time.monotonic() + timeout
    rows: list[list[str]] = []
    while time.monotonic() < deadline:
        rows = ([r for r in csv.reader(path.read_text().splitlines()) if len(r) > 2
                 and r[2] in numbers] if path.exists() else [])
        if {r[2] for r in rows} >= numbers:
            break
        time.sleep(0.5)
    return rows


async def test_the_survey_completes_over_tls_with_srtp(node_settings: Settings, store: SQLiteStore,
                                                      tmp_path: Path) -> None:
    carrier_cert, carrier_key = self_signed(tmp_path, "carrier")
    pbx_cert, pbx_key = self_signed(tmp_path, "pbx")
    pbx = rootfs.node_for(node_settings).pbx
    carrier = await asyncio.to_thread(tls_carrier, node_settings, carrier_cert, carrier_key,
                                      pbx_cert)
    try:
        s = replace(node_settings, trunk="tlstrunk",
                    trunk_sip=(f"tlstrunk host=127.0.0.1:{carrier.sip_port} transport=tls "
                               f"tls_cert={pbx_cert} tls_key={pbx_key} tls_ca={carrier_cert} "
                               f"srtp=yes match=127.0.0.1",))
        await asyncio.to_thread(rootfs.render_instance, s, pbx)
        # A new transport needs a restart (PJSIP does not add transports on a reload).
        await asyncio.to_thread(rootfs.stop, pbx)
        await asyncio.to_thread(rootfs.start, pbx)
        shown = await asyncio.to_thread(rootfs.cli, pbx, "pjsip show transport transport-tls")
        assert "verify_server" in shown and "ca_list_file" in shown, shown
        citizens = [Citizen(f"0305{SLOT}6{i:05d}", "answer", SURVEY_KEYS) for i in range(2)]
        book = simulator.render_dialplan(simulator.parse_phonebook(
            "number,action,keys\n" + "".join(f"{c.number},answer,{c.keys}\n" for c in citizens)))
        book = book.replace(" same => n,Answer()\n",
                            f" same => n,Answer()\n same => n,Set(CDR(userfield)={SECURE})\n")
        await asyncio.to_thread(rootfs.install_phonebook, carrier, book)
        txs = transactions_for(citizens, "tls")
        await store.add_transactions(txs, txs[0].visited_at)
        engine = Engine(s, store)
        await engine.start()
        try:
            await asyncio.wait_for(engine.dialer.run(until_idle=True), 120)
        finally:
            await engine.close()
        results = {r["ref"]: r for r in await store.results()}
        for i, c in enumerate(citizens):
            r = results[f"tls-{i:03d}"]
            assert (r["status"], r["answers"]) == ("completed", SURVEY_ANSWERS), (c, r)
        # The carrier's own record: each call answered there, signalling and media encrypted.
        numbers = {phone.digits(phone.normalize(c.number)) for c in citizens}
        rows = await asyncio.to_thread(carrier_cdrs, carrier, numbers)
        assert {(r[2], r[14], r[-1]) for r in rows} == {
            (n, "ANSWERED", "tls=1 srtp=1") for n in numbers}, rows
    finally:
        await asyncio.to_thread(rootfs.stop, carrier)
        await asyncio.to_thread(rootfs.render_instance, node_settings, pbx)
        await asyncio.to_thread(rootfs.stop, pbx)
        await asyncio.to_thread(rootfs.start, pbx)
