"""Per-latent stability across seeds (Gerasimov et al. 2026, "Unstable
Features, Reproducible Subspaces"): for each latent of each SAE, the fraction
of the other seeds in which it is shared, with a confidence interval over the
choice of seeds, and how that relates to how often the latent fires and to
how much of the reconstruction it carries.

    >>> st = sm.stability(saes, data=acts)          # or sm.stability(many_report, saes=saes, data=acts)
    >>> st.summary(); st.tables["per_latent"]; sm.plot.stability(st)

The matchings are not recomputed: stability is the multi-seed report's share
counts over N - 1, and the intervals resample the other seeds' pair reports.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from saematch import _intervals
from saematch.compare import ManyReport, _check_threshold, compare_many

GROUPS = ("stable", "partly", "unstable")


@dataclass
class Stability:
    """Per-latent stability of N SAEs and its relations, as tidy tables.

    ``tables["per_latent"]``: one row per latent of every SAE (columns
    ``sae``, ``latent``, ``shared_with``, ``stability`` = shared_with / (N-1),
    ``ci_low``, ``ci_high``, ``group``, and when known ``firing`` and
    ``fvu_rise``). ``tables["per_sae"]``: one row per SAE (mean stability and
    its interval, group sizes, rank correlations of stability with firing and
    with FVU rise, the SAE's FVU on ``data``). ``tables["groups"]``: one row
    per SAE and group (``stable``: shared with every other seed; ``unstable``:
    with none; ``partly``: the rest), with its mean firing, summed
    single-latent FVU rise and the FVU rise when the whole group is ablated.
    Every table is a dict of equal-length NumPy columns; :meth:`to_frame`
    makes a pandas DataFrame of one.
    """

    threshold: float
    rule: str
    n_saes: int
    level: float
    interval: str
    firing_source: str | None
    tables: dict
    report: ManyReport = field(repr=False)

    def of(self, sae: int, column: str = "stability") -> np.ndarray:
        """One column of the per-latent table for SAE ``sae``, in latent order."""
        t = self.tables["per_latent"]
        if column not in t:
            raise KeyError(f"no per-latent column {column!r}; there are {sorted(t)}")
        return t[column][t["sae"] == sae]

    def to_frame(self, table: str = "per_latent"):
        """A table as a pandas DataFrame (pandas is imported here only)."""
        from saematch.compare import _pandas

        if table not in self.tables:
            raise KeyError(f"no table {table!r}; there are {sorted(self.tables)}")
        return _pandas().DataFrame(self.tables[table])

    def to_dict(self) -> dict:
        """Everything, JSON-serialisable (NaN written as None)."""
        def column(v):
            v = np.asarray(v)
            if v.dtype.kind == "f":
                return [None if not np.isfinite(x) else float(x) for x in v]
            return v.tolist()

        return {"threshold": self.threshold, "rule": self.rule, "n_saes": self.n_saes, "level": self.level,
                "interval": self.interval, "firing_source": self.firing_source,
                "tables": {name: {k: column(v) for k, v in t.items()} for name, t in self.tables.items()}}

    def summary(self) -> str:
        s = self.tables["per_sae"]
        lines = [f"stability of {self.n_saes} SAEs, rule {self.rule}, t = {self.threshold:g}, "
                 f"{self.level:.0%} {self.interval} intervals over the other seeds"]
        for b in range(self.n_saes):
            line = (f"SAE {b}: mean {s['mean_stability'][b]:.3f} [{s['ci_low'][b]:.3f}, {s['ci_high'][b]:.3f}]; "
                    f"stable {s['stable'][b]}, partly {s['partly'][b]}, unstable {s['unstable'][b]}")
            if "spearman_firing" in s:
                line += f"; rank corr. with firing {s['spearman_firing'][b]:+.2f}"
            if "fvu" in s:
                line += (f"; FVU {s['fvu'][b]:.3f}, {s['fvu_rise_stable'][b]:+.3f} without the stable, "
                         f"{s['fvu_rise_unstable'][b]:+.3f} without the unstable")
            lines.append(line)
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"Stability\n{self.summary()}"


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Rank correlation with average ranks for ties; NaN when either side is constant."""
    def ranks(v):
        order = np.argsort(v, kind="stable")
        r = np.empty(v.size, dtype=np.float64)
        r[order] = np.arange(v.size)
        _, inverse, counts = np.unique(v, return_inverse=True, return_counts=True)
        sums = np.bincount(inverse, weights=r)
        return (sums / counts)[inverse]

    if x.size < 2:
        return float("nan")
    rx, ry = ranks(np.asarray(x, float)), ranks(np.asarray(y, float))
    rx -= rx.mean()
    ry -= ry.mean()
    denom = np.sqrt((rx * rx).sum() * (ry * ry).sum())
    return float((rx * ry).sum() / denom) if denom > 0 else float("nan")


def _per_pair_shared(report: ManyReport, b: int) -> list:
    """SAE b's shared mask against each other SAE, in the other SAEs' order."""
    masks = []
    for (i, j), p in sorted(report.pairs.items()):
        if i == b:
            masks.append(np.asarray(p.shared, dtype=bool))
        elif j == b:
            masks.append(np.asarray(p.b_side["shared"], dtype=bool))
    return masks


def _firing_of(saes, report, firing_counts, n_latents):
    """Per SAE a firing array (counts or frequencies; the relations use ranks),
    and where it came from; (None, None) when nothing gives one."""
    if firing_counts is not None:
        source = "firing_counts"
        counts = list(firing_counts)
    elif report.firing_counts is not None:
        source, counts = "report", list(report.firing_counts)
    elif saes is not None and all(getattr(s, "firing_counts", None) is not None for s in saes):
        source, counts = "training", [s.firing_counts for s in saes]
    else:
        return None, None
    out = []
    for b, (c, n) in enumerate(zip(counts, n_latents)):
        c = np.asarray(c.detach().cpu() if hasattr(c, "detach") else c, dtype=np.float64)
        if c.shape != (n,) or not np.all(np.isfinite(c)) or np.any(c < 0):
            raise ValueError(f"firing counts of SAE {b} ({source}) must be {n} finite non-negative numbers, "
                             f"got shape {c.shape}")
        out.append(c)
    return out, source


def stability(
    saes_or_report,
    threshold: float | None = None,
    rule: str | None = None,
    *,
    saes=None,
    data=None,
    firing_counts=None,
    level: float = 0.95,
    interval: str = "bootstrap",
    batch_size: int = 1024,
    progress: bool = False,
    **compare_options,
) -> Stability:
    """Per-latent stability of N >= 2 SAEs trained with different seeds.

    ``saes_or_report``: the SAEs (anything :func:`saematch.compare_many`
    takes; it is run here with ``compare_options``) or a
    :class:`~saematch.ManyReport` (its matchings are reused).
    ``threshold``/``rule``: the shared rule (default: the report's, or 0.7 and
    ``"paper"``); another one than the report's is applied to its matchings
    without matching again.

    Stability of latent i of SAE b = the number of the other N-1 SAEs in which
    it is shared, over N-1. ``interval``: ``"bootstrap"`` (default; the other
    seeds resampled with replacement, exact, so a latent shared with none or
    all of them gets a zero-width interval) or ``"wilson"`` (the seeds as
    Bernoulli trials; never zero-width), at confidence ``level``. Each SAE's
    mean stability gets the bootstrap interval over its per-seed shared
    fractions.

    Firing: ``firing_counts`` (one array per SAE), else the report's, else
    the SAEs' training counts; with ``data`` the fraction of its tokens on
    which each latent is non-zero. ``data`` (tokens, d), with saematch SAEs
    (``saes=`` when the first argument is a report): each latent's FVU rise
    when it is ablated, and each group's (stable / partly / unstable) when
    the whole group is, in batches of ``batch_size`` tokens.
    """
    if isinstance(saes_or_report, ManyReport):
        report = saes_or_report
        if threshold is not None or rule is not None:
            report = report.with_rule(rule, threshold)
    else:
        if saes is None and data is not None:
            saes = list(saes_or_report)
        saes_or_report = list(saes_or_report)
        report = compare_many(saes_or_report, threshold=0.7 if threshold is None else threshold,
                              rule="paper" if rule is None else rule, progress=progress, **compare_options)
        if saes is None:
            saes = saes_or_report
    threshold = _check_threshold(report.threshold, report.rule)
    if interval not in _intervals.INTERVALS:
        raise ValueError(f"interval must be one of {_intervals.INTERVALS}, got {interval!r}")
    if not (isinstance(level, (float, int)) and 0.0 < level < 1.0):
        raise ValueError(f"level must be a confidence in (0, 1), e.g. 0.95; got {level!r}")
    counts = [np.asarray(c, dtype=np.int64) for c in report.share_counts]
    n_saes = len(counts)
    others = n_saes - 1
    n_latents = [c.size for c in counts]
    if saes is not None:
        saes = list(saes)
        if len(saes) != n_saes:
            raise ValueError(f"saes holds {len(saes)} SAEs but the report compares {n_saes}")
        if data is not None:
            from saematch._ablation import _check_model

            for b, s in enumerate(saes):
                _check_model(s, f"saes[{b}]")
                if getattr(s, "decoder", None) is None or s.decoder.shape[0] != n_latents[b]:
                    raise ValueError(f"saes[{b}] does not have the {n_latents[b]} latents the report gives SAE {b}")

    firing, source = _firing_of(saes, report, firing_counts, n_latents)
    ablations = None
    if data is not None:
        if saes is None:
            raise ValueError("data= needs the SAEs themselves to encode it: pass saes=[...] with the report")
        from saematch._ablation import fvu_rise

        ablations = []
        for b, s in enumerate(saes):
            groups = _group_masks(counts[b], others)
            ablations.append(fvu_rise(s, data, groups, batch_size=batch_size, name=f"saes[{b}]"))
        firing, source = [a["firing"] for a in ablations], "data"

    per_latent = {k: [] for k in ("sae", "latent", "shared_with", "stability", "ci_low", "ci_high", "group")}
    if firing is not None:
        per_latent["firing"] = []
    if ablations is not None:
        per_latent["fvu_rise"] = []
    per_sae = {k: [] for k in ("sae", "latents", "mean_stability", "ci_low", "ci_high", *GROUPS)}
    groups_t = {k: [] for k in ("sae", "group", "latents")}
    if firing is not None:
        per_sae["spearman_firing"] = []
        groups_t["mean_firing"] = []
    if ablations is not None:
        for k in ("fvu", "spearman_fvu_rise", *(f"fvu_rise_{g}" for g in GROUPS)):
            per_sae[k] = []
        groups_t["summed_fvu_rise"] = []
        groups_t["group_fvu_rise"] = []

    for b in range(n_saes):
        m = counts[b]
        stab = m / others
        low, high = _intervals.latent_intervals(m, others, level, interval)
        masks = _group_masks(m, others)
        group = np.full(m.size, "", dtype=object)
        for g, mask in masks.items():
            group[mask] = g
        per_latent["sae"].append(np.full(m.size, b))
        per_latent["latent"].append(np.arange(m.size))
        per_latent["shared_with"].append(m)
        per_latent["stability"].append(stab)
        per_latent["ci_low"].append(low)
        per_latent["ci_high"].append(high)
        per_latent["group"].append(group.astype(str))
        per_seed = np.array([mask.mean() if mask.size else np.nan for mask in _per_pair_shared(report, b)])
        lo, hi = _intervals.mean_interval(per_seed, level) if m.size else (np.nan, np.nan)
        per_sae["sae"].append(b)
        per_sae["latents"].append(m.size)
        per_sae["mean_stability"].append(float(stab.mean()) if m.size else np.nan)
        per_sae["ci_low"].append(lo)
        per_sae["ci_high"].append(hi)
        for g in GROUPS:
            per_sae[g].append(int(masks[g].sum()))
        if firing is not None:
            per_latent["firing"].append(firing[b])
            per_sae["spearman_firing"].append(_spearman(stab, firing[b]))
        if ablations is not None:
            a = ablations[b]
            per_latent["fvu_rise"].append(a["rise"])
            per_sae["fvu"].append(a["fvu"])
            per_sae["spearman_fvu_rise"].append(_spearman(stab, a["rise"]))
            for g in GROUPS:
                per_sae[f"fvu_rise_{g}"].append(a["groups"][g])
        for g in GROUPS:
            mask = masks[g]
            groups_t["sae"].append(b)
            groups_t["group"].append(g)
            groups_t["latents"].append(int(mask.sum()))
            if firing is not None:
                groups_t["mean_firing"].append(float(firing[b][mask].mean()) if mask.any() else np.nan)
            if ablations is not None:
                groups_t["summed_fvu_rise"].append(float(ablations[b]["rise"][mask].sum()))
                groups_t["group_fvu_rise"].append(ablations[b]["groups"][g])

    tables = {
        "per_latent": {k: np.concatenate(v) if v else np.array([]) for k, v in per_latent.items()},
        "per_sae": {k: np.asarray(v) for k, v in per_sae.items()},
        "groups": {k: np.asarray(v) for k, v in groups_t.items()},
    }
    return Stability(threshold=threshold, rule=report.rule, n_saes=n_saes, level=float(level), interval=interval,
                     firing_source=source, tables=tables, report=report)


def _group_masks(shared_with: np.ndarray, others: int) -> dict:
    return {"stable": shared_with == others, "partly": (shared_with > 0) & (shared_with < others),
            "unstable": shared_with == 0}


__all__ = ["stability", "Stability", "GROUPS"]
