"""The interface's two languages (ivr.web.i18n): catalogues current and complete, every code a
word, the served Naskh font covering every Urdu character we show, the choice remembered, Urdu
pages right to left and Urdu data text marked as such."""

from __future__ import annotations

import io
import subprocess
import sys
from enum import StrEnum
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po
from fontTools.ttLib import TTFont
from web_support import add_user, signed_in

from ivr.accounts import Role
from ivr.cases import CaseAction, CaseStatus
from ivr.results import GROUPS, TIME_GROUPS
from ivr.studio import Source, VersionStatus
from ivr.web import i18n
from ivr.web.words import WORDS

pytest_plugins = ["web_fixtures"]
Client = TestClient[Any, Any]
ROOT = Path(__file__).resolve().parents[2]

# Urdu as the data holds it: districts, offices, names (tests/browser seeds some of these too).
URDU_TEST_DATA = ("لاہور ملتان سیالکوٹ راولپنڈی فیصل آباد گوجرانوالہ پشاور کوئٹہ "
                  "تھانہ گلبرگ ڈپٹی کمشنر آفس پٹوار خانہ ڈومیسائل پولیس "
                  "محمد علی خان عائشہ بی بی ژالہ ضیاء الحق ظفر ذوالفقار غلام ثناء "
                  "۲۰۲۴ ؟ ۔ ،")


def _po(code: str) -> Any:
    with (i18n.LOCALE_DIR / code / "LC_MESSAGES" / "messages.po").open("rb") as f:
        return read_po(f)


@pytest.mark.parametrize("code", sorted(i18n.LANGUAGES))
def test_the_committed_mo_is_the_compiled_po(code: str) -> None:
    """`make i18n` was run after the last catalogue edit."""
    compiled = io.BytesIO()
    write_mo(compiled, _po(code))
    compiled.seek(0)
    with (i18n.LOCALE_DIR / code / "LC_MESSAGES" / "messages.mo").open("rb") as f:
        committed = read_mo(f)
    fresh = read_mo(compiled)
    assert {m.id: m.string for m in committed if m.id} == {m.id: m.string for m in fresh if m.id}


def test_every_message_in_the_code_is_translated_into_urdu(tmp_path: Path) -> None:
    pot = tmp_path / "messages.pot"
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "extract", "-F",
                    "babel.cfg", "-k", "N_", "-o", str(pot), "."], cwd=ROOT, check=True,
                   capture_output=True)
    with pot.open("rb") as f:
        extracted = {m.id for m in read_po(f) if m.id}
    urdu = {m.id: m.string for m in _po("ur") if m.id}
    assert extracted - set(urdu) == set(), "run `make i18n` and translate the new messages"
    assert [m for m in extracted if not urdu[m]] == []


def test_every_code_officials_see_has_a_word_in_both_languages() -> None:
    codes: set[str] = {*GROUPS, *TIME_GROUPS}
    enums: list[type[StrEnum]] = [Role, CaseStatus, CaseAction, VersionStatus, Source]
    for enum in enums:
        codes |= {m.value for m in enum}
    assert codes - set(WORDS) == set()
    english = {m.id: m.string for m in _po("en") if m.id}
    for code in ("under_review", "action_taken", "grievance_redressed", "show_cause"):
        assert "_" not in english[code]  # a word, not the code


def test_the_served_font_covers_every_urdu_character_we_show() -> None:
    font = TTFont(str(i18n.FONT_FILE))  # woff2: read with brotli
    cmap = set(font.getBestCmap())
    catalogue = "".join(m.string for m in _po("ur") if m.id)
    shown = {c for c in catalogue + URDU_TEST_DATA + i18n.URDU_ALPHABET
             if i18n.has_arabic_script(c)}
    assert "\u06c1" in shown  # ہ, as in لاہور and تھانہ
    missing = sorted(f"U+{ord(c):04X} {c}" for c in shown if ord(c) not in cmap)
    assert missing == [], "run `make font`"


def test_urdu_data_text_is_marked_right_to_left_and_escaped() -> None:
    assert str(i18n.data_text("لاہور")) == '<bdi lang="ur" dir="rtl">لاہور</bdi>'
    assert str(i18n.data_text("Lahore")) == "Lahore"
    assert str(i18n.data_text("<b>لاہور</b>")) == \
        '<bdi lang="ur" dir="rtl">&lt;b&gt;لاہور&lt;/b&gt;</bdi>'
    assert str(i18n.data_text(None)) == ""


async def test_the_chosen_language_is_remembered_and_the_page_turns_right_to_left(
        client: Client, store: Any) -> None:
    await add_user(store, "amna", Role.OVERSIGHT)
    await signed_in(client, "amna")
    page = await (await client.get("/results")).text()
    assert '<html lang="en" dir="ltr">' in page and "Results" in page
    chosen = await client.get("/language?to=ur&next=/results", allow_redirects=False)
    assert chosen.status == 303 and chosen.headers["Location"] == "/results"
    page = await (await client.get("/results")).text()
    assert '<html lang="ur" dir="rtl">' in page
    assert "نتائج" in page and f"/static/{i18n.font_name()}" in page
    page = await (await client.get("/nowhere")).text()  # errors too, in the layout, a way back
    assert '<html lang="ur" dir="rtl">' in page and "نہیں ملا" in page and "<main>" in page
    font = await client.get(f"/static/{i18n.font_name()}")
    assert font.status == 200 and "immutable" in font.headers["Cache-Control"]
    assert await font.read() == i18n.FONT_FILE.read_bytes()


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil",
                                    "javascript:alert(1)"])
async def test_the_language_switch_goes_back_only_to_this_site(client: Client,
                                                               target: str) -> None:
    response = await client.get("/language", params={"to": "ur", "next": target},
                                allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == "/"


async def test_an_unknown_language_is_a_clear_400(client: Client) -> None:
    response = await client.get("/language?to=xx")
    assert response.status == 400 and "use en or ur" in await response.text()


def test_times_are_shown_in_the_officials_zone_with_the_zone_named() -> None:
    from zoneinfo import ZoneInfo

    karachi = ZoneInfo("Asia/Karachi")
    assert i18n.local_time("2024-05-02T09:00:00+00:00", karachi) == "2024-05-02 14:00 PKT"
    assert i18n.local_time("2024-05-02T09:00:00", karachi, seconds=True) == \
        "2024-05-02 14:00:00 PKT"  # stored naive: UTC
    assert i18n.local_time("not a time", karachi) == "not a time"
    assert i18n.local_time(None, karachi) == ""
