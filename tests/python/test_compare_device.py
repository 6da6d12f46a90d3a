"""The streamed matching on a torch device (similarity/aten/, the _device
module) against the CPU core, on the inputs the CPU tests use: run here on
torch's CPU device, and on a GPU in the tests named ``cuda`` (skipped
without one). Every field must be the core's, bit for bit."""

import numpy as np
import pytest

import saematch as sm
from saematch.compare import RULES
from test_compare import _device_case, planted_pair, unit

torch = pytest.importorskip("torch", reason="torch is not installed")
pytestmark = pytest.mark.filterwarnings("ignore::saematch.compare.OrientationWarning")

FIELDS = ("enc_partner", "dec_partner", "enc_cos", "dec_cos", "max_cos_enc", "max_cos_dec", "agree")


def assert_same(on_device, on_core):
    for field in FIELDS:
        np.testing.assert_array_equal(getattr(on_device, field), getattr(on_core, field), err_msg=field)
    for field in FIELDS:
        np.testing.assert_array_equal(on_device.b_side[field], on_core.b_side[field], err_msg="b " + field)
    for part in ("encoder", "decoder"):
        assert on_device.stats[part]["total_cos"] == on_core.stats[part]["total_cos"]
        assert on_device.stats[part]["method"] == "sparse"
    for rule in RULES:
        np.testing.assert_array_equal(on_device.shared_mask(rule), on_core.shared_mask(rule), err_msg=rule)
    assert on_device.certified_gap == 0.0 == on_core.certified_gap


def dead_and_duplicates(seed=3, n=300, d=24):
    """Dead (all-zero) latents on both sides and 80 exact copies of one latent."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n, d)).astype(np.float32)
    b = a + 0.2 * rng.standard_normal((n, d)).astype(np.float32)
    a[100:180] = a[100]
    b[100:180] = b[100]
    a[[5, 17, 250]] = 0.0
    b[[9, 250]] = 0.0
    return (a, a.copy()), (b, b.copy())


def crowded(seed=4, n=260, d=48):
    """Near-identical latents: many pairs within the screens' margins, so
    lines overflow their pools and are recomputed whole."""
    rng = np.random.default_rng(seed)
    base = unit(rng, 1, d)
    a = base + 1e-4 * rng.standard_normal((n, d)).astype(np.float32)
    b = base + 1e-4 * rng.standard_normal((n + 13, d)).astype(np.float32)
    return (a, unit(rng, n, d)), (b, unit(rng, n + 13, d))


CASES = {
    "planted": lambda: planted_pair(seed=0)[:2],
    "planted_rectangular": lambda: planted_pair(extra_b=9, seed=9)[:2],
    "rectangular_wider_a": lambda: planted_pair(extra_b=9, seed=9)[1::-1],
    "noisy_copies": _device_case,
    "dead_and_duplicates": dead_and_duplicates,
    "crowded": crowded,
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("screen", ["float32", "bfloat16"])
@pytest.mark.parametrize("candidates", [1, 32])
def test_device_path_on_cpu_tensors_gives_the_core_result(case, screen, candidates):
    """candidates = 1 forces certificate rounds (the lists alone prove
    little), so the device's recomputed rows are exercised; tiles smaller
    than the inputs exercise the running top-P merges across tiles."""
    a, b = CASES[case]()
    kw = dict(method="sparse", progress=False, candidates=candidates, block_rows=64, block_cols=96)
    on_device = sm.compare(a, b, device="cpu", screen=screen, **kw)
    on_core = sm.compare(a, b, screen="float32", **kw)
    assert_same(on_device, on_core)
    stats = on_device.stats["encoder"]
    assert stats["screen"] in ("float32 on cpu", "bfloat16 on cpu")
    if screen == "float32":
        assert stats["screen"] == "float32 on cpu"


def test_forced_certificate_rounds_recompute_rows_on_the_device():
    a, b = _device_case()
    r = sm.compare(a, b, device="cpu", method="sparse", progress=False, candidates=1, block_rows=128, block_cols=200)
    assert r.stats["encoder"]["recomputed_rows"] > 0, "the certificate's device rows never ran"
    assert_same(r, sm.compare(a, b, method="sparse", progress=False, candidates=1))


def test_only_o_n_k_bytes_cross_from_the_device():
    """The old path copied every tile back (n * m floats per matching); the
    device path sends each latent's few candidates and the certificate's
    unsettled pairs."""
    rng = np.random.default_rng(8)
    n, m, d, k = 3000, 2800, 16, 4
    ea, da = unit(rng, n, d), unit(rng, n, d)
    eb, db = unit(rng, m, d), unit(rng, m, d)
    eb[:1400] = ea[:1400] + 0.2 * unit(rng, 1400, d)
    eb /= np.linalg.norm(eb, axis=1, keepdims=True)
    r = sm.compare((ea, da), (eb, db), device="cpu", method="sparse", progress=False, candidates=k,
                   block_rows=256, block_cols=256)
    traffic = r.stats["device"]
    matrices = 2 * n * m * 4  # both matchings' float32 cosine matrices
    assert 0 < traffic["bytes_to_host"] < matrices / 20, traffic
    # Per latent and matching: its pool (int32 index + float64 value for up
    # to 3k members) and its count, plus the certificate's few numbers.
    assert traffic["bytes_to_host"] < 2 * 2 * (n + m) * (3 * k * 12 + 8), traffic
    # Each SAE's unit rows (encoder and decoder) uploaded once; the rest is
    # the certificate's duals and indices, O(n * k) a round.
    assert traffic["row_uploads"] == 4, traffic
    assert 2 * (n + m) * d * 4 < traffic["bytes_to_device"] < matrices / 20, traffic


def test_compare_many_on_a_device_uploads_each_sae_once_and_matches_the_core():
    a, b = _device_case(5)
    c = (a[0][::-1].copy(), a[1][::-1].copy())
    kw = dict(method="sparse", progress=False, candidates=3)
    on_device = sm.compare_many([a, b, c], device="cpu", screen="float32", **kw)
    on_core = sm.compare_many([a, b, c], **kw)
    for key, p in on_core.pairs.items():
        assert_same(on_device.pairs[key], p)
    for x, y in zip(on_device.share_counts, on_core.share_counts):
        np.testing.assert_array_equal(x, y)
    traffic = on_device.pairs[(0, 1)].stats["device"]  # the whole call's
    assert traffic["row_uploads"] == 2 * 3, "an SAE was uploaded more than once"


def test_saes_with_dead_latents_are_uploaded_once_too():
    """Their live rows, which each matching matches, are gathered on the
    device from the one upload."""
    a, b = dead_and_duplicates()
    c = (a[0][::-1].copy(), a[1][::-1].copy())
    kw = dict(method="sparse", progress=False, candidates=3)
    on_device = sm.compare_many([a, b, c], device="cpu", screen="float32", **kw)
    assert on_device.pairs[(0, 1)].stats["device"]["row_uploads"] == 2 * 3
    assert_same(on_device.pairs[(1, 2)], sm.compare(b, c, **kw))


def test_dense_matchings_send_nothing_to_the_device():
    a, b = _device_case()
    r = sm.compare(a, b, device="cpu", method="dense", progress=False)
    assert r.stats["device"]["row_uploads"] == 0 and r.stats["device"]["bytes_to_host"] == 0


def test_device_progress_moves_during_the_screen():
    a, b = _device_case()
    seen = []
    from saematch import _device

    da, db = sm.directions(a, "a"), sm.directions(b, "b")
    _device.compare_pair(da, db, device="cpu", screen="float32", method="sparse", dense_max_pairs=0,
                         candidates=3, block_rows=100, block_cols=100, threads=0, progress=seen.append)
    inside = [f for f in seen if 0.0 < f < 1.0]
    assert len(inside) >= 10, "progress should move tile by tile"
    assert seen[-1] == 1.0


def test_device_argument_errors_name_the_argument():
    a, b = _device_case()
    with pytest.raises(ValueError, match="device='no-such-device' is not a torch device"):
        sm.compare(a, b, device="no-such-device", progress=False, method="sparse")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device"):
            sm.compare(a, b, device="cuda", progress=False, method="sparse")
    with pytest.raises(ValueError, match="screen must be one of"):
        sm.compare(a, b, device="cpu", screen="int8", progress=False)


def test_cli_passes_device_and_screen_to_the_matching(monkeypatch, tmp_path):
    from saematch import cli

    seen = {}

    def fake_compare_many(paths, **kw):
        seen.update(kw)
        raise ValueError("stop here")

    monkeypatch.setattr(sm, "compare_many", fake_compare_many)
    monkeypatch.setattr(cli, "_expand", lambda paths: [tmp_path / "x", tmp_path / "y"])
    assert cli.main(["compare-many", "x", "y", "--device", "cpu", "--screen", "float32", "--quiet"]) != 0
    assert seen["device"] == "cpu" and seen["screen"] == "float32"


def _cuda():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("screen", ["float32", "bfloat16"])
def test_cuda_device_path_gives_the_cpu_result(case, screen):
    _cuda()
    a, b = CASES[case]()
    kw = dict(method="sparse", progress=False, candidates=3)
    on_gpu = sm.compare(a, b, device="cuda", screen=screen, block_rows=64, block_cols=96, **kw)
    assert_same(on_gpu, sm.compare(a, b, screen="float32", **kw))
    assert on_gpu.stats["encoder"]["screen"].endswith("on cuda") or "cuda" in on_gpu.stats["encoder"]["screen"]


def test_cuda_tensors_and_compare_many_match_the_cpu():
    _cuda()
    a, b = _device_case(5)
    gpu = lambda sae: tuple(torch.from_numpy(x).cuda() for x in sae)  # noqa: E731
    kw = dict(method="sparse", progress=False, candidates=3)
    on_cpu = sm.compare(a, b, **kw)
    assert_same(sm.compare(gpu(a), gpu(b), **kw), on_cpu)
    many = sm.compare_many([gpu(a), gpu(b), gpu(a)], **kw)
    assert_same(many.pairs[(0, 1)], on_cpu)
