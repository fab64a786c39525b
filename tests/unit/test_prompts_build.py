"""Prompt audio: `rabta prompts build` / `check` on temporary cache and sounds dirs.

Real espeak-ng, pydub and ffmpeg; gTTS is a fake (it is not reachable here). The full build
from nothing is the slow one (every prompt of every survey, ur/pa/en, three formats).
"""

from __future__ import annotations

import io
import math
import struct
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import pytest

from ivr import audio
from ivr.cli import prompts as cli_prompts
from ivr.config import Settings
from ivr.errors import ConfigError, RabtaError
from ivr.flows import definitions


def tone_wav(seconds: float, *, rate: int = 24000, channels: int = 1, lead_s: float = 0.0,
             tail_s: float = 0.0, amplitude: float = 0.3) -> bytes:
    """Return a wav: silence, a 440 Hz tone, silence."""
    frames = []
    total = int((lead_s + seconds + tail_s) * rate)
    for i in range(total):
        t = i / rate
        on = lead_s <= t < lead_s + seconds
        v = int(amplitude * 32767 * math.sin(2 * math.pi * 440 * t)) if on else 0
        frames.append(struct.pack("<" + "h" * channels, *([v] * channels)))
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"".join(frames))
    return buf.getvalue()


class FakeTTS:
    """Stands in for gtts.gTTS: records what it was asked, writes a short tone."""

    calls: ClassVar[list[tuple[str, str]]] = []
    fail = False

    def __init__(self, text: str, lang: str, timeout: float | None = None) -> None:
        self.text, self.lang = text, lang

    def write_to_fp(self, fp: Any) -> None:
        if FakeTTS.fail:
            raise OSError("Failed to connect. Probable cause: Unknown")
        FakeTTS.calls.append((self.text, self.lang))
        fp.write(tone_wav(0.4, lead_s=0.3, tail_s=0.3))


@pytest.fixture(autouse=True)
def _fresh_fake() -> None:
    FakeTTS.calls = []
    FakeTTS.fail = False


def sounds(root: Path) -> Callable[[str], Path]:
    return lambda lang: root / lang


def files_of(root: Path) -> dict[Path, float]:
    return {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


def few(ids: tuple[str, ...] = ("greeting", "thanks"), langs: tuple[str, ...] = ("en", "ur")
        ) -> list[audio.Prompt]:
    return [p for p in audio.load_manifest() if p.id in ids and p.language in langs]


def test_espeak_build_from_nothing_makes_every_survey_prompt_and_a_second_run_does_nothing(
        tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", cache=tmp_path / "cache")
    out = io.StringIO()
    assert cli_prompts.build(settings, engine="espeak", sounds_dir=sounds(tmp_path / "snd"),
                             out=out, progress=False) == 0
    report = out.getvalue()
    assert "espeak" in report and "nothing to do" not in report

    needed = {pid for s in definitions.load_surveys().surveys.values() for pid in s.prompt_ids()}
    assert {"greeting", "rating", "bribe", "thanks"} <= needed
    for lang in ("ur", "pa", "en"):
        for pid in needed:
            for fmt in ("wav", "ulaw", "alaw"):
                path = tmp_path / "snd" / lang / "rabta" / f"{pid}.{fmt}"
                assert path.is_file() and path.stat().st_size > 1000, path
    check_out = io.StringIO()
    assert cli_prompts.check(settings, sounds_dir=sounds(tmp_path / "snd"), out=check_out) == 0
    assert check_out.getvalue().startswith("OK ")

    before = files_of(tmp_path / "snd")
    again = io.StringIO()
    assert cli_prompts.build(settings, engine="espeak", sounds_dir=sounds(tmp_path / "snd"),
                             out=again, progress=False) == 0
    assert again.getvalue().startswith("prompts: nothing to do")
    assert files_of(tmp_path / "snd") == before


def test_installed_prompt_is_8khz_mono_trimmed_and_normalised(tmp_path: Path) -> None:
    raw = tmp_path / "raw.wav"
    raw.write_bytes(tone_wav(0.5, rate=44100, channels=2, lead_s=1.0, tail_s=1.0, amplitude=0.05))
    out = tmp_path / "p.wav"
    audio.process(raw, out)
    with wave.open(str(out)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
        seconds = w.getnframes() / 8000
        data = w.readframes(w.getnframes())
    assert 0.5 <= seconds <= 0.5 + 2 * audio.KEEP_MS / 1000 + 0.02  # 2 s of silence cut
    samples = struct.unpack(f"<{len(data) // 2}h", data)
    rms = math.sqrt(sum(s * s for s in samples) / len(samples)) / 32768
    assert -22 < 20 * math.log10(rms) < -15  # near TARGET_DBFS, from a -29 dBFS input
    assert max(abs(s) for s in samples) / 32768 <= 10 ** (audio.PEAK_DBFS / 20) + 0.01
    # The G.711 copies hold the same samples: one byte each.
    assert out.with_suffix(".ulaw").stat().st_size == len(samples)
    assert out.with_suffix(".alaw").stat().st_size == len(samples)


def test_silent_input_is_refused(tmp_path: Path) -> None:
    raw = tmp_path / "raw.wav"
    raw.write_bytes(tone_wav(0.0, lead_s=1.0))
    with pytest.raises(RabtaError, match="no sound"):
        audio.process(raw, tmp_path / "p.wav")


def test_gtts_is_used_when_reachable(tmp_path: Path) -> None:
    gtts = audio.GTTS(make=FakeTTS)
    built = audio.build(tmp_path / "c", few(), voices=[gtts, audio.Espeak()])
    assert built.made == {"gtts": 4}
    assert {built.source(p) for p in built.files} == {"gtts"}
    # Shahmukhi and Urdu go to the Urdu voice; the probe asked once, in English.
    assert ("ok", "en") in FakeTTS.calls and sum(lang == "ur" for _, lang in FakeTTS.calls) == 2
    assert audio.install(built, sounds(tmp_path / "snd")) == 12
    assert audio.check_installed(few(), sounds(tmp_path / "snd")) == []


def test_auto_falls_back_to_espeak_when_gtts_is_unreachable(tmp_path: Path) -> None:
    FakeTTS.fail = True
    gtts = audio.GTTS(make=FakeTTS)
    built = audio.build(tmp_path / "c", few(), voices=[gtts, audio.Espeak()])
    assert built.made == {"espeak": 4}
    assert gtts.available() is False


def test_prompts_gtts_made_are_kept_offline_instead_of_espeak(tmp_path: Path) -> None:
    audio.build(tmp_path / "c", few(), voices=[audio.GTTS(make=FakeTTS), audio.Espeak()])
    offline = audio.build(tmp_path / "c", few(), voices=audio.voices_for("auto", online=False))
    assert offline.made == {} and offline.cached == 4
    assert {offline.source(p) for p in offline.files} == {"gtts"}


def test_gtts_only_without_network_is_an_error(tmp_path: Path) -> None:
    FakeTTS.fail = True
    with pytest.raises(RabtaError, match="no text-to-speech engine"):
        audio.build(tmp_path / "c", few(), voices=[audio.GTTS(make=FakeTTS)])


def test_changed_text_is_made_again_and_nothing_else(tmp_path: Path) -> None:
    prompts = few()
    audio.build(tmp_path / "c", prompts, voices=[audio.Espeak()])
    changed = [audio.Prompt(p.id, p.language, p.text + " Shukriya.") if p.id == "thanks"
               and p.language == "en" else p for p in prompts]
    built = audio.build(tmp_path / "c", changed, voices=[audio.Espeak()])
    assert built.made == {"espeak": 1} and built.cached == 3


def test_a_live_recording_beats_the_synthesised_prompt(tmp_path: Path) -> None:
    live = tmp_path / "live"
    (live / "en").mkdir(parents=True)
    (live / "en" / "greeting.wav").write_bytes(tone_wav(0.6, rate=16000, channels=2, lead_s=0.5))
    built = audio.build(tmp_path / "c", few(), voices=[audio.Espeak()], recorded=live)
    sources = {(p.id, p.language): built.source(p) for p in built.files}
    assert sources == {("greeting", "en"): "recorded", ("greeting", "ur"): "espeak",
                       ("thanks", "en"): "espeak", ("thanks", "ur"): "espeak"}
    audio.install(built, sounds(tmp_path / "snd"))
    with wave.open(str(tmp_path / "snd" / "en" / "rabta" / "greeting.wav")) as w:
        assert (w.getframerate(), w.getnchannels()) == (8000, 1)
        assert 0.6 <= w.getnframes() / 8000 < 0.75  # the recording, trimmed: not the speech
    # A new take replaces it at the next build; the rest stays cached.
    (live / "en" / "greeting.wav").write_bytes(tone_wav(1.2, rate=16000))
    again = audio.build(tmp_path / "c", few(), voices=[audio.Espeak()], recorded=live)
    assert again.made == {"recorded": 1} and again.cached == 3
    assert audio.install(again, sounds(tmp_path / "snd")) == 3


def test_check_lists_missing_and_broken_files(tmp_path: Path) -> None:
    prompts = few(("greeting",), ("en",))
    built = audio.build(tmp_path / "c", prompts, voices=[audio.Espeak()])
    snd = tmp_path / "snd"
    audio.install(built, sounds(snd))
    assert audio.check_installed(prompts, sounds(snd)) == []
    base = snd / "en" / "rabta"
    (base / "greeting.alaw").unlink()
    (base / "greeting.ulaw").write_bytes(b"\xff" * 10)  # decodes, but not the same prompt
    problems = {m.fmt: m.reason for m in audio.check_installed(prompts, sounds(snd))}
    assert problems["alaw"] == "missing"
    assert "samples" in problems["ulaw"]
    (base / "greeting.wav").write_bytes(tone_wav(0.5, rate=16000))
    problems = {m.fmt: m.reason for m in audio.check_installed(prompts, sounds(snd))}
    assert "16000 Hz" in problems["wav"]
    (base / "greeting.wav").write_bytes(b"RIFF....not a wav")
    problems = {m.fmt: m.reason for m in audio.check_installed(prompts, sounds(snd))}
    assert "not a valid wav" in problems["wav"]


def test_check_command_exits_1_and_names_what_is_missing(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", cache=tmp_path / "cache")
    out = io.StringIO()
    assert cli_prompts.check(settings, langs=("pa",), sounds_dir=sounds(tmp_path / "snd"),
                             out=out) == 1
    text = out.getvalue()
    assert "pa/rabta/greeting.wav: missing" in text
    assert "pa/rabta/inbound-notice.ulaw: missing" in text  # the dialplan's own prompt
    assert "run `rabta prompts build`" in text


def test_languages_option() -> None:
    assert cli_prompts.languages([]) == ("ur", "pa", "en")
    assert cli_prompts.languages(["en,ur", "en"]) == ("en", "ur")
    with pytest.raises(ConfigError, match="'de'"):
        cli_prompts.languages(["de"])


def test_unknown_engine() -> None:
    with pytest.raises(ConfigError):
        audio.voices_for("festival")


def test_sounds_option_checks_a_directory_of_its_own(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """`--sounds DIR` (a container's mount, a PBX elsewhere): DIR/<lang>/rabta/, no rootfs."""
    import argparse

    settings = Settings(home=tmp_path / "home", cache=tmp_path / "no-rootfs-here")
    args = argparse.Namespace(action="check", lang=["pa"], engine="auto",
                              sounds=tmp_path / "rendered" / "sounds")
    assert cli_prompts.run(args, settings) == 1
    out = capsys.readouterr().out
    assert "pa/rabta/greeting.wav: missing" in out and "no Asterisk rootfs" not in out
