"""Prompt studio, audio files: convert a recording into a version's file, and put a live version
where the prompt pipeline (ivr.audio) plays it from.

Every version is kept as 8 kHz mono 16-bit wav under ``<home>/prompts/versions/<lang>/<id>/``.
Making a version live copies it to ``<home>/prompts/live/<lang>/<id>.wav`` (the directory of
recordings `rabta prompts build` reads: a recording beats synthesis), then builds and installs
that one prompt into the PBX's sounds dir with ivr.audio, as `rabta prompts build` would.
Needs pydub and ffmpeg (as building prompts does).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

from ivr import audio
from ivr.config import Settings
from ivr.errors import InputError
from ivr.lab import rootfs

log = logging.getLogger(__name__)

MAX_UPLOAD = 20 * 2**20  # bytes: a few minutes of any common format
MAX_SECONDS = 120  # a prompt longer than this is surely a mistake


def versions_dir(settings: Settings) -> Path:
    """Return where every recorded version is kept: <home>/prompts/versions."""
    return settings.home / "prompts" / "versions"


def live_dir(settings: Settings) -> Path:
    """Return the live recordings the prompt pipeline reads: <home>/prompts/live."""
    return settings.home / "prompts" / "live"


def version_path(settings: Settings, prompt: str, language: str, stamp: str) -> Path:
    """Return a new version's file: <versions>/<lang>/<prompt>/<stamp>.wav."""
    return versions_dir(settings) / language / prompt / f"{stamp}.wav"


def convert(raw: Path, dest: Path) -> float:
    """Decode any audio ffmpeg reads and write it as 8 kHz mono 16-bit wav; return its seconds.

    Raise InputError, saying so, if it is not audio, is silent, or is too long.
    """
    with warnings.catch_warnings():  # pydub imports audioop, deprecated since Python 3.11
        warnings.simplefilter("ignore", DeprecationWarning)
        from pydub import AudioSegment
    try:
        seg = AudioSegment.from_file(str(raw))
    except Exception:  # pydub raises CouldntDecodeError, or IndexError/OSError on odd input
        raise InputError("not an audio file: upload a recording (wav, mp3, ogg, m4a, "
                         "flac, webm...)") from None
    seconds = len(seg) / 1000
    if seconds < 0.2 or seg.max_dBFS == float("-inf"):
        raise InputError("the recording is empty or silent")
    if seconds > MAX_SECONDS:
        raise InputError(f"the recording is {seconds:.0f} s long; a prompt is at most "
                         f"{MAX_SECONDS} s")
    seg = seg.set_channels(1).set_frame_rate(audio.RATE).set_sample_width(2)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    seg.export(str(part), format="wav")
    part.replace(dest)
    return seconds


def convert_bytes(data: bytes, dest: Path) -> float:
    """Convert uploaded bytes (any common audio format) into dest; see convert()."""
    if not data:
        raise InputError("the file is empty")
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "upload"
        raw.write_bytes(data)
        return convert(raw, dest)


def publish(settings: Settings, prompt: str, language: str, version_file: Path, *,
            sounds_dir: Callable[[str], Path] | None = None) -> int:
    """Make a version file the live recording of prompt in language, and install it into the
    PBX (when its rootfs is there); return the sound files changed."""
    target = live_dir(settings) / language
    target.mkdir(parents=True, exist_ok=True)
    for old in target.glob(f"{prompt}.*"):
        old.unlink()
    tmp = target / f".{prompt}.wav.tmp"
    shutil.copyfile(version_file, tmp)
    tmp.replace(target / f"{prompt}.wav")
    texts = {(p.id, p.language): p.text for p in audio.load_manifest()}
    p = audio.Prompt(prompt, language, texts.get((prompt, language), ""))
    built = audio.build(settings.cache / "prompts", [p], voices=[],
                        recorded=live_dir(settings), workers=1)
    if sounds_dir is None:
        if not rootfs.rootfs_ready(settings.rootfs):
            log.warning("prompt %s/%s is live, but not installed: no Asterisk rootfs in %s",
                        language, prompt, settings.rootfs)
            return 0
        sounds_dir = lambda lang: rootfs.sounds_dir(settings.rootfs, lang)  # noqa: E731
    return audio.install(built, sounds_dir)
