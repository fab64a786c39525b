"""One renderer, three targets: lab, dedicated and include (ivr.render); no rootfs needed."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from ivr import render
from ivr.asterisk import variables as V
from ivr.config import Settings
from ivr.errors import ConfigError


def settings(tmp_path: Path, **kw: object) -> Settings:
    # cache points nowhere: rendering must never look for a rootfs.
    return Settings(home=tmp_path / "home", cache=tmp_path / "no-such-cache", **kw)  # type: ignore[arg-type]


def test_lab_target_renders_both_instances_without_a_rootfs(tmp_path: Path) -> None:
    s = settings(tmp_path)
    for inst, secret in ((render.pbx_instance(s), "lab-secret"), (render.carrier_instance(s), None)):
        out = tmp_path / inst.name
        done = render.render(s, "lab", out, instance=inst, ami_secret=secret)
        names = {p.name for p in done.files}
        assert {"asterisk.conf", "extensions.conf", "pjsip.conf", "manager.conf"} <= names
        for p in done.files:
            assert "{{" not in p.read_text(), p
    assert "secret = lab-secret" in (tmp_path / "rabta-pbx" / "manager.conf").read_text()
    assert not (tmp_path / "no-such-cache").exists()


@pytest.mark.parametrize("target", ["dedicated", "include"])
def test_a_remote_target_never_gets_a_generated_secret(tmp_path: Path, target: str) -> None:
    s = settings(tmp_path, trunk="rabta-carrier", ami_user="rabta-engine")
    with pytest.raises(ConfigError) as err:
        render.render(s, target, tmp_path / "out")
    assert "ami_secret" in str(err.value) and "RABTA_AMI_SECRET" in str(err.value)
    assert not (tmp_path / "out").exists()
    assert not (s.home / "ami.secret").exists()


def test_dedicated_target_is_a_whole_tree_with_debians_layout(tmp_path: Path) -> None:
    s = settings(tmp_path, ami_secret="a-long-secret-from-the-admin")
    done = render.render(s, "dedicated", tmp_path / "etc")
    conf = (tmp_path / "etc" / "asterisk.conf").read_text()
    assert "astetcdir => /etc/asterisk" in conf and "astspooldir => /var/spool/asterisk" in conf
    assert "astmoddir" not in conf.replace("; astmoddir", "")  # the package's own default
    manager = tmp_path / "etc" / "manager.conf"
    assert stat.S_IMODE(manager.stat().st_mode) == 0o600
    assert "secret = a-long-secret-from-the-admin" in manager.read_text()
    assert done.include_lines == ()


def test_include_target_prefixes_everything_and_defines_no_site_section(tmp_path: Path) -> None:
    s = settings(tmp_path, ami_secret="x" * 24, trunk="rabta-carrier", ami_user="rabta-engine",
                 trunks=("rabta-carrier channels=4 cps=2", "rabta-zong channels=2 cps=1"))
    done = render.render(s, "include", tmp_path / "inc")
    assert {p.name for p in done.files} == set(render.INCLUDE_FILES)
    for p in done.files:
        names = render.sections(p.read_text())
        assert names, p
        assert all(n.startswith("rabta") for n in names), (p, names)
        assert not set(names) & render.SITE_SECTIONS
    ext = (tmp_path / "inc" / "extensions_rabta.conf").read_text()
    assert {V.CTX_SURVEY, V.CTX_INBOUND, V.CTX_BRIDGE} <= set(render.sections(ext))
    pjsip = (tmp_path / "inc" / "pjsip_rabta.conf").read_text()
    assert "transport = rabta-transport-udp" in pjsip and "[rabta-zong]" in pjsip
    manager = (tmp_path / "inc" / "manager_rabta.conf").read_text()
    assert f"channelvars = {V.ATTEMPT}" in manager  # the site's [general] is not ours to set
    assert len(done.include_lines) == 3
    assert all(line.startswith('#include "/') for line in done.include_lines)
    assert any("extensions_custom.conf" in line for line in done.include_lines)


@pytest.mark.parametrize("key,changes", [
    ("trunk", {"trunk": "carrier", "ami_user": "rabta"}),
    ("ami_user", {"trunk": "rabta-carrier", "ami_user": "admin"}),
    ("trunks", {"trunk": "rabta-carrier", "ami_user": "rabta",
                "trunks": ("rabta-carrier channels=1 cps=1", "jazz channels=1 cps=1")}),
])
def test_include_target_refuses_a_name_the_site_could_already_use(
        tmp_path: Path, key: str, changes: dict[str, object]) -> None:
    s = settings(tmp_path, ami_secret="x" * 24, **changes)
    with pytest.raises(ConfigError) as err:
        render.render(s, "include", tmp_path / "inc")
    assert str(err.value).startswith(key)
    assert "include target" in str(err.value)


def test_unknown_target_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="target"):
        render.render(settings(tmp_path), "docker", tmp_path / "x")


def test_drop_sections_keeps_everything_else() -> None:
    text = "[general]\na = 1\n[rabta-x]\nexten => s,1,NoOp()\n[globals]\nX=1\n[rabta-y]\nb=2\n"
    assert render.drop_sections(text) == "[rabta-x]\nexten => s,1,NoOp()\n[rabta-y]\nb=2\n"


def test_cli_render_then_diff(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    from ivr.cli import dialplan as cli_dialplan

    s = settings(tmp_path, ami_secret="a-long-admin-secret-123")
    args = argparse.Namespace(target="lab", templates=render.TEMPLATES, out=tmp_path / "r")
    assert cli_dialplan.do_render(s, args) == 0
    assert (tmp_path / "r" / "rabta-pbx" / "extensions.conf").is_file()
    assert (tmp_path / "r" / "rabta-carrier" / "phonebook.conf").is_file()  # compose mounts it
    assert cli_dialplan.do_diff(s, args) == 0
    ext = tmp_path / "r" / "rabta-pbx" / "extensions.conf"
    ext.write_text(ext.read_text().replace("Playback(rabta/inbound-notice)", "Playback(x)", 1))
    capsys.readouterr()
    assert cli_dialplan.do_diff(s, args) == 1
    out = capsys.readouterr().out
    assert "-exten => _X.,1,Answer()" not in out and "+ same => n,Playback(rabta/inbound-notice)" in out
    assert "a-long-admin-secret-123" not in out
    inc = argparse.Namespace(target="include", templates=render.TEMPLATES, out=tmp_path / "i")
    s2 = settings(tmp_path, ami_secret="x" * 24, trunk="rabta-carrier", ami_user="rabta-e")
    assert cli_dialplan.do_render(s2, inc) == 0
    assert "#include" in capsys.readouterr().out


def test_cli_dedicated_render_with_a_carrier_for_the_containers(tmp_path: Path) -> None:
    """asterisk-docker/compose.yaml: the PBX's tree and the carrier simulator's, Debian's layout
    in each (each container has its own /etc/asterisk), the two pointing at each other."""
    import argparse

    from ivr.cli import dialplan as cli_dialplan
    from ivr.errors import InputError

    s = settings(tmp_path, ami_secret="a-long-admin-secret-123", sip_port=7760,
                 carrier_sip_port=7770)
    args = argparse.Namespace(target="dedicated", templates=render.TEMPLATES,
                              out=tmp_path / "pbx", carrier=tmp_path / "carrier")
    assert cli_dialplan.do_render(s, args) == 0
    pbx, carrier = tmp_path / "pbx", tmp_path / "carrier"
    assert "astetcdir => /etc/asterisk" in (carrier / "asterisk.conf").read_text()
    assert "systemname = rabta-carrier" in (carrier / "asterisk.conf").read_text()
    assert f"[{V.CTX_SIM_CITIZENS}]" in (carrier / "extensions.conf").read_text()
    assert (carrier / "phonebook.conf").is_file()  # its extensions.conf includes it
    assert "bind = 127.0.0.1:7770" in (carrier / "pjsip.conf").read_text()
    assert "contact = sip:127.0.0.1:7760" in (carrier / "pjsip.conf").read_text()
    assert "contact = sip:127.0.0.1:7770" in (pbx / "pjsip.conf").read_text()
    assert "secret" not in (carrier / "manager.conf").read_text()
    assert "secret = a-long-admin-secret-123" in (pbx / "manager.conf").read_text()
    assert "exten" not in (carrier / "phonebook.conf").read_text()  # no citizens given
    for target in ("lab", "include"):  # only dedicated has no simulator of its own
        other = argparse.Namespace(target=target, templates=render.TEMPLATES,
                                   out=tmp_path / target, carrier=tmp_path / f"c-{target}")
        with pytest.raises(InputError, match="--carrier"):
            cli_dialplan.do_render(s, other)
        assert not (tmp_path / target).exists() and not (tmp_path / f"c-{target}").exists()

    book = tmp_path / "book.csv"
    book.write_text("number,action,keys,ring_s,hangup_s\n03001234567,answer,s1s5s2,,\n")
    args.phonebook = book
    assert cli_dialplan.do_render(s, args) == 0
    assert "exten => 03001234567," in (carrier / "phonebook.conf").read_text()
    alone = argparse.Namespace(target="dedicated", templates=render.TEMPLATES,
                               out=tmp_path / "p2", carrier=None, phonebook=book)
    with pytest.raises(InputError, match="--phonebook"):
        cli_dialplan.do_render(s, alone)
