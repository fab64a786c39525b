"""Admin channels to a node's Asterisk for ivr.deploy: its CLI socket and its config directory.

- LabAdmin: a lab instance in the rootfs (`asterisk -rx` through chroot);
- HostAdmin: an Asterisk installed on this host (Debian's package, or a container sharing the
  host's /etc/asterisk and /var/run/asterisk), through `asterisk -rx` on its control socket.
Neither uses AMI: the engine's AMI user has no rights to reload anything, by design.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

from ivr.errors import AsteriskSetupError
from ivr.lab import rootfs
from ivr.render import write_files


def _log_mark(log: Path) -> int:
    try:
        return log.stat().st_size
    except OSError:
        return 0


def _log_since(log: Path, mark: int, wait: float = 0.5) -> str:
    time.sleep(wait)  # the logger thread writes a moment after the reload returns
    try:
        with log.open("rb") as f:
            f.seek(mark)
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def _read(etc: Path, names: Iterable[str]) -> dict[str, str]:
    out = {}
    for name in names:
        path = etc / name
        if path.is_file():
            out[name] = path.read_text()
    return out


class LabAdmin:
    """The lab node's PBX, through its CLI socket inside the rootfs."""

    def __init__(self, inst: rootfs.Instance) -> None:
        self.inst = inst
        self.name = inst.name
        self.etc = inst.host_path(inst.etc)
        self.log = inst.host_path(f"{inst.log_dir}/messages.log")

    def read(self, names: Iterable[str]) -> dict[str, str]:
        return _read(self.etc, names)

    def write(self, files: Mapping[str, str]) -> None:
        write_files(self.etc, files)

    def command(self, command: str) -> str:
        return rootfs.cli(self.inst, command)

    def log_mark(self) -> int:
        return _log_mark(self.log)

    def log_since(self, mark: int) -> str:
        return _log_since(self.log, mark)


class HostAdmin:
    """An Asterisk on this host: its config directory and `asterisk -rx`."""

    def __init__(self, etc: Path, asterisk: str = "asterisk", conf: str | None = None,
                 log: Path = Path("/var/log/asterisk/messages.log")) -> None:
        self.etc = etc
        self.log = log
        self.name = f"asterisk at {etc}"
        self.cmd = [asterisk, *(["-C", conf] if conf else [])]

    def read(self, names: Iterable[str]) -> dict[str, str]:
        return _read(self.etc, names)

    def write(self, files: Mapping[str, str]) -> None:
        write_files(self.etc, files)

    def command(self, command: str) -> str:
        try:
            res = subprocess.run([*self.cmd, "-rx", command], capture_output=True, text=True,
                                 timeout=15, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise AsteriskSetupError(f"{self.name}: `{command}`: {exc}") from None
        if res.returncode != 0:
            raise AsteriskSetupError(f"{self.name}: `{command}` failed: "
                                     f"{(res.stderr or res.stdout).strip()}")
        return res.stdout

    def log_mark(self) -> int:
        return _log_mark(self.log)

    def log_since(self, mark: int) -> str:
        return _log_since(self.log, mark)
