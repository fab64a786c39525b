"""`rabta dialplan check`'s throw-away Asterisk: real Asterisk 22 parses the rendered files.

No PBX node is started: each check boots its own Asterisk from the shared rootfs in temporary
directories and a network namespace of its own, and stops it. A syntax error comes back with
Asterisk's own message and line.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from ivr import dialplan_check as C
from ivr import render
from ivr.cli import dialplan as cli_dialplan
from ivr.config import Settings, load_settings, replace
from ivr.lab import rootfs as lab

SLOT_PORT = 15060 + int(__import__("os").environ.get("RABTA_TEST_SLOT", "0"))


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    dest = tmp_path / "dialplans"
    shutil.copytree(render.TEMPLATES, dest)
    return dest


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    s = load_settings(env={}, overrides={
        "home": str(tmp_path / "home"), "ami_secret": "s" * 24, "sip_port": SLOT_PORT,
        "trunk": "rabta-carrier", "ami_user": "rabta-engine"})
    if not lab.rootfs_ready(s.rootfs):
        pytest.fail(f"the lab rootfs is missing at {s.rootfs}: run `rabta asterisk up` once")
    return s


@pytest.fixture
def sounds(tmp_path: Path) -> Path:
    for lang in ("ur", "pa", "en"):
        (tmp_path / "sounds" / lang / "rabta").mkdir(parents=True)
        (tmp_path / "sounds" / lang / "rabta" / "inbound-notice.wav").write_bytes(b"RIFF")
    return tmp_path / "sounds"


def edit(templates: Path, rel: str, old: str, new: str) -> None:
    path = templates / rel
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, new, 1))


@pytest.mark.parametrize("target", ["dedicated", "include"])
def test_the_shipped_rendering_loads_and_opens_no_port(settings: Settings, sounds: Path,
                                                       target: str) -> None:
    # Hold the very SIP port the rendering binds: a check on the host's network would fail
    # to start its transport. Its own network namespace sees no such socket.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as held:
        held.bind(("127.0.0.1", SLOT_PORT))
        assert cli_dialplan.run_check(settings, target, sounds=sounds) == []


def test_a_pjsip_syntax_error_shows_asterisks_message_and_line(
        settings: Settings, sounds: Path, templates: Path) -> None:
    edit(templates, "common/pjsip.conf.tmpl", "dtmf_mode = rfc4733\n",
         "dtmf_mode = rfc4733\ndtmf_mdoe = inband\n")
    found = cli_dialplan.run_check(settings, "dedicated", templates, sounds)
    text = "\n".join(f.what for f in found if f.severity == C.HIGH)
    line = 1 + render.render_files(settings, render.pbx_instance(settings), "dedicated",
                                   "s" * 24, templates)["pjsip.conf"].split("dtmf_mdoe")[0].count("\n")
    assert (f"Could not find option suitable for category 'rabta-carrier' named 'dtmf_mdoe' "
            f"at line {line}") in text
    assert "endpoint rabta-carrier did not load" in text


def test_a_line_without_equals_is_shown_with_its_line(settings: Settings, sounds: Path,
                                                      templates: Path) -> None:
    edit(templates, "common/pjsip.conf.tmpl", "direct_media = no\n", "direct_media no\n")
    found = "\n".join(f.what for f in cli_dialplan.run_check(settings, "dedicated", templates, sounds))
    assert "No '=' (equal sign) in line" in found and "pjsip.conf" in found


def test_a_dialplan_syntax_error_is_shown(settings: Settings, sounds: Path, templates: Path) -> None:
    edit(templates, "pbx/extensions.conf.tmpl", " same => n,Hangup()\n",
         " same => n,Hangup()\n same => n,Verbose(1,unclosed\n")
    found = "\n".join(f.what for f in cli_dialplan.run_check(settings, "dedicated", templates, sounds))
    assert "No closing parenthesis found? 'Verbose(1,unclosed' at line" in found


def test_a_registering_tls_srtp_trunk_loads(settings: Settings, sounds: Path, tmp_path: Path) -> None:
    # A self-signed certificate, made here; the sandbox sees copies of the files the config names.
    cert, key = tmp_path / "pbx.crt", tmp_path / "pbx.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=rabta-pbx", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    s = replace(settings, trunks=("rabta-carrier channels=30 cps=5", "rabta-ip channels=4 cps=1"),
                trunk_sip=(f"rabta-carrier host=127.0.0.1:5999 register=yes username=u1 "
                           f"password=p1-secret transport=tls tls_cert={cert} tls_key={key} "
                           f"srtp=yes codecs=alaw dtmf=rfc4733 from_user=u1 from_domain=example.pk",
                           "rabta-ip match=203.0.113.0/24 host=203.0.113.5 dtmf=inband"))
    for target in ("dedicated", "include"):
        assert cli_dialplan.run_check(s, target, sounds=sounds) == [], target
