"""Prompt studio, audio files: convert a recording into a version's file, and put a live version
where the prompt pipeline (ivr.audio) plays it from.

Every version is kept as 8 kHz mono 16-bit wav under ``<home>/prompts/versions/<lang>/<id>/``.
Making a version live copies it to ``<home>/prompts/live/<lang>/<id>.wav`` (the directory of
recordings `rabta prompts build` reads: a recording beats synthesis), then builds and installs
that one prompt into the PBX's sounds dir with ivr.audio, as `rabta prompts build` would.
Needs pydub and ffmpeg (as building prompts does).

An upload is never decoded whole: ffprobe reads its length from the container first (an hour
of FLAC is a few hundred kilobytes, but gigabytes once decoded), and a file longer than
MAX_SECONDS is refused undecoded. Then ffmpeg decodes at most MAX_SECONDS + 1 seconds of it,
straight to 8 kHz mono, in a process whose address space is capped (DECODE_MEMORY) and whose
run time is bounded (DECODE_SECONDS), so a file that lies about its length costs no more.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

from ivr import audio
from ivr.config import Settings
from ivr.errors import InputError, RabtaError
from ivr.lab import rootfs

log = logging.getLogger(__name__)

MAX_UPLOAD = 20 * 2**20  # bytes: a few minutes of any common format
MAX_SECONDS = 120  # a prompt longer than this is surely a mistake
DECODE_MEMORY = 768 * 2**20  # bytes of address space ffprobe/ffmpeg may map for one upload
DECODE_SECONDS = 60.0  # wall-clock seconds ffprobe or ffmpeg may take for one upload
_NOT_AUDIO = "not an audio file: upload a recording (wav, mp3, ogg, m4a, flac, webm...)"


def versions_dir(settings: Settings) -> Path:
    """Return where every recorded version is kept: <home>/prompts/versions."""
    return settings.home / "prompts" / "versions"


def live_dir(settings: Settings) -> Path:
    """Return the live recordings the prompt pipeline reads: <home>/prompts/live."""
    return settings.home / "prompts" / "live"


def version_path(settings: Settings, prompt: str, language: str, stamp: str) -> Path:
    """Return a new version's file: <versions>/<lang>/<prompt>/<stamp>.wav."""
    return versions_dir(settings) / language / prompt / f"{stamp}.wav"


def _run(argv: list[str]) -> subprocess.CompletedProcess[bytes]:
    """Run an ffmpeg tool within the memory cap and time limit; refuse the upload on failure."""
    try:
        return subprocess.run(["prlimit", f"--as={DECODE_MEMORY}", "--", *argv],
                              capture_output=True, timeout=DECODE_SECONDS, check=False)
    except subprocess.TimeoutExpired:
        raise InputError(f"the recording took over {DECODE_SECONDS:.0f} s to read: upload a "
                         f"shorter or simpler file") from None


def probe_seconds(raw: Path) -> float | None:
    """Return a file's length in seconds as its container states it (ffprobe), undecoded.

    None when the container does not say (the decode's own limit then holds); InputError when
    ffprobe cannot read the file at all.
    """
    done = _run(["ffprobe", "-v", "error", "-show_entries", "format=duration",
                 "-of", "default=noprint_wrappers=1:nokey=1", str(raw)])
    if done.returncode != 0:
        raise InputError(_NOT_AUDIO)
    try:
        return float(done.stdout.decode("ascii", "replace").split()[0])
    except (ValueError, IndexError):
        return None


def _too_long(seconds: float) -> InputError:
    return InputError(f"the recording is {seconds:.0f} s long; a prompt is at most "
                      f"{MAX_SECONDS} s")


def convert(raw: Path, dest: Path) -> float:
    """Decode any audio ffmpeg reads and write it as 8 kHz mono 16-bit wav; return its seconds.

    Raise InputError, saying so, if it is not audio, is silent, or is too long: the length is
    read from the container before anything is decoded, and the decode stops after
    MAX_SECONDS + 1 seconds of audio whatever the container said.
    """
    stated = probe_seconds(raw)
    if stated is not None and stated > MAX_SECONDS:
        raise _too_long(stated)
    done = _run(["ffmpeg", "-v", "error", "-nostdin", "-threads", "1", "-i", str(raw),
                 "-t", str(MAX_SECONDS + 1), "-vn", "-ac", "1", "-ar", str(audio.RATE),
                 "-f", "s16le", "-acodec", "pcm_s16le", "-"])
    if done.returncode != 0 or not done.stdout:
        raise InputError(_NOT_AUDIO)
    with warnings.catch_warnings():  # pydub imports audioop, deprecated since Python 3.11
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            from pydub import AudioSegment
        except ImportError as exc:
            raise audio.missing_extra(exc) from None
    pcm = done.stdout[:len(done.stdout) // 2 * 2]
    seg = AudioSegment(data=pcm, sample_width=2, frame_rate=audio.RATE, channels=1)
    seconds = len(seg) / 1000
    if seconds < 0.2 or seg.max_dBFS == float("-inf"):
        raise InputError("the recording is empty or silent")
    if seconds > MAX_SECONDS:
        raise _too_long(seconds)
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


RECORDED, SYNTHESISED, MISSING = "recorded", "synthesised", "missing"  # what plays now


def now_playing(settings: Settings, prompt: str, language: str) -> tuple[str, Path | None]:
    """Return what the PBX plays for prompt in language, and its file: a live recording (made
    live in the studio or placed by hand), else the synthesised voice installed in the PBX's
    sounds dir, else nothing ("missing": no text, or prompts not built yet)."""
    recorded = sorted(p for p in (live_dir(settings) / language).glob(f"{prompt}.*")
                      if not p.name.startswith(".") and p.is_file())
    if recorded:
        return RECORDED, recorded[0]
    try:
        sounds = rootfs.sounds_dir(settings.rootfs, language) / audio.SOUND_DIR
    except RabtaError:  # a broken rootfs: nothing can be played from it
        return MISSING, None
    synthesised = sounds / f"{prompt}.wav"
    return (SYNTHESISED, synthesised) if synthesised.is_file() else (MISSING, None)
