"""CLI, asterisk: `rabta asterisk up|down|status`, the local PBX and carrier simulator.

Wiring only: building the rootfs and running the instances is `ivr.lab.rootfs`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from ivr import audio
from ivr.cli.common import EXIT_OK, EXIT_PROBLEMS, add_command
from ivr.cli.progress import Progress
from ivr.config import Settings
from ivr.lab import rootfs, simulator


def register(sub: Any) -> None:
    """Add `asterisk` to the `rabta` parser's subcommands."""
    a = add_command(
        sub, "asterisk", help="start, stop or inspect the local PBX and carrier simulator",
        description="up: build the Asterisk 22 rootfs if needed (once, about a minute), install "
                    "the prompts and configs, start the PBX and the carrier simulator (again: "
                    "reload configs, calls go on). down: stop both and release the rootfs "
                    "mounts. status: show both and AMI; exits 1 if anything is down.",
        examples=["rabta asterisk up --phonebook demo/phonebook.csv",
                  "rabta asterisk status || echo 'PBX not healthy'",
                  "rabta asterisk down"],
        func=_run)
    a.add_argument("action", choices=["up", "down", "status"])
    a.add_argument("--phonebook", type=Path,
                   help="carrier simulator phone book CSV (or RABTA_PHONEBOOK); "
                        "`up` again reloads it without a restart")


def _run(args: argparse.Namespace, settings: Settings) -> int:
    if args.action == "up":
        asterisk_up(settings, settings.phonebook)
        return EXIT_OK
    if args.action == "down":
        asterisk_down(settings)
        return EXIT_OK
    return asterisk_status(settings)


def _install_phonebook(settings: Settings, node: rootfs.Node, path: Path | None) -> int:
    if path is None:
        return 0
    citizens = simulator.load_phonebook(path)
    rootfs.install_phonebook(node.carrier, simulator.render_dialplan(citizens))
    return len(citizens)


def asterisk_up(settings: Settings, phonebook: Path | None = None, quiet: bool = False) -> bool:
    """Build the rootfs if needed, install prompts and configs, start PBX + carrier simulator.

    Return True if this call started the instances (False: they were already running).
    """
    def say(message: str) -> None:
        if not quiet:
            print(message, file=sys.stderr)

    if not rootfs.rootfs_ready(settings.rootfs):
        say(f"Building the Asterisk 22 rootfs in {settings.rootfs} (once, about a minute)...")
        rootfs.build_rootfs(settings.rootfs)
    prompts = audio.load_manifest()
    bar = None if quiet else Progress(len(prompts), "prompts")
    built = audio.build(settings.cache / "prompts", prompts,
                        progress=(lambda n, t, p: bar.update(n, p.id, force=n == t)) if bar else None)
    if bar:
        bar.close()
    audio.install(built, lambda lang: rootfs.sounds_dir(settings.rootfs, lang))
    node = rootfs.node_for(settings)
    for inst in node.instances:
        rootfs.render_instance(settings, inst)
    if settings.agi_transport == "classic":
        say("classic AGI: installing the survey script in the rootfs...")
        rootfs.install_classic_agi(settings, node.pbx)
    n = _install_phonebook(settings, node, phonebook or settings.phonebook)
    started = False
    for inst in node.instances:
        was = rootfs.pid_of(inst)
        pid = rootfs.start(inst)
        started = started or was is None
        if was is not None:
            rootfs.cli(inst, "core reload")  # picks up re-rendered configs; calls go on
        say(f"{inst.name}: {'running' if was else 'started'} (pid {pid}, "
            f"SIP 127.0.0.1:{inst.sip_port})")
    if n:
        say(f"carrier simulator: {n} citizen(s) from the phone book")
    say(f"AMI on {settings.ami_host}:{settings.ami_port} "
        f"({'answering' if rootfs.ami_answers(settings) else 'NOT answering'})")
    return started


def asterisk_down(settings: Settings, quiet: bool = False) -> None:
    """Stop both instances by PID and release the rootfs mounts."""
    node = rootfs.node_for(settings)
    for inst in node.instances:
        stopped = rootfs.stop(inst)
        if not quiet:
            print(f"{inst.name}: {'stopped' if stopped else 'not running'}", file=sys.stderr)
    if settings.agi_transport == "classic":
        rootfs.unbind_database(settings)  # the classic AGI's view of the database
    rootfs.release_rootfs(settings.rootfs)


def asterisk_status(settings: Settings) -> int:
    """Print the rootfs, both instances and AMI; return 0 if all are up, else 1."""
    node = rootfs.node_for(settings)
    ok = True
    print(f"rootfs: {settings.rootfs} ({'ready' if rootfs.rootfs_ready(settings.rootfs) else 'not built'})")
    for inst in node.instances:
        pid = rootfs.pid_of(inst)
        if pid is None:
            ok = False
            print(f"{inst.name}: stopped")
            continue
        version = rootfs.cli(inst, "core show version").split(" built")[0].strip()
        print(f"{inst.name}: running, pid {pid}, SIP 127.0.0.1:{inst.sip_port}, {version}")
        for line in rootfs.describe(inst, settings.max_concurrent if inst.role == "pbx" else None):
            print(line)
    started = time.monotonic()
    ami = rootfs.ami_answers(settings)
    rtt = f", greeting in {(time.monotonic() - started) * 1000:.1f} ms" if ami else ""
    ok = ok and ami
    print(f"AMI {settings.ami_host}:{settings.ami_port}: "
          f"{'answering' if ami else 'not answering'}{rtt}")
    return EXIT_OK if ok else EXIT_PROBLEMS
