"""Prompts, audio: turn the prompt manifest into Asterisk sound files.

Offline by default: espeak-ng speaks English, Urdu and Punjabi (Shahmukhi, read by its Urdu
voice) without a network, and sox turns its output into what Asterisk plays without
transcoding (8 kHz, mono, 16-bit wav), trimmed of leading/trailing silence so prompts
follow each other without dead air.
Results are cached by a hash of (engine, voice, text), so nothing is synthesised twice.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import subprocess
import tempfile
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ivr.errors import ConfigError, RabtaError

log = logging.getLogger(__name__)

MANIFEST = Path(__file__).resolve().parents[1] / "prompts" / "manifest.toml"
LANGUAGES = ("ur", "pa", "en")
# Punjabi prompts are written in Shahmukhi (Pakistan); espeak-ng's own "pa" voice reads only
# Gurmukhi and spells Shahmukhi out letter by letter, while its Urdu voice reads it well.
ESPEAK_VOICES = {"en": "en", "ur": "ur", "pa": "ur"}
SOUND_DIR = "rabta"  # sounds/<lang>/rabta/<id>.wav inside the PBX's sounds dir
_RECIPE = "espeak-ng+sox v1"  # bump to invalidate the cache when the recipe changes


@dataclass(frozen=True, slots=True)
class Prompt:
    """One prompt in one language."""

    id: str
    language: str
    text: str

    @property
    def sound(self) -> str:
        """The name Asterisk plays (no language, no extension)."""
        return f"{SOUND_DIR}/{self.id}"


def load_manifest(path: Path = MANIFEST) -> list[Prompt]:
    """Read the prompt manifest; raise ConfigError naming the file and what is wrong."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    prompts = []
    for pid, texts in data.items():
        if not isinstance(texts, dict):
            raise ConfigError(f"{path}: [{pid}] must be a table of language = text")
        for lang, text in texts.items():
            if lang not in LANGUAGES:
                raise ConfigError(f"{path}: [{pid}] {lang}: unknown language")
            prompts.append(Prompt(pid, lang, str(text).strip()))
    return prompts


def _key(p: Prompt) -> str:
    return hashlib.sha256(f"{_RECIPE}|{ESPEAK_VOICES[p.language]}|{p.text}".encode()).hexdigest()[:20]


def synthesize(p: Prompt, out: Path) -> None:
    """Speak one prompt with espeak-ng and write an 8 kHz mono 16-bit wav."""
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            raise RabtaError(f"{tool} is missing: run `make setup` (apt-get install espeak-ng sox)")
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.wav"
        subprocess.run(["espeak-ng", "-v", ESPEAK_VOICES[p.language], "-s", "150",
                        "-w", str(raw), p.text], check=True, capture_output=True)
        part = out.with_name(out.name + ".part.wav")
        # Trim silence at both ends, normalise to -3 dBFS, resample to telephone rate.
        subprocess.run(["sox", str(raw), "-r", "8000", "-c", "1", "-b", "16", str(part),
                        "silence", "1", "0.02", "0.5%", "reverse",
                        "silence", "1", "0.02", "0.5%", "reverse", "gain", "-n", "-3"],
                       check=True, capture_output=True)
        part.replace(out)


def build(cache: Path, prompts: list[Prompt],
          progress: Callable[[int, int, Prompt], None] | None = None) -> dict[Prompt, Path]:
    """Synthesise every prompt not yet cached; return prompt -> cached wav."""
    cache.mkdir(parents=True, exist_ok=True)
    result = {}
    for n, p in enumerate(prompts, 1):
        wav = cache / f"{_key(p)}.wav"
        if not wav.exists():
            synthesize(p, wav)
            log.debug("synthesised %s/%s", p.language, p.id)
        result[p] = wav
        if progress:
            progress(n, len(prompts), p)
    return result


def install(built: dict[Prompt, Path], sounds_dir: Callable[[str], Path]) -> int:
    """Copy built prompts into <sounds dir of their language>/rabta/; return files changed."""
    changed = 0
    for p, wav in built.items():
        dest = sounds_dir(p.language) / SOUND_DIR / f"{p.id}.wav"
        if dest.exists() and dest.read_bytes() == wav.read_bytes():
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(wav, dest)
        changed += 1
    return changed
