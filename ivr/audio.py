"""Prompts, audio: turn the prompt manifest (and recordings) into the sound files Asterisk plays.

Each prompt id x language comes from one of two sources:
- a *recording* (``<home>/prompts/live/<lang>/<id>.<any audio format>``): a recorded prompt
  always beats a synthesised one;
- *synthesis* from the manifest's text: gTTS when it is reachable, espeak-ng offline (English,
  Urdu, and Punjabi in Shahmukhi read by the Urdu voice).
Either is then trimmed of leading/trailing silence and normalised in loudness with pydub, and
written as 8 kHz mono 16-bit ``.wav`` plus raw G.711 ``.ulaw`` and ``.alaw`` (Asterisk plays
the format that costs the channel no transcoding). Results are cached by a hash of what went in
(recipe, engine, voice and text, or the recording's bytes), so nothing is made twice; pydub,
gTTS and ffmpeg are needed only to build, never to run a call.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import shutil
import subprocess
import tempfile
import threading
import warnings
import wave
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ivr.errors import ConfigError, RabtaError

# The manifest lives in its own light module (read at every call's start); its names stay here too.
from ivr.manifest import LANGUAGES as LANGUAGES
from ivr.manifest import MANIFEST as MANIFEST
from ivr.manifest import SOUND_DIR as SOUND_DIR
from ivr.manifest import Prompt as Prompt
from ivr.manifest import load_manifest as load_manifest

log = logging.getLogger(__name__)

# Punjabi prompts are written in Shahmukhi (Pakistan); espeak-ng's own "pa" voice reads only
# Gurmukhi and spells Shahmukhi out letter by letter, while its Urdu voice reads it well.
ESPEAK_VOICES = {"en": "en", "ur": "ur", "pa": "ur"}
GTTS_VOICES = {"en": "en", "ur": "ur", "pa": "ur"}  # Shahmukhi again read as Urdu
FORMATS = ("wav", "ulaw", "alaw")
RATE = 8000
_RECIPE = "pydub v2"  # bump to invalidate the cache when the processing below changes
SILENCE_DBFS = -45.0  # quieter than this at either end is cut
KEEP_MS = 40  # ... except this much, so the first and last sounds are not clipped
TARGET_DBFS = -18.0  # average loudness of every prompt
PEAK_DBFS = -1.0  # never louder than this at the peak


class Voice(Protocol):
    """A text-to-speech engine."""

    name: str

    def voice(self, language: str) -> str: ...
    def available(self) -> bool: ...
    def speak(self, text: str, language: str, out_dir: Path) -> Path: ...


class Espeak:
    """espeak-ng: offline, always there once installed."""

    name = "espeak"

    def voice(self, language: str) -> str:
        """Return the espeak-ng voice for a language."""
        return ESPEAK_VOICES[language]

    def available(self) -> bool:
        """Say whether espeak-ng is installed."""
        return shutil.which("espeak-ng") is not None

    def speak(self, text: str, language: str, out_dir: Path) -> Path:
        """Write text spoken in language to a wav file in out_dir; return its path."""
        raw = out_dir / "espeak.wav"
        subprocess.run(["espeak-ng", "-v", self.voice(language), "-s", "150", "-w", str(raw), text],
                       check=True, capture_output=True)
        return raw


class GTTS:
    """gTTS (an online voice): used only when a short probe shows it reachable.

    probe=False never goes online: prompts it made before are still used from the cache.
    make builds the gTTS object (tests pass a fake).
    """

    name = "gtts"

    def __init__(self, *, probe: bool = True, timeout: float = 3.0,
                 make: Callable[..., Any] | None = None) -> None:
        self.probe = probe
        self.timeout = timeout
        self._make = make
        self._available: bool | None = None
        self._probing = threading.Lock()  # build() asks from several threads: probe once

    def voice(self, language: str) -> str:
        """Return the gTTS language code for a language."""
        return GTTS_VOICES[language]

    def _tts(self, text: str, lang: str) -> Any:
        make = self._make
        if make is None:
            try:
                from gtts import gTTS  # optional until used
            except ImportError as exc:
                raise missing_extra(exc) from None

            make = gTTS
        return make(text, lang=lang, timeout=self.timeout)

    def available(self) -> bool:
        """Say whether the service answers (asked once, with a short timeout)."""
        if not self.probe:
            return False
        with self._probing:
            if self._available is None:
                self._probe()
        return bool(self._available)

    def _probe(self) -> None:
        try:
            self._tts("ok", "en").write_to_fp(io.BytesIO())
            self._available = True
        except Exception as exc:  # no network, DNS, HTTP error, gTTS missing: offline
            log.info("gTTS is not reachable (%s); using espeak-ng", str(exc)[:120])
            self._available = False

    def speak(self, text: str, language: str, out_dir: Path) -> Path:
        """Write text spoken in language to an mp3 file in out_dir; return its path."""
        raw = out_dir / "gtts.mp3"
        with raw.open("wb") as f:
            self._tts(text, self.voice(language)).write_to_fp(f)
        return raw


def missing_extra(exc: ImportError) -> ConfigError:
    """Return the error for a prompt-making library that is not installed."""
    return ConfigError(f"making prompt audio needs {exc.name or 'pydub and gTTS'}, which is not "
                       f"installed: pip install 'rabta[prompts]' (and ffmpeg for pydub)")


def voices_for(engine: str, *, online: bool = True) -> list[Voice]:
    """Return the engines to use, in order of preference, for --engine auto|gtts|espeak."""
    if engine == "espeak":
        return [Espeak()]
    if engine == "gtts":
        return [GTTS(probe=online)]
    if engine == "auto":
        return [GTTS(probe=online), Espeak()]
    raise ConfigError(f"unknown prompt engine {engine!r} (auto, gtts or espeak)")


def _digest(*parts: str) -> str:
    return hashlib.sha256("|".join((_RECIPE, *parts)).encode()).hexdigest()[:20]


def recording_for(recorded: Path | None, p: Prompt) -> Path | None:
    """Return the live recording of a prompt (<recorded>/<lang>/<id>.*), or None."""
    if recorded is None:
        return None
    found = sorted(f for f in (recorded / p.language).glob(f"{p.id}.*") if f.is_file())
    return found[0] if found else None


def process(raw: Path, out: Path) -> None:
    """Trim, normalise and write raw audio as out (.wav) plus .ulaw and .alaw beside it."""
    with warnings.catch_warnings():  # pydub imports audioop, deprecated since Python 3.11
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            import audioop  # G.711 encoders; pydub itself is built on it (audioop-lts on 3.13)

            from pydub import AudioSegment  # build-time only (it needs ffmpeg)
            from pydub.silence import detect_leading_silence
        except ImportError as exc:
            raise missing_extra(exc) from None

    seg = AudioSegment.from_file(str(raw)).set_channels(1)
    lead = detect_leading_silence(seg, silence_threshold=SILENCE_DBFS, chunk_size=5)
    tail = detect_leading_silence(seg.reverse(), silence_threshold=SILENCE_DBFS, chunk_size=5)
    start, end = max(lead - KEEP_MS, 0), min(len(seg) - tail + KEEP_MS, len(seg))
    if end - start <= KEEP_MS * 2 or seg.max_dBFS == float("-inf"):
        raise RabtaError(f"{raw.name}: no sound in it")
    seg = seg[start:end]
    seg = seg.apply_gain(min(TARGET_DBFS - seg.dBFS, PEAK_DBFS - seg.max_dBFS))
    seg = seg.set_frame_rate(RATE).set_sample_width(2)
    # Two prompts with the same text and voice share one cache entry and may be made at the
    # same time on two threads: each writes its own parts, and the atomic replaces agree.
    tag = f"{os.getpid()}-{threading.get_ident()}"
    parts = {fmt: out.with_name(f"{out.stem}.part-{tag}.{fmt}") for fmt in FORMATS}
    seg.export(str(parts["wav"]), format="wav")
    parts["ulaw"].write_bytes(audioop.lin2ulaw(seg.raw_data, 2))  # raw G.711, as Asterisk's
    parts["alaw"].write_bytes(audioop.lin2alaw(seg.raw_data, 2))  # format_pcm reads them
    for fmt in ("ulaw", "alaw", "wav"):  # the .wav last: it marks the entry complete
        parts[fmt].replace(out.with_suffix(f".{fmt}"))


def _complete(wav: Path) -> bool:
    return all(wav.with_suffix(f".{fmt}").exists() for fmt in FORMATS)


@dataclass
class Built:
    """What build() produced: prompt -> cached .wav (.ulaw and .alaw beside it)."""

    files: dict[Prompt, Path] = field(default_factory=dict)
    made: Counter[str] = field(default_factory=Counter)  # made now, by source
    cached: int = 0  # already in the cache

    def source(self, p: Prompt) -> str:
        """Return where a built prompt came from: recorded, gtts or espeak."""
        return self.files[p].name.split("-", 1)[0]


def build(cache: Path, prompts: Iterable[Prompt],
          progress: Callable[[int, int, Prompt], None] | None = None, *,
          voices: Sequence[Voice] | None = None, recorded: Path | None = None,
          workers: int | None = None) -> Built:
    """Make every prompt not yet cached (a recording if there is one, else speech).

    voices: engines in order of preference (default: gTTS from the cache only, then
    espeak-ng); a prompt any of them already made is reused, a new one is made by the
    first that is available. recorded: the directory of live recordings. The work is
    subprocesses (espeak-ng, ffmpeg), so it runs on `workers` threads (default: one per CPU).
    """
    voices = list(voices) if voices is not None else voices_for("auto", online=False)
    cache.mkdir(parents=True, exist_ok=True)
    todo = list(prompts)
    out = Built()
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        futures = {pool.submit(_build_one, cache, p, voices, recorded): p for p in todo}
        for n, future in enumerate(as_completed(futures), 1):
            p = futures[future]
            wav, made = future.result()
            out.files[p] = wav
            if made:
                out.made[made] += 1
            else:
                out.cached += 1
            if progress:
                progress(n, len(todo), p)
    out.files = {p: out.files[p] for p in todo}  # manifest order
    return out


def _build_one(cache: Path, p: Prompt, voices: Sequence[Voice], recorded: Path | None
               ) -> tuple[Path, str]:
    """Return the cached wav of one prompt and what made it now ("" if it was cached)."""
    rec = recording_for(recorded, p)
    if rec is not None:
        wav = cache / f"recorded-{_digest('recorded', hashlib.sha256(rec.read_bytes()).hexdigest())}.wav"
        if _complete(wav):
            return wav, ""
        process(rec, wav)
        return wav, "recorded"
    if not p.text:
        raise RabtaError(f"prompt {p.id} ({p.language}) has no text and no recording")
    candidates = [(v, cache / f"{v.name}-{_digest(v.name, v.voice(p.language), p.text)}.wav")
                  for v in voices]
    for _, wav in candidates:
        if _complete(wav):
            return wav, ""
    for v, wav in candidates:
        if v.available():
            with tempfile.TemporaryDirectory() as tmp:
                process(v.speak(p.text, p.language, Path(tmp)), wav)
            log.debug("made %s/%s with %s", p.language, p.id, v.name)
            return wav, v.name
    names = ", ".join(v.name for v in voices)
    raise RabtaError(f"no text-to-speech engine available ({names}): install espeak-ng "
                     f"(`make setup`) or use --engine auto with a network")


def install(built: Built | Mapping[Prompt, Path], sounds_dir: Callable[[str], Path]) -> int:
    """Copy built prompts into <sounds dir of their language>/rabta/ (every format); return files changed."""
    files = built.files if isinstance(built, Built) else built
    changed = 0
    for p, wav in files.items():
        for fmt in FORMATS:
            src = wav.with_suffix(f".{fmt}")
            dest = sounds_dir(p.language) / SOUND_DIR / f"{p.id}.{fmt}"
            if dest.exists() and dest.read_bytes() == src.read_bytes():
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(f"{dest.name}.{os.getpid()}.tmp")  # two installers never share one
            shutil.copyfile(src, tmp)
            tmp.replace(dest)  # a call playing the old file is not cut
            changed += 1
    return changed


# ---------------------------------------------------------------- checking what is installed


@dataclass(frozen=True, slots=True)
class Missing:
    """One prompt file that is absent or not valid audio."""

    id: str
    language: str
    fmt: str
    reason: str

    def __str__(self) -> str:
        return f"{self.language}/{SOUND_DIR}/{self.id}.{self.fmt}: {self.reason}"


def _wav_frames(path: Path) -> tuple[int, str]:
    """Return (frames, problem) of an installed .wav; problem is "" when it is valid."""
    try:
        with wave.open(str(path), "rb") as w:
            frames, rate, channels, width = (w.getnframes(), w.getframerate(), w.getnchannels(),
                                             w.getsampwidth())
            data = w.readframes(frames)
    except (OSError, EOFError, wave.Error) as exc:
        return 0, f"not a valid wav ({exc})"
    if (rate, channels, width) != (RATE, 1, 2):
        return 0, f"{rate} Hz, {channels} channel(s), {8 * width}-bit; need 8000 Hz mono 16-bit"
    if frames == 0 or len(data) != frames * 2:
        return 0, "no audio in it"
    return frames, ""


def _g711_samples(path: Path, fmt: str) -> tuple[int, str]:
    """Decode raw .ulaw/.alaw with ffmpeg; return (samples, problem)."""
    res = subprocess.run(["ffmpeg", "-v", "error", "-f", "mulaw" if fmt == "ulaw" else "alaw",
                          "-ar", str(RATE), "-ac", "1", "-i", str(path), "-f", "s16le", "-"],
                         capture_output=True, check=False)
    if res.returncode != 0 or res.stderr.strip():
        return 0, f"ffmpeg cannot decode it: {res.stderr.decode(errors='replace').strip()[:160]}"
    if not res.stdout:
        return 0, "no audio in it"
    return len(res.stdout) // 2, ""


def check_installed(prompts: Iterable[Prompt], sounds_dir: Callable[[str], Path]) -> list[Missing]:
    """Decode every format of every prompt; return what is missing or not valid (8 kHz mono)."""
    problems = []
    for p in prompts:
        base = sounds_dir(p.language) / SOUND_DIR
        frames = 0
        for fmt in FORMATS:
            path = base / f"{p.id}.{fmt}"
            if not path.is_file():
                problems.append(Missing(p.id, p.language, fmt, "missing"))
                continue
            count, why = _wav_frames(path) if fmt == "wav" else _g711_samples(path, fmt)
            if fmt == "wav":
                frames = count
            elif not why and frames and abs(count - frames) > RATE // 100:
                why = f"{count} samples, but the .wav has {frames}: not the same prompt at 8 kHz"
            if why:
                problems.append(Missing(p.id, p.language, fmt, why))
    return problems
