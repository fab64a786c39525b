"""The SIP side of each trunk: how the PBX reaches and authenticates to a real carrier (pure).

The setting `trunk_sip` holds one entry per trunk, "name key=value ...", beside `trunks` (its
channels, cps and operators: the dialer's side). Keys:

- host=h[:port]: the carrier's signalling address (contact and registrar);
- register=yes with username= and password= (or password_env=VAR): outbound registration with
  digest auth; username/password without register: digest auth on calls only;
- match=a,b/24: identify the carrier's calls by these addresses or CIDRs (IP-authenticated trunks);
- transport=udp|tcp|tls; for tls: tls_cert=, tls_key= (our side; PEM, the key unencrypted),
  tls_ca= (the CA, or a self-signed carrier's own certificate: the PBX then verifies theirs);
  srtp=yes (SDES-SRTP; only over tls, or the keys would travel in clear);
- codecs=alaw,ulaw (A-law for Pakistani E1 lines), dtmf=rfc4733|inband|info|auto;
- callerid="Name" <8080>, from_user=, from_domain=.

A bad entry is refused at start (ConfigError) naming the trunk, the key and why.
"""

from __future__ import annotations

import ipaddress
import os
import shlex
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ivr.errors import ConfigError

TRANSPORTS = ("udp", "tcp", "tls")
DTMF = ("rfc4733", "inband", "info", "auto")
CODECS = frozenset({"alaw", "ulaw", "g722", "gsm", "slin", "slin16", "g729", "opus"})
KEYS = frozenset({"host", "register", "username", "password", "password_env", "match",
                  "transport", "tls_cert", "tls_key", "tls_ca", "srtp", "codecs", "dtmf",
                  "callerid", "from_user", "from_domain"})
_YES = {"yes": True, "true": True, "1": True, "no": False, "false": False, "0": False}


@dataclass(frozen=True)
class TrunkSip:
    """One trunk's SIP settings, checked."""

    name: str
    host: str = ""
    register: bool = False
    username: str = ""
    password: str = ""
    match: tuple[str, ...] = ()
    transport: str = "udp"
    tls_cert: str = ""
    tls_key: str = ""
    tls_ca: str = ""
    srtp: bool = False
    codecs: tuple[str, ...] = ("alaw", "ulaw")
    dtmf: str = "rfc4733"
    callerid: str = ""
    from_user: str = ""
    from_domain: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def auth(self) -> bool:
        return bool(self.username)


def parse(spec: str, env: Mapping[str, str] | None = None, check_files: bool = True) -> TrunkSip:
    """Parse one 'name key=value ...' entry; ConfigError names the trunk, key and reason."""
    env = os.environ if env is None else env
    try:
        words = shlex.split(spec)
    except ValueError as exc:
        raise ConfigError(f"trunk_sip: {spec!r}: {exc}") from None
    if not words or "=" in words[0]:
        raise ConfigError(f"trunk_sip: {spec!r}: starts with the trunk's name, e.g. "
                          f"'carrier host=sip.example.pk register=yes username=u password_env=V'")
    name, values = words[0], {}
    for word in words[1:]:
        key, sep, value = word.partition("=")
        if not sep or key not in KEYS:
            raise ConfigError(f"trunk_sip: {name}: {word!r} is not a key=value of "
                              f"{', '.join(sorted(KEYS))}")
        values[key] = value

    def bad(key: str, why: str) -> ConfigError:
        return ConfigError(f"trunk_sip: {name}: {key}: {why}")

    def flag(key: str) -> bool:
        raw = values.get(key, "no").lower()
        if raw not in _YES:
            raise bad(key, f"{raw!r} is not yes or no")
        return _YES[raw]

    transport = values.get("transport", "udp").lower()
    if transport not in TRANSPORTS:
        raise bad("transport", f"{transport!r} is not one of {', '.join(TRANSPORTS)}")
    dtmf = values.get("dtmf", "rfc4733").lower()
    if dtmf not in DTMF:
        raise bad("dtmf", f"{dtmf!r} is not one of {', '.join(DTMF)}")
    codecs = tuple(c.strip().lower() for c in values.get("codecs", "alaw,ulaw").split(",") if c.strip())
    unknown = [c for c in codecs if c not in CODECS]
    if not codecs or unknown:
        raise bad("codecs", f"unknown codec(s) {', '.join(unknown) or '(none given)'}; "
                            f"known: {', '.join(sorted(CODECS))}")
    match = tuple(m.strip() for m in values.get("match", "").split(",") if m.strip())
    for m in match:
        try:
            ipaddress.ip_network(m, strict=False)
        except ValueError:
            raise bad("match", f"{m!r} is not an IP address or CIDR (e.g. 192.0.2.0/24)") from None
    password = values.get("password", "")
    if "password_env" in values:
        var = values["password_env"]
        if not env.get(var):
            raise bad("password_env", f"the environment variable {var} is not set")
        password = env[var]
    register = flag("register")
    srtp = flag("srtp")
    username = values.get("username", "")
    host = values.get("host", "")
    if register and not host:
        raise bad("register", "registration needs host= (the carrier's registrar)")
    if (register or username) and not (username and password):
        raise bad("username" if not username else "password",
                  "digest auth needs both username= and password= (or password_env=)")
    if srtp and transport != "tls":
        raise bad("srtp", "SRTP needs transport=tls: over udp or tcp its keys travel in clear")
    stray = [k for k in ("tls_cert", "tls_key", "tls_ca") if k in values and transport != "tls"]
    if stray:
        raise bad(stray[0], f"only for transport=tls (this trunk's is {transport})")
    if transport == "tls":
        for key in ("tls_cert", "tls_key"):
            if not values.get(key):
                raise bad(key, "transport=tls needs our certificate (tls_cert=) and key (tls_key=)")
        if check_files:
            problem = tls_files_problem(values["tls_cert"], values["tls_key"],
                                        values.get("tls_ca", ""))
            if problem:
                raise bad(*problem)
    if not host and not match:
        raise bad("host", "a trunk needs host= (where calls go) or match= (whom calls come from)")
    if host and not _host_ok(host):
        raise bad("host", f"{host!r} is not host or host:port")
    return TrunkSip(name, host, register, username, password, match, transport,
                    values.get("tls_cert", ""), values.get("tls_key", ""), values.get("tls_ca", ""),
                    srtp, codecs, dtmf, values.get("callerid", ""), values.get("from_user", ""),
                    values.get("from_domain", ""))


def _unreadable(path: str) -> str:
    """Return why a certificate file cannot be read ('' when it can)."""
    p = Path(path)
    if not p.exists():
        return f"{path}: no such file"
    if not p.is_file():
        return f"{path}: not a file"
    try:
        p.read_bytes()
    except OSError as exc:
        return f"{path}: cannot be read: {exc.strerror}"
    return ""


def tls_files_problem(cert: str, key: str, ca: str = "") -> tuple[str, str] | None:
    """Check a TLS trunk's files as Asterisk will load them: (key, why) of the first bad one.

    The certificate must be PEM; the private key PEM, unencrypted (the trunk has no key
    password) and the certificate's own; the CA file must hold at least one PEM certificate.
    Asterisk would only log a failed load and then refuse every call, so we refuse at start.
    """
    for name, path in (("tls_cert", cert), ("tls_key", key), ("tls_ca", ca)):
        why = _unreadable(path) if path else ""
        if why:
            return name, why
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        ctx.load_verify_locations(cafile=cert)
    except (ssl.SSLError, OSError):
        return "tls_cert", f"{cert}: not a PEM certificate"
    try:
        ctx.load_cert_chain(cert, key, password=lambda: b"")
    except (ssl.SSLError, OSError) as exc:
        if getattr(exc, "reason", "") == "KEY_VALUES_MISMATCH":
            return "tls_key", f"{key}: not the private key of tls_cert {cert}"
        return "tls_key", f"{key}: not an unencrypted PEM private key"
    if ca:
        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=ca)
        except (ssl.SSLError, OSError):
            return "tls_ca", f"{ca}: holds no PEM certificate"
    return None


def _host_ok(host: str) -> bool:
    name, _, port = host.rpartition(":") if host.count(":") == 1 else (host, "", "")
    return bool(name) and (not port or (port.isdigit() and 0 < int(port) < 65536)) \
        and all(c.isalnum() or c in ".-_[]:" for c in name)


def parse_all(specs: tuple[str, ...], trunk_names: set[str],
              env: Mapping[str, str] | None = None, check_files: bool = True) -> dict[str, TrunkSip]:
    """Parse every entry; each must name a known trunk, once."""
    out: dict[str, TrunkSip] = {}
    for spec in specs:
        t = parse(spec, env, check_files)
        if t.name not in trunk_names:
            raise ConfigError(f"trunk_sip: {t.name}: no such trunk (trunks: "
                              f"{', '.join(sorted(trunk_names))})")
        if t.name in out:
            raise ConfigError(f"trunk_sip: {t.name}: given twice")
        out[t.name] = t
    tls = {(t.tls_cert, t.tls_key, t.tls_ca): t.name for t in out.values() if t.transport == "tls"}
    if len(tls) > 1:
        raise ConfigError(f"trunk_sip: {', '.join(sorted(tls.values()))}: one TLS transport "
                          f"serves every TLS trunk, so they need the same tls_cert, tls_key "
                          f"and tls_ca")
    return out
