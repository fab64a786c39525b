"""Flows, visit: the visit confirmation spoken from recorded fragments, and the language menu.

Stage: the call. Asterisk has no Urdu or Punjabi `Say*`, so "you visited <office> on <date>
for <service>" is played as a row of short prompts, each a recording in the citizen's language:
`visit-intro`, `office/<slug>`, `visit-on`, `date/day-<d>`, `date/month-<m>`, `visit-for`,
`service/<service>`, `visit-confirm`. Word order differs by language (Urdu and Punjabi put the
date first and the verb last), so each language has its own template.

Pure: `visit_prompts` takes the visit and the prompt ids that exist and returns the prompt ids
to play, in order. An office with no fragment is spoken as "our office"; a service with no
fragment is left out (with its "for").
"""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import date

OFFICE = "<office>"
DAY = "<day>"
MONTH = "<month>"
SERVICE = "<service>"  # only inside a group: the group is dropped when the service has no fragment
OUR_OFFICE = "visit-our-office"  # spoken for an office that has no fragment of its own
CONFIRM_KEYS = {"1": "correct", "2": "not me"}  # the answer stored as VISIT_QUESTION
CORRECT, NOT_ME = "1", "2"
VISIT_QUESTION = "visit_confirmed"
NOT_ME_PROMPT = "visit-not-me"  # played before hanging up on a "not me"
NOT_ME_REASON = "not_me"  # transactions.closed_reason of a "not me": never called again
LANGUAGE_MENU = "language-menu"  # played once in each language: "for Urdu press 1" ...
LANGUAGE_KEYS = {"1": "ur", "2": "pa", "3": "en"}

Part = str | tuple[str, ...]
# Per language, in speaking order. A tuple is a group spoken only if its SERVICE has a fragment.
TEMPLATES: dict[str, tuple[Part, ...]] = {
    "en": ("visit-intro", OFFICE, "visit-on", DAY, MONTH, ("visit-for", SERVICE), "visit-confirm"),
    "ur": ("visit-intro", DAY, MONTH, "visit-on", OFFICE, (SERVICE, "visit-for"), "visit-confirm"),
    "pa": ("visit-intro", DAY, MONTH, "visit-on", OFFICE, (SERVICE, "visit-for"), "visit-confirm"),
}
FIXED_PROMPTS = frozenset({"visit-intro", "visit-on", "visit-for", "visit-confirm", OUR_OFFICE,
                           NOT_ME_PROMPT, LANGUAGE_MENU})


def slug(name: str) -> str:
    """Return the prompt-id form of a name: lower case, runs of other characters as '-'."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def office_prompt(office: str) -> str:
    """Return the fragment id of an office ("Police Station Gulberg" -> office/police-station-gulberg)."""
    return f"office/{slug(office)}"


def service_prompt(service: str) -> str:
    """Return the fragment id of a service (land_revenue -> service/land-revenue)."""
    return f"service/{slug(service)}"


def day_prompt(day: int) -> str:
    """Return the fragment id of a day of the month (28 -> date/day-28)."""
    return f"date/day-{day}"


def month_prompt(month: int) -> str:
    """Return the fragment id of a month (11 -> date/month-11)."""
    return f"date/month-{month}"


def visit_prompts(office: str, service: str, visited_on: date, language: str,
                  available: Collection[str]) -> list[str]:
    """Return the prompt ids that say "you visited <office> on <date> for <service>; 1 or 2".

    visited_on: the visit's local date; available: the prompt ids that exist (the manifest).
    Unknown languages use the English template.
    """
    values = {OFFICE: office_prompt(office), DAY: day_prompt(visited_on.day),
              MONTH: month_prompt(visited_on.month), SERVICE: service_prompt(service)}
    out: list[str] = []
    for part in TEMPLATES.get(language, TEMPLATES["en"]):
        if isinstance(part, tuple):
            if values[SERVICE] in available:
                out.extend(values.get(p, p) for p in part)
            continue
        pid = values.get(part, part)
        if part == OFFICE and pid not in available:
            pid = OUR_OFFICE
        out.append(pid)
    return out
