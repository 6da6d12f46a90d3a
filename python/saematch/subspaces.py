"""Do the latents two seeds do not share span the same subspace? (Gerasimov
et al. 2026: unstable latents are individually non-reproducible but lie in
lower-rank subspaces that are.)

For one pair of SAEs and one shared rule, the decoder (or encoder) vectors of
the unshared latents of each side span a subspace; its principal angles with
the other side's are the arccosines of the singular values of Q_a^T Q_b (Q an
orthonormal basis of each span). The same is done for random subspaces of the
same ranks (the null) and, as a check, for the shared latents.

A span of many latents fills the whole space (every cosine 1, nothing
learnt), so the rank at which the unshared parts become reproducible is read
from each side's leading principal directions: for r = 1, 2, ..., the top-r
right singular vectors of each side's unit rows, and the smallest principal
cosine between those two r-dimensional subspaces. The reproducible rank is the
largest r at which that cosine is at least ``cos_threshold`` and above the
null's quantile for random r-dimensional subspaces.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from saematch.compare import ManyReport, PairReport, _check_threshold, compare, encoder_decoder

PARTS = ("decoder", "encoder")


def orthonormal_basis(rows: np.ndarray, rtol: float | None = None) -> np.ndarray:
    """(d, rank) orthonormal basis of the span of ``rows`` (k, d): the left
    singular vectors of rows^T whose singular values exceed ``rtol`` times the
    largest (so duplicates and zero rows add no dimension). ``rtol=None``:
    max(k, d) times the machine epsilon of the rows' dtype -- float32 weights'
    rounding is no dimension."""
    rows = np.asarray(rows)
    if rtol is None:
        eps = np.finfo(rows.dtype if rows.dtype in (np.float32, np.float64) else np.float64).eps
        rtol = max(rows.shape) * eps
    rows = rows.astype(np.float64)
    if rows.shape[0] == 0:
        return np.zeros((rows.shape[1], 0))
    u, s, _ = np.linalg.svd(rows.T, full_matrices=False)
    if s.size == 0 or s[0] == 0:
        return np.zeros((rows.shape[1], 0))
    return u[:, s > rtol * s[0]]


def principal_cosines(qa: np.ndarray, qb: np.ndarray) -> np.ndarray:
    """Cosines of the principal angles between span(qa) and span(qb) (both
    orthonormal columns), largest first; min(rank_a, rank_b) of them."""
    if qa.shape[1] == 0 or qb.shape[1] == 0:
        return np.zeros(0)
    return np.clip(np.linalg.svd(qa.T @ qb, compute_uv=False), 0.0, 1.0)


def leading_directions(rows: np.ndarray, r: int) -> np.ndarray:
    """(d, r) orthonormal: the top-r right singular vectors of the unit rows
    (the directions most of the set's latents lie along)."""
    rows = _unit(rows).astype(np.float64)
    _, s, vt = np.linalg.svd(rows, full_matrices=False)
    return vt[:r].T


def _unit(rows):
    """Unit rows, zero rows dropped, in float64 unless they are float32 (whose
    rounding decides the rank tolerance)."""
    rows = np.asarray(rows)
    dtype = np.float32 if rows.dtype == np.float32 else np.float64
    wide = rows.astype(np.float64)
    norms = np.linalg.norm(wide, axis=1, keepdims=True)
    return (wide[norms[:, 0] > 0] / norms[norms[:, 0] > 0]).astype(dtype)


def _random_cosines(d: int, ra: int, rb: int, draws: int, rng) -> np.ndarray:
    """(draws, min(ra, rb)) principal cosines of pairs of random subspaces
    (Gaussian matrices' column spaces: uniform on the Grassmannian)."""
    out = np.zeros((draws, min(ra, rb)))
    for k in range(draws):
        qa, _ = np.linalg.qr(rng.standard_normal((d, ra)))
        qb, _ = np.linalg.qr(rng.standard_normal((d, rb)))
        out[k] = principal_cosines(qa, qb)
    return out


@dataclass
class SubspaceOverlap:
    """Principal angles between two SAEs' unshared (and shared) latent spans.

    ``unshared`` / ``shared``: dicts with ``latents`` (a, b), ``rank`` (a, b),
    ``cosines`` (principal cosines, largest first), ``null_mean`` and
    ``null_high`` (per index: the mean and the ``level`` quantile over random
    subspaces of the same ranks), ``above_null`` (how many cosines exceed
    ``null_high``), ``reproducible`` (how many also reach ``cos_threshold``: the
    dimension the two spans have in common; meaningful while the spans do not
    fill the space, i.e. ranks well below d). ``by_rank``: per r = 1..max_rank, columns ``rank``,
    ``min_cos`` and ``mean_sq_cos`` between the top-r principal directions of
    each side's unshared latents, and ``null_min_cos_high`` (the ``level``
    quantile of ``min_cos`` for random r-dimensional subspaces).
    ``reproducible_rank``: the largest r whose ``min_cos`` is >= ``cos_threshold``
    and above the null (0: none).
    """

    part: str
    rule: str
    threshold: float
    cos_threshold: float
    level: float
    d: int
    unshared: dict
    shared: dict
    by_rank: dict
    reproducible_rank: int
    pair: tuple = field(default=(0, 1))

    def summary(self) -> str:
        u, s = self.unshared, self.shared
        lines = [f"SAEs {self.pair[0]} and {self.pair[1]}, {self.part} vectors, rule {self.rule}, "
                 f"t = {self.threshold:g}, d = {self.d}"]
        for name, x in (("unshared", u), ("shared", s)):
            c = x["cosines"]
            lines.append(f"{name}: {x['latents'][0]} / {x['latents'][1]} latents, ranks {x['rank'][0]} / "
                         f"{x['rank'][1]}; mean principal cosine {c.mean() if c.size else float('nan'):.3f} "
                         f"(random: {x['null_mean'].mean() if c.size else float('nan'):.3f}); "
                         f"{x['above_null']} of {c.size} above the {self.level:.0%} null, {x['reproducible']} also "
                         f">= {self.cos_threshold:g}")
        lines.append(f"unshared parts reproducible up to rank {self.reproducible_rank} "
                     f"(smallest principal cosine of the top-r directions >= {self.cos_threshold:g})")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"SubspaceOverlap\n{self.summary()}"

    def to_dict(self) -> dict:
        def plain(x):
            if isinstance(x, dict):
                return {k: plain(v) for k, v in x.items()}
            if isinstance(x, (np.ndarray, tuple, list)):
                return np.asarray(x).tolist()
            return x

        return plain({k: getattr(self, k) for k in self.__dataclass_fields__})


def _span_overlap(rows_a, rows_b, d, draws, level, rng, cos_threshold) -> dict:
    qa, qb = orthonormal_basis(_unit(rows_a)), orthonormal_basis(_unit(rows_b))
    cos = principal_cosines(qa, qb)
    null = _random_cosines(d, qa.shape[1], qb.shape[1], draws, rng) if cos.size else np.zeros((draws, 0))
    high = np.quantile(null, level, axis=0) if cos.size else np.zeros(0)
    return {"latents": (int(len(rows_a)), int(len(rows_b))), "rank": (qa.shape[1], qb.shape[1]), "cosines": cos,
            "null_mean": null.mean(axis=0) if cos.size else np.zeros(0), "null_high": high,
            "above_null": int((cos > high).sum()), "reproducible": int(((cos > high) & (cos >= cos_threshold)).sum())}


def subspace_overlap(
    report_or_saes,
    saes=None,
    pair: tuple = (0, 1),
    *,
    threshold: float | None = None,
    rule: str | None = None,
    part: str = "decoder",
    max_rank: int = 32,
    cos_threshold: float | None = None,
    level: float = 0.99,
    null_draws: int = 200,
    seed: int = 0,
    within=None,
    **compare_options,
) -> SubspaceOverlap:
    """Principal angles between the spans of the latents that SAEs a and b
    do not share (and, as a check, of those they do).

    ``report_or_saes``: two SAEs (anything :func:`saematch.compare` takes;
    matched here), or a :class:`~saematch.PairReport` or
    :class:`~saematch.ManyReport` with ``saes`` (their weights: reports hold
    none); ``pair`` picks two SAEs of a ManyReport (and of ``saes``).
    ``threshold``/``rule``: which latents count as shared (default: the
    report's, or 0.7 and ``"paper"``). ``part``: ``"decoder"`` (default) or
    ``"encoder"`` vectors. ``max_rank``: the largest r of the leading-direction
    comparison. ``cos_threshold``: the principal cosine a reproducible
    direction needs (default: the shared rule's threshold).
    ``level``/``null_draws``/``seed``: the quantile of the random-subspace null,
    the number of random pairs and their seed. ``within``: optional ``(mask_a,
    mask_b)`` bool masks over each SAE's latents; only those latents take part
    (e.g. the latents near a region of interest), the shared rule still
    deciding which of them are shared.
    """
    if part not in PARTS:
        raise ValueError(f"part must be one of {PARTS}, got {part!r}")
    if not (isinstance(level, (float, int)) and 0 < level < 1):
        raise ValueError(f"level must be in (0, 1), e.g. 0.99; got {level!r}")
    for name, v, lo in (("max_rank", max_rank, 1), ("null_draws", null_draws, 1)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
    i, j = pair
    if isinstance(report_or_saes, ManyReport):
        key = (min(i, j), max(i, j))
        if key not in report_or_saes.pairs or i == j:
            raise ValueError(f"pair {pair} is not a pair of the report's {len(report_or_saes.share_counts)} SAEs")
        report = report_or_saes.pairs[key]
        if saes is None:
            raise ValueError("a ManyReport holds no weights: pass saes=[...] (the SAEs it compared)")
        weights = (saes[key[0]], saes[key[1]])
        flip = i > j
    elif isinstance(report_or_saes, PairReport):
        if saes is None or len(saes) != 2:
            raise ValueError("a PairReport holds no weights: pass saes=(a, b), the two SAEs it compared")
        report, weights, flip = report_or_saes, tuple(saes), False
    else:
        both = list(report_or_saes)
        if len(both) != 2:
            raise ValueError(f"pass two SAEs (or a report with saes=), got {len(both)}")
        report = compare(both[0], both[1], threshold=0.7 if threshold is None else threshold,
                         rule="paper" if rule is None else rule, progress=False, **compare_options)
        weights, flip = tuple(both), False
    if threshold is not None or rule is not None:
        report = report.with_rule(rule, threshold)
    t = _check_threshold(report.threshold, report.rule)
    cos_threshold = t if cos_threshold is None else float(cos_threshold)
    mask_a, mask_b = np.asarray(report.shared, bool), np.asarray(report.b_side["shared"], bool)
    rows = []
    for w, mask, name in zip(weights, (mask_a, mask_b), ("a", "b")):
        enc, dec = encoder_decoder(w, name)
        v = dec if part == "decoder" else enc
        if v.shape[0] != mask.size:
            raise ValueError(f"SAE {name} has {v.shape[0]} latents but the report gives it {mask.size}: "
                             "pass the SAEs the report compared, in its order")
        rows.append(v)
    if flip:
        rows, (mask_a, mask_b) = rows[::-1], (mask_b, mask_a)
    keep = [np.ones(mask_a.size, bool), np.ones(mask_b.size, bool)]
    if within is not None:
        if len(within) != 2:
            raise ValueError("within must be (mask_a, mask_b), one bool mask per SAE of the pair")
        keep = [np.asarray(m, dtype=bool) for m in within]
        for m, n, name in zip(keep, (mask_a.size, mask_b.size), ("a", "b")):
            if m.shape != (n,):
                raise ValueError(f"within's mask for SAE {name} must have one entry per latent ({n}), got {m.shape}")
    rows = [rows[0][keep[0]], rows[1][keep[1]]]
    mask_a, mask_b = mask_a[keep[0]], mask_b[keep[1]]
    d = rows[0].shape[1]
    rng = np.random.default_rng(seed)
    unshared = _span_overlap(rows[0][~mask_a], rows[1][~mask_b], d, null_draws, level, rng, cos_threshold)
    shared = _span_overlap(rows[0][mask_a], rows[1][mask_b], d, null_draws, level, rng, cos_threshold)

    ua, ub = _unit(rows[0][~mask_a]), _unit(rows[1][~mask_b])
    top = min(max_rank, ua.shape[0], ub.shape[0], d)
    by_rank = {"rank": np.arange(1, top + 1), "min_cos": np.zeros(top), "mean_sq_cos": np.zeros(top),
               "null_min_cos_high": np.zeros(top)}
    reproducible = 0
    if top:
        la, lb = leading_directions(ua, top), leading_directions(ub, top)
        for r in range(1, top + 1):
            c = principal_cosines(la[:, :r], lb[:, :r])
            null = _random_cosines(d, r, r, null_draws, rng)[:, -1]
            by_rank["min_cos"][r - 1] = c[-1]
            by_rank["mean_sq_cos"][r - 1] = float((c * c).mean())
            by_rank["null_min_cos_high"][r - 1] = np.quantile(null, level)
            if c[-1] >= cos_threshold and c[-1] > by_rank["null_min_cos_high"][r - 1]:
                reproducible = r
    return SubspaceOverlap(part=part, rule=report.rule, threshold=t, cos_threshold=cos_threshold, level=float(level),
                           d=d, unshared=unshared, shared=shared, by_rank=by_rank, reproducible_rank=reproducible,
                           pair=(int(i), int(j)))


__all__ = ["subspace_overlap", "SubspaceOverlap", "orthonormal_basis", "principal_cosines", "PARTS"]
