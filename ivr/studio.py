"""Prompt studio, rules: the road of a recorded prompt version, and the studio PIN (pure, no I/O).

A supervisor records a prompt by phone or uploads one in the web app; each recording is a
*version* of one prompt id in one language, on one road:

    draft -> approved -> live   (making one live retires the previous live one: retired)

Only live versions are played (installed into the PBX), and a live recording beats the
synthesised prompt. `transition()` says whether a change is allowed; the store keeps the rows
(ivr/store/prompts.py), ivr/prompt_files.py the audio, and the web and the phone flow ask here.
"""

from __future__ import annotations

from enum import StrEnum

from ivr.errors import InputError

__all__ = ["PIN_DIGITS", "Source", "VersionStatus", "check_pin", "transition"]

PIN_DIGITS = (4, 8)  # a studio PIN is 4 to 8 digits


class VersionStatus(StrEnum):
    """Where a recorded prompt version is on its road."""

    DRAFT = "draft"
    APPROVED = "approved"
    LIVE = "live"
    RETIRED = "retired"  # was live; another version (or none) replaced it


class Source(StrEnum):
    """How a version was recorded."""

    PHONE = "phone"
    UPLOAD = "upload"


# The changes a supervisor may ask for. RETIRED is reached only by another version going live.
_ALLOWED: dict[VersionStatus, frozenset[VersionStatus]] = {
    VersionStatus.DRAFT: frozenset({VersionStatus.APPROVED}),
    VersionStatus.APPROVED: frozenset({VersionStatus.LIVE}),
    VersionStatus.LIVE: frozenset(),
    VersionStatus.RETIRED: frozenset(),
}


def transition(current: VersionStatus, to: VersionStatus) -> VersionStatus:
    """Return the new status of a version moved from current to `to`; raise InputError if refused."""
    if to not in _ALLOWED[current]:
        allowed = ", ".join(sorted(_ALLOWED[current])) or "nothing (final)"
        raise InputError(f"a {current.value} version cannot become {to.value}: "
                         f"it may become {allowed}")
    return to


def check_pin(pin: str) -> str:
    """Return a valid studio PIN (4 to 8 digits); raise InputError otherwise."""
    low, high = PIN_DIGITS
    if not (pin.isascii() and pin.isdigit() and low <= len(pin) <= high):
        raise InputError(f"a studio PIN is {low} to {high} digits")
    return pin
