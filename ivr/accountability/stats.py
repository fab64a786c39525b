"""Statistics the accountability figures share: exact one-sided tests, Holm's step-down
control of the family-wise error, and beta-binomial empirical Bayes. Pure (numpy/scipy), no I/O.

- `excess_p`: is a group's share higher than a reference's beyond chance? The one-sided
  Fisher exact test (the conditional hypergeometric tail), which holds its level at any size.
- `holm`: which of many p-values are significant so that, when nothing is wrong anywhere, the
  chance of even one false flag is at most alpha (Holm 1979; valid under any dependence).
- `fit_beta_binomial`: the prior Beta(a, b) of a family of rates, by marginal maximum
  likelihood of the beta-binomial (started from the method of moments); `posterior` shrinks
  each member towards it, with an equal-tailed credible interval.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize, special
from scipy.stats import beta as beta_dist
from scipy.stats import hypergeom

__all__ = ["ALPHA", "BetaPrior", "Posterior", "excess_p", "excess_ps", "fit_beta_binomial", "holm",
           "posterior", "posteriors", "separated_ranks"]

ALPHA = 0.05  # the family-wise false-flag rate every flag and alert is held to
MAX_PRECISION = 1e6  # a + b beyond this: no spread between members worth modelling


def excess_p(x: int, n: int, x_ref: int, n_ref: int) -> float:
    """Return the one-sided Fisher exact p-value that x/n exceeds x_ref/n_ref by chance.

    Given the margins (x + x_ref successes among n + n_ref), the group's count is
    hypergeometric under "no difference"; the p-value is P(X >= x). 1.0 when either side is empty.
    """
    if n <= 0 or n_ref <= 0:
        return 1.0
    if not (0 <= x <= n and 0 <= x_ref <= n_ref):
        raise ValueError("counts outside their totals")
    total, successes = n + n_ref, x + x_ref
    return float(min(1.0, hypergeom.sf(x - 1, total, successes, n)))


def excess_ps(x: Sequence[int], n: Sequence[int], x_ref: Sequence[int], n_ref: Sequence[int]
              ) -> list[float]:
    """Return excess_p for many groups at once (one vectorised hypergeometric tail)."""
    xa, na, xr, nr = (np.asarray(v, dtype=np.int64) for v in (x, n, x_ref, n_ref))
    if xa.size == 0:
        return []
    if np.any((xa < 0) | (xa > na) | (xr < 0) | (xr > nr)):
        raise ValueError("counts outside their totals")
    p = hypergeom.sf(xa - 1, na + nr, xa + xr, na)
    p = np.where((na <= 0) | (nr <= 0), 1.0, np.minimum(1.0, p))
    return [float(v) for v in p]


def holm(p_values: Sequence[float], alpha: float = ALPHA) -> list[bool]:
    """Return, for each p-value, whether Holm's step-down procedure rejects it at level alpha.

    Sorted ascending, the k-th smallest (from 0) is rejected while p <= alpha / (m - k); the
    first that is not stops the procedure. Family-wise error <= alpha under any dependence.
    """
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    out = [False] * m
    for k, i in enumerate(order):
        if p_values[i] > alpha / (m - k):
            break
        out[i] = True
    return out


@dataclass(frozen=True, slots=True)
class BetaPrior:
    """A family's rates as Beta(a, b): mean a / (a + b), precision a + b."""

    a: float
    b: float

    @property
    def mean(self) -> float:
        return self.a / (self.a + self.b)


def _loglik(a: float, b: float, x: np.ndarray, n: np.ndarray) -> float:
    """Beta-binomial log-likelihood without the binomial coefficients (constant in a, b)."""
    return float(np.sum(special.betaln(x + a, n - x + b)) - len(x) * special.betaln(a, b))


def fit_beta_binomial(x: Sequence[float], n: Sequence[float]) -> BetaPrior:
    """Fit Beta(a, b) to successes x out of n per member by marginal maximum likelihood.

    Counts may be fractional (effective counts of a weighted sample). Members with n = 0 carry
    nothing and are left out. With no spread beyond binomial noise the precision a + b is
    capped at MAX_PRECISION (every member is then shrunk all but fully to the pooled rate).
    With no data at all, the uniform Beta(1, 1).
    """
    xa, na = np.asarray(x, dtype=float), np.asarray(n, dtype=float)
    keep = na > 0
    xa, na = xa[keep], na[keep]
    if xa.size == 0:
        return BetaPrior(1.0, 1.0)
    pooled = float(np.clip(xa.sum() / na.sum(), 1e-4, 1 - 1e-4))
    # Method of moments for a start: the spread of the raw rates beyond binomial noise.
    rates = xa / na
    var = float(np.var(rates)) if xa.size > 1 else 0.0
    noise = float(np.mean(pooled * (1 - pooled) / na))
    excess = var - noise
    precision = pooled * (1 - pooled) / excess - 1 if excess > 0 else 1e3
    precision = float(np.clip(precision, 0.1, MAX_PRECISION))

    def neg(theta: np.ndarray) -> float:
        mu = float(np.clip(special.expit(theta[0]), 1e-9, 1 - 1e-9))
        s = math.exp(float(np.clip(theta[1], -10.0, math.log(MAX_PRECISION))))
        value = -_loglik(mu * s, (1 - mu) * s, xa, na)
        return value if math.isfinite(value) else math.inf

    start = np.array([special.logit(pooled), math.log(precision)])
    start = np.clip(start, [-20.0, -10.0], [20.0, math.log(MAX_PRECISION)])
    res = optimize.minimize(neg, start, method="L-BFGS-B",
                            bounds=[(-20.0, 20.0), (-10.0, math.log(MAX_PRECISION))],
                            options={"ftol": 1e-12, "gtol": 1e-8, "maxiter": 500})
    theta = res.x if res.fun <= neg(start) else start
    mu = float(np.clip(special.expit(theta[0]), 1e-9, 1 - 1e-9))
    s = math.exp(float(np.clip(theta[1], -10.0, math.log(MAX_PRECISION))))
    return BetaPrior(mu * s, (1 - mu) * s)


@dataclass(frozen=True, slots=True)
class Posterior:
    """One member's shrunk rate: posterior mean and equal-tailed credible interval."""

    mean: float
    low: float
    high: float


def posterior(x: float, n: float, prior: BetaPrior, level: float = 0.95) -> Posterior:
    """Return the Beta(a + x, b + n - x) posterior's mean and central `level` interval."""
    a, b = prior.a + x, prior.b + n - x
    tail = (1 - level) / 2
    low, high = beta_dist.ppf([tail, 1 - tail], a, b)
    return Posterior(a / (a + b), float(low), float(high))


def posteriors(x: Sequence[float], n: Sequence[float], prior: BetaPrior, level: float = 0.95
               ) -> list[Posterior]:
    """Return posterior() for many members at once (vectorised inverse incomplete beta)."""
    a = prior.a + np.asarray(x, dtype=float)
    b = prior.b + np.asarray(n, dtype=float) - np.asarray(x, dtype=float)
    if a.size == 0:
        return []
    tail = (1 - level) / 2
    low, high = special.betaincinv(a, b, tail), special.betaincinv(a, b, 1 - tail)
    mean = a / (a + b)
    return [Posterior(float(m), float(lo), float(hi)) for m, lo, hi in zip(mean, low, high,
                                                                           strict=True)]


def separated_ranks(intervals: Sequence[tuple[float, float]]
                    ) -> list[tuple[int | None, int, int]]:
    """Rank members (higher is better) only where their intervals separate them from all others.

    For each member: (rank, best, worst). best = 1 + the members whose interval lies wholly
    above its own; worst = n - the members whose interval lies wholly below. rank is best when
    best == worst (the member's interval overlaps no other), else None: where intervals
    overlap, the order is not known, so none is given.
    """
    if not intervals:
        return []
    lo = np.array([i[0] for i in intervals], dtype=float)
    hi = np.array([i[1] for i in intervals], dtype=float)
    count = len(intervals)
    # wholly above member i: lo_j > hi_i; wholly below: hi_j < lo_i (never i itself, as
    # lo_i <= hi_i)
    above = count - np.searchsorted(np.sort(lo), hi, side="right")
    below = np.searchsorted(np.sort(hi), lo, side="left")
    out: list[tuple[int | None, int, int]] = []
    for a, b in zip(above, below, strict=True):
        best, worst = 1 + int(a), count - int(b)
        out.append((best if best == worst else None, best, worst))
    return out
