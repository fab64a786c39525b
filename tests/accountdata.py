"""Synthetic offices for the accountability tests, clean or with planted problems.

`offices()` draws what the calls of every office found (invalid numbers, unreachable, "not
me") and the visits' numbers, from the same rates everywhere unless a problem is planted:
`reuse` (an office entering a handful of numbers for a share of its visits) or `not_me` (an
office whose "not me" rate is several times the rest). Seeded: the same seed, the same data.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from ivr.accountability.integrity import (
    IntegrityReport,
    NumberRules,
    OfficeCounts,
    Visit,
    check,
    number_patterns,
)

DISTRICTS = ("Lahore", "Multan", "Faisalabad", "Rawalpindi")
OFFICES_PER_DISTRICT = 8
VISITS = 300  # per office, over four weeks
START = datetime(2026, 11, 2, 4, 0, tzinfo=UTC)
RATES = {"dialled": 0.9, "invalid": 0.03, "unreachable": 0.15, "not_me": 0.03}


def office_name(d: int, o: int) -> str:
    return f"{DISTRICTS[d][:3].upper()}-{o + 1:02d}"


def offices(seed: int, *, reuse: str | None = None, not_me: str | None = None
            ) -> tuple[list[OfficeCounts], list[Visit]]:
    """Return every office's counts (repeated not yet filled) and all visits' numbers."""
    rng = np.random.default_rng(seed)
    counts, visits = [], []
    for d, district in enumerate(DISTRICTS):
        pool = 20_000  # citizens of the district: some visit twice, by chance
        for o in range(OFFICES_PER_DISTRICT):
            name = office_name(d, o)
            dialled = int(rng.binomial(VISITS, RATES["dialled"]))
            nm_rate = 0.15 if name == not_me else RATES["not_me"]
            outcome = rng.multinomial(dialled, [RATES["invalid"], RATES["unreachable"], nm_rate,
                                                1 - RATES["invalid"] - RATES["unreachable"] - nm_rate])
            counts.append(OfficeCounts(name, district, VISITS, dialled, int(outcome[0]),
                                       int(outcome[1]), int(outcome[2])))
            numbers = rng.integers(0, pool, VISITS)
            if name == reuse:  # a third of its visits on five numbers
                planted = rng.random(VISITS) < 1 / 3
                numbers[planted] = pool + rng.integers(0, 5, int(planted.sum()))
            minutes = rng.integers(0, 28 * 24 * 60, VISITS)
            for number, minute in zip(numbers, minutes, strict=True):
                visits.append(Visit(f"+92300{d}{int(number):06d}", name, district,
                                    f"service{int(number) % 5}", f"official{int(minute) % 4}",
                                    START + timedelta(minutes=int(minute))))
    return counts, visits


def integrity(seed: int, **planted: str) -> IntegrityReport:
    """Return the integrity report of one synthetic province."""
    counts, visits = offices(seed, **planted)
    repeated, numbers = number_patterns(visits, NumberRules())
    for c in counts:
        c.repeated = repeated.get(c.office, 0)
    return check(counts, numbers)
