"""Prompts, manifest: which prompts exist, in which languages, and the name Asterisk plays.

Read by the survey flows at every call's start (which prompt ids exist), so it imports nothing
heavy; building the sound files from it is ivr.audio's job.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from ivr.errors import ConfigError

MANIFEST = Path(__file__).resolve().parents[1] / "prompts" / "manifest.toml"
LANGUAGES = ("ur", "pa", "en")
SOUND_DIR = "rabta"  # sounds/<lang>/rabta/<id>.<fmt> inside the PBX's sounds dir


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
