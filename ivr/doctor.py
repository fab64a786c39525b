"""The admin's audit: `rabta doctor` checks settings, the rendered PBX config and the files.

Pure functions: each takes what it audits (settings, a manager.conf text, file modes, `now`)
and returns Findings with a severity and the fix; ivr.cli.doctor gathers the inputs from the
machine and the nodes. Anchors: Asterisk's security best practices (AMI on loopback, no
system/command/config rights, strong secrets; FastAGI has no authentication) and the dialplan
toll-fraud walk of ivr.dialplan_check.
"""

from __future__ import annotations

import ipaddress
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from ivr import dialplan_check as C
from ivr.config import Settings
from ivr.dialplan_check import HIGH, LOW, MEDIUM, Finding

DANGEROUS_AMI_RIGHTS = frozenset({"system", "command", "config", "all"})
WEAK_SECRETS = frozenset({"", "secret", "password", "changeme", "admin", "amp111", "rabta",
                          "asterisk", "1234", "12345678", "mysecret"})
MIN_SECRET = 16
MIN_FREE_BYTES = 2 * 1024**3  # a recording is ~100 KB a minute: 2 GB is days of complaints
BACKUP_MAX_AGE = timedelta(days=1)


def _loopback(host: str) -> bool:
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name: it resolves to who knows what


def _networks(items: Iterable[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    out = []
    for item in items:
        try:
            out.append(ipaddress.ip_network(item.replace("/255.255.255.255", "/32"), strict=False))
        except ValueError:
            continue
    return out


@dataclass(frozen=True)
class AmiUser:
    """One [user] of a manager.conf."""

    name: str
    secret: str
    read: frozenset[str]
    write: frozenset[str]
    permit: tuple[str, ...]
    deny: tuple[str, ...]


def parse_manager(text: str) -> tuple[dict[str, str], list[AmiUser]]:
    """Parse a manager.conf text into its [general] options and its users."""
    general: dict[str, str] = {}
    users: list[AmiUser] = []
    section: str | None = None
    props: dict[str, list[str]] = {}

    def rights(key: str) -> frozenset[str]:
        return frozenset(r.strip().lower() for v in props.get(key, []) for r in v.split(",")
                         if r.strip())

    def flush() -> None:
        if section and section != "general":
            users.append(AmiUser(section, (props.get("secret") or [""])[-1], rights("read"),
                                 rights("write"), tuple(props.get("permit", [])),
                                 tuple(props.get("deny", []))))

    for raw in text.splitlines():
        line = C.strip_comment(raw).strip()
        if line.startswith("[") and "]" in line:
            flush()
            section, props = line[1:line.index("]")].strip(), {}
            continue
        key, sep, value = line.partition("=")
        if not sep or section is None:
            continue
        key, value = key.strip().lower(), value.strip().lstrip(">").strip()
        if section == "general":
            general[key] = value
        else:
            props.setdefault(key, []).append(value)
    flush()
    return general, users


def audit_ami(settings: Settings, manager_conf: str | None, where: str) -> list[Finding]:
    """AMI bound beyond loopback; users with dangerous rights, open permits, weak secrets."""
    out: list[Finding] = []
    bind = settings.ami_host
    users: list[AmiUser] = []
    if manager_conf is not None:
        general, users = parse_manager(manager_conf)
        bind = general.get("bindaddr", "0.0.0.0")  # Asterisk's own default is every address
    if not _loopback(bind):
        out.append(Finding(HIGH, f"{where}: AMI listens on {bind}, beyond loopback",
                           "bind AMI to 127.0.0.1 (ami_host), or to one private address with "
                           "each user's deny=0.0.0.0/0.0.0.0 and permit=<engine>/32"))
    for u in users:
        bad = sorted((u.read | u.write) & DANGEROUS_AMI_RIGHTS)
        if bad:
            out.append(Finding(HIGH, f"{where}: AMI user {u.name} has {', '.join(bad)} rights "
                                     f"(a shell on the PBX for whoever holds its secret)",
                               "give the engine's user read = call,reporting and write = "
                               "originate,reporting only"))
        if not u.permit or any(n.prefixlen == 0 for n in _networks(u.permit)):
            out.append(Finding(HIGH if not _loopback(bind) else MEDIUM,
                               f"{where}: AMI user {u.name} may log in from any address",
                               "add deny = 0.0.0.0/0.0.0.0 and permit = <engine address>/32"))
        if u.secret.lower() in WEAK_SECRETS or len(u.secret) < MIN_SECRET:
            out.append(Finding(HIGH, f"{where}: AMI user {u.name} has a default or short secret "
                                     f"({len(u.secret)} characters)",
                               f"set ami_secret to {MIN_SECRET}+ random characters (e.g. "
                               f"`openssl rand -base64 24`), render and deploy again"))
    return out


def audit_secret_files(paths: Iterable[Path]) -> list[Finding]:
    """Secret-holding files (ami.secret, manager.conf, rabta.toml) readable by others."""
    out = []
    for path in paths:
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except OSError:
            continue
        if mode & 0o044:
            out.append(Finding(HIGH if mode & 0o004 else MEDIUM,
                               f"{path} holds a secret and is readable by "
                               f"{'everyone' if mode & 0o004 else 'its group'} "
                               f"(mode {mode:04o})", f"chmod 600 {path}"))
    return out


def audit_agi(settings: Settings) -> list[Finding]:
    """FastAGI has no authentication: it must stay on loopback or behind agi_allow."""
    if _loopback(settings.agi_host):
        return []
    nets = _networks(settings.agi_allow)
    if any(n.prefixlen == 0 for n in nets):
        return [Finding(HIGH, f"FastAGI listens on {settings.agi_host} and agi_allow lets any "
                              f"address in: anyone can run a survey session and write answers",
                        "set agi_allow to the PBX nodes' addresses only (e.g. 10.0.0.5/32)")]
    wide = [str(n) for n in nets if not n.is_loopback and n.num_addresses > 256]
    if wide:
        return [Finding(MEDIUM, f"FastAGI listens on {settings.agi_host}; agi_allow admits "
                                f"wide networks: {', '.join(wide)}",
                        "narrow agi_allow to the PBX nodes' own addresses")]
    return [Finding(LOW, f"FastAGI listens on {settings.agi_host}, allowed: "
                         f"{', '.join(settings.agi_allow)}",
                    "keep a firewall rule for port {settings.agi_port} as a second line")]


def audit_web(settings: Settings) -> list[Finding]:
    """The dashboard off loopback needs HTTPS in front and Secure cookies; /metrics is open."""
    if _loopback(settings.web_host):
        return []
    out = []
    if not settings.cookie_secure:
        out.append(Finding(HIGH, f"web_host is {settings.web_host} (reachable from the network) "
                                 f"and cookie_secure is off: officials' sessions travel in clear",
                           "serve the dashboard behind HTTPS (a reverse proxy with TLS) and set "
                           "cookie_secure = true, or bind web_host to 127.0.0.1"))
    out.append(Finding(MEDIUM, f"/metrics on {settings.web_host}:{settings.web_port} needs no "
                               f"login: call volumes and node names are visible to the network",
                       "let the reverse proxy deny /metrics except to the monitoring host"))
    return out


def audit_dialplan(extensions: str, pjsip: str, prompt_exists: Callable[[str], bool],
                   where: str) -> list[Finding]:
    """An inbound context that can dial, and prompts the dialplan plays that are missing."""
    contexts = C.parse_extensions(extensions)
    entries = sorted(set(C.endpoint_contexts(pjsip).values()))
    out = C.toll_fraud(contexts, entries) + C.check_bridge(contexts)
    out += C.check_prompts(contexts, prompt_exists)
    return [Finding(f.severity, f"{where}: {f.what}", f.fix) for f in out]


def audit_database(db: Path) -> list[Finding]:
    """The database holds citizens' numbers and answers: owner-only."""
    out = []
    for path in (db, db.with_name(db.name + "-wal")):
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except OSError:
            continue
        if mode & 0o077:
            out.append(Finding(HIGH if mode & 0o004 else MEDIUM,
                               f"{path} (citizens' numbers and answers) has mode {mode:04o}",
                               f"chmod 600 {path}; chmod 700 {path.parent}"))
    return out


def audit_disk(path: Path, free_bytes: int) -> list[Finding]:
    """Room left for recordings."""
    if free_bytes < MIN_FREE_BYTES // 4:
        sev = HIGH
    elif free_bytes < MIN_FREE_BYTES:
        sev = MEDIUM
    else:
        return []
    return [Finding(sev, f"{path}: only {free_bytes / 1024**3:.1f} GB free for recordings",
                    "free space or move RABTA_HOME to a larger disk")]


def audit_backups(last: datetime | None, now: datetime) -> list[Finding]:
    """The newest backup's age."""
    if last is None:
        return [Finding(MEDIUM, "no backup found", "run `rabta backup` from cron (e.g. nightly)")]
    age = now - last
    if age > BACKUP_MAX_AGE:
        return [Finding(MEDIUM, f"the last backup is {age.days} day(s) "
                                f"{age.seconds // 3600} h old",
                        "run `rabta backup` from cron (e.g. nightly)")]
    return []


def worst(findings: Iterable[Finding]) -> str | None:
    """Return the highest severity among findings, or None."""
    order = {HIGH: 3, MEDIUM: 2, LOW: 1}
    found = max((order[f.severity] for f in findings), default=0)
    return {3: HIGH, 2: MEDIUM, 1: LOW}.get(found)
