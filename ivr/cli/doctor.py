"""CLI, doctor: `rabta doctor`, the admin's audit of the settings, the PBX nodes and the files.

Wiring only: gathers what ivr.doctor audits (the settings, each node's manager, extensions and
pjsip config, file modes, free disk, the newest backup, whether each node answers) and prints
every finding with its severity and fix. Exits 1 on any high finding, so cron or CI can run it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from ivr import dialplan_check as C
from ivr import doctor, render
from ivr.cli.dialplan import prompt_finder
from ivr.config import Settings
from ivr.dialplan_check import HIGH, MEDIUM, Finding
from ivr.lab import rootfs as lab

BACKUP_GLOB = "rabta-*.db"



def _handler(do: Callable[[Settings, argparse.Namespace], int]
             ) -> Callable[[argparse.Namespace, Settings], int]:
    """Adapt a `do_*(settings, args)` to the CLI's handler signature `(args, settings)`."""
    return lambda args, settings: do(settings, args)


def register(subparsers: Any) -> None:
    """Add `rabta doctor` to the `rabta` parser's subcommands."""
    p = subparsers.add_parser(
        "doctor", help="audit the settings, the PBX nodes and the files; exit 1 on a high finding",
        description="Audit AMI (bind address, rights, secrets), FastAGI exposure, the web "
                    "edge, the dialplan (inbound contexts that can dial, missing prompts), the "
                    "database's file mode, disk left for recordings and the last backup's age.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  rabta doctor\n  rabta doctor --etc /etc/asterisk   # a dedicated node\n"
               "  rabta doctor --json | jq '.[] | select(.severity==\"high\")'")
    p.add_argument("--etc", type=Path, action="append", default=[],
                   help="a node's Asterisk config directory to audit (repeatable); default: "
                        "the lab node's, or what Rabta would render")
    p.add_argument("--sounds", type=Path, default=None, help="the PBX's sounds directory")
    p.add_argument("--json", action="store_true", help="one JSON list of findings")
    p.set_defaults(func=_handler(do_doctor))


def _read(path: Path) -> str | None:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return None


def node_configs(settings: Settings, etc_dirs: list[Path]) -> list[tuple[str, dict[str, str]]]:
    """Return (where, {manager/extensions/pjsip text}) for every node config to audit."""
    out = []
    for etc in etc_dirs:
        files = {}
        for kind in ("manager", "extensions", "pjsip"):
            text = _read(etc / f"{kind}.conf")
            if text is not None and f"{kind}_rabta.conf" in text:  # the include target
                text += "\n" + (_read(etc / f"{kind}_rabta.conf") or "")
            files[kind] = text or ""
        out.append((str(etc), files))
    if out:
        return out
    pbx = lab.node_for(settings).pbx
    etc = pbx.host_path(pbx.etc)
    if (etc / "manager.conf").is_file():
        return [(f"lab node {pbx.name}", {k: _read(etc / f"{k}.conf") or ""
                                           for k in ("manager", "extensions", "pjsip")})]
    secret = settings.ami_secret or (_read(settings.home / "ami.secret") or "").strip()
    files = render.render_files(settings, render.pbx_instance(settings), "dedicated", secret)
    return [("the rendering of these settings",
             {k: files[f"{k}.conf"] for k in ("manager", "extensions", "pjsip")})]


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2) as s:
            s.settimeout(2)
            return s.recv(64).startswith(b"Asterisk Call Manager/")
    except OSError:
        return False


def last_backup(settings: Settings) -> datetime | None:
    """Return when the newest backup in <home>/backups was written, or None."""
    found = sorted((settings.home / "backups").glob(BACKUP_GLOB), key=lambda p: p.stat().st_mtime)
    return datetime.fromtimestamp(found[-1].stat().st_mtime, UTC) if found else None


def audit(settings: Settings, etc_dirs: list[Path], sounds: Path | None,
          now: datetime, prompt_exists: Callable[[str], bool] | None = None,
          check_nodes: bool = True) -> list[Finding]:
    """Gather every input from this machine and run every audit."""
    findings: list[Finding] = []
    if prompt_exists is None:
        target = "lab" if lab.rootfs_ready(settings.rootfs) and not etc_dirs else "dedicated"
        prompt_exists = prompt_finder(settings, target, sounds)
    findings += doctor.audit_ami(settings, None, "settings")  # ami_host itself
    secret_files = [settings.home / "ami.secret"]
    config = os.environ.get("RABTA_CONFIG")
    if config:
        secret_files.append(Path(config))
    for where, files in node_configs(settings, etc_dirs):
        findings += [f for f in doctor.audit_ami(settings, files["manager"], where)
                     if "AMI listens on" not in f.what or f.what not in {x.what for x in findings}]
        findings += doctor.audit_dialplan(files["extensions"], files["pjsip"], prompt_exists, where)
    for etc in etc_dirs:
        secret_files += [etc / "manager.conf", etc / "manager_rabta.conf"]
    findings += doctor.audit_secret_files(secret_files)
    findings += doctor.audit_agi(settings)
    findings += doctor.audit_web(settings)
    findings += doctor.audit_database(settings.db_path)
    home = settings.home if settings.home.exists() else Path("/")
    findings += doctor.audit_disk(home, shutil.disk_usage(home).free)
    findings += doctor.audit_backups(last_backup(settings), now)
    if check_nodes:
        for name, host, port in settings.pbx_nodes():
            if not _answers(host, port):
                findings.append(Finding(MEDIUM, f"node {name}: AMI at {host}:{port} does not answer",
                                        "`rabta asterisk status`; start the node or fix nodes="))
    # One finding once, however many places found it.
    return list(dict.fromkeys(findings))


def do_doctor(settings: Settings, args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Print every finding (worst first) and exit 1 if any is high."""
    out = out or sys.stdout
    findings = audit(settings, args.etc, args.sounds, datetime.now(UTC))
    order = {HIGH: 0, MEDIUM: 1, C.LOW: 2}
    findings.sort(key=lambda f: order[f.severity])
    if args.json:
        json.dump([{"severity": f.severity, "finding": f.what, "fix": f.fix} for f in findings],
                  out, ensure_ascii=False, indent=1)
        out.write("\n")
    else:
        for f in findings:
            print(f, file=out)
        counts = {s: sum(1 for f in findings if f.severity == s) for s in order}
        print(f"doctor: {counts[HIGH]} high, {counts[MEDIUM]} medium, {counts[C.LOW]} low",
              file=out)
    return 1 if doctor.worst(findings) == HIGH else 0
