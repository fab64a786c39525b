"""The SIP side of trunks (setting trunk_sip): parsed, refused with the key and why, rendered."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr import render, trunk_sip
from ivr.config import Settings, load_settings
from ivr.errors import ConfigError
from scheduler.rules import Rules


def test_a_registering_trunk_with_digest_auth(tmp_path: Path) -> None:
    t = trunk_sip.parse("carrier host=sip.example.pk:5060 register=yes username=4230001 "
                        "password_env=CARRIER_PW codecs=alaw dtmf=info "
                        "'callerid=\"CM Punjab\" <8080>' from_user=4230001 from_domain=example.pk",
                        env={"CARRIER_PW": "pw-from-env"})
    assert (t.register, t.username, t.password, t.codecs, t.dtmf) == (
        True, "4230001", "pw-from-env", ("alaw",), "info")
    assert t.callerid == '"CM Punjab" <8080>'


@pytest.mark.parametrize(("spec", "key", "why"), [
    ("carrier host=h transport=tlz", "transport", "is not one of"),
    ("carrier host=h dtmf=rfc2833", "dtmf", "is not one of"),
    ("carrier host=h codecs=alaw,g999", "codecs", "g999"),
    ("carrier match=192.0.2.0/33", "match", "is not an IP address or CIDR"),
    ("carrier register=yes username=u password=p", "register", "needs host="),
    ("carrier host=h register=yes username=u", "password", "needs both"),
    ("carrier host=h srtp=yes", "srtp", "needs transport=tls"),
    ("carrier host=h transport=tls tls_cert=/c", "tls_key", "needs our certificate"),
    ("carrier host=h transport=tls tls_cert=/nonexistent/c tls_key=/nonexistent/k", "tls_cert",
     "no such file"),
    ("carrier host=h password_env=NOPE username=u", "password_env", "NOPE is not set"),
    ("carrier register=maybe host=h", "register", "is not yes or no"),
    ("carrier", "host", "needs host="),
    ("carrier host=h:99999", "host", "is not host or host:port"),
])
def test_bad_trunk_config_is_refused_naming_the_key(spec: str, key: str, why: str) -> None:
    with pytest.raises(ConfigError) as err:
        trunk_sip.parse(spec, env={})
    assert str(err.value).startswith(f"trunk_sip: carrier: {key}: "), err.value
    assert why in str(err.value)


def test_bad_trunk_config_stops_the_start(tmp_path: Path) -> None:
    # Checked where the rules are built, once (`rabta` builds them before any command runs).
    with pytest.raises(ConfigError, match="trunk_sip: carrier: srtp"):
        Rules.from_settings(load_settings(env={"RABTA_TRUNK_SIP": "carrier host=h srtp=yes"},
                                          overrides={"home": str(tmp_path)}))
    with pytest.raises(ConfigError, match="no such trunk"):
        Rules.from_settings(load_settings(env={"RABTA_TRUNK_SIP": "jazz host=h"},
                                          overrides={"home": str(tmp_path)}))


def pjsip(tmp_path: Path, **kw: object) -> str:
    s = Settings(home=tmp_path, ami_secret="s" * 24, **kw)  # type: ignore[arg-type]
    return render.render_files(s, render.pbx_instance(s), "dedicated", "s" * 24)["pjsip.conf"]


def test_registration_tls_srtp_and_ip_auth_are_rendered(tmp_path: Path) -> None:
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("x")
    key.write_text("x")
    text = pjsip(tmp_path, trunks=("carrier channels=30 cps=5", "zong channels=10 cps=2"),
                 trunk_sip=(f"carrier host=sip.example.pk:5061 register=yes username=u1 password=p1 "
                            f"transport=tls tls_cert={cert} tls_key={key} srtp=yes codecs=alaw",
                            "zong match=203.0.113.0/24,198.51.100.7 host=198.51.100.7 dtmf=inband"))
    assert "[transport-tls]\ntype = transport\nprotocol = tls\nbind = 127.0.0.1:5061" in text
    assert f"cert_file = {cert}" in text
    assert "transport = transport-tls" in text and "media_encryption = sdes" in text
    assert "[carrier-auth]\ntype = auth\nauth_type = userpass\nusername = u1\npassword = p1" in text
    assert "[carrier-reg]\ntype = registration" in text and "server_uri = sips:sip.example.pk:5061" in text
    assert "contact = sips:sip.example.pk:5061;transport=tls" in text
    assert "match = sip.example.pk\n" in text  # the carrier's own host: its calls come from there
    assert "match = 203.0.113.0/24,198.51.100.7" in text and "dtmf_mode = inband" in text
    assert "allow = alaw\n" in text


def test_without_trunk_sip_the_rendering_is_todays(tmp_path: Path) -> None:
    text = pjsip(tmp_path)
    assert "contact = sip:127.0.0.1:5070" in text and "match = 127.0.0.1\n" in text
    assert "registration" not in text and "auth" not in text.replace("authenticat", "")


def test_the_lab_copies_named_certificates_into_the_rootfs(tmp_path: Path) -> None:
    from ivr.lab import rootfs

    cert = tmp_path / "host" / "pbx.crt"
    cert.parent.mkdir()
    cert.write_text("CERT")
    text = f"[t]\ncert_file = {cert}\npriv_key_file = /missing/k.pem\n"
    out = rootfs.copy_certs(text, tmp_path / "rootfs", "/etc/rabta/n-pbx/certs")
    assert "cert_file = /etc/rabta/n-pbx/certs/pbx.crt" in out
    assert "priv_key_file = /missing/k.pem" in out  # left for Asterisk to name
    assert (tmp_path / "rootfs/etc/rabta/n-pbx/certs/pbx.crt").read_text() == "CERT"
    assert rootfs.copy_certs(out, tmp_path / "rootfs", "/etc/rabta/n-pbx/certs") == out
