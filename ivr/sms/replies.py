"""SMS, replies: what a citizen's message to the short code means. Pure, table-tested.

Stage: after the SMS survey (or any message) reached the citizen. A reply is one of:

- answers: one or two numbers (``4``, ``1``, ``4 1``, ``4,1``, Urdu-Indic digits ``۴ ۱`` too),
  which fill the transaction's unanswered core questions in order: rating 1-5, then bribe
  1 (yes) / 2 (no). So ``4`` then ``1`` is the same as ``4 1``;
- stop: ``STOP`` in any case, or its Urdu equivalents ``بند`` / ``روکیں`` (the do-not-call list);
- text: anything else, for officials to read and put in a category.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

STOP_WORDS = frozenset({"stop", "unsubscribe", "بند", "روکیں", "روکو", "بس"})
VALID: Mapping[str, frozenset[str]] = {
    "rating": frozenset("12345"),
    "bribe": frozenset("12"),
}
_NUMBERS = re.compile(r"\s*(\d)(?:\s*[\s,.\-/]\s*(\d))?\s*")
MAX_TEXT = 1600  # a citizen's message longer than this (10 concatenated parts) is cut


@dataclass(frozen=True, slots=True)
class Reply:
    """What a message says: kind 'answers' (with its digits), 'stop' or 'text'."""

    kind: str
    digits: tuple[str, ...] = field(default=())


def _ascii_digits(text: str) -> str:
    # Urdu keyboards send Extended Arabic-Indic digits (۴); treat them as 4.
    return "".join(str(unicodedata.digit(c)) if c.isdigit() else c for c in text)


def classify(text: str) -> Reply:
    """Say what a citizen's message is: answers, a request to stop, or free text."""
    cleaned = unicodedata.normalize("NFKC", text).strip()
    if cleaned.strip(".!۔ ").casefold() in STOP_WORDS:
        return Reply("stop")
    m = _NUMBERS.fullmatch(_ascii_digits(cleaned))
    if m:
        return Reply("answers", tuple(d for d in m.groups() if d is not None))
    return Reply("text")


def assign(digits: Sequence[str], unanswered: Sequence[str]) -> list[tuple[str, str]] | None:
    """Match digits to the unanswered questions in order; None if any digit does not fit.

    assign(["4", "1"], ["rating", "bribe"]) -> [("rating", "4"), ("bribe", "1")];
    assign(["1"], ["bribe"]) -> [("bribe", "1")]; assign(["7"], ["rating", "bribe"]) -> None.
    """
    if not digits or len(digits) > len(unanswered):
        return None
    pairs = list(zip(unanswered, digits, strict=False))
    if any(d not in VALID.get(q, frozenset()) for q, d in pairs):
        return None
    return pairs
