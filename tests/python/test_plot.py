"""Tests of saematch.plot: each of the paper's figures from small synthetic
reports (duck-typed, ``types.SimpleNamespace``). Each figure must save a real
PNG, carry the artists it promises (one scatter point per latent, one line
per rule, ...), and reject inconsistent input with a ValueError that names the
argument."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

from saematch import plot  # noqa: E402

from matplotlib.collections import PathCollection  # noqa: E402
from matplotlib.contour import ContourSet  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------
# Synthetic reports


def pair_report(n: int = 300, seed: int = 0) -> SimpleNamespace:
    """Hits near (0.9, 0.9) that mostly agree, misses near (0.3, 0.3) that
    mostly do not, as in the paper's Figure 1."""
    rng = np.random.default_rng(seed)
    hit = rng.random(n) < 0.6
    enc = np.where(hit, rng.normal(0.88, 0.05, n), rng.normal(0.3, 0.08, n)).clip(-1, 1)
    dec = np.where(hit, rng.normal(0.9, 0.04, n), rng.normal(0.32, 0.08, n)).clip(-1, 1)
    agree = np.where(hit, rng.random(n) < 0.95, rng.random(n) < 0.2)
    max_enc = np.maximum(enc, enc + np.where(rng.random(n) < 0.2, rng.random(n) * 0.2, 0.0)).clip(-1, 1)
    max_dec = np.maximum(dec, dec + np.where(rng.random(n) < 0.2, rng.random(n) * 0.2, 0.0)).clip(-1, 1)
    t = np.linspace(0.0, 1.0, 21)
    sweep = {
        "threshold": t,
        "paper": np.array([np.mean(agree & (enc >= v) & (dec >= v)) for v in t]),
        "separate": np.array([np.mean((enc > v) & (dec > v)) for v in t]),
        "decoder": np.array([np.mean(dec > v) for v in t]),
    }
    return SimpleNamespace(
        enc_cos=enc, dec_cos=dec, agree=agree, max_cos_enc=max_enc, max_cos_dec=max_dec, threshold=0.7, sweep=sweep
    )


def many_report() -> SimpleNamespace:
    ks = np.arange(2, 10)
    a, b, c = 0.4, 0.9, 0.3
    return SimpleNamespace(only_in_base={int(k): a * k ** (-b) + c for k in ks}, fit=(a, b, c))


def scatter_points(ax) -> int:
    """Points drawn by scatter on an axes (contour sets are not counted)."""
    return sum(
        len(c.get_offsets())
        for c in ax.collections
        if isinstance(c, PathCollection) and not isinstance(c, ContourSet) and not c.get_label().startswith("_")
    )


def assert_png(path: Path) -> None:
    assert path.exists()
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > 5000  # a rendered figure, not an empty canvas


@pytest.fixture(autouse=True)
def close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


# --------------------------------------------------------------------------
# Figure 1


def test_matched_cosines_draws_every_latent_with_contours_and_thresholds(tmp_path):
    report = pair_report(300)
    fig = plot.matched_cosines(report, path=tmp_path / "x.png")
    assert isinstance(fig, Figure)
    assert_png(tmp_path / "x.png")
    (ax,) = fig.axes
    assert scatter_points(ax) == 300
    # Two groups, coloured differently, sized as the agree mask says.
    groups = [c for c in ax.collections if isinstance(c, PathCollection) and not isinstance(c, ContourSet)]
    expected = sorted([int(report.agree.sum()), int((~report.agree).sum())])
    assert sorted(len(c.get_offsets()) for c in groups) == expected
    assert len({tuple(c.get_facecolor()[0][:3]) for c in groups}) == 2
    # Density contours for both groups.
    contours = [c for c in ax.collections if isinstance(c, ContourSet)]
    assert len(contours) == 2
    # Threshold lines at t, one vertical and one horizontal.
    xs = [line.get_xdata() for line in ax.lines]
    ys = [line.get_ydata() for line in ax.lines]
    assert any(np.allclose(x, 0.7) for x in xs)
    assert any(np.allclose(y, 0.7) for y in ys)


def test_matched_cosines_without_threshold_or_enough_points_for_contours():
    report = pair_report(5)
    del report.threshold
    fig = plot.matched_cosines(report)
    (ax,) = fig.axes
    assert scatter_points(ax) == 5
    assert not ax.lines
    assert not [c for c in ax.collections if isinstance(c, ContourSet)]


def test_matched_cosines_accepts_lists():
    report = SimpleNamespace(
        enc_cos=[0.9, 0.2, 0.8], dec_cos=[0.95, 0.1, 0.3], agree=[True, False, True], threshold=0.7
    )
    fig = plot.matched_cosines(report)
    assert scatter_points(fig.axes[0]) == 3


# --------------------------------------------------------------------------
# Figure A1


def test_only_in_base_draws_points_and_fit_with_parameters(tmp_path):
    many = many_report()
    fig = plot.only_in_base(many, path=tmp_path / "x.png")
    assert_png(tmp_path / "x.png")
    (ax,) = fig.axes
    assert len(ax.lines) == 2
    points, curve = ax.lines
    np.testing.assert_array_equal(points.get_xdata(), np.arange(2, 10))
    np.testing.assert_allclose(points.get_ydata(), [many.only_in_base[k] for k in range(2, 10)])
    np.testing.assert_allclose(curve.get_ydata(), 0.4 * curve.get_xdata() ** -0.9 + 0.3)
    legend = " ".join(t.get_text() for t in ax.get_legend().get_texts())
    assert "0.4" in legend and "0.9" in legend and "0.3" in legend


def test_only_in_base_accepts_a_sequence_and_a_fit_object_or_none():
    fit = SimpleNamespace(a=0.4, b=0.9, c=-0.1, rmse=0.0, converged=True)
    fig = plot.only_in_base(SimpleNamespace(only_in_base=[0.6, 0.5, 0.45], fit=fit))
    points, curve = fig.axes[0].lines
    np.testing.assert_array_equal(points.get_xdata(), [2, 3, 4])
    np.testing.assert_allclose(curve.get_ydata(), 0.4 * curve.get_xdata() ** -0.9 - 0.1)
    fig = plot.only_in_base(SimpleNamespace(only_in_base={3: 0.5, 2: 0.6}, fit=None))
    (points,) = fig.axes[0].lines
    np.testing.assert_array_equal(points.get_xdata(), [2, 3])  # sorted by k
    nan = float("nan")  # what compare_many reports when N < 4: no fit, no curve
    fig = plot.only_in_base(SimpleNamespace(only_in_base={2: 0.6, 3: 0.5}, fit=(nan, nan, nan)))
    assert len(fig.axes[0].lines) == 1


# --------------------------------------------------------------------------
# Figure A2


def test_threshold_sweep_draws_one_line_per_rule(tmp_path):
    report = pair_report(200)
    fig = plot.threshold_sweep(report, path=tmp_path / "x.png")
    assert_png(tmp_path / "x.png")
    (ax,) = fig.axes
    rule_lines = [line for line in ax.lines if len(line.get_xdata()) == 21]
    assert len(rule_lines) == 3
    for line, rule in zip(rule_lines, ("paper", "separate", "decoder")):
        np.testing.assert_allclose(line.get_ydata(), report.sweep[rule])
    assert len(ax.lines) == 4  # plus the line at t
    assert len(ax.get_legend().get_texts()) == 4


def test_threshold_sweep_takes_any_subset_of_rules_and_extra_rules():
    t = np.array([0.9, 0.5, 0.1])  # unsorted: drawn in order of t
    report = SimpleNamespace(sweep={"threshold": t, "decoder": [0.2, 0.5, 0.9], "mine": [0.1, 0.4, 0.8]})
    fig = plot.threshold_sweep(report)
    ax = fig.axes[0]
    assert len(ax.lines) == 2
    np.testing.assert_allclose(ax.lines[0].get_xdata(), [0.1, 0.5, 0.9])
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [0.9, 0.5, 0.2])


# --------------------------------------------------------------------------
# Figure A3


def test_matched_vs_max_has_decoder_and_encoder_panels_with_diagonal(tmp_path):
    report = pair_report(250)
    fig = plot.matched_vs_max(report, path=tmp_path / "x.png")
    assert_png(tmp_path / "x.png")
    assert len(fig.axes) == 2
    for ax, side in zip(fig.axes, ("decoder", "encoder")):
        assert side in ax.get_xlabel()
        assert scatter_points(ax) == 250
        (diagonal,) = ax.lines
        np.testing.assert_allclose(diagonal.get_xdata(), diagonal.get_ydata())
    # x is the max cosine, y the matched one.
    dec_points = np.concatenate([c.get_offsets() for c in fig.axes[0].collections])
    assert np.all(dec_points[:, 0] >= dec_points[:, 1])


def test_matched_vs_max_without_agree_uses_one_colour():
    report = pair_report(40)
    report.agree = None
    fig = plot.matched_vs_max(report)
    for ax in fig.axes:
        assert len(ax.collections) == 1
        assert scatter_points(ax) == 40


# --------------------------------------------------------------------------
# Figure 2


def test_similarity_vs_frequency_plots_firing_latents_on_log_axis(tmp_path):
    report = pair_report(300)
    rng = np.random.default_rng(1)
    counts = rng.integers(0, 10_000, 300)
    counts[:7] = 0
    fig = plot.similarity_vs_frequency(report, counts, path=tmp_path / "x.png", n_tokens=1e6)
    assert_png(tmp_path / "x.png")
    (ax,) = fig.axes
    assert ax.get_xscale() == "log"
    assert scatter_points(ax) == 293
    assert "7 never-firing" in ax.get_title()
    offsets = ax.collections[0].get_offsets()
    fired = counts > 0
    np.testing.assert_allclose(offsets[:, 0], counts[fired] / 1e6)
    np.testing.assert_allclose(offsets[:, 1], 0.5 * (report.enc_cos + report.dec_cos)[fired])


def test_similarity_vs_frequency_coloured_by_share_count(tmp_path):
    report = pair_report(120)
    rng = np.random.default_rng(2)
    counts = rng.integers(1, 1000, 120)
    shares = rng.integers(0, 9, 120)
    fig = plot.similarity_vs_frequency(report, counts, path=tmp_path / "x.png", share_counts=shares)
    assert_png(tmp_path / "x.png")
    assert len(fig.axes) == 2  # the plot and its colour bar
    ax = fig.axes[0]
    assert scatter_points(ax) == 120
    np.testing.assert_array_equal(ax.collections[0].get_array(), shares)


# --------------------------------------------------------------------------
# Bad input


def test_mismatched_lengths_raise_value_error_naming_the_argument():
    report = pair_report(10)
    bad = SimpleNamespace(**vars(report))
    bad.dec_cos = bad.dec_cos[:9]
    with pytest.raises(ValueError, match=r"report\.dec_cos has 9 entries but report\.enc_cos has 10"):
        plot.matched_cosines(bad)
    with pytest.raises(ValueError, match=r"report\.dec_cos"):
        plot.matched_vs_max(bad)
    bad = SimpleNamespace(**vars(report))
    bad.agree = bad.agree[:3]
    with pytest.raises(ValueError, match=r"report\.agree has 3 entries"):
        plot.matched_cosines(bad)
    bad = SimpleNamespace(**vars(report))
    bad.max_cos_enc = bad.max_cos_enc[:4]
    with pytest.raises(ValueError, match=r"report\.max_cos_enc has 4 entries"):
        plot.matched_vs_max(bad)
    with pytest.raises(ValueError, match=r"firing_counts has 3 entries but report\.enc_cos has 10"):
        plot.similarity_vs_frequency(report, [1, 2, 3])
    with pytest.raises(ValueError, match=r"share_counts has 2 entries"):
        plot.similarity_vs_frequency(report, np.ones(10), share_counts=[1, 2])
    bad = SimpleNamespace(sweep={"threshold": [0.1, 0.2, 0.3], "paper": [0.5, 0.4]})
    with pytest.raises(ValueError, match=r"report\.sweep\['paper'\] has 2 entries"):
        plot.threshold_sweep(bad)


def test_other_bad_input_raises_clear_errors():
    report = pair_report(10)
    with pytest.raises(ValueError, match="firing_counts must be finite and non-negative"):
        plot.similarity_vs_frequency(report, -np.ones(10))
    with pytest.raises(ValueError, match="share_counts must be non-negative integers"):
        plot.similarity_vs_frequency(report, np.ones(10), share_counts=np.full(10, 0.5))
    with pytest.raises(ValueError, match=r"report\.enc_cos must be a 1-D array"):
        plot.matched_cosines(SimpleNamespace(enc_cos=np.ones((2, 2)), dec_cos=np.ones(4), agree=np.ones(4, bool)))
    with pytest.raises(AttributeError, match="'agree'"):
        plot.matched_cosines(SimpleNamespace(enc_cos=[0.1], dec_cos=[0.2]))
    with pytest.raises(ValueError, match='no "threshold" array'):
        plot.threshold_sweep(SimpleNamespace(sweep={"paper": [0.1]}))
    with pytest.raises(ValueError, match="holds no rule"):
        plot.threshold_sweep(SimpleNamespace(sweep={"threshold": [0.1]}))
    with pytest.raises(ValueError, match=r"many\.only_in_base is empty"):
        plot.only_in_base(SimpleNamespace(only_in_base={}, fit=None))
    with pytest.raises(ValueError, match=r"many\.fit must hold 3 numbers"):
        plot.only_in_base(SimpleNamespace(only_in_base={2: 0.5}, fit=(1.0, 2.0)))
    with pytest.raises(ValueError, match=r"many\.fit must be finite"):
        plot.only_in_base(SimpleNamespace(only_in_base={2: 0.5}, fit=(1.0, float("inf"), 0.0)))
