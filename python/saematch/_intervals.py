"""Confidence intervals over the choice of seeds, for per-latent stability.

A latent's stability is the fraction of the n other seeds in which it is
shared. The seeds are the sampled units, so the bootstrap resamples *them*:
draw n of the other seeds with replacement and recount. Both intervals here
are exact (no random draws), so a result never depends on a sampling seed:

- one latent with m hits: the resampled hit count is Binomial(n, m / n), and
  the percentile interval is two of its quantiles;
- a whole SAE's mean stability is the mean of its per-seed shared fractions
  f_1..f_n; its resampled mean is enumerated over every multiset of the n
  seeds with its multinomial weight (C(2n - 1, n) multisets: 92,378 at n = 10),
  and drawn at random (seeded) beyond that.
"""

from __future__ import annotations

import itertools
import math
from statistics import NormalDist

import numpy as np

INTERVALS = ("bootstrap", "wilson")
_MAX_MULTISETS = 100_000


def _inverse_cdf(values: np.ndarray, weights: np.ndarray, p: float) -> float:
    """The smallest value whose cumulative weight reaches p (the percentile
    bootstrap's quantile, the same definition the tests enumerate)."""
    order = np.argsort(values, kind="stable")
    cum = np.cumsum(weights[order])
    # A relative tolerance: the summed weights of a quantile that lands exactly
    # on a step (p = 0.5 of a symmetric distribution) must not miss it by one ulp.
    index = int(np.searchsorted(cum, p * cum[-1] * (1 - 1e-12), side="left"))
    return float(values[order][min(index, len(order) - 1)])


def _binomial_pmf(n: int, p: float) -> np.ndarray:
    k = np.arange(n + 1)
    logs = np.array([math.lgamma(n + 1) - math.lgamma(j + 1) - math.lgamma(n - j + 1) for j in k])
    if p <= 0.0:
        return (k == 0).astype(np.float64)
    if p >= 1.0:
        return (k == n).astype(np.float64)
    return np.exp(logs + k * math.log(p) + (n - k) * math.log1p(-p))


def latent_intervals(hits: np.ndarray, n: int, level: float, method: str) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) of each latent's stability hits / n at confidence ``level``."""
    hits = np.asarray(hits, dtype=np.int64)
    low = np.empty(hits.shape, dtype=np.float64)
    high = np.empty(hits.shape, dtype=np.float64)
    alpha = 1.0 - level
    if method == "bootstrap":
        support = np.arange(n + 1, dtype=np.float64) / n
        for m in np.unique(hits):  # at most n + 1 distinct counts
            pmf = _binomial_pmf(n, m / n)
            at = hits == m
            low[at] = _inverse_cdf(support, pmf, alpha / 2)
            high[at] = _inverse_cdf(support, pmf, 1 - alpha / 2)
        return low, high
    if method == "wilson":  # the seeds as Bernoulli trials; never collapses to a point at 0 or n hits
        z = NormalDist().inv_cdf(1 - alpha / 2)
        p = hits / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        return np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)
    raise ValueError(f"interval must be one of {INTERVALS}, got {method!r}")


def mean_interval(per_seed: np.ndarray, level: float, draws: int = 20_000, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of mean(per_seed) with the seeds resampled."""
    f = np.asarray(per_seed, dtype=np.float64)
    n = f.size
    alpha = 1.0 - level
    if math.comb(2 * n - 1, n) <= _MAX_MULTISETS:
        means, weights = [], []
        log_n = n * math.log(n)
        for multiset in itertools.combinations_with_replacement(range(n), n):
            counts = np.bincount(multiset, minlength=n)
            means.append(f[list(multiset)].mean())
            weights.append(math.exp(math.lgamma(n + 1) - sum(math.lgamma(c + 1) for c in counts) - log_n))
        means, weights = np.asarray(means), np.asarray(weights)
    else:
        rng = np.random.default_rng(seed)
        means = f[rng.integers(0, n, size=(draws, n))].mean(axis=1)
        weights = np.ones(draws)
    return _inverse_cdf(means, weights, alpha / 2), _inverse_cdf(means, weights, 1 - alpha / 2)
