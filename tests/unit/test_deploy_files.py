"""What deploy/ ships: systemd units that `systemd-analyze verify` accepts, hardened; the
fail2ban jail on fail2ban's own asterisk filter (its match on real Asterisk lines is in
tests/integration/test_fail2ban.py)."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
TIMERS = sorted((DEPLOY / "systemd").glob("*.timer"))
HARDENING = {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "PrivateTmp": "yes",
             "ProtectHome": "yes"}


def test_units_are_shipped() -> None:
    assert {u.name for u in UNITS} == {"rabta.service", "rabta-web.service",
                                       "rabta-digest.service"}
    assert {t.name for t in TIMERS} == {"rabta-digest.timer"}
    for timer in TIMERS:  # each timer starts the service of its name
        assert timer.with_suffix(".service") in UNITS


@pytest.mark.parametrize("unit", UNITS + TIMERS, ids=lambda p: p.name)
def test_systemd_analyze_verify_accepts_the_unit(unit: Path, tmp_path: Path) -> None:
    verify = shutil.which("systemd-analyze")
    assert verify, "systemd-analyze is missing (Debian's systemd package; `make setup`)"
    rabta = Path(sys.executable).with_name("rabta")  # the venv's, where /opt/rabta's would be
    for each in UNITS + TIMERS:  # a timer is verified beside the service it starts
        text = each.read_text().replace("/opt/rabta/.venv/bin/rabta", str(rabta))
        (tmp_path / each.name).write_text(text)
    res = subprocess.run([verify, "verify", str(tmp_path / unit.name)], capture_output=True,
                         text=True, check=False, timeout=60)
    ours = [line for line in (res.stdout + res.stderr).splitlines() if unit.name in line]
    assert res.returncode == 0 and not ours, res.stdout + res.stderr


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_the_unit_is_hardened_under_a_service_user(unit: Path) -> None:
    cp = configparser.ConfigParser(strict=False, interpolation=None)
    cp.optionxform = str  # type: ignore[assignment,method-assign]
    cp.read_string(unit.read_text())
    service = cp["Service"]
    assert service["User"] == "rabta"
    for key, value in HARDENING.items():
        assert service[key] == value, key
    assert "/var/lib/rabta" in service["ReadWritePaths"]
    assert service["Environment"]  # RABTA_HOME is set (the last Environment= line wins here)


def test_the_jail_uses_the_stock_asterisk_filter_on_the_security_log() -> None:
    cp = configparser.ConfigParser(interpolation=None)
    cp.read(DEPLOY / "fail2ban" / "jail.d" / "rabta-asterisk.conf")
    jail = cp["rabta-asterisk"]
    assert jail["filter"] == "asterisk" and jail["enabled"] == "true"
    assert jail["logpath"].endswith("security.log")
    assert "127.0.0.1/8" in jail["ignoreip"]
    logger = (DEPLOY.parent / "dialplans" / "common" / "logger.conf.tmpl").read_text()
    assert "security.log => security" in logger
