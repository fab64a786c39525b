"""Randomised arms: a survey's or a calling rule's variants, assigned at random per transaction.

An experiment has a name and two or more arms (e.g. greeting = formal | warm; first_call =
2h | 24h), each equally likely. Every transaction entered while an experiment runs gets one
arm of it, drawn independently (`assign`), and the store keeps it beside the transaction.
Pure, no I/O:

- `assign`: the draw, from a random source the caller passes (the store: the system's
  cryptographic source, so nobody can predict or steer an arm);
- `balance`: Pearson's chi-square test that the arms' counts fit equal allocation (a p-value
  well above 0.001 is what a fair draw gives; a tiny one means the assignment is broken);
- `first_call_delay`: the one experiment the engine acts on by itself: `first_call`, whose
  arms are delays after the visit ("2h", "24h", "90m", "1d"); the store sets each
  transaction's first call time from its arm (the calling window still applies at dial time).
  A greeting's wording is read by the survey: a definition names per-arm greetings
  (ivr.flows.definitions: greeting_experiment, greeting_arms) and the call plays its
  transaction's. Other experiments are stored and analysed only.
- `compare`: each arm's share (completion, satisfaction, bribe reports) with its 95% Wilson
  interval, and each arm's difference from the first (the control) with Newcombe's hybrid
  score interval (method 10, Newcombe 1998).
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from ivr.errors import InputError
from ivr.results import wilson

__all__ = ["FIRST_CALL", "MEASURES", "Experiment", "assign", "balance", "compare",
           "first_call_delay", "newcombe", "parse_experiment"]

FIRST_CALL = "first_call"  # the experiment whose arms are delays of the first call

MEASURES = {"completed": "completed the survey (of those assigned)",
            "satisfied": "rated 4 or 5 (of ratings)",
            "bribe": "reported a bribe (of bribe answers)"}
_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")  # = ivr.flows.definitions.EXPERIMENT_NAME
_ARM = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,39}")  # = ivr.flows.definitions.ARM_NAME
_DELAY = re.compile(r"(\d{1,4})([mhd])")
_UNIT = {"m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True, slots=True)
class Experiment:
    """A named experiment and its arms (the first is the control)."""

    name: str
    arms: tuple[str, ...]


def parse_experiment(name: str, arms: Sequence[str]) -> Experiment:
    """Check an experiment's name and arms or raise InputError saying what is wrong."""
    if not _NAME.fullmatch(name):
        raise InputError(f"experiment name {name[:40]!r}: lower-case letters, digits and _ "
                         "(starting with a letter, at most 40)")
    if len(arms) < 2 or len(arms) > 10:
        raise InputError("an experiment needs 2 to 10 arms")
    for arm in arms:
        if not _ARM.fullmatch(arm):
            raise InputError(f"arm {arm[:40]!r}: letters, digits, '_', '.', '-' (at most 40)")
    if len(set(arms)) != len(arms):
        raise InputError("arms must differ")
    if name == FIRST_CALL:
        for arm in arms:
            if first_call_delay(arm) is None:
                raise InputError(f"first_call arm {arm[:40]!r}: a delay after the visit, "
                                 "e.g. 90m, 2h, 24h or 1d (at most 30 days)")
    return Experiment(name, tuple(arms))


def first_call_delay(arm: str) -> timedelta | None:
    """Return a first_call arm's delay after the visit ("2h" -> 2 hours), or None if not one."""
    m = _DELAY.fullmatch(arm)
    if not m:
        return None
    delay = timedelta(seconds=int(m[1]) * _UNIT[m[2]])
    return delay if delay <= timedelta(days=30) else None


def assign(experiments: Sequence[Experiment], count: int, rng: random.Random
           ) -> list[dict[str, str]]:
    """Return, for each of `count` transactions, one arm per experiment, each equally likely."""
    return [{e.name: rng.choice(e.arms) for e in experiments} for _ in range(count)]


def balance(counts: Mapping[str, int]) -> dict[str, Any]:
    """Return Pearson's chi-square test of the arms' counts against equal allocation."""
    observed = list(counts.values())
    if len(observed) < 2 or sum(observed) == 0:
        return {"chi2": None, "df": max(0, len(observed) - 1), "p_value": None}
    from scipy.stats import chisquare  # here: the intake (and the classic AGI) never needs scipy

    stat, p = chisquare(observed)
    return {"chi2": round(float(stat), 4), "df": len(observed) - 1,
            "p_value": float(f"{float(p):.4g}")}


def newcombe(x1: int, n1: int, x2: int, n2: int, z: float = 1.959963984540054
             ) -> tuple[float, float]:
    """Return Newcombe's hybrid score interval for p2 - p1 (each from its Wilson interval)."""
    l1, u1 = wilson(x1, n1, z)
    l2, u2 = wilson(x2, n2, z)
    p1 = x1 / n1 if n1 else 0.0
    p2 = x2 / n2 if n2 else 0.0
    d = p2 - p1
    low = d - math.sqrt((p2 - l2) ** 2 + (u1 - p1) ** 2)
    high = d + math.sqrt((u2 - p2) ** 2 + (p1 - l1) ** 2)
    return max(-1.0, low), min(1.0, high)


def _share(x: int, n: int) -> dict[str, Any]:
    low, high = wilson(x, n)
    return {"count": x, "of": n, "value": round(x / n, 4) if n else None,
            "low": round(low, 4), "high": round(high, 4)}


def compare(arms: Sequence[str], counts: Mapping[str, Mapping[str, int]]) -> dict[str, Any]:
    """Return each arm's shares and each arm's difference from the first arm, with intervals.

    counts[arm] holds: assigned, completed, rated, satisfied, bribe_n, bribe_yes.
    """
    def pair(arm: str, measure: str) -> tuple[int, int]:
        c = counts.get(arm, {})
        if measure == "completed":
            return int(c.get("completed", 0)), int(c.get("assigned", 0))
        if measure == "satisfied":
            return int(c.get("satisfied", 0)), int(c.get("rated", 0))
        return int(c.get("bribe_yes", 0)), int(c.get("bribe_n", 0))

    control = arms[0]
    rows = []
    for arm in arms:
        row: dict[str, Any] = {"arm": arm, "assigned": int(counts.get(arm, {}).get("assigned", 0))}
        for m in MEASURES:
            x, n = pair(arm, m)
            row[m] = _share(x, n)
            if arm != control:
                x0, n0 = pair(control, m)
                if n and n0:
                    low, high = newcombe(x0, n0, x, n)
                    row[m]["difference"] = {"value": round(x / n - x0 / n0, 4),
                                            "low": round(low, 4), "high": round(high, 4)}
                else:
                    row[m]["difference"] = None
        rows.append(row)
    return {"control": control, "arms": rows,
            "balance": balance({a: int(counts.get(a, {}).get("assigned", 0)) for a in arms}),
            "method": "95% Wilson intervals per arm; differences from the control with "
                      "Newcombe's hybrid score interval; balance by Pearson's chi-square "
                      "against equal allocation"}
