"""PBX configuration, rendered: everything Rabta puts into an Asterisk, for one of three targets.

The one place that turns Settings and the templates in dialplans/ into Asterisk config files
(dialplan contexts, PJSIP trunks and transports, the AMI user, the carrier simulator's config).
It writes plain files into a directory and knows nothing of rootfs, chroot or processes; the
lab package (ivr.lab) and the `rabta dialplan` commands call it.

Targets:
- ``lab``: the local rootfs node (`rabta asterisk up`): a PBX and a carrier simulator, each with
  its own directory layout inside the rootfs;
- ``dedicated``: a whole config tree for an Asterisk that runs only Rabta (Docker, or the
  ``asterisk`` package of a Debian/Ubuntu host), Debian's directory layout;
- ``include``: three files an existing Asterisk or FreePBX includes (extensions, pjsip,
  manager), without any ``[general]``/``[global]`` section, every context, endpoint, transport and
  AMI user starting with ``rabta`` so none of the site's own config is touched.

Only the lab node gets a generated AMI secret (the lab passes it in); the other targets need
``ami_secret`` set, and say so by name when it is missing.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ivr import trunk_sip
from ivr.asterisk import variables as V
from ivr.config import Settings
from ivr.errors import AsteriskSetupError, ConfigError
from ivr.trunk_sip import TrunkSip
from ivr.trunks import trunks_and_prefixes

REPO_ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = REPO_ROOT / "dialplans"
TARGETS = ("lab", "dedicated", "include")
PREFIX = "rabta"  # what every name in the include target starts with
INCLUDE_FILES = {  # include target: our file -> the site's file that includes it
    "extensions_rabta.conf": ("extensions_custom.conf", "extensions.conf"),
    "pjsip_rabta.conf": ("pjsip_custom.conf", "pjsip.conf"),
    "manager_rabta.conf": ("manager_custom.conf", "manager.conf"),
}
# Sections of the site's own files that an included file must never (re)define.
SITE_SECTIONS = frozenset({"general", "globals", "global", "system"})
TRANSPORT = "transport-udp"
_PLACEHOLDER = re.compile(r"\{\{\s*(.*?)\s*\}\}")
_SECTION = re.compile(r"^\[([^\]]+)\]", re.MULTILINE)


def render_template(text: str, values: Mapping[str, object], name: str = "template") -> str:
    """Replace every {{ key }} in text; an unknown key is an error, never a silent blank."""

    def sub(m: re.Match[str]) -> str:
        key = m.group(1)
        if key not in values:
            raise AsteriskSetupError(f"{name}: unknown placeholder {{{{ {key} }}}}")
        return str(values[key])

    return _PLACEHOLDER.sub(sub, text)


@dataclass(frozen=True)
class Layout:
    """Where one Asterisk keeps its files, as that Asterisk sees them (asterisk.conf)."""

    etc_dir: str = "/etc/asterisk"
    lib_dir: str = "/var/lib/asterisk"
    spool_dir: str = "/var/spool/asterisk"
    run_dir: str = "/var/run/asterisk"
    log_dir: str = "/var/log/asterisk"
    cache_dir: str = "/var/cache/asterisk"
    agi_dir: str = "/usr/share/asterisk/agi-bin"


@dataclass(frozen=True)
class Instance:
    """One Asterisk to render for: its role, name, SIP and RTP ports, and its directories."""

    role: str  # "pbx" | "carrier"
    name: str  # systemname, e.g. "rabta-pbx"
    sip_port: int
    peer_port: int  # where its peer (the carrier, or the PBX) listens
    rtp_start: int
    layout: Layout = field(default_factory=Layout)
    sip_bind: str = "127.0.0.1"
    peer_host: str = "127.0.0.1"


@dataclass(frozen=True)
class Rendering:
    """What render() wrote: the files, and for the include target the lines to add."""

    out: Path
    files: tuple[Path, ...]
    include_lines: tuple[str, ...] = ()


def pbx_instance(settings: Settings, layout: Layout | None = None) -> Instance:
    """Describe the PBX of these settings (Debian's layout unless one is given)."""
    return Instance("pbx", f"{settings.node}-pbx", settings.sip_port, settings.carrier_sip_port,
                    settings.rtp_start, layout or Layout())


def carrier_instance(settings: Settings, layout: Layout | None = None) -> Instance:
    """Describe the carrier simulator of these settings."""
    return Instance("carrier", f"{settings.node}-carrier", settings.carrier_sip_port,
                    settings.sip_port, settings.rtp_start + 5000, layout or Layout())


# ---------------------------------------------------------------- values


def required_secret(settings: Settings, target: str) -> str:
    """Return the AMI secret a non-lab target renders; a missing one is an error naming it."""
    if not settings.ami_secret:
        raise ConfigError(
            f"ami_secret is not set: the {target} target never generates an AMI secret "
            f"(only the local lab node does); set ami_secret in rabta.toml or RABTA_AMI_SECRET, "
            f"and give the engine the same one")
    return settings.ami_secret


def agi_url(settings: Settings) -> str:
    """Return the agi:// base URL the PBX dialplan uses to reach our FastAGI server."""
    host = settings.agi_host if settings.agi_host not in ("0.0.0.0", "::", "") else "127.0.0.1"
    return f"agi://{host}:{settings.agi_port}"


CLASSIC_SCRIPT = "rabta-agi"  # AGI(rabta-agi,<attempt>) runs <astagidir>/rabta-agi
# How that script starts Python, each call: `-c` rather than `-m ivr.classic_agi`, which would
# import runpy and its importlib machinery first (bench/classic_cpu.py measures it).
# -S: no `site` (its path scan and .pth files cost every call); the one directory the script
# needs from it, Debian's dist-packages (six, for pyst2), is on PYTHONPATH instead.
CLASSIC_PYTHON_ARGS = ("-S", "-c",
                       "import gc; gc.disable(); from ivr.classic_agi import run; run()")
CLASSIC_DIST_PACKAGES = "/usr/lib/python3/dist-packages"


def agi_script(settings: Settings) -> str:
    """Return what the survey dialplan hands to AGI(): our FastAGI URL or the classic script."""
    if settings.agi_transport == "classic":
        return CLASSIC_SCRIPT
    return f"{agi_url(settings)}/{V.SCRIPT_SURVEY}"


def agi_hold(settings: Settings) -> str:
    """Return the dialplan step before AGI(): a soft tone while a classic script starts.

    A process per call takes a few hundred ms to start (more under load); without the tone the
    citizen hears dead air and may answer a question not yet asked.
    The greeting's playback stops the tone.
    """
    if settings.agi_transport == "classic":
        return "Playtones(425/250,0/250)"
    return "NoOp(FastAGI)"


def studio_route(settings: Settings) -> str:
    """Return the rabta-inbound line sending the studio number to the studio (or a comment)."""
    if not settings.studio_number:
        return "; no prompt studio: studio_number is not set"
    return f"exten => {settings.studio_number},1,Goto({V.CTX_STUDIO},s,1)"


def sip_specs(settings: Settings) -> dict[str, TrunkSip]:
    """Return the checked SIP side of each trunk that has one (setting trunk_sip)."""
    trunks, _ = trunks_and_prefixes(settings)
    return trunk_sip.parse_all(settings.trunk_sip, {t.name for t in trunks})


def transport_of(spec: TrunkSip | None, udp: str) -> str:
    """Return the transport section a trunk uses."""
    if spec is None or spec.transport == "udp":
        return udp
    return udp.replace("udp", spec.transport)


def endpoint_options(spec: TrunkSip | None, udp: str) -> str:
    """Return endpoint lines a trunk's SIP settings add (later lines override earlier ones)."""
    if spec is None:
        return ""
    lines = [f"transport = {transport_of(spec, udp)}", "disallow = all",
             f"allow = {','.join(spec.codecs)}", f"dtmf_mode = {spec.dtmf}"]
    if spec.auth:
        lines.append(f"outbound_auth = {spec.name}-auth")
    if spec.srtp:
        lines += ["media_encryption = sdes", "media_encryption_optimistic = no"]
    if spec.callerid:
        lines.append(f"callerid = {spec.callerid}")
    if spec.from_user:
        lines.append(f"from_user = {spec.from_user}")
    if spec.from_domain:
        lines.append(f"from_domain = {spec.from_domain}")
    return "; from trunk_sip:\n" + "\n".join(lines)


def auth_sections(spec: TrunkSip | None, udp: str) -> str:
    """Return the auth and registration sections of a trunk's SIP settings."""
    if spec is None or not spec.auth:
        return ""
    out = (f"\n[{spec.name}-auth]\ntype = auth\nauth_type = userpass\n"
           f"username = {spec.username}\npassword = {spec.password}\n")
    if spec.register:
        # sip: with transport=tls, not sips: (see contact_of).
        tls = ";transport=tls" if spec.transport == "tls" else ""
        out += (f"\n[{spec.name}-reg]\ntype = registration\n"
                f"transport = {transport_of(spec, udp)}\noutbound_auth = {spec.name}-auth\n"
                f"server_uri = sip:{spec.host}{tls}\n"
                f"client_uri = sip:{spec.username}@{spec.host.rsplit(':', 1)[0]}\n"
                f"contact_user = {spec.username}\nretry_interval = 20\n"
                f"forbidden_retry_interval = 20\nauth_rejection_permanent = no\n"
                f"max_retries = 100000\nexpiration = 300\nline = yes\nendpoint = {spec.name}\n")
    return out


def extra_transports(settings: Settings, inst: Instance, udp: str) -> str:
    """Return TCP/TLS transports the trunks' SIP settings need (TLS on sip_port + 1)."""
    specs = list(sip_specs(settings).values()) if inst.role == "pbx" else []
    out = []
    if any(t.transport == "tcp" for t in specs):
        out.append(f"\n[{udp.replace('udp', 'tcp')}]\ntype = transport\nprotocol = tcp\n"
                   f"bind = {inst.sip_bind}:{inst.sip_port}\n")
    tls = [t for t in specs if t.transport == "tls"]
    if tls:
        t = tls[0]
        out.append(f"\n[{udp.replace('udp', 'tls')}]\ntype = transport\nprotocol = tls\n"
                   f"bind = {inst.sip_bind}:{inst.sip_port + 1}\ncert_file = {t.tls_cert}\n"
                   f"priv_key_file = {t.tls_key}\nmethod = tlsv1_2\n"
                   + (f"ca_list_file = {t.tls_ca}\nverify_server = yes\n" if t.tls_ca else ""))
    return "".join(out)


def contact_of(spec: TrunkSip | None, default: str) -> str:
    """Return the AOR contact of a trunk."""
    if spec is None or not spec.host:
        return f"sip:{default}"
    if spec.transport == "tls":
        # Not sips: Asterisk's Contact stays sip:...;transport=TLS, and a carrier's SIP stack
        # refuses a sips: request from a sip: contact (RFC 3261 8.1.1.8: 480 "SIPS Required").
        return f"sip:{spec.host};transport=tls"
    return f"sip:{spec.host}" + (";transport=tcp" if spec.transport == "tcp" else "")


def match_of(spec: TrunkSip | None, default: str) -> str:
    """Return the identify match of a trunk: its addresses, else its host, else the default."""
    if spec is None:
        return default
    if spec.match:
        return ",".join(spec.match)
    return spec.host.rsplit(":", 1)[0] if spec.host.count(":") == 1 else spec.host


def trunk_endpoints(settings: Settings, transport: str = TRANSPORT) -> str:
    """Render a PJSIP endpoint and AOR for every configured trunk besides the main one.

    They all send from this PBX; an inbound call is matched to the main trunk by its address,
    or to a trunk by its own match= (trunk_sip). A trunk without host= reaches the local
    carrier simulator.
    """
    trunks, _ = trunks_and_prefixes(settings)
    specs = sip_specs(settings)
    out = []
    for t in trunks:
        if t.name == settings.trunk:
            continue
        spec = specs.get(t.name)
        contact = contact_of(spec, t.host or f"127.0.0.1:{settings.carrier_sip_port}")
        options = endpoint_options(spec, transport)
        out.append(
            f"\n; trunk {t.name}: {t.channels} channels, {t.cps:g} calls/s\n"
            f"[{t.name}]\ntype = endpoint\ntransport = {transport}\n"
            f"context = {V.CTX_INBOUND}\ndisallow = all\nallow = alaw,ulaw\n"
            f"dtmf_mode = rfc4733\ndirect_media = no\nrtp_symmetric = yes\n"
            f"rtp_timeout = 15\naors = {t.name}\n{options}\n\n"
            f"[{t.name}]\ntype = aor\ncontact = {contact}\n"
            + (f"\n[{t.name}]\ntype = identify\nendpoint = {t.name}\n"
               f"match = {match_of(spec, '')}\n" if spec and spec.match else "")
            + auth_sections(spec, transport))
    return "".join(out)


def template_values(settings: Settings, inst: Instance, target: str = "lab",
                    ami_secret: str = "") -> dict[str, object]:
    """Return the placeholder values for one instance's templates (no file is read)."""
    pbx = inst.role == "pbx"
    extra = (["res_speech.so", "res_agi.so", "app_playtones.so"] if pbx
             else ["app_waitforsilence.so", "app_senddtmf.so",
                   "res_clioriginate.so"])  # `channel originate`: tests call into the PBX
    lay = inst.layout
    transport = f"{PREFIX}-{TRANSPORT}" if target == "include" else TRANSPORT
    spec = sip_specs(settings).get(settings.trunk) if pbx else None
    peer_default = f"{inst.peer_host}:{inst.peer_port}"
    return {
        "instance": inst.name,
        "etc_dir": lay.etc_dir,
        "lib_dir": lay.lib_dir,
        "spool_dir": lay.spool_dir,
        "run_dir": lay.run_dir,
        "log_dir": lay.log_dir,
        "cache_dir": lay.cache_dir,
        "extra_modules": "\n".join(f"load = {m}" for m in extra),
        "rtp_start": inst.rtp_start,
        "rtp_end": inst.rtp_start + 4999,
        "user_agent": "Rabta PBX" if pbx else "Rabta carrier simulator",
        "transport": transport,
        "sip_bind": inst.sip_bind,
        "sip_port": inst.sip_port,
        "peer": settings.trunk if pbx else "pbx",
        "peer_host": inst.peer_host,
        "peer_port": inst.peer_port,
        "inbound_context": V.CTX_INBOUND if pbx else V.CTX_SIM_CITIZENS,
        "codecs": "alaw,ulaw",
        "ami_host": settings.ami_host,
        "ami_port": settings.ami_port,
        "ami_user": settings.ami_user,
        "ami_secret": ami_secret if pbx else "",
        "agi_url": agi_url(settings),
        "agi_script": agi_script(settings),
        "agi_hold": agi_hold(settings),
        "agi_dir": lay.agi_dir,
        "trunk_endpoints": trunk_endpoints(settings, transport) if pbx else "",
        # The simulated citizen's phone keeps its RTP stream alive, as a real handset does: a
        # comfort-noise packet after 5 s without media, so the PBX's rtp_timeout ends only calls
        # whose citizen is really gone, while the citizen still sends no audio frames that could
        # end its own `s` waits (WaitForSilence reads what the PBX sends).
        "peer_options": endpoint_options(spec, transport) + ("" if pbx else "\nrtp_keepalive = 5"),
        "peer_contact": contact_of(spec, peer_default),
        "peer_match": match_of(spec, inst.peer_host),
        "peer_sections": auth_sections(spec, transport),
        "extra_transports": extra_transports(settings, inst, transport),
        "studio_route": studio_route(settings),
        "studio_agi": f"{agi_url(settings)}/{V.SCRIPT_STUDIO}",
    }


# ---------------------------------------------------------------- files


def templates_for(role: str, templates: Path = TEMPLATES) -> list[Path]:
    """List the templates one role renders: common ones, then the role's own."""
    return sorted((templates / "common").glob("*.tmpl")) + sorted((templates / role).glob("*.tmpl"))


def render_files(settings: Settings, inst: Instance, target: str = "lab",
                 ami_secret: str = "", templates: Path = TEMPLATES) -> dict[str, str]:
    """Render one instance's whole config tree: {file name: text} (pure: writes nothing)."""
    values = template_values(settings, inst, target, ami_secret)
    out = {}
    for src in templates_for(inst.role, templates):
        name = src.name.removesuffix(".tmpl")
        out[name] = render_template(src.read_text(), values, str(src.relative_to(templates.parent)))
    return out


def drop_sections(text: str, names: frozenset[str] = SITE_SECTIONS) -> str:
    """Remove whole [sections] named in names from a config file's text (their lines too)."""
    kept: list[str] = []
    skipping = False
    for line in text.splitlines():
        m = _SECTION.match(line)
        if m:
            skipping = m.group(1).strip() in names
        if not skipping:
            kept.append(line)
    return "\n".join(kept) + "\n"


def sections(text: str) -> list[str]:
    """Return the [section] names of a config file's text, in order."""
    return [m.strip() for m in _SECTION.findall(text)]


def _check_prefixed(settings: Settings, files: Mapping[str, str]) -> None:
    """Refuse an include rendering with any section name the site could already use."""
    trunks, _ = trunks_and_prefixes(settings)
    names = {"trunk": settings.trunk, "ami_user": settings.ami_user}
    names.update({f"trunks ({t.name})": t.name for t in trunks})
    for key, name in names.items():
        if not name.startswith(PREFIX):
            raise ConfigError(
                f"{key}: {name!r} must start with {PREFIX!r} for the include target, so that "
                f"nothing of the site's own config is touched (e.g. {PREFIX}-{name})")
    for fname, text in files.items():
        for sec in sections(text):
            if not sec.startswith(PREFIX):  # pragma: no cover - a template bug, not input
                raise AsteriskSetupError(f"{fname}: section [{sec}] does not start with {PREFIX}")


def include_files(settings: Settings, ami_secret: str,
                  templates: Path = TEMPLATES) -> dict[str, str]:
    """Render the include target's three files (pure)."""
    full = render_files(settings, pbx_instance(settings), "include", ami_secret, templates)
    manager = drop_sections(full["manager.conf"])
    # channelvars lives in the site's [general]; a user's own channelvars does the same job.
    manager = manager.replace("eventfilter =", "channelvars = "
                              f"{V.ATTEMPT},{V.CALL},{V.BRIDGE_STATUS}\neventfilter =", 1)
    files = {
        "extensions_rabta.conf": drop_sections(full["extensions.conf"]),
        "pjsip_rabta.conf": drop_sections(full["pjsip.conf"]),
        "manager_rabta.conf": manager,
    }
    header = ("; Rendered by `rabta dialplan render --target include`. Included by the site's "
              "own config; edit rabta.toml and render again, not this file.\n")
    files = {k: header + v for k, v in files.items()}
    _check_prefixed(settings, files)
    return files


def target_files(settings: Settings, target: str, templates: Path = TEMPLATES,
                 ami_secret: str = "") -> dict[str, str]:
    """Render the PBX files of a target in memory (lab: the lab's secret is given)."""
    if target not in TARGETS:
        raise ConfigError(f"target: {target!r} is not one of {', '.join(TARGETS)}")
    secret = ami_secret if target == "lab" and ami_secret else required_secret(settings, target)
    if target == "include":
        return include_files(settings, secret, templates)
    return render_files(settings, pbx_instance(settings), target, secret, templates)


def _write_atomic(path: Path, text: str, mode: int = 0o644) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def write_files(out: Path, files: Mapping[str, str]) -> tuple[Path, ...]:
    """Write rendered files into out, each atomically; AMI configs readable by the owner only."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in sorted(files.items()):
        path = out / name
        _write_atomic(path, text, 0o600 if name.startswith("manager") else 0o644)
        written.append(path)
    return tuple(written)


def render(settings: Settings, target: str, out: Path, *, instance: Instance | None = None,
           ami_secret: str | None = None) -> Rendering:
    """Render a target's files into out and return what was written.

    lab: the instance (PBX or carrier) and, for the PBX, the lab's generated secret are given
    by the lab; dedicated: the PBX with Debian's layout; include: three includable files.
    """
    if target not in TARGETS:
        raise ConfigError(f"target: {target!r} is not one of {', '.join(TARGETS)}")
    if target == "lab":
        if instance is None:
            raise AsteriskSetupError("the lab target renders one instance of the lab node")
        secret = (ami_secret or "") if instance.role == "pbx" else ""
        if instance.role == "pbx" and not secret:
            raise ConfigError("ami_secret: the lab node's secret was not given")
        return Rendering(out, write_files(out, render_files(settings, instance, "lab", secret)))
    secret = required_secret(settings, target)
    if target == "dedicated":
        inst = instance or pbx_instance(settings)
        return Rendering(out, write_files(out, render_files(settings, inst, target, secret)))
    files = include_files(settings, secret)
    written = write_files(out, files)
    lines = []
    for path in written:
        custom, stock = INCLUDE_FILES[path.name]
        lines.append(f'#include "{path.resolve()}"   ; in {custom} (FreePBX) or {stock}')
    return Rendering(out, written, tuple(lines))
