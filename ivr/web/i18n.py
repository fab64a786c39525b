"""Web, the interface's languages: English and Urdu from gettext catalogues (Babel), the one an
official chose (remembered in a cookie), right-to-left pages in Urdu, Urdu data text marked with
its own `lang`/`dir`, and the Naskh font the app serves under a hashed name.

Catalogues live in ivr/web/locale/<lang>/LC_MESSAGES/messages.po and are compiled to .mo by
`make i18n` (tests/unit/test_i18n.py checks the committed .mo matches its .po). The font is
Noto Naskh Arabic (Debian's fonts-noto-core) subset by `make font` to the Urdu alphabet and every
character of the catalogue (tools/build_font.py); its coverage is checked by the same test.
This module needs only aiohttp, jinja2 and Babel: the shared edge (ivr.web.common) calls it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web
from babel.support import NullTranslations, Translations
from markupsafe import Markup, escape

LOCALE_DIR = Path(__file__).parent / "locale"
STATIC = Path(__file__).parent / "static"
FONT_FILE = STATIC / "NotoNaskhArabic-Urdu.woff2"
COOKIE = "rabta_lang"
ZONE: web.AppKey[tzinfo] = web.AppKey("zone")  # where officials read times (settings.timezone)
DEFAULT = "en"


@dataclass(frozen=True, slots=True)
class Language:
    code: str
    name: str  # in its own script, as the switcher shows it
    direction: str  # ltr | rtl


LANGUAGES = {"en": Language("en", "English", "ltr"), "ur": Language("ur", "اردو", "rtl")}

# Arabic script: the Arabic block and its supplements and presentation forms.
_ARABIC = re.compile("[\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff\ufb50-\ufdff\ufe70-\ufeff]")


def N_(message: str) -> str:
    """Mark a message in Python for extraction; it is translated where it is shown."""
    return message


@cache
def translations(code: str) -> NullTranslations:
    """Return the compiled catalogue of a language (English's holds only the words for codes,
    `under_review` -> "under review"; its other messages are their own translation)."""
    return Translations.load(str(LOCALE_DIR), [code])


def language(request: web.Request) -> Language:
    """Return the official's language: their cookie, else English."""
    return LANGUAGES.get(request.cookies.get(COOKIE, ""), LANGUAGES[DEFAULT])


def gettext(request: web.Request, message: str) -> str:
    """Translate one message into the language of the request."""
    return translations(language(request).code).gettext(message)


def has_arabic_script(text: str) -> bool:
    return bool(_ARABIC.search(text))


def data_text(value: Any) -> Markup:
    """Return data text (a name, an office) for a page: Urdu in <bdi lang="ur" dir="rtl">, so
    it is laid out right to left in an English page too; anything else as it is, escaped."""
    text = "" if value is None else str(value)
    if has_arabic_script(text):
        return Markup('<bdi lang="ur" dir="rtl">{}</bdi>').format(text)
    return escape(text)


@cache
def font_name() -> str:
    """The served font's hashed name (content changes, name changes: cacheable for ever)."""
    digest = hashlib.sha256(FONT_FILE.read_bytes()).hexdigest()[:12]
    return f"naskh.{digest}.woff2"


@cache
def _callables(code: str) -> tuple[Callable[..., str], Callable[..., str]]:
    """gettext and ngettext for templates: `_("Page %(page)s", page=2)` translates, then fills
    in the values. They return plain text, which autoescaping escapes like any other value (a
    message may quote what a request sent), so a translation holds no markup."""
    t = translations(code)

    def gettext(message: str, **values: Any) -> str:
        text = t.gettext(message)
        return text % values if values else text

    def ngettext(singular: str, plural: str, n: int, **values: Any) -> str:
        return t.ngettext(singular, plural, n) % {"num": n, **values}

    return gettext, ngettext


def local_time(value: Any, zone: tzinfo, seconds: bool = False) -> str:
    """Show a stored time (ISO text, UTC unless it says otherwise) as local wall time with its
    zone: "2024-05-02 14:00 PKT". Anything unreadable is shown as it is."""
    if not value:
        return ""
    try:
        when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    local = (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(zone)
    return local.strftime("%Y-%m-%d %H:%M:%S %Z" if seconds else "%Y-%m-%d %H:%M %Z")


def context(request: web.Request) -> dict[str, Any]:
    """What every page's template needs to speak the official's language."""
    lang = language(request)
    gettext, ngettext = _callables(lang.code)
    zone = request.app.get(ZONE, UTC)
    return {"when": lambda value, seconds=False: local_time(value, zone, seconds),
            "zone_name": str(zone),
            "lang": lang.code, "dir": lang.direction, "ui_languages": LANGUAGES.values(),
            "gettext": gettext, "ngettext": ngettext, "_": gettext,
            "font_url": f"/static/{font_name()}", "here": request.path_qs}


def configure(env: jinja2.Environment) -> None:
    """Give the template environment the i18n extension and the data-text filter."""
    env.add_extension("jinja2.ext.i18n")
    env.install_null_translations()  # type: ignore[attr-defined]  # each page brings its own
    env.filters["data"] = data_text


def _local_path(target: str) -> str:
    """Return target if it is a path on this site, else "/" (no open redirect)."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target \
            and not any(ord(c) < 32 for c in target):
        return target
    return "/"


async def choose_language(request: web.Request) -> web.Response:
    """GET /language?to=ur&next=/results: remember the official's language, go back."""
    code = request.query.get("to", "")
    back = _local_path(request.query.get("next", "/"))
    if code not in LANGUAGES:
        raise web.HTTPBadRequest(text=f"unknown language {code[:20]!r}: use en or ur")
    response = web.HTTPSeeOther(back)
    response.set_cookie(COOKIE, code, max_age=365 * 24 * 3600, path="/", samesite="Lax",
                        httponly=True, secure=request.secure)
    raise response


async def font(request: web.Request) -> web.FileResponse:
    return web.FileResponse(FONT_FILE, headers={
        "Cache-Control": "public, max-age=31536000, immutable", "Content-Type": "font/woff2"})


def setup(app: web.Application, zone: tzinfo) -> None:
    """Add the language switch and the hashed font route; show times in `zone`."""
    app[ZONE] = zone
    app.router.add_get("/language", choose_language)
    app.router.add_get(f"/static/{font_name()}", font)


# Every letter of the Urdu alphabet (with ہ U+06C1, ھ U+06BE, ی U+06CC, ے U+06D2, ٹ ڈ ڑ), the
# marks and punctuation Urdu text uses, and Urdu digits: the font must cover all of them, so any
# name or office renders, not only the interface's words.
URDU_ALPHABET = (
    "آأابپتٹثجچحخدڈذرڑزژسشصضطظعغفقکگلمنںوؤہۂۃھءیئےۓ"
    "ًٌٍَُِّْٰٓٔ"  # marks
    "،؛؟۔٪"  # punctuation
    "۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩"  # digits
    "كيةىة"  # Arabic forms that reach Urdu data from other keyboards
)
