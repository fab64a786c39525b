"""Subset Debian's Noto Naskh Arabic (fonts-noto-core) to the Urdu the dashboard shows: the
whole Urdu alphabet, its marks, punctuation and digits, and every character of the Urdu
catalogue. Writes ivr/web/static/NotoNaskhArabic-Urdu.woff2 (committed; served under a hashed
name by ivr.web.i18n). Run by `make font` after a catalogue changes; tests/unit/test_i18n.py
fails if the committed font misses a character the catalogue or the test data uses.

    .venv/bin/python tools/build_font.py [/usr/share/fonts/truetype/noto/NotoNaskhArabic-Regular.ttf]
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.pofile import read_po
from fontTools import subset

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ivr.web.i18n import FONT_FILE, LOCALE_DIR, URDU_ALPHABET, has_arabic_script  # noqa: E402

SOURCE = Path("/usr/share/fonts/truetype/noto/NotoNaskhArabic-Regular.ttf")


def catalogue_text(code: str = "ur") -> str:
    with (LOCALE_DIR / code / "LC_MESSAGES" / "messages.po").open("rb") as f:
        return "".join(str(m.string) for m in read_po(f) if m.id)


def needed() -> str:
    """Every Arabic-script character the font must hold (and the joiners Urdu uses)."""
    chars = {c for c in URDU_ALPHABET + catalogue_text() if has_arabic_script(c)}
    return "".join(sorted(chars)) + "\u200c\u200d\u200e\u200f"


def main() -> None:
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else SOURCE
    if not source.is_file():
        sys.exit(f"{source} not found: apt-get install fonts-noto-core (make system does it)")
    options = subset.Options()
    options.flavor = "woff2"
    options.layout_features = ["*"]  # joining forms, ligatures, mark positioning
    options.name_IDs = ["*"]  # keep the licence and names (SIL OFL)
    options.notdef_outline = True
    font = subset.load_font(str(source), options)
    sub = subset.Subsetter(options)
    sub.populate(text=needed())
    sub.subset(font)
    subset.save_font(font, str(FONT_FILE), options)
    print(f"{FONT_FILE}: {FONT_FILE.stat().st_size} bytes, {len(needed())} characters")


if __name__ == "__main__":
    main()
