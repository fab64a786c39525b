"""Lab provisioning: a real Asterisk 22 in a Debian sid rootfs, for hosts without Docker.

One *node* is two Asterisk instances sharing one rootfs:
- the PBX: AMI on loopback, a least-privilege AMI user, the PJSIP trunk to the carrier, and the
  survey dialplan that hands answered calls to our FastAGI server;
- the carrier simulator: a simulated phone network whose citizens come from the phone book.

Each instance has its own config, run, spool, db and log dirs inside the rootfs, so a demo node
and a test node can run side by side. We end only processes we started, by their PID.

This module builds the rootfs, lays out each instance's directories, starts and stops the
processes and mounts what the classic AGI needs. What goes into the config files is rendered by
ivr.render (the `lab` target), which knows nothing of the rootfs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import logging
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ivr import render
from ivr.asterisk import variables as V
from ivr.config import Settings
from ivr.errors import AsteriskSetupError
from ivr.render import (
    CLASSIC_DIST_PACKAGES,
    CLASSIC_PYTHON_ARGS,
    CLASSIC_SCRIPT,
    agi_url,
    render_template,
    trunk_endpoints,
)

__all__ = ["CLASSIC_SCRIPT", "V", "agi_url", "render_template", "trunk_endpoints"]

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGES = "asterisk,asterisk-core-sounds-en-wav"
SUITE = "sid"
ASTERISK = "/usr/sbin/asterisk"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
STOCK_CONFIGS = ("indications.conf",)

@dataclass(frozen=True)
class Instance:
    """One Asterisk process inside the rootfs."""

    rootfs: Path
    role: str  # "pbx" | "carrier"
    name: str  # e.g. "rabta-pbx"
    sip_port: int
    peer_port: int
    rtp_start: int

    @property
    def etc(self) -> str:
        return f"/etc/rabta/{self.name}"

    @property
    def conf(self) -> str:
        return f"{self.etc}/asterisk.conf"

    @property
    def run_dir(self) -> str:
        return f"/run/rabta/{self.name}"

    @property
    def log_dir(self) -> str:
        return f"/var/log/rabta/{self.name}"

    def host_path(self, inner: str) -> Path:
        """Return where a path inside the rootfs lives on the host."""
        return self.rootfs / inner.lstrip("/")

    def spec(self) -> render.Instance:
        """Describe this instance to the renderer: its ports and its directories in the rootfs."""
        layout = render.Layout(
            etc_dir=self.etc, lib_dir=f"/var/lib/rabta/{self.name}",
            spool_dir=f"/var/spool/rabta/{self.name}", run_dir=self.run_dir,
            log_dir=self.log_dir, cache_dir=f"/var/cache/rabta/{self.name}",
            agi_dir=agi_dir(self))
        return render.Instance(self.role, self.name, self.sip_port, self.peer_port,
                               self.rtp_start, layout)

    @property
    def pidfile(self) -> Path:
        return self.host_path(f"{self.run_dir}/asterisk.pid")

    @property
    def console_log(self) -> Path:
        return self.host_path(f"{self.log_dir}/console.log")


@dataclass(frozen=True)
class Node:
    """A PBX and its carrier simulator."""

    pbx: Instance
    carrier: Instance

    @property
    def instances(self) -> tuple[Instance, Instance]:
        return (self.pbx, self.carrier)


def node_for(settings: Settings) -> Node:
    """Describe the node that settings name (no side effects)."""
    root = settings.rootfs
    pbx = Instance(root, "pbx", f"{settings.node}-pbx", settings.sip_port,
                   settings.carrier_sip_port, settings.rtp_start)
    carrier = Instance(root, "carrier", f"{settings.node}-carrier", settings.carrier_sip_port,
                       settings.sip_port, settings.rtp_start + 5000)
    return Node(pbx, carrier)


# ---------------------------------------------------------------- the rootfs itself


def rootfs_ready(rootfs: Path) -> bool:
    """Say whether the rootfs holds an installed Asterisk."""
    return (rootfs / ASTERISK.lstrip("/")).is_file() and (rootfs / ".rabta-complete").is_file()


@contextlib.contextmanager
def _exclusive(rootfs: Path, what: str) -> Iterator[None]:
    """Hold a lock beside the rootfs, so two processes never build or apt-install it at once."""
    rootfs.parent.mkdir(parents=True, exist_ok=True)
    with open(rootfs.parent / f".{rootfs.name}.{what}.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # released when the file closes
        yield


def build_rootfs(rootfs: Path) -> None:
    """Build the Debian sid rootfs with Asterisk once (about a minute); no-op if present."""
    if rootfs_ready(rootfs):
        return
    with _exclusive(rootfs, "build"):
        if not rootfs_ready(rootfs):  # another process may have built it while we waited
            _build_rootfs(rootfs)


def _build_rootfs(rootfs: Path) -> None:
    if os.geteuid() != 0:
        raise AsteriskSetupError("building the Asterisk rootfs needs root (debootstrap, chroot)")
    if shutil.which("debootstrap") is None:
        raise AsteriskSetupError("debootstrap is missing: run `make setup` "
                                 "(or apt-get install debootstrap)")
    rootfs.parent.mkdir(parents=True, exist_ok=True)
    tmp = rootfs.with_name(rootfs.name + ".partial")
    if tmp.exists():
        _unmount_all(tmp)
        shutil.rmtree(tmp)
    logfile = rootfs.parent / "debootstrap.log"
    log.info("building the Asterisk rootfs in %s (once; about a minute; log: %s)", rootfs, logfile)
    # No mirror argument: debootstrap's default mirror is the one this machine reaches.
    cmd = ["debootstrap", "--variant=minbase", f"--include={PACKAGES}", SUITE, str(tmp)]
    with logfile.open("wb") as out:
        rc = subprocess.call(cmd, stdout=out, stderr=subprocess.STDOUT)
    if rc != 0:
        raise AsteriskSetupError(f"debootstrap failed (exit {rc}); see {logfile}")
    (tmp / ".rabta-complete").write_text(f"{SUITE} {PACKAGES}\n")
    if rootfs.exists():  # an older, incomplete copy
        _unmount_all(rootfs)
        shutil.rmtree(rootfs)
    tmp.rename(rootfs)  # atomic: a half-built rootfs is never mistaken for a good one


def _mounted(path: Path) -> bool:
    target = str(path.resolve())
    with open("/proc/self/mounts") as f:
        return any(line.split()[1] == target for line in f)


def _ensure_proc(rootfs: Path) -> None:
    proc = rootfs / "proc"
    proc.mkdir(exist_ok=True)
    if not _mounted(proc):
        subprocess.run(["mount", "-t", "proc", "proc", str(proc)], check=True)


def _mounts_under(rootfs: Path) -> list[Path]:
    """List mount points inside the rootfs, deepest first."""
    base = str(rootfs.resolve())
    with open("/proc/self/mounts") as f:
        points = {line.split()[1] for line in f}
    inside = [p for p in points if p.startswith(base + "/")]
    return [Path(p) for p in sorted(inside, key=lambda p: p.count("/"), reverse=True)]


def _unmount_all(rootfs: Path) -> None:
    # Every mount, not only /proc: a bind-mounted database must never be under an rmtree.
    for point in _mounts_under(rootfs):
        subprocess.run(["umount", "-l", str(point)], check=False)


def _processes_in(rootfs: Path) -> list[int]:
    """List PIDs whose root directory is this rootfs (anyone still using the mount)."""
    target = str(rootfs.resolve())
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.readlink(entry / "root") == target:
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


# ---------------------------------------------------------------- configs


def ami_secret(settings: Settings) -> str:
    """Return the AMI secret, creating a random one in <home>/ami.secret on first use."""
    if settings.ami_secret:
        return settings.ami_secret
    path = settings.home / "ami.secret"
    if not path.exists():
        settings.home.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(24) + "\n")
    return path.read_text().strip()


def template_values(settings: Settings, inst: Instance) -> dict[str, object]:
    """Return the placeholder values of one lab instance (the renderer's, with the lab's secret)."""
    secret = ami_secret(settings) if inst.role == "pbx" else ""
    return render.template_values(settings, inst.spec(), "lab", secret)


_CERT_LINE = re.compile(r"^(\s*(?:cert_file|priv_key_file|ca_list_file)\s*=\s*)(\S+)\s*$", re.M)


def copy_certs(text: str, rootfs: Path, inner: str) -> str:
    """Copy the certificate files a config names (host paths) into the rootfs at inner, and
    point the config at the copies: an Asterisk in the chroot sees only the rootfs."""
    def sub(m: re.Match[str]) -> str:
        src = Path(m.group(2))
        if not src.is_file() or str(src).startswith(inner + "/"):
            return m.group(0)  # already inside, or missing: Asterisk will say so itself
        dest = rootfs / inner.lstrip("/") / src.name
        dest.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        shutil.copyfile(src, dest)
        os.chmod(dest, 0o600)
        return f"{m.group(1)}{inner}/{src.name}"

    return _CERT_LINE.sub(sub, text)


def render_instance(settings: Settings, inst: Instance) -> None:
    """Render one instance's configs into its dir in the rootfs, and make its other dirs."""
    spec = inst.spec()
    lay = spec.layout
    for d in (lay.lib_dir, lay.spool_dir, lay.run_dir, lay.log_dir, lay.cache_dir):
        inst.host_path(d).mkdir(parents=True, exist_ok=True)
    inst.host_path(f"{inst.log_dir}/cdr-csv").mkdir(exist_ok=True)  # cdr_csv won't create it
    etc = inst.host_path(inst.etc)
    secret = ami_secret(settings) if inst.role == "pbx" else ""
    render.render(settings, "lab", etc, instance=spec, ami_secret=secret)
    pjsip = etc / "pjsip.conf"
    with_certs = copy_certs(pjsip.read_text(), inst.rootfs, f"{inst.etc}/certs")
    if with_certs != pjsip.read_text():
        _write_atomic(pjsip, with_certs)
    for name in STOCK_CONFIGS:  # Debian's own copy, e.g. the tones of every country
        shutil.copyfile(inst.host_path(f"/etc/asterisk/{name}"), etc / name)
    if inst.role == "carrier" and not (etc / "phonebook.conf").exists():
        _write_atomic(etc / "phonebook.conf", "; empty phone book\n")


def _write_atomic(path: Path, text: str, mode: int = 0o644) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


# ---------------------------------------------------------------- processes


def cli(inst: Instance, command: str, timeout: float = 15.0) -> str:
    """Run one Asterisk CLI command on a running instance and return its output."""
    res = subprocess.run(
        ["chroot", str(inst.rootfs), ASTERISK, "-C", inst.conf, "-rx", command],
        capture_output=True, text=True, timeout=timeout, check=False,
    )
    if res.returncode != 0:
        why = res.stderr.strip() or res.stdout.strip()
        raise AsteriskSetupError(f"{inst.name}: `{command}` failed: {why}")
    return res.stdout


def pid_of(inst: Instance) -> int | None:
    """Return the PID of the running instance, verified to be our Asterisk, or None."""
    try:
        pid = int(inst.pidfile.read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None
    if state == "Z" or inst.conf.encode() not in cmdline:
        return None  # a zombie, or the PID was reused by someone else's process
    return pid


def start(inst: Instance) -> int:
    """Start one instance if it is not running; wait until it is fully booted."""
    pid = pid_of(inst)
    if pid is not None:
        return pid
    _ensure_proc(inst.rootfs)
    _check_port_free(inst)
    inst.console_log.parent.mkdir(parents=True, exist_ok=True)
    with inst.console_log.open("ab") as out:
        proc = subprocess.Popen(
            ["chroot", str(inst.rootfs), ASTERISK, "-C", inst.conf, "-f", "-n", "-q"],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,  # survives the CLI that started it; we stop it by PID
        )
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AsteriskSetupError(
                f"{inst.name} exited with {proc.returncode} while starting; "
                f"see {inst.console_log} and {inst.host_path(inst.log_dir)}/messages.log")
        try:
            cli(inst, "core waitfullybooted", timeout=5)
            break
        except (AsteriskSetupError, subprocess.TimeoutExpired):
            time.sleep(0.2)
    else:
        proc.kill()
        raise AsteriskSetupError(f"{inst.name} did not boot within {START_TIMEOUT_S:.0f} s")
    inst.pidfile.write_text(f"{proc.pid}\n")  # Asterisk writes it too; ours is the chroot's PID
    log.debug("%s started (pid %d, SIP 127.0.0.1:%d)", inst.name, proc.pid, inst.sip_port)
    return proc.pid


PORT_FREE_WAIT_S = 5.0  # a just-stopped instance may hold its port a moment longer


def _check_port_free(inst: Instance, wait_s: float = PORT_FREE_WAIT_S) -> None:
    deadline = time.monotonic() + wait_s
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind(("127.0.0.1", inst.sip_port))
                return
            except OSError:
                if time.monotonic() >= deadline:
                    raise AsteriskSetupError(
                        f"{inst.name}: UDP port {inst.sip_port} is taken by another program; "
                        f"set RABTA_SIP_PORT / RABTA_CARRIER_SIP_PORT") from None
        time.sleep(0.2)


def stop(inst: Instance) -> bool:
    """Stop one instance by its PID; return whether it was running."""
    pid = pid_of(inst)
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while time.monotonic() < deadline and pid_of(inst) == pid:
        time.sleep(0.1)
    if pid_of(inst) == pid:
        log.warning("%s did not stop on SIGTERM; killing pid %d", inst.name, pid)
        os.kill(pid, signal.SIGKILL)
        while pid_of(inst) == pid:
            time.sleep(0.05)
    inst.pidfile.unlink(missing_ok=True)
    log.debug("%s stopped", inst.name)
    return True


def kill(inst: Instance) -> None:
    """Kill -9 an instance (fault tests): no shutdown, no cleanup."""
    pid = pid_of(inst)
    if pid is not None:
        os.kill(pid, signal.SIGKILL)
        while pid_of(inst) == pid:
            time.sleep(0.02)


def release_rootfs(rootfs: Path) -> None:
    """Unmount /proc in the rootfs once no process uses the rootfs any more."""
    if not _processes_in(rootfs):
        _unmount_all(rootfs)


def ami_answers(settings: Settings, timeout: float = 2.0) -> bool:
    """Say whether something on the AMI port greets like Asterisk's manager."""
    try:
        with socket.create_connection((settings.ami_host, settings.ami_port), timeout=timeout) as s:
            s.settimeout(timeout)
            return s.recv(64).startswith(b"Asterisk Call Manager/")
    except OSError:
        return False


def install_phonebook(carrier: Instance, dialplan: str) -> None:
    """Write the rendered phone book and reload the carrier's dialplan if it runs."""
    _write_atomic(carrier.host_path(f"{carrier.etc}/phonebook.conf"), dialplan)
    if pid_of(carrier) is not None:
        cli(carrier, "dialplan reload")


def resolve_inside(rootfs: Path, inner: str) -> Path:
    """Return the host path of a path inside the rootfs, following its absolute symlinks there."""
    parts = [p for p in inner.split("/") if p]
    current = rootfs
    hops = 0
    while parts:
        current = current / parts.pop(0)
        if current.is_symlink():
            hops += 1
            if hops > 40:
                raise AsteriskSetupError(f"symlink loop under {rootfs}{inner}")
            target = os.readlink(current)
            if target.startswith("/"):
                parts = [p for p in target.split("/") if p] + parts
                current = rootfs
            else:
                parts = [p for p in target.split("/") if p] + parts
                current = current.parent
        elif current.name == "..":
            current = current.parent.parent
    return current


def sounds_dir(rootfs: Path, language: str) -> Path:
    """Return the host path of the PBX's sounds dir for one language (e.g. sounds/ur)."""
    return resolve_inside(rootfs, f"/usr/share/asterisk/sounds/{language}")


# ---------------------------------------------------------------- classic AGI (agi_transport)

# Debian's own builds for the Python inside the rootfs (its version is not the host's):
# only pyst2, pure Python and not packaged by Debian, is copied from the host.
CLASSIC_PACKAGES = ("python3", "python3-aiosqlite", "python3-argon2", "python3-six")
_CLASSIC_IMPORTS = "import aiosqlite, argon2, six"
APP_PARTS = ("ivr", "scheduler", "surveys", "prompts/manifest.toml")
_SECRET_SETTINGS = frozenset({"ami_secret"})


def agi_dir(inst: Instance) -> str:
    """Return the instance's astagidir inside the rootfs (its own: it holds its settings)."""
    return f"{inst.etc}/agi-bin"


def app_dir(inst: Instance) -> str:
    """Return where the instance's copy of the Rabta code lives inside the rootfs."""
    return f"/var/lib/rabta/{inst.name}/app"


def _chroot(rootfs: Path, *cmd: str, log_to: Path | None = None) -> int:
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND": "noninteractive",
           "LC_ALL": "C.UTF-8"}
    if log_to is None:
        return subprocess.call(["chroot", str(rootfs), *cmd], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with log_to.open("ab") as out:
        return subprocess.call(["chroot", str(rootfs), *cmd], env=env, stdout=out,
                               stderr=subprocess.STDOUT)


def ensure_python(rootfs: Path) -> bool:
    """Install Python and the survey's dependencies in the rootfs (apt, once); True if installed now."""
    if _chroot(rootfs, "/usr/bin/python3", "-c", _CLASSIC_IMPORTS) == 0:
        return False
    with _exclusive(rootfs, "apt"):
        if _chroot(rootfs, "/usr/bin/python3", "-c", _CLASSIC_IMPORTS) == 0:
            return False  # installed by another process while we waited
        return _install_python(rootfs)


def _install_python(rootfs: Path) -> bool:
    if os.geteuid() != 0:
        raise AsteriskSetupError("installing Python in the Asterisk rootfs needs root (chroot)")
    logfile = rootfs.parent / "classic-agi-apt.log"
    log.info("installing %s in the rootfs for the classic AGI transport (once; log: %s)",
             " ".join(CLASSIC_PACKAGES), logfile)
    apt = ["apt-get", "-q"]
    if _chroot(rootfs, *apt, "update", log_to=logfile) != 0:
        # A host clock ahead of the mirror's Release date makes apt call it expired.
        log.warning("apt-get update failed in the rootfs; retrying without the Release date check")
        apt += ["-o", "Acquire::Check-Valid-Until=false", "-o", "Acquire::Check-Date=false"]
        if _chroot(rootfs, *apt, "update", log_to=logfile) != 0:
            raise AsteriskSetupError(f"apt-get update failed in the rootfs; see {logfile}")
    if _chroot(rootfs, *apt, "install", "-y", "--no-install-recommends", *CLASSIC_PACKAGES,
               log_to=logfile) != 0:
        raise AsteriskSetupError(f"apt-get install {' '.join(CLASSIC_PACKAGES)} failed in the "
                                 f"rootfs; see {logfile}")
    if _chroot(rootfs, "/usr/bin/python3", "-c", _CLASSIC_IMPORTS) != 0:
        raise AsteriskSetupError("Python in the rootfs still cannot import aiosqlite/argon2")
    return True


def _settings_toml(settings: Settings) -> str:
    """Render the settings the script needs as TOML (absolute paths; no secrets)."""
    lines = ["# Rendered by `rabta asterisk up` for the classic AGI script. Do not edit."]
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        if value is None or f.name in _SECRET_SETTINGS:
            continue
        if f.name == "database":
            value = str(settings.db_path.resolve())
        elif isinstance(value, Path):
            value = str(value.resolve())
        elif isinstance(value, tuple):
            value = list(value)
        lines.append(f"{f.name} = {json.dumps(value, ensure_ascii=False)}")
    return "\n".join(lines) + "\n"


def _copy_app(inst: Instance) -> None:
    """Copy the Rabta code and pyst2 into the rootfs, replacing the previous copy whole."""
    import asterisk.agi  # pyst2: pure Python; its package dir is copied as it is

    dest = inst.host_path(app_dir(inst))
    new = dest.with_name("app.new")
    shutil.rmtree(new, ignore_errors=True)
    new.mkdir(parents=True)
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    for part in APP_PARTS:
        src = REPO_ROOT / part
        if src.is_dir():
            shutil.copytree(src, new / part, ignore=skip)
        else:
            (new / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, new / part)
    shutil.copytree(Path(asterisk.agi.__file__).parent, new / "asterisk", ignore=skip)
    old = dest.with_name("app.old")
    shutil.rmtree(old, ignore_errors=True)
    if dest.exists():
        dest.rename(old)
    new.rename(dest)
    shutil.rmtree(old, ignore_errors=True)
    # Compile once here, so each call's process starts from bytecode.
    _chroot(inst.rootfs, "/usr/bin/python3", "-m", "compileall", "-q", app_dir(inst))


def bind_database(settings: Settings) -> Path:
    """Bind-mount the database's directory into the rootfs at the same path; return it."""
    src = settings.db_path.resolve().parent
    if src == Path("/"):
        raise AsteriskSetupError("the database must not live directly in / for the classic AGI")
    src.mkdir(parents=True, exist_ok=True, mode=0o700)
    target = settings.rootfs / str(src).lstrip("/")
    if not _mounted(target):
        target.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "--bind", str(src), str(target)], check=True)
        log.debug("bound %s into the rootfs", src)
    return target


def unbind_database(settings: Settings) -> None:
    """Undo bind_database (when the PBX is stopped); leave it if something still uses it."""
    target = settings.rootfs / str(settings.db_path.resolve().parent).lstrip("/")
    if target.exists() and _mounted(target):
        res = subprocess.run(["umount", str(target)], capture_output=True, text=True, check=False)
        if res.returncode != 0:
            log.warning("could not unmount %s: %s", target, res.stderr.strip())


def install_classic_agi(settings: Settings, inst: Instance) -> None:
    """Make AGI(rabta-agi,...) runnable inside the rootfs for this PBX instance."""
    ensure_python(inst.rootfs)
    _copy_app(inst)
    etc = inst.host_path(inst.etc)
    etc.mkdir(parents=True, exist_ok=True)
    config = f"{inst.etc}/rabta-agi.toml"
    _write_atomic(inst.host_path(config), _settings_toml(settings), 0o600)
    bindir = inst.host_path(agi_dir(inst))
    bindir.mkdir(parents=True, exist_ok=True)
    # env -i: the script sees only its rendered settings, never the RABTA_* environment
    # Asterisk happened to inherit from whoever started it.
    wrapper = (f"#!/bin/sh\n# Rendered by Rabta for {inst.name}: the classic AGI survey script.\n"
               f"exec /usr/bin/env -i PATH=/usr/bin:/bin LC_ALL=C.UTF-8 PYTHONUTF8=1 "
               f"PYTHONPATH={app_dir(inst)}:{CLASSIC_DIST_PACKAGES} RABTA_CONFIG={config} "
               f"/usr/bin/python3 {shlex.join(CLASSIC_PYTHON_ARGS)} \"$@\"\n")
    _write_atomic(bindir / CLASSIC_SCRIPT, wrapper, 0o755)
    bind_database(settings)


def describe(inst: Instance, max_channels: int | None = None) -> list[str]:
    """Return status lines of a running instance: uptime, channels in use, trunk registrations."""
    lines = []
    up = cli(inst, "core show uptime seconds")
    m = re.search(r"System uptime:\s*(\d+)", up)
    if m:
        lines.append(f"  uptime {int(m.group(1)) // 3600} h {int(m.group(1)) % 3600 // 60} min")
    count = cli(inst, "core show channels count")
    m = re.search(r"(\d+) active call", count)
    if m:
        limit = f" of {max_channels}" if max_channels else ""
        lines.append(f"  calls in use: {m.group(1)}{limit}")
    if inst.role == "pbx":
        regs = cli(inst, "pjsip show registrations")
        for reg, uri, status in re.findall(r"^\s*(\S+?)/(\S+)\s+\S+\s+(\S+)", regs, re.MULTILINE):
            if reg != "<Registration":
                lines.append(f"  trunk registration {reg} ({uri}): {status}")
    return lines
