"""`rabta doctor`: each flag the issue lists, in a test; a clean lab node has no high finding."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ivr import doctor, render
from ivr.cli import doctor as cli_doctor
from ivr.config import Settings
from ivr.dialplan_check import HIGH, Finding
from ivr.lab import rootfs as lab
from ivr.store import backup as B
from ivr.store import open_store

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def clean_node(tmp_path: Path, **kw: object) -> tuple[Settings, Path]:
    """A lab node as `rabta asterisk up` leaves it: rendered config, database, a fresh backup."""
    s = Settings(home=tmp_path / "home", cache=tmp_path / "cache", **kw)  # type: ignore[arg-type]
    etc = tmp_path / "etc"
    spec = lab.node_for(s).pbx.spec()
    render.render(s, "lab", etc, instance=spec, ami_secret=lab.ami_secret(s))

    async def make_db() -> None:
        store = await open_store(s.db_path)
        await store.close()

    asyncio.run(make_db())
    B.backup(s.db_path, s.home / "backups" / "rabta-20261202T115000Z.db")
    return s, etc


def audit(s: Settings, etc: Path, now: datetime | None = None) -> list[Finding]:
    return cli_doctor.audit(s, [etc], None, now or datetime.now(UTC),
                            prompt_exists=lambda name: True, check_nodes=False)


def highs(findings: list[Finding]) -> str:
    return "\n".join(f.what for f in findings if f.severity == HIGH)


def test_a_clean_lab_node_has_no_high_finding(tmp_path: Path) -> None:
    s, etc = clean_node(tmp_path)
    assert highs(audit(s, etc)) == ""


def test_ami_on_every_address_is_high(tmp_path: Path) -> None:
    s, etc = clean_node(tmp_path, ami_host="0.0.0.0")
    assert "AMI listens on 0.0.0.0, beyond loopback" in highs(audit(s, etc))


def test_an_ami_user_with_system_is_high(tmp_path: Path) -> None:
    s, etc = clean_node(tmp_path)
    conf = etc / "manager.conf"
    conf.write_text(conf.read_text().replace("write = originate,reporting",
                                             "write = originate,reporting,system"))
    assert "AMI user rabta has system rights" in highs(audit(s, etc))


@pytest.mark.parametrize("secret", ["rabta", "short-secret", "changeme"])
def test_a_default_or_short_ami_secret_is_high(tmp_path: Path, secret: str) -> None:
    s, etc = clean_node(tmp_path, ami_secret=secret)
    assert "default or short secret" in highs(audit(s, etc))


def test_a_world_readable_secret_file_is_high(tmp_path: Path) -> None:
    s, etc = clean_node(tmp_path)
    os.chmod(s.home / "ami.secret", 0o644)
    assert "ami.secret holds a secret and is readable by everyone" in highs(audit(s, etc))


def test_fastagi_open_beyond_loopback_is_high(tmp_path: Path) -> None:
    s, etc = clean_node(tmp_path, agi_host="0.0.0.0", agi_allow=("0.0.0.0/0",))
    assert "FastAGI listens on 0.0.0.0 and agi_allow lets any address in" in highs(audit(s, etc))
    narrow, _ = clean_node(tmp_path / "n", agi_host="10.0.0.2", agi_allow=("10.0.0.5/32",))
    assert highs(audit(narrow, etc)) == ""


def test_web_open_with_cookie_secure_off_is_high_and_metrics_is_flagged(tmp_path: Path) -> None:
    s, etc = clean_node(tmp_path, web_host="0.0.0.0")
    found = audit(s, etc)
    assert "cookie_secure is off" in highs(found)
    assert any("/metrics" in f.what for f in found)
    secure, _ = clean_node(tmp_path / "s", web_host="0.0.0.0", cookie_secure=True)
    assert highs(audit(secure, etc)) == ""


def test_an_inbound_context_that_dials_is_high(tmp_path: Path) -> None:
    s, etc = clean_node(tmp_path)
    ext = etc / "extensions.conf"
    ext.write_text(ext.read_text().replace(
        "[rabta-inbound]\n", "[rabta-inbound]\nexten => _0X.,1,Dial(PJSIP/${EXTEN}@carrier)\n"))
    assert "toll fraud: [rabta-inbound] _0X." in highs(audit(s, etc))


def test_missing_prompts_are_high(tmp_path: Path) -> None:
    s, etc = clean_node(tmp_path)
    found = cli_doctor.audit(s, [etc], None, NOW, prompt_exists=lambda n: False, check_nodes=False)
    assert "rabta/inbound-notice" in highs(found)


def test_a_world_readable_database_is_high(tmp_path: Path) -> None:
    s, etc = clean_node(tmp_path)
    os.chmod(s.db_path, 0o644)
    assert "citizens' numbers and answers) has mode 0644" in highs(audit(s, etc))


def test_disk_and_backup_age() -> None:
    assert doctor.audit_disk(Path("/x"), 100 * 1024**2)[0].severity == HIGH
    assert doctor.audit_disk(Path("/x"), 50 * 1024**3) == []
    assert doctor.audit_backups(None, NOW)[0].what == "no backup found"
    assert doctor.audit_backups(NOW - timedelta(hours=2), NOW) == []
    assert "2 day(s)" in doctor.audit_backups(NOW - timedelta(days=2, hours=1), NOW)[0].what


def test_doctor_exits_one_on_a_high_finding(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    s, etc = clean_node(tmp_path, web_host="0.0.0.0")
    args = argparse.Namespace(etc=[etc], sounds=tmp_path, json=False)
    assert cli_doctor.do_doctor(s, args) == 1
    out = capsys.readouterr().out
    assert out.index("[high]") < out.index("[medium]")
    assert "fix: " in out
