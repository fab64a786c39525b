"""CLI, prompts: `rabta prompts build` and `rabta prompts check`, the sound files every call plays.

Wiring only: making and checking the audio is `ivr.audio`. `build` makes what is missing or
changed (recordings first, then gTTS when reachable, else espeak-ng), installs it into the PBX
sounds dir of the local rootfs, and says so; a second run finds nothing to do. `check` decodes
every format of every prompt every survey needs, in every language, lists what is missing or
broken, and exits 1 if anything is.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from ivr import audio
from ivr.cli.common import add_command
from ivr.cli.progress import Progress
from ivr.config import Settings
from ivr.errors import ConfigError
from ivr.flows import definitions
from ivr.lab import rootfs

# Played by the dialplan itself, not by a survey.
DIALPLAN_PROMPTS = ("inbound-notice",)


def register(sub: Any) -> None:
    """Add the `prompts` command to the `rabta` parser's subcommands."""
    p = add_command(
        sub, "prompts", help="prompt audio: build (synthesise, install) or check it",
        description="build: make what is missing or changed (recordings first, then gTTS when "
                    "reachable, else espeak-ng) and install it into the local PBX; a second run "
                    "finds nothing to do. Needs the [prompts] extra. check: decode every format "
                    "of every prompt every survey needs, list what is missing or broken, exit 1 "
                    "if anything is.",
        examples=["rabta prompts build", "rabta prompts build --engine espeak --lang pa",
                  "rabta prompts check --lang ur,en",
                  "rabta prompts build --sounds asterisk-docker/rendered/sounds"],
        func=run)
    p.add_argument("action", choices=["build", "check"])
    p.add_argument("--engine", choices=["auto", "gtts", "espeak"], default="auto",
                   help="text-to-speech (build): auto = gTTS when reachable, else espeak-ng")
    p.add_argument("--lang", action="append", default=[], metavar="LANG",
                   help="only these languages (ur, pa, en; repeat or comma-separate)")
    p.add_argument("--sounds", type=Path, default=None, metavar="DIR",
                   help="install into (check) DIR/<lang>/rabta/ instead of the local rootfs "
                        "PBX's sounds dir: e.g. for a container or a PBX on another host")


def recorded_dir(settings: Settings) -> Path:
    """Return where live recorded prompts are: <home>/prompts/live/<lang>/<id>.<ext>."""
    return settings.home / "prompts" / "live"


def languages(chosen: Sequence[str]) -> tuple[str, ...]:
    """Return the languages named by --lang (all of them when none is)."""
    langs = [x.strip() for item in chosen for x in item.split(",") if x.strip()]
    for lang in langs:
        if lang not in audio.LANGUAGES:
            raise ConfigError(f"--lang: {lang!r} is not one of {', '.join(audio.LANGUAGES)}")
    return tuple(dict.fromkeys(langs)) or audio.LANGUAGES


def needed(langs: Sequence[str], manifest: list[audio.Prompt]) -> tuple[list[audio.Prompt], list[str]]:
    """Return the prompts every survey (and the dialplan) needs in langs, and the ids x languages
    that have no text in the manifest."""
    ids = set(DIALPLAN_PROMPTS)
    for survey in definitions.load_surveys().surveys.values():
        ids |= survey.prompt_ids()
    have = {(p.id, p.language): p for p in manifest}
    found, absent = [], []
    for pid in sorted(ids):
        for lang in langs:
            if (pid, lang) in have:
                found.append(have[pid, lang])
            else:
                absent.append(f"{lang}/{pid}: no text in prompts/manifest.toml and no recording")
    return found, absent


def build(settings: Settings, *, engine: str = "auto", langs: Sequence[str] = audio.LANGUAGES,
          sounds_dir: Callable[[str], Path] | None = None, cache: Path | None = None,
          voices: Sequence[audio.Voice] | None = None, out: TextIO | None = None,
          progress: bool = True) -> int:
    """Make and install every prompt of the manifest in langs; print what was done."""
    out = out or sys.stdout
    prompts = [p for p in audio.load_manifest() if p.language in langs]
    bar = Progress(len(prompts), "prompts") if progress else None
    built = audio.build(
        cache or settings.cache / "prompts", prompts,
        progress=(lambda n, t, p: bar.update(n, f"{p.language}/{p.id}", force=n == t)) if bar else None,
        voices=voices if voices is not None else audio.voices_for(engine),
        recorded=recorded_dir(settings))
    if bar:
        bar.close()
    if sounds_dir is None and not rootfs.rootfs_ready(settings.rootfs):
        installed, where = 0, f"not installed: no Asterisk rootfs in {settings.rootfs} yet " \
                              f"(`rabta asterisk up` installs them)"
    else:
        target = sounds_dir or (lambda lang: rootfs.sounds_dir(settings.rootfs, lang))
        installed = audio.install(built, target)
        where = f"{installed} file(s) installed"
    made = sum(built.made.values())
    if made == 0 and installed == 0:
        print(f"prompts: nothing to do, all {len(prompts)} up to date "
              f"({', '.join(langs)}; {len(audio.FORMATS)} formats each)", file=out)
    else:
        by = ", ".join(f"{n} {source}" for source, n in sorted(built.made.items())) or "none"
        print(f"prompts: {len(prompts)} in {', '.join(langs)}: {made} made ({by}), "
              f"{built.cached} from the cache; {where}", file=out)
    return 0


def check(settings: Settings, *, langs: Sequence[str] = audio.LANGUAGES,
          sounds_dir: Callable[[str], Path] | None = None, out: TextIO | None = None) -> int:
    """Check that every needed prompt is installed as valid audio; return the exit status."""
    out = out or sys.stdout
    prompts, absent = needed(langs, audio.load_manifest())
    if sounds_dir is None and not rootfs.rootfs_ready(settings.rootfs):
        print(f"no Asterisk rootfs in {settings.rootfs}: run `rabta asterisk up`", file=out)
        return 1
    target = sounds_dir or (lambda lang: rootfs.sounds_dir(settings.rootfs, lang))
    problems = [str(m) for m in audio.check_installed(prompts, target)] + absent
    for line in problems:
        print(line, file=out)
    if problems:
        print(f"{len(problems)} prompt file(s) missing or broken: run `rabta prompts build`",
              file=out)
        return 1
    print(f"OK {len(prompts)} prompts ({', '.join(langs)}), each as "
          f"{', '.join('.' + f for f in audio.FORMATS)}, 8 kHz mono", file=out)
    return 0


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run `rabta prompts ACTION`."""
    langs = languages(args.lang)
    sounds: Path | None = args.sounds
    target = (lambda lang: sounds / lang) if sounds is not None else None
    if args.action == "build":
        return build(settings, engine=args.engine, langs=langs, sounds_dir=target)
    if args.action == "check":
        return check(settings, langs=langs, sounds_dir=target)
    raise AssertionError(args.action)  # pragma: no cover
