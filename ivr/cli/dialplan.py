"""CLI, dialplan: `rabta dialplan render|diff|check|deploy|rollback|history`.

Wiring only: rendering is ivr.render, the static checks ivr.dialplan_check, the throw-away
Asterisk ivr.lab.sandbox, deploys ivr.deploy through an admin channel of ivr.lab.admin.
`check` prints one finding per problem, each with its severity and fix, and exits 1 if any is
high, so CI can run it; `deploy` runs `check` first, then writes, reloads and verifies.
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from ivr import audio, deploy, render
from ivr import dialplan_check as C
from ivr.config import Settings
from ivr.errors import AsteriskSetupError, ConfigError, InputError
from ivr.lab import rootfs as lab
from ivr.lab import sandbox, simulator
from ivr.lab.admin import HostAdmin, LabAdmin

CHECK_SECRET = "rendered-for-the-check-only"  # never written to a node
_SECRET_LINE = re.compile(r"^(\s*secret\s*=\s*).*$", re.MULTILINE)



def _handler(do: Callable[[Settings, argparse.Namespace], int]
             ) -> Callable[[argparse.Namespace, Settings], int]:
    """Adapt a `do_*(settings, args)` to the CLI's handler signature `(args, settings)`."""
    return lambda args, settings: do(settings, args)


def register(subparsers: Any) -> None:
    """Add `rabta dialplan render|diff|check` to the `rabta` parser's subcommands."""
    p = subparsers.add_parser(
        "dialplan", help="render, compare and check the PBX config Rabta puts into Asterisk",
        description="Render the PBX config (dialplan, PJSIP trunks, AMI user) for a target, "
                    "compare it with what a directory holds, or check it before it goes live.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="targets: lab (the local rootfs node), dedicated (a whole /etc/asterisk for an "
               "Asterisk that runs only Rabta), include (files an existing Asterisk or FreePBX "
               "includes)\n\nexamples:\n"
               "  rabta dialplan render --target dedicated --out rendered/\n"
               "  rabta dialplan diff --target dedicated --out /etc/asterisk\n"
               "  rabta dialplan check --target include")
    sub = p.add_subparsers(dest="dialplan_action", required=True, metavar="ACTION")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--target", choices=render.TARGETS, default="lab")
    common.add_argument("--templates", type=Path, default=render.TEMPLATES,
                        help="template directory (default: the dialplans/ Rabta ships)")
    r = sub.add_parser("render", parents=[common], help="write the rendered files into a directory",
                       description="Write the target's files into --out (manager files 0600). "
                                   "The include target also prints the #include lines to add.",
                       epilog="examples:\n"
                              "  rabta dialplan render --target include --out /etc/asterisk/rabta\n"
                              "  rabta dialplan render --target dedicated --out rendered/pbx "
                              "--carrier rendered/carrier   # asterisk-docker/compose.yaml")
    r.add_argument("--out", type=Path, required=True)
    r.add_argument("--carrier", type=Path, default=None, metavar="DIR",
                   help="dedicated: also render the carrier simulator (a simulated phone "
                        "network, Debian's layout, an empty phone book) into DIR, for trying "
                        "Rabta without a real trunk (the `carrier` service of compose.yaml)")
    r.add_argument("--phonebook", type=Path, default=None, metavar="CSV",
                   help="with --carrier: the simulated citizens (the format of "
                        "demo/phonebook.csv; default: the phonebook setting, else none)")
    r.set_defaults(func=_handler(do_render))
    d = sub.add_parser("diff", parents=[common], help="show how a directory differs from a fresh rendering",
                       description="Unified diff of --out against a fresh rendering (secrets "
                                   "masked); exit 1 if they differ.",
                       epilog="examples:\n  rabta dialplan diff --target dedicated --out /etc/asterisk")
    d.add_argument("--out", type=Path, required=True)
    d.set_defaults(func=_handler(do_diff))
    c = sub.add_parser("check", parents=[common], help="check the rendering before it goes live",
                       description="Placeholders resolved; needed contexts present; prompts "
                                   "installed; toll-fraud walk; then the files load in a "
                                   "throw-away Asterisk (no port opened). Exit 1 on any high "
                                   "finding.",
                       epilog="examples:\n  rabta dialplan check --target dedicated --sounds "
                              "/usr/share/asterisk/sounds")
    c.add_argument("--sounds", type=Path, default=None,
                   help="the PBX's sounds directory (default: the lab rootfs's, or "
                        "/usr/share/asterisk/sounds for the other targets)")
    c.add_argument("--no-load", action="store_true",
                   help="static checks only: skip the throw-away Asterisk")
    c.set_defaults(func=_handler(do_check))
    dep = sub.add_parser(
        "deploy", parents=[common], help="check, write to the node, reload, verify; roll back by itself",
        description="Render and check (as `check` does), write the reloadable files (extensions, "
                    "pjsip, manager) to the node, reload them through the node's CLI socket "
                    "(never the engine's AMI user), verify what is loaded, and put the previous "
                    "files back at once if verification fails. Every deploy is kept "
                    "(`history`). Exit 0 when the change is live, 1 otherwise.",
        epilog="examples:\n  rabta dialplan deploy                      # the lab node\n"
               "  rabta dialplan deploy --target dedicated --etc /etc/asterisk",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    dep.add_argument("--etc", type=Path, default=None,
                     help="dedicated/include: the node's config dir (default /etc/asterisk)")
    dep.add_argument("--sounds", type=Path, default=None)
    dep.add_argument("--log", type=Path, default=Path("/var/log/asterisk/messages.log"),
                     help="dedicated/include: the node's messages log, read for reload errors")
    dep.add_argument("--no-check", action="store_true",
                     help="skip `check` (an emergency); verification after the reload still guards")
    dep.set_defaults(func=_handler(do_deploy))
    rb = sub.add_parser("rollback", parents=[common], help="deploy a kept deploy's files again",
                        description="Write the files of deploy ID back, reload and verify (a new "
                                    "deploy in the history).",
                        epilog="examples:\n  rabta dialplan rollback 3")
    rb.add_argument("id", type=int)
    rb.add_argument("--etc", type=Path, default=None)
    rb.set_defaults(func=_handler(do_rollback))
    h = sub.add_parser("history", help="every deploy: id, when, who, result",
                       description="List every deploy kept under <home>/deploys; --diff shows "
                                   "each one's change (secrets masked).",
                       epilog="examples:\n  rabta dialplan history --diff")
    h.add_argument("--diff", action="store_true")
    h.set_defaults(func=_handler(do_history))


# ---------------------------------------------------------------- render / diff


def rendered(settings: Settings, target: str, templates: Path) -> dict[str, str]:
    """Return {relative path: text} of everything the target renders (lab: both instances)."""
    if target != "lab":
        return render.target_files(settings, target, templates)
    node = lab.node_for(settings)
    out = {}
    for inst in node.instances:
        secret = lab.ami_secret(settings) if inst.role == "pbx" else ""
        files = render.render_files(settings, inst.spec(), "lab", secret, templates)
        out.update({f"{inst.name}/{name}": text for name, text in files.items()})
    return out


def do_render(settings: Settings, args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Write a target's files into --out; print them and any #include lines."""
    out = out or sys.stdout
    carrier_dir = getattr(args, "carrier", None)
    if carrier_dir is not None and args.target != "dedicated":
        raise InputError("--carrier: only the dedicated target renders a carrier simulator "
                         "of its own (the lab node has one already)")
    book_csv = getattr(args, "phonebook", None)
    if book_csv is not None and carrier_dir is None:
        raise InputError("--phonebook: only with --carrier DIR (the lab node: rabta asterisk up "
                         "--phonebook)")
    book_csv = book_csv or (settings.phonebook if carrier_dir is not None else None)
    citizens = simulator.load_phonebook(book_csv) if book_csv is not None else None
    files = rendered(settings, args.target, args.templates)
    groups: dict[Path, dict[str, str]] = {}
    for rel, text in files.items():
        path = args.out / rel
        groups.setdefault(path.parent, {})[path.name] = text
    for directory, group in sorted(groups.items()):
        for path in render.write_files(directory, group):
            print(f"wrote {path}", file=out)
    if carrier_dir is not None:
        files = render.render_files(settings, render.carrier_instance(settings), "dedicated",
                                    templates=args.templates)
        if citizens is not None:
            files["phonebook.conf"] = simulator.render_dialplan(citizens)
        for path in render.write_files(carrier_dir, files):
            print(f"wrote {path}", file=out)
        if citizens is not None:
            print(f"carrier simulator: {len(citizens)} citizen(s) from {book_csv}", file=out)
    books = []  # the carrier's extensions.conf includes its phone book; keep one that exists
    if args.target == "lab":
        books.append(args.out / lab.node_for(settings).carrier.name / "phonebook.conf")
    if carrier_dir is not None:
        books.append(carrier_dir / "phonebook.conf")
    for book in books:
        if not book.exists():
            render.write_files(book.parent, {book.name: "; empty phone book\n"})
            print(f"wrote {book}", file=out)
    if args.target == "include":
        print("\nAdd these lines to the site's config (then `dialplan reload`, "
              "`module reload res_pjsip.so`, `manager reload`):", file=out)
        for name, (custom, stock) in render.INCLUDE_FILES.items():
            print(f'  #include "{(args.out / name).resolve()}"   ; in {custom} (FreePBX) or {stock}',
                  file=out)
    return 0


def mask(text: str) -> str:
    """Hide secrets in a config file's text (for diffs and history)."""
    return _SECRET_LINE.sub(r"\1********", text)


def diff_texts(old: dict[str, str], new: dict[str, str]) -> str:
    """Return a unified diff of two renderings, secrets masked."""
    chunks: list[str] = []
    for name in sorted(set(old) | set(new)):
        a, b = mask(old.get(name, "")), mask(new.get(name, ""))
        if a != b:
            chunks.extend(difflib.unified_diff(a.splitlines(keepends=True), b.splitlines(keepends=True),
                                               f"a/{name}", f"b/{name}"))
    return "".join(chunks)


def read_tree(directory: Path, names: list[str]) -> dict[str, str]:
    """Read the named files under directory (missing ones are absent from the result)."""
    found = {}
    for name in names:
        path = directory / name
        if path.is_file():
            found[name] = path.read_text(errors="replace")
    return found


def do_diff(settings: Settings, args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Print how --out differs from a fresh rendering; 0 if identical, 1 if not."""
    out = out or sys.stdout
    if not args.out.is_dir():
        raise InputError(f"{args.out}: no such directory")
    new = rendered(settings, args.target, args.templates)
    text = diff_texts(read_tree(args.out, list(new)), new)
    out.write(text or f"{args.out}: same as a fresh rendering\n")
    return 1 if text else 0


# ---------------------------------------------------------------- check


def prompt_finder(settings: Settings, target: str, sounds: Path | None) -> Callable[[str], bool]:
    """Return a function saying whether a prompt is installed in every language Rabta speaks."""
    def lang_dir(lang: str) -> Path:
        if sounds is not None:
            return sounds / lang
        if target == "lab":
            return lab.sounds_dir(settings.rootfs, lang)
        return Path("/usr/share/asterisk/sounds") / lang

    def exists(name: str) -> bool:
        for lang in audio.LANGUAGES:
            base = lang_dir(lang) / name
            if not any(base.with_name(base.name + ext).is_file() for ext in C.SOUND_EXTS):
                return False
        return True

    return exists


def sandbox_tree(settings: Settings, target: str, files: dict[str, str],
                 templates: Path) -> dict[str, str]:
    """Return the whole tree the throw-away Asterisk loads for a target's PBX files."""
    if target == "include":
        base = render.render_files(settings, render.pbx_instance(settings), "dedicated",
                                   CHECK_SECRET, templates)
        tree = {k: v for k, v in base.items()
                if k not in ("extensions.conf", "pjsip.conf", "manager.conf")}
        tree.update(sandbox.shell_files(files, target))
        return tree
    return dict(files)


def run_check(settings: Settings, target: str, templates: Path = render.TEMPLATES,
              sounds: Path | None = None, load: bool = True,
              files: dict[str, str] | None = None) -> list[C.Finding]:
    """Run every check on a target's rendering (or on given files); return the findings."""
    if files is None:
        try:
            files = render.target_files(settings, target, templates, ami_secret=CHECK_SECRET)
        except AsteriskSetupError as exc:  # an unknown {{ placeholder }}
            return [C.Finding(C.HIGH, str(exc), "define the value in ivr/render.py or fix the "
                                                "placeholder's name in the template")]
    findings = [C.Finding(C.HIGH, f"{name}: an unresolved placeholder is left: {m.group(0)}",
                          "fix the template")
                for name, text in files.items() for m in re.finditer(r"\{\{.*?\}\}", text)]
    ext = files.get("extensions.conf") or files.get("extensions_rabta.conf", "")
    pjsip = files.get("pjsip.conf") or files.get("pjsip_rabta.conf", "")
    findings += C.check_all(ext, pjsip, studio=bool(settings.studio_number),
                            prompt_exists=prompt_finder(settings, target, sounds))
    if load and not findings:
        result = sandbox.load(settings.rootfs, sandbox_tree(settings, target, files, templates))
        if not result.booted:
            findings.append(C.Finding(C.HIGH, "the throw-away Asterisk did not start on these "
                                              "files:\n    " + "\n    ".join(result.problems),
                                      "fix the lines Asterisk names"))
        for line in result.problems:
            findings.append(C.Finding(C.HIGH, f"Asterisk: {line.split('] ', 1)[-1]}",
                                      "fix the line Asterisk names, then check again"))
        needed = C.needed_contexts(bool(settings.studio_number))
        for reg in C.sections_of_type(pjsip, "registration"):
            if reg not in result.registrations:
                findings.append(C.Finding(C.HIGH, f"loaded in Asterisk: registration {reg} did not load",
                                          "see Asterisk's lines above"))
        for what in result.missing(needed, C.endpoint_contexts(pjsip)):
            findings.append(C.Finding(C.HIGH, f"loaded in Asterisk: {what}",
                                      "see Asterisk's lines above"))
    return findings


def do_check(settings: Settings, args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Check a target's rendering; print the findings; 1 if any is high."""
    out = out or sys.stdout
    try:
        findings = run_check(settings, args.target, args.templates, args.sounds,
                             load=not args.no_load)
    except ConfigError:
        raise
    for f in findings:
        print(f, file=out)
    high = sum(1 for f in findings if f.severity == C.HIGH)
    print(f"dialplan check ({args.target}): {len(findings)} finding(s), {high} high"
          if findings else f"dialplan check ({args.target}): OK", file=out)
    return 1 if high else 0


# ---------------------------------------------------------------- deploy


RELOADABLE = ("extensions.conf", "pjsip.conf", "manager.conf")


def admin_channel(settings: Settings, target: str, etc: Path | None,
                  log: Path | None = None) -> deploy.AdminChannel:
    """Return the admin channel to the node a target deploys to."""
    if target == "lab":
        pbx = lab.node_for(settings).pbx
        if lab.pid_of(pbx) is None:
            raise AsteriskSetupError(f"{pbx.name} is not running: `rabta asterisk up` first")
        return LabAdmin(pbx)
    if log is None:
        return HostAdmin(etc or Path("/etc/asterisk"))
    return HostAdmin(etc or Path("/etc/asterisk"), log=log)


def deploy_files(settings: Settings, target: str, templates: Path) -> dict[str, str]:
    """Return the files a deploy writes: the reloadable ones of the target's rendering."""
    if target == "include":
        return render.target_files(settings, target, templates)
    if target == "lab":
        spec = lab.node_for(settings).pbx.spec()
        files = render.render_files(settings, spec, "lab", lab.ami_secret(settings), templates)
    else:
        files = render.target_files(settings, target, templates)
    return {k: v for k, v in files.items() if k in RELOADABLE}


def _report(rec: deploy.Record, out: TextIO) -> int:
    print(f"deploy {rec.id} to {rec.node}: {rec.result} ({rec.reason})", file=out)
    return 0 if rec.result == "live" else 1


def history_of(settings: Settings) -> deploy.History:
    """Return the deploy history of this RABTA_HOME."""
    return deploy.History(settings.home / "deploys")


def do_deploy(settings: Settings, args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Check, then deploy a target's rendering to its node; 0 if live."""
    out = out or sys.stdout
    channel = admin_channel(settings, args.target, args.etc, getattr(args, "log", None))
    files = deploy_files(settings, args.target, args.templates)
    refused = ""
    if not args.no_check:
        findings = run_check(settings, args.target, args.templates, args.sounds)
        high = [f for f in findings if f.severity == C.HIGH]
        for f in findings:
            print(f, file=out)
        if high:
            refused = f"check found {len(high)} high finding(s): {high[0].what}"
    rec = deploy.apply(channel, files, history_of(settings),
                       needed=C.needed_contexts(bool(settings.studio_number)), refused=refused)
    return _report(rec, out)


def do_rollback(settings: Settings, args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Deploy a kept deploy's files again."""
    out = out or sys.stdout
    history = history_of(settings)
    _rec, files = history.get(args.id)
    channel = admin_channel(settings, args.target, args.etc)
    rec = deploy.apply(channel, files, history, source=f"rollback to {args.id}",
                       needed=C.needed_contexts(bool(settings.studio_number)))
    return _report(rec, out)


def do_history(settings: Settings, args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Print every deploy, newest last."""
    out = out or sys.stdout
    records = history_of(settings).all()
    if not records:
        print("no deploys yet", file=out)
    for rec in records:
        print(f"{rec.id:4d}  {rec.when}  {rec.who:<10} {rec.node:<20} {rec.result:<12} "
              f"{rec.source}: {rec.reason}", file=out)
        if args.diff and rec.diff:
            out.write(rec.diff)
    return 0
