"""Safe PBX config changes: deploy to a node, reload, verify, roll back by itself; keep history.

A deploy writes the reloadable files (extensions, pjsip, manager: or the include target's three)
to a node through an *admin channel* (the node's Asterisk CLI socket; never the engine's
least-privilege AMI user), reloads them (`dialplan reload`, `module reload res_pjsip.so`,
`manager reload`), and verifies what Asterisk then holds: every context the engine needs, every
endpoint of the rendering, the engine's AMI user. If verification fails, the previous files are
written back and reloaded at once. Every deploy is kept under <home>/deploys/<id>/ with the
files, who, when, the diff (secrets masked) and the result; `rollback` deploys a kept one again.
Calls in flight are untouched by these reloads: their channels hold what they need.
"""

from __future__ import annotations

import getpass
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from ivr import dialplan_check as C
from ivr.errors import InputError

RELOADS = ("dialplan reload", "module reload res_pjsip.so", "manager reload")


class AdminChannel(Protocol):
    """How a deploy reaches one node: read and write its config files, run CLI commands."""

    name: str

    def read(self, names: Iterable[str]) -> dict[str, str]: ...
    def write(self, files: Mapping[str, str]) -> None: ...
    def command(self, command: str) -> str: ...
    def log_mark(self) -> int: ...
    def log_since(self, mark: int) -> str: ...


# What a reload logs when it refuses part of a file. On a reload Asterisk keeps the previous
# object for a section it cannot apply, so "is it loaded" alone would pass a broken file.
_CONFIG_SOURCES = ("config.c", "config_options.c", "res_sorcery_config.c", "pbx_config.c",
                   "res_pjsip/config_", "manager.c", "res_pjsip_outbound_registration.c: Invalid")
_PROBLEM = re.compile(r"\b(ERROR|WARNING)\[\d+\]")


def reload_problems(log: str) -> list[str]:
    """Return the config errors and warnings Asterisk logged during a reload."""
    out = []
    for line in log.splitlines():
        if _PROBLEM.search(line) and any(src in line for src in _CONFIG_SOURCES):
            out.append(line.split("] ", 1)[-1].strip())
    return list(dict.fromkeys(out))


@dataclass(frozen=True)
class Record:
    """One deploy as kept in the history."""

    id: int
    node: str
    who: str
    when: str
    result: str  # live | rolled back | refused
    reason: str
    diff: str
    source: str  # what was deployed: "render", "rollback to N"


def _mask(text: str) -> str:
    return re.sub(r"^(\s*secret\s*=\s*).*$", r"\1********", text, flags=re.MULTILINE)


def diff(old: Mapping[str, str], new: Mapping[str, str]) -> str:
    """Unified diff of two sets of files, secrets masked."""
    import difflib

    out: list[str] = []
    for name in sorted(set(old) | set(new)):
        a, b = _mask(old.get(name, "")), _mask(new.get(name, ""))
        if a != b:
            out.extend(difflib.unified_diff(a.splitlines(True), b.splitlines(True),
                                            f"a/{name}", f"b/{name}"))
    return "".join(out)


def verify(channel: AdminChannel, contexts: Iterable[str], endpoints: Iterable[str],
           ami_user: str | None) -> list[str]:
    """Return what the node does not hold after a reload (empty: verified)."""
    problems = []
    for ctx in contexts:
        shown = channel.command(f"dialplan show {ctx}")
        if f"Context '{ctx}'" not in shown:
            problems.append(f"context [{ctx}] is not loaded")
    eps = channel.command("pjsip show endpoints")
    for ep in endpoints:
        if not re.search(rf"^\s*Endpoint:\s+{re.escape(ep)}[\s/]", eps, re.MULTILINE):
            problems.append(f"endpoint {ep} is not loaded")
    if ami_user:
        shown = channel.command(f"manager show user {ami_user}")
        if "username:" not in shown.lower():
            problems.append(f"AMI user {ami_user} is not loaded")
    return problems


def expected(files: Mapping[str, str], needed: Iterable[str]) -> tuple[list[str], list[str]]:
    """Return (contexts, endpoints) a set of files should leave loaded."""
    ext = "".join(v for k, v in files.items() if k.startswith("extensions"))
    pjsip = "".join(v for k, v in files.items() if k.startswith("pjsip"))
    defined = set(C.parse_extensions(ext))
    contexts = [c for c in needed if c in defined] + sorted(defined - set(needed))
    return contexts, sorted(C.endpoint_contexts(pjsip))


def manager_user(files: Mapping[str, str]) -> str | None:
    """Return the first AMI user the files define, if any."""
    for k, text in files.items():
        if k.startswith("manager"):
            users = [s for s in C.strip_comment(text).split("\n") if s.startswith("[")]
            names = [u[1:u.index("]")] for u in users if u[1:u.index("]")] != "general"]
            if names:
                return names[0]
    return None


class History:
    """The deploys of one RABTA_HOME, one directory each (files owner-only: they hold secrets)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def ids(self) -> list[int]:
        if not self.root.is_dir():
            return []
        return sorted(int(p.name) for p in self.root.iterdir() if p.name.isdigit())

    def record(self, rec: Record, files: Mapping[str, str]) -> None:
        d = self.root / f"{rec.id:04d}"
        d.mkdir(parents=True, mode=0o700)
        for name, text in files.items():
            fd = os.open(d / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(text)
        (d / "deploy.json").write_text(json.dumps(asdict(rec), ensure_ascii=False, indent=1))

    def get(self, deploy_id: int) -> tuple[Record, dict[str, str]]:
        d = self.root / f"{deploy_id:04d}"
        if not (d / "deploy.json").is_file():
            known = ", ".join(str(i) for i in self.ids()) or "none"
            raise InputError(f"no deploy {deploy_id} (kept: {known})")
        rec = Record(**json.loads((d / "deploy.json").read_text()))
        files = {p.name: p.read_text() for p in d.iterdir() if p.name != "deploy.json"}
        return rec, files

    def all(self) -> list[Record]:
        return [self.get(i)[0] for i in self.ids()]

    def next_id(self) -> int:
        return (self.ids() or [0])[-1] + 1


def who() -> str:
    """Return who deploys: the sudo user behind root, else the login."""
    return os.environ.get("SUDO_USER") or getpass.getuser()


def apply(channel: AdminChannel, files: Mapping[str, str], history: History, *,
          needed: Iterable[str], source: str = "render", refused: str = "",
          now: datetime | None = None) -> Record:
    """Deploy files to a node: write, reload, verify, roll back if needed; record it all."""
    now = now or datetime.now(UTC)
    previous = channel.read(files)
    rec_id = history.next_id()
    change = diff(previous, files)
    base = dict(id=rec_id, node=channel.name, who=who(), when=now.isoformat(timespec="seconds"),
                diff=change, source=source)
    if refused:
        rec = Record(result="refused", reason=refused, **base)  # type: ignore[arg-type]
        history.record(rec, files)
        return rec
    needed = list(needed)
    mark = channel.log_mark()
    channel.write(files)
    for cmd in RELOADS:
        channel.command(cmd)
    contexts, endpoints = expected(files, needed)
    problems = [f"Asterisk: {line}" for line in reload_problems(channel.log_since(mark))]
    problems += verify(channel, contexts, endpoints, manager_user(files))
    if not problems:
        rec = Record(result="live", reason="verified: " + ", ".join(
            [f"{len(contexts)} contexts", f"{len(endpoints)} endpoints"]), **base)  # type: ignore[arg-type]
        history.record(rec, files)
        return rec
    # Put the previous files back at once; a file that did not exist before is emptied.
    channel.write({name: previous.get(name, "") for name in files})
    for cmd in RELOADS:
        channel.command(cmd)
    after = verify(channel, *expected(previous, needed), manager_user(previous))
    reason = "; ".join(problems) + (" | after the rollback: " + "; ".join(after) if after else
                                    " | previous files restored and verified")
    rec = Record(result="rolled back", reason=reason, **base)  # type: ignore[arg-type]
    history.record(rec, files)
    return rec
