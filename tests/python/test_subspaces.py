"""sm.subspace_overlap: principal angles against the SVD of the projector
product, and planted subspaces (weights built from saematch.synthetic's
low-rank groups, and SAEs trained on such data) recovered as reproducible."""

import numpy as np
import pytest

import saematch as sm
from saematch.subspaces import leading_directions, orthonormal_basis, principal_cosines

# The planted cases have fewer latents than dimensions on purpose (spans that do not fill the space).
pytestmark = pytest.mark.filterwarnings("ignore::saematch.compare.OrientationWarning")


def _projector(rows):
    return np.linalg.pinv(rows) @ rows  # onto the row space, by another route than the SVD basis


@pytest.mark.parametrize("ka,kb,d", [(3, 5, 8), (6, 4, 10), (7, 7, 7)])
def test_principal_cosines_equal_the_singular_values_of_the_projector_product(ka, kb, d):
    rng = np.random.default_rng(ka * 100 + kb)
    a, b = rng.standard_normal((ka, d)), rng.standard_normal((kb, d))
    b[0] = a[0] + 0.01 * rng.standard_normal(d)  # one nearly common direction
    cos = principal_cosines(orthonormal_basis(a), orthonormal_basis(b))
    ref = np.linalg.svd(_projector(a) @ _projector(b), compute_uv=False)[: min(ka, kb, d)]
    np.testing.assert_allclose(cos, ref, atol=1e-10)
    assert cos[0] > 0.99


def test_rank_deficient_rows_give_their_true_rank():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 9))
    rows = np.vstack([a, a[1], 2 * a[0] - a[2], np.zeros(9)])  # duplicate, combination, zero row
    q = orthonormal_basis(rows)
    assert q.shape == (9, 3)
    np.testing.assert_allclose(q.T @ q, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(_projector(a), q @ q.T, atol=1e-10)
    assert orthonormal_basis(np.zeros((2, 9))).shape == (9, 0)


def _planted_pair(seed=0, d=64, junk=3):
    """Two seeds' weights: the free features of low_rank_groups copied exactly
    (shared), and 6 lines evenly spread in each planted 2-D group subspace, the
    second seed's turned by 15 degrees (cosine 0.966: unshared at t = 0.99,
    yet both span the same planes), plus a few random latents."""
    g = sm.synthetic.low_rank_groups(num_features=20, d=d, tokens=1, groups=2, group_size=4, group_rank=2, seed=seed)
    rng = np.random.default_rng(seed)
    free = g.dictionary[g.group_of < 0]
    out = []
    for offset in (0.0, np.pi / 12):
        rows = [free]
        for basis in g.bases:
            angles = offset + np.arange(6) * np.pi / 6
            rows.append(np.cos(angles)[:, None] * basis[0] + np.sin(angles)[:, None] * basis[1])
        rows.append(rng.standard_normal((junk, d)))
        dec = np.vstack(rows).astype(np.float32)
        out.append((dec, dec))
    return out, g


def test_planted_group_subspaces_are_found_reproducible():
    saes, g = _planted_pair()
    ov = sm.subspace_overlap(saes, threshold=0.99, rule="decoder", cos_threshold=0.9, null_draws=100)
    assert ov.unshared["latents"] == (15, 15) and ov.shared["latents"] == (12, 12)
    assert ov.unshared["rank"] == (7, 7)  # two planes and 3 random latents; float32 rounding adds no dimension
    # the two planes (rank 4 in all) are common; the junk latents are not
    assert ov.unshared["reproducible"] == 4
    np.testing.assert_allclose(ov.unshared["cosines"][:4], 1.0, atol=1e-5)
    assert ov.reproducible_rank == 4
    assert ov.by_rank["min_cos"][3] > 0.9 and ov.by_rank["min_cos"][4] < 0.9  # the 5th direction is junk
    top = leading_directions(np.asarray(saes[0][1])[12:], 4)
    planes = orthonormal_basis(np.vstack(g.bases))
    assert principal_cosines(top, planes).min() > 0.9  # and it is the planted planes
    # the check: shared latents span the same subspace exactly
    assert ov.shared["reproducible"] == 12 and np.allclose(ov.shared["cosines"], 1, atol=1e-5)
    # random subspaces of these ranks in d = 64 overlap far less
    assert ov.unshared["null_high"][0] < 0.9


def test_without_planted_structure_nothing_is_reproducible():
    rng = np.random.default_rng(3)
    saes = [(w, w) for w in (rng.standard_normal((20, 64)).astype(np.float32) for _ in range(2))]
    ov = sm.subspace_overlap(saes, threshold=0.9, rule="decoder", null_draws=100)
    assert ov.shared["latents"] == (0, 0) and ov.reproducible_rank == 0 and ov.unshared["reproducible"] == 0


def test_a_many_report_with_its_saes_and_either_pair_order():
    saes, _ = _planted_pair()
    saes = saes + [_planted_pair(seed=0, junk=5)[0][1]]
    many = sm.compare_many(saes, threshold=0.99, rule="decoder", progress=False)
    forward = sm.subspace_overlap(many, saes, pair=(0, 1), cos_threshold=0.9, null_draws=20)
    backward = sm.subspace_overlap(many, saes, pair=(1, 0), cos_threshold=0.9, null_draws=20)
    np.testing.assert_allclose(forward.unshared["cosines"], backward.unshared["cosines"], atol=1e-10)
    assert backward.unshared["latents"] == forward.unshared["latents"][::-1]
    pair = sm.compare(saes[0], saes[2], threshold=0.99, rule="decoder", progress=False)
    direct = sm.subspace_overlap(pair, saes=(saes[0], saes[2]), cos_threshold=0.9, null_draws=20)
    via_many = sm.subspace_overlap(many, saes, pair=(0, 2), cos_threshold=0.9, null_draws=20)
    np.testing.assert_allclose(direct.unshared["cosines"], via_many.unshared["cosines"])
    import json

    json.dumps(direct.to_dict())
    with pytest.raises(ValueError, match="saes="):
        sm.subspace_overlap(many)
    with pytest.raises(ValueError, match="pair"):
        sm.subspace_overlap(many, saes, pair=(0, 7))
    with pytest.raises(ValueError, match="part"):
        sm.subspace_overlap(saes[:2], part="both")


def test_trained_on_planted_groups_unstable_latents_span_reproducible_subspaces():
    """SAEs trained on data whose frequent features come in low-rank groups:
    latents inside a planted subspace are shared less often than latents that
    found a free feature, yet the unshared ones of two seeds span a common
    subspace far beyond what random subspaces of their ranks share."""
    pytest.importorskip("torch")
    g = sm.synthetic.low_rank_groups(num_features=48, d=64, tokens=150_000, groups=2, group_size=16, group_rank=3,
                                     mean_active=4, seed=0)
    cfg = sm.SAEConfig(d_in=64, num_latents=40, k=4)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sm.OrientationWarning)  # 40 latents < d = 64 on purpose
        saes = sm.train(cfg, g.activations, seeds=[0, 1, 2], batch_size=256, progress=False)
        st = sm.stability(saes, threshold=0.9, rule="decoder")
    planes = [orthonormal_basis(b) for b in g.bases]
    free = g.dictionary[g.group_of < 0]
    inside, grouped, found_free = [], [], []
    for b, sae in enumerate(saes):
        dec = sae.decoder.numpy()
        dec = dec / np.linalg.norm(dec, axis=1, keepdims=True)
        inside.append(np.max([np.linalg.norm(dec @ q, axis=1) ** 2 for q in planes], axis=0) > 0.9)
        grouped.append(st.of(b)[inside[-1]])
        found_free.append(st.of(b)[np.abs(dec @ free.T).max(axis=1) > 0.9])
    grouped, found_free = np.concatenate(grouped), np.concatenate(found_free)
    assert grouped.size >= 20 and found_free.size >= 20
    assert grouped.mean() < found_free.mean() - 0.3
    for pair in ((0, 1), (0, 2), (1, 2)):
        ov = sm.subspace_overlap(st.report, saes, pair=pair, within=(inside[pair[0]], inside[pair[1]]),
                                 cos_threshold=0.9, null_draws=50)
        u = ov.unshared
        assert min(u["latents"]) >= 3
        assert u["above_null"] == min(u["rank"]) and u["reproducible"] >= 2
        assert u["cosines"].mean() > u["null_mean"].mean() + 0.3


def test_figure(tmp_path):
    pytest.importorskip("matplotlib")
    saes, _ = _planted_pair()
    ov = sm.subspace_overlap(saes, threshold=0.99, rule="decoder", cos_threshold=0.9, null_draws=20)
    fig = sm.plot.subspace_overlap(ov, path=tmp_path / "o.png")
    assert len(fig.axes) == 2 and (tmp_path / "o.png").read_bytes()[:4] == b"\x89PNG"
    assert any("rank 4" in t.get_text() for t in fig.axes[1].get_legend().get_texts())
