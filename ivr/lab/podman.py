"""Lab provisioning for containers: Rabta's two images (asterisk-docker/) built and run with podman.

No registry is needed. Each base image is a debootstrap'd Debian (sid for Asterisk, 12 for the
engine) imported with `podman import`; the tarball is cached under <cache>/images, so a second
run only imports it (or finds the image already there). The engine's Python packages come from a
wheel directory that pip fills on the host, with the host's own pip settings, cached under
<cache>/wheels and mounted read-only into the build: nothing inside a build reaches the Python
package registry. The Dockerfiles stay as a Docker user runs them (the base image is a build
ARG). podman's settings for this machine come from asterisk-docker/containers.conf (through
CONTAINERS_CONF): the host's /etc/containers is not touched. Containers use host networking.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ivr.errors import AsteriskSetupError

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKER_DIR = REPO_ROOT / "asterisk-docker"
CONTAINERS_CONF = DOCKER_DIR / "containers.conf"
RUNTIME = "runc"  # crun refuses cgroups in hybrid mode here (docs/OPERATIONS.md)
ASTERISK_UID = 950  # the `asterisk` user of asterisk-docker/Dockerfile
ENGINE_UID = 10001  # the `rabta` user of asterisk-docker/Dockerfile.engine
WHEELS_IN_BUILD = "/wheels"
BUILD_TIMEOUT_S = 1800.0


@dataclass(frozen=True)
class Image:
    """One of Rabta's images: its Dockerfile and the local base image it is built on."""

    name: str
    dockerfile: str
    suite: str  # the Debian suite of its base image
    wheels: bool  # pip installs Rabta's dependencies in the build


ASTERISK = Image("localhost/rabta-asterisk", "Dockerfile", "sid", wheels=False)
ENGINE = Image("localhost/rabta-engine", "Dockerfile.engine", "bookworm", wheels=True)


def base_name(suite: str) -> str:
    """Return the local name of a base image (what BASE is set to in the build)."""
    return f"localhost/rabta-base:{suite}"


def environment() -> dict[str, str]:
    """Return the environment podman runs with: ours, plus this repository's containers.conf."""
    return {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)}


def podman(*args: str, timeout: float | None = 300.0,
           check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run one podman command (runc, our containers.conf); raise with its output if it fails."""
    if shutil.which("podman") is None:
        raise AsteriskSetupError("podman is missing: run `make setup` (apt-get install podman runc)")
    cmd = ["podman", "--runtime", RUNTIME, *args]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False,
                         env=environment())
    if check and res.returncode != 0:
        tail = "\n".join((res.stdout + res.stderr).strip().splitlines()[-30:])
        raise AsteriskSetupError(f"`{' '.join(cmd[:6])} ...` failed (exit {res.returncode}):\n{tail}")
    return res


def image_exists(name: str) -> bool:
    """Say whether podman's local storage holds an image of that name."""
    return podman("image", "exists", name, check=False).returncode == 0


# ---------------------------------------------------------------- base images


def base_tarball(cache: Path, suite: str) -> Path:
    """Return the cached tarball of a debootstrap'd Debian suite, making it once (root)."""
    tar = cache / "images" / f"debian-{suite}-minbase.tar"
    if tar.is_file():
        return tar
    if os.geteuid() != 0:
        raise AsteriskSetupError("making a base image needs root (debootstrap)")
    if shutil.which("debootstrap") is None:
        raise AsteriskSetupError("debootstrap is missing: run `make setup`")
    tar.parent.mkdir(parents=True, exist_ok=True)
    logfile = tar.with_suffix(".log")
    with tempfile.TemporaryDirectory(dir=tar.parent, prefix=f".{suite}-") as tmp:
        root = Path(tmp) / "rootfs"
        log.info("debootstrap %s into %s (once; log: %s)", suite, root, logfile)
        # No mirror argument: debootstrap's default mirror is the one this machine reaches.
        with logfile.open("wb") as out:
            rc = subprocess.call(["debootstrap", "--variant=minbase", suite, str(root)],
                                 stdout=out, stderr=subprocess.STDOUT)
        if rc != 0:
            raise AsteriskSetupError(f"debootstrap {suite} failed (exit {rc}); see {logfile}")
        partial = tar.with_suffix(".partial")
        # What a *-slim image also leaves out: apt's lists and caches.
        rc = subprocess.call(["tar", "-C", str(root), "--numeric-owner",
                              "--exclude=./var/lib/apt/lists/*", "--exclude=./var/cache/apt/*",
                              "-cf", str(partial), "."])
        if rc != 0:
            raise AsteriskSetupError(f"tar of the {suite} rootfs failed (exit {rc})")
        partial.rename(tar)  # atomic: a half-written tarball is never taken for a good one
    return tar


def ensure_base(cache: Path, suite: str) -> str:
    """Make sure the base image of a suite is in podman's storage; return its name."""
    name = base_name(suite)
    if not image_exists(name):
        tar = base_tarball(cache, suite)
        log.info("importing %s as %s", tar, name)
        podman("import", str(tar), name, timeout=600)
    return name


# ---------------------------------------------------------------- the engine's wheels


def wheelhouse(cache: Path) -> Path:
    """Return a directory with a wheel of every dependency of Rabta (pyproject.toml), for the
    engine's build; pip fills it on the host with the host's own pip settings, once per version
    of pyproject.toml."""
    if sys.version_info[:2] != (3, 11):
        # The engine image runs Debian 12's Python 3.11; wheels for another version won't do.
        raise AsteriskSetupError(f"the engine image's wheels must be made by Python 3.11 "
                                 f"(Debian 12's), not {sys.version.split()[0]}")
    digest = hashlib.sha256((REPO_ROOT / "pyproject.toml").read_bytes()).hexdigest()[:16]
    out = cache / "wheels" / digest
    if (out / ".complete").is_file():
        return out
    out.mkdir(parents=True, exist_ok=True)
    log.info("collecting the engine's wheels in %s (once per pyproject.toml)", out)
    for what in (["wheel", "--wheel-dir", str(out), str(REPO_ROOT)],
                 ["download", "--dest", str(out), "setuptools>=68"]):
        res = subprocess.run([sys.executable, "-m", "pip", *what, "--quiet"], capture_output=True,
                             text=True, check=False, timeout=900)
        if res.returncode != 0:
            raise AsteriskSetupError(f"pip {what[0]} for the engine image failed:\n"
                                     f"{res.stderr.strip()[-2000:]}")
    for own in out.glob("rabta-*.whl"):  # the image installs Rabta itself from its source
        own.unlink()
    (out / ".complete").write_text(digest + "\n")
    return out


# ---------------------------------------------------------------- building

# The host's apt settings a build passes on (as APT_OPTIONS), so apt-get in a build reaches
# Debian's mirror the way the host does: e.g. a mirror snapshot whose Release file is past its
# Valid-Until date, or a proxy.
APT_KEYS = ("Acquire::Check-Valid-Until", "Acquire::Check-Date", "Acquire::http::Proxy",
            "Acquire::https::Proxy")


def apt_options() -> str:
    """Return `-o KEY=VALUE` for each of APT_KEYS the host's apt sets (from `apt-config dump`)."""
    if shutil.which("apt-config") is None:
        return ""
    res = subprocess.run(["apt-config", "dump"], capture_output=True, text=True, check=False)
    found = []
    for line in res.stdout.splitlines():
        key, _, value = line.partition(" ")
        if key in APT_KEYS and value.endswith(";"):
            value = value.removesuffix(";").strip('"')
            if value and " " not in value:
                found.append(f"-o {key}={value}")
    return " ".join(found)



def build(image: Image, cache: Path) -> str:
    """Build one image (cached layers reused; no registry pulled); return its name."""
    base = ensure_base(cache, image.suite)
    args = ["build", "--pull=never", "--network", "host", "--layers",
            "-f", str(DOCKER_DIR / image.dockerfile), "--build-arg", f"BASE={base}",
            "--build-arg", f"APT_OPTIONS={apt_options()}", "-t", image.name]
    if image.wheels:
        wheels = wheelhouse(cache)
        args += ["--volume", f"{wheels}:{WHEELS_IN_BUILD}:ro",
                 "--build-arg", f"PIP_OPTIONS=--no-index --find-links {WHEELS_IN_BUILD}"]
    log.info("building %s", image.name)
    podman(*args, str(REPO_ROOT), timeout=BUILD_TIMEOUT_S)
    return image.name


def build_all(cache: Path) -> tuple[str, str]:
    """Build both images; return (asterisk image, engine image).

    What is mostly waiting on the network (both debootstraps, the wheels) runs side by side.
    """
    with ThreadPoolExecutor(3) as pool:
        bases = [pool.submit(ensure_base, cache, image.suite) for image in (ASTERISK, ENGINE)]
        wheels = pool.submit(wheelhouse, cache)
        for job in bases:
            job.result()
        wheels.result()
    return build(ASTERISK, cache), build(ENGINE, cache)


# ---------------------------------------------------------------- containers


def run_detached(name: str, image: str, *, env: Mapping[str, str] | None = None,
                 volumes: Sequence[tuple[Path | str, str, str]] = (),
                 command: Sequence[str] = ()) -> str:
    """Start a container with host networking; return its name.

    volumes: (host path, container path, "ro" or "rw").
    """
    args = ["run", "--detach", "--name", name, "--network", "host", "--pull=never"]
    for key, value in (env or {}).items():
        args += ["--env", f"{key}={value}"]
    for host, inner, mode in volumes:
        args += ["--volume", f"{host}:{inner}:{mode}"]
    podman(*args, image, *command)
    return name


def run_once(image: str, command: Sequence[str], *, env: Mapping[str, str] | None = None,
             volumes: Sequence[tuple[Path | str, str, str]] = (), timeout: float = 120.0
             ) -> subprocess.CompletedProcess[str]:
    """Run a command in a throw-away container (host networking) and return what it did."""
    args = ["run", "--rm", "--network", "host", "--pull=never"]
    for key, value in (env or {}).items():
        args += ["--env", f"{key}={value}"]
    for host, inner, mode in volumes:
        args += ["--volume", f"{host}:{inner}:{mode}"]
    return podman(*args, image, *command, timeout=timeout, check=False)


def exec_in(name: str, *command: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    """Run a command in a running container."""
    return podman("exec", name, *command, timeout=timeout, check=False)


def running(name: str) -> bool:
    """Say whether the named container is running."""
    res = podman("container", "inspect", "--format", "{{.State.Running}}", name, check=False)
    return res.returncode == 0 and res.stdout.strip() == "true"


def logs(name: str) -> str:
    """Return a container's output so far (empty if it is gone)."""
    res = podman("logs", name, check=False)
    return res.stdout + res.stderr


def remove(name: str) -> None:
    """Stop and remove one container we started, by its name; no error if it is gone."""
    podman("rm", "--force", "--time", "5", name, check=False, timeout=60)
