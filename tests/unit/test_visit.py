"""ivr.flows.visit: the visit confirmation composed from fragments, per language (pure)."""

from __future__ import annotations

from datetime import date

import pytest

from ivr.audio import load_manifest
from ivr.cases import FOLLOWUP_SERVICE
from ivr.flows.definitions import load_surveys, visit_fragments
from ivr.flows.visit import office_prompt, service_prompt, slug, visit_prompts

MANIFEST = frozenset(p.id for p in load_manifest())
DAY = date(2026, 11, 28)


@pytest.mark.parametrize(
    ("office", "service", "language", "expected"),
    [
        ("Police Station Gulberg", "police", "en",
         ["visit-intro", "office/police-station-gulberg", "visit-on", "date/day-28",
          "date/month-11", "visit-for", "service/police", "visit-confirm"]),
        ("Police Station Gulberg", "police", "ur",
         ["visit-intro", "date/day-28", "date/month-11", "visit-on",
          "office/police-station-gulberg", "service/police", "visit-for", "visit-confirm"]),
        ("Land Record Centre Lahore", "land_revenue", "pa",
         ["visit-intro", "date/day-28", "date/month-11", "visit-on",
          "office/land-record-centre-lahore", "service/land-revenue", "visit-for",
          "visit-confirm"]),
        # An office without a fragment: "our office".
        ("Union Council 12", "pension", "en",
         ["visit-intro", "visit-our-office", "visit-on", "date/day-28", "date/month-11",
          "visit-for", "service/pension", "visit-confirm"]),
        # A service without a fragment: left out, with its "for".
        ("DHQ Hospital Faisalabad", "domicile", "ur",
         ["visit-intro", "date/day-28", "date/month-11", "visit-on",
          "office/dhq-hospital-faisalabad", "visit-confirm"]),
        ("Nowhere", "domicile", "en",
         ["visit-intro", "visit-our-office", "visit-on", "date/day-28", "date/month-11",
          "visit-confirm"]),
        # An unknown language speaks with the English order.
        ("Nowhere", "police", "xx",
         ["visit-intro", "visit-our-office", "visit-on", "date/day-28", "date/month-11",
          "visit-for", "service/police", "visit-confirm"]),
    ],
)
def test_visit_prompts(office: str, service: str, language: str, expected: list[str]) -> None:
    assert visit_prompts(office, service, DAY, language, MANIFEST) == expected


@pytest.mark.parametrize("language", ["ur", "pa", "en"])
@pytest.mark.parametrize("day", [date(2026, 1, 1), date(2026, 2, 9), date(2026, 12, 31)])
def test_every_fragment_used_exists_in_every_language(language: str, day: date) -> None:
    ids = visit_prompts("Pension Office Multan", "pension", day, language, MANIFEST)
    assert f"date/day-{day.day}" in ids and f"date/month-{day.month}" in ids
    have = {p.id for p in load_manifest() if p.language == language}
    assert set(ids) <= have


def test_every_bundled_survey_confirms_the_visit_and_its_fragments_exist() -> None:
    book = load_surveys()
    # every visit survey; not the follow-up call, whose citizen reported the visit themselves
    assert all(s.confirm_visit for s in book.surveys.values() if s.id != FOLLOWUP_SERVICE)
    assert not book.for_service(FOLLOWUP_SERVICE).confirm_visit
    assert visit_fragments() <= MANIFEST
    assert len({p for p in visit_fragments() if p.startswith("date/")}) == 31 + 12
    for language in ("ur", "pa", "en"):
        have = {p.id for p in load_manifest() if p.language == language}
        assert visit_fragments() <= have, language


@pytest.mark.parametrize(
    ("name", "expected"),
    [("Police Station Gulberg", "police-station-gulberg"), ("  DHQ / Hospital, FSD ", "dhq-hospital-fsd"),
     ("land_revenue", "land-revenue"), ("", "")],
)
def test_slug(name: str, expected: str) -> None:
    assert slug(name) == expected


def test_bundled_services_have_fragments() -> None:
    for service in ("police", "health", "land_revenue", "property_registration", "pension"):
        assert service_prompt(service) in MANIFEST
    assert office_prompt("Police Station Gulberg") in MANIFEST
