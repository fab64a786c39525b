"""A throw-away Asterisk that loads rendered config files and says whether they parsed.

`rabta dialplan check` (and `deploy`, before touching a node) starts one from the shared lab
rootfs: its own temporary directories inside the rootfs, in a network namespace of its own
(`unshare --net`), so it opens no port anywhere, and it is gone when the check ends. It loads
the rendered files, then `dialplan show` and `pjsip show endpoints` confirm the contexts and
endpoints are really there; Asterisk's own error and warning lines about the files (with the
line number Asterisk names) are returned as they are.
"""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ivr import render
from ivr.errors import AsteriskSetupError
from ivr.lab import rootfs as lab

BOOT_TIMEOUT_S = 30.0
# Lines of Asterisk's log worth showing: errors and warnings that name a config file.
_ASTERISK_PROBLEM = re.compile(r"(ERROR|WARNING)\[\d+\]")
_CONFIG_NOISE: tuple[str, ...] = ()  # none known yet: every problem line is shown


@dataclass
class SandboxResult:
    """What the throw-away Asterisk made of the files."""

    booted: bool
    contexts: set[str] = field(default_factory=set)
    endpoints: set[str] = field(default_factory=set)
    registrations: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)  # Asterisk's own lines
    output: str = ""

    def missing(self, contexts: Iterable[str], endpoints: Iterable[str]) -> list[str]:
        """Return what should have loaded but did not."""
        out = [f"context [{c}] did not load" for c in contexts if c not in self.contexts]
        out += [f"endpoint {e} did not load" for e in endpoints if e not in self.endpoints]
        return out


def shell_files(files: Mapping[str, str], target: str) -> dict[str, str]:
    """Wrap an include rendering in minimal top-level files that #include it, as a site would."""
    if target != "include":
        return dict(files)
    wrapped = dict(files)
    wrapped["extensions.conf"] = "[general]\nstatic = yes\nwriteprotect = yes\n" \
                                 "#include extensions_rabta.conf\n"
    wrapped["pjsip.conf"] = "#include pjsip_rabta.conf\n"
    wrapped["manager.conf"] = "[general]\nenabled = yes\nbindaddr = 127.0.0.1\n" \
                              "#include manager_rabta.conf\n"
    return wrapped


def load(rootfs_dir: Path, files: Mapping[str, str], *, keep_logs: bool = False) -> SandboxResult:
    """Start a throw-away Asterisk on these config files and report what it loaded.

    files is {file name: text} of a whole config tree (asterisk.conf is replaced by the
    sandbox's own, pointing every directory at a temporary one).
    """
    if not lab.rootfs_ready(rootfs_dir):
        raise AsteriskSetupError(f"the throw-away Asterisk needs the lab rootfs ({rootfs_dir}); "
                                 f"run `rabta asterisk up` once to build it")
    if shutil.which("unshare") is None:
        raise AsteriskSetupError("unshare (util-linux) is missing: it keeps the check off the network")
    name = f"check-{secrets.token_hex(4)}"
    inner = f"/tmp/rabta-{name}"
    base = rootfs_dir / inner.lstrip("/")
    etc = base / "etc"
    etc.mkdir(parents=True)
    dirs = {d: f"{inner}/{d}" for d in ("lib", "spool", "run", "log", "cache", "agi")}
    for d in dirs.values():
        (rootfs_dir / d.lstrip("/")).mkdir(parents=True, exist_ok=True)
    layout = render.Layout(etc_dir=f"{inner}/etc", lib_dir=dirs["lib"], spool_dir=dirs["spool"],
                           run_dir=dirs["run"], log_dir=dirs["log"], cache_dir=dirs["cache"],
                           agi_dir=dirs["agi"])
    conf_text = _asterisk_conf(name, layout)
    for fname, text in files.items():
        (etc / fname).write_text(lab.copy_certs(text, rootfs_dir, f"{inner}/certs"))
    (etc / "asterisk.conf").write_text(conf_text)
    (etc / "logger.conf").write_text(
        "[general]\ndateformat = %F %T\n[logfiles]\nmessages.log => notice,warning,error\n")
    for stock in lab.STOCK_CONFIGS:
        src = rootfs_dir / "etc/asterisk" / stock
        if src.exists() and not (etc / stock).exists():
            shutil.copyfile(src, etc / stock)
    conf = f"{inner}/etc/asterisk.conf"
    lab._ensure_proc(rootfs_dir)
    proc = subprocess.Popen(
        ["unshare", "--net", "chroot", str(rootfs_dir), lab.ASTERISK, "-C", conf, "-f", "-n", "-q"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True)
    result = SandboxResult(booted=False)
    try:
        deadline = time.monotonic() + BOOT_TIMEOUT_S
        while time.monotonic() < deadline and proc.poll() is None:
            if _rx(rootfs_dir, conf, "core waitfullybooted", 5) is not None:
                result.booted = True
                break
            time.sleep(0.2)
        if result.booted:
            shown = _rx(rootfs_dir, conf, "dialplan show") or ""
            result.contexts = set(re.findall(r"\[ Context '([^']+)'", shown))
            eps = _rx(rootfs_dir, conf, "pjsip show endpoints") or ""
            result.endpoints = set(re.findall(r"^\s*Endpoint:\s+([^<\s/]+)", eps, re.M))
            regs = _rx(rootfs_dir, conf, "pjsip show registrations") or ""
            found = re.findall(r"^\s*(\S+)/\S+\s+\S+\s+\S+", regs, re.M)
            result.registrations = set(found) - {"<Registration"}
            result.output = shown + eps + regs
            _rx(rootfs_dir, conf, "core stop now", 10)
    finally:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()  # ours: started above, by this very Popen
            proc.wait()
        log_text = ""
        log_file = rootfs_dir / dirs["log"].lstrip("/") / "messages.log"
        if log_file.exists():
            log_text = log_file.read_text(errors="replace")
        problems = [line for line in log_text.splitlines()
                    if _ASTERISK_PROBLEM.search(line) and not any(n in line for n in _CONFIG_NOISE)]
        result.problems = list(dict.fromkeys(problems))  # Asterisk repeats a line per reload
        if not keep_logs:
            shutil.rmtree(base, ignore_errors=True)
    return result


def _asterisk_conf(name: str, layout: render.Layout) -> str:
    return (f"[directories]\nastetcdir => {layout.etc_dir}\nastvarlibdir => /var/lib/asterisk\n"
            f"astdbdir => {layout.lib_dir}\nastkeydir => /var/lib/asterisk\n"
            f"astdatadir => /usr/share/asterisk\nastagidir => {layout.agi_dir}\n"
            f"astspooldir => {layout.spool_dir}\nastrundir => {layout.run_dir}\n"
            f"astlogdir => {layout.log_dir}\nastsbindir => /usr/sbin\n"
            f"astcachedir => {layout.cache_dir}\n"
            f"[options]\nsystemname = {name}\ndocumentation_language = en_US\n")


def _rx(rootfs_dir: Path, conf: str, command: str, timeout: float = 10.0) -> str | None:
    try:
        res = subprocess.run(["chroot", str(rootfs_dir), lab.ASTERISK, "-C", conf, "-rx", command],
                             capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return None
    return res.stdout if res.returncode == 0 else None
