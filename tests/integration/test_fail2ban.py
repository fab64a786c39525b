"""SIP brute force against the real PBX is what fail2ban's jail (deploy/fail2ban/) bans.

An "attacker" on 127.0.0.2 (the trunk is identified by 127.0.0.1 only) sends REGISTERs for
made-up users; the PBX logs them to its security log (SecurityEvent lines of
res_security_log), and fail2ban-regex with fail2ban's own asterisk filter, the jail's filter,
finds the attacker's address in every one.
"""

from __future__ import annotations

import configparser
import re
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from ivr.config import Settings
from ivr.lab import rootfs

JAIL = Path(__file__).resolve().parents[2] / "deploy" / "fail2ban" / "jail.d" / "rabta-asterisk.conf"
ATTACKER = "127.0.0.2"
TRIES = 6
FAILED_FROM_ATTACKER = re.compile(
    r'^.*SecurityEvent="(?:InvalidAccountID|ChallengeResponseFailed|InvalidPassword|FailedACL)"'
    rf'.*RemoteAddress="IPV4/UDP/{re.escape(ATTACKER)}/\d+".*$', re.MULTILINE)


def register(sock: socket.socket, port: int, user: str) -> None:
    lport = sock.getsockname()[1]
    msg = (f"REGISTER sip:127.0.0.1:{port} SIP/2.0\r\n"
           f"Via: SIP/2.0/UDP {ATTACKER}:{lport};branch=z9hG4bK{uuid.uuid4().hex};rport\r\n"
           f"Max-Forwards: 70\r\nFrom: <sip:{user}@127.0.0.1>;tag={uuid.uuid4().hex[:8]}\r\n"
           f"To: <sip:{user}@127.0.0.1>\r\nCall-ID: {uuid.uuid4().hex}@{ATTACKER}\r\n"
           f"CSeq: 1 REGISTER\r\nContact: <sip:{user}@{ATTACKER}:{lport}>\r\nExpires: 60\r\n"
           f"User-Agent: friendly-scanner\r\nContent-Length: 0\r\n\r\n")
    sock.sendto(msg.encode(), ("127.0.0.1", port))


def test_sip_brute_force_lands_in_the_jails_filter(node_settings: Settings) -> None:
    pbx = rootfs.node_for(node_settings).pbx
    log = pbx.host_path(f"{pbx.log_dir}/security.log")
    start = log.stat().st_size if log.exists() else 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((ATTACKER, 0))
        for i in range(TRIES):
            register(sock, node_settings.sip_port, f"admin{i}")
    deadline = time.monotonic() + 30
    new, failures = "", 0
    while time.monotonic() < deadline:
        new = log.read_text(errors="replace")[start:] if log.exists() else ""
        new = new[:new.rfind("\n") + 1]  # whole lines only: the PBX may be mid-write
        failures = len(FAILED_FROM_ATTACKER.findall(new))
        if failures >= TRIES:
            break
        time.sleep(0.2)
    # Each line names the attacker twice (SessionID and RemoteAddress), and a ChallengeSent
    # line is no failure: count the failure events, one per made-up user.
    assert failures >= TRIES, f"security.log has: {new[-2000:]!r}"
    jail = configparser.ConfigParser(interpolation=None)
    jail.read(JAIL)
    filt = Path("/etc/fail2ban/filter.d") / f"{jail['rabta-asterisk']['filter']}.conf"
    assert shutil.which("fail2ban-regex") and filt.exists(), "fail2ban is missing (`make setup`)"
    sample = Path(str(log) + ".sample")
    sample.write_text(new)
    try:
        res = subprocess.run(["fail2ban-regex", "--print-all-matched", str(sample), str(filt)],
                             capture_output=True, text=True, timeout=60, check=False)
    finally:
        sample.unlink()
    assert res.returncode == 0, res.stderr
    summary = re.search(r"Lines: \d+ lines, \d+ ignored, (\d+) matched", res.stdout)
    assert summary is not None, res.stdout[-3000:]
    matched = res.stdout.split("Matched line(s):", 1)[-1].split("Missed line(s):", 1)[0]
    assert int(summary.group(1)) >= TRIES, res.stdout[-3000:]
    assert matched.count(f"RemoteAddress=\"IPV4/UDP/{ATTACKER}/") >= TRIES, res.stdout[-3000:]
    assert int(jail["rabta-asterisk"]["maxretry"]) <= TRIES  # this many tries gets banned


def test_asterisk_status_shows_uptime_calls_and_ami_round_trip(
        node_settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    from ivr import cli

    assert cli.asterisk_status(node_settings) == 0
    out = capsys.readouterr().out
    assert "uptime" in out and re.search(rf"calls in use: \d+ of {node_settings.max_concurrent}", out)
    assert "greeting in" in out
