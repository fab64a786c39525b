"""The phone prompt studio over a scripted fake channel, its wiring, and its dialplan."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flowfakes import HANGUP, FakeChannel
from web_support import NOW, add_user

from ivr import audio, render
from ivr.accounts import Role, hash_password
from ivr.asterisk import variables as V
from ivr.config import Settings
from ivr.errors import CallerHungUp
from ivr.flows import studio
from ivr.flows.studio import StudioSessions, Take, run_studio
from ivr.store import SQLiteStore
from ivr.studio import Source, VersionStatus

pytest_plugins = ["web_fixtures"]  # cheap argon2

PROMPTS = ["greeting", "rating", "thanks"]


class Book:
    """check_pin and save callbacks: PIN 4321 is sana; kept takes get ids 1, 2..."""

    def __init__(self, refuse: int = 0) -> None:
        self.takes: list[Take] = []
        self.pins: list[str] = []
        self.refuse = refuse  # the first N takes hold no sound

    async def check_pin(self, pin: str) -> str | None:
        self.pins.append(pin)
        return "sana" if pin == "4321" else None

    async def save(self, take: Take) -> int | None:
        if self.refuse:
            self.refuse -= 1
            return None
        self.takes.append(take)
        return len(self.takes)


async def _run(keys: list[str | type[CallerHungUp]], book: Book | None = None
               ) -> tuple[FakeChannel, Book, list[int]]:
    book = book or Book()
    ch = FakeChannel(keys, linger=True)
    kept = await run_studio(ch, prompts=PROMPTS, check_pin=book.check_pin, save=book.save,
                            name="t")
    return ch, book, kept


async def test_pin_language_prompt_record_listen_keep() -> None:
    ch, book, kept = await _run(["4321#", "3", "2#", "1"])
    assert kept == [1]
    spool = "/var/spool/rabta/rabta-pbx"
    assert book.takes == [Take("sana", "rating", "en", f"{spool}/studio-t-en-rating-1.wav")]
    assert ("set_variable", V.CHANNEL_LANGUAGE, "ur") in ch.calls  # the menu's first language
    assert ("set_variable", V.CHANNEL_LANGUAGE, "en") in ch.calls  # then the one chosen
    recs = [c for c in ch.calls if c[0] == "record"]
    assert recs == [("record", f"{spool}/studio-t-en-rating-1", "wav", "#", 120, True, 6.0)]
    assert ch.prompts() == ["studio-pin", "studio-language", "studio-prompt", "rating",
                            "studio-record", f"{spool}/studio-t-en-rating-1", "studio-review",
                            "studio-saved", "studio-prompt", "studio-prompt", "studio-prompt",
                            "studio-goodbye"]
    assert ch.calls[-1] == ("hangup",)


async def test_redo_then_keep_and_a_second_prompt() -> None:
    ch, book, kept = await _run(["4321#", "1", "1#", "2", "1", "3#", "1"])
    assert kept == [1, 2]
    assert [(t.prompt, t.language, t.path.rsplit("/", 1)[1]) for t in book.takes] == [
        ("greeting", "ur", "studio-t-ur-greeting-2.wav"), ("thanks", "ur", "studio-t-ur-thanks-1.wav")]
    assert len([c for c in ch.calls if c[0] == "record"]) == 3


async def test_wrong_pins_three_times_hang_up_and_record_nothing() -> None:
    ch, book, kept = await _run(["1111#", "", "99999999#"])
    assert kept == [] and book.takes == []
    assert book.pins == ["1111", "99999999"]  # no keys: not even checked
    assert ch.prompts().count("studio-pin-wrong") == 3
    assert not [c for c in ch.calls if c[0] == "record"]
    assert ch.calls[-1] == ("hangup",)


async def test_a_wrong_pin_then_the_right_one() -> None:
    _, book, kept = await _run(["1234#", "4321#", "2", "1#", "1"])
    assert kept == [1] and book.takes[0].language == "pa"


@pytest.mark.parametrize("keys", [["4321#", "9", "0", "4"],  # no such language, three times
                                  ["4321#", "1", "9#", "0#", "4#"],  # no such prompt
                                  ["4321#", "1", "1#", "7", "", "3"]])  # review: neither 1 nor 2
async def test_invalid_menus_end_the_call_after_three_tries(keys: list[str | type[CallerHungUp]]
                                                            ) -> None:
    ch, book, kept = await _run(keys)
    assert kept == [] and book.takes == []
    assert ch.prompts()[-1] == "studio-goodbye"
    assert "invalid" in ch.prompts()


async def test_a_silent_take_is_said_invalid_and_recorded_again() -> None:
    ch, book, kept = await _run(["4321#", "1", "1#", "1", "1"], Book(refuse=1))
    assert kept == [1] and book.takes[0].path.endswith("greeting-2.wav")
    assert ch.prompts().count("invalid") == 1


async def test_a_hang_up_mid_way_keeps_nothing_unkept() -> None:
    book = Book()
    ch = FakeChannel(["4321#", "1", "1#", HANGUP])
    with pytest.raises(CallerHungUp):
        await run_studio(ch, prompts=PROMPTS, check_pin=book.check_pin, save=book.save)
    assert book.takes == []


# ---------------------------------------------------------------------------- the wiring


async def test_sessions_check_hashed_pins_and_store_a_converted_draft(
        store: SQLiteStore, tmp_path: Path) -> None:
    from test_prompt_studio import _tone, _wav_params

    settings = Settings(home=tmp_path / "home", cache=tmp_path / "cache")
    await add_user(store, "sana", Role.SUPERVISOR)
    await add_user(store, "omar", Role.SUPERVISOR)
    await store.set_user_pin("sana", hash_password("4321"))
    sessions = StudioSessions(store, settings, clock=lambda: NOW)
    assert await sessions.check_pin("4321") == "sana"
    assert await sessions.check_pin("1234") is None
    assert [e["action"] for e in await store.audit_entries()][:2] == ["studio_pin_wrong",
                                                                      "studio_login"]
    spool = "/var/spool/rabta/rabta-pbx"
    recorded = settings.rootfs / spool.lstrip("/") / "studio-x-ur-greeting-1.wav"
    recorded.parent.mkdir(parents=True)
    recorded.write_bytes(_tone(channels=1))
    version = await sessions.save(Take("sana", "greeting", "ur", f"{spool}/studio-x-ur-greeting-1.wav"))
    assert version is not None
    v = await store.prompt_version(version)
    assert v is not None and (v.source, v.status, v.created_by) == (Source.PHONE,
                                                                   VersionStatus.DRAFT, "sana")
    assert _wav_params(Path(v.file)) == (8000, 1, 2)
    silent = recorded.with_name("silent.wav")
    silent.write_bytes(_tone(channels=1)[:44] + bytes(16000))
    assert await sessions.save(Take("sana", "greeting", "ur", f"{spool}/silent.wav")) is None
    assert sessions.prompts[0] == "greeting" and set(studio.STUDIO_PROMPTS) <= set(sessions.prompts)


def test_every_studio_prompt_is_in_the_manifest_in_every_language() -> None:
    have = {(p.id, p.language) for p in audio.load_manifest()}
    for pid in studio.STUDIO_PROMPTS:
        for lang in audio.LANGUAGES:
            assert (pid, lang) in have


def test_the_studio_number_routes_to_the_studio_context_only_when_set(tmp_path: Path) -> None:
    # Rendering needs no rootfs: the cache (where the rootfs would be) does not even exist.
    off_s = Settings(home=tmp_path, cache=tmp_path / "no-cache")
    on_s = Settings(home=tmp_path, cache=tmp_path / "no-cache", studio_number="4242")
    off = render.template_values(off_s, render.pbx_instance(off_s))
    on = render.template_values(on_s, render.pbx_instance(on_s))
    assert off["studio_route"].startswith(";")
    assert on["studio_route"] == f"exten => 4242,1,Goto({V.CTX_STUDIO},s,1)"
    assert str(on["studio_agi"]).endswith(f"/{V.SCRIPT_STUDIO}")
    text = (Path(__file__).resolve().parents[2] / "dialplans/pbx/extensions.conf.tmpl").read_text()
    studio_ctx = text.split(f"[{V.CTX_STUDIO}]", 1)[1].split("\n[", 1)[0]
    apps = re.findall(r"^\s*(?:exten => s,1|same => n),(\w+)\(", studio_ctx, re.MULTILINE)
    assert apps == ["Answer", "AGI", "Hangup"]  # nothing else: never a dial
    assert text.split("[rabta-inbound]", 1)[1].lstrip().startswith("{{ studio_route }}")


@pytest.mark.parametrize("number,ok", [("", True), ("4242", True), ("+4242", False),
                                       ("42 42", False), ("٤٢٤٢", False)])
def test_studio_number_is_digits_or_empty(tmp_path: Path, number: str, ok: bool) -> None:
    from ivr.config import load_settings
    from ivr.errors import ConfigError

    overrides = {"home": str(tmp_path), "studio_number": number}
    if ok:
        assert load_settings(env={}, overrides=overrides).studio_number == number
    else:
        with pytest.raises(ConfigError, match="studio_number"):
            load_settings(env={}, overrides=overrides)
