"""The SIP side of trunks (setting trunk_sip): parsed, refused with the key and why, rendered."""

from __future__ import annotations

import subprocess
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


def self_signed(where: Path, name: str = "pbx") -> tuple[Path, Path]:
    """Make a self-signed certificate and its key with openssl (as an admin would)."""
    cert, key = where / f"{name}.crt", where / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", f"/CN={name}", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


@pytest.fixture(scope="module")
def pems(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Good and bad TLS files: two certificate/key pairs, an encrypted key, junk, a directory."""
    where = tmp_path_factory.mktemp("pems")
    cert, key = self_signed(where, "pbx")
    other_cert, other_key = self_signed(where, "other")
    encrypted = where / "encrypted.key"
    subprocess.run(["openssl", "pkey", "-in", str(key), "-aes128", "-passout", "pass:secret",
                    "-out", str(encrypted)], check=True, capture_output=True)
    junk = where / "junk.pem"
    junk.write_text("not a certificate\n")
    return {"cert": cert, "key": key, "other_cert": other_cert, "other_key": other_key,
            "encrypted": encrypted, "junk": junk, "dir": where, "missing": where / "missing.pem"}


@pytest.mark.parametrize(("cert", "key", "ca", "bad_key", "why"), [
    ("missing", "key", "", "tls_cert", "missing.pem: no such file"),
    ("cert", "missing", "", "tls_key", "missing.pem: no such file"),
    ("cert", "key", "missing", "tls_ca", "missing.pem: no such file"),
    ("dir", "key", "", "tls_cert", ": not a file"),
    ("cert", "dir", "", "tls_key", ": not a file"),
    ("junk", "key", "", "tls_cert", "junk.pem: not a PEM certificate"),
    ("key", "key", "", "tls_cert", "pbx.key: not a PEM certificate"),
    ("cert", "junk", "", "tls_key", "junk.pem: not an unencrypted PEM private key"),
    ("cert", "cert", "", "tls_key", "pbx.crt: not an unencrypted PEM private key"),
    ("cert", "encrypted", "", "tls_key", "encrypted.key: not an unencrypted PEM private key"),
    ("cert", "other_key", "", "tls_key", "other.key: not the private key of tls_cert"),
    ("cert", "key", "junk", "tls_ca", "junk.pem: holds no PEM certificate"),
    ("cert", "key", "key", "tls_ca", "pbx.key: holds no PEM certificate"),
])
def test_bad_tls_files_are_refused_naming_the_key(pems: dict[str, Path], cert: str, key: str,
                                                   ca: str, bad_key: str, why: str) -> None:
    spec = (f"carrier host=h:5061 transport=tls tls_cert={pems[cert]} tls_key={pems[key]}"
            + (f" tls_ca={pems[ca]}" if ca else ""))
    with pytest.raises(ConfigError) as err:
        trunk_sip.parse(spec, env={})
    assert str(err.value).startswith(f"trunk_sip: carrier: {bad_key}: "), err.value
    assert why in str(err.value), err.value


def test_good_tls_files_pass_and_a_carriers_own_certificate_is_a_ca(pems: dict[str, Path]) -> None:
    t = trunk_sip.parse(f"carrier host=h:5061 transport=tls tls_cert={pems['cert']} "
                        f"tls_key={pems['key']} tls_ca={pems['other_cert']} srtp=yes", env={})
    assert (t.tls_cert, t.tls_key, t.tls_ca, t.srtp) == (
        str(pems["cert"]), str(pems["key"]), str(pems["other_cert"]), True)


def test_an_unreadable_key_is_refused_with_the_reason(pems: dict[str, Path],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # Root reads any file, so the refusal of the OS is played by read_bytes.
    real = Path.read_bytes

    def read_bytes(self: Path) -> bytes:
        if self == pems["key"]:
            raise PermissionError(13, "Permission denied")
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    with pytest.raises(ConfigError, match=r"^trunk_sip: carrier: tls_key: .*pbx\.key: cannot be "
                                          r"read: Permission denied$"):
        trunk_sip.parse(f"carrier host=h transport=tls tls_cert={pems['cert']} "
                        f"tls_key={pems['key']}", env={})


def test_tls_files_on_a_trunk_without_tls_are_refused(pems: dict[str, Path]) -> None:
    with pytest.raises(ConfigError, match="tls_ca: only for transport=tls"):
        trunk_sip.parse(f"carrier host=h tls_ca={pems['cert']}", env={})


def test_bad_tls_files_stop_the_start(pems: dict[str, Path], tmp_path: Path) -> None:
    spec = f"carrier host=h:5061 transport=tls tls_cert={pems['cert']} tls_key={pems['junk']}"
    with pytest.raises(ConfigError, match=r"trunk_sip: carrier: tls_key: .*not an unencrypted"):
        Rules.from_settings(load_settings(env={"RABTA_TRUNK_SIP": spec, "RABTA_TRUNK": "carrier"},
                                          overrides={"home": str(tmp_path)}))


def pjsip(tmp_path: Path, **kw: object) -> str:
    s = Settings(home=tmp_path, ami_secret="s" * 24, **kw)  # type: ignore[arg-type]
    return render.render_files(s, render.pbx_instance(s), "dedicated", "s" * 24)["pjsip.conf"]


def test_registration_tls_srtp_and_ip_auth_are_rendered(tmp_path: Path,
                                                         pems: dict[str, Path]) -> None:
    cert, key = pems["cert"], pems["key"]
    text = pjsip(tmp_path, trunks=("carrier channels=30 cps=5", "zong channels=10 cps=2"),
                 trunk_sip=(f"carrier host=sip.example.pk:5061 register=yes username=u1 password=p1 "
                            f"transport=tls tls_cert={cert} tls_key={key} srtp=yes codecs=alaw",
                            "zong match=203.0.113.0/24,198.51.100.7 host=198.51.100.7 dtmf=inband"))
    assert "[transport-tls]\ntype = transport\nprotocol = tls\nbind = 127.0.0.1:5061" in text
    assert f"cert_file = {cert}" in text
    assert "transport = transport-tls" in text and "media_encryption = sdes" in text
    assert "[carrier-auth]\ntype = auth\nauth_type = userpass\nusername = u1\npassword = p1" in text
    assert "[carrier-reg]\ntype = registration" in text
    assert "server_uri = sip:sip.example.pk:5061;transport=tls\n" in text
    assert "contact = sip:sip.example.pk:5061;transport=tls" in text
    assert "match = sip.example.pk\n" in text  # the carrier's own host: its calls come from there
    assert "match = 203.0.113.0/24,198.51.100.7" in text and "dtmf_mode = inband" in text
    assert "allow = alaw\n" in text


def test_a_carriers_ca_makes_the_pbx_verify_it(tmp_path: Path, pems: dict[str, Path]) -> None:
    spec = (f"carrier host=127.0.0.1:5175 transport=tls tls_cert={pems['cert']} "
            f"tls_key={pems['key']} srtp=yes")
    text = pjsip(tmp_path, trunk="carrier", trunk_sip=(f"{spec} tls_ca={pems['other_cert']}",))
    assert (f"cert_file = {pems['cert']}\npriv_key_file = {pems['key']}\nmethod = tlsv1_2\n"
            f"ca_list_file = {pems['other_cert']}\nverify_server = yes\n") in text
    assert "contact = sip:127.0.0.1:5175;transport=tls\n" in text
    assert "media_encryption = sdes\nmedia_encryption_optimistic = no" in text
    assert "verify_server" not in pjsip(tmp_path, trunk="carrier", trunk_sip=(spec,))


def test_tls_trunks_share_one_transport_so_their_files_must_agree(pems: dict[str, Path]) -> None:
    one = f"tls_cert={pems['cert']} tls_key={pems['key']}"
    with pytest.raises(ConfigError, match="a, b: one TLS transport serves every TLS trunk"):
        trunk_sip.parse_all((f"a host=h transport=tls {one}",
                             f"b host=g transport=tls {one} tls_ca={pems['other_cert']}"),
                            {"a", "b"}, env={})
    assert len(trunk_sip.parse_all((f"a host=h transport=tls {one}",
                                    f"b host=g transport=tls {one}"), {"a", "b"}, env={})) == 2


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
