"""Flows, prompt studio by phone: a supervisor's PIN, then record prompts, listen, keep or redo.

Reached at the studio number (setting `studio_number`) from the trunk side only, through the
`rabta-studio` context, which runs this FastAGI script and nothing else (it never dials):

    PIN + #  (3 tries, each wrong one audited)
    language: 1 ur, 2 pa, 3 en   (the menu then speaks that language)
    prompt number + #   (the manifest's order, as numbered on the web page); the prompt as
        played now is heard, so the supervisor knows it is the right one
    record after the beep, # to stop; the take is played back
    1 keep: it becomes a *draft* version (approved and made live in the web app, by a
        supervisor listening there: nothing recorded by phone is played to citizens unheard),
    2 record again. After a kept take: the next prompt number, or hang up.

Like the survey runner it speaks only the Channel protocol; `StudioSessions` wires it to the
store and the audio files (a take is converted with ivr.prompt_files into a version file).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from ivr import audio, prompt_files
from ivr.accounts import verify_password
from ivr.asterisk import variables as V
from ivr.asterisk.agi.channel import Channel
from ivr.audio import SOUND_DIR
from ivr.config import Settings
from ivr.errors import CallerHungUp, InputError
from ivr.store import SQLiteStore
from ivr.studio import PIN_DIGITS, Source

log = logging.getLogger(__name__)

TRIES = 3  # PIN tries, and tries of every menu
TIMEOUT_S = 8.0  # seconds to wait for keys after a menu
MAX_RECORD_S = 120
SILENCE_S = 6.0  # a take ends after this much silence (or on #)
MENU_LANGUAGE = "ur"  # the menu's language until the supervisor picks one
# The studio's own voice menu (prompts/manifest.toml)
PIN, PIN_WRONG, LANGUAGE, PROMPT, RECORD, REVIEW, SAVED, GOODBYE = (
    "studio-pin", "studio-pin-wrong", "studio-language", "studio-prompt", "studio-record",
    "studio-review", "studio-saved", "studio-goodbye")
INVALID = "invalid"
STUDIO_PROMPTS = (PIN, PIN_WRONG, LANGUAGE, PROMPT, RECORD, REVIEW, SAVED, GOODBYE)


@dataclass(frozen=True, slots=True)
class Take:
    """A kept recording: who, which prompt, which language, and the file on the PBX."""

    username: str
    prompt: str
    language: str
    path: str  # as the PBX wrote it: <astspooldir>/studio-....wav


CheckPin = Callable[[str], Awaitable[str | None]]  # PIN -> username, or None
SaveTake = Callable[[Take], Awaitable[int | None]]  # -> version id; None: no sound in it


def sound(prompt_id: str) -> str:
    """Return the sound name of a prompt (sounds/<lang>/rabta/<id>)."""
    return f"{SOUND_DIR}/{prompt_id}"


async def ask(channel: Channel, prompt: str, max_digits: int, valid: Callable[[str], bool],
              tries: int = TRIES, timeout_s: float = TIMEOUT_S) -> str | None:
    """Ask until a valid answer (returned) or `tries` are used up (None); say when invalid."""
    for _ in range(tries):
        keys = (await channel.get_digits(sound(prompt), max_digits, timeout_s)).rstrip("#")
        if keys and valid(keys):
            return keys
        if keys:
            await channel.stream_file(sound(INVALID))
    return None


async def run_studio(channel: Channel, *, prompts: Sequence[str], check_pin: CheckPin,
                     save: SaveTake, languages: Sequence[str] = audio.LANGUAGES,
                     name: str | None = None) -> list[int]:
    """Run one studio call; return the ids of the versions kept (drafts)."""
    await channel.answer()
    await channel.set_variable(V.CHANNEL_LANGUAGE, MENU_LANGUAGE)
    user = None
    for _ in range(TRIES):
        pin = (await channel.get_digits(sound(PIN), PIN_DIGITS[1] + 1, TIMEOUT_S)).rstrip("#")
        user = await check_pin(pin) if pin else None
        if user is not None:
            break
        await channel.stream_file(sound(PIN_WRONG))
    if user is None:
        return await _goodbye(channel, [])
    choice = await ask(channel, LANGUAGE, 1, lambda k: k.isdigit() and 1 <= int(k) <= len(languages))
    if choice is None:
        return await _goodbye(channel, [])
    language = languages[int(choice) - 1]
    await channel.set_variable(V.CHANNEL_LANGUAGE, language)
    spool = (await channel.get_variable(V.SPOOL_DIR) or "").rstrip("/")
    base = f"{spool}/studio-{name or uuid.uuid4().hex[:12]}"
    kept: list[int] = []
    while True:
        number = await ask(channel, PROMPT, 3, lambda k: k.isdigit() and 1 <= int(k) <= len(prompts))
        if number is None:
            return await _goodbye(channel, kept)
        pid = prompts[int(number) - 1]
        await channel.stream_file(sound(pid))  # as it is played now: the right prompt?
        take = 0
        while True:
            take += 1
            path = f"{base}-{language}-{pid}-{take}"
            await channel.stream_file(sound(RECORD))
            await channel.record(path, "wav", "#", MAX_RECORD_S, True, SILENCE_S)
            await channel.stream_file(path)  # listen
            verdict = await ask(channel, REVIEW, 1, lambda k: k in ("1", "2"))
            if verdict is None:
                return await _goodbye(channel, kept)
            if verdict == "1":
                version = await save(Take(user, pid, language, f"{path}.wav"))
                if version is None:  # silent or empty: say so, and record again
                    await channel.stream_file(sound(INVALID))
                    continue
                kept.append(version)
                await channel.stream_file(sound(SAVED))
                break


async def _goodbye(channel: Channel, kept: list[int]) -> list[int]:
    await channel.stream_file(sound(GOODBYE))
    await channel.hangup()
    return kept


class StudioSessions:
    """The FastAGI route for `studio`: one supervisor's studio call per connection."""

    def __init__(self, store: SQLiteStore, settings: Settings, *,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.prompts = list(dict.fromkeys(p.id for p in audio.load_manifest()))

    async def check_pin(self, pin: str) -> str | None:
        """Return the supervisor whose studio PIN this is; audit a wrong one."""
        for username, pin_hash in await self.store.studio_pins():
            if await asyncio.to_thread(verify_password, pin_hash, pin):
                await self.store.audit(f"phone:{username}", "studio_login", {}, self.clock())
                return username
        await self.store.audit("phone", "studio_pin_wrong", {}, self.clock())
        return None

    async def save(self, take: Take) -> int | None:
        """Convert the PBX's recording into a version file and store it as a draft (None if
        it holds no sound)."""
        recorded = self.settings.rootfs / take.path.lstrip("/")
        now = self.clock()
        dest = prompt_files.version_path(self.settings, take.prompt, take.language,
                                         f"phone-{now.strftime('%Y%m%dT%H%M%S%f')}")
        try:
            await asyncio.to_thread(prompt_files.convert, recorded, dest)
        except InputError as exc:  # silent or empty: the flow asks for another take
            log.warning("studio: take of %s/%s by %s refused: %s", take.language, take.prompt,
                        take.username, exc)
            return None
        version = await self.store.add_prompt_version(
            take.prompt, take.language, str(dest), Source.PHONE, take.username,
            f"phone:{take.username}", now)
        log.info("studio: %s recorded %s/%s as draft version %d", take.username, take.language,
                 take.prompt, version)
        return version

    async def __call__(self, channel: Channel) -> None:
        """Run one studio call."""
        try:
            await run_studio(channel, prompts=self.prompts, check_pin=self.check_pin,
                             save=self.save)
        except CallerHungUp:
            log.info("studio: the supervisor hung up")
