"""sm.stability: per-latent stability against explicit loops over pairwise
comparisons, its intervals against enumerated resamples, and the ablation's
FVU rises against a dense brute-force recomputation through the SAE's own
decoder."""

import itertools
from statistics import NormalDist

import numpy as np
import pytest

import saematch as sm
from saematch import _intervals


def _seeds(n_saes=4, latents=24, d=16, seed=0):
    """SAEs whose latents are noisy copies of a common pool, some with little
    noise (shared in most seeds), some fresh per seed (shared nowhere)."""
    rng = np.random.default_rng(seed)
    pool = rng.standard_normal((latents, d))
    out = []
    for s in range(n_saes):
        noise = np.where(np.arange(latents)[:, None] < latents // 2, 0.15, 1.5) * rng.standard_normal((latents, d))
        keep = rng.random(latents) < 0.8  # some latents of the pool this seed does not learn
        dec = np.where(keep[:, None], pool + noise, rng.standard_normal((latents, d)))
        enc = dec + 0.1 * rng.standard_normal((latents, d))
        out.append((enc.astype(np.float32), dec.astype(np.float32)))
    return out


@pytest.mark.parametrize("rule,threshold", [("paper", 0.7), ("decoder", 0.5), ("separate", 0.8)])
def test_stability_equals_an_explicit_loop_over_pair_comparisons(rule, threshold):
    saes = _seeds()
    st = sm.stability(saes, threshold=threshold, rule=rule)
    n = len(saes)
    for b in range(n):
        hits = np.zeros(24)
        for j in range(n):
            if j != b:
                hits += sm.compare(saes[b], saes[j], threshold=threshold, rule=rule, progress=False).shared
        np.testing.assert_array_equal(st.of(b), hits / (n - 1))
        np.testing.assert_array_equal(st.of(b, "shared_with"), hits)
    s = st.of(0)
    assert 0 < s.mean() < 1 and len(np.unique(np.concatenate([st.of(b) for b in range(n)]))) >= 3  # a varied case


def test_a_report_under_another_rule_is_reused_not_rematched():
    saes = _seeds(seed=1)
    many = sm.compare_many(saes, progress=False)
    st = sm.stability(many, threshold=0.5, rule="decoder")
    assert st.report.pairs[(0, 1)].enc_partner is many.pairs[(0, 1)].enc_partner  # the same matching
    direct = sm.stability(saes, threshold=0.5, rule="decoder")
    np.testing.assert_array_equal(st.tables["per_latent"]["stability"], direct.tables["per_latent"]["stability"])


def _brute_quantile(values, p):
    values = np.sort(np.asarray(values, dtype=float))
    index = int(np.ceil(p * len(values) - 1e-9)) - 1  # the smallest value with cumulative share >= p
    return values[max(index, 0)]


@pytest.mark.parametrize("n", [3, 4])
def test_latent_bootstrap_interval_equals_all_resamples_of_the_other_seeds(n):
    for m in range(n + 1):
        hits = np.array([1] * m + [0] * (n - m))
        means = [hits[list(draw)].mean() for draw in itertools.product(range(n), repeat=n)]
        low, high = _intervals.latent_intervals(np.array([m]), n, 0.8, "bootstrap")
        assert low[0] == _brute_quantile(means, 0.1) and high[0] == _brute_quantile(means, 0.9)


@pytest.mark.parametrize("n", [3, 5])
def test_mean_bootstrap_interval_equals_all_resamples(n):
    f = np.random.default_rng(n).random(n)
    means = [f[list(draw)].mean() for draw in itertools.product(range(n), repeat=n)]
    low, high = _intervals.mean_interval(f, 0.9)
    assert low == pytest.approx(_brute_quantile(means, 0.05), abs=1e-12)
    assert high == pytest.approx(_brute_quantile(means, 0.95), abs=1e-12)


def test_mean_interval_draws_beyond_the_enumerable_and_stays_within_the_values():
    f = np.random.default_rng(0).random(12)  # C(23, 12) multisets: drawn, not enumerated
    low, high = _intervals.mean_interval(f, 0.95)
    assert f.min() <= low < f.mean() < high <= f.max()


def test_wilson_interval_closed_form_at_zero_hits_and_contains_the_estimate():
    z = NormalDist().inv_cdf(0.975)
    low, high = _intervals.latent_intervals(np.arange(4), 3, 0.95, "wilson")
    assert low[0] == 0 and high[0] == pytest.approx(z * z / (3 + z * z))
    assert high[3] == 1 and low[3] == pytest.approx(1 - z * z / (3 + z * z))
    assert np.all(low <= np.arange(4) / 3) and np.all(np.arange(4) / 3 <= high)


def test_per_sae_table_and_groups_agree_with_the_latents():
    st = sm.stability(_seeds(seed=2), interval="wilson", level=0.9)
    lat, per = st.tables["per_latent"], st.tables["per_sae"]
    for b in range(4):
        s = st.of(b)
        assert per["mean_stability"][b] == pytest.approx(s.mean())
        assert per["ci_low"][b] <= per["mean_stability"][b] <= per["ci_high"][b]
        assert per["stable"][b] == (s == 1).sum() and per["unstable"][b] == (s == 0).sum()
        g = lat["group"][lat["sae"] == b]
        assert set(g[s == 1]) <= {"stable"} and set(g[s == 0]) <= {"unstable"}
    assert "firing" not in lat  # arrays carry no firing counts
    assert "SAE 3: mean" in st.summary()
    import json

    json.dumps(st.to_dict(), allow_nan=False)


def test_spearman_matches_scipy():
    stats = pytest.importorskip("scipy.stats")
    from saematch.seed_stability import _spearman

    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 4, 50), rng.random(50)
    assert _spearman(x, y) == pytest.approx(stats.spearmanr(x, y).statistic)
    assert np.isnan(_spearman(np.ones(5), y[:5]))


def test_errors_name_the_input():
    saes = _seeds()
    many = sm.compare_many(saes, progress=False)
    with pytest.raises(ValueError, match="saes="):
        sm.stability(many, data=np.zeros((10, 16)))
    with pytest.raises(ValueError, match="level"):
        sm.stability(many, level=95)
    with pytest.raises(ValueError, match="interval"):
        sm.stability(many, interval="jackknife")
    with pytest.raises(ValueError, match="cannot encode"):
        sm.stability(many, saes=saes, data=np.zeros((10, 16)))


# ---------------------------------------------------------------------------
# Ablation on data (trained SAEs)

torch = pytest.importorskip("torch")


def _trained(architecture, seeds=(0, 1, 2)):
    data = sm.synthetic.superposition(num_features=48, d=12, tokens=3000, seed=0, mean_active=3)
    cfg = sm.SAEConfig(d_in=12, num_latents=24, k=3, architecture=architecture, sparsity_coefficient=0.05)
    return sm.train(cfg, data.activations, seeds=list(seeds), batch_size=256, progress=False), data.activations


def _brute_fvu(sae, x, drop):
    """FVU of x with the latents in `drop` zeroed, through the SAE's own decoder."""
    xt = torch.from_numpy(x)
    codes = sae.encode(xt)
    drop = torch.as_tensor(np.asarray(drop, dtype=np.int64))
    if isinstance(codes, tuple):
        values, indices = codes
        values = values.clone()
        values[torch.isin(indices.long(), drop)] = 0
        codes = (values, indices)
    else:
        codes = codes.clone()
        codes[:, drop] = 0
    err = x.astype(np.float64) - sae.decode(codes).double().numpy()
    return (err ** 2).sum() / ((x - x.mean(0, dtype=np.float64)) ** 2).sum()


@pytest.mark.parametrize("architecture", ["topk", "relu"])
def test_fvu_rise_equals_dense_brute_force(architecture):
    saes, x = _trained(architecture)
    x = x[:700]
    st = sm.stability(saes, threshold=0.5, data=x, batch_size=300)  # batches that do not divide the tokens
    per, groups = st.tables["per_sae"], st.tables["groups"]
    for b, sae in enumerate(saes):
        base = _brute_fvu(sae, x, [])
        assert per["fvu"][b] == pytest.approx(base, rel=1e-6)
        rise = st.of(b, "fvu_rise")
        for i in range(24):
            assert rise[i] == pytest.approx(_brute_fvu(sae, x, [i]) - base, rel=1e-5, abs=1e-9)
        fired = sae.encode_dense(torch.from_numpy(x)).numpy() != 0
        np.testing.assert_allclose(st.of(b, "firing"), fired.mean(0))
        stab = st.of(b)
        for g, mask in (("stable", stab == 1), ("unstable", stab == 0)):
            row = (groups["sae"] == b) & (groups["group"] == g)
            want = _brute_fvu(sae, x, np.flatnonzero(mask)) - base if mask.any() else 0.0
            assert groups["group_fvu_rise"][row][0] == pytest.approx(want, rel=1e-5, abs=1e-9)
            assert per[f"fvu_rise_{g}"][b] == groups["group_fvu_rise"][row][0]
    assert st.firing_source == "data"


def test_training_firing_counts_are_used_without_data():
    saes, _ = _trained("topk")
    st = sm.stability(saes)
    assert st.firing_source == "training"
    np.testing.assert_array_equal(st.of(1, "firing"), saes[1].firing_counts.numpy())


def test_dead_and_duplicate_latents():
    saes, x = _trained("topk", seeds=(0, 1))
    a, b = saes
    p = a.parameters
    with torch.no_grad():
        p["W_dec"][3] = 0  # dead: no decoder direction
        p["encoder.weight"][3] = 0
        # latent 6 of a becomes an exact copy of b's latent 0, twice (6 and 7)
        for i in (6, 7):
            p["W_dec"][i] = b.parameters["W_dec"][0]
            p["encoder.weight"][i] = b.parameters["encoder.weight"][0]
    st = sm.stability(saes, threshold=0.9, data=x[:500])
    s = st.of(0)
    assert s[3] == 0 and st.of(0, "group")[3] == "unstable"
    assert st.of(0, "fvu_rise")[3] == pytest.approx(0.0, abs=1e-12)  # a zero decoder vector carries nothing
    assert s[6] + s[7] == 1  # one-to-one: only one copy can take b's latent 0
    base = _brute_fvu(a, x[:500], [])
    for i in (3, 6, 7):
        assert st.of(0, "fvu_rise")[i] == pytest.approx(_brute_fvu(a, x[:500], [i]) - base, rel=1e-5, abs=1e-9)


def test_figure_draws_every_panel(tmp_path):
    pytest.importorskip("matplotlib")
    saes, x = _trained("topk")
    st = sm.stability(saes, threshold=0.5, data=x[:500])
    fig = sm.plot.stability(st, path=tmp_path / "s.png")
    assert len(fig.axes) == 3 and (tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"
    assert len(sm.plot.stability(sm.stability(_seeds())).axes) == 1  # no firing, no data: the histogram alone
    with pytest.raises(AttributeError, match="saematch.stability"):
        sm.plot.stability(object())
