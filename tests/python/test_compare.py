"""saematch.compare / compare_many on SAEs whose answer is known by
construction, against independent references (SciPy on the dense cosine
matrix, brute-force enumeration of seed combinations)."""

import json
import types
from itertools import combinations

import numpy as np
import pytest
import scipy.optimize

import saematch as sm


def unit(rng, n, d):
    x = rng.standard_normal((n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def planted_pair(per_kind=12, d=64, extra_b=0, seed=0):
    """A has 4 kinds of latents, per_kind each: "same" (B holds the same
    encoder and decoder), "swapped" (pairs whose decoders are exchanged in B),
    "decoder" (B holds the decoder with a fresh encoder), "fresh"."""
    rng = np.random.default_rng(seed)
    n = 4 * per_kind
    ea, da = unit(rng, n, d), unit(rng, n, d)
    eb, db = ea.copy(), da.copy()
    swapped = np.arange(per_kind, 2 * per_kind)
    db[swapped] = da[swapped ^ 1 if per_kind % 2 == 0 else swapped]  # exchange neighbours
    eb[2 * per_kind :] = unit(rng, 2 * per_kind, d)
    db[3 * per_kind :] = unit(rng, per_kind, d)
    if extra_b:
        eb = np.vstack([eb, unit(rng, extra_b, d)])
        db = np.vstack([db, unit(rng, extra_b, d)])
    order = rng.permutation(len(eb))
    return (ea, da), (eb[order], db[order]), per_kind


@pytest.mark.parametrize("method", ["dense", "sparse"])
@pytest.mark.parametrize("extra_b", [0, 9])
def test_planted_shared_latents_under_each_rule(method, extra_b):
    a, b, k = planted_pair(extra_b=extra_b, seed=extra_b)
    r = sm.compare(a, b, method=method, progress=False, candidates=3, block_rows=17, block_cols=29)
    n = 4 * k
    assert r.enc_cos.shape == (n,) and r.b_side["enc_cos"].shape == (n + extra_b,)
    assert r.shared_mask("paper").sum() == k
    assert r.shared_mask("separate").sum() == 2 * k
    assert r.shared_mask("decoder").sum() == 3 * k
    assert r.shared_fraction == pytest.approx(0.25)
    assert r.agree[:k].all() and not r.agree[k : 2 * k].any()
    assert np.allclose(r.dec_cos[: 3 * k], 1.0, atol=1e-5)
    assert r.certified_gap == 0.0
    # B's view: its extra latents are unmatched with cosine 0.
    if extra_b:
        assert (r.b_side["enc_partner"] == -1).sum() == extra_b
        assert (r.b_side["enc_cos"][r.b_side["enc_partner"] == -1] == 0).all()
    assert r.b_side["shared"].sum() == k


def test_matching_is_scipys_optimum_and_max_cos_is_the_row_maximum():
    rng = np.random.default_rng(4)
    ea, eb = unit(rng, 300, 40), unit(rng, 340, 40)
    eb[:150] = ea[:150] + 0.3 * unit(rng, 150, 40)
    eb /= np.linalg.norm(eb, axis=1, keepdims=True)
    a, b = (ea, ea), (eb, eb)
    cos = ea.astype(np.float64) @ eb.T.astype(np.float64)
    rows, cols = scipy.optimize.linear_sum_assignment(cos, maximize=True)
    best = cos[rows, cols].sum()
    for method in ("dense", "sparse"):
        r = sm.compare(a, b, method=method, progress=False, candidates=4)
        matched = cos[np.arange(300), r.enc_partner].sum()
        assert matched == pytest.approx(best, rel=1e-6), method
        assert r.stats["encoder"]["method"] == method
        np.testing.assert_allclose(r.max_cos_enc, cos.max(axis=1), atol=1e-5)
        np.testing.assert_allclose(r.b_side["max_cos_enc"], cos.max(axis=0), atol=1e-5)


def test_torch_tensors_and_sae_objects_give_the_numpy_result():
    torch = pytest.importorskip("torch")
    a, b, _ = planted_pair(per_kind=6, seed=3)
    ref = sm.compare(a, b, progress=False)
    ta = tuple(torch.from_numpy(x) for x in a)
    tb = types.SimpleNamespace(encoder=torch.from_numpy(b[0]).double(), decoder=torch.from_numpy(b[1]).double())
    r = sm.compare(ta, tb, progress=False)
    np.testing.assert_array_equal(r.enc_partner, ref.enc_partner)
    np.testing.assert_array_equal(r.shared, ref.shared)


def test_threshold_sweep_is_monotone_and_matches_the_masks():
    a, b, k = planted_pair(seed=5)
    r = sm.compare(a, b, progress=False)
    for rule in sm.compare.__globals__["RULES"]:
        fractions = r.sweep[rule]
        assert np.all(np.diff(fractions) <= 1e-12)
        t = 0.5
        idx = int(np.argmin(np.abs(r.sweep["threshold"] - t)))
        assert fractions[idx] == pytest.approx(r.shared_mask(rule, t).mean())


def test_report_summary_and_json():
    a, b, _ = planted_pair(seed=6)
    r = sm.compare(a, b, progress=True)
    text = r.summary()
    assert "shared (paper, t = 0.7)" in text and "0.250" in text
    data = json.loads(json.dumps(r.to_dict()))
    assert data["metrics"]["shared_fraction"] == pytest.approx(0.25)
    assert len(data["a"]["enc_partner"]) == 48


@pytest.mark.parametrize(
    "a, b, match",
    [
        ((np.ones((4, 8)), np.ones((4, 8))), (np.ones((4, 6)), np.ones((4, 6))), r"different input widths.*d = 8.*d = 6"),
        ((np.ones(8), np.ones(8)), (np.ones((4, 8)), np.ones((4, 8))), r"a encoder must be 2-D.*\(8,\)"),
        ((np.ones((2, 4, 8)), np.ones((2, 4, 8))), (np.ones((4, 8)), np.ones((4, 8))), r"a encoder must be 2-D"),
        ((np.ones((4, 8)), np.ones((5, 8))), (np.ones((4, 8)), np.ones((4, 8))), r"a: encoder has shape \(4, 8\) but decoder"),
        ((np.ones((0, 8)), np.ones((0, 8))), (np.ones((4, 8)), np.ones((4, 8))), r"a: .*at least one latent"),
        (np.ones((4, 8)), (np.ones((4, 8)), np.ones((4, 8))), r"a must be an \(encoder, decoder\) pair"),
    ],
)
def test_bad_input_names_the_argument_and_shapes(a, b, match):
    with pytest.raises(ValueError, match=match):
        sm.compare(a, b, progress=False)


def test_non_finite_weights_are_reported_with_their_position():
    a, b, _ = planted_pair(per_kind=2, seed=7)
    bad = a[1].copy()
    bad[3, 5] = np.nan
    with pytest.raises(ValueError, match=r"a decoder row 3, column 5 is NaN"):
        sm.compare((a[0], bad), b, progress=False)
    bad = b[0].copy()
    bad[0, 0] = np.inf
    with pytest.raises(ValueError, match=r"b encoder row 0, column 0 is \+inf"):
        sm.compare(a, (bad, b[1]), progress=False)


def test_bad_options_are_rejected():
    a, b, _ = planted_pair(per_kind=2, seed=8)
    with pytest.raises(ValueError, match="rule must be one of"):
        sm.compare(a, b, rule="both", progress=False)
    with pytest.raises(ValueError, match="method must be"):
        sm.compare(a, b, method="fast", progress=False)
    with pytest.raises(ValueError, match="candidates must be at least 1"):
        sm.compare(a, b, candidates=0, progress=False)
    with pytest.raises(ValueError, match="threshold must be a finite number"):
        sm.compare(a, b, threshold=float("nan"), progress=False)
    with pytest.raises(ValueError, match="screen must be one of"):
        sm.compare(a, b, screen="int8", progress=False)


@pytest.mark.skipif(not sm._core.bf16_available(), reason="this CPU lacks AVX512-BF16")
def test_bfloat16_screen_gives_the_float32_screens_result_exactly():
    rng = np.random.default_rng(12)
    ea, eb = unit(rng, 900, 96), unit(rng, 1000, 96)
    eb[:500] = ea[:500] + 0.4 * unit(rng, 500, 96)
    da, db = unit(rng, 900, 96), eb.copy()
    a, b = (ea, da), (eb / np.linalg.norm(eb, axis=1, keepdims=True), db)
    kw = dict(method="sparse", progress=False, candidates=4, block_rows=300, block_cols=256)
    r32 = sm.compare(a, b, screen="float32", **kw)
    r16 = sm.compare(a, b, screen="bfloat16", **kw)
    for field in ("enc_partner", "dec_partner", "enc_cos", "dec_cos", "max_cos_enc", "max_cos_dec"):
        np.testing.assert_array_equal(getattr(r16, field), getattr(r32, field), err_msg=field)
    assert r16.certified_gap == 0.0 and r32.certified_gap == 0.0
    assert r16.stats["encoder"]["screen"] == "bfloat16" and r32.stats["encoder"]["screen"] == "float32"


def brute_force_only_in_base(shared_with, n):
    """shared_with[b][i]: set of other SAEs latent i of base b is shared with.
    Average over every k-combination and every base in it of the fraction of
    base latents shared with none of the others in the combination."""
    out = {}
    for k in range(2, n + 1):
        values = []
        for combo in combinations(range(n), k):
            for base in combo:
                others = set(combo) - {base}
                values.append(np.mean([not (s & others) for s in shared_with[base]]))
        out[k] = float(np.mean(values))
    return out


def test_compare_many_share_counts_and_only_in_base_match_enumeration():
    rng = np.random.default_rng(9)
    d, n_latents, n_saes = 48, 40, 5
    pool_e, pool_d = unit(rng, 120, d), unit(rng, 120, d)
    # Each SAE draws its latents from a common pool, so latent identity (and
    # thus sharing) is known: same pool index => identical directions.
    picks = [rng.choice(120, size=n_latents, replace=False) for _ in range(n_saes)]
    saes = [(pool_e[p], pool_d[p]) for p in picks]
    many = sm.compare_many(saes, progress=False, method="sparse", candidates=4)
    assert many.share_counts.shape == (n_saes, n_latents)
    shared_with = [[{o for o in range(n_saes) if o != base and picks[base][i] in picks[o]} for i in range(n_latents)]
                   for base in range(n_saes)]
    expected_counts = np.array([[len(s) for s in row] for row in shared_with])
    np.testing.assert_array_equal(many.share_counts, expected_counts)
    expected = brute_force_only_in_base(shared_with, n_saes)
    for k, v in expected.items():
        assert many.only_in_base[k] == pytest.approx(v, abs=1e-12)
    assert many.shared_with_exactly.shape == (n_saes, n_saes)
    assert (many.shared_with_exactly.sum(axis=1) == n_latents).all()
    a, b, c = many.fit
    assert np.isfinite([a, b, c]).all()
    assert len(many.pairs) == 10
    json.dumps(many.to_dict())
    assert "5 SAEs" in many.summary()


@pytest.mark.parametrize("rule, threshold", [("separate", 0.4), ("decoder", 0.5), ("paper", 0.9)])
def test_with_rule_equals_comparing_again_under_that_rule(rule, threshold):
    rng = np.random.default_rng(4)
    d, n = 24, 30
    base_e, base_d = unit(rng, n, d), unit(rng, n, d)
    saes = []
    for _ in range(4):  # noisy copies, shuffled: cosines spread around the thresholds
        order = rng.permutation(n)
        saes.append((base_e[order] + 0.6 * rng.standard_normal((n, d)) / np.sqrt(d),
                     base_d[order] + 0.6 * rng.standard_normal((n, d)) / np.sqrt(d)))
    fresh = sm.compare_many(saes, rule=rule, threshold=threshold, progress=False)
    again = sm.compare_many(saes, progress=False).with_rule(rule, threshold)
    assert (again.rule, again.threshold) == (rule, threshold)
    np.testing.assert_array_equal(again.share_counts, fresh.share_counts)
    assert again.only_in_base == fresh.only_in_base
    np.testing.assert_array_equal(again.shared_with_exactly, fresh.shared_with_exactly)
    for key, p in fresh.pairs.items():
        np.testing.assert_array_equal(again.pairs[key].shared, p.shared)
        np.testing.assert_array_equal(again.pairs[key].b_side["shared"], p.b_side["shared"])
    assert not np.array_equal(fresh.share_counts, sm.compare_many(saes, progress=False).share_counts)  # it moved
    with pytest.raises(ValueError, match="rule must be one of"):
        fresh.with_rule("both")


def test_compare_many_rejects_mismatched_inputs():
    rng = np.random.default_rng(10)
    x = unit(rng, 10, 16)
    with pytest.raises(ValueError, match="at least 2 SAEs"):
        sm.compare_many([(x, x)], progress=False)
    y = unit(rng, 10, 8)
    with pytest.raises(ValueError, match=r"saes\[1\] has input width d = 8 but saes\[0\] has d = 16"):
        sm.compare_many([(x, x), (y, y)], progress=False)
    with pytest.raises(ValueError, match="firing_counts"):
        sm.compare_many([(x, x), (x, x)], firing_counts=[np.ones(10)], progress=False)


def _torch():
    return pytest.importorskip("torch", reason="torch is not installed")


def _device_case(seed=21):
    rng = np.random.default_rng(seed)
    ea, eb = unit(rng, 700, 64), unit(rng, 650, 64)
    eb[:300] = ea[:300] + 0.3 * unit(rng, 300, 64)
    eb /= np.linalg.norm(eb, axis=1, keepdims=True)
    return (ea, unit(rng, 700, 64)), (eb, unit(rng, 650, 64))


@pytest.mark.parametrize("method", ["dense", "sparse"])
def test_torch_device_gives_the_cpu_result_exactly(method):
    """The GPU path's code, run on torch's CPU device (more cases in
    test_compare_device.py): the streamed method's screen and certificate
    rows run there, the dense method stays on the host; every field is the
    core's."""
    torch = _torch()
    a, b = _device_case()
    kw = dict(method=method, progress=False, candidates=3, block_rows=128, block_cols=200, screen="float32")
    on_device = sm.compare(a, b, device="cpu", **kw)
    on_core = sm.compare(a, b, **kw)
    if method == "sparse":
        assert on_device.stats["encoder"]["screen"] == "float32 on cpu"
    for field in ("enc_partner", "dec_partner", "enc_cos", "dec_cos", "max_cos_enc", "max_cos_dec"):
        np.testing.assert_array_equal(getattr(on_device, field), getattr(on_core, field), err_msg=field)
    assert on_device.certified_gap == 0.0
    # The user's matmul precision setting is left as it was.
    assert torch.get_float32_matmul_precision() in ("highest", "high", "medium")


def test_unknown_devices_are_refused_before_any_work():
    _torch()
    a, b = _device_case()
    # An unknown device is refused before any work, naming it (issue 11).
    with pytest.raises(ValueError, match="device='no-such-device' is not a torch device"):
        sm.compare(a, b, device="no-such-device", progress=False, method="sparse")


def test_cuda_tensors_are_compared_on_the_gpu_with_the_cpu_result():
    torch = _torch()
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    a, b = _device_case(5)
    on_cpu = sm.compare(a, b, progress=False, method="sparse", candidates=3)
    gpu = lambda sae: tuple(torch.from_numpy(x).cuda() for x in sae)  # noqa: E731
    on_gpu = sm.compare(gpu(a), gpu(b), progress=False, method="sparse", candidates=3)
    for field in ("enc_partner", "dec_partner", "enc_cos", "dec_cos", "max_cos_enc", "max_cos_dec"):
        np.testing.assert_array_equal(getattr(on_gpu, field), getattr(on_cpu, field), err_msg=field)
    many = sm.compare_many([gpu(a), gpu(b), gpu(a)], progress=False, method="sparse", candidates=3)
    np.testing.assert_array_equal(many.pairs[(0, 1)].enc_partner, on_cpu.enc_partner)


def test_dead_latents_stay_unmatched_and_duplicates_match_alike_on_both_paths():
    """Issue 11: dead (all-zero) latents take no part; with exact duplicate
    latents, dense and sparse used to land on different optimal matchings
    (paper-rule shared 0.530 vs 0.190)."""
    rng = np.random.default_rng(3)
    n, d = 600, 24
    a = rng.standard_normal((n, d)).astype(np.float32)
    b = a + 0.2 * rng.standard_normal((n, d)).astype(np.float32)
    a[100:300] = a[100]  # 200 copies of one latent on each side
    b[200:400] = b[100]
    a[500:], b[:50] = 0.0, 0.0  # dead latents
    dense = sm.compare((a, a), (b, b), method="dense", progress=False)
    sparse = sm.compare((a, a), (b, b), method="sparse", candidates=4, progress=False)
    for field in ("enc_partner", "dec_partner", "enc_cos", "dec_cos", "shared"):
        np.testing.assert_array_equal(getattr(dense, field), getattr(sparse, field), err_msg=field)
    assert (dense.enc_partner[500:] == -1).all() and (dense.enc_cos[500:] == 0).all()
    assert not np.isin(dense.enc_partner, np.arange(50)).any()  # never a dead partner
    assert not dense.shared_mask("decoder", 0.0)[500:].any()
    # Copies keep the same partner in both matchings, so the paper rule can count them.
    assert (dense.enc_partner[100:300] == dense.dec_partner[100:300]).all()
