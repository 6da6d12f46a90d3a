"""The paper's figures (Paulo & Belrose, "Sparse Autoencoders Trained on the
Same Data Learn Different Features"), one function each.

Every function returns a :class:`matplotlib.figure.Figure` and, given
``path=``, also saves it there (the format follows the suffix; PNG at 150 dpi
by default). The figure is closed in pyplot before it is returned, so a
notebook shows it once, as the cell's value (not twice); a call that is not a
cell's last line shows nothing unless you ``display()`` it, and a script saves
it (``path=`` or ``fig.savefig``) rather than ``plt.show()``-ing it. matplotlib is imported only when a function is called, so
``import saematch`` never pays for it; without a display (and with no backend
chosen by ``MPLBACKEND`` or an earlier ``matplotlib.use``) the Agg backend is
used, so the functions work on headless machines.

The reports are duck-typed; these are the attributes read:

pair report (SAE A against SAE B), one entry per latent of A:
    ``enc_cos``, ``dec_cos``      matched cosine in the encoder / decoder matching
    ``agree``                     bool, same partner in both matchings
    ``max_cos_enc``, ``max_cos_dec``  largest cosine with any latent of B
    ``threshold``                 float, the shared-rule threshold t (optional)
    ``sweep``                     dict: ``"threshold"`` (1-D array of t) and one
                                  1-D array of shared fractions per rule name,
                                  e.g. ``"paper"``, ``"separate"``, ``"decoder"``
multi-seed report:
    ``only_in_base``              dict k -> fraction only in the base SAE
                                  (a sequence is read as k = 2, 3, ...)
    ``fit``                       (a, b, c) of a·k^(−b) + c, or an object with
                                  ``a``, ``b``, ``c`` attributes; None or NaNs
                                  (no fit made) draw no curve

Arrays may be NumPy arrays, lists, or CPU torch tensors. Inconsistent input
raises ``ValueError`` naming the argument.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

import numpy as np

from saematch.compare import RULES

__all__ = ["matched_cosines", "only_in_base", "threshold_sweep", "matched_vs_max", "similarity_vs_frequency",
           "similarity_vs_frequency_many", "stability", "subspace_overlap", "stabilization"]

# The paper's colours: blue where the encoder and decoder matchings agree,
# orange where they do not.
_AGREE_COLOR = "C0"
_DISAGREE_COLOR = "C1"
_RULE_ORDER = RULES
_RULE_LABELS = {
    "paper": "paper: same partner, both cosines ≥ t",
    "separate": "separate: enc >= t and dec >= t",
    "decoder": "decoder: dec >= t",
}


# --------------------------------------------------------------------------
# matplotlib, lazily


def _pyplot():
    import matplotlib

    headless = sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    )
    # Respect any backend the user chose; only fill in Agg where the default
    # would look for a display that is not there.
    if headless and not os.environ.get("MPLBACKEND") and "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _finish(fig, path):
    if path is not None:
        fig.savefig(os.fspath(path), dpi=150, bbox_inches="tight")
    # A notebook draws every figure pyplot still holds at the end of a cell, and
    # then the cell's value, this same figure, again. Closed, pyplot forgets it
    # (nor do many calls pile up open figures); the Figure itself still draws,
    # saves and displays as a cell's value or with display(fig).
    import matplotlib.pyplot as plt

    plt.close(fig)
    return fig


# --------------------------------------------------------------------------
# Input checks


def _array(value, name: str, dtype=np.float64) -> np.ndarray:
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor
        value = value.detach().cpu().numpy()
    try:
        array = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name} must be a 1-D array of numbers: {e}") from None
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array (one value per latent), got shape {array.shape}")
    return array


def _attr(obj, name: str, owner: str, what: str):
    if not hasattr(obj, name):
        raise AttributeError(f"{owner} has no attribute {name!r}; {what}")
    return getattr(obj, name)


def _per_latent(report, names, owner: str, func: str) -> dict:
    """Reads the named per-latent arrays of a report and checks that they have
    one entry per latent (the length of the first)."""
    out = {}
    for name in names:
        dtype = bool if name == "agree" else np.float64
        out[name] = _array(_attr(report, name, owner, f"{func} needs a pair report with {', '.join(names)}"),
                           f"{owner}.{name}", dtype)
    first = names[0]
    for name in names[1:]:
        if out[name].shape != out[first].shape:
            raise ValueError(
                f"{owner}.{name} has {out[name].size} entries but {owner}.{first} has {out[first].size}; "
                "pass one value per latent of SAE A"
            )
    return out


def _threshold(report):
    t = getattr(report, "threshold", None)
    if t is None:
        return None
    t = float(t)
    if not np.isfinite(t):
        raise ValueError(f"report.threshold must be a finite number, got {t}")
    if not 0.0 <= t <= 1.0:  # a cosine threshold; 70 would draw its line far off the axes
        raise ValueError(f"report.threshold must be in [0, 1], got {t:g}")
    return t


# --------------------------------------------------------------------------
# Density contours (a Gaussian KDE evaluated on a grid, NumPy only)


def _gaussian_kernel(sigma_bins: float, max_radius: int) -> np.ndarray:
    radius = int(min(max_radius, max(1, np.ceil(3 * sigma_bins))))
    offsets = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (offsets / max(sigma_bins, 1e-12)) ** 2)
    return kernel / kernel.sum()


def _density_grid(x, y, xlim, ylim, bins: int = 120):
    """A Gaussian KDE on a bins×bins grid: the 2-D histogram smoothed with
    Scott's bandwidth (n^(−1/6)·std per axis). Returns (xs, ys, density) or
    None when the points have no spread to estimate from."""
    n = x.size
    if n < 10:  # also keeps np.std from warning on an empty group
        return None
    sx, sy = float(np.std(x)), float(np.std(y))
    if sx == 0.0 or sy == 0.0:
        return None
    hist, xe, ye = np.histogram2d(x, y, bins=bins, range=[xlim, ylim])
    bw = n ** (-1.0 / 6.0)
    # A kernel longer than the grid would make np.convolve's "same" output
    # longer than the grid too (121 values on 120 bins for few, spread-out points).
    kx = _gaussian_kernel(bw * sx / (xe[1] - xe[0]), (bins - 1) // 2)
    ky = _gaussian_kernel(bw * sy / (ye[1] - ye[0]), (bins - 1) // 2)
    smooth = np.apply_along_axis(np.convolve, 0, hist, kx, mode="same")
    smooth = np.apply_along_axis(np.convolve, 1, smooth, ky, mode="same")
    xs = 0.5 * (xe[:-1] + xe[1:])
    ys = 0.5 * (ye[:-1] + ye[1:])
    return xs, ys, smooth.T  # contour wants density[y, x]


def _mass_levels(density, fractions=(0.1, 0.3, 0.5, 0.7, 0.9)):
    """Density values whose upper level sets hold the given fractions of the
    mass (as seaborn's kdeplot draws them): the contour at fraction f encloses
    the densest region holding f of the points."""
    values = np.sort(density.ravel())[::-1]
    total = values.sum()
    if total <= 0:
        return []
    cumulative = np.cumsum(values) / total
    levels = sorted({float(values[min(np.searchsorted(cumulative, f), values.size - 1)]) for f in fractions})
    return [v for v in levels if v > 0]


def _contour(ax, x, y, xlim, ylim, color):
    grid = _density_grid(x, y, xlim, ylim)
    if grid is None:
        return
    xs, ys, density = grid
    levels = _mass_levels(density)
    if levels:
        ax.contour(xs, ys, density, levels=levels, colors=color, linewidths=0.8, alpha=0.9)


def _padded_limits(*arrays, pad: float = 0.05):
    values = np.concatenate([a[np.isfinite(a)] for a in arrays]) if arrays else np.zeros(0)
    if values.size == 0:
        return (0.0, 1.0)
    lo, hi = float(values.min()), float(values.max())
    span = hi - lo if hi > lo else 1.0
    return (lo - pad * span, hi + pad * span)


def _scatter_kwargs(n: int) -> dict:
    # Many thousands of latents: small translucent points, rasterized so that
    # vector output stays small.
    size = 4.0 if n > 5000 else 10.0
    alpha = 0.25 if n > 5000 else 0.6
    return dict(s=size, alpha=alpha, linewidths=0, rasterized=True)


# --------------------------------------------------------------------------
# Figures


def matched_cosines(report, path=None):
    """Figure 1: encoder matched cosine (x) against decoder matched cosine (y)
    for each latent of SAE A, blue where both matchings give the same partner
    and orange where they differ, with density contours (Gaussian KDE) per
    group and dashed lines at ``report.threshold``.

    Reads ``report.enc_cos``, ``report.dec_cos``, ``report.agree`` and
    (optional) ``report.threshold``.
    """
    arrays = _per_latent(report, ("enc_cos", "dec_cos", "agree"), "report", "matched_cosines")
    enc, dec, agree = arrays["enc_cos"], arrays["dec_cos"], arrays["agree"]
    t = _threshold(report)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 5.5))
    n = enc.size
    xlim, ylim = _padded_limits(enc), _padded_limits(dec)
    kwargs = _scatter_kwargs(n)
    groups = ((agree, _AGREE_COLOR, "same partner"), (~agree, _DISAGREE_COLOR, "different partners"))
    for mask, color, name in groups:
        count = int(mask.sum())
        share = f", {count / n:.1%}" if n else ""
        ax.scatter(enc[mask], dec[mask], color=color, label=f"{name} ({count}{share})", **kwargs)
    for mask, color, _ in groups:
        _contour(ax, enc[mask], dec[mask], xlim, ylim, color)
    if t is not None:
        ax.axvline(t, color="0.4", linestyle="--", linewidth=0.8)
        ax.axhline(t, color="0.4", linestyle="--", linewidth=0.8, label=f"threshold t = {t:g}")
    ax.set_xlim(xlim)
    ax.set_ylim(ylim)
    ax.set_xlabel("encoder matched cosine similarity")
    ax.set_ylabel("decoder matched cosine similarity")
    ax.set_title(f"Matched cosine similarities ({n} latents)")
    ax.legend(loc="upper left", markerscale=2, frameon=False)
    return _finish(fig, path)


def _only_in_base_points(many):
    data = _attr(many, "only_in_base", "many", "only_in_base needs a multi-seed report")
    if isinstance(data, Mapping):
        items = sorted((float(k), v) for k, v in data.items())
        k = np.array([i[0] for i in items], dtype=np.float64)
        y = _array([i[1] for i in items], "many.only_in_base values")
    else:
        y = _array(data, "many.only_in_base")
        k = np.arange(2, 2 + y.size, dtype=np.float64)
    if y.size == 0:
        raise ValueError("many.only_in_base is empty; it needs a fraction for at least one k")
    if not (np.all(np.isfinite(k)) and np.all(k > 0)):
        raise ValueError(f"many.only_in_base keys must be positive numbers of SAEs, got {k.tolist()}")
    if not np.all(np.isfinite(y)):
        raise ValueError("many.only_in_base holds a value that is not finite")
    return k, y


def _fit_params(many):
    fit = getattr(many, "fit", None)
    if fit is None:
        return None
    if all(hasattr(fit, name) for name in ("a", "b", "c")):
        params = (fit.a, fit.b, fit.c)
    else:
        try:
            params = tuple(fit)
        except TypeError:
            raise ValueError(f"many.fit must be (a, b, c) or have a, b, c attributes, got {fit!r}") from None
    if len(params) != 3:
        raise ValueError(f"many.fit must hold 3 numbers (a, b, c), got {len(params)}")
    params = tuple(float(p) for p in params)
    if any(np.isnan(p) for p in params):
        return None  # no fit was made (fewer than 3 values of k): no curve
    if not all(np.isfinite(p) for p in params):
        raise ValueError(f"many.fit must be finite, got {params}")
    return params


def only_in_base(many, path=None):
    """Figure A1: the fraction of latents found only in the base SAE against
    the number of SAEs k, with the fitted power law with offset
    a·k^(−b) + c drawn over it and its parameters in the legend.

    Reads ``many.only_in_base`` (dict k -> fraction, or a sequence for
    k = 2, 3, ...) and (optional) ``many.fit`` ((a, b, c) or an object with
    ``a``, ``b``, ``c``; no curve when absent, None or NaN, as for N < 4
    SAEs where three parameters cannot be fitted). The y axis spans [0, 1].
    """
    k, y = _only_in_base_points(many)
    params = _fit_params(many)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4.5))
    ax.plot(k, y, "o", color="C0", label="only in base SAE")
    if params is not None:
        a, b, c = params
        ks = np.linspace(k.min(), k.max(), 200) if k.size > 1 else k
        ax.plot(ks, a * ks ** (-b) + c, "-", color="C3",
                label=rf"fit $y = {a:.3g}\,k^{{-{b:.3g}}} {'+' if c >= 0 else '-'} {abs(c):.3g}$")
    # Fixed at the range of a fraction: autoscaled, three seeds' 0.980-0.987
    # filled the axis and looked like a steep fall.
    ax.set_ylim(0.0, 1.0)
    ax.set_xlabel("number of SAEs k")
    ax.set_ylabel("fraction of latents only in the base SAE")
    ax.set_title("Latents found only in the base SAE")
    if np.all(k == np.round(k)):
        ax.set_xticks(k)
    ax.legend(frameon=False)
    return _finish(fig, path)


def threshold_sweep(report, path=None):
    """Figure A2 (right): the fraction of latents counted as shared against
    the threshold t, one line per shared rule, with a dashed line at
    ``report.threshold``.

    Reads ``report.sweep`` (dict: ``"threshold"`` and one array per rule;
    ``"paper"``, ``"separate"``, ``"decoder"`` come first, any other rule
    after them) and (optional) ``report.threshold``.
    """
    sweep = _attr(report, "sweep", "report", "threshold_sweep needs a pair report with a sweep")
    if not isinstance(sweep, Mapping):
        raise ValueError(f"report.sweep must be a dict of arrays, got {type(sweep).__name__}")
    if "threshold" not in sweep:
        raise ValueError('report.sweep has no "threshold" array (the values of t)')
    thresholds = _array(sweep["threshold"], 'report.sweep["threshold"]')
    rules = [r for r in _RULE_ORDER if r in sweep]
    rules += [r for r in sweep if r != "threshold" and r not in _RULE_ORDER]
    if not rules:
        raise ValueError("report.sweep holds no rule; expected arrays such as " + ", ".join(f'"{r}"' for r in RULES))
    curves = {}
    for rule in rules:
        curves[rule] = _array(sweep[rule], f"report.sweep[{rule!r}]")
        if curves[rule].shape != thresholds.shape:
            raise ValueError(
                f"report.sweep[{rule!r}] has {curves[rule].size} entries but "
                f'report.sweep["threshold"] has {thresholds.size}; pass one fraction per threshold'
            )
    t = _threshold(report)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4.5))
    order = np.argsort(thresholds, kind="stable")
    for rule in rules:
        ax.plot(thresholds[order], curves[rule][order], "-", marker=".", label=_RULE_LABELS.get(rule, rule))
    if t is not None:
        ax.axvline(t, color="0.4", linestyle="--", linewidth=0.8, label=f"t = {t:g}")
    ax.set_xlabel("threshold t")
    ax.set_ylabel("fraction of latents shared")
    ax.set_title("Shared fraction against the threshold")
    ax.legend(frameon=False)
    return _finish(fig, path)


def matched_vs_max(report, path=None):
    """Figure A3: for each latent of SAE A, the maximum cosine with any latent
    of B (x) against the cosine in the optimal matching (y), decoder on the
    left, encoder on the right, with the line y = x (matched ≤ max always;
    points on the line were matched to their nearest neighbour). Coloured by
    ``report.agree`` when the report has it.

    Reads ``report.dec_cos``, ``report.max_cos_dec``, ``report.enc_cos``,
    ``report.max_cos_enc`` and (optional) ``report.agree``.
    """
    names = ("dec_cos", "max_cos_dec", "enc_cos", "max_cos_enc")
    if getattr(report, "agree", None) is not None:
        names += ("agree",)
    arrays = _per_latent(report, names, "report", "matched_vs_max")
    agree = arrays.get("agree")
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 5), sharex=False, sharey=False)
    n = arrays["dec_cos"].size
    kwargs = _scatter_kwargs(n)
    for ax, side, label in ((axes[0], "dec", "decoder"), (axes[1], "enc", "encoder")):
        matched, maximum = arrays[f"{side}_cos"], arrays[f"max_cos_{side}"]
        if agree is None:
            ax.scatter(maximum, matched, color=_AGREE_COLOR, label=f"latents ({n})", **kwargs)
        else:
            for mask, color, name in ((agree, _AGREE_COLOR, "same partner"),
                                      (~agree, _DISAGREE_COLOR, "different partners")):
                legend = f"{name} ({int(mask.sum())})"
                ax.scatter(maximum[mask], matched[mask], color=color, label=legend, **kwargs)
        lo, hi = _padded_limits(matched, maximum)
        ax.plot([lo, hi], [lo, hi], "--", color="0.3", linewidth=0.8, label="y = x")
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.set_aspect("equal")
        ax.set_xlabel(f"{label} max cosine similarity")
        ax.set_ylabel(f"{label} matched cosine similarity")
        ax.set_title(f"{label.capitalize()}: matched {np.mean(matched) if n else float('nan'):.3f}, "
                     f"max {np.mean(maximum) if n else float('nan'):.3f} (means)")
        ax.legend(loc="upper left", markerscale=2, frameon=False)
    return _finish(fig, path)


def similarity_vs_frequency(report, firing_counts, path=None, *, share_counts=None, n_tokens=None):
    """Figure 2: per latent of the base SAE, how often it fires (x, log scale)
    against its mean matched similarity (y) — the mean of ``report.enc_cos``
    and ``report.dec_cos``. For the paper's multi-seed version pass a report
    whose ``enc_cos``/``dec_cos`` are already averaged over the other seeds.

    ``firing_counts``: activations per latent (one per latent, ≥ 0). With
    ``n_tokens`` the x axis is the firing frequency counts / n_tokens,
    otherwise the raw count. Latents that never fired have no place on a log
    axis; they are left out and their number is given in the title.
    ``share_counts`` (optional): per latent, the number of other SAEs it is
    shared with; points are coloured by it, with a colour bar.
    """
    arrays = _per_latent(report, ("enc_cos", "dec_cos"), "report", "similarity_vs_frequency")
    similarity = 0.5 * (arrays["enc_cos"] + arrays["dec_cos"])
    n = similarity.size
    counts = _array(firing_counts, "firing_counts")
    if counts.size != n:
        raise ValueError(
            f"firing_counts has {counts.size} entries but report.enc_cos has {n}; pass one count per latent"
        )
    if not np.all(np.isfinite(counts)) or np.any(counts < 0):
        raise ValueError("firing_counts must be finite and non-negative")
    shares = None
    if share_counts is not None:
        shares = _array(share_counts, "share_counts")
        if shares.size != n:
            raise ValueError(
                f"share_counts has {shares.size} entries but report.enc_cos has {n}; pass one count per latent"
            )
        if not np.all(np.isfinite(shares)) or np.any(shares < 0) or np.any(shares != np.round(shares)):
            raise ValueError(
                "share_counts must be non-negative integers (the number of other SAEs sharing each latent)"
            )
    if n_tokens is not None:
        n_tokens = float(n_tokens)
        if not (np.isfinite(n_tokens) and n_tokens > 0):
            raise ValueError(f"n_tokens must be a positive number, got {n_tokens}")

    fired = counts > 0
    x = counts[fired] / n_tokens if n_tokens is not None else counts[fired]
    y = similarity[fired]
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 5))
    kwargs = _scatter_kwargs(n)
    if shares is None:
        ax.scatter(x, y, color=_AGREE_COLOR, label=f"latents ({int(fired.sum())})", **kwargs)
    else:
        import matplotlib
        import matplotlib.colors as mcolors

        top = int(shares.max()) if shares.size else 0
        # One colour per share count 0..top, with integer ticks on the bar.
        cmap = matplotlib.colormaps["viridis"].resampled(top + 1)
        norm = mcolors.BoundaryNorm(np.arange(-0.5, top + 1.5), cmap.N)
        kwargs["alpha"] = max(kwargs["alpha"], 0.5)
        points = ax.scatter(x, y, c=shares[fired], cmap=cmap, norm=norm, label=f"latents ({int(fired.sum())})",
                            **kwargs)
        bar = fig.colorbar(points, ax=ax, ticks=np.arange(top + 1))
        bar.set_label("shared with this many other SAEs")
        if bar.solids is not None:
            bar.solids.set_alpha(1)
    ax.set_xscale("log")
    ax.set_xlabel("firing frequency (fraction of tokens)" if n_tokens is not None else "firing count")
    ax.set_ylabel("mean matched cosine similarity (encoder, decoder)")
    unseen = n - int(fired.sum())
    note = f" ({unseen} never-firing latents not shown)" if unseen else ""
    ax.set_title("Similarity against firing frequency" + note)
    return _finish(fig, path)


def similarity_vs_frequency_many(many, base: int = 0, path=None, *, firing_counts=None, n_tokens=None):
    """Figure 2 over N seeds, as the paper draws it: per latent of SAE ``base``,
    its firing frequency against its matched cosine averaged over the N-1
    other SAEs (encoder and decoder), coloured by how many of them share it.

    ``many``: a :class:`saematch.ManyReport` (reads ``pairs``,
    ``share_counts`` and, unless ``firing_counts`` is given, the
    ``firing_counts`` passed to :func:`saematch.compare_many`). ``n_tokens``:
    the tokens the counts were taken over, for a frequency axis (else raw
    counts), as in :func:`similarity_vs_frequency`.
    """
    pairs = _attr(many, "pairs", "many", "similarity_vs_frequency_many needs a multi-seed report")
    n = len(_attr(many, "share_counts", "many", "similarity_vs_frequency_many needs a multi-seed report"))
    if not (isinstance(base, (int, np.integer)) and 0 <= base < n):
        raise ValueError(f"base must be the index of one of the {n} SAEs, got {base!r}")
    enc, dec = [], []
    for (i, j), p in pairs.items():
        if i == base:
            enc.append(p.enc_cos)
            dec.append(p.dec_cos)
        elif j == base:  # the pair's b side is the base's latents
            enc.append(p.b_side["enc_cos"])
            dec.append(p.b_side["dec_cos"])
    if not enc:
        raise ValueError(f"many.pairs holds no pair with SAE {base}")
    if firing_counts is None:
        counts = getattr(many, "firing_counts", None)
        if counts is None:
            raise ValueError("the report holds no firing counts: pass firing_counts= here or to compare_many")
        firing_counts = counts[base]
    from types import SimpleNamespace

    averaged = SimpleNamespace(enc_cos=np.mean([_array(e, "enc_cos") for e in enc], axis=0),
                               dec_cos=np.mean([_array(d, "dec_cos") for d in dec], axis=0))
    return similarity_vs_frequency(averaged, firing_counts, path, share_counts=many.share_counts[base],
                                   n_tokens=n_tokens)


def stability(result, path=None):
    """Per-latent stability across seeds (:func:`saematch.stability`): how
    many latents are shared with 0..N-1 other seeds (one bar group per SAE);
    stability against firing (log x; jittered, with the median firing per
    stability level) when the result holds firing; and, when it was given
    data, the FVU rise when each group (stable / partly / unstable) is
    ablated, next to the sum of its members' single-latent rises.
    """
    tables = _attr(result, "tables", "result", "stability needs the result of saematch.stability")
    lat, groups = tables["per_latent"], tables["groups"]
    n = int(_attr(result, "n_saes", "result", "stability needs the result of saematch.stability"))
    others = n - 1
    has_firing = "firing" in lat
    has_fvu = "group_fvu_rise" in groups
    panels = 1 + has_firing + has_fvu
    plt = _pyplot()
    fig, axes = plt.subplots(1, panels, figsize=(5.2 * panels, 4.2), squeeze=False)
    axes = axes[0]
    ax = axes[0]
    width = 0.8 / n
    for b in range(n):
        counts = np.bincount(np.asarray(lat["shared_with"])[np.asarray(lat["sae"]) == b], minlength=others + 1)
        ax.bar(np.arange(others + 1) + (b - (n - 1) / 2) * width, counts, width, label=f"SAE {b}")
    ax.set_xticks(np.arange(others + 1))
    ax.set_xlabel(f"shared with this many of the other {others} SAEs")
    ax.set_ylabel("latents")
    ax.set_title(f"Stability ({result.rule}, t = {result.threshold:g})")
    if n <= 10:
        ax.legend(frameon=False, fontsize="small")
    k = 1
    if has_firing:
        ax = axes[k]
        k += 1
        firing = _array(lat["firing"], "firing")
        stab = _array(lat["stability"], "stability")
        seen = firing > 0
        jitter = np.random.default_rng(0).uniform(-0.3, 0.3, stab.size) / max(others, 1)
        ax.scatter(firing[seen], stab[seen] + jitter[seen], **_scatter_kwargs(int(seen.sum())))
        levels = np.unique(stab[seen])
        ax.plot([np.median(firing[seen & (stab == v)]) for v in levels], levels, "o-", color="C3",
                label="median firing per level")
        ax.set_xscale("log")
        ax.set_xlabel("firing frequency" if result.firing_source == "data" else "firing count")
        ax.set_ylabel("stability (fraction of other seeds sharing it)")
        unseen = int((~seen).sum())
        ax.set_title("Stability against firing" + (f" ({unseen} never fired, not shown)" if unseen else ""))
        ax.legend(frameon=False, loc="lower right")
    if has_fvu:
        ax = axes[k]
        names = ("stable", "partly", "unstable")
        g = np.asarray(groups["group"])
        whole = [np.mean(np.asarray(groups["group_fvu_rise"])[g == name]) for name in names]
        summed = [np.mean(np.asarray(groups["summed_fvu_rise"])[g == name]) for name in names]
        latents = [np.mean(np.asarray(groups["latents"])[g == name]) for name in names]
        x = np.arange(len(names))
        ax.bar(x - 0.2, whole, 0.4, label="group ablated")
        ax.bar(x + 0.2, summed, 0.4, label="sum of single ablations")
        ax.set_xticks(x, [f"{name}\n({c:.0f} latents)" for name, c in zip(names, latents)])
        ax.set_ylabel("FVU rise (mean over SAEs)")
        ax.set_title("Reconstruction carried by each group")
        ax.legend(frameon=False)
    fig.tight_layout()
    return _finish(fig, path)


def subspace_overlap(result, path=None):
    """Principal angles between two SAEs' latent spans
    (:func:`saematch.subspace_overlap`): the principal cosines of the unshared
    and of the shared latents' spans, each against its random-subspace null
    (mean, and the upper quantile dashed); and, per rank r, the smallest
    principal cosine between the top-r directions of each side's unshared
    latents against the null's quantile, with the reproducible rank marked."""
    unshared = _attr(result, "unshared", "result", "subspace_overlap needs the result of saematch.subspace_overlap")
    shared, by_rank = result.shared, result.by_rank
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for part, color in ((unshared, "C1"), (shared, "C0")):
        name = "unshared" if part is unshared else "shared"
        c = _array(part["cosines"], f"{name} cosines")
        if not c.size:
            continue
        x = np.arange(1, c.size + 1)
        left.plot(x, c, "-", color=color, label=f"{name} ({part['latents'][0]} / {part['latents'][1]} latents)")
        left.plot(x, _array(part["null_mean"], "null_mean"), ":", color=color, label=f"random, same ranks (mean)")
        left.plot(x, _array(part["null_high"], "null_high"), "--", color=color, linewidth=0.8,
                  label=f"random ({result.level:.0%} quantile)")
    left.axhline(result.cos_threshold, color="0.5", linewidth=0.8)
    left.set_xlabel("principal direction")
    left.set_ylabel("principal cosine")
    left.set_ylim(0, 1.02)
    left.set_title(f"Spans of SAE {result.pair[0]} and SAE {result.pair[1]} ({result.part})")
    left.legend(frameon=False, fontsize="small")
    r = _array(by_rank["rank"], "rank")
    right.plot(r, _array(by_rank["min_cos"], "min_cos"), "o-", color="C1", label="unshared: top-r directions")
    right.plot(r, _array(by_rank["null_min_cos_high"], "null"), "--", color="0.4",
               label=f"random r-dim subspaces ({result.level:.0%} quantile)")
    right.axhline(result.cos_threshold, color="0.5", linewidth=0.8)
    if result.reproducible_rank:
        right.axvline(result.reproducible_rank, color="C3", linewidth=0.8,
                      label=f"reproducible up to rank {result.reproducible_rank}")
    right.set_xlabel("rank r")
    right.set_ylabel("smallest principal cosine")
    right.set_ylim(0, 1.02)
    right.set_title("At which rank do the unshared parts agree?")
    right.legend(frameon=False, fontsize="small")
    fig.tight_layout()
    return _finish(fig, path)


def stabilization(saes, path=None, *, x: str = "step"):
    """Stabilization curves (``sm.train(..., track_every=N)``): per rule the
    shared fraction, the mean matched cosine (encoder, decoder) and the
    partner churn since the previous check, against ``x`` (``"step"`` or
    ``"tokens"``). Lines are the mean over seeds, bands their range.

    ``saes``: the trained SAEs (each with ``history["stabilization"]``), or
    one such history dict.
    """
    import warnings

    if isinstance(saes, Mapping):
        curves = [saes]
    else:
        curves = []
        for i, sae in enumerate(saes):
            history = getattr(sae, "history", None) or {}
            if "stabilization" not in history:
                raise ValueError(f"saes[{i}] has no history['stabilization']: train with track_every=N")
            curves.append(history["stabilization"])
    if not curves:
        raise ValueError("stabilization needs at least one SAE (or one history dict)")
    if x not in ("step", "tokens"):
        raise ValueError(f"x must be 'step' or 'tokens', got {x!r}")
    xs = _array(curves[0][x], x)
    for c in curves[1:]:
        if not np.array_equal(_array(c[x], x), xs):
            raise ValueError("the SAEs' curves were tracked at different steps; pass the SAEs of one run")

    def stack(field):
        return np.stack([_array(c[field], field) for c in curves])

    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    panels = (
        (axes[0], [(f"shared_{r}", r) for r in _RULE_ORDER], "shared fraction (t = 0.7)", "Shared latents"),
        (axes[1], [("mean_cos_enc", "encoder"), ("mean_cos_dec", "decoder")], "mean matched cosine",
         "Matched cosine"),
        (axes[2], [("churn_enc", "encoder"), ("churn_dec", "decoder")], "latents whose partner changed",
         "Partner churn since the previous check"),
    )
    for ax, series, ylabel, title in panels:
        for k, (field, label) in enumerate(series):
            values = stack(field)
            with warnings.catch_warnings():  # churn is NaN at the first check: no band, no mean there
                warnings.simplefilter("ignore", RuntimeWarning)
                ax.plot(xs, np.nanmean(values, axis=0) if np.isfinite(values).any() else values[0],
                        "-o", markersize=3, color=f"C{k}", label=label)
                ax.fill_between(xs, np.nanmin(values, axis=0), np.nanmax(values, axis=0), color=f"C{k}", alpha=0.2,
                                linewidth=0)
        ax.set_xlabel("training step" if x == "step" else "training tokens")
        ax.set_ylabel(ylabel)
        ax.set_ylim(0, 1.02)
        ax.set_title(title)
        ax.legend(frameon=False)
    fig.tight_layout()
    return _finish(fig, path)


def __dir__():
    # Tab completion (dir() of a module, PEP 562) offers the public functions,
    # not the modules imported to write them (np, os, sys, ...).
    return sorted(__all__)
