"""Measure the accountability checks' error rates on synthetic data (tests/accountdata.py).

    python bench/accountability_error_rates.py --provinces 300 --weeks 2000

- integrity: the share of clean provinces (4 districts x 8 offices x 300 visits, no problem
  planted) in which any office is flagged at all: the family-wise false-flag rate, stated
  <= 5%; and, with problems planted (one office reusing five numbers for a third of its
  visits, one with five times the "not me" rate), how often each is flagged for its reason
  and how often any other office is flagged;
- alerts: the share of steady weeks (32 offices, no true rise) with any bribe-rate alert at
  all, stated <= 5%; and how often a rise from 5% to 15% on 200 answers is caught.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import accountdata

from ivr.accountability.scorecard import bribe_alerts
from ivr.accountability.stats import ALPHA


def integrity(provinces: int) -> None:
    t0 = time.perf_counter()
    clean = sum(bool(accountdata.integrity(100_000 + s).flags) for s in range(provinces))
    reuse = not_me = others = 0
    for s in range(provinces):
        report = accountdata.integrity(200_000 + s, reuse="LAH-03", not_me="MUL-05")
        flagged = {(f.office, f.measure) for f in report.flags}
        reuse += ("LAH-03", "repeated") in flagged
        not_me += ("MUL-05", "not_me") in flagged
        others += bool(flagged - {("LAH-03", "repeated"), ("MUL-05", "not_me")})
    print(f"integrity, {provinces} provinces each ({time.perf_counter() - t0:.0f} s):")
    print(f"  clean: any false flag in {clean} ({100 * clean / provinces:.1f}%; stated <= "
          f"{100 * ALPHA:.0f}%)")
    print(f"  planted: reuse flagged {100 * reuse / provinces:.1f}%, \"not me\" flagged "
          f"{100 * not_me / provinces:.1f}%, any other flag {100 * others / provinces:.1f}%")


def alerts(weeks: int) -> None:
    rng = np.random.default_rng(5)
    t0 = time.perf_counter()
    false_alarms = caught = 0
    for _ in range(weeks):
        n1, n2 = rng.integers(50, 400, 32), rng.integers(50, 400, 32)
        rates = rng.uniform(0.02, 0.15, 32)
        x1, x2 = rng.binomial(n1, rates), rng.binomial(n2, rates)
        last = {f"O{i}": (int(x1[i]), int(n1[i])) for i in range(32)}
        this = {f"O{i}": (int(x2[i]), int(n2[i])) for i in range(32)}
        false_alarms += bool(bribe_alerts(last, this))
        this["O0"] = (int(rng.binomial(200, 0.15)), 200)
        last["O0"] = (int(rng.binomial(200, 0.05)), 200)
        caught += any(a.office == "O0" for a in bribe_alerts(last, this))
    print(f"alerts, {weeks} weeks of 32 offices ({time.perf_counter() - t0:.0f} s):")
    print(f"  steady: any alert in {false_alarms} ({100 * false_alarms / weeks:.2f}%; stated <= "
          f"{100 * ALPHA:.0f}%)")
    print(f"  a rise from 5% to 15% on 200 answers a week: caught {100 * caught / weeks:.1f}%")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--provinces", type=int, default=300)
    ap.add_argument("--weeks", type=int, default=2000)
    a = ap.parse_args()
    integrity(a.provinces)
    alerts(a.weeks)
